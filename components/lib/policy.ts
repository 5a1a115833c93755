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
