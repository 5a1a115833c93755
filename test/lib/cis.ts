// The CIS Kubernetes Benchmark (v1.10/v1.11, control plane sections 1.1-1.4 and etcd section 2) as the README's
// table states it for this library, and a check of the "met" rows against a running master: the flags of the running
// processes (/proc/<MainPID>/cmdline of each unit) and the owner and mode of the unit, key, certificate and kubeconfig
// files. `evaluateCis` is pure (unit-tested with a fixture); `observeCis` is the one SSH call per master; the e2e
// suite calls `clusterCisFailures(cluster)` and expects an empty list.
import type { Cluster } from "./cluster";
import { encryptionConfigPath, kubeconfigPath, paths, pkiFile, serviceNames } from "../../components/render/flags";
import { shellQuote } from "../../components/render/scripts";

export type CisStatus = "met" | "not met" | "n/a";

/** What one master runs and has on disk, as far as the benchmark's audits read it. */
export interface CisObservation {
    /** The command-line flags of each unit's running main process (name without `--` -> value; "true" for a bare flag). */
    flags: Record<string, Record<string, string> | undefined>;
    /** `stat` of files: path -> mode (octal, as `%a`) and `user:group`. */
    files: Record<string, { mode: string; owner: string }>;
    /** sha256 of the two CA files that must differ (etcd's and the API server's client CA). */
    sums: Record<string, string>;
    /** The first provider of the encryption config's first resource, e.g. "secretbox". */
    encryptionProvider?: string;
}

export interface CisItem {
    id: string;
    status: CisStatus;
    /** For a "met" row: undefined when the observation satisfies it, else what is wrong. */
    check?: (o: CisObservation) => string | undefined;
}

const units = {
    apiserver: serviceNames.apiserver,
    controllerManager: serviceNames.controllerManager,
    scheduler: serviceNames.scheduler,
    etcd: serviceNames.etcd,
};
const unitFile = (u: string) => `/etc/systemd/system/${u}.service`;

/** The weakest mode a file may have: no bit outside `max` (kube-bench's "bitmask" test). */
const modeAtMost = (path: string, max: number) => (o: CisObservation) => {
    const f = o.files[path];
    if (!f) return `${path}: not found`;
    return (parseInt(f.mode, 8) & ~max) === 0 ? undefined : `${path}: mode ${f.mode}, wanted ${max.toString(8)} or stricter`;
};
const ownedBy = (path: string, owner: string) => (o: CisObservation) => {
    const f = o.files[path];
    if (!f) return `${path}: not found`;
    return f.owner === owner ? undefined : `${path}: owned by ${f.owner}, wanted ${owner}`;
};
const flagOf = (o: CisObservation, unit: string, flag: string) => o.flags[unit]?.[flag];
const listOf = (o: CisObservation, unit: string, flag: string) => (flagOf(o, unit, flag) ?? "").split(",").filter(Boolean);
/** A unit's process must run; then `test` of its flags. */
const proc =
    (unit: string, test: (f: (flag: string) => string | undefined, list: (flag: string) => string[]) => string | undefined) =>
    (o: CisObservation) =>
        o.flags[unit] === undefined
            ? `${unit}: no running process`
            : test(
                  (flag) => flagOf(o, unit, flag),
                  (flag) => listOf(o, unit, flag),
              );
const isSet = (unit: string, ...flags: string[]) =>
    proc(unit, (f) => {
        const missing = flags.filter((x) => f(x) === undefined || f(x) === "");
        return missing.length ? `${unit}: --${missing.join(", --")} not set` : undefined;
    });
const equals = (unit: string, flag: string, want: string) =>
    proc(unit, (f) => (f(flag) === want ? undefined : `${unit}: --${flag}=${f(flag) ?? "(unset)"}, wanted ${want}`));
const notEquals = (unit: string, flag: string, bad: string) =>
    proc(unit, (f) => (f(flag) === bad ? `${unit}: --${flag}=${bad}` : undefined));
const has = (unit: string, flag: string, value: string) =>
    proc(unit, (_, list) => (list(flag).includes(value) ? undefined : `${unit}: --${flag} lacks ${value}`));
const lacks = (unit: string, flag: string, value: string) =>
    proc(unit, (_, list) => (list(flag).includes(value) ? `${unit}: --${flag} has ${value}` : undefined));
