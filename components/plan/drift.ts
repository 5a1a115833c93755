// Drift: what was changed on a host by hand since Pulumi last applied it. Pure. The command provider never reads
// a host, so the library looks itself: every script records what it wrote as `sha256sum` lines in a root-only
// file under /var/lib/k8scp (render/records.ts), and a read-only probe (run by the program over SSH before any
// resource is registered) checks them, with `systemctl is-active`. Drift is the host differing from what our own
// script recorded — never from the new desired state, so an intended change is not mistaken for drift.
//
// A repair is made by a changed `# repair: <marker>` line in the script's stdin (so `pulumi preview` shows it and
// `up` runs the script again); the marker is kept on the host, so the next run reuses it and stays a no-op.
import { createHash } from "node:crypto";
import { recordFiles, statFormat } from "../render/records";

export type StepState = "new" | "ok" | "drift";
export interface ObservedStep {
    state: StepState;
    /** The repair marker the host was last applied with ("" when none). */
    marker: string;
    /** What differs, for the warning, e.g. "/etc/systemd/system/kube-scheduler.service: FAILED". */
    detail: string;
}
export interface ObservedService {
    service: ObservedStep;
    files: ObservedStep;
}

/**
 * The probe, run as root with `bash -s`: for each unit and step, `<unit> <step> <new|ok|drift> <marker> <detail>`
 * on one line (detail with spaces replaced by `%20`). The service step also drifts when the unit is stopped or failed
 * (not while systemd itself is starting or restarting it).
 *
 * Starting a process costs about 10 ms of CPU on these hosts, so the probe starts few: one `systemctl is-active` for
 * every unit, one `stat` for every recorded file, and `sha256sum` only for a step whose files changed identity.
 */
export function renderDriftProbe(units: string[]): string {
    const checks = units.flatMap((u) => [
        { unit: u, step: "service" as const, ...recordFiles(u, "service") },
        { unit: u, step: "files" as const, ...recordFiles(u, "files") },
    ]);
    const lines = [
        "set -u",
        `enc() { tr '\\n' ';' | sed 's/ /%20/g; s/;$//'; }`,
        `units=(${units.join(" ")})`,
        // systemctl prints one state per unit, in the order given.
        "declare -A active=()",
        'i=0; while read -r s; do active[${units[i]}]=$s; i=$((i + 1)); done < <(systemctl is-active "${units[@]/%/.service}" 2>/dev/null)',
        // The identity of every recorded file now: name, size, mtime (ns), inode.
        "declare -A now=()",
        "names=()",
        `for f in ${checks.map((c) => `${c.sums}.stat`).join(" ")}; do`,
        '  [ -f "$f" ] || continue',
        '  while read -r n _; do [ -n "$n" ] && names+=("$n"); done < "$f"',
        "done",
        `if [ \${#names[@]} -gt 0 ]; then while read -r l; do now[\${l%% *}]=$l; done < <(stat -c '${statFormat}' "\${names[@]}" 2>/dev/null); fi`,
        "check() { # unit step sums-file marker-file [is-active]",
        `  local sums="$3" marker="$4" m="-" d="" same=1 l s`,
        `  if [ -f "$marker" ]; then read -r -n 100 m < "$marker" || true; m=\${m//[^a-f0-9]/}; [ -n "$m" ] || m="-"; fi`,
        `  if [ ! -f "$sums" ]; then echo "$1 $2 new $m -"; return; fi`,
        // Hash only what changed since it was recorded: name, size, mtime (ns) and inode as recorded means the same
        // file (binaries are hundreds of MB; hashing them on every run was most of a no-op run's time).
        `  if [ -f "$sums.stat" ]; then while read -r l; do [ -z "$l" ] || [ "\${now[\${l%% *}]-}" = "$l" ] || same=0; done < "$sums.stat"; else same=0; fi`,
        `  [ $same = 1 ] || d=$(sha256sum --check --quiet "$sums" 2>&1 | enc)`,
        // A unit systemd is (re)starting by itself (Restart=always after an exit) is not drift; stopped or failed is.
        `  if [ -n "\${5:-}" ]; then s=\${active[$1]-}; case "$s" in active|activating|reloading|deactivating) ;; *) d="\${d:+$d;}$1.service:%20\${s:-unknown}" ;; esac; fi`,
        `  if [ -n "$d" ]; then echo "$1 $2 drift $m $d"; else echo "$1 $2 ok $m -"; fi`,
        "}",
        ...checks.map((c) => `check ${c.unit} ${c.step} ${c.sums} ${c.marker}${c.step === "service" ? " active" : ""}`),
    ];
    return lines.join("\n") + "\n";
}

/** Parses the probe's output into the observed state of each unit. */
export function parseDriftProbe(out: string, units: string[]): Record<string, ObservedService> {
    const res: Record<string, Partial<ObservedService>> = {};
    for (const line of out.split("\n")) {
        const m = /^(\S+) (service|files) (new|ok|drift) (\S+) (\S+)$/.exec(line.trim());
        if (!m) continue;
        const [, unit, step, state, marker, detail] = m;
        (res[unit] ??= {})[step as "service" | "files"] = {
            state: state as StepState,
            marker: marker === "-" ? "" : marker,
            detail: detail === "-" ? "" : detail.replace(/%20/g, " ").split(";").join("; "),
        };
    }
    const missing = units.filter((u) => !res[u]?.service || !res[u]?.files);
    if (missing.length) throw new Error(`the drift probe printed nothing for ${missing.join(", ")}: ${out.trim().slice(0, 300)}`);
    return res as Record<string, ObservedService>;
}

/** The marker to apply with: the host's own while it is as recorded, a new one chained from it on drift. */
export function repairMarker(o: ObservedStep | undefined): string {
    if (!o || o.state !== "drift") return o?.marker ?? "";
    return createHash("sha256").update(`${o.marker}|${o.detail}`).digest("hex").slice(0, 16);
}
