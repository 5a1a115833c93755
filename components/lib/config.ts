// Stack configuration: schema, defaults and validation. Pure: no Pulumi calls, no I/O.
// Every error names the config key and says how to fix it, before anything touches a host.
import { z } from "zod";
import { cidrContains, cidrPrefix, cidrsOverlap, isIp, parseCidr } from "./network";

/** The Pulumi config namespace (the project name in Pulumi.yaml). */
export const CONFIG_NAMESPACE = "k8scp";

const name = z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "must be a DNS label (lower-case letters, digits, '-'), e.g. master1");
const ip = z.string().refine(isIp, "is not a valid IP address, e.g. 10.213.0.11");
const cidr = z.string().superRefine((s, ctx) => {
    try {
        parseCidr(s);
    } catch (e) {
        ctx.addIssue({ code: "custom", message: `is not a valid CIDR (${(e as Error).message}), e.g. 10.68.0.0/16` });
    }
});
const hostKey = z
    .string()
    .regex(
        /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$/,
        "must be an SSH public host key line like 'ssh-ed25519 AAAA...' (ssh-keyscan -t ed25519 HOST)",
    );
const port = z.number().int().min(1).max(65535);
const extraArgs = z.record(z.string(), z.string()).default({});

const sshTarget = {
    address: ip,
    sshUser: z.string().min(1).default("kube"),
    sshPort: port.default(22),
    hostKey: hostKey.optional(),
};

const master = z.object({ name, ...sshTarget }).strict();

const loadBalancer = z
    .object({
        /** The VIP: every kubeconfig points at https://address:port. */
        address: ip,
        port: port.default(6443),
        /** Deploy HAProxy on the host at `address` over SSH (false: an external load balancer exists). */
        manage: z.boolean().default(true),
        name: name.default("lb"),
        sshUser: sshTarget.sshUser,
        sshPort: sshTarget.sshPort,
        hostKey: sshTarget.hostKey,
    })
    .strict();

const component = z.object({ extraArgs }).strict().default({ extraArgs: {} });

export const clusterConfigSchema = z
    .object({
        masters: z.array(master).min(1, "needs at least one master; use 3 or 5 for a highly available control plane"),
        /** Allow an even number of masters (2 or 4 tolerate no more failures than 1 or 3). */
        allowEvenMasters: z.boolean().default(false),
        loadBalancer,
        /** PEM/OpenSSH private key used for every host (secret config). */
        sshPrivateKey: z.string().optional(),
        /** Alternative to sshPrivateKey: path of the key file on the machine running Pulumi. */
        sshPrivateKeyPath: z.string().optional(),
        /** known_hosts file to pin host keys of hosts whose config gives no hostKey. */
        knownHostsFile: z.string().optional(),
        kubernetesVersion: z.string().regex(/^v?1\.\d+\.\d+$/, "must look like 1.34.4"),
        etcdVersion: z
            .string()
            .regex(/^v?3\.\d+\.\d+$/, "must look like 3.5.35")
            .optional(),
        /** Local directory holding kube-apiserver, kube-controller-manager, kube-scheduler, etcd, etcdctl. */
        binDir: z.string().min(1).optional(),
        serviceCidr: cidr.default("10.68.0.0/16"),
        clusterCidr: cidr.default("172.20.0.0/16"),
        nodeCidrMaskSize: z.number().int().min(8).max(30).default(24),
        clusterDomain: z
            .string()
            .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, "must be a DNS domain like cluster.local")
            .default("cluster.local"),
        clusterName: name.default("kubernetes"),
        /** Validity of leaf certificates, in hours (default one year). */
        certValidityHours: z.number().int().positive().default(8760),
        /** Validity of the CAs, in hours (default ten years). */
        caValidityHours: z.number().int().positive().default(87600),
        /** Re-issue a certificate when it is within this many hours of expiry (default 30 days). */
        certEarlyRenewalHours: z.number().int().min(0).default(720),
        /** Check that every host's SSH port answers before any change (fail fast, naming the host). */
        preflight: z.boolean().default(true),
        etcd: component,
        apiserver: component,
        controllerManager: component,
        scheduler: component,
    })
    .strict();

