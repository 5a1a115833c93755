// The config: its schema and defaults (schema.ts), how its problems read (messages.ts), the cross-field rules
// (rules.ts), the one check that runs them all (check.ts), known_hosts files (knownHosts.ts) and the stack config as
// Pulumi passes it (stack.ts). Pure, except that rawConfigFromPulumi asks the SDK which keys hold secrets.
export { checkConfig, validateConfig, ConfigCheck } from "./check";
export { hostKeyFromKnownHosts, hostKeysFromKnownHosts, isRsaHostKey, knownHostsHost, strongestHostKey } from "./knownHosts";
export { ConfigError, closestKey, configKey, describeValue, sortProblems } from "./messages";
export {
    CONFIG_NAMESPACE,
    ClusterConfig,
    ClusterConfigInput,
    LoadBalancerConfig,
    MasterConfig,
    PartialConfig,
    clusterConfigSchema,
    snapshotDirProblem,
} from "./schema";
export { configSecretKeys, rawConfigFromPulumi } from "./stack";
