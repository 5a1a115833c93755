// The bench's settings (environment variables: bench/run.ts's header), work directory and log.
import * as os from "node:os";
import * as path from "node:path";
import { repo, stepper } from "../test/lib/lab";

export const QUICK = process.env.BENCH_QUICK === "1";
export const RUNS = QUICK ? 1 : Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
export const SIZES = (process.env.BENCH_SIZES ?? (QUICK ? "1,3" : "1,3,5")).split(",").filter(Boolean).map(Number);
export const PARALLEL = (process.env.BENCH_PARALLEL ?? "").split(",").filter(Boolean).map(Number);
/** BENCH_KEYS: extra cold runs (sizes from 3 up) with these `k8scp:keyAlgorithm` values; the default is ECDSA-P256. */
export const KEYS = (process.env.BENCH_KEYS ?? "").split(",").filter(Boolean);
export const SKIP_BASELINE = process.env.BENCH_SKIP_BASELINE === "1";
/** BENCH_WARM=0: skip the no-op, flag and takeover measurements (cold deploys only). */
export const WARM = process.env.BENCH_WARM !== "0";
/** BENCH_SETTLE: seconds between a cold deploy's end and the no-op runs (after both leaders are elected). */
export const SETTLE_SECONDS = Math.max(0, Number(process.env.BENCH_SETTLE ?? 30));
/** BENCH_TAKEOVER=0: skip the leader takeovers. */
export const TAKEOVER = process.env.BENCH_TAKEOVER !== "0";
/** The command plugin's modes: default (shared SSH connections) and upstream (K8SCP_COMMAND_UPSTREAM=1 given to the CLI). */
export type Mode = "default" | "upstream";
const MODE_NAMES: readonly Mode[] = ["default", "upstream"];
/**
 * BENCH_MODES: the plugin modes measured side by side (cold 3-master `up`, no-op, flag rollout); the default mode also
 * runs everything else (sizes, baseline, BENCH_PARALLEL, BENCH_KEYS, takeover), the others only those.
 */
export const MODES: Mode[] = (process.env.BENCH_MODES ?? "default,upstream")
    .split(",")
    .filter(Boolean)
    .map((m) => {
        if (!MODE_NAMES.includes(m as Mode)) throw new Error(`BENCH_MODES: unknown mode ${m} (known: ${MODE_NAMES.join(", ")})`);
        return m as Mode;
    })
    .filter((m, i, all) => all.indexOf(m) === i);
/** The Pulumi program to measure (default: this repo); for experiments with a modified copy of the library. */
export const PROGRAM_DIR = path.resolve(process.env.BENCH_PROGRAM_DIR ?? repo);
/** Where results.json, results.md and deploy-time.png go (default: bench/). */
export const OUT_DIR = path.resolve(process.env.BENCH_OUT ?? __dirname);

export const benchDir = __dirname;
/** Throwaway stacks, their config files, backend and event logs: outside the source tree (lint and format skip it). */
export const work = process.env.BENCH_WORK ?? path.join(os.tmpdir(), `k8scp-bench-${new Date().toISOString().replace(/[:.]/g, "-")}`);
export const log = (s: string) => console.log(`[bench] ${s}`);
export const step = stepper("bench");
export const secs = (ms: number) => ms / 1000;
