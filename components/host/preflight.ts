// Checks the program runs before any resource is registered: the SSH key, the known_hosts file, the binaries,
// and every host's SSH port and host key (a TCP connection and an SSH key exchange; nothing runs on a host).
// Each returns problems as one line each, naming the config key, the host or file, and the fix.
import { execFile } from "node:child_process";
import { createHash, createPrivateKey } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { configKey, hostKeyFromKnownHosts, PartialConfig } from "../config";
import { fileFactAsync } from "./fileCache";

/** `~/x` → `$HOME/x`. */
export const expandHome = (p: string) => (p === "~" ? os.homedir() : p.startsWith("~/") ? path.join(os.homedir(), p.slice(2)) : p);
/** A path as the user wrote it, with what it expands to when that differs. */
const shown = (given: string, full: string) => (given === full ? given : `${given} (${full})`);
const errText = (e: unknown) => {
    const err = e as NodeJS.ErrnoException;
    return err.code ? `${err.code}: ${err.message.replace(/^\w+: /, "").replace(/,.*$/, "")}` : String(err.message ?? e);
};

// ---- the SSH private key ----------------------------------------------------------------------------

// The armour lines, assembled so that no key-looking text is in the source.
const armour = (edge: "BEGIN" | "END", kind = "") => `-----${edge} ${kind}${"PRIVATE"} KEY-----`;
const OPENSSH_ARMOUR = new RegExp(`${armour("BEGIN", "OPENSSH ")}([\\s\\S]*?)${armour("END", "OPENSSH ")}`);
const ENCRYPTED_ARMOUR = new RegExp(`${armour("BEGIN", "ENCRYPTED ")}|Proc-Type: 4,ENCRYPTED`);
const PEM_ARMOUR = new RegExp(armour("BEGIN", "(RSA |EC |DSA )?"));

/**
 * What is wrong with the text of an SSH private key for a non-interactive SSH client, or undefined when it is
 * a usable key: OpenSSH (the `BEGIN OPENSSH PRIVATE KEY` armour) or PEM (RSA, EC, PKCS#8), without a passphrase.
 */
export function privateKeyProblem(text: string): string | undefined {
    const t = text.trim();
    if (/^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-\S+) AAAA/.test(t)) return "is a public key, not the private key";
    if (t.startsWith("PuTTY-User-Key-File-")) return "is a PuTTY key; convert it to OpenSSH (puttygen KEY.ppk -O private-openssh -o KEY)";
    const openssh = OPENSSH_ARMOUR.exec(t);
    if (openssh) {
        const b = Buffer.from(openssh[1].replace(/\s+/g, ""), "base64");
        const magic = "openssh-key-v1\0";
        if (b.subarray(0, magic.length).toString("latin1") !== magic || b.length < magic.length + 4)
            return "is a damaged OpenSSH private key";
        const len = b.readUInt32BE(magic.length);
        const cipher = b.subarray(magic.length + 4, magic.length + 4 + len).toString("latin1");
        return cipher === "none" ? undefined : "is protected by a passphrase, which the deployment cannot type; use a key without one";
    }
    if (ENCRYPTED_ARMOUR.test(t)) return "is protected by a passphrase, which the deployment cannot type; use a key without one";
    if (PEM_ARMOUR.test(t)) {
        try {
            createPrivateKey({ key: t, format: "pem" });
            return undefined;
        } catch (e) {
            return `is a damaged PEM private key (${(e as Error).message})`;
        }
    }
    return `is not an SSH private key (one starts with ${armour("BEGIN", "OPENSSH ")})`;
}

