// The command plugin's modes (BENCH_MODES): the Pulumi CLI's environment in each, and the side-by-side table.
import { Results, fmt, isPlain } from "./figures";
import { Mode } from "./settings";

/** The plugin reads it once, when it starts; the Pulumi CLI starts plugins with its own environment. */
export const UPSTREAM_ENV = "K8SCP_COMMAND_UPSTREAM";

/** The Pulumi CLI's environment in `mode`: `K8SCP_COMMAND_UPSTREAM=1` for upstream, and never inherited otherwise. */
export function modeEnv(env: NodeJS.ProcessEnv, mode: Mode): NodeJS.ProcessEnv {
    const e = { ...env };
    delete e[UPSTREAM_ENV];
    if (mode === "upstream") e[UPSTREAM_ENV] = "1";
    return e;
}

/**
 * results.md's "plugin mode" table: per mode (a column each), the cold 3-master `up`, the no-op runs, the flag
 * rollout and the SSH logins per master; no lines when only the default mode is measured.
 */
export function modeTable(r: Pick<Results, "cold" | "noop" | "flag" | "modes">, modes: Mode[]): string[] {
    if (!modes.some((m) => m !== "default")) return [];
    const warm = (m: Mode) => (m === "default" ? r : r.modes[m]);
    const cold = (m: Mode) => r.cold.filter((c) => c.masters === 3 && isPlain(c, m));
    const cells = (f: (m: Mode) => string) => modes.map(f).join(" | ");
    const L = [
        `## Plugin mode: ${modes.join(" vs ")} (3 masters)`,
        "",
        `upstream: \`K8SCP_COMMAND_UPSTREAM=1\` given to the Pulumi CLI, so the command plugin opens a new SSH connection ` +
            `per operation as the official plugin 1.2.1 does; default: one shared connection per host. Seconds.`,
        "",
        `| | ${modes.join(" | ")} |`,
        `|---|${modes.map(() => "---|").join("")}`,
        `| cold \`pulumi up\` | ${cells((m) => fmt(cold(m).map((c) => c.seconds)))} |`,
        `| … SSH logins per master (plugin, preflight and drift probe) | ${cells((m) =>
            fmt(
                cold(m).flatMap((c) => c.sshLogins ?? []),
                0,
            ),
        )} |`,
        `| no-op \`pulumi preview --expect-no-changes\` | ${cells((m) => fmt(warm(m)?.noop.preview))} |`,
        `| no-op \`pulumi up --expect-no-changes\` | ${cells((m) => fmt(warm(m)?.noop.up))} |`,
        `| one scheduler flag: \`pulumi up\` (rolling restart) | ${cells((m) => fmt(warm(m)?.flag.seconds))} |`,
        `| … failed /readyz probes via the VIP | ${cells((m) => {
            const w = warm(m);
            return w?.flag.probes.length ? `${fmt(w.flag.failedProbes, 0)} of ${fmt(w.flag.probes, 0)}` : "–";
        })} |`,
    ];
    return L;
}
