// What the bench collects (results.json): the figures, each a list of samples, and the machine.
import * as childProcess from "node:child_process";
import * as os from "node:os";
import { CpuUsed } from "./cpu";
import { PROGRAM_DIR, RUNS, SIZES } from "./settings";

// ---------------------------------------------------------------------------------------------------------------
// Figures: every measurement is a list of samples; the report shows median (min–max).
export type Samples = number[];
export const stats = (xs: Samples) => {
    if (xs.length === 0) return undefined;
    const s = [...xs].sort((a, b) => a - b);
    const mid = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    return { median: mid, min: s[0], max: s[s.length - 1], n: s.length, samples: xs };
};
export const fmt = (xs: Samples | undefined, digits = 1) => {
    const st = xs && stats(xs);
    if (!st) return "–";
    const f = (x: number) => x.toFixed(digits);
    return st.n === 1 ? f(st.median) : `${f(st.median)} (${f(st.min)}–${f(st.max)})`;
};

export interface ColdRun {
    masters: number;
    parallel?: number;
    /** k8scp:keyAlgorithm when not the default (BENCH_KEYS). */
    keyAlgorithm?: string;
    seconds: number;
    /** Time before the CLI's first engine event (process and plugin start-up). */
    cliStartup: number;
    /** From the first engine event to the first resource step (program run, config checks, preflight, drift probe). */
    programStartup: number;
    /** Per category: exclusive wall seconds (they add up, with start-up and idle, to the run). */
    exclusive: Record<string, number>;
    /** Per category: sum of the steps' durations (resource-seconds) and wall time with at least one running. */
    sum: Record<string, number>;
    wall: Record<string, number>;
    idle: number;
    /** Service commands, summed over all of them: before the process started, its health wait, after healthy. */
    servicePhases: { beforeStart: number; healthWait: number; afterHealthy: number };
    /** The longest chain of service commands the rolling order makes (apiservers n1 → n2 → …). */
    apiserverChain: number;
    resources: number;
    /** Every service command, seconds from the CLI's start: [name, step start, process start, healthy, step end]. */
    timeline: [string, number, number | null, number | null, number][];
    /** CPU seconds used during the `up` (bench/cpu.ts); absent in results of runs before it was measured. */
    cpu?: CpuUsed;
}

/** A variant of a cold run: --parallel and k8scp:keyAlgorithm (none: the library's defaults). */
export interface Variant {
    parallel?: number;
    keyAlgorithm?: string;
}
/** A cold run with the library's defaults (not a BENCH_PARALLEL or BENCH_KEYS variant). */
export const isDefault = (c: ColdRun) => !c.parallel && !c.keyAlgorithm;

export const results = {
    machine: {} as Record<string, unknown>,
    startedAt: new Date().toISOString(),
    program: PROGRAM_DIR,
    runs: RUNS,
    sizes: SIZES,
    cold: [] as ColdRun[],
    baseline: [] as { masters: number; seconds: number; phases: Record<string, number>; cpu?: CpuUsed }[],
    noop: { preview: [] as Samples, up: [] as Samples, restarts: [] as Samples, previewNoPreflight: [] as Samples },
    flag: {
        seconds: [] as Samples,
        failedProbes: [] as Samples,
        probes: [] as Samples,
        restartedSchedulers: [] as Samples,
        others: [] as Samples,
    },
    takeover: {} as Record<string, { seconds: Samples; sameMaster: number }>,
    destroy: [] as { masters: number; seconds: number; nothingLeft: boolean }[],
    notes: [] as string[],
};

export function machine() {
    const cpu = os.cpus();
    const r = childProcess.spawnSync("bash", ["-c", ". /etc/os-release; echo $PRETTY_NAME"], { encoding: "utf8" });
    return {
        cpus: cpu.length,
        cpuModel: cpu[0]?.model,
        memGiB: Math.round(os.totalmem() / 2 ** 30),
        os: r.stdout.trim(),
        kernel: os.release(),
        node: process.version,
    };
}
