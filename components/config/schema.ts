// Stack configuration: schema, defaults and validation. Pure: no Pulumi calls, no I/O (except that
// rawConfigFromPulumi asks the SDK, by default, which config keys hold secrets).
// Every problem names the config key, says what is wrong and how to fix it, and all of them are found in one
// run: field checks and the cross-field checks whose fields are valid.
import { createHmac } from "node:crypto";
import { dirname } from "node:path";
import { RunError, runtime } from "@pulumi/pulumi";
import { z } from "zod";
import { defaultSnapshots } from "../render/backup";
import { Component, Flags, Member, components, flagName, flagText, masterFlags, paths, securityFlags, serviceNames } from "../render/flags";
import { cidrContains, cidrPrefix, cidrsOverlap, isIp, isIpv4, parseCidr } from "../render/network";
import { defaultKeyAlgorithm, keyAlgorithms } from "../render/pki";
import { kubernetesMinor, minimumKubernetesMinor } from "../render/policy";

/** The Pulumi config namespace (the project name in Pulumi.yaml). */
export const CONFIG_NAMESPACE = "k8scp";

// Messages of single-field checks follow the offending value: `'10.213.0.300' is not an IP address; ...`.
const name = z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "is not a DNS label; use lower-case letters, digits and '-', e.g. n1");
const ip = z.string().superRefine((s, ctx) => {
    if (!isIp(s)) ctx.addIssue({ code: "custom", message: "is not an IP address; use one like 10.213.0.11" });
    else if (!isIpv4(s))
        ctx.addIssue({ code: "custom", message: "is an IPv6 address: IPv6 is not supported yet; use an IPv4 address like 10.213.0.11" });
});
const cidr = z.string().superRefine((s, ctx) => {
    try {
        parseCidr(s);
    } catch (e) {
        const hostBits = /^host bits are set; the network address is (\S+)$/.exec((e as Error).message);
        ctx.addIssue({
            code: "custom",
            message: hostBits ? `has host bits set; use the network address ${hostBits[1]}` : "is not a CIDR; use one like 10.68.0.0/16",
        });
    }
});
const hostKey = z
    .string()
    .regex(
        /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$/,
        "is not an SSH public host key line like 'ssh-ed25519 AAAA...' (ssh-keyscan -t ed25519 HOST prints it)",
    );
/** A whole number; a string of digits (a quoted YAML number) counts as one. */
const int = (min: number, max: number, hint: string) =>
    z.preprocess(
        (v) => (typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : v),
        z.number().int().min(min, `must be at least ${min}${hint}`).max(max, `must be at most ${max}${hint}`),
    );
/** true or false; the strings "true" and "false" count too. */
const bool = z.preprocess((v) => (v === "true" ? true : v === "false" ? false : v), z.boolean());
const port = int(1, 65535, "");
const hours = (min: number) => int(min, 10_000_000, " hours");
/** Flag values: `pulumi config set --path ...extraArgs.v 3` stores a number, `... true` a boolean; both render as text. */
const flagValue = z
    .union([z.string(), z.number(), z.boolean()])
    .transform(String)
    .refine(
        (v) => !/\p{Cc}/u.test(v),
        "contains a control character (a newline, carriage return, NUL or the like); each flag is one line of the systemd unit, " +
            "and a broken unit would stop the rolling update with a master down; give the value on one line",
    );
/** Flag names as the binaries spell them, with or without the leading `--`. */
const flagNamePattern = "(--)?[a-z0-9][a-z0-9-]*";
const extraArgKey = z
    .string()
    .regex(
        new RegExp(`^${flagNamePattern}$`),
        "the key is not a flag name (lower-case letters, digits and '-'); use the name alone, e.g. v or --v, and put the value in the value",
    );
const extraArgs = z.record(extraArgKey, flagValue).default({});
/** An entry of allowSecurityOverrides: a service's config key and one of its flags. */
const securityOverride = z
    .string()
    .regex(
        new RegExp(`^(${components.join("|")})\\.${flagNamePattern}$`),
        `is not a service and flag like apiserver.anonymous-auth (the service is one of ${components.join(", ")})`,
    );

const sshTarget = {
    address: ip,
    sshUser: z.string().min(1, "is empty; give the SSH user, e.g. kube").default("kube"),
    sshPort: port.default(22),
    hostKey: hostKey.optional(),
};

const master = z
    .object({
        name,
        ...sshTarget,
        /**
         * The host is gone for good: its etcd member is removed through a healthy master and its resources are dropped
         * without contacting it; the load balancer, flags and certificates stop listing it.
         */
        gone: bool.default(false),
    })
    .strict();

