// Command-line flags of each control-plane binary, as the runbooks set them (modern equivalents). Pure.

/** Where everything lives on a master. */
export const paths = {
    bin: "/usr/local/bin",
    /** Each service owns /etc/kubernetes/<service>/ (0700, its user): its certs, keys and kubeconfig. */
    conf: "/etc/kubernetes",
    etcdData: "/var/lib/etcd",
    logs: "/var/log/kubernetes",
    /** Binaries are copied here by the SSH user first (no root needed), then installed by the service step. */
    staging: "/var/lib/k8scp/staging",
} as const;

export const serviceNames = {
    etcd: "etcd",
    apiserver: "kube-apiserver",
    controllerManager: "kube-controller-manager",
    scheduler: "kube-scheduler",
} as const;

/** The directory a service owns. */
export const serviceDir = (service: string) => `${paths.conf}/${service}`;
/** A certificate or key file of a service. */
export const pkiFile = (service: string, f: string) => `${serviceDir(service)}/pki/${f}`;
/** The kubeconfig of a service. */
export const kubeconfigPath = (service: string) => `${serviceDir(service)}/kubeconfig`;
export const auditPolicyPath = `${serviceDir("kube-apiserver")}/audit-policy.yaml`;
export const auditLogPath = `${paths.logs}/kube-apiserver/audit.log`;
export const encryptionConfigPath = `${serviceDir("kube-apiserver")}/encryption-config.yaml`;
export const authenticationConfigPath = `${serviceDir("kube-apiserver")}/authentication-config.yaml`;
export const admissionConfigPath = `${serviceDir("kube-apiserver")}/admission-config.yaml`;

/**
 * TLS 1.2 cipher suites every server of the control plane offers (CIS 1.2.29, etcd the same): ECDHE key exchange
 * with AES-GCM or ChaCha20-Poly1305 only, for ECDSA and RSA keys (`keyAlgorithm`). TLS 1.3 suites are Go's own and
 * not configurable; TLS 1.0 and 1.1 are off (`--tls-min-version`).
 */
export const tlsCipherSuites = [
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];
export const tlsMinVersion = "VersionTLS12";
/** Terminated Pods kept before the controller manager deletes them (CIS 1.3.1); kube-controller-manager's default. */
export const terminatedPodGcThreshold = 12500;

/** The control-plane services, by their config keys (`k8scp:apiserver`, ...). */
export type Component = keyof typeof serviceNames;
export const components = Object.keys(serviceNames) as Component[];

export type FlagValue = string | number | boolean | string[];
export type Flags = Record<string, FlagValue>;

/** A flag's value as the command line carries it: lists joined by commas. */
export const flagText = (v: FlagValue): string => (Array.isArray(v) ? v.join(",") : String(v));

/** An extraArgs key without its optional leading `--`. */
export const flagName = (key: string): string => key.replace(/^--/, "");

/**
 * Extra or overriding flags by service (the config keys `k8scp:<service>.extraArgs`): flag name, with or without the
 * leading `--`, to its value.
 */
export type ExtraArgs = { [C in Component]?: Record<string, string> };

/** Renders flags as `--name=value`, sorted by name, with `extraArgs` overriding or adding. */
export function renderArgs(flags: Flags, extraArgs: Record<string, string> = {}): string[] {
    const merged: Record<string, string> = {};
    for (const [k, v] of Object.entries(flags)) merged[k] = flagText(v);
    for (const [k, v] of Object.entries(extraArgs)) merged[flagName(k)] = v;
    return Object.keys(merged)
        .sort()
        .map((k) => `--${k}=${merged[k]}`);
}

export interface Member {
    name: string;
    address: string;
}

export const etcdClientUrl = (m: Member) => `https://${m.address}:2379`;
export const etcdPeerUrl = (m: Member) => `https://${m.address}:2380`;

/**
 * etcd's flags. The initial cluster and its state are not flags: the join step writes them to an environment
 * file (etcd.ts) before the first start, so that adding or removing members does not change the other members' units.
 */
export function etcdFlags(a: { self: Member; clusterName: string }): Flags {
    const pki = (f: string) => pkiFile(serviceNames.etcd, f);
    return {
        name: a.self.name,
        "data-dir": paths.etcdData,
        "listen-client-urls": [etcdClientUrl(a.self), "https://127.0.0.1:2379"],
        "advertise-client-urls": etcdClientUrl(a.self),
        "listen-peer-urls": etcdPeerUrl(a.self),
        "initial-advertise-peer-urls": etcdPeerUrl(a.self),
        "initial-cluster-token": `${a.clusterName}-etcd`,
        "cert-file": pki("etcd-server.pem"),
        "key-file": pki("etcd-server-key.pem"),
        "client-cert-auth": true,
        "trusted-ca-file": pki("etcd-ca.pem"),
        "peer-cert-file": pki("etcd-peer.pem"),
        "peer-key-file": pki("etcd-peer-key.pem"),
        "peer-client-cert-auth": true,
        "peer-trusted-ca-file": pki("etcd-ca.pem"),
        "listen-metrics-urls": "http://127.0.0.1:2381",
        "auto-compaction-mode": "periodic",
        "auto-compaction-retention": "1h",
        "quota-backend-bytes": 8589934592,
        "heartbeat-interval": 250,
        "election-timeout": 2500,
        "cipher-suites": tlsCipherSuites,
    };
}

