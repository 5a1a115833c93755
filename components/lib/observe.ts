// Reads what is on the masters before any resource is registered: one read-only SSH session per master runs the
// drift probe (drift.ts) with sudo. Uses the OpenSSH client with the deployment's key and the pinned host keys.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ObservedService, parseDriftProbe, renderDriftProbe } from "./drift";

export interface ObservedHost {
    /** e.g. `k8scp:masters[1]`, for messages. */
    key: string;
    name: string;
    address: string;
    port: number;
    user: string;
    /** Pinned host key, `type base64`. */
    hostKey: string;
}

/**
 * Runs the drift probe (and `extra` probes of the caller's, e.g. etcd's) on every host in parallel: the observed
 * state by host name and unit, each host's raw output, or one problem per host. On a host the probes run at the
 * same time (`probeScript`), so the output's lines come in any order.
 */
export async function observeDrift(
    hosts: ObservedHost[],
    privateKey: string,
    units: string[],
    extra: (h: ObservedHost) => string[] = () => [],
    timeoutMs = 20_000,
): Promise<{ observed: Record<string, Record<string, ObservedService>>; raw: Record<string, string>; problems: string[] }> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-observe-"));
    try {
        const keyFile = path.join(dir, "id");
        fs.writeFileSync(keyFile, privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`, { mode: 0o600 });
        const knownHosts = path.join(dir, "known_hosts");
        fs.writeFileSync(knownHosts, hosts.map((h) => `${h.port === 22 ? h.address : `[${h.address}]:${h.port}`} ${h.hostKey}\n`).join(""));
        const probe = renderDriftProbe(units);
        const results = await Promise.all(
            hosts.map(
                (h) =>
                    new Promise<{ h: ObservedHost; out?: string; err?: string }>((resolve) => {
                        const opts = [
                            ["IdentitiesOnly", "yes"],
                            ["BatchMode", "yes"],
                            ["StrictHostKeyChecking", "yes"],
                            ["UserKnownHostsFile", knownHosts],
                            ["GlobalKnownHostsFile", "/dev/null"],
                            ["ConnectTimeout", "5"],
                            ["LogLevel", "ERROR"],
                        ].flatMap(([k, v]) => ["-o", `${k}=${v}`]);
                        const args = [
                            "-F",
                            "/dev/null",
                            "-i",
                            keyFile,
                            ...opts,
                            "-p",
                            String(h.port),
                            `${h.user}@${h.address}`,
                            "sudo -n bash -s",
                        ];
                        const child = execFile("ssh", args, { encoding: "utf8", timeout: timeoutMs }, (e, stdout, stderr) =>
                            resolve(e ? { h, err: (stderr || e.message).trim().split("\n").slice(-1)[0] } : { h, out: stdout }),
                        );
                        child.stdin?.end(probeScript([probe, ...extra(h)]));
                    }),
            ),
        );
        const observed: Record<string, Record<string, ObservedService>> = {};
        const problems: string[] = [];
        const raw: Record<string, string> = {};
        for (const r of results) {
            const where = `${r.h.name} (${r.h.address}:${r.h.port})`;
            if (r.err !== undefined) {
                problems.push(
                    `${r.h.key}: reading ${where} for drift failed (${r.err}); the SSH user needs passwordless sudo, or set k8scp:preflight false to skip host checks`,
                );
                continue;
            }
            try {
                observed[r.h.name] = parseDriftProbe(r.out!, units);
                raw[r.h.name] = r.out!;
            } catch (e) {
                problems.push(`${r.h.key}: reading ${where} for drift failed: ${(e as Error).message}`);
            }
        }
        return { observed, raw, problems };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/**
 * One script that runs independent probes at the same time and waits for all (each is mostly waiting: on systemd,
 * etcd, a binary starting). Each probe's lines are whole lines, written by one command each.
 */
export const probeScript = (probes: string[]): string =>
    probes.map((p) => `{\n${p.endsWith("\n") ? p : `${p}\n`}} &\n`).join("") + "wait\n";