/** Directories Pulumi manages on a master: a snapshot directory is neither inside nor above one. */
const managedDirs = [paths.conf, paths.etcdData, paths.logs, dirname(paths.staging)];
/** System directories themselves: snapshots go in a dedicated directory, never one of these. */
const systemDirs = new Set([
    "/",
    "/home",
    "/root",
    "/etc",
    "/opt",
    "/srv",
    "/mnt",
    "/media",
    "/var",
    "/var/lib",
    "/var/log",
    "/var/cache",
    "/var/spool",
    "/var/mail",
    "/var/backups",
    "/var/opt",
    "/var/local",
    "/usr/local",
]);
/** Trees no snapshot directory belongs in, and why. */
const systemTrees: [RegExp, string][] = [
    [/^\/(proc|sys|dev)(\/|$)/, "a kernel file system"],
    [/^\/(tmp|var\/tmp)(\/|$)/, "temporary space, private to each sandboxed service"],
    [/^\/(run|var\/run|var\/lock)(\/|$)/, "a runtime file system, emptied at boot"],
    [/^\/(usr|bin|sbin|boot|lib[^/]*)(\/|$)/, "part of the operating system, read-only to the sandboxed snapshot service"],
    [/^\/(home|root)(\/|$)/, "home directories, hidden from the sandboxed snapshot service"],
    [/^\/etc(\/|$)/, "meant for configuration, not data"],
];
const dedicatedDir = "use a dedicated directory such as /var/lib/etcd-snapshots";

/** Why `d` cannot be the snapshot directory (the installer makes it etcd's, 0700), or undefined for a dedicated path. */
export function snapshotDirProblem(d: string): string | undefined {
    if (!/^\/[A-Za-z0-9._/-]*$/.test(d)) return "is not an absolute path like /var/lib/etcd-snapshots";
    const parts = d.split("/").slice(1);
    if (d !== "/" && parts.some((p) => p === "" || p === "." || p === ".."))
        return `is not a normalised path (it has a '.' or '..' part, '//' or a trailing '/'); ${dedicatedDir}`;
    const inside = managedDirs.find((m) => d === m || d.startsWith(`${m}/`));
    if (inside) return `is inside a directory Pulumi manages (${inside}); ${dedicatedDir}`;
    const above = managedDirs.find((m) => m.startsWith(d === "/" ? "/" : `${d}/`));
    if (systemDirs.has(d)) return `is a system directory${above ? ` and holds ${above}, which Pulumi manages` : ""}; ${dedicatedDir}`;
    if (above) return `holds ${above}, a directory Pulumi manages; ${dedicatedDir}`;
    for (const [tree, why] of systemTrees) {
        const m = tree.exec(d);
        if (m) return `is under ${m[0].replace(/\/$/, "")}, ${why}; ${dedicatedDir}`;
    }
    if (parts.length < 2) return `is a top-level directory; ${dedicatedDir}, two levels deep or more`;
    return undefined;
}

/** A systemd time span: 30min, 1h, 6h, 1d. */
const timespan = z.string().regex(/^[1-9]\d*(s|min|h|d)$/, "is not a time span like 30min, 1h or 1d");
const etcdSnapshots = z
    .object({
        /** Take snapshots on a schedule (a systemd timer on every master). */
        enabled: bool.default(defaultSnapshots.enabled),
        /** Time between snapshots. */
        interval: timespan.default(defaultSnapshots.interval),
        /** Snapshots kept per master, newest first; older ones are deleted. */
        retention: int(1, 10_000, " snapshots").default(defaultSnapshots.retention),
        /** A dedicated directory on each master (0700, owned by etcd). */
        dir: z
            .string()
            .superRefine((d, ctx) => {
                const problem = snapshotDirProblem(d);
                if (problem) ctx.addIssue({ code: "custom", message: problem });
            })
            .default(defaultSnapshots.dir),
    })
    .strict()
    .default(defaultSnapshots);

