// Kubeconfig documents, rendered with a YAML library. Pure.
import { parse, stringify } from "yaml";

export interface KubeconfigSpec {
    clusterName: string;
    server: string;
    caCertPem: string;
    userName: string;
    clientCertPem: string;
    clientKeyPem: string;
    contextName?: string;
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

/** A kubeconfig with the CA, client certificate and key embedded (`--embed-certs`). */
export function renderKubeconfig(k: KubeconfigSpec): string {
    const context = k.contextName ?? "default";
    return stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: k.clusterName, cluster: { server: k.server, "certificate-authority-data": b64(k.caCertPem) } }],
        users: [
            {
                name: k.userName,
                user: { "client-certificate-data": b64(k.clientCertPem), "client-key-data": b64(k.clientKeyPem) },
            },
        ],
        contexts: [{ name: context, context: { cluster: k.clusterName, user: k.userName } }],
        "current-context": context,
        preferences: {},
    });
}

/** Reads back the essentials of a kubeconfig rendered by renderKubeconfig (used by tests and the report). */
export function parseKubeconfig(text: string): KubeconfigSpec {
    const doc = parse(text) as {
        clusters: { name: string; cluster: { server: string; "certificate-authority-data": string } }[];
        users: { name: string; user: { "client-certificate-data": string; "client-key-data": string } }[];
        contexts: { name: string }[];
    };
    const unb64 = (s: string) => Buffer.from(s, "base64").toString("utf8");
    return {
        clusterName: doc.clusters[0].name,
        server: doc.clusters[0].cluster.server,
        caCertPem: unb64(doc.clusters[0].cluster["certificate-authority-data"]),
        userName: doc.users[0].name,
        clientCertPem: unb64(doc.users[0].user["client-certificate-data"]),
        clientKeyPem: unb64(doc.users[0].user["client-key-data"]),
        contextName: doc.contexts[0].name,
    };
}
