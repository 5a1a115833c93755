// The service specs masterNode.ts and apiServerLoadBalancer.ts deploy, from the same pure functions
// (components/render/services.ts), without Pulumi: certificates from OpensslPki instead of the TLS provider.
import { renderEncryptionConfig } from "../../../components/render/policy";
import { ExtraArgs, Member } from "../../../components/render/flags";
import { renderKubeconfig } from "../../../components/render/kubeconfig";
import { apiserverSans, etcdMemberSans, identities } from "../../../components/render/pki";
import { ServiceScriptSpec, renderServiceScript } from "../../../components/render/scripts";
import { ServiceSpec, haproxyService, localApiserverUrl, masterServiceSpecs, renderServiceUnit } from "../../../components/render/services";
import { toolchainPins } from "../../lib/lab";
import { KeyPair, OpensslPki } from "./pki";

/** The release of the toolchain's binaries, which the host-side test runs. */
const kubernetesVersion = toolchainPins().kubernetes;

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

export type ServiceDef = ServiceSpec<string>;

/** What ControlPlaneService renders for one service: unit + script (user = the service name). */
export function serviceScript(d: ServiceDef, sha: (binary: string) => string): { spec: ServiceScriptSpec; script: string } {
    const unit = renderServiceUnit({
        description: d.description,
        binary: d.binaries[0],
        args: d.args,
        user: d.service,
        unitType: d.unitType,
        after: d.after,
        writablePaths: d.dataDirs,
        environmentFile: d.environmentFile,
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
export function masterServices(certs: MasterCerts, pki: ClusterPki, c: ClusterSettings, self: Member, extra: ExtraArgs = {}) {
    const { members } = c;
    const k8sCA = pki.kubernetesCA;
    const { etcdServer, etcdPeer, etcdClient, apiserverCert, kubeletClient, frontProxyClient, cmCert, schedCert } = certs;

    const kubeconfig = (cert: KeyPair, userName: string) =>
        renderKubeconfig({
            clusterName: "kubernetes",
            server: localApiserverUrl(self),
            caCertPem: k8sCA.certPem,
            userName,
            clientCertPem: cert.certPem,
            clientKeyPem: cert.privateKeyPem,
        });
    return masterServiceSpecs<string>({
        kubernetesVersion,
        self,
        members,
        serviceCidr: c.serviceCidr,
        clusterCidr: c.clusterCidr,
        nodeCidrMaskSize: c.nodeCidrMaskSize,
        clusterDomain: c.clusterDomain,
        clusterName: c.clusterName,
        extraArgs: extra,
        pem: {
            etcdCA: pki.etcdCA.certPem,
            kubernetesCA: k8sCA,
            frontProxyCA: pki.frontProxyCA.certPem,
            serviceAccount: pki.sa,
            encryptionConfig: renderEncryptionConfig(Buffer.alloc(32, 7).toString("base64")),
            etcdServer,
            etcdPeer,
            etcdClient,
            apiserver: apiserverCert,
            kubeletClient,
            frontProxyClient,
        },
        kubeconfigs: {
            controllerManager: kubeconfig(cmCert, identities.controllerManager.commonName),
            scheduler: kubeconfig(schedCert, identities.scheduler.commonName),
        },
    });
}

/** Exactly the script apiServerLoadBalancer.ts renders. */
export const haproxyScript = (backends: Member[], port = 6443): string => haproxyService(backends, port).script;