const loadBalancer = z
    .object({
        /** The VIP: every kubeconfig points at https://address:port. */
        address: ip,
        port: port.default(6443),
        /** Deploy HAProxy on the host at `address` over SSH (false: an external load balancer exists). */
        manage: bool.default(true),
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
        allowEvenMasters: bool.default(false),
        loadBalancer,
        /** PEM/OpenSSH private key used for every host (secret config). */
        sshPrivateKey: z
            .string()
            .min(1, "is empty; set it with 'pulumi config set --secret k8scp:sshPrivateKey < ~/.ssh/id_ed25519'")
            .optional(),
        /** Alternative to sshPrivateKey: path of the key file on the machine running Pulumi. */
        sshPrivateKeyPath: z.string().min(1, "is empty; give the path of the private key file").optional(),
        /** known_hosts file to pin host keys of hosts whose config gives no hostKey. */
        knownHostsFile: z.string().min(1, "is empty; give the path of a known_hosts file").optional(),
        kubernetesVersion: z
            .string()
            .regex(/^v?1\.\d+\.\d+$/, "is not a Kubernetes version like 1.34.4")
            .refine(
                (v) => (kubernetesMinor(v) ?? minimumKubernetesMinor) >= minimumKubernetesMinor,
                `is older than 1.${minimumKubernetesMinor}, the first release whose AuthenticationConfiguration limits anonymous requests to the health paths; use 1.${minimumKubernetesMinor} or later`,
            ),
        etcdVersion: z
            .string()
            .regex(/^v?3\.\d+\.\d+$/, "is not an etcd version like 3.5.35")
            .optional(),
        /** Local directory holding kube-apiserver, kube-controller-manager, kube-scheduler, etcd, etcdctl. */
        binDir: z.string().min(1, "is empty; give the directory with the binaries").optional(),
        serviceCidr: cidr.default("10.68.0.0/16"),
        clusterCidr: cidr.default("172.20.0.0/16"),
        nodeCidrMaskSize: int(8, 30, ", e.g. 24").default(24),
        clusterDomain: z
            .string()
            .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, "is not a DNS domain like cluster.local")
            .default("cluster.local"),
        clusterName: name.default("kubernetes"),
        /** Validity of leaf certificates, in hours (default one year). */
        certValidityHours: hours(1).default(8760),
        /** Validity of the CAs, in hours (default ten years). */
        caValidityHours: hours(1).default(87600),
        /** Re-issue a certificate when it is within this many hours of expiry (default 30 days). */
        certEarlyRenewalHours: hours(0).default(720),
        /** Algorithm of every key when it is made (CAs, leaves, service-account key); existing keys are kept. */
        keyAlgorithm: z
            .enum(keyAlgorithms, { message: `is not a key algorithm; use one of ${keyAlgorithms.join(", ")}` })
            .default(defaultKeyAlgorithm),
        /** Check every host's SSH port and host key before any change (fail fast, naming the host). */
        preflight: bool.default(true),
        etcdSnapshots,
        /**
         * An etcd snapshot file on the machine running Pulumi: every member is restored from it (the old data is kept
         * aside on each master) and the control plane restarts on it. Restores once per snapshot content.
         */
        etcdRestoreFrom: z.string().min(1, "is empty; give the path of a snapshot file, or remove the key").optional(),
        etcd: component,
        apiserver: component,
        controllerManager: component,
        scheduler: component,
        /**
         * Security flags (render/flags.ts securityFlags) that extraArgs may change, as `<service>.<flag>`, e.g.
         * apiserver.anonymous-auth; any other change of one is refused.
         */
        allowSecurityOverrides: z.array(securityOverride).default([]),
    })
    .strict();

export type ClusterConfigInput = z.input<typeof clusterConfigSchema>;
export type ClusterConfig = z.output<typeof clusterConfigSchema>;
export type MasterConfig = ClusterConfig["masters"][number];
export type LoadBalancerConfig = ClusterConfig["loadBalancer"];

type DeepPartial<T> = T extends (infer E)[] ? DeepPartial<E>[] : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T | undefined;
/**
 * The config as far as it is valid: every field that passes its own check (with its default when absent), and
 * `undefined` for a field that does not. Lists and maps are kept when they are lists and maps.
 */
export type PartialConfig = DeepPartial<ClusterConfig>;

/**
 * Thrown for a config (or a host, file or binary it names) that cannot work; the message lists every problem,
 * one per line. A RunError, so the Pulumi CLI prints the message as its error, without a stack trace.
 */
export class ConfigError extends RunError {
    /** The problems, ordered by config key. */
    public readonly problems: string[];
    constructor(problems: readonly string[]) {
        const sorted = sortProblems(problems);
        const n = sorted.length;
        super(`${CONFIG_NAMESPACE}: ${n} problem${n === 1 ? "" : "s"}, found before anything was changed:\n  - ${sorted.join("\n  - ")}`);
        this.name = "ConfigError";
        this.problems = sorted;
    }
}

/** Orders problems by the position of their top-level key in the schema (an unknown key next to the one it resembles). */
export function sortProblems(problems: readonly string[]): string[] {
    const order = Object.keys(clusterConfigSchema.shape);
    const rank = (p: string) => {
        const k = new RegExp(`^${CONFIG_NAMESPACE}:([^.[:\\s]+)`).exec(p)?.[1] ?? "";
        const i = order.indexOf(k);
        if (i >= 0) return i;
        const guess = new RegExp(`did you mean ${CONFIG_NAMESPACE}:([^.[?]+)`).exec(p)?.[1];
        return guess ? order.indexOf(guess) + 0.5 : order.length;
    };
    return problems
        .map((p, i) => ({ p, i, r: rank(p) }))
        .sort((a, b) => a.r - b.r || a.i - b.i)
        .map((x) => x.p);
}

type Path = readonly PropertyKey[];

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The config key of a path, as `pulumi config set --path` spells it: `k8scp:masters[1].address`. */
export function configKey(path: Path): string {
    if (path.length === 0) return CONFIG_NAMESPACE;
    let out = `${CONFIG_NAMESPACE}:${String(path[0] ?? "")}`;
    for (const p of path.slice(1)) out += typeof p === "number" ? `[${p}]` : `.${String(p)}`;
    return out;
}

/** The config key of a path for a shell command line (quoted when the shell would glob it). */
const shellKey = (path: Path) => (/[[\]*?]/.test(configKey(path)) ? `'${configKey(path)}'` : configKey(path));

/** A `pulumi config set` command for a path. */
function setCommand(path: Path, value: string, type?: string): string {
    const flags = [...(path.length > 1 ? ["--path"] : []), ...(type ? ["--type", type] : [])];
    return ["pulumi config set", ...flags, shellKey(path), value].join(" ");
}

