// How the config's problems read: every problem names the config key (as `pulumi config set --path` spells it),
// says what is wrong and how to fix it, with a `pulumi config set` command where one fits; an unknown key is
// answered with the known key it most likely meant. Pure.
import { RunError } from "@pulumi/pulumi";
import { z } from "zod";
import { components } from "../render/flags";
import { CONFIG_NAMESPACE, clusterConfigSchema, isMap } from "./schema";

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

export type Path = readonly PropertyKey[];

/** The config key of a path, as `pulumi config set --path` spells it: `k8scp:masters[1].address`. */
export function configKey(path: Path): string {
    if (path.length === 0) return CONFIG_NAMESPACE;
    let out = `${CONFIG_NAMESPACE}:${String(path[0] ?? "")}`;
    for (const p of path.slice(1)) out += typeof p === "number" ? `[${p}]` : `.${String(p)}`;
    return out;
}

/** The config key of a path for a shell command line (quoted when the shell would glob it). */
export const shellKey = (path: Path) => (/[[\]*?]/.test(configKey(path)) ? `'${configKey(path)}'` : configKey(path));

/** A `pulumi config set` command for a path. */
export function setCommand(path: Path, value: string, type?: string): string {
    const flags = [...(path.length > 1 ? ["--path"] : []), ...(type ? ["--type", type] : [])];
    return ["pulumi config set", ...flags, shellKey(path), value].join(" ");
}

/** A `pulumi config rm` command for a path. */
export const rmCommand = (path: Path) => `pulumi config rm${path.length > 1 ? " --path" : ""} ${shellKey(path)}`;

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

export const show = (v: unknown) => (typeof v === "string" ? `'${clip(v)}'` : String(v));

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

export type Issue = z.core.$ZodIssue & { input?: unknown };

function expectedOf(i: Issue): string | undefined {
    if (i.code === "invalid_type") return typeNames[i.expected] ?? i.expected;
    if (i.code === "invalid_union") {
        const names = i.errors.map((e) => (e[0]?.code === "invalid_type" ? e[0].expected : undefined));
        if (names.length > 1 && names.every((n) => n !== undefined))
            return `a ${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`;
    }
    return undefined;
}

export function issueProblems(i: Issue): string[] {
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
    const hidden = secretFields.has(String(path[path.length - 1]));
    const subject = hidden || input === undefined || input === "" || (typeof input === "object" && input !== null) ? "" : `${show(input)} `;
    return [`${k}: ${subject}${i.message}`];
}

/** Fields that hold a secret: a problem with one never shows its value. */
const secretFields = new Set(["sshPrivateKey", "secretAccessKey", "encryptionKey"]);

/** The config key of a path given as arguments: `key("masters", 1, "address")`. */
export const key = (...path: PropertyKey[]) => configKey(path);
