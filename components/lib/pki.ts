// Certificate subjects and SANs for every identity of the control plane. Pure.
import { nthAddress } from "./network";

export interface Sans {
    dnsNames: string[];
    ipAddresses: string[];
}

const uniq = (xs: string[]) => [...new Set(xs)];

/** The `kubernetes` Service IP: the first address of the Service range. */
export function kubernetesServiceIp(serviceCidr: string): string {
    return nthAddress(serviceCidr, 1);
}

/** SANs of the kube-apiserver serving certificate: every name a client may dial. */
export function apiserverSans(a: {
    vip: string;
    masterAddresses: string[];
    masterNames: string[];
    serviceCidr: string;
    clusterDomain: string;
    extraSans?: string[];
}): Sans {
    const svc = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", `kubernetes.default.svc.${a.clusterDomain}`];
    return {
        dnsNames: uniq([...svc, "localhost", ...a.masterNames, ...(a.extraSans ?? []).filter((s) => !/^[\d.:]+$/.test(s))]),
        ipAddresses: uniq([
            a.vip,
            ...a.masterAddresses,
            "127.0.0.1",
            kubernetesServiceIp(a.serviceCidr),
            ...(a.extraSans ?? []).filter((s) => /^[\d.:]+$/.test(s)),
        ]),
    };
}

/** SANs of an etcd member's server and peer certificates. */
export function etcdMemberSans(m: { name: string; address: string }): Sans {
    return { dnsNames: uniq([m.name, "localhost"]), ipAddresses: uniq([m.address, "127.0.0.1"]) };
}

/** Key usages for leaf certificates, as the TLS provider names them. */
export function usages(kind: "client" | "server" | "both"): string[] {
    const base = ["digital_signature", "key_encipherment"];
    if (kind === "client") return [...base, "client_auth"];
    if (kind === "server") return [...base, "server_auth"];
    return [...base, "server_auth", "client_auth"];
}

/** RBAC identities (CN = user, O = group) the runbooks name. */
export const identities = {
    admin: { commonName: "admin", organization: "system:masters" },
    controllerManager: { commonName: "system:kube-controller-manager", organization: "system:kube-controller-manager" },
    scheduler: { commonName: "system:kube-scheduler", organization: "system:kube-scheduler" },
    apiserverKubeletClient: { commonName: "kube-apiserver-kubelet-client", organization: "system:masters" },
    apiserverEtcdClient: { commonName: "kube-apiserver-etcd-client", organization: "" },
    frontProxyClient: { commonName: "front-proxy-client", organization: "" },
} as const;