/** A `pulumi config rm` command for a path. */
const rmCommand = (path: Path) => `pulumi config rm${path.length > 1 ? " --path" : ""} ${shellKey(path)}`;

/** A string as a message quotes it: long or multi-line values (a pasted key, say) shortened to their start. */
function clip(v: string): string {
    const first = v.split("\n")[0];
    return first.length > 60 || first !== v ? `${first.slice(0, 40)}...` : v;
}

/** How a value reads in a message: `the string 'x'`, `the number 3`, `a list`. */
export function describeValue(v: unknown): string {
    if (v === null) return "an empty value";
    if (Array.isArray(v)) return "a list";
    switch (typeof v) {
        case "string":
            return `the string '${clip(v)}'`;
        case "number":
            return `the number ${v}`;
        case "boolean":
            return `the boolean ${v}`;
        case "object":
            return "a map";
        default:
            return typeof v;
    }
}

const show = (v: unknown) => (typeof v === "string" ? `'${clip(v)}'` : String(v));

const typeNames: Record<string, string> = {
    string: "a string",
    number: "a whole number",
    int: "a whole number",
    boolean: "true or false",
    object: "a map",
    record: "a map",
    array: "a list",
};

/** Example values by key, with list indices as `[]`; a fix shows one. */
const examples: Record<string, string> = {
    "masters[].name": "n1",
    "masters[].address": "10.213.0.11",
    "masters[].sshUser": "kube",
    "masters[].sshPort": "22",
    allowEvenMasters: "true",
    "loadBalancer.address": "10.213.0.10",
    "loadBalancer.port": "6443",
    "loadBalancer.manage": "false",
    "loadBalancer.name": "lb",
    "loadBalancer.sshUser": "kube",
    "loadBalancer.sshPort": "22",
    sshPrivateKeyPath: "~/.ssh/id_ed25519",
    knownHostsFile: "~/.ssh/known_hosts",
    kubernetesVersion: "1.34.4",
    etcdVersion: "3.5.35",
    binDir: "/opt/kubernetes/bin",
    serviceCidr: "10.68.0.0/16",
    clusterCidr: "172.20.0.0/16",
    nodeCidrMaskSize: "24",
    clusterDomain: "cluster.local",
    clusterName: "kubernetes",
    certValidityHours: "8760",
    caValidityHours: "87600",
    certEarlyRenewalHours: "720",
    keyAlgorithm: "RSA-2048",
    preflight: "false",
    "masters[].gone": "true",
    "etcdSnapshots.enabled": "false",
    "etcdSnapshots.interval": "1h",
    "etcdSnapshots.retention": "24",
    "etcdSnapshots.dir": "/var/lib/etcd-snapshots",
    etcdRestoreFrom: "/root/etcd-snapshot.db",
    "allowSecurityOverrides[]": "apiserver.anonymous-auth",
};

/** One or two `pulumi config set` commands that put a valid value at `path` (a leaf, or the first leaves of a list or map). */
function exampleFix(path: Path): string | undefined {
    const generic = path
        .map((p) => (typeof p === "number" ? "[]" : String(p)))
        .join(".")
        .replace(/\.\[\]/g, "[]");
    const ex = examples[generic];
    if (ex !== undefined) return setCommand(path, ex);
    const top = String(path[0]);
    if (path.length === 1 && top === "masters")
        return `${setCommand(["masters", 0, "name"], "n1")} and ${setCommand(["masters", 0, "address"], "10.213.0.11")}`;
    if ((path.length === 2 && top === "masters") || (path.length === 1 && top === "loadBalancer"))
        return setCommand([...path, "address"], top === "masters" ? "10.213.0.11" : "10.213.0.10");
    if ((components as string[]).includes(top)) return setCommand(path.length === 3 ? path : [top, "extraArgs", "v"], "2");
    if (path.length === 1 && top === "allowSecurityOverrides") return setCommand([top, 0], examples["allowSecurityOverrides[]"]);
    return undefined;
}

// ---- unknown keys -------------------------------------------------------------------------------------

function levenshtein(a: string, b: string): number {
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        const cur = [i];
        for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = cur;
    }
    return prev[b.length];
}

/** The known key a mistyped one most likely meant (`masterz` → `masters`, `kube-scheduler` → `scheduler`), if any. */
export function closestKey(word: string, known: readonly string[]): string | undefined {
    const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, "");
    const w = norm(word);
    let best: { key: string; d: number } | undefined;
    for (const k of known) {
        const n = norm(k);
        const close = levenshtein(w, n) <= Math.max(1, Math.floor(n.length / 3));
        const contains = Math.min(w.length, n.length) >= 4 && (w.includes(n) || n.includes(w));
        if (!close && !contains) continue;
        const d = levenshtein(word.toLowerCase(), k.toLowerCase());
        if (!best || d < best.d) best = { key: k, d };
    }
    return best?.key;
}

