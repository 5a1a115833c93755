// Reads what is on the masters before any resource is registered: one read-only SSH session per master runs the
// drift probe (plan/drift.ts) with sudo. Uses the OpenSSH client with the deployment's key and the pinned host keys;
// a session to a host pinned by an RSA key also learns the other host keys the server proves (sshSession).
import { execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { hostKeysFromKnownHosts, isRsaHostKey, knownHostsHost } from "../config";
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
): Promise<{
    observed: Record<string, Record<string, ObservedService>>;
    raw: Record<string, string>;
    problems: string[];
    /** For a host pinned by an RSA key: the host keys its session proved (the pin included), by host name. */
    proved: Record<string, string[]>;
}> {
    return withAgent("k8scp-observe-", privateKey, timeoutMs, async (dir, agent) => {
        const probe = renderDriftProbe(units);
        const results = await Promise.all(
            hosts.map((h, i) =>
                sshSession(h, agent, path.join(dir, `known_hosts.${i}`), "sudo -n bash -s", probeScript([probe, ...extra(h)]), timeoutMs),
            ),
        );
        const observed: Record<string, Record<string, ObservedService>> = {};
        const problems: string[] = [];
        const raw: Record<string, string> = {};
        const proved: Record<string, string[]> = {};
        results.forEach((r, i) => {
            const h = hosts[i];
            const where = `${h.name} (${h.address}:${h.port})`;
            if (r.err !== undefined) {
                problems.push(
                    `${h.key}: reading ${where} failed (${r.err}); the SSH user needs passwordless sudo. The library reads every master before it plans a change (etcd members, versions, drift), so it must be reachable; mark a master that is gone for good with gone: true`,
                );
                return;
            }
            if (r.proved) proved[h.name] = r.proved;
            try {
                observed[h.name] = parseDriftProbe(r.out!, units);
                raw[h.name] = r.out!;
            } catch (e) {
                problems.push(`${h.key}: reading ${where} for drift failed: ${(e as Error).message}`);
            }
        });
        return { observed, raw, problems, proved };
    });
}

/**
 * For hosts pinned by an RSA key that the probe does not read (the load balancer): a session that runs `true`, only
 * to learn the other host keys the server proves (see sshSession). The keys by host key (config key), or its error.
 */
export async function learnHostKeys(
    hosts: Omit<ObservedHost, "name">[],
    privateKey: string,
    timeoutMs = 20_000,
): Promise<Record<string, { proved?: string[]; err?: string }>> {
    return withAgent("k8scp-hostkeys-", privateKey, timeoutMs, async (dir, agent) => {
        const results = await Promise.all(
            hosts.map((h, i) => sshSession(h, agent, path.join(dir, `known_hosts.${i}`), "true", "", timeoutMs)),
        );
        return Object.fromEntries(results.map((r, i) => [hosts[i].key, r.err !== undefined ? { err: r.err } : { proved: r.proved ?? [] }]));
    });
}

/** `f` with a private temp directory (`prefix`) and the probe's agent holding the key; both gone when it ends. */
async function withAgent<T>(
    prefix: string,
    privateKey: string,
    timeoutMs: number,
    f: (dir: string, agent: Awaited<ReturnType<typeof startAgent>>) => Promise<T>,
): Promise<T> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    try {
        const agent = await startAgent(dir, privateKey, timeoutMs);
        try {
            return await f(dir, agent);
        } finally {
            agent.stop();
        }
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/**
 * One SSH session to `h` with the OpenSSH client: the deployment's key through `agent`, the host's pinned key alone in
 * `knownHosts` (a file of its own) and checked strictly; `command` gets `input` on stdin. For an RSA pin the session
 * also learns the host's other keys with OpenSSH's UpdateHostKeys: after authentication the server sends all its host
 * keys (hostkeys-00@openssh.com), the client asks it to sign each new one with this session's ID
 * (hostkeys-prove-00@openssh.com) and, when every signature verifies, writes them to `knownHosts`. So a key read back
 * (`proved`) was proved by the host that this session authenticated by the pinned key; none comes from an
 * unauthenticated scan. ssh_config(5): the update needs the pinned key in UserKnownHostsFile (not
 * GlobalKnownHostsFile) and not a certificate; the client also skips it for a host listed under another name, a
 * wildcard or a CA/revocation marker, hence a plain one-line file per host. HostKeyAlgorithms stays the default:
 * the client prefers the algorithms of the keys it knows (here rsa-sha2-512, rsa-sha2-256), and accepts only keys
 * whose algorithm HostKeyAlgorithms lists, so `rsa-sha2-512,rsa-sha2-256` alone would drop the ed25519 and ECDSA keys.
 */
function sshSession(
    h: Omit<ObservedHost, "name">,
    agent: { socket: string; publicKeyFile: string },
    knownHosts: string,
    command: string,
    input: string,
    timeoutMs: number,
): Promise<{ out?: string; err?: string; proved?: string[] }> {
    const learn = isRsaHostKey(h.hostKey);
    fs.writeFileSync(knownHosts, `${knownHostsHost(h.address, h.port)} ${h.hostKey}\n`);
    const opts = [
        ["IdentitiesOnly", "yes"],
        ["IdentityAgent", agent.socket],
        ["BatchMode", "yes"],
        ["StrictHostKeyChecking", "yes"],
        ["UserKnownHostsFile", knownHosts],
        ["GlobalKnownHostsFile", "/dev/null"],
        ["UpdateHostKeys", learn ? "yes" : "no"],
        ["CheckHostIP", "no"],
        ["HashKnownHosts", "no"],
        ["ConnectTimeout", "5"],
        ["LogLevel", "ERROR"],
    ].flatMap(([k, v]) => ["-o", `${k}=${v}`]);
    const args = ["-F", "/dev/null", "-i", agent.publicKeyFile, ...opts, "-p", String(h.port), `${h.user}@${h.address}`, command];
    return new Promise((resolve) => {
        const child = execFile("ssh", args, { encoding: "utf8", timeout: timeoutMs }, (e, stdout, stderr) => {
            if (e) return resolve({ err: (stderr || e.message).trim().split("\n").slice(-1)[0] });
            const proved = learn ? hostKeysFromKnownHosts(fs.readFileSync(knownHosts, "utf8"), h.address, h.port) : undefined;
            resolve({ out: stdout, proved });
        });
        // ssh may exit before it reads its input (a refused login; `true`): its exit says why, not the broken pipe.
        child.stdin?.on("error", () => undefined);
        child.stdin?.end(input);
    });
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
