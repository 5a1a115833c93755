// What each service of a master is made of: binaries, flags, files, health check, unit. Pure and generic over
// the content type, so MasterNode feeds it Pulumi Inputs and the host-side test feeds it plain strings.
import * as path from "node:path";
import {
    Component,
    ExtraArgs,
    Member,
    admissionConfigPath,
    auditLogPath,
    auditPolicyPath,
    authenticationConfigPath,
    encryptionConfigPath,
    healthUrls,
    kubeconfigPath,
    MasterFlagsInput,
    masterFlags,
    paths,
    pkiFile,
    renderArgs,
    serviceNames as svc,
} from "./flags";
import { etcdInitialClusterEnv } from "./etcd";
import { renderHaproxyConfig } from "./haproxy";
import { renderAdmissionConfig, renderAuditPolicy, renderAuthenticationConfig } from "./policy";
import { HealthCheck, renderServiceScript } from "./scripts";
import { renderUnit } from "./systemd";

export interface Pem<T> {
    certPem: T;
    privateKeyPem: T;
}

/** One service of a master; ControlPlaneServiceArgs shares its fields (but binaries, args and files, given there as Inputs). */
export interface ServiceSpec<T> {
    /** systemd unit name without `.service`, e.g. "kube-scheduler". */
    service: string;
    description: string;
    /** Binary names; the first is ExecStart. */
    binaries: string[];
    /** Command-line flags, already rendered (`--name=value`). */
    args: string[];
    files: { path: string; content: T | string; mode: string }[];
    /** Directories the service owns (0700), e.g. a data dir; removed on delete. Default: none. */
    dataDirs?: string[];
    /** "notify" for binaries that report readiness to systemd. Default: "simple". */
    unitType?: "simple" | "notify";
    /** Units ordered before this one and wanted by it, e.g. ["etcd.service"]. Default: none. */
    after?: string[];
    /** The endpoint that must answer before the service counts as created or updated. */
    health: HealthCheck;
    /** Start without waiting for health on first creation (etcd members): always, or when this shell test succeeds. Default: false. */
    bootstrapWithoutWait?: boolean | string;
    /** An environment file the unit reads if present, written by another step. Default: none. */
    environmentFile?: string;
}

export interface MasterServicesInput<T> extends MasterFlagsInput {
    /** The Kubernetes release the binaries are (some files differ by release), e.g. "1.34.4". */
    kubernetesVersion: string;
    extraArgs?: ExtraArgs;
    pem: {
        etcdCA: T;
        kubernetesCA: Pem<T>;
        frontProxyCA: T;
        serviceAccount: { publicKeyPem: T; privateKeyPem: T };
        /** The EncryptionConfiguration document with the key for Secrets at rest (see renderEncryptionConfig). */
        encryptionConfig: T;
        etcdServer: Pem<T>;
        etcdPeer: Pem<T>;
        etcdClient: Pem<T>;
        apiserver: Pem<T>;
        kubeletClient: Pem<T>;
        frontProxyClient: Pem<T>;
    };
    kubeconfigs: { controllerManager: T; scheduler: T };
}

/** Co-located controller-manager and scheduler talk to their own API server, not through the VIP. */
export const localApiserverUrl = (self: Member) => `https://${self.address}:6443`;

