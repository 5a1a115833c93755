import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { ClientCert, SigningCA } from "./clientCert";
import { Connection, ControlPlaneService, ServiceFileArgs } from "./controlPlaneService";
import { Kubeconfig } from "./kubeconfig";
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
} from "./lib/flags";
import { apiserverSans, etcdMemberSans, identities } from "./lib/pki";
import { renderAuditPolicy } from "./lib/policy";
import { hostCleanupScript, renderHostPrepScript } from "./lib/scripts";

/** The PKI shared by all masters. */
export interface ClusterPki {
    kubernetesCA: SigningCA;
    etcdCA: SigningCA;
    frontProxyCA: SigningCA;
    serviceAccountPrivateKeyPem: pulumi.Input<string>;
    serviceAccountPublicKeyPem: pulumi.Input<string>;
}

export interface MasterNodeArgs {
    /** This master: name (also the etcd member name) and address. */
    self: Member;
    /** Every master, this one included, in rolling order. */
    members: Member[];
    connection: Connection;
    pki: ClusterPki;
    /** Local directory with etcd, etcdctl, kube-apiserver, kube-controller-manager, kube-scheduler. */
    binDir: string;
    vip: string;
    serviceCidr: string;
    clusterCidr: string;
    nodeCidrMaskSize: number;
    clusterDomain: string;
    clusterName: string;
    /** Leaf certificate validity and renewal window, in hours. Defaults: 8760 and 720. */
    certValidityHours?: number;
    certEarlyRenewalHours?: number;
    extraArgs?: {
        etcd?: Record<string, string>;
        apiserver?: Record<string, string>;
        controllerManager?: Record<string, string>;
        scheduler?: Record<string, string>;
    };
    /** The same services on the previous master: each of ours restarts only after its twin there is healthy. */
    previous?: MasterNode;
    /** Gate for the API server's first start: the etcd cluster is healthy. */
    etcdHealthy?: pulumi.Input<pulumi.Resource>;
}

/** One master: its certificates, and etcd, kube-apiserver, kube-controller-manager and kube-scheduler on its host. */
export class MasterNode extends pulumi.ComponentResource {
    public readonly etcd: ControlPlaneService;
    public readonly apiserver: ControlPlaneService;
    public readonly controllerManager: ControlPlaneService;
    public readonly scheduler: ControlPlaneService;
    /** Every certificate of this master, by purpose. */
    public readonly certificates: Record<string, ClientCert>;

