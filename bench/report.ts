// The report: results.json and results.md.
import * as fs from "node:fs";
import * as path from "node:path";
import { repo } from "../test/lib/lab";
import { HOST_UNITS } from "./analysis";
import { CpuUsed } from "./cpu";
import { CATEGORIES } from "./events";
import { ColdRun, Samples, fmt, isDefault, results, stats } from "./figures";
import { modeTable } from "./modes";
import { defaultParallel } from "./runs";
import { KEYS, MODES, OUT_DIR, PARALLEL, PROGRAM_DIR, QUICK, RUNS, SIZES } from "./settings";

// ---------------------------------------------------------------------------------------------------------------
function median(xs: Samples) {
    return stats(xs)?.median;
}

export function writeReport() {
    fs.writeFileSync(path.join(OUT_DIR, "results.json"), JSON.stringify(results, null, 2) + "\n");
    const m = results.machine;
    const L: string[] = [];
    L.push(`# Benchmark results`, "");
    L.push(
        `Machine: ${m.cpus} × ${m.cpuModel}, ${m.memGiB} GiB, ${m.os}, kernel ${m.kernel}. ${results.startedAt}. ` +
            `Each figure: median (min–max) of ${RUNS} run${RUNS > 1 ? "s" : ""}${QUICK ? " (quick mode)" : ""}; seconds. ` +
            `\`pulumi up\` without \`--parallel\` runs ${defaultParallel} steps at once (PULUMI_PARALLEL from scripts/env.sh).`,
        "",
    );
    L.push("## Cold deploy (fresh lab hosts, binaries copied)", "");
    L.push("| masters | ours `pulumi up` | runbook baseline | ours / baseline |", "|---|---|---|---|");
    for (const n of SIZES) {
        const ours = results.cold.filter((c) => c.masters === n && isDefault(c)).map((c) => c.seconds);
        const base = results.baseline.filter((c) => c.masters === n).map((c) => c.seconds);
        const ratio = ours.length && base.length ? (median(ours)! / median(base)!).toFixed(2) : "–";
        L.push(`| ${n} | ${fmt(ours)} | ${fmt(base)} | ${ratio} |`);
    }
    const med = (n: number) => median(results.cold.filter((c) => c.masters === n && isDefault(c)).map((c) => c.seconds));
    if (med(3) !== undefined)
        L.push("", `Target: cold 3-master deploy under 90 s: ${med(3)! < 90 ? "met" : "NOT met"} (${med(3)!.toFixed(1)} s).`);
    if (med(3) !== undefined && med(5) !== undefined)
        L.push(
            `Growth 3 → 5 masters: ×${(med(5)! / med(3)!).toFixed(2)} (linear would be ×${(5 / 3).toFixed(2)}): ${med(5)! / med(3)! < 5 / 3 ? "under linear" : "NOT under linear"}.`,
        );
    if (PROGRAM_DIR !== repo) L.push("", `Program measured: ${PROGRAM_DIR} (not this repository).`);
    const withCpu = [...results.cold.filter(isDefault), ...results.baseline].filter((c) => c.cpu);
    if (withCpu.length) {
        const cores = Number(m.cpus);
        L.push(
            "",
            `### CPU used by a cold deploy (seconds of the machine's ${cores} cores; lab hosts from their cgroups, the controller is the rest)`,
            "",
        );
        L.push(`| | ${SIZES.map((n) => `${n} master${n > 1 ? "s" : ""}`).join(" | ")} |`, `|---|${SIZES.map(() => "---|").join("")}`);
        const runs = [
            ["ours", results.cold.filter(isDefault)],
            ["baseline", results.baseline],
        ] as const;
        for (const [who, list] of runs) {
            const cpuRow = (name: string, f: (x: { seconds: number; cpu: CpuUsed }) => number | undefined, digits = 1) =>
                L.push(
                    `| ${who}: ${name} | ${SIZES.map((n) =>
                        fmt(
                            list
                                .filter((x) => x.masters === n && x.cpu)
                                .map((x) => f({ seconds: x.seconds, cpu: x.cpu! }))
                                .filter((v): v is number => v !== undefined),
                            digits,
                        ),
                    ).join(" | ")} |`,
                );
            cpuRow("all", (x) => x.cpu.total);
            cpuRow("share of the cores, %", (x) => (100 * x.cpu.total) / (x.seconds * cores), 0);
            cpuRow("lab hosts", (x) => x.cpu.hosts);
            cpuRow("controller (CLI, program, plugins, ssh, openssl)", (x) => x.cpu.controller);
            for (const u of HOST_UNITS) cpuRow(`lab hosts: ${u} units`, (x) => x.cpu.units?.[u]);
            cpuRow("lab hosts: the rest (sshd, sudo, bash, install, systemd)", (x) =>
                x.cpu.units && x.cpu.hosts !== undefined ? x.cpu.hosts - Object.values(x.cpu.units).reduce((a, b) => a + b, 0) : undefined,
            );
        }
    }
    L.push("", "### Where a cold `pulumi up` goes (wall seconds, each instant attributed to one category)", "");
    const cats = ["CLI start-up", "program start-up (config, preflight, drift probe)", ...CATEGORIES, "idle"];
    L.push(`| | ${SIZES.map((n) => `${n} master${n > 1 ? "s" : ""}`).join(" | ")} |`, `|---|${SIZES.map(() => "---|").join("")}`);
    for (const c of cats) {
        const cells = SIZES.map((n) => {
            const xs = results.cold.filter((x) => x.masters === n && isDefault(x));
            const v = xs.map((x) =>
                c === "CLI start-up"
                    ? x.cliStartup
                    : c.startsWith("program")
                      ? x.programStartup
                      : c === "idle"
                        ? x.idle
                        : (x.exclusive[c] ?? 0),
            );
            return fmt(v);
        });
        if (cells.every((x) => x === "0.0" || x === "–")) continue;
        L.push(`| ${c} | ${cells.join(" | ")} |`);
    }
    const row = (name: string, f: (x: ColdRun) => number) =>
        L.push(`| ${name} | ${SIZES.map((n) => fmt(results.cold.filter((x) => x.masters === n && isDefault(x)).map(f))).join(" | ")} |`);
    row("— service commands: before the process started (ssh, install, unit, daemon-reload), summed", (x) => x.servicePhases.beforeStart);
    row("— service commands: health waits (process start → healthy), summed", (x) => x.servicePhases.healthWait);
    row("— kube-apiserver commands, first start → last healthy (rolling chain)", (x) => x.apiserverChain);
    row("— copies: resource-seconds (sum over CopyToRemote)", (x) => x.sum.copies ?? 0);
    row("— certificates: resource-seconds (sum over tls/random)", (x) => x.sum.certificates ?? 0);
    if (results.baseline.length) {
        L.push("", "Runbook baseline phases (one host after another):", "");
        L.push(`| phase | ${SIZES.map((n) => `${n}`).join(" | ")} |`, `|---|${SIZES.map(() => "---|").join("")}`);
        for (const ph of ["pki and kubeconfigs", "copies", "services started", "load balancer up"])
            L.push(
                `| ${ph} | ${SIZES.map((n) => fmt(results.baseline.filter((b) => b.masters === n).map((b) => b.phases[ph] ?? NaN))).join(" | ")} |`,
            );
    }
    if (PARALLEL.length) {
        L.push("", "### `--parallel` (cold, 3 masters)", "", "| --parallel | pulumi up |", "|---|---|");
        L.push(
            `| default (${defaultParallel}) | ${fmt(results.cold.filter((c) => c.masters === 3 && isDefault(c)).map((c) => c.seconds))} |`,
        );
        for (const pv of PARALLEL)
            L.push(`| ${pv} | ${fmt(results.cold.filter((c) => c.masters === 3 && c.parallel === pv).map((c) => c.seconds))} |`);
    }
    if (KEYS.length) {
        const big = SIZES.filter((n) => n >= 3);
        L.push("", "### Key algorithm (cold)", "", `| k8scp:keyAlgorithm | ${big.map((n) => `${n} masters`).join(" | ")} | growth |`);
        L.push(`|---|${big.map(() => "---|").join("")}---|`);
        const keyRow = (name: string, f: (c: ColdRun) => boolean) => {
            const xs = big.map((n) => results.cold.filter((c) => c.masters === n && f(c)).map((c) => c.seconds));
            const a = median(xs[0] ?? []);
            const z = median(xs[xs.length - 1] ?? []);
            const growth = big.length > 1 && a !== undefined && z !== undefined ? `×${(z / a).toFixed(2)}` : "–";
            L.push(`| ${name} | ${xs.map((x) => fmt(x)).join(" | ")} | ${growth} |`);
        };
        keyRow("default (ECDSA-P256)", isDefault);
        for (const k of KEYS) keyRow(k, (c) => !c.parallel && c.keyAlgorithm === k);
    }
    L.push("", "## 3 masters, deployed", "", "| what | figure | target |", "|---|---|---|");
    L.push(`| no-op \`pulumi preview --expect-no-changes\` | ${fmt(results.noop.preview)} s | < 10 s |`);
    L.push(`| no-op \`pulumi up --expect-no-changes\` | ${fmt(results.noop.up)} s | < 10 s |`);
    L.push(
        `| no-op \`pulumi preview\` with \`k8scp:preflight false\` (no host checks; the probe runs) | ${fmt(results.noop.previewNoPreflight)} s | |`,
    );
    L.push(`| services restarted by the no-op runs | ${fmt(results.noop.restarts, 0)} | 0 |`);
    L.push(`| one scheduler flag: \`pulumi up\` (rolling restart over 3 masters) | ${fmt(results.flag.seconds)} s | |`);
    L.push(
        `| … failed /readyz probes via the VIP during it | ${fmt(results.flag.failedProbes, 0)} of ${fmt(results.flag.probes, 0)} | 0 |`,
    );
    L.push(
        `| … schedulers restarted / other services restarted | ${fmt(results.flag.restartedSchedulers, 0)} / ${fmt(results.flag.others, 0)} | 3 / 0 |`,
    );
    for (const [k, v] of Object.entries(results.takeover))
        L.push(
            `| leader takeover, ${k} (stop → new holder's acquireTime) | ${fmt(v.seconds)} s${v.sameMaster ? ` (${v.sameMaster}× the restarted leader itself)` : ""} | |`,
        );
    L.push(
        `| \`pulumi destroy\` (3 masters), nothing of ours left after | ${fmt(results.destroy.filter((d) => d.masters === 3 && !d.mode).map((d) => d.seconds))} s, ${results.destroy.every((d) => d.nothingLeft) ? "yes" : "NO"} | |`,
    );
    const modes = modeTable(results, MODES);
    if (modes.length) L.push("", ...modes);
    if (results.notes.length) L.push("", "Notes:", "", ...results.notes.map((n) => `- ${n}`));
    L.push("");
    fs.writeFileSync(path.join(OUT_DIR, "results.md"), L.join("\n"));
}