/** The four services of one master. */
export function masterServiceSpecs<T>(a: MasterServicesInput<T>): Record<Component, ServiceSpec<T>> {
    const { self, pem } = a;
    const flags = masterFlags(a);
    // Certificates 0600 like the keys (CIS 1.1.20): only the service user reads its own directory anyway.
    const files = (service: string, list: [string, T][]) =>
        list.map(([f, content]) => ({ path: pkiFile(service, f), content, mode: "0600" }));
    return {
        etcd: {
            service: svc.etcd,
            description: "etcd key-value store (Kubernetes backing store)",
            binaries: ["etcd", "etcdctl", "etcdutl"],
            args: renderArgs(flags.etcd, a.extraArgs?.etcd),
            files: files(svc.etcd, [
                ["etcd-ca.pem", pem.etcdCA],
                ["etcd-server.pem", pem.etcdServer.certPem],
                ["etcd-server-key.pem", pem.etcdServer.privateKeyPem],
                ["etcd-peer.pem", pem.etcdPeer.certPem],
                ["etcd-peer-key.pem", pem.etcdPeer.privateKeyPem],
            ]),
            dataDirs: [paths.etcdData],
            unitType: "notify",
            health: {
                url: healthUrls.etcd(self.address),
                caFile: pkiFile(svc.etcd, "etcd-ca.pem"),
                clientCertFile: pkiFile(svc.etcd, "etcd-server.pem"),
                clientKeyFile: pkiFile(svc.etcd, "etcd-server-key.pem"),
            },
            // Members of a new cluster become healthy together: the first start of each does not wait.
            bootstrapWithoutWait: `grep -qx ETCD_INITIAL_CLUSTER_STATE=new ${etcdInitialClusterEnv}`,
            environmentFile: etcdInitialClusterEnv,
        },
        apiserver: {
            service: svc.apiserver,
            description: "Kubernetes API server",
            binaries: ["kube-apiserver"],
            args: renderArgs(flags.apiserver, a.extraArgs?.apiserver),
            files: [
                ...files(svc.apiserver, [
                    ["ca.pem", pem.kubernetesCA.certPem],
                    ["apiserver.pem", pem.apiserver.certPem],
                    ["apiserver-key.pem", pem.apiserver.privateKeyPem],
                    ["etcd-ca.pem", pem.etcdCA],
                    ["apiserver-etcd-client.pem", pem.etcdClient.certPem],
                    ["apiserver-etcd-client-key.pem", pem.etcdClient.privateKeyPem],
                    ["apiserver-kubelet-client.pem", pem.kubeletClient.certPem],
                    ["apiserver-kubelet-client-key.pem", pem.kubeletClient.privateKeyPem],
                    ["front-proxy-ca.pem", pem.frontProxyCA],
                    ["front-proxy-client.pem", pem.frontProxyClient.certPem],
                    ["front-proxy-client-key.pem", pem.frontProxyClient.privateKeyPem],
                    ["sa.pub", pem.serviceAccount.publicKeyPem],
                    ["sa.key", pem.serviceAccount.privateKeyPem],
                ]),
                { path: auditPolicyPath, content: renderAuditPolicy(), mode: "0644" },
                { path: authenticationConfigPath, content: renderAuthenticationConfig(a.kubernetesVersion), mode: "0644" },
                { path: admissionConfigPath, content: renderAdmissionConfig(), mode: "0644" },
                { path: encryptionConfigPath, content: pem.encryptionConfig, mode: "0600" },
            ],
            dataDirs: [path.dirname(auditLogPath)],
            unitType: "notify",
            after: ["etcd.service"],
            health: { url: healthUrls.apiserver(self.address), caFile: pkiFile(svc.apiserver, "ca.pem") },
        },
        controllerManager: {
            service: svc.controllerManager,
            description: "Kubernetes controller manager",
            binaries: ["kube-controller-manager"],
            args: renderArgs(flags.controllerManager, a.extraArgs?.controllerManager),
            files: [
                ...files(svc.controllerManager, [
                    ["ca.pem", pem.kubernetesCA.certPem],
                    ["ca-key.pem", pem.kubernetesCA.privateKeyPem],
                    ["front-proxy-ca.pem", pem.frontProxyCA],
                    ["sa.key", pem.serviceAccount.privateKeyPem],
                ]),
                { path: kubeconfigPath(svc.controllerManager), content: a.kubeconfigs.controllerManager, mode: "0600" },
            ],
            after: ["kube-apiserver.service"],
            health: { url: healthUrls.controllerManager(self.address) },
        },
        scheduler: {
            service: svc.scheduler,
            description: "Kubernetes scheduler",
            binaries: ["kube-scheduler"],
            args: renderArgs(flags.scheduler, a.extraArgs?.scheduler),
            files: [{ path: kubeconfigPath(svc.scheduler), content: a.kubeconfigs.scheduler, mode: "0600" }],
            after: ["kube-apiserver.service"],
            health: { url: healthUrls.scheduler(self.address) },
        },
    };
}