    constructor(name: string, args: MasterNodeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("k8scp:index:MasterNode", name, {}, opts);
        const { self, members } = args;
        const child = { parent: this };
        const cert = (id: string, a: Omit<ConstructorParameters<typeof ClientCert>[1], "validityHours" | "earlyRenewalHours">) =>
            new ClientCert(
                `${name}-${id}`,
                { ...a, validityHours: args.certValidityHours, earlyRenewalHours: args.certEarlyRenewalHours },
                child,
            );
        const k8sCA = args.pki.kubernetesCA;
        const sans = etcdMemberSans(self);
        const etcdServer = cert("etcd-server", { ca: args.pki.etcdCA, commonName: self.name, usage: "both", ...sans });
        const etcdPeer = cert("etcd-peer", { ca: args.pki.etcdCA, commonName: self.name, usage: "both", ...sans });
        const etcdClient = cert("apiserver-etcd-client", { ca: args.pki.etcdCA, ...identities.apiserverEtcdClient });
        const apiserverCert = cert("apiserver", {
            ca: k8sCA,
            commonName: "kube-apiserver",
            usage: "server",
            ...apiserverSans({
                vip: args.vip,
                masterAddresses: members.map((m) => m.address),
                masterNames: members.map((m) => m.name),
                serviceCidr: args.serviceCidr,
                clusterDomain: args.clusterDomain,
            }),
        });
        const kubeletClient = cert("apiserver-kubelet-client", { ca: k8sCA, ...identities.apiserverKubeletClient });
        const frontProxyClient = cert("front-proxy-client", { ca: args.pki.frontProxyCA, ...identities.frontProxyClient });
        const cmCert = cert("controller-manager", { ca: k8sCA, ...identities.controllerManager });
        const schedCert = cert("scheduler", { ca: k8sCA, ...identities.scheduler });
        this.certificates = {
            "etcd-server": etcdServer,
            "etcd-peer": etcdPeer,
            "apiserver-etcd-client": etcdClient,
            apiserver: apiserverCert,
            "apiserver-kubelet-client": kubeletClient,
            "front-proxy-client": frontProxyClient,
            "controller-manager": cmCert,
            scheduler: schedCert,
        };

        // Co-located controller-manager and scheduler talk to their own API server, not through the VIP.
        const localServer = `https://${self.address}:6443`;
        const kubeconfig = (id: string, c: ClientCert, userName: string) =>
            new Kubeconfig(
                `${name}-${id}`,
                { server: localServer, caCertPem: k8sCA.certPem, userName, clientCertPem: c.certPem, clientKeyPem: c.privateKeyPem },
                child,
            );
        const cmKubeconfig = kubeconfig("controller-manager", cmCert, identities.controllerManager.commonName);
        const schedKubeconfig = kubeconfig("scheduler", schedCert, identities.scheduler.commonName);

        const prep = new command.remote.Command(
            `${name}-host`,
            {
                connection: args.connection,
                create: pulumi.output(args.connection.user ?? "root").apply(renderHostPrepScript),
                delete: hostCleanupScript,
                logging: "stdoutAndStderr",
            },
            child,
        );
        const bin = (n: string) => ({ name: n, localPath: path.join(args.binDir, n) });
        const files = (service: string, list: [string, pulumi.Input<string>, boolean?][]): ServiceFileArgs[] =>
            list.map(([f, content, secret]) => ({ path: pkiFile(service, f), content, mode: secret ? "0600" : "0644" }));
        const common = { connection: args.connection, hostReady: prep };

        this.etcd = new ControlPlaneService(
            `${name}-etcd`,
            {
                ...common,
                service: svc.etcd,
                description: "etcd key-value store (Kubernetes backing store)",
                binaries: [bin("etcd"), bin("etcdctl")],
                args: renderArgs(etcdFlags({ self, members, clusterName: args.clusterName }), args.extraArgs?.etcd),
                files: files(svc.etcd, [
                    ["etcd-ca.pem", args.pki.etcdCA.certPem],
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
                waitFor: args.previous ? [args.previous.etcd.ready] : [],
            },
            child,
        );

        this.apiserver = new ControlPlaneService(
            `${name}-apiserver`,
            {
                ...common,
                service: svc.apiserver,
                description: "Kubernetes API server",
                binaries: [bin("kube-apiserver")],
                args: renderArgs(
                    apiserverFlags({
                        address: self.address,
                        etcdMembers: members,
                        serviceCidr: args.serviceCidr,
                        clusterDomain: args.clusterDomain,
                        apiserverCount: members.length,
                    }),
                    args.extraArgs?.apiserver,
                ),
                files: [
                    ...files(svc.apiserver, [
                        ["ca.pem", k8sCA.certPem],
                        ["apiserver.pem", apiserverCert.certPem],
                        ["apiserver-key.pem", apiserverCert.privateKeyPem, true],
                        ["etcd-ca.pem", args.pki.etcdCA.certPem],
                        ["apiserver-etcd-client.pem", etcdClient.certPem],
                        ["apiserver-etcd-client-key.pem", etcdClient.privateKeyPem, true],
                        ["apiserver-kubelet-client.pem", kubeletClient.certPem],
                        ["apiserver-kubelet-client-key.pem", kubeletClient.privateKeyPem, true],
                        ["front-proxy-ca.pem", args.pki.frontProxyCA.certPem],
                        ["front-proxy-client.pem", frontProxyClient.certPem],
                        ["front-proxy-client-key.pem", frontProxyClient.privateKeyPem, true],
                        ["sa.pub", args.pki.serviceAccountPublicKeyPem],
                        ["sa.key", args.pki.serviceAccountPrivateKeyPem, true],
                    ]),
                    { path: auditPolicyPath, content: renderAuditPolicy(), mode: "0644" },
                ],
                dataDirs: [path.dirname(auditLogPath)],
                unitType: "notify",
                after: ["etcd.service"],
                health: { url: healthUrls.apiserver(self.address), caFile: pkiFile(svc.apiserver, "ca.pem") },
                waitFor: [
                    this.etcd.ready,
                    ...(args.etcdHealthy ? [args.etcdHealthy] : []),
                    ...(args.previous ? [args.previous.apiserver.ready] : []),
                ],
            },
            child,
        );

        this.controllerManager = new ControlPlaneService(
            `${name}-controller-manager`,
            {
                ...common,
                service: svc.controllerManager,
                description: "Kubernetes controller manager",
                binaries: [bin("kube-controller-manager")],
                args: renderArgs(
                    controllerManagerFlags({
                        address: self.address,
                        clusterCidr: args.clusterCidr,
                        nodeCidrMaskSize: args.nodeCidrMaskSize,
                        clusterName: args.clusterName,
                        serviceCidr: args.serviceCidr,
                    }),
                    args.extraArgs?.controllerManager,
                ),
                files: [
                    ...files(svc.controllerManager, [
                        ["ca.pem", k8sCA.certPem],
                        ["ca-key.pem", k8sCA.privateKeyPem, true],
                        ["front-proxy-ca.pem", args.pki.frontProxyCA.certPem],
                        ["sa.key", args.pki.serviceAccountPrivateKeyPem, true],
                    ]),
                    { path: kubeconfigPath(svc.controllerManager), content: cmKubeconfig.content, mode: "0600" },
                ],
                after: ["kube-apiserver.service"],
                health: { url: healthUrls.controllerManager(self.address) },
                waitFor: [this.apiserver.ready, ...(args.previous ? [args.previous.controllerManager.ready] : [])],
            },
            child,
        );

        this.scheduler = new ControlPlaneService(
            `${name}-scheduler`,
            {
                ...common,
                service: svc.scheduler,
                description: "Kubernetes scheduler",
                binaries: [bin("kube-scheduler")],
                args: renderArgs(schedulerFlags({ address: self.address }), args.extraArgs?.scheduler),
                files: [{ path: kubeconfigPath(svc.scheduler), content: schedKubeconfig.content, mode: "0600" }],
                after: ["kube-apiserver.service"],
                health: { url: healthUrls.scheduler(self.address) },
                waitFor: [this.apiserver.ready, ...(args.previous ? [args.previous.scheduler.ready] : [])],
            },
            child,
        );
        this.registerOutputs({});
    }
}
