// Reads what is on the masters before any resource is registered: one read-only SSH session per master runs the
// drift probe (plan/drift.ts) with sudo. Uses the OpenSSH client with the deployment's key and the pinned host keys.
import { execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ObservedService, parseDriftProbe, renderDriftProbe } from "../plan/drift";

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
    const agent = await startAgent(dir, privateKey, timeoutMs);
    try {
        const knownHosts = path.join(dir, "known_hosts");
        fs.writeFileSync(knownHosts, hosts.map((h) => `${h.port === 22 ? h.address : `[${h.address}]:${h.port}`} ${h.hostKey}\n`).join(""));
        const probe = renderDriftProbe(units);
        const results = await Promise.all(
            hosts.map(
                (h) =>
                    new Promise<{ h: ObservedHost; out?: string; err?: string }>((resolve) => {
                        const opts = [
                            ["IdentitiesOnly", "yes"],
                            ["IdentityAgent", agent.socket],
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
                            agent.publicKeyFile,
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
                    `${r.h.key}: reading ${where} failed (${r.err}); the SSH user needs passwordless sudo. The library reads every master before it plans a change (etcd members, versions, drift), so it must be reachable; mark a master that is gone for good with gone: true`,
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
        agent.stop();
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/**
 * The deployment's key for the probe's SSH sessions without writing it to a file: an ssh-agent of the probe's own
 * (in `dir`, 0700) holds it in memory, given on ssh-add's stdin; ssh reads the public half from a file and signs
 * through the agent. If this process is killed, nothing secret is left on disk, and the agent ends by itself
 * (`timeout`) with the key's lifetime.
 */
export async function startAgent(dir: string, privateKey: string, timeoutMs: number) {
    const socket = path.join(dir, "agent.sock");
    const life = Math.ceil(timeoutMs / 1000) + 60;
    const child = spawn("timeout", [String(life), "ssh-agent", "-D", "-a", socket], { stdio: "ignore" });
    const stop = () => child.kill("SIGTERM");
    try {
        const deadline = Date.now() + 5000;
        while (!fs.existsSync(socket)) {
            if (child.exitCode !== null || Date.now() > deadline) throw new Error(`ssh-agent did not start (exit ${child.exitCode})`);
            await new Promise((r) => setTimeout(r, 20));
        }
        const env = { ...process.env, SSH_AUTH_SOCK: socket };
        const run = (args: string[], input?: string) =>
            new Promise<string>((resolve, reject) => {
                const c = execFile("ssh-add", args, { env, encoding: "utf8", timeout: 10_000 }, (e, out, err) =>
                    e ? reject(new Error(`ssh-add ${args.join(" ")}: ${(err || e.message).trim()}`)) : resolve(out),
                );
                c.stdin?.end(input);
            });
        await run(["-q", "-t", String(life), "-"], privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`);
        const publicKeyFile = path.join(dir, "id.pub");
        fs.writeFileSync(publicKeyFile, (await run(["-L"])).split("\n")[0] + "\n", { mode: 0o600 });
        return { socket, publicKeyFile, stop };
    } catch (e) {
        stop();
        throw e;
    }
}

/**
 * One script that runs independent probes at the same time and waits for all (each is mostly waiting: on systemd,
 * etcd, a binary starting). Each probe's lines are whole lines, written by one command each.
 */
export const probeScript = (probes: string[]): string =>
    probes.map((p) => `{\n${p.endsWith("\n") ? p : `${p}\n`}} &\n`).join("") + "wait\n";