/** The unit of a service: runs its first binary as its own user (the service name unless given). */
export function renderServiceUnit(a: {
    description: string;
    binary: string;
    args: string[];
    user: string;
    unitType?: "simple" | "notify";
    after?: string[];
    environmentFile?: string;
    /** Directories the service writes (its data dirs); the rest of the file system is read-only to it. */
    writablePaths?: string[];
}): string {
    return renderUnit({
        description: a.description,
        exec: `${paths.bin}/${a.binary}`,
        args: a.args,
        user: a.user,
        type: a.unitType,
        after: a.after,
        wants: a.after,
        environmentFile: a.environmentFile,
        documentation: "https://kubernetes.io/docs/reference/command-line-tools-reference/",
        serviceExtra: sandbox(a.writablePaths ?? []),
    });
}

export const haproxyConfigPath = "/etc/kubernetes/k8scp-haproxy/haproxy.cfg";
/** The system user HAProxy runs as (made by the script, removed with it); not the distribution's `haproxy`. */
export const haproxyUser = "k8scp-haproxy";

/**
 * HAProxy's config and the service script that installs it as `k8scp-haproxy` (distribution haproxy binary): as its
 * own system user with the control plane's sandbox. It binds an unprivileged port (6443 by default; the config check
 * refuses a managed load balancer on a port below 1024) and needs no capability: it neither chroots nor changes user
 * (the config has no `chroot`, `user` or `group`). `-Ws` is master-worker mode with systemd notification.
 */
export function haproxyService(backends: Member[], port = 6443): { config: string; script: string } {
    const config = renderHaproxyConfig({ port, backends });
    const unit = renderUnit({
        description: "HAProxy load balancer for kube-apiserver (k8scp)",
        exec: "/usr/sbin/haproxy",
        args: ["-Ws", "-f", haproxyConfigPath],
        user: haproxyUser,
        type: "notify",
        serviceExtra: { ExecReload: "/bin/kill -USR2 $MAINPID", KillMode: "mixed", ...sandbox([]) },
    });
    const script = renderServiceScript({
        name: "k8scp-haproxy",
        user: haproxyUser,
        unit,
        binaries: [],
        files: [{ path: haproxyConfigPath, content: config, mode: "0644" }],
        requires: ["/usr/sbin/haproxy"],
        validate: `haproxy -c -q -f ${haproxyConfigPath}`,
        reload: true,
        health: { url: `tcp://127.0.0.1:${port}`, timeoutSeconds: 30 },
    });
    return { config, script };
}

/**
 * systemd sandboxing every control-plane binary tolerates: no privileges or capabilities (all listen on ports
 * above 1024), a read-only file system except the service's own data directories, no access to home
 * directories, devices, kernel tunables, modules, logs or the clock, and only IP, Unix and netlink sockets.
 */
export function sandbox(writablePaths: string[]): Record<string, string> {
    return {
        NoNewPrivileges: "yes",
        CapabilityBoundingSet: "",
        AmbientCapabilities: "",
        ProtectSystem: "strict",
        ...(writablePaths.length ? { ReadWritePaths: writablePaths.join(" ") } : {}),
        ProtectHome: "yes",
        PrivateTmp: "yes",
        PrivateDevices: "yes",
        ProtectKernelTunables: "yes",
        ProtectKernelModules: "yes",
        ProtectKernelLogs: "yes",
        ProtectControlGroups: "yes",
        ProtectClock: "yes",
        ProtectHostname: "yes",
        RestrictSUIDSGID: "yes",
        RestrictRealtime: "yes",
        RestrictNamespaces: "yes",
        LockPersonality: "yes",
        RestrictAddressFamilies: "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
        SystemCallArchitectures: "native",
    };
}

/** The services of a master without their contents: names, binaries, file paths and data directories. */
export function masterLayout(a: Omit<MasterServicesInput<string>, "pem" | "kubeconfigs">): ServiceSpec<string>[] {
    const pair = { certPem: "", privateKeyPem: "" };
    const pem = {
        etcdCA: "",
        kubernetesCA: pair,
        frontProxyCA: "",
        serviceAccount: { publicKeyPem: "", privateKeyPem: "" },
        encryptionConfig: "",
        etcdServer: pair,
        etcdPeer: pair,
        etcdClient: pair,
        apiserver: pair,
        kubeletClient: pair,
        frontProxyClient: pair,
    };
    return Object.values(masterServiceSpecs<string>({ ...a, pem, kubeconfigs: { controllerManager: "", scheduler: "" } }));
}