/** The schema at a path below the root, looking through defaults, optionals and preprocessing. */
function schemaAt(path: Path): z.ZodType | undefined {
    let s: z.ZodType | undefined = clusterConfigSchema;
    const unwrap = (x: z.ZodType): z.ZodType => {
        if (x instanceof z.ZodDefault || x instanceof z.ZodOptional) return unwrap(x.unwrap() as z.ZodType);
        if (x instanceof z.ZodPipe) return unwrap(x.out as z.ZodType);
        return x;
    };
    for (const p of path) {
        s = s && unwrap(s);
        if (s instanceof z.ZodObject && typeof p === "string") s = (s.shape as Record<string, z.ZodType>)[p];
        else if (s instanceof z.ZodArray && typeof p === "number") s = s.element as z.ZodType;
        else return undefined;
    }
    return s && unwrap(s);
}

/** The keys a map at `path` may have. */
function knownKeys(path: Path): string[] {
    const s = schemaAt(path);
    return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

function unknownKeyProblem(parent: Path, k: string, value: unknown): string {
    const path = [...parent, k];
    const known = knownKeys(parent);
    // `pulumi config set k8scp:scheduler.extraArgs.v 3` without --path makes a top-level key with dots in its name.
    const head = /^[^.[]+/.exec(k)?.[0];
    if (parent.length === 0 && head && head !== k && known.includes(head)) {
        const v = typeof value === "string" || typeof value === "number" || typeof value === "boolean" ? String(value) : "VALUE";
        return (
            `${configKey(path)}: unknown key (set without --path, so '${k}' is one key); ` +
            `remove it (${rmCommand(path)}) and set the value inside ${configKey([head])}: pulumi config set --path ${shellKey(path)} ${v}`
        );
    }
    const guess = closestKey(k, known);
    if (guess) return `${configKey(path)}: unknown key; did you mean ${configKey([...parent, guess])}?`;
    return parent.length === 0
        ? `${configKey(path)}: unknown key; remove it (${rmCommand(path)}) or use a key from the README's config reference`
        : `${configKey(path)}: unknown key; the keys of ${configKey(parent)} are ${known.join(", ")}`;
}

// ---- field problems ---------------------------------------------------------------------------------

type Issue = z.core.$ZodIssue & { input?: unknown };

function expectedOf(i: Issue): string | undefined {
    if (i.code === "invalid_type") return typeNames[i.expected] ?? i.expected;
    if (i.code === "invalid_union") {
        const names = i.errors.map((e) => (e[0]?.code === "invalid_type" ? e[0].expected : undefined));
        if (names.length > 1 && names.every((n) => n !== undefined))
            return `a ${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`;
    }
    return undefined;
}

function issueProblems(i: Issue): string[] {
    const path = i.path;
    const k = configKey(path);
    if (i.code === "unrecognized_keys") return i.keys.map((u) => unknownKeyProblem(path, u, isMap(i.input) ? i.input[u] : undefined));
    if (i.code === "invalid_key") return [`${k}: ${i.issues[0]?.message ?? i.message}`];
    const fix = exampleFix(path);
    const eg = fix ? `; e.g. ${fix}` : "; see the README's config reference";
    const expected = expectedOf(i);
    if (expected !== undefined) {
        if (i.input === undefined) return [`${k}: missing${eg}`];
        if (i.input === null) return [`${k}: is empty${eg}`];
        const input = i.input;
        if (expected === "a string" && (typeof input === "number" || typeof input === "boolean"))
            return [
                `${k}: expected a string, got ${describeValue(input)}; set it as a string: ${setCommand(path, String(input), "string")}`,
            ];
        const scalar = input === null || typeof input !== "object";
        const container = i.code === "invalid_type" && ["object", "record", "array"].includes(i.expected);
        if (container && scalar && fix)
            return [`${k}: expected ${expected}, got ${describeValue(input)}; remove it (${rmCommand(path)}), then e.g. ${fix}`];
        return [`${k}: expected ${expected}, got ${describeValue(input)}${eg}`];
    }
    const input = i.input;
    const subject = input === undefined || input === "" || (typeof input === "object" && input !== null) ? "" : `${show(input)} `;
    return [`${k}: ${subject}${i.message}`];
}

// ---- the partial config ------------------------------------------------------------------------------

/** Walks the schema along the value: each leaf that passes its own check, with defaults; `undefined` elsewhere. */
function partialOf(schema: z.ZodType, value: unknown): unknown {
    if (schema instanceof z.ZodDefault)
        return value === undefined ? schema.parse(undefined) : partialOf(schema.unwrap() as z.ZodType, value);
    if (schema instanceof z.ZodOptional) return value === undefined ? undefined : partialOf(schema.unwrap() as z.ZodType, value);
    if (schema instanceof z.ZodObject) {
        if (!isMap(value)) return undefined;
        const shape = schema.shape as Record<string, z.ZodType>;
        return Object.fromEntries(Object.entries(shape).map(([k, s]) => [k, partialOf(s, value[k])]));
    }
    if (schema instanceof z.ZodArray) return Array.isArray(value) ? value.map((e) => partialOf(schema.element as z.ZodType, e)) : undefined;
    if (schema instanceof z.ZodRecord) {
        if (!isMap(value)) return undefined;
        const valid = Object.entries(value).map(([k, v]) => schema.safeParse({ [k]: v }));
        return Object.fromEntries(valid.flatMap((r) => (r.success ? Object.entries(r.data as Record<string, unknown>) : [])));
    }
    const r = schema.safeParse(value);
    return r.success ? r.data : undefined;
}

// ---- cross-field problems ----------------------------------------------------------------------------

const key = (...path: PropertyKey[]) => configKey(path);

/** Cross-field rules that a schema of single fields cannot express; each runs when the fields it reads are valid. */
function semanticProblems(c: PartialConfig, given: Record<string, unknown>): string[] {
    const problems: string[] = [];
    const masters = c.masters ?? [];
    const gone = masters.filter((m) => m?.gone === true).length;
    const n = masters.length - gone;
    if (c.masters && n === 0 && gone > 0) {
        problems.push(`${key("masters")}: every master is marked gone; keep at least one, or restore from a snapshot onto new ones`);
    } else if (gone > 0 && gone >= Math.floor(masters.length / 2) + 1) {
        problems.push(
            `${key("masters")}: ${gone} of ${masters.length} masters are marked gone, a majority: etcd has no quorum to remove them; ` +
                `mark at most ${Math.floor((masters.length - 1) / 2)} gone per pulumi up, or restore from a snapshot (${key("etcdRestoreFrom")})`,
        );
    }
    if (c.masters && n > 0 && n % 2 === 0 && c.allowEvenMasters === false) {
        problems.push(
            `${key("masters")}: ${n}${gone ? " remaining" : ""} masters tolerate ${Math.floor((n - 1) / 2)} failed member(s), the same as ${n - 1}; ` +
                `use an odd count (3 or 5), or set ${key("allowEvenMasters")}: true to accept it`,
        );
    }
    for (const field of ["name", "address"] as const) {
        const first = new Map<string, number>();
        masters.forEach((m, i) => {
            const v = m?.[field];
            if (v === undefined) return;
            const prev = first.get(v);
            if (prev !== undefined) {
                problems.push(
                    `${key("masters", i, field)}: '${v}' is also used by ${key("masters", prev)}; every master needs its own ${field}`,
                );
            } else first.set(v, i);
        });
    }
    const lb = c.loadBalancer;
    const vip = lb?.address;
    masters.forEach((m, i) => {
        if (vip !== undefined && m?.address === vip) {
            problems.push(
                `${key("loadBalancer", "address")}: the VIP ${vip} equals ${key("masters", i, "address")}; give the load balancer its own address`,
            );
        }
        if (m?.name !== undefined && m.name === lb?.name && lb.manage === true) {
            problems.push(`${key("loadBalancer", "name")}: '${m.name}' is also a master name; choose another`);
        }
    });
    const { serviceCidr, clusterCidr } = c;
    if (serviceCidr !== undefined && clusterCidr !== undefined && cidrsOverlap(serviceCidr, clusterCidr)) {
        problems.push(
            `${key("serviceCidr")}: ${serviceCidr} overlaps ${key("clusterCidr")} ${clusterCidr}; Service IPs and Pod IPs need disjoint ranges (e.g. 10.68.0.0/16 and 172.20.0.0/16)`,
        );
    }
    for (const [field, range] of [
        ["serviceCidr", serviceCidr],
        ["clusterCidr", clusterCidr],
    ] as const) {
        if (range === undefined) continue;
        masters.forEach((m, i) => {
            if (m?.address !== undefined && cidrContains(range, m.address)) {
                problems.push(
                    `${key(field)}: ${range} contains ${key("masters", i, "address")} ${m.address}; pick a range that does not include host addresses`,
                );
            }
        });
        if (vip !== undefined && cidrContains(range, vip)) {
            problems.push(`${key(field)}: ${range} contains the VIP ${vip}; pick a range that does not include it`);
        }
    }
    if (clusterCidr !== undefined && c.nodeCidrMaskSize !== undefined && c.nodeCidrMaskSize <= cidrPrefix(clusterCidr)) {
        problems.push(
            `${key("nodeCidrMaskSize")}: ${c.nodeCidrMaskSize} must be longer than the prefix of ${key("clusterCidr")} (/${cidrPrefix(clusterCidr)}), e.g. 24 for a /16`,
        );
    }
    if (serviceCidr !== undefined) {
        const [net, prefix] = parseCidr(serviceCidr);
        const hostBits = (net.kind() === "ipv4" ? 32 : 128) - prefix;
        if (hostBits > 20) {
            problems.push(
                `${key("serviceCidr")}: ${serviceCidr} is too large; kube-apiserver allows at most 2^20 Service addresses (a /12 for IPv4, a /108 for IPv6)`,
            );
        }
    }
    if (given.sshPrivateKey === undefined && given.sshPrivateKeyPath === undefined) {
        problems.push(
            `${key("sshPrivateKey")}: missing; set the SSH key with pulumi config set --secret ${key("sshPrivateKey")} < ~/.ssh/id_ed25519, ` +
                `or its path with pulumi config set ${key("sshPrivateKeyPath")} ~/.ssh/id_ed25519`,
        );
    }
    if (c.certEarlyRenewalHours !== undefined && c.certValidityHours !== undefined && c.certEarlyRenewalHours >= c.certValidityHours) {
        problems.push(
            `${key("certEarlyRenewalHours")}: ${c.certEarlyRenewalHours} h is not shorter than ${key("certValidityHours")} ${c.certValidityHours} h; certificates would be renewed on every run`,
        );
    }
    return problems;
}

// ---- security flags and secrets in extraArgs ------------------------------------------------------------

/** The active masters whose name and address are valid. */
function validMembers(c: PartialConfig): Member[] {
    return (c.masters ?? []).flatMap((m) =>
        m?.name !== undefined && m.address !== undefined && m.gone === false ? [{ name: m.name, address: m.address }] : [],
    );
}

/** The flags of every service on each valid active master, before extraArgs (only the security flags are read). */
function builtInFlags(c: PartialConfig): { name: string; flags: Record<Component, Flags> }[] {
    const members = validMembers(c);
    return members.map((self) => ({
        name: self.name,
        flags: masterFlags({
            self,
            members,
            serviceCidr: c.serviceCidr ?? "",
            clusterCidr: c.clusterCidr ?? "",
            nodeCidrMaskSize: c.nodeCidrMaskSize ?? 0,
            clusterDomain: c.clusterDomain ?? "",
            clusterName: c.clusterName ?? "",
        }),
    }));
}

const flagOf = (flags: Flags, flag: string) => (flags[flag] === undefined ? undefined : flagText(flags[flag]));

/** How a message says what the library sets a flag to, from its value on each master. */
function ownValue(own: { name: string; value?: string }[]): string {
    if (own.every((o) => o.value === undefined)) return "which the library does not set";
    if (new Set(own.map((o) => o.value)).size === 1) return `which the library sets to '${own[0].value}'`;
    return `which the library sets per master, e.g. to '${own[0].value}' on ${own[0].name}`;
}

/**
 * extraArgs that change a security flag: a problem unless allowSecurityOverrides names the flag, else a warning.
 * A value equal to the library's own on every master changes nothing and passes. Runs when the opt-in list and
 * at least one master are valid.
 */
function securityOverrides(c: PartialConfig): { problems: string[]; warnings: string[] } {
    const problems: string[] = [];
    const warnings: string[] = [];
    const allowed = c.allowSecurityOverrides;
    const builtIn = builtInFlags(c);
    if (allowed === undefined || builtIn.length === 0) return { problems, warnings };
    const optedIn = new Set(allowed.flatMap((a) => (a === undefined ? [] : [a.replace(".--", ".")])));
    for (const component of components) {
        for (const [k, v] of Object.entries(c[component]?.extraArgs ?? {})) {
            const flag = flagName(k);
            if (v === undefined || !securityFlags[component].includes(flag)) continue;
            const own = builtIn.map(({ name, flags }) => ({ name, value: flagOf(flags[component], flag) }));
            if (own.every((o) => o.value === v)) continue;
            const argPath = [component, "extraArgs", k];
            const what = `${key(...argPath)}: ${show(v)} overrides a security flag of ${serviceNames[component]}, ${ownValue(own)}`;
            if (optedIn.has(`${component}.${flag}`)) {
                warnings.push(`${what}; allowed by ${key("allowSecurityOverrides")}`);
                continue;
            }
            problems.push(
                `${what}; remove it (${rmCommand(argPath)}), or accept the risk by naming it in ${key("allowSecurityOverrides")}: ` +
                    setCommand(["allowSecurityOverrides", allowed.length], `${component}.${flag}`),
            );
        }
    }
    return { problems, warnings };
}

/** Entries of allowSecurityOverrides that name no security flag (a typo, or a flag extraArgs may set anyway). */
function unguardedOptIns(c: PartialConfig): string[] {
    return (c.allowSecurityOverrides ?? []).flatMap((a, i) => {
        if (a === undefined) return [];
        const component = a.slice(0, a.indexOf(".")) as Component;
        const flag = flagName(a.slice(component.length + 1));
        const guarded = securityFlags[component];
        if (guarded.includes(flag)) return [];
        const guess = closestKey(flag, guarded);
        const fix = guess ? `did you mean ${component}.${guess}?` : "extraArgs may set it without opting in; remove it";
        return [`${key("allowSecurityOverrides", i)}: '${a}' is not a security flag of ${serviceNames[component]}; ${fix}`];
    });
}

/** Services whose config holds a secret: extraArgs would put it into the unit, in plain text. */
function secretProblems(secretKeys: readonly string[]): string[] {
    return components
        .filter((c) => secretKeys.includes(c))
        .map(
            (c) =>
                `${key(c)}: holds a secret (set with --secret); extraArgs values are written into the systemd unit, readable to anyone ` +
                `who can read the unit, and shown in the preview; keep secrets in files on the masters, pass the file's path as the flag ` +
                `value, and set ${key(c)} without --secret`,
        );
}

/** The top-level keys (without namespace) that hold a secret, by raw config from rawConfigFromPulumi. */
const secretKeysOf = new WeakMap<object, readonly string[]>();

export interface ConfigCheck {
    /** The validated config with defaults; set only when there is no problem. */
    config?: ClusterConfig;
    /** What is valid of the config, for the checks that need only some fields (see PartialConfig). */
    partial: PartialConfig;
    /** Every problem, one line each: the key, what is wrong, the fix. */
    problems: string[];
    /** What is allowed but weakens the cluster (security flags changed under allowSecurityOverrides), one line each. */
    warnings: string[];
}

/**
 * Checks raw stack config (the values of `k8scp:*` keys, already JSON-decoded) without throwing. `secretKeys`: the
 * top-level keys that hold a secret; rawConfigFromPulumi records them for its result.
 */
export function checkConfig(raw: unknown, secretKeys: readonly string[] = (isMap(raw) && secretKeysOf.get(raw)) || []): ConfigCheck {
    const parsed = clusterConfigSchema.safeParse(raw, { reportInput: true });
    const partial = (partialOf(clusterConfigSchema, raw) ?? {}) as PartialConfig;
    const security = securityOverrides(partial);
    const problems = [
        ...(parsed.success ? [] : (parsed.error.issues as Issue[]).flatMap(issueProblems)),
        ...semanticProblems(partial, isMap(raw) ? raw : {}),
        ...security.problems,
        ...unguardedOptIns(partial),
        ...secretProblems(secretKeys),
    ];
    return {
        config: parsed.success && problems.length === 0 ? parsed.data : undefined,
        partial,
        problems: sortProblems(problems),
        warnings: sortProblems(security.warnings),
    };
}

/**
 * Validates raw stack config (the values of `k8scp:*` keys, already JSON-decoded) and applies defaults.
 * Throws a ConfigError listing every problem with its key and fix.
 */
export function validateConfig(raw: unknown): ClusterConfig {
    const { config, problems } = checkConfig(raw);
    if (!config) throw new ConfigError(problems);
    return config;
}

/** The top-level keys of a raw config from rawConfigFromPulumi that hold a secret (none for any other object). */
export const configSecretKeys = (raw: unknown): readonly string[] => (isMap(raw) && secretKeysOf.get(raw)) || [];

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
    "etcdRestoreFrom",
]);