const atLeast = (unit: string, flag: string, min: number) =>
    proc(unit, (f) => (Number(f(flag)) >= min ? undefined : `${unit}: --${flag}=${f(flag) ?? "(unset)"}, wanted ${min} or more`));
const all =
    (...checks: ((o: CisObservation) => string | undefined)[]) =>
    (o: CisObservation) =>
        checks.map((c) => c(o)).find((r) => r !== undefined);

/** Every file under a service's pki/ directory of the observation, certificates or keys. */
const pkiFiles = (o: CisObservation, keys: boolean) =>
    Object.keys(o.files).filter((p) => p.includes("/pki/") && /(-key\.pem|\.key)$/.test(p) === keys);
const pkiModes = (keys: boolean) => (o: CisObservation) => {
    const list = pkiFiles(o, keys);
    if (!list.length) return `no ${keys ? "key" : "certificate"} files found under ${paths.conf}/*/pki/`;
    return list.map((p) => modeAtMost(p, 0o600)(o)).find((r) => r !== undefined);
};

/**
 * TLS suites the benchmark accepts (1.2.29), without its CBC ones: ECDHE with AES-GCM or ChaCha20 and the TLS 1.3
 * suites.
 */
export const strongCipherSuites = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];
const strongCiphers = (unit: string, flag: string) =>
    proc(unit, (_, list) => {
        const suites = list(flag);
        if (!suites.length) return `${unit}: --${flag} not set`;
        const weak = suites.filter((s) => !strongCipherSuites.includes(s));
        return weak.length ? `${unit}: --${flag} has ${weak.join(", ")}` : undefined;
    });

const etcdCa = pkiFile(serviceNames.etcd, "etcd-ca.pem");
const apiserverCa = pkiFile(serviceNames.apiserver, "ca.pem");
const { apiserver: api, controllerManager: cm, scheduler: sched, etcd } = units;

