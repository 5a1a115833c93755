// The bench's side-by-side table of the command plugin's modes (bench/modes.ts), and the CLI's environment per mode.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ColdRun, Results, results, warmFigures, warmOf } from "../../bench/figures";
import { modeEnv, modeTable } from "../../bench/modes";

const cold = (seconds: number, extra: Partial<ColdRun> = {}) => ({ masters: 3, seconds, ...extra }) as ColdRun;

test("bench: the plugin modes side by side, default figures where they always were, upstream's under modes", () => {
    const dflt = warmFigures();
    dflt.noop.preview.push(7, 6, 8);
    dflt.noop.up.push(8);
    dflt.flag.seconds.push(14.4);
    dflt.flag.failedProbes.push(0);
    dflt.flag.probes.push(49);
    const up = warmFigures();
    up.noop.preview.push(7.5);
    up.noop.up.push(8.5);
    up.flag.seconds.push(20);
    up.flag.failedProbes.push(2);
    up.flag.probes.push(60);
    const r: Pick<Results, "cold" | "noop" | "flag" | "modes"> = {
        cold: [
            cold(36.9, { sshLogins: [3, 3, 4] }),
            cold(60.2, { mode: "upstream", sshLogins: [40, 41, 42] }),
            // Neither column: another size, a --parallel variant.
            cold(16.1, { masters: 1 }),
            cold(30, { parallel: 32 }),
        ],
        ...dflt,
        modes: { upstream: up },
    };
    const md = modeTable(r, ["default", "upstream"]);
    assert.equal(md[0], "## Plugin mode: default vs upstream (3 masters)");
    const rows = md.filter((l) => l.startsWith("|"));
    assert.deepEqual(rows, [
        "| | default | upstream |",
        "|---|---|---|",
        "| cold `pulumi up` | 36.9 | 60.2 |",
        "| … SSH logins per master (plugin, preflight and drift probe) | 3 (3–4) | 41 (40–42) |",
        "| no-op `pulumi preview --expect-no-changes` | 7.0 (6.0–8.0) | 7.5 |",
        "| no-op `pulumi up --expect-no-changes` | 8.0 | 8.5 |",
        "| one scheduler flag: `pulumi up` (rolling restart) | 14.4 | 20.0 |",
        "| … failed /readyz probes via the VIP | 0 of 49 | 2 of 60 |",
    ]);
    // A mode not measured yet (or BENCH_WARM=0): dashes, not a failure.
    const none = modeTable({ ...r, modes: {} }, ["default", "upstream"]);
    assert.ok(none.includes("| no-op `pulumi up --expect-no-changes` | 8.0 | – |"));
    assert.ok(none.includes("| … failed /readyz probes via the VIP | 0 of 49 | – |"));
    // The default mode alone: no table.
    assert.deepEqual(modeTable(r, ["default"]), []);
    // results.json: the default mode's warm figures keep their top-level keys; the other modes' go under `modes`.
    for (const k of ["cold", "baseline", "noop", "flag", "takeover", "destroy", "notes"]) assert.ok(k in results, k);
    assert.equal(warmOf("default").noop, results.noop);
    assert.equal(warmOf("upstream"), results.modes.upstream);
    assert.deepEqual(Object.keys(results.modes), ["upstream"]);
});

test("bench: K8SCP_COMMAND_UPSTREAM=1 for the upstream mode only, never inherited by the default mode", () => {
    const env = { PATH: "/bin", K8SCP_COMMAND_UPSTREAM: "1" };
    assert.deepEqual(modeEnv(env, "default"), { PATH: "/bin" });
    assert.deepEqual(modeEnv({ PATH: "/bin" }, "upstream"), env);
    assert.equal(env.K8SCP_COMMAND_UPSTREAM, "1", "the given environment is left alone");
});
