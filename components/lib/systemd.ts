// systemd unit files. Pure.

export interface UnitSpec {
    description: string;
    /** Absolute path of the binary. */
    exec: string;
    args: string[];
    /** Dedicated user (and group of the same name) the service runs as; root when omitted. */
    user?: string;
    /** `notify` for binaries that tell systemd when they are ready (etcd, kube-apiserver). */
    type?: "simple" | "notify";
    /** Units to start after and to want (e.g. a co-located etcd.service). */
    after?: string[];
    wants?: string[];
    environmentFile?: string;
    workingDirectory?: string;
    documentation?: string;
    limitNofile?: number;
    /** Extra `[Service]` lines, e.g. sandboxing options. */
    serviceExtra?: Record<string, string>;
}

/** Quotes one ExecStart word the way systemd parses it (and escapes `%` specifiers). */
export function quoteExecWord(w: string): string {
    const escaped = w.replace(/%/g, "%%");
    if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped)) return escaped;
    return `"${escaped.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** Renders a unit with `Restart=always`, `RestartSec=5` and `LimitNOFILE` as the runbooks do. */
export function renderUnit(u: UnitSpec): string {
    const lines: string[] = ["[Unit]", `Description=${u.description}`];
    if (u.documentation) lines.push(`Documentation=${u.documentation}`);
    lines.push(`After=${["network-online.target", ...(u.after ?? [])].join(" ")}`);
    lines.push(`Wants=${["network-online.target", ...(u.wants ?? [])].join(" ")}`);
    lines.push("", "[Service]", `Type=${u.type ?? "simple"}`);
    if (u.user) lines.push(`User=${u.user}`, `Group=${u.user}`);
    if (u.environmentFile) lines.push(`EnvironmentFile=-${u.environmentFile}`);
    if (u.workingDirectory) lines.push(`WorkingDirectory=${u.workingDirectory}`);
    const exec = [u.exec, ...u.args].map(quoteExecWord);
    lines.push(`ExecStart=${exec.join(" \\\n  ")}`);
    lines.push("Restart=always", "RestartSec=5", `LimitNOFILE=${u.limitNofile ?? 65536}`);
    if (u.type === "notify") lines.push("TimeoutStartSec=120");
    for (const [k, v] of Object.entries(u.serviceExtra ?? {})) lines.push(`${k}=${v}`);
    lines.push("", "[Install]", "WantedBy=multi-user.target", "");
    return lines.join("\n");
}
