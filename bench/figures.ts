// What the bench collects (results.json): the figures, each a list of samples, and the machine.
import * as childProcess from "node:child_process";
import * as os from "node:os";
import { CpuUsed } from "./cpu";
import { Mode, PROGRAM_DIR, RUNS, SIZES } from "./settings";

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
    /** The command plugin's mode when not the default (BENCH_MODES); absent: the default mode. */
    mode?: Mode;
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
    /**
     * SSH logins per master during the `up` (sshd's "Accepted" lines in the journal between its start and end), in
     * the lab's order: the plugin's connections plus the program's own (preflight, drift probe). Absent in results
     * of runs before it was counted, or when the journal could not be read.
     */
    sshLogins?: number[];
}

/** A variant of a cold run: --parallel, k8scp:keyAlgorithm and the plugin's mode (none: the library's defaults). */
export interface Variant {
    parallel?: number;
    keyAlgorithm?: string;
    mode?: Mode;
}
/** A cold run of a mode (default: absent) without --parallel or k8scp:keyAlgorithm (BENCH_PARALLEL, BENCH_KEYS). */
export const isPlain = (c: ColdRun, mode: Mode) => !c.parallel && !c.keyAlgorithm && (c.mode ?? "default") === mode;
/** A cold run with the library's defaults (not a BENCH_PARALLEL, BENCH_KEYS or upstream-mode variant). */
export const isDefault = (c: ColdRun) => isPlain(c, "default");

/** The warm figures on 3 masters: no-op runs and the flag rollout (takeover: default mode only, in `results`). */
export const warmFigures = () => ({
    noop: { preview: [] as Samples, up: [] as Samples, restarts: [] as Samples, previewNoPreflight: [] as Samples },
    flag: {
        seconds: [] as Samples,
        failedProbes: [] as Samples,
        probes: [] as Samples,
        restartedSchedulers: [] as Samples,
        others: [] as Samples,
    },
});
export type WarmFigures = ReturnType<typeof warmFigures>;

export const results = {
    machine: {} as Record<string, unknown>,
    startedAt: new Date().toISOString(),
    program: PROGRAM_DIR,
    runs: RUNS,
    sizes: SIZES,
    cold: [] as ColdRun[],
    baseline: [] as { masters: number; seconds: number; phases: Record<string, number>; cpu?: CpuUsed }[],
    /** The default mode's warm figures (the other modes': `modes`). */
    ...warmFigures(),
    takeover: {} as Record<string, { seconds: Samples; sameMaster: number }>,
    destroy: [] as { masters: number; seconds: number; nothingLeft: boolean; mode?: Mode }[],
    /** The warm figures of the plugin's other modes (BENCH_MODES); their cold runs are in `cold`, tagged `mode`. */
    modes: {} as Partial<Record<Mode, WarmFigures>>,
    notes: [] as string[],
};
export type Results = typeof results;

/** Where a mode's warm figures go: the default mode's at the top level (as before modes), the others' in `modes`. */
export const warmOf = (mode: Mode): WarmFigures => (mode === "default" ? results : (results.modes[mode] ??= warmFigures()));

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
