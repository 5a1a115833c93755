import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { ClientCert, SigningCA } from "./clientCert";
import { Connection, ControlPlaneService, copyTriggers, hashedFileAsset } from "./controlPlaneService";
import { Kubeconfig } from "./kubeconfig";
import { ObservedService } from "./plan/drift";
import { ExtraArgs, Member } from "./render/flags";
import { KeyAlgorithm, apiserverSans, etcdMemberSans, identities } from "./render/pki";
import {
    SnapshotSettings,
    defaultSnapshots,
    renderSnapshotInstallScript,
    renderUploadCredentialsScript,
    snapshotTool,
    snapshotUnits,
    uploadFiles,
} from "./render/backup";
import { renderJoinScript } from "./render/etcd";
import { renderHostCleanupScript, renderHostPrepScript, sudoCommand, sudoScript } from "./render/scripts";
import { ServiceSpec, localApiserverUrl, masterLayout, masterServiceSpecs } from "./render/services";

/** The PKI shared by all masters. */
export interface ClusterPki {
    kubernetesCA: SigningCA;
    etcdCA: SigningCA;
    frontProxyCA: SigningCA;
    serviceAccountPrivateKeyPem: pulumi.Input<string>;
    serviceAccountPublicKeyPem: pulumi.Input<string>;
    /** Secret: the EncryptionConfiguration for Secrets at rest (the same on every apiserver). */
    encryptionConfig: pulumi.Input<string>;
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
    /** The Kubernetes release of the binaries in binDir, e.g. "1.34.4". */
    kubernetesVersion: string;
    /** Leaf certificate validity and renewal window, in hours. Defaults: 8760 and 720. */
    certValidityHours?: number;
    certEarlyRenewalHours?: number;
    /** Algorithm of this master's keys when they are made (existing keys are kept). Default: "ECDSA-P256". */
    keyAlgorithm?: KeyAlgorithm;
    extraArgs?: ExtraArgs;
    /** The same services on the previous master: each of ours restarts only after its twin there is healthy. */
    previous?: MasterNode;
    /**
     * The version skew policy's order across components, for services that already run (a first install starts
     * them together): a controller manager restarts only after all of these (every master's API server) are ready,
     * a scheduler only after every controller manager. So an upgrade brings every API server to the new release,
     * one master at a time, before any controller manager, and every controller manager before any scheduler.
     * Default: none.
     */
    componentOrder?: { controllerManager: pulumi.Input<pulumi.Resource>[]; scheduler: pulumi.Input<pulumi.Resource>[] };
    /** Gate for the API server's first start: the etcd cluster is healthy. */
    etcdHealthy?: pulumi.Input<pulumi.Resource>;
    /** What the host has now, by systemd unit (the program's drift probe). Default: not observed. */
    observed?: Record<string, ObservedService>;
    /**
     * How this member's etcd starts the first time: with the other members as a new cluster ("new", the default),
     * or added to the running cluster with `etcdctl member add` ("join"). A member with data keeps it either way.
     */
    etcdStart?: "new" | "join";
    /** Joining waits for this (the membership step that first removes members that left). */
    joinAfter?: pulumi.Input<pulumi.Resource>;
    /** etcd snapshots on a timer. Default: hourly, 24 kept, in /var/lib/etcd-snapshots. */
    snapshots?: SnapshotSettings;
    /**
     * With `snapshots.upload`: the k8scp-backup binary on the machine running Pulumi (with its sha256), and the
     * bucket's credentials file (secret; see renderUploadCredentials). Required then; unused otherwise.
     */
    snapshotUpload?: { tool: { localPath: string; sha256: string }; credentials: pulumi.Input<string> };
    /**
     * The host is gone for good: only the host resource is registered (retained, its changes ignored), so the
     * master's other resources are dropped from state without contacting it. Default: false.
     */
    gone?: boolean;
}

/** One master: its certificates, and etcd, kube-apiserver, kube-controller-manager and kube-scheduler on its host. */
export class MasterNode extends pulumi.ComponentResource {
    /** The host step: prepares the host; its delete removes everything of the control plane from it. */
    public readonly host: command.remote.Command;
    public readonly etcd!: ControlPlaneService;
    public readonly apiserver!: ControlPlaneService;
    public readonly controllerManager!: ControlPlaneService;
    public readonly scheduler!: ControlPlaneService;
    /** The snapshot timer's install step. */
    public readonly snapshots!: command.remote.Command;
    /** Every certificate of this master, by purpose (none when the master is gone). */
    public readonly certificates: Record<string, ClientCert> = {};