/** The private key's text from `sshPrivateKey` or the file `sshPrivateKeyPath`, or the problems that prevent it. */
export function readPrivateKey(c: PartialConfig): { text?: string; problems: string[] } {
    if (c.sshPrivateKey !== undefined) {
        const p = privateKeyProblem(c.sshPrivateKey);
        const k = configKey(["sshPrivateKey"]);
        return p
            ? { problems: [`${k}: the value ${p}; set it from the private key file: pulumi config set --secret ${k} < ~/.ssh/id_ed25519`] }
            : { text: c.sshPrivateKey, problems: [] };
    }
    if (c.sshPrivateKeyPath === undefined) return { problems: [] };
    const k = configKey(["sshPrivateKeyPath"]);
    if (/PRIVATE KEY|\n/.test(c.sshPrivateKeyPath)) {
        const secret = configKey(["sshPrivateKey"]);
        return {
            problems: [
                `${k}: holds a key, not a path; remove it (pulumi config rm ${k}) and set the key as a secret: pulumi config set --secret ${secret} < ~/.ssh/id_ed25519`,
            ],
        };
    }
    const full = expandHome(c.sshPrivateKeyPath);
    const file = shown(c.sshPrivateKeyPath, full);
    let text: string;
    try {
        text = fs.readFileSync(full, "utf8");
    } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOENT") return { problems: [`${k}: ${file} does not exist; create a key (ssh-keygen -t ed25519) or fix the path`] };
        if (code === "EISDIR") return { problems: [`${k}: ${file} is a directory; give the path of the private key file in it`] };
        return { problems: [`${k}: ${file} cannot be read (${errText(e)}); make it readable by this user or fix the path`] };
    }
    const p = privateKeyProblem(text);
    if (!p) return { text, problems: [] };
    const fix = p.startsWith("is a public key") ? "; give the private key (the same path without .pub)" : "";
    return { problems: [`${k}: ${file} ${p}${fix}`] };
}

// ---- binaries -----------------------------------------------------------------------------------------

export const BINARIES = ["etcd", "etcdctl", "etcdutl", "kube-apiserver", "kube-controller-manager", "kube-scheduler"] as const;

/**
 * The version a Kubernetes or etcd binary reports, e.g. "v1.34.4" or "3.5.35". Kept while the file is unchanged:
 * starting kube-apiserver only to ask is about 0.3 s of CPU, on every run.
 */
export function binaryVersion(binary: string, timeoutMs = 10_000): Promise<string> {
    return fileFactAsync("version", binary, () => askVersion(binary, timeoutMs));
}

function askVersion(binary: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) =>
        execFile(binary, ["--version"], { encoding: "utf8", timeout: timeoutMs }, (err, stdout) => {
            if (err) return reject(err);
            const m = /(v?\d+\.\d+\.\d+)/.exec(stdout);
            if (!m) return reject(new Error(`no version in its output: ${stdout.trim().slice(0, 100)}`));
            resolve(m[1]);
        }),
    );
}

/**
 * Problems with the binaries in `binDir` (as given, `~` allowed): each present, and of `kubernetesVersion`
 * (and `etcdVersion` when set) as `--version` reports it. `given` is false when binDir is the toolchain's default.
 */
export async function binDirProblems(
    binDir: string | undefined,
    versions: { kubernetes?: string; etcd?: string },
    given = true,
): Promise<string[]> {
    const k = configKey(["binDir"]);
    const fix = "npm run toolchain builds them and prints the directory";
    if (binDir === undefined)
        return [`${k}: not set; point it at the directory with ${BINARIES.join(", ")} (${fix}): pulumi config set ${k} DIR`];
    const full = expandHome(binDir);
    const dir = given ? shown(binDir, full) : `${full} (the toolchain's, since ${k} is not set)`;
    if (!fs.existsSync(full)) return [`${k}: ${dir} does not exist; ${given ? "fix the path, or " : ""}build the binaries (${fix})`];
    if (!fs.statSync(full).isDirectory()) return [`${k}: ${dir} is not a directory; give the directory that holds ${BINARIES.join(", ")}`];
    const missing = BINARIES.filter((b) => !fs.existsSync(path.join(full, b)));
    if (missing.length) return [`${k}: ${dir} has no ${missing.join(", ")}; put them there (${fix}) or fix the path`];

    // Each check returns its own problems, so that they are listed in the same order however the runs finish.
    const check = async (bins: string[], want: string | undefined, versionKey: string, example: string) => {
        const problems: string[] = [];
        if (want === undefined) return problems;
        const norm = (v: string) => v.replace(/^v/, "");
        const found = await Promise.all(
            bins.map((b) =>
                binaryVersion(path.join(full, b)).then(
                    (v) => ({ b, v, err: undefined }),
                    (e: unknown) => ({ b, v: undefined, err: errText(e) }),
                ),
            ),
        );
        for (const f of found) {
            if (f.err !== undefined)
                problems.push(`${k}: ${path.join(full, f.b)} --version fails (${f.err}); replace it with a binary for this machine`);
        }
        const wrong = found.filter((f) => f.v !== undefined && norm(f.v) !== norm(want));
        if (wrong.length) {
            const have = [...new Set(wrong.map((f) => f.v!))].join(", ");
            problems.push(
                `${configKey([versionKey])}: ${want}, but ${wrong.map((f) => f.b).join(", ")} in ${dir} ${wrong.length === 1 ? "is" : "are"} ${have}; ` +
                    `put ${example.replace("X", norm(want))} binaries in ${k}, or set ${configKey([versionKey])} to ${norm(wrong[0].v!)}`,
            );
        }
        return problems;
    };
    const found = await Promise.all([
        check(["kube-apiserver", "kube-controller-manager", "kube-scheduler"], versions.kubernetes, "kubernetesVersion", "Kubernetes vX"),
        check(["etcd"], versions.etcd, "etcdVersion", "etcd vX"),
    ]);
    return found.flat();
}