/** True when a known_hosts host field (`a,b`, `[a]:2222`, or hashed `|1|salt|hash`) names `host`. */
function knownHostsNames(field: string, host: string): boolean {
    return field.split(",").some((n) => {
        const hashed = /^\|1\|([^|]+)\|(.+)$/.exec(n);
        if (!hashed) return n === host;
        return createHmac("sha1", Buffer.from(hashed[1], "base64")).update(host).digest("base64") === hashed[2];
    });
}

/** The host key for `address` in known_hosts text (plain or hashed entries), preferring ed25519. */
export function hostKeyFromKnownHosts(text: string, address: string, port = 22): string | undefined {
    const host = port === 22 ? address : `[${address}]:${port}`;
    const keys = text
        .split("\n")
        .map((l) => l.trim().split(/\s+/))
        .filter((f) => f.length >= 3 && !f[0].startsWith("#") && !f[0].startsWith("@") && knownHostsNames(f[0], host))
        .map((f) => `${f[1]} ${f[2]}`);
    return keys.find((k) => k.startsWith("ssh-ed25519 ")) ?? keys[0];
}

/**
 * Whether the engine lists a full config key as holding a secret (a value set with --secret, or a map with one
 * inside): the SDK's isConfigSecret (internal to @pulumi/pulumi, untyped), else the list the language host passes.
 */
