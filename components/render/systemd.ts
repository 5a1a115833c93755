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

/**
 * One ExecStart word that systemd reads back as `w` (systemd.service(5), COMMAND LINES; systemd.syntax(7)): `%`
 * doubled (specifiers), `$` doubled (environment variables), and a word with any character other than letters,
 * digits and `_@%$+=:,./-` double-quoted, with `\` and `"` escaped and control characters as `\xNN` or `\uNNNN`.
 */
export function quoteExecWord(w: string): string {
    const escaped = w.replace(/[%$]/g, "$&$&");
    if (/^[A-Za-z0-9_@%$+=:,./-]+$/.test(escaped)) return escaped;
    const inQuotes = escaped.replace(/[\\"]/g, "\\$&").replace(/\p{Cc}/gu, (c) => {
        const code = c.charCodeAt(0).toString(16);
        return c < "\x80" ? `\\x${code.padStart(2, "0")}` : `\\u${code.padStart(4, "0")}`;
    });
    return `"${inQuotes}"`;
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
