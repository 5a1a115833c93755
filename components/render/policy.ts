// Static documents the apiserver reads (the audit policy, the authentication and encryption configs) and the
// release rules they follow. Pure.
import { stringify } from "yaml";
import * as semver from "semver";

/** The minor release of a Kubernetes version ("1.34.4" or "v1.34.4" -> 34), or undefined when it is not one. */
export function kubernetesMinor(version: string): number | undefined {
    return semver.coerce(version)?.minor;
}

/** Metadata for everything, no bodies of Secrets/ConfigMaps/tokens, request bodies for writes elsewhere. */
export function renderAuditPolicy(): string {
    return stringify({
        apiVersion: "audit.k8s.io/v1",
        kind: "Policy",
        omitStages: ["RequestReceived"],
        rules: [
            { level: "None", users: ["system:kube-proxy"], verbs: ["watch"] },
            { level: "None", nonResourceURLs: ["/healthz*", "/livez*", "/readyz*", "/version"] },
            { level: "None", resources: [{ group: "coordination.k8s.io", resources: ["leases"] }], verbs: ["get", "update"] },
            {
                level: "Metadata",
                resources: [
                    { group: "", resources: ["secrets", "configmaps", "serviceaccounts/token"] },
                    { group: "authentication.k8s.io", resources: ["tokenreviews"] },
                ],
            },
            { level: "Request", verbs: ["create", "update", "patch", "delete", "deletecollection"] },
            { level: "Metadata" },
        ],
    });
}

/**
 * Secrets encryption at rest: Secrets are written with secretbox (XSalsa20-Poly1305) under `keyBase64` (32 random
 * bytes); `identity` last, so Secrets written before encryption was enabled stay readable until rewritten.
 */
export function renderEncryptionConfig(keyBase64: string, keyName = "key1"): string {
    return stringify({
        apiVersion: "apiserver.config.k8s.io/v1",
        kind: "EncryptionConfiguration",
        resources: [
            { resources: ["secrets"], providers: [{ secretbox: { keys: [{ name: keyName, secret: keyBase64 }] } }, { identity: {} }] },
        ],
    });
}

/** Paths an unauthenticated client may reach: the health endpoints the load balancer and health gates probe. */
export const anonymousPaths = ["/healthz", "/livez", "/readyz"];

/** The oldest Kubernetes minor release (1.x) whose AuthenticationConfiguration can limit anonymous requests to paths. */
export const minimumKubernetesMinor = 32;

/**
 * The AuthenticationConfiguration's apiVersion for a Kubernetes release: one that release and the minor before it
 * both read, so that during an upgrade (one minor at a time) an API server still on the old release can restart with
 * the new file. v1 is read from 1.34 on, v1beta1 from 1.32 on (and still by 1.34).
 */
export function authenticationConfigApiVersion(kubernetesVersion: string): string {
    return (kubernetesMinor(kubernetesVersion) ?? 0) >= 35 ? "apiserver.config.k8s.io/v1" : "apiserver.config.k8s.io/v1beta1";
}

/**
 * Structured authentication config: anonymous requests only to the health endpoints (everything else needs a
 * client certificate or a token), instead of `--anonymous-auth=true` for every path.
 */
export function renderAuthenticationConfig(kubernetesVersion: string): string {
    return stringify({
        apiVersion: authenticationConfigApiVersion(kubernetesVersion),
        kind: "AuthenticationConfiguration",
        anonymous: { enabled: true, conditions: anonymousPaths.map((p) => ({ path: p })) },
    });
}

/**
 * Event rate limits (CIS 1.2.9): for the whole server, per namespace and per user. Generous enough for the control
 * plane's own events in a burst (a rollout, a failing Deployment), low enough that one client cannot flood etcd.
 */
export const eventRateLimits = [
    { type: "Server", qps: 5000, burst: 20000 },
    { type: "Namespace", qps: 500, burst: 1000, cacheSize: 5000 },
    { type: "User", qps: 200, burst: 500, cacheSize: 5000 },
];

/** The AdmissionConfiguration (`--admission-control-config-file`): the EventRateLimit plugin's limits. */
export function renderAdmissionConfig(): string {
    return stringify({
        apiVersion: "apiserver.config.k8s.io/v1",
        kind: "AdmissionConfiguration",
        plugins: [
            {
                name: "EventRateLimit",
                configuration: { apiVersion: "eventratelimit.admission.k8s.io/v1alpha1", kind: "Configuration", limits: eventRateLimits },
            },
        ],
    });
}
