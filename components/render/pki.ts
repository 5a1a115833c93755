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

/**
 * RBAC identities (CN = user, O = group). The runbooks put the admin and the API server's kubelet client in
 * `system:masters`, a group no RBAC rule can take anything from; here they are in groups of the library's own, bound
 * to ClusterRoles by the bootstrap step (render/rbac.ts), as kubeadm does since 1.29. Only the break-glass
 * super-admin, which the bootstrap step itself uses, is in `system:masters`.
 */
export const identities = {
    admin: { commonName: "admin", organization: "k8scp:cluster-admins" },
    superAdmin: { commonName: "k8scp-super-admin", organization: "system:masters" },
    controllerManager: { commonName: "system:kube-controller-manager", organization: "system:kube-controller-manager" },
    scheduler: { commonName: "system:kube-scheduler", organization: "system:kube-scheduler" },
    apiserverKubeletClient: { commonName: "kube-apiserver-kubelet-client", organization: "k8scp:apiserver-kubelet-client" },
    apiserverEtcdClient: { commonName: "kube-apiserver-etcd-client", organization: "" },
    frontProxyClient: { commonName: "front-proxy-client", organization: "" },
} as const;

/** Key algorithms for the CAs, the leaves and the service-account key, named as kubeadm names them. */
export const keyAlgorithms = ["ECDSA-P256", "ECDSA-P384", "RSA-2048", "RSA-3072", "RSA-4096"] as const;
export type KeyAlgorithm = (typeof keyAlgorithms)[number];
/**
 * ECDSA P-256 (as k3s and RKE2 make their keys; kubeadm offers it too): a key is made in about 1/20 of the CPU of
 * an RSA-2048 key, signs a TLS handshake in a fraction of its time and takes a seventh of the bytes in the state
 * and in every script and kubeconfig that carries it. The runbooks use RSA-2048, which stays available.
 */
export const defaultKeyAlgorithm: KeyAlgorithm = "ECDSA-P256";

/** The `tls.PrivateKey` arguments of a key algorithm. */
export function privateKeyArgs(a: KeyAlgorithm): { algorithm: "RSA" | "ECDSA"; rsaBits?: number; ecdsaCurve?: string } {
    const [kind, size] = a.split("-");
    return kind === "RSA" ? { algorithm: "RSA", rsaBits: Number(size) } : { algorithm: "ECDSA", ecdsaCurve: size };
}

/**
 * The arguments of a key that are never changed on an existing key: a key is made with the algorithm set at that
 * time and kept when the setting changes. A new CA key rolled out master by master would split trust, and a new
 * service-account key would invalidate every token signed with the old one; leaves follow the same rule, so a
 * changed setting (or default) never re-issues anything by itself. `pulumi up --replace <key's URN>` makes a new one.
 */
export const keyAlgorithmArgs = ["algorithm", "rsaBits", "ecdsaCurve"];