export type ClusterConfigInput = z.input<typeof clusterConfigSchema>;
export type ClusterConfig = z.output<typeof clusterConfigSchema>;
export type MasterConfig = ClusterConfig["masters"][number];
export type LoadBalancerConfig = ClusterConfig["loadBalancer"];

/** Thrown for invalid stack config; the message lists every problem, one per line. */
export class ConfigError extends Error {
    constructor(public readonly problems: string[]) {
        super(`invalid stack config:\n  - ${problems.join("\n  - ")}`);
        this.name = "ConfigError";
    }
}

function key(path: PropertyKey[]): string {
    let out = `${CONFIG_NAMESPACE}:${String(path[0] ?? "")}`;
    for (const p of path.slice(1)) out += typeof p === "number" ? `[${p}]` : `.${String(p)}`;
    return out;
}

/** Cross-field rules that a schema of single fields cannot express. */
function semanticProblems(c: ClusterConfig): string[] {
    const problems: string[] = [];
    const n = c.masters.length;
    if (n % 2 === 0 && !c.allowEvenMasters) {
        problems.push(
            `${key(["masters"])}: ${n} masters tolerate ${Math.floor((n - 1) / 2)} failed member(s), the same as ${n - 1}; ` +
                `use an odd count (3 or 5), or set ${key(["allowEvenMasters"])}: true to accept it`,
        );
    }
    const seen = (field: "name" | "address") => {
        const first = new Map<string, number>();
        c.masters.forEach((m, i) => {
            const prev = first.get(m[field]);
            if (prev !== undefined) {
                problems.push(
                    `${key(["masters", i, field])}: '${m[field]}' is also used by ${key(["masters", prev])}; every master needs its own ${field}`,
                );
            } else first.set(m[field], i);
        });
    };
    seen("name");
    seen("address");
    const vip = c.loadBalancer.address;
    c.masters.forEach((m, i) => {
        if (m.address === vip) {
            problems.push(
                `${key(["loadBalancer", "address"])}: the VIP ${vip} equals ${key(["masters", i, "address"])}; give the load balancer its own address`,
            );
        }
        if (m.name === c.loadBalancer.name && c.loadBalancer.manage) {
            problems.push(`${key(["loadBalancer", "name"])}: '${m.name}' is also a master name; choose another`);
        }
    });
    if (cidrsOverlap(c.serviceCidr, c.clusterCidr)) {
        problems.push(
            `${key(["serviceCidr"])}: ${c.serviceCidr} overlaps ${key(["clusterCidr"])} ${c.clusterCidr}; Service IPs and Pod IPs need disjoint ranges (e.g. 10.68.0.0/16 and 172.20.0.0/16)`,
        );
    }
    for (const [field, range] of [
        ["serviceCidr", c.serviceCidr],
        ["clusterCidr", c.clusterCidr],
    ] as const) {
        for (const [i, m] of c.masters.entries()) {
            if (cidrContains(range, m.address)) {
                problems.push(
                    `${key([field])}: ${range} contains ${key(["masters", i, "address"])} ${m.address}; pick a range that does not include host addresses`,
                );
            }
        }
        if (cidrContains(range, vip)) {
            problems.push(`${key([field])}: ${range} contains the VIP ${vip}; pick a range that does not include it`);
        }
    }
    const clusterPrefix = cidrPrefix(c.clusterCidr);
    if (c.nodeCidrMaskSize <= clusterPrefix) {
        problems.push(
            `${key(["nodeCidrMaskSize"])}: ${c.nodeCidrMaskSize} must be longer than the prefix of ${key(["clusterCidr"])} (/${clusterPrefix}), e.g. 24 for a /16`,
        );
    }
    if (cidrPrefix(c.serviceCidr) < 12) {
        problems.push(`${key(["serviceCidr"])}: kube-apiserver allows at most a /12 Service range (2^20 addresses); use a longer prefix`);
    }
    if (!c.sshPrivateKey && !c.sshPrivateKeyPath) {
        problems.push(
            `${key(["sshPrivateKey"])}: missing SSH key; set it with 'pulumi config set --secret ${key(["sshPrivateKey"])} < ~/.ssh/id_ed25519' or set ${key(["sshPrivateKeyPath"])}`,
        );
    }
    if (c.certEarlyRenewalHours >= c.certValidityHours) {
        problems.push(
            `${key(["certEarlyRenewalHours"])}: ${c.certEarlyRenewalHours} h is not shorter than ${key(["certValidityHours"])} ${c.certValidityHours} h; certificates would be renewed on every run`,
        );
    }
    return problems;
}