// ---- hosts --------------------------------------------------------------------------------------------

/** A host the deployment reaches over SSH, with the config key that describes it. */
export interface SshHost {
    /** e.g. `k8scp:masters[1]` */
    key: string;
    name: string;
    address: string;
    port: number;
    /** The pinned host key (`type base64`), if any. */
    hostKey?: string;
    /** Where the pin comes from: `hostKey` (the host's own config) or `knownHostsFile`. */
    pinnedBy?: "hostKey" | "knownHostsFile";
}

/** The hosts of the config whose name, address and SSH port are valid: the masters and a managed load balancer. */
export function sshHosts(c: PartialConfig): SshHost[] {
    const hosts: SshHost[] = [];
    (c.masters ?? []).forEach((m, i) => {
        // A master marked gone is never contacted.
        if (m?.name !== undefined && m.address !== undefined && m.sshPort !== undefined && m.gone !== true)
            hosts.push({
                key: configKey(["masters", i]),
                name: m.name,
                address: m.address,
                port: m.sshPort,
                ...(m.hostKey !== undefined ? { hostKey: m.hostKey, pinnedBy: "hostKey" as const } : {}),
            });
    });
    const lb = c.loadBalancer;
    if (lb?.manage === true && lb.name !== undefined && lb.address !== undefined && lb.sshPort !== undefined)
        hosts.push({
            key: configKey(["loadBalancer"]),
            name: lb.name,
            address: lb.address,
            port: lb.sshPort,
            ...(lb.hostKey !== undefined ? { hostKey: lb.hostKey, pinnedBy: "hostKey" as const } : {}),
        });
    return hosts;
}

const hostLabel = (h: SshHost) => `${h.name} (${h.address}:${h.port})`;
const keyscanType = (keyType: string) => (keyType.startsWith("ecdsa-") ? "ecdsa" : keyType.replace(/^ssh-/, ""));
const keyscanCmd = (h: SshHost, type: string) => `ssh-keyscan -t ${type}${h.port === 22 ? "" : ` -p ${h.port}`} ${h.address}`;

/**
 * Every host the library logs in to must have a pinned host key (its `hostKey`, or a `knownHostsFile` entry): without
 * one, the SSH steps accept whatever key is presented, and the files steps would hand the CA, service-account and
 * encryption keys to whoever answers on that address. A problem for each host without one (run after
 * pinFromKnownHosts, whose own problem already names a host the file lacks).
 */
export function unpinnedProblems(hosts: SshHost[], knownHostsFile: string | undefined): string[] {
    if (knownHostsFile !== undefined) return [];
    return hosts
        .filter((h) => h.hostKey === undefined)
        .map(
            (h) =>
                `${h.key}.hostKey: no host key is pinned for ${hostLabel(h)}, so any machine answering there would be trusted with ` +
                `the cluster's keys; pin it (${keyscanCmd(h, "ed25519")} prints the line to set as ${h.key}.hostKey), or set ` +
                `${configKey(["knownHostsFile"])} to a known_hosts file that lists it`,
        );
}

