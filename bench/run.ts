// `npm run bench`: the library's figures on the lab, each the median of several runs with min and max.
//
//   cold `pulumi up` of 1, 3 and 5 masters + LB on freshly started hosts, and where its time goes (per-resource
//     spans from `pulumi up --json`, stamped on arrival);
//   no-op `pulumi preview` and `pulumi up` on 3 masters (and how many services they restarted);
//   one scheduler flag changed on 3 masters: the rolling restart's duration and failed /readyz probes via the VIP;
//   scheduler and controller-manager leader takeover after a graceful stop and after a kill -9 of the leader;
//   the same deploy the runbooks' way (bench/runbook-baseline.sh) in the same run, and our time as a ratio to it.
//
// Writes bench/results.json, bench/results.md and bench/deploy-time.png (gnuplot; skipped with a message when it
// cannot be installed). Environment: BENCH_RUNS (default 3), BENCH_QUICK=1 (1 run, sizes 1 and 3),
// BENCH_SIZES (e.g. "3,5"), BENCH_PARALLEL (extra cold 3-master runs with these --parallel values, e.g. "4,32"),
// BENCH_KEYS (extra cold runs of the sizes from 3 up with these k8scp:keyAlgorithm values, e.g. "RSA-2048", the
// baseline's keys), BENCH_SKIP_BASELINE=1, BENCH_WARM=0, BENCH_SETTLE (s, default 30), BENCH_TAKEOVER=0, BENCH_PROGRAM_DIR, BENCH_OUT (below),
// BENCH_MODES (the command plugin's modes measured side by side, default "default,upstream": each run also does a
// cold 3-master `up`, the no-op runs and the flag rollout with K8SCP_COMMAND_UPSTREAM=1 given to the Pulumi CLI, a
// new SSH connection per operation as the official plugin; "default" alone skips them; without "default" only the
// other modes' runs are made). Takes the lab down at the end.
//
// Modules: settings.ts (the environment above), figures.ts (what is collected), runs.ts (cold runs, baseline),
// analysis.ts (a cold run's figures), warm.ts (no-op, flag, takeover), modes.ts (the plugin modes' environment and
// table), report.ts (results.json, .md), chart.ts.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Lab } from "../test/lib/lab";
import { chart } from "./chart";
import { machine, results } from "./figures";
import { writeReport } from "./report";
import { baseline, coldOurs } from "./runs";
import { KEYS, MODES, OUT_DIR, PARALLEL, RUNS, SIZES, SKIP_BASELINE, WARM, log, work } from "./settings";
import { warm3 } from "./warm";

async function main() {
    assert.equal(process.getuid?.(), 0, "the lab needs root");
    fs.mkdirSync(path.join(work, "backend"), { recursive: true });
    fs.mkdirSync(OUT_DIR, { recursive: true });
    results.machine = machine();
    log(
        `runs ${RUNS}, sizes ${SIZES.join(",")}${PARALLEL.length ? `, --parallel ${PARALLEL.join(",")}` : ""}` +
            `${KEYS.length ? `, keys ${KEYS.join(",")}` : ""}; plugin modes ${MODES.join(",")}; work dir ${work}`,
    );
    const withDefault = MODES.includes("default");
    try {
        for (let r = 0; r < RUNS; r++) {
            for (const n of withDefault ? SIZES : []) {
                await coldOurs(n, r, {}, n === 3 && WARM ? (lab, p, cluster) => warm3(lab, p, cluster, r) : undefined);
                if (!SKIP_BASELINE) await baseline(n, r);
                writeReport();
            }
            // The plugin's other modes: cold 3 masters, no-op and flag only (no other sizes, baseline or takeover). A
            // failure there is a finding (a note in the report), not the end of the run: the next deploy is on fresh hosts.
            for (const mode of MODES.filter((x) => x !== "default")) {
                try {
                    await coldOurs(3, r, { mode }, WARM ? (lab, p, cluster) => warm3(lab, p, cluster, r, mode) : undefined);
                } catch (e) {
                    const msg = `${mode} plugin mode, run ${r + 1}: FAILED: ${(e instanceof Error ? e.message : String(e)).replace(/\s+/g, " ").slice(0, 1500)}`;
                    results.notes.push(msg);
                    log(msg);
                }
                writeReport();
            }
            if (!withDefault) continue;
            for (const pv of PARALLEL) {
                await coldOurs(3, r, { parallel: pv });
                writeReport();
            }
            for (const keyAlgorithm of KEYS)
                for (const n of SIZES.filter((x) => x >= 3)) {
                    await coldOurs(n, r, { keyAlgorithm });
                    writeReport();
                }
        }
    } finally {
        writeReport();
        log(`lab down: exit ${(await Lab.down()).status}`);
    }
    await chart();
    log(`wrote ${OUT_DIR}/results.json, results.md`);
    console.log(fs.readFileSync(path.join(OUT_DIR, "results.md"), "utf8"));
}

main().catch((e: unknown) => {
    console.error(`[bench] FAILED: ${e instanceof Error ? e.stack : String(e)}`);
    process.exit(1);
});
