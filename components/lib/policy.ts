// Static documents the apiserver reads: the audit policy. Pure.
import { stringify } from "yaml";

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

/**
 * Structured authentication config: anonymous requests only to the health endpoints (everything else needs a
 * client certificate or a token), instead of `--anonymous-auth=true` for every path.
 */
export function renderAuthenticationConfig(): string {
    return stringify({
        apiVersion: "apiserver.config.k8s.io/v1",
        kind: "AuthenticationConfiguration",
        anonymous: { enabled: true, conditions: anonymousPaths.map((p) => ({ path: p })) },
    });
}