/** Pins the host keys of hosts without `hostKey` from the known_hosts file; a problem for each host it lacks. */
export function pinFromKnownHosts(hosts: SshHost[], knownHostsFile: string | undefined): string[] {
    if (knownHostsFile === undefined) return [];
    const k = configKey(["knownHostsFile"]);
    const full = expandHome(knownHostsFile);
    const file = shown(knownHostsFile, full);
    let text: string;
    try {
        text = fs.readFileSync(full, "utf8");
    } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOENT")
            return [
                `${k}: ${file} does not exist; create it (ssh-keyscan -t ed25519 HOST >> ${knownHostsFile}) or remove the key (pulumi config rm ${k})`,
            ];
        return [`${k}: ${file} cannot be read (${errText(e)}); fix the path or remove the key (pulumi config rm ${k})`];
    }
    const problems: string[] = [];
    for (const h of hosts) {
        if (h.hostKey !== undefined) continue;
        const found = hostKeyFromKnownHosts(text, h.address, h.port);
        if (found) {
            h.hostKey = found;
            h.pinnedBy = "knownHostsFile";
        } else {
            problems.push(
                `${k}: ${file} has no host key for ${hostLabel(h)}; add it (${keyscanCmd(h, "ed25519")} >> ${knownHostsFile}) or set ${h.key}.hostKey`,
            );
        }
    }
    return problems;
}

/** Connects to an SSH port and reads the server's greeting; resolves with why that failed, or undefined. */
export const probeSsh = (address: string, port: number, timeoutMs = 5000): Promise<string | undefined> =>
    greet(address, port, timeoutMs).then((r) => r.reason);

/** The SSH server's greeting line (e.g. `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3`), or undefined when none was read. */
export const sshGreeting = (address: string, port: number, timeoutMs = 5000): Promise<string | undefined> =>
    greet(address, port, timeoutMs).then((r) => r.greeting);

function greet(address: string, port: number, timeoutMs: number): Promise<{ reason?: string; greeting?: string }> {
    return new Promise((resolve) => {
        let connected = false;
        let settled = false;
        const sock = net.connect({ host: address, port });
        const done = (r: { reason?: string; greeting?: string }) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            sock.destroy();
            resolve(r);
        };
        const secs = `${timeoutMs / 1000} s`;
        const timer = setTimeout(
            () => done({ reason: connected ? `no SSH greeting within ${secs}` : `no answer within ${secs}` }),
            timeoutMs,
        );
        sock.once("connect", () => (connected = true));
        sock.once("data", (d: Buffer) => {
            const text = d.toString("latin1");
            done(text.startsWith("SSH-") ? { greeting: text.split(/\r?\n/)[0] } : { reason: "it answers, but not as an SSH server" });
        });
        sock.once("error", (e: NodeJS.ErrnoException) => {
            const reasons: Record<string, string> = {
                ECONNREFUSED: "connection refused",
                EHOSTUNREACH: "no route to host",
                ENETUNREACH: "network unreachable",
                ETIMEDOUT: "connection timed out",
                ECONNRESET: "connection reset",
            };
            done({ reason: (e.code && reasons[e.code]) ?? errText(e) });
        });
        sock.once("close", () => done({ reason: "the connection closed before the SSH greeting" }));
    });
}

/** The host keys of one type a host presents (`type base64` each), by an SSH key exchange (ssh-keyscan). */
export function scanHostKeys(address: string, port: number, type: string, timeoutMs = 5000): Promise<string[]> {
    const secs = Math.max(1, Math.ceil(timeoutMs / 1000));
    return new Promise((resolve, reject) =>
        execFile(
            "ssh-keyscan",
            ["-T", String(secs), "-p", String(port), "-t", type, address],
            { encoding: "utf8", timeout: timeoutMs + 3000 },
            (err, stdout) => {
                if (err && (err as NodeJS.ErrnoException).code === "ENOENT") return reject(err);
                resolve(
                    stdout
                        .split("\n")
                        .map((l) => l.trim().split(/\s+/))
                        .filter((f) => f.length >= 3 && !f[0].startsWith("#"))
                        .map((f) => `${f[1]} ${f[2]}`),
                );
            },
        ),
    );
}