export const admissionPlugins = [
    "NamespaceLifecycle",
    "LimitRanger",
    "ServiceAccount",
    "DefaultStorageClass",
    "DefaultTolerationSeconds",
    "MutatingAdmissionWebhook",
    "ValidatingAdmissionWebhook",
    "ResourceQuota",
    "NodeRestriction",
    // CIS 1.2.3: no Service may set externalIPs (a way to intercept another Service's traffic, CVE-2020-8554).
    "DenyServiceExternalIPs",
    // CIS 1.2.9: events per second limited (admission-config.yaml), so that no client floods etcd with events.
    "EventRateLimit",
];

export function apiserverFlags(a: {
    address: string;
    etcdMembers: Member[];
    serviceCidr: string;
    clusterDomain: string;
    apiserverCount: number;
}): Flags {
    const pki = (f: string) => pkiFile(serviceNames.apiserver, f);
    return {
        "advertise-address": a.address,
        "bind-address": a.address,
        "secure-port": 6443,
        "etcd-servers": a.etcdMembers.map(etcdClientUrl),
        "etcd-cafile": pki("etcd-ca.pem"),
        "etcd-certfile": pki("apiserver-etcd-client.pem"),
        "etcd-keyfile": pki("apiserver-etcd-client-key.pem"),
        "service-cluster-ip-range": a.serviceCidr,
        "service-node-port-range": "30000-32767",
        "enable-admission-plugins": admissionPlugins,
        "admission-control-config-file": admissionConfigPath,
        "authorization-mode": ["Node", "RBAC"],
        "allow-privileged": true,
        "client-ca-file": pki("ca.pem"),
        "tls-cert-file": pki("apiserver.pem"),
        "tls-private-key-file": pki("apiserver-key.pem"),
        "tls-cipher-suites": tlsCipherSuites,
        "tls-min-version": tlsMinVersion,
        "kubelet-client-certificate": pki("apiserver-kubelet-client.pem"),
        "kubelet-client-key": pki("apiserver-kubelet-client-key.pem"),
        "service-account-issuer": `https://kubernetes.default.svc.${a.clusterDomain}`,
        "service-account-key-file": pki("sa.pub"),
        "service-account-signing-key-file": pki("sa.key"),
        "requestheader-client-ca-file": pki("front-proxy-ca.pem"),
        "requestheader-allowed-names": "front-proxy-client",
        "requestheader-extra-headers-prefix": "X-Remote-Extra-",
        "requestheader-group-headers": "X-Remote-Group",
        "requestheader-username-headers": "X-Remote-User",
        "proxy-client-cert-file": pki("front-proxy-client.pem"),
        "proxy-client-key-file": pki("front-proxy-client-key.pem"),
        "enable-aggregator-routing": true,
        "audit-log-path": auditLogPath,
        "audit-log-maxage": 30,
        "audit-log-maxbackup": 10,
        "audit-log-maxsize": 100,
        "audit-policy-file": auditPolicyPath,
        // Secrets encrypted at rest in etcd; anonymous requests only to the health endpoints.
        "encryption-provider-config": encryptionConfigPath,
        "authentication-config": authenticationConfigPath,
        "apiserver-count": a.apiserverCount,
        "endpoint-reconciler-type": "lease",
        "event-ttl": "168h",
        // On SIGTERM /readyz fails at once while requests are still served for this long, so the load balancer
        // (checking /readyz every second, down after two failures) drains this apiserver before it stops.
        "shutdown-delay-duration": "5s",
        // Then requests still arriving get 429 with Retry-After, and the HTTP server stops 2 s after the last request
        // that is not a watch, instead of waiting --request-timeout (60 s) for connections that carry watches.
        "shutdown-send-retry-after": true,
        profiling: false,
        v: 2,
    };
}

