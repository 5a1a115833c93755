// The service specs components/masterNode.ts, controlPlaneService.ts and apiServerLoadBalancer.ts build,
// rebuilt here from the same pure renderers without Pulumi (certificates from OpensslPki instead of the TLS provider).
import * as path from "node:path";
import {
    Member,
    apiserverFlags,
    auditLogPath,
    auditPolicyPath,
    controllerManagerFlags,
    etcdFlags,
    healthUrls,
    kubeconfigPath,
    paths,
    pkiFile,
    renderArgs,
    schedulerFlags,
    serviceNames as svc,
} from "../../../components/lib/flags";
import { renderHaproxyConfig } from "../../../components/lib/haproxy";
import { renderKubeconfig } from "../../../components/lib/kubeconfig";
import { apiserverSans, etcdMemberSans, identities } from "../../../components/lib/pki";
import { renderAuditPolicy } from "../../../components/lib/policy";
import { HealthCheck, ServiceFile, ServiceScriptSpec, renderServiceScript } from "../../../components/lib/scripts";
import { renderUnit } from "../../../components/lib/systemd";
import { KeyPair, OpensslPki } from "./pki";

export interface ClusterPki {
    kubernetesCA: KeyPair;
    etcdCA: KeyPair;
    frontProxyCA: KeyPair;
    sa: { privateKeyPem: string; publicKeyPem: string };
}

export interface ClusterSettings {
    members: Member[];
    vip: string;
    serviceCidr: string;
    clusterCidr: string;
    nodeCidrMaskSize: number;
    clusterDomain: string;
    clusterName: string;
}

export function clusterPki(p: OpensslPki): ClusterPki {
    return {
        kubernetesCA: p.ca("kubernetes-ca"),
        etcdCA: p.ca("etcd-ca"),
        frontProxyCA: p.ca("front-proxy-ca"),
        sa: p.serviceAccount(),
    };
}

export interface ServiceDef {
    service: string;
    description: string;
    binaries: string[];
    args: string[];
    files: ServiceFile[];
    dataDirs?: string[];
    unitType?: "simple" | "notify";
    after?: string[];
    health: HealthCheck;
    bootstrapWithoutWait?: boolean;
}

/** What ControlPlaneService renders for one service: unit + script (user = the service name). */
export function serviceScript(d: ServiceDef, sha: (binary: string) => string): { spec: ServiceScriptSpec; script: string } {
    const unit = renderUnit({
        description: d.description,
        exec: `${paths.bin}/${d.binaries[0]}`,
        args: d.args,
        user: d.service,
        type: d.unitType,
        after: d.after,
        wants: d.after,
        documentation: "https://kubernetes.io/docs/reference/command-line-tools-reference/",
    });
    const spec: ServiceScriptSpec = {
        name: d.service,
        user: d.service,
        unit,
        binaries: d.binaries.map((n) => ({ name: n, sha256: sha(n) })),
        files: d.files,
        dataDirs: d.dataDirs,
        health: d.health,
        bootstrapWithoutWait: d.bootstrapWithoutWait,
    };
    return { spec, script: renderServiceScript(spec) };
}

export type Extra = {
    etcd?: Record<string, string>;
    apiserver?: Record<string, string>;
    controllerManager?: Record<string, string>;
    scheduler?: Record<string, string>;
};

/** The leaf certificates of one master, with the CN/O/SANs/usages of masterNode.ts. */
export function masterCerts(p: OpensslPki, pki: ClusterPki, c: ClusterSettings, self: Member) {
    const k8sCA = pki.kubernetesCA;
    const sans = etcdMemberSans(self);
    return {
        etcdServer: p.leaf(pki.etcdCA, { commonName: self.name, usage: "both", ...sans }),
        etcdPeer: p.leaf(pki.etcdCA, { commonName: self.name, usage: "both", ...sans }),
        etcdClient: p.leaf(pki.etcdCA, { ...identities.apiserverEtcdClient }),
        apiserverCert: p.leaf(k8sCA, {
            commonName: "kube-apiserver",
            usage: "server",
            ...apiserverSans({
                vip: c.vip,
                masterAddresses: c.members.map((m) => m.address),
                masterNames: c.members.map((m) => m.name),
                serviceCidr: c.serviceCidr,
                clusterDomain: c.clusterDomain,
            }),
        }),
        kubeletClient: p.leaf(k8sCA, { ...identities.apiserverKubeletClient }),
        frontProxyClient: p.leaf(pki.frontProxyCA, { ...identities.frontProxyClient }),
        cmCert: p.leaf(k8sCA, { ...identities.controllerManager }),
        schedCert: p.leaf(k8sCA, { ...identities.scheduler }),
    };
}
export type MasterCerts = ReturnType<typeof masterCerts>;