/** The SHA256 fingerprint of a public key (`type base64`), as ssh-keygen -l prints it. */
export function fingerprint(key: string): string {
    const blob = Buffer.from(key.split(/\s+/)[1] ?? "", "base64");
    return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/**
 * Checks every host, in parallel: its SSH port answers with an SSH greeting, and it presents its pinned host
 * key. One line per host that fails, naming it and the fix. Touches nothing on the hosts.
 */
export async function hostProblems(hosts: SshHost[], knownHostsFile?: string, timeoutMs = 5000): Promise<string[]> {
    let noKeyscan = false;
    const one = async (h: SshHost): Promise<string | undefined> => {
        const down = await probeSsh(h.address, h.port, timeoutMs);
        if (down) {
            const lb = h.key === configKey(["loadBalancer"]);
            return (
                `${h.key}: ${hostLabel(h)} is not reachable over SSH (${down}); start it, ` +
                (lb
                    ? `fix its address or sshPort, or set ${h.key}.manage false for an external load balancer`
                    : "or fix its address or sshPort")
            );
        }
        if (h.hostKey === undefined) return undefined;
        const [type, blob] = h.hostKey.split(/\s+/);
        let presented: string[];
        try {
            presented = await scanHostKeys(h.address, h.port, keyscanType(type), timeoutMs);
        } catch {
            noKeyscan = true;
            return undefined;
        }
        const same = presented.filter((p) => p.split(" ")[0] === type);
        if (same.some((p) => p.split(" ")[1] === blob)) return undefined;
        const pinKey = h.pinnedBy === "knownHostsFile" ? configKey(["knownHostsFile"]) : `${h.key}.hostKey`;
        const scan = keyscanCmd(h, keyscanType(type));
        if (same.length === 0)
            return `${pinKey}: ${hostLabel(h)} presents no ${type} host key; pin the key it has (ssh-keyscan${h.port === 22 ? "" : ` -p ${h.port}`} ${h.address})`;
        const pinned = h.pinnedBy === "knownHostsFile" ? `${knownHostsFile} pins` : "the one pinned here";
        const repin =
            h.pinnedBy === "knownHostsFile"
                ? `replace its line (ssh-keygen -R ${h.port === 22 ? h.address : `'[${h.address}]:${h.port}'`} -f ${knownHostsFile}; ${scan} >> ${knownHostsFile})`
                : `pin its new key (${scan})`;
        return (
            `${pinKey}: ${hostLabel(h)} presents another ${type} host key (${fingerprint(same[0])}) than ${pinned} (${fingerprint(h.hostKey)}); ` +
            `if ${h.name} was reinstalled, ${repin}, otherwise check the address: another machine may answer there`
        );
    };
    const problems = (await Promise.all(hosts.map(one))).filter((p): p is string => p !== undefined);
    if (noKeyscan)
        problems.push(
            `${configKey(["preflight"])}: ssh-keyscan (OpenSSH) is needed to check host keys and was not found; install it (openssh-client), or set ${configKey(["preflight"])} false to skip the host checks`,
        );
    return problems;
}

/**
 * The snapshot to restore from (`etcdRestoreFrom`): it must exist and pass `etcdutl snapshot status`. Its sha256
 * when it does, otherwise the problem (named, with the fix), found before any host is touched.
 */
export async function snapshotCheck(
    snapshotPath: string,
    etcdutl: string,
    timeoutMs = 30_000,
): Promise<{ sha256?: string; path?: string; status?: string; problem?: string }> {
    const k = configKey(["etcdRestoreFrom"]);
    const full = expandHome(snapshotPath);
    const where = shown(snapshotPath, full);
    const fix = "give a file written by etcdctl snapshot save (k8scp-etcd-snapshot on a master), or remove the key";
    if (!fs.existsSync(full)) return { problem: `${k}: ${where} does not exist; ${fix}` };
    if (!fs.statSync(full).isFile()) return { problem: `${k}: ${where} is not a file; ${fix}` };
    const status = await new Promise<{ out?: string; err?: string }>((resolve) =>
        execFile(etcdutl, ["snapshot", "status", full, "-w", "simple"], { encoding: "utf8", timeout: timeoutMs }, (e, stdout, stderr) =>
            resolve(e ? { err: (stderr || e.message).trim().split("\n").slice(-1)[0] } : { out: stdout.trim() }),
        ),
    );
    if (status.err !== undefined)
        return { problem: `${k}: ${where} is not a valid etcd snapshot (etcdutl snapshot status: ${status.err}); ${fix}` };
    return { sha256: createHash("sha256").update(fs.readFileSync(full)).digest("hex"), path: full, status: status.out };
}