function sdkConfigSecret(fullKey: string): boolean {
    const sdk = runtime as unknown as { isConfigSecret?: (k: string) => boolean };
    if (typeof sdk.isConfigSecret === "function") return sdk.isConfigSecret(fullKey);
    try {
        const keys: unknown = JSON.parse(process.env.PULUMI_CONFIG_SECRET_KEYS || "[]");
        return Array.isArray(keys) && keys.includes(fullKey);
    } catch {
        return false;
    }
}

/**
 * Turns Pulumi's flat config map (`{"k8scp:masters": "[...]"}`, values as the engine passes them) into the
 * raw object checkConfig takes. Keys of other namespaces are ignored. A value that is not JSON stays the string
 * it is, so the schema names the key and the type it expected. The keys that hold a secret (`isSecret`, the SDK's
 * answer by default) are recorded for checkConfig.
 */
export function rawConfigFromPulumi(
    all: Record<string, string>,
    isSecret: (fullKey: string) => boolean = sdkConfigSecret,
): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    const secret: string[] = [];
    secretKeysOf.set(raw, secret);
    for (const [fullKey, value] of Object.entries(all)) {
        const i = fullKey.indexOf(":");
        if (i < 0 || fullKey.slice(0, i) !== CONFIG_NAMESPACE) continue;
        const k = fullKey.slice(i + 1);
        if (isSecret(fullKey)) secret.push(k);
        if (stringKeys.has(k)) {
            raw[k] = value;
            continue;
        }
        try {
            raw[k] = JSON.parse(value);
        } catch {
            raw[k] = value;
        }
    }
    return raw;
}
