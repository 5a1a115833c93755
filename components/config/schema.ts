// The config's schema: every key, its type, its default and the message of its single-field check, and the
// partial config (what is valid of a config with problems). Pure. The messages of problems are messages.ts, the
// cross-field rules rules.ts; checkConfig (check.ts) runs them all.
import { dirname } from "node:path";
import { z } from "zod";
import { defaultSnapshots } from "../render/backup";
import { components, paths } from "../render/flags";
import { isIp, isIpv4, parseCidr } from "../render/network";
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

/** The age identity that encrypts the snapshots (X25519, as `k8scp-backup keygen` or `age-keygen` prints it). */
export const ageIdentityPattern = /^AGE-SECRET-KEY-1[02-9ACDEFGHJKLMNPQRSTUVWXYZ]{58}$/;
const secretHint = (field: string) => `pulumi config set --secret --path 'k8scp:etcdSnapshots.upload.${field}'`;
/**
 * S3-compatible object storage every snapshot is uploaded to, encrypted on the master with the identity's public
 * recipient (the master never holds the identity). The secret fields are set with `--secret --path`.
 */
const snapshotUpload = z
    .object({
        /** http(s)://host[:port] of the S3 API; buckets are addressed path-style (endpoint/bucket/key). */
        endpoint: z.string().superRefine((s, ctx) => {
            let u: URL | undefined;
            try {
                u = new URL(s);
            } catch {
                u = undefined;
            }
            if (!u || !["http:", "https:"].includes(u.protocol) || (u.pathname !== "/" && u.pathname !== "") || u.search || u.username)
                ctx.addIssue({
                    code: "custom",
                    message: "is not an S3 endpoint like https://s3.example.com or http://10.0.0.5:7070 (scheme, host, port; no path)",
                });
        }),
        /** An existing bucket (it is never created). */
        bucket: z
            .string()
            .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "is not an S3 bucket name (3-63 lower-case letters, digits, dots and hyphens)"),
        /** Key prefix in the bucket; each master's snapshots go under <prefix>/<master>/. Default: the clusterName. */
        prefix: z
            .string()
            .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, "is not a key prefix like prod or clusters/prod (no leading or trailing /)")
            .optional(),
        region: z
            .string()
            .regex(/^[a-z0-9-]+$/, "is not a region like us-east-1")
            .default("us-east-1"),
        /** Snapshots kept per master in the bucket, newest first. Default: etcdSnapshots.retention. */
        retention: int(1, 100_000, " snapshots").optional(),
        /** PEM file (on the machine running Pulumi) of the CA that signed an https endpoint's certificate, if private. */
        caFile: z.string().min(1, "is empty; give the path of a PEM file, or remove the key").optional(),
        accessKeyId: z.string().min(1, `is empty; set it with ${secretHint("accessKeyId")}`),
        /** Secret. */
        secretAccessKey: z.string().min(1, `is empty; set it with ${secretHint("secretAccessKey")}`),
        /** Secret: the age identity; snapshots are encrypted to its recipient and only it decrypts them (restore). */
        encryptionKey: z
            .string()
            .regex(
                ageIdentityPattern,
                `is not an age identity (AGE-SECRET-KEY-1...); make one with 'k8scp-backup keygen' and keep a copy offline: ${secretHint("encryptionKey")} "$(k8scp-backup keygen)"`,
            ),
    })
    .strict();
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
        /** Upload every snapshot, encrypted, to S3-compatible object storage (off when absent). */
        upload: snapshotUpload.optional(),
    })
    .strict()
    .default({
        enabled: defaultSnapshots.enabled,
        interval: defaultSnapshots.interval,
        retention: defaultSnapshots.retention,
        dir: defaultSnapshots.dir,
    });

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
        /**
         * Make the Kubernetes CA's private key an output (secret) of the component, for programs that sign their own
         * client certificates with it. Off by default: the CSR API through the admin kubeconfig needs no CA key.
         */
        exportCaKey: bool.default(false),
        /**
         * Make the break-glass super-admin kubeconfig (O=system:masters, which RBAC cannot restrict) an output.
         * Off by default: only the library's RBAC bootstrap step uses it.
         */
        exportSuperAdminKubeconfig: bool.default(false),
        /** Check every host's SSH port and host key before any change (fail fast, naming the host). */
        preflight: bool.default(true),
        etcdSnapshots,
        /**
         * An etcd snapshot: a file on the machine running Pulumi, or `bucket:<key>`, an object in the upload bucket
         * (etcdSnapshots.upload), downloaded and decrypted here. Every member is restored from it (the old data is
         * kept aside on each master) and the control plane restarts on it. Restores once per snapshot content.
         */
        etcdRestoreFrom: z.string().min(1, "is empty; give the path of a snapshot file or bucket:<key>, or remove the key").optional(),
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

/** A map (not a list, not null), as a config value. */
export const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

// ---- the partial config ------------------------------------------------------------------------------

/** Walks the schema along the value: each leaf that passes its own check, with defaults; `undefined` elsewhere. */
export function partialOf(schema: z.ZodType, value: unknown): unknown {
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