    constructor(name: string, args: MasterNodeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("k8scp:index:MasterNode", name, {}, opts);
        const { self, members } = args;
        const child = { parent: this };
        const snapshots = args.snapshots ?? defaultSnapshots;
        const settings = {
            self,
            members,
            serviceCidr: args.serviceCidr,
            clusterCidr: args.clusterCidr,
            nodeCidrMaskSize: args.nodeCidrMaskSize,
            clusterDomain: args.clusterDomain,
            clusterName: args.clusterName,
            kubernetesVersion: args.kubernetesVersion,
            extraArgs: args.extraArgs,
        };
        // The host step's delete is the one that touches the host when the master goes: everything below it is
        // retained on delete (dropped from state only), so a master whose host is gone can leave the config.
        const cleanup = renderHostCleanupScript(masterLayout(settings), {
            master: self.name,
            units: [snapshotUnits.timer, snapshotUnits.service],
            files: [snapshotTool, uploadFiles.tool, uploadFiles.settings, uploadFiles.credentials, uploadFiles.ca],
            keep: [snapshots.dir],
        });
        this.host = new command.remote.Command(
            `${name}-host`,
            {
                connection: args.connection,
                create: pulumi.output(args.connection.user ?? "root").apply((user) => renderHostPrepScript(user, self.name)),
                delete: sudoCommand(cleanup),
                logging: "stdoutAndStderr",
                addPreviousOutputInEnv: false,
            },
            args.gone ? { parent: this, retainOnDelete: true, ignoreChanges: ["*"] } : child,
        );
        if (args.gone) {
            pulumi.log.info(
                `${self.name} is gone: its resources are dropped without contacting ${self.address}; remove its entry once this run is done`,
                this,
            );
            this.registerOutputs({});
            return;
        }
        const kept = { parent: this, retainOnDelete: true };
        const cert = (
            id: string,
            a: Omit<ConstructorParameters<typeof ClientCert>[1], "validityHours" | "earlyRenewalHours" | "keyAlgorithm">,
        ) =>
            new ClientCert(
                `${name}-${id}`,
                {
                    ...a,
                    validityHours: args.certValidityHours,
                    earlyRenewalHours: args.certEarlyRenewalHours,
                    keyAlgorithm: args.keyAlgorithm,
                },
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
        const localServer = localApiserverUrl(self);
        const kubeconfig = (id: string, c: ClientCert, userName: string) =>
            new Kubeconfig(
                `${name}-${id}`,
                { server: localServer, caCertPem: k8sCA.certPem, userName, clientCertPem: c.certPem, clientKeyPem: c.privateKeyPem },
                child,
            );
        const cmKubeconfig = kubeconfig("controller-manager", cmCert, identities.controllerManager.commonName);
        const schedKubeconfig = kubeconfig("scheduler", schedCert, identities.scheduler.commonName);

        const prep = this.host;
        const spec = masterServiceSpecs<pulumi.Input<string>>({
            ...settings,
            pem: {
                etcdCA: args.pki.etcdCA.certPem,
                kubernetesCA: k8sCA,
                frontProxyCA: args.pki.frontProxyCA.certPem,
                serviceAccount: { publicKeyPem: args.pki.serviceAccountPublicKeyPem, privateKeyPem: args.pki.serviceAccountPrivateKeyPem },
                encryptionConfig: args.pki.encryptionConfig,
                etcdServer,
                etcdPeer,
                etcdClient,
                apiserver: apiserverCert,
                kubeletClient,
                frontProxyClient,
            },
            kubeconfigs: { controllerManager: cmKubeconfig.content, scheduler: schedKubeconfig.content },
        });
        // One copy at a time on this host, across its services: with a connection per operation (the official
        // command plugin), the steps a host starts at once stay under sshd's default MaxStartups of 10.
        let lastCopy: pulumi.Resource | undefined;
        const service = (id: string, spec: ServiceSpec<pulumi.Input<string>>, waitFor: pulumi.Input<pulumi.Resource>[]) => {
            const s = new ControlPlaneService(
                `${name}-${id}`,
                {
                    ...spec,
                    connection: args.connection,
                    hostReady: prep,
                    stageAfter: lastCopy,
                    binaries: spec.binaries.map((n) => ({ name: n, localPath: path.join(args.binDir, n) })),
                    waitFor,
                    observed: args.observed?.[spec.service],
                },
                kept,
            );
            lastCopy = s.staged[s.staged.length - 1];
            return s;
        };
        // Rolling: a service waits for its twin on the previous master only when it already runs here. A first
        // install (the drift probe found no record of it) has nothing serving to protect, so new masters start their
        // services in parallel. Without the probe (preflight off) every service rolls.
        const joining = args.etcdStart === "join";
        const established = (unit: string) => args.observed?.[unit]?.service.state !== "new";
        const prevOf = (unit: string) => (established(unit) ? args.previous : undefined);
        const orderedAfter = (unit: string, gates: pulumi.Input<pulumi.Resource>[] | undefined) => (established(unit) ? (gates ?? []) : []);
        const prev = args.previous;
        // Before etcd's first start: a new cluster's initial members, or `member add` when joining a running one.
        let joined: (r: pulumi.Resource) => void = () => undefined;
        const join = new Promise<pulumi.Resource>((resolve) => (joined = resolve));
        const prevEtcd = prevOf(spec.etcd.service);
        this.etcd = service("etcd", spec.etcd, [join, ...(prevEtcd ? [prevEtcd.etcd.ready] : [])]);
        joined(
            new command.remote.Command(
                `${name}-etcd-member`,
                {
                    connection: args.connection,
                    create: sudoScript("create"),
                    stdin: renderJoinScript({ self, members, mode: args.etcdStart ?? "new" }),
                    logging: "stdoutAndStderr",
                },
                {
                    ...kept,
                    // Runs once, before the first start: afterwards the member has data and etcd ignores it.
                    ignoreChanges: ["stdin"],
                    dependsOn: [
                        this.etcd.files,
                        ...this.etcd.staged,
                        ...(args.joinAfter ? [args.joinAfter] : []),
                        // Members join one at a time: the previous one is added and healthy first.
                        ...(joining && prev ? [prev.etcd.ready] : []),
                    ],
                },
            ),
        );
        this.apiserver = service("apiserver", spec.apiserver, [
            this.etcd.ready,
            ...(args.etcdHealthy ? [args.etcdHealthy] : []),
            ...(prevOf(spec.apiserver.service) ? [prev!.apiserver.ready] : []),
        ]);
        this.controllerManager = service("controller-manager", spec.controllerManager, [
            this.apiserver.ready,
            ...(prevOf(spec.controllerManager.service) ? [prev!.controllerManager.ready] : []),
            ...orderedAfter(spec.controllerManager.service, args.componentOrder?.controllerManager),
        ]);
        this.scheduler = service("scheduler", spec.scheduler, [
            this.apiserver.ready,
            ...(prevOf(spec.scheduler.service) ? [prev!.scheduler.ready] : []),
            ...orderedAfter(spec.scheduler.service, args.componentOrder?.scheduler),
        ]);
        // Uploads: the tool is staged after this host's other copies (one at a time), the credentials written by a
        // step of their own whose stdin is secret, so that the install step stays readable in the preview.
        const upload = snapshots.upload ? args.snapshotUpload : undefined;
        if (snapshots.upload && !upload)
            throw new Error(`MasterNode ${name}: snapshots.upload needs snapshotUpload (the tool and the credentials)`);
        const uploadSteps = upload
            ? [
                  new command.remote.CopyToRemote(
                      `${name}-k8scp-backup`,
                      {
                          connection: args.connection,
                          source: hashedFileAsset(upload.tool.localPath, upload.tool.sha256),
                          remotePath: uploadFiles.staged,
                          triggers: copyTriggers(args.connection, upload.tool.sha256),
                      },
                      { ...kept, dependsOn: [prep, ...(lastCopy ? [lastCopy] : [])] },
                  ),
                  new command.remote.Command(
                      `${name}-etcd-snapshot-credentials`,
                      {
                          connection: args.connection,
                          create: sudoScript("create"),
                          update: sudoScript("update"),
                          stdin: pulumi.secret(pulumi.output(upload.credentials).apply(renderUploadCredentialsScript)),
                          logging: "none",
                          addPreviousOutputInEnv: false,
                      },
                      { ...kept, dependsOn: [prep], additionalSecretOutputs: ["stdout", "stderr"] },
                  ),
              ]
            : [];
        this.snapshots = new command.remote.Command(
            `${name}-etcd-snapshots`,
            {
                connection: args.connection,
                create: sudoScript("create"),
                update: sudoScript("update"),
                delete: sudoScript("delete"),
                stdin: renderSnapshotInstallScript(self, snapshots, upload?.tool.sha256),
                logging: "stdoutAndStderr",
                addPreviousOutputInEnv: false,
            },
            { ...kept, dependsOn: [this.etcd.ready, ...uploadSteps] },
        );
        this.registerOutputs({});
    }
}
