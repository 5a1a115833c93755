// checkConfig: the one check of a raw config: the schema's field checks and every rule whose fields are valid,
// all problems in one run, ordered by config key. Pure.
import { ConfigError, Issue, issueProblems, sortProblems } from "./messages";
import { goneCredentialWarnings, secretProblems, securityOverrides, semanticProblems, unguardedOptIns, uploadRules } from "./rules";
import { ClusterConfig, PartialConfig, clusterConfigSchema, isMap, partialOf } from "./schema";
import { configFromStack, configSecretKeys } from "./stack";

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
export function checkConfig(raw: unknown, secretKeys: readonly string[] = configSecretKeys(raw)): ConfigCheck {
    const parsed = clusterConfigSchema.safeParse(raw, { reportInput: true });
    const partial = (partialOf(clusterConfigSchema, raw) ?? {}) as PartialConfig;
    const security = securityOverrides(partial);
    const upload = uploadRules(partial, secretKeys, configFromStack(raw));
    const problems = [
        ...(parsed.success ? [] : (parsed.error.issues as Issue[]).flatMap(issueProblems)),
        ...semanticProblems(partial, isMap(raw) ? raw : {}),
        ...security.problems,
        ...unguardedOptIns(partial),
        ...secretProblems(secretKeys),
        ...upload.problems,
    ];
    return {
        config: parsed.success && problems.length === 0 ? parsed.data : undefined,
        partial,
        problems: sortProblems(problems),
        warnings: sortProblems([...security.warnings, ...upload.warnings, ...goneCredentialWarnings(partial)]),
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