export function controllerManagerFlags(a: {
    address: string;
    clusterCidr: string;
    nodeCidrMaskSize: number;
    clusterName: string;
    serviceCidr: string;
}): Flags {
    const kc = kubeconfigPath(serviceNames.controllerManager);
    const pki = (f: string) => pkiFile(serviceNames.controllerManager, f);
    return {
        "bind-address": a.address,
        "secure-port": 10257,
        kubeconfig: kc,
        "authentication-kubeconfig": kc,
        "authorization-kubeconfig": kc,
        "allocate-node-cidrs": true,
        "cluster-cidr": a.clusterCidr,
        "node-cidr-mask-size": a.nodeCidrMaskSize,
        "cluster-name": a.clusterName,
        "cluster-signing-cert-file": pki("ca.pem"),
        "cluster-signing-key-file": pki("ca-key.pem"),
        "root-ca-file": pki("ca.pem"),
        "client-ca-file": pki("ca.pem"),
        "requestheader-client-ca-file": pki("front-proxy-ca.pem"),
        "service-account-private-key-file": pki("sa.key"),
        "service-cluster-ip-range": a.serviceCidr,
        "use-service-account-credentials": true,
        controllers: ["*", "bootstrapsigner", "tokencleaner"],
        "terminated-pod-gc-threshold": terminatedPodGcThreshold,
        "tls-cipher-suites": tlsCipherSuites,
        "tls-min-version": tlsMinVersion,
        "leader-elect": true,
        profiling: false,
        v: 2,
    };
}

export function schedulerFlags(a: { address: string }): Flags {
    const kc = kubeconfigPath(serviceNames.scheduler);
    return {
        "bind-address": a.address,
        "secure-port": 10259,
        kubeconfig: kc,
        "authentication-kubeconfig": kc,
        "authorization-kubeconfig": kc,
        "tls-cipher-suites": tlsCipherSuites,
        "tls-min-version": tlsMinVersion,
        "leader-elect": true,
        profiling: false,
        v: 2,
    };
}

/**
 * Flags that decide who may connect and what they may do (authentication, authorisation, TLS, admission, audit,
 * profiling, listening addresses): extraArgs may change them only when `k8scp:allowSecurityOverrides` names them.
 */
const managerSecurityFlags = [
    "use-service-account-credentials",
    "root-ca-file",
    "service-account-private-key-file",
    "authentication-kubeconfig",
    "authorization-kubeconfig",
    "kubeconfig",
    "profiling",
    "bind-address",
    "tls-cipher-suites",
    "tls-min-version",
];
export const securityFlags: Record<Component, readonly string[]> = {
    etcd: [
        "client-cert-auth",
        "peer-client-cert-auth",
        "trusted-ca-file",
        "peer-trusted-ca-file",
        "cert-file",
        "key-file",
        "peer-cert-file",
        "peer-key-file",
        "auto-tls",
        "peer-auto-tls",
        "cipher-suites",
    ],
    apiserver: [
        "authorization-mode",
        "anonymous-auth",
        "authentication-config",
        "client-ca-file",
        "encryption-provider-config",
        "enable-admission-plugins",
        "disable-admission-plugins",
        "admission-control-config-file",
        "tls-cipher-suites",
        "tls-min-version",
        "insecure-port",
        "kubelet-certificate-authority",
        "tls-cert-file",
        "tls-private-key-file",
        "service-account-key-file",
        "service-account-signing-key-file",
        "etcd-cafile",
        "etcd-certfile",
        "etcd-keyfile",
        "audit-log-path",
        "audit-policy-file",
        "profiling",
        "requestheader-client-ca-file",
        "token-auth-file",
    ],
    controllerManager: managerSecurityFlags,
    scheduler: managerSecurityFlags,
};

/** What the flags of one master's services depend on. */
export interface MasterFlagsInput {
    self: Member;
    members: Member[];
    serviceCidr: string;
    clusterCidr: string;
    nodeCidrMaskSize: number;
    clusterDomain: string;
    clusterName: string;
}

/** The flags of every service of one master, before extraArgs. */
export function masterFlags(a: MasterFlagsInput): Record<Component, Flags> {
    const address = a.self.address;
    return {
        etcd: etcdFlags({ self: a.self, clusterName: a.clusterName }),
        apiserver: apiserverFlags({
            address,
            etcdMembers: a.members,
            serviceCidr: a.serviceCidr,
            clusterDomain: a.clusterDomain,
            apiserverCount: a.members.length,
        }),
        controllerManager: controllerManagerFlags({
            address,
            clusterCidr: a.clusterCidr,
            nodeCidrMaskSize: a.nodeCidrMaskSize,
            clusterName: a.clusterName,
            serviceCidr: a.serviceCidr,
        }),
        scheduler: schedulerFlags({ address }),
    };
}

/** Health endpoints each service must answer before it counts as created or updated. */
export const healthUrls = {
    etcd: (address: string) => `https://${address}:2379/health`,
    apiserver: (address: string) => `https://${address}:6443/readyz`,
    controllerManager: (address: string) => `https://${address}:10257/healthz`,
    scheduler: (address: string) => `https://${address}:10259/healthz`,
};