/** Every item of 1.1.1-1.1.21, 1.2.1-1.2.29, 1.3.1-1.3.7, 1.4.1-1.4.2 and 2.1-2.7, in the README table's order. */
export const cisItems: CisItem[] = [
    { id: "1.1.1", status: "met", check: modeAtMost(unitFile(api), 0o600) },
    { id: "1.1.2", status: "met", check: ownedBy(unitFile(api), "root:root") },
    { id: "1.1.3", status: "met", check: modeAtMost(unitFile(cm), 0o600) },
    { id: "1.1.4", status: "met", check: ownedBy(unitFile(cm), "root:root") },
    { id: "1.1.5", status: "met", check: modeAtMost(unitFile(sched), 0o600) },
    { id: "1.1.6", status: "met", check: ownedBy(unitFile(sched), "root:root") },
    { id: "1.1.7", status: "met", check: modeAtMost(unitFile(etcd), 0o600) },
    { id: "1.1.8", status: "met", check: ownedBy(unitFile(etcd), "root:root") },
    { id: "1.1.9", status: "n/a" },
    { id: "1.1.10", status: "n/a" },
    { id: "1.1.11", status: "met", check: modeAtMost(paths.etcdData, 0o700) },
    { id: "1.1.12", status: "met", check: ownedBy(paths.etcdData, "etcd:etcd") },
    { id: "1.1.13", status: "n/a" },
    { id: "1.1.14", status: "n/a" },
    { id: "1.1.15", status: "met", check: modeAtMost(kubeconfigPath(sched), 0o600) },
    { id: "1.1.16", status: "not met" },
    { id: "1.1.17", status: "met", check: modeAtMost(kubeconfigPath(cm), 0o600) },
    { id: "1.1.18", status: "not met" },
    { id: "1.1.19", status: "not met" },
    { id: "1.1.20", status: "met", check: pkiModes(false) },
    { id: "1.1.21", status: "met", check: pkiModes(true) },
    { id: "1.2.1", status: "not met" },
    {
        id: "1.2.2",
        status: "met",
        check: proc(api, (f) => (f("token-auth-file") === undefined ? undefined : `${api}: --token-auth-file set`)),
    },
    { id: "1.2.3", status: "met", check: has(api, "enable-admission-plugins", "DenyServiceExternalIPs") },
    { id: "1.2.4", status: "met", check: isSet(api, "kubelet-client-certificate", "kubelet-client-key") },
    { id: "1.2.5", status: "not met" },
    { id: "1.2.6", status: "met", check: lacks(api, "authorization-mode", "AlwaysAllow") },
    { id: "1.2.7", status: "met", check: has(api, "authorization-mode", "Node") },
    { id: "1.2.8", status: "met", check: has(api, "authorization-mode", "RBAC") },
    {
        id: "1.2.9",
        status: "met",
        check: all(has(api, "enable-admission-plugins", "EventRateLimit"), isSet(api, "admission-control-config-file")),
    },
    { id: "1.2.10", status: "met", check: lacks(api, "enable-admission-plugins", "AlwaysAdmit") },
    { id: "1.2.11", status: "not met" },
    { id: "1.2.12", status: "met", check: lacks(api, "disable-admission-plugins", "ServiceAccount") },
    { id: "1.2.13", status: "met", check: lacks(api, "disable-admission-plugins", "NamespaceLifecycle") },
    { id: "1.2.14", status: "met", check: has(api, "enable-admission-plugins", "NodeRestriction") },
    { id: "1.2.15", status: "met", check: equals(api, "profiling", "false") },
    { id: "1.2.16", status: "met", check: isSet(api, "audit-log-path") },
    { id: "1.2.17", status: "met", check: atLeast(api, "audit-log-maxage", 30) },
    { id: "1.2.18", status: "met", check: atLeast(api, "audit-log-maxbackup", 10) },
    { id: "1.2.19", status: "met", check: atLeast(api, "audit-log-maxsize", 100) },
    // Manual in the benchmark: the default (60 s) unless set.
    { id: "1.2.20", status: "met", check: proc(api, () => undefined) },
    { id: "1.2.21", status: "met", check: notEquals(api, "service-account-lookup", "false") },
    { id: "1.2.22", status: "met", check: isSet(api, "service-account-key-file") },
    { id: "1.2.23", status: "met", check: isSet(api, "etcd-certfile", "etcd-keyfile") },
    { id: "1.2.24", status: "met", check: isSet(api, "tls-cert-file", "tls-private-key-file") },
    { id: "1.2.25", status: "met", check: isSet(api, "client-ca-file") },
    { id: "1.2.26", status: "met", check: isSet(api, "etcd-cafile") },
    { id: "1.2.27", status: "met", check: equals(api, "encryption-provider-config", encryptionConfigPath) },
    {
        id: "1.2.28",
        status: "met",
        check: (o) =>
            ["aescbc", "kms", "secretbox"].includes(o.encryptionProvider ?? "")
                ? undefined
                : `${encryptionConfigPath}: first provider ${o.encryptionProvider ?? "(none)"}, wanted aescbc, kms or secretbox`,
    },
    { id: "1.2.29", status: "met", check: all(strongCiphers(api, "tls-cipher-suites"), equals(api, "tls-min-version", "VersionTLS12")) },
    { id: "1.3.1", status: "met", check: isSet(cm, "terminated-pod-gc-threshold") },
    { id: "1.3.2", status: "met", check: equals(cm, "profiling", "false") },
    { id: "1.3.3", status: "met", check: notEquals(cm, "use-service-account-credentials", "false") },
    { id: "1.3.4", status: "met", check: isSet(cm, "service-account-private-key-file") },
    { id: "1.3.5", status: "met", check: isSet(cm, "root-ca-file") },
    { id: "1.3.6", status: "met", check: lacks(cm, "feature-gates", "RotateKubeletServerCertificate=false") },
    { id: "1.3.7", status: "not met" },
    { id: "1.4.1", status: "met", check: equals(sched, "profiling", "false") },
    { id: "1.4.2", status: "not met" },
    { id: "2.1", status: "met", check: isSet(etcd, "cert-file", "key-file") },
    { id: "2.2", status: "met", check: equals(etcd, "client-cert-auth", "true") },
    { id: "2.3", status: "met", check: notEquals(etcd, "auto-tls", "true") },
    { id: "2.4", status: "met", check: isSet(etcd, "peer-cert-file", "peer-key-file") },
    { id: "2.5", status: "met", check: equals(etcd, "peer-client-cert-auth", "true") },
    { id: "2.6", status: "met", check: notEquals(etcd, "peer-auto-tls", "true") },
    {
        id: "2.7",
        status: "met",
        check: all(equals(etcd, "trusted-ca-file", etcdCa), equals(api, "client-ca-file", apiserverCa), (o) =>
            !o.sums[etcdCa] || !o.sums[apiserverCa]
                ? `the CA files were not read (${etcdCa}, ${apiserverCa})`
                : o.sums[etcdCa] === o.sums[apiserverCa]
                  ? "etcd trusts the Kubernetes CA: the two CA files are the same"
                  : undefined,
        ),
    },
];

