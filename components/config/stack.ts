// The stack's config as Pulumi passes it: the flat `k8scp:*` map decoded into the raw object checkConfig takes,
// and which of its keys hold a secret (asked of the SDK, by default).
import { runtime } from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, isMap } from "./schema";

/** The top-level keys (without namespace) that hold a secret, by raw config from rawConfigFromPulumi. */
const secretKeysOf = new WeakMap<object, readonly string[]>();

/** Whether a raw config came from rawConfigFromPulumi (the stack's config), where secrets can be marked. */
export const configFromStack = (raw: unknown): boolean => isMap(raw) && secretKeysOf.has(raw);

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