/** The four service definitions of one master, as masterNode.ts builds them. */
export function masterServices(certs: MasterCerts, pki: ClusterPki, c: ClusterSettings, self: Member, extra: Extra = {}) {
    const { members } = c;
    const k8sCA = pki.kubernetesCA;
    const { etcdServer, etcdPeer, etcdClient, apiserverCert, kubeletClient, frontProxyClient, cmCert, schedCert } = certs;

    const localServer = `https://${self.address}:6443`;
    const kubeconfig = (cert: KeyPair, userName: string) =>
        renderKubeconfig({
            clusterName: "kubernetes",
            server: localServer,
            caCertPem: k8sCA.certPem,
            userName,
            clientCertPem: cert.certPem,
            clientKeyPem: cert.privateKeyPem,
        });
    const files = (service: string, list: [string, string, boolean?][]): ServiceFile[] =>
        list.map(([f, content, secret]) => ({ path: pkiFile(service, f), content, mode: secret ? "0600" : "0644" }));

    const etcd: ServiceDef = {
        service: svc.etcd,
        description: "etcd key-value store (Kubernetes backing store)",
        binaries: ["etcd", "etcdctl"],
        args: renderArgs(etcdFlags({ self, members, clusterName: c.clusterName }), extra.etcd),
        files: files(svc.etcd, [
            ["etcd-ca.pem", pki.etcdCA.certPem],
            ["etcd-server.pem", etcdServer.certPem],
            ["etcd-server-key.pem", etcdServer.privateKeyPem, true],
            ["etcd-peer.pem", etcdPeer.certPem],
            ["etcd-peer-key.pem", etcdPeer.privateKeyPem, true],
        ]),
        dataDirs: [paths.etcdData],
        unitType: "notify",
        health: {
            url: healthUrls.etcd(self.address),
            caFile: pkiFile(svc.etcd, "etcd-ca.pem"),
            clientCertFile: pkiFile(svc.etcd, "etcd-server.pem"),
            clientKeyFile: pkiFile(svc.etcd, "etcd-server-key.pem"),
        },
        bootstrapWithoutWait: true,
    };
    const apiserver: ServiceDef = {
        service: svc.apiserver,
        description: "Kubernetes API server",
        binaries: ["kube-apiserver"],
        args: renderArgs(
            apiserverFlags({
                address: self.address,
                etcdMembers: members,
                serviceCidr: c.serviceCidr,
                clusterDomain: c.clusterDomain,
                apiserverCount: members.length,
            }),
            extra.apiserver,
        ),
        files: [
            ...files(svc.apiserver, [
                ["ca.pem", k8sCA.certPem],
                ["apiserver.pem", apiserverCert.certPem],
                ["apiserver-key.pem", apiserverCert.privateKeyPem, true],
                ["etcd-ca.pem", pki.etcdCA.certPem],
                ["apiserver-etcd-client.pem", etcdClient.certPem],
                ["apiserver-etcd-client-key.pem", etcdClient.privateKeyPem, true],
                ["apiserver-kubelet-client.pem", kubeletClient.certPem],
                ["apiserver-kubelet-client-key.pem", kubeletClient.privateKeyPem, true],
                ["front-proxy-ca.pem", pki.frontProxyCA.certPem],
                ["front-proxy-client.pem", frontProxyClient.certPem],
                ["front-proxy-client-key.pem", frontProxyClient.privateKeyPem, true],
                ["sa.pub", pki.sa.publicKeyPem],
                ["sa.key", pki.sa.privateKeyPem, true],
            ]),
            { path: auditPolicyPath, content: renderAuditPolicy(), mode: "0644" },
        ],
        dataDirs: [path.dirname(auditLogPath)],
        unitType: "notify",
        after: ["etcd.service"],
        health: { url: healthUrls.apiserver(self.address), caFile: pkiFile(svc.apiserver, "ca.pem") },
    };
    const controllerManager: ServiceDef = {
        service: svc.controllerManager,
        description: "Kubernetes controller manager",
        binaries: ["kube-controller-manager"],
        args: renderArgs(
            controllerManagerFlags({
                address: self.address,
                clusterCidr: c.clusterCidr,
                nodeCidrMaskSize: c.nodeCidrMaskSize,
                clusterName: c.clusterName,
                serviceCidr: c.serviceCidr,
            }),
            extra.controllerManager,
        ),
        files: [
            ...files(svc.controllerManager, [
                ["ca.pem", k8sCA.certPem],
                ["ca-key.pem", k8sCA.privateKeyPem, true],
                ["front-proxy-ca.pem", pki.frontProxyCA.certPem],
                ["sa.key", pki.sa.privateKeyPem, true],
            ]),
            {
                path: kubeconfigPath(svc.controllerManager),
                content: kubeconfig(cmCert, identities.controllerManager.commonName),
                mode: "0600",
            },
        ],
        after: ["kube-apiserver.service"],
        health: { url: healthUrls.controllerManager(self.address) },
    };
    const scheduler: ServiceDef = {
        service: svc.scheduler,
        description: "Kubernetes scheduler",
        binaries: ["kube-scheduler"],
        args: renderArgs(schedulerFlags({ address: self.address }), extra.scheduler),
        files: [{ path: kubeconfigPath(svc.scheduler), content: kubeconfig(schedCert, identities.scheduler.commonName), mode: "0600" }],
        after: ["kube-apiserver.service"],
        health: { url: healthUrls.scheduler(self.address) },
    };
    return { etcd, apiserver, controllerManager, scheduler };
}

export const haproxyConfigPath = "/etc/kubernetes/k8scp-haproxy/haproxy.cfg";

/** Exactly the script apiServerLoadBalancer.ts renders. */
export function haproxyScript(backends: Member[], port = 6443): string {
    const config = renderHaproxyConfig({ port, backends });
    const unit = renderUnit({
        description: "HAProxy load balancer for kube-apiserver (k8scp)",
        exec: "/usr/sbin/haproxy",
        args: ["-Ws", "-f", haproxyConfigPath],
        type: "notify",
        serviceExtra: { ExecReload: "/bin/kill -USR2 $MAINPID", KillMode: "mixed" },
    });
    return renderServiceScript({
        name: "k8scp-haproxy",
        user: "root",
        unit,
        binaries: [],
        files: [{ path: haproxyConfigPath, content: config, mode: "0644" }],
        requires: ["/usr/sbin/haproxy"],
        validate: `haproxy -c -q -f ${haproxyConfigPath}`,
        reload: true,
        health: { url: `tcp://127.0.0.1:${port}`, timeoutSeconds: 30 },
    });
}