/** The "met" rows that the observation does not satisfy, as `<id>: <what is wrong>`. Pure. */
export function evaluateCis(o: CisObservation): string[] {
    return cisItems.flatMap((i) => {
        if (i.status !== "met") return [];
        const problem = i.check ? i.check(o) : "no check for a met row";
        return problem === undefined ? [] : [`${i.id}: ${problem}`];
    });
}

/** Files the audits stat besides the pki/ directories: units, etcd's data directory, kubeconfigs. */
const statFiles = [...Object.values(units).map(unitFile), paths.etcdData, kubeconfigPath(sched), kubeconfigPath(cm)];

/** The script one master runs (as root): flags of each unit's main process, stats, the CA sums, the encryption provider. */
export function cisProbeScript(): string {
    return [
        `for u in ${Object.values(units).join(" ")}; do`,
        `  pid=$(systemctl show -p MainPID --value "$u.service")`,
        `  if [ "$pid" != 0 ] && [ -r "/proc/$pid/cmdline" ]; then tr '\\0' '\\n' <"/proc/$pid/cmdline" | tail -n +2 | sed "s|^|arg $u |"; echo "ran $u"; fi`,
        "done",
        `stat -c 'stat %a %U:%G %n' ${statFiles.join(" ")} 2>/dev/null || true`,
        `find ${paths.conf} -path '*/pki/*' -type f -exec stat -c 'stat %a %U:%G %n' {} + 2>/dev/null || true`,
        `sha256sum ${etcdCa} ${apiserverCa} 2>/dev/null | sed 's/^/sum /' || true`,
        // The first provider's name only (kube-bench's audit), never the key below it.
        `sed -n '/providers:/{n;p;q}' ${encryptionConfigPath} 2>/dev/null | grep -o '[A-Za-z]\\+' | head -n 1 | sed 's/^/enc /' || true`,
    ].join("\n");
}

/** The probe's output as an observation. Pure. */
export function parseCisObservation(stdout: string): CisObservation {
    const o: CisObservation = { flags: {}, files: {}, sums: {} };
    for (const line of stdout.split("\n")) {
        const [kind, ...rest] = line.split(" ");
        if (kind === "ran") o.flags[rest[0]] ??= {};
        else if (kind === "arg") {
            const [unit, ...words] = rest;
            const arg = words.join(" ");
            const m = /^--([^=]+)(?:=(.*))?$/.exec(arg);
            if (!m) continue;
            (o.flags[unit] ??= {})[m[1]] = m[2] ?? "true";
        } else if (kind === "stat") {
            const [mode, owner, ...p] = rest;
            o.files[p.join(" ")] = { mode, owner };
        } else if (kind === "sum") {
            const [sum, ...p] = rest;
            o.sums[p.join(" ").trim()] = sum;
        } else if (kind === "enc") o.encryptionProvider = rest[0];
    }
    return o;
}

/** Runs a command on a host and returns its stdout (fails on a non-zero exit). */
export type Ssh = (node: string, cmd: string) => Promise<string>;

/** What a master runs and has, read in one SSH session (`sudo -n bash -c`). */
export async function observeCis(ssh: Ssh, node: string): Promise<CisObservation> {
    return parseCisObservation(await ssh(node, `sudo -n bash -c ${shellQuote(cisProbeScript())}`));
}

/** The failures of the "met" rows on one master. */
export async function cisFailures(ssh: Ssh, node: string): Promise<string[]> {
    return evaluateCis(await observeCis(ssh, node));
}

/** The failures on every master of a deployed cluster, as `<master>: <id>: <what>`; empty when every "met" row holds. */
export async function clusterCisFailures(cluster: Cluster): Promise<string[]> {
    const ssh: Ssh = (node, cmd) => cluster.lab.sshOk(node, cmd, { timeoutMs: 30_000 });
    const each = await Promise.all(cluster.masters.map(async (m) => (await cisFailures(ssh, m.address)).map((f) => `${m.name}: ${f}`)));
    return each.flat();
}