/**
 * Validates raw stack config (the values of `k8scp:*` keys, already JSON-decoded) and applies defaults.
 * Throws a ConfigError listing every problem with its key and fix.
 */
export function validateConfig(raw: unknown): ClusterConfig {
    const parsed = clusterConfigSchema.safeParse(raw);
    if (!parsed.success) {
        throw new ConfigError(
            parsed.error.issues.map((i) => {
                if (i.code === "unrecognized_keys") {
                    return `${key(i.path.length ? i.path : [""])}: unknown key(s) ${i.keys.map((k) => `'${k}'`).join(", ")}; check the spelling against the README's config reference`;
                }
                if (i.code === "invalid_type" && i.input === undefined) {
                    return `${key(i.path)}: required; set it with 'pulumi config set ${key(i.path)} ...'`;
                }
                return `${key(i.path)}: ${i.message}`;
            }),
        );
    }
    const problems = semanticProblems(parsed.data);
    if (problems.length) throw new ConfigError(problems);
    return parsed.data;
}

/** Keys whose values are plain strings in stack config; every other key holds YAML/JSON structure. */
const stringKeys = new Set([
    "kubernetesVersion",
    "etcdVersion",
    "binDir",
    "serviceCidr",
    "clusterCidr",
    "clusterDomain",
    "clusterName",
    "sshPrivateKey",
    "sshPrivateKeyPath",
    "knownHostsFile",
]);

/** The host key for `address` in known_hosts text (plain, not hashed, entries), preferring ed25519. */
export function hostKeyFromKnownHosts(text: string, address: string, port = 22): string | undefined {
    const names = port === 22 ? [address] : [`[${address}]:${port}`];
    const keys = text
        .split("\n")
        .map((l) => l.trim().split(/\s+/))
        .filter((f) => f.length >= 3 && !f[0].startsWith("#") && f[0].split(",").some((n) => names.includes(n)))
        .map((f) => `${f[1]} ${f[2]}`);
    return keys.find((k) => k.startsWith("ssh-ed25519 ")) ?? keys[0];
}

/**
 * Turns Pulumi's flat config map (`{"k8scp:masters": "[...]"}`, values as the engine passes them) into the
 * raw object validateConfig takes. Keys of other namespaces are ignored.
 */
export function rawConfigFromPulumi(all: Record<string, string>): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    const problems: string[] = [];
    for (const [fullKey, value] of Object.entries(all)) {
        const [ns, k] = fullKey.split(":", 2);
        if (ns !== CONFIG_NAMESPACE || k === undefined) continue;
        if (stringKeys.has(k)) {
            raw[k] = value;
            continue;
        }
        try {
            raw[k] = JSON.parse(value);
        } catch {
            problems.push(`${fullKey}: '${value}' is not valid YAML/JSON structure for this key; see the README's config reference`);
        }
    }
    if (problems.length) throw new ConfigError(problems);
    return raw;
}
