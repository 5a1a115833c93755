import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as random from "@pulumi/random";
import { ApiServerLoadBalancer } from "./apiServerLoadBalancer";
import { EtcdRestore } from "./etcdRestore";
import { ClientCert } from "./clientCert";
import { Connection } from "./controlPlaneService";
import { Kubeconfig } from "./kubeconfig";
import { MasterNode } from "./masterNode";
import { PrivateCA } from "./privateCA";
import { newPrivateKey } from "./privateKey";
import { ClusterConfig } from "./lib/config";
import { ObservedService } from "./lib/drift";
import { renderEtcdHealthWait, renderMembershipScript } from "./lib/etcd";
import { sudoCommand, sudoScript } from "./lib/scripts";
import { identities } from "./lib/pki";
import { renderEncryptionConfig } from "./lib/policy";

export interface ControlPlaneArgs {
    /** Validated cluster config (see `validateConfig`). */
    config: ClusterConfig;
    /** SSH private key for every host (secret). */
    sshPrivateKey: pulumi.Input<string>;
    /** Local directory with the binaries. */
    binDir: string;
    /** What each master has now, by master name and systemd unit (see `observeDrift`). Default: not observed. */
    observed?: Record<string, Record<string, ObservedService>>;
    /**
     * Masters whose etcd joins the running cluster (`member add`) instead of starting a new one with the others:
     * those without etcd data while a cluster exists (see `planMembership`). Default: none.
     */
    etcdJoining?: string[];
    /** Restore every etcd member from this snapshot (once per content). Default: none. */
    etcdRestore?: { path: string; sha256: string };
}

/** `n` promises and the function that resolves them with `n` resources (for dependencies on later siblings). */
function resolvedLater(n: number): { promises: Promise<pulumi.Resource>[]; resolve: (rs: pulumi.Resource[]) => void } {
    const resolvers: ((r: pulumi.Resource) => void)[] = [];
    const promises = Array.from({ length: n }, () => new Promise<pulumi.Resource>((r) => resolvers.push(r)));
    return {
        promises,
        resolve: (rs) => {
            if (rs.length !== n) throw new Error(`expected ${n} resources, got ${rs.length}`);
            rs.forEach((r, i) => resolvers[i](r));
        },
    };
}

export interface CertificateExpiry {
    name: string;
    notAfter: string;
}

/** An HA control plane over N masters: the PKI, one MasterNode per master, and the VIP load balancer. */
export class ControlPlane extends pulumi.ComponentResource {
    /** `https://<vip>:<port>`. */
    public readonly endpoint: pulumi.Output<string>;
    public readonly kubernetesCaCertPem: pulumi.Output<string>;
    /** Secret. */
    public readonly kubernetesCaKeyPem: pulumi.Output<string>;
    public readonly etcdCaCertPem: pulumi.Output<string>;
    /** Secret: a cluster-admin kubeconfig (O=system:masters) pointing at the VIP. */
    public readonly adminKubeconfig: pulumi.Output<string>;
    /** Every certificate with its expiry, sorted by expiry. */
    public readonly certificates: pulumi.Output<CertificateExpiry[]>;
    public readonly masters: MasterNode[];

    constructor(name: string, args: ControlPlaneArgs, opts?: pulumi.ComponentResourceOptions) {
        super("k8scp:index:ControlPlane", name, {}, opts);
        const c = args.config;
        const child = { parent: this };
        const key = pulumi.secret(args.sshPrivateKey);
        const connection = (t: { address: string; sshUser: string; sshPort: number; hostKey?: string }): Connection => ({
            host: t.address,
            port: t.sshPort,
            user: t.sshUser,
            privateKey: key,
            hostKey: t.hostKey,
            // Fail in about half a minute (not 150 s) when a host does not answer, naming it in the error.
            dialErrorLimit: 3,
            perDialTimeout: 10,
        });
        // CAs are never re-issued by a routine run: a new CA rolled out master by master would split trust (etcd
        // peers, kubeconfigs) halfway through. Their expiry is an output and warned about; rotation is a procedure.
        const ca = (id: string, commonName: string) => {
            const authority = new PrivateCA(
                `${name}-${id}`,
                { commonName, validityHours: c.caValidityHours, earlyRenewalHours: 0, algorithm: c.keyAlgorithm },
                child,
            );
            authority.notAfter.apply((t) => {
                const days = (Date.parse(t) - Date.now()) / 86_400_000;
                if (days < 365)
                    pulumi.log.warn(
                        `${commonName} expires on ${t} (in ${Math.floor(days)} days): rotate it (README: CA rotation)`,
                        authority,
                    );
            });
            return authority;
        };
        const kubernetesCA = ca("kubernetes-ca", "kubernetes-ca");
        const etcdCA = ca("etcd-ca", "etcd-ca");
        const frontProxyCA = ca("front-proxy-ca", "front-proxy-ca");
        const saKey = newPrivateKey(`${name}-service-account-key`, c.keyAlgorithm, { parent: this });
        const encryptionKey = new random.RandomBytes(
            `${name}-secrets-encryption-key`,
            { length: 32 },
            { parent: this, additionalSecretOutputs: ["base64", "hex"] },
        );
        const pki = {
            encryptionConfig: pulumi.secret(encryptionKey.base64.apply((k) => renderEncryptionConfig(k))),
            kubernetesCA,
            etcdCA,
            frontProxyCA,
            serviceAccountPrivateKeyPem: pulumi.secret(saKey.privateKeyPem),
            serviceAccountPublicKeyPem: saKey.publicKeyPem,
        };
        // Masters marked gone are out of everything: etcd members, flags, SANs, load balancer backends.
        const active = c.masters.filter((m) => !m.gone);
        const members = active.map((m) => ({ name: m.name, address: m.address }));
        const joining = new Set(args.etcdJoining ?? []);

        // etcd members start together; this gate waits until the cluster has quorum and every member is healthy.
        this.masters = [];
        let startedAll: (r: pulumi.Resource[]) => void = () => undefined;
        const etcdStarted = new Promise<pulumi.Resource[]>((resolve) => (startedAll = resolve));
        const first = active[0];
        const etcdGate = new command.remote.Command(
            `${name}-etcd-cluster-healthy`,
            {
                connection: connection(first),
                create: sudoCommand(renderEtcdHealthWait(members)),
                logging: "stdoutAndStderr",
            },
            // Only the first start of a new cluster waits for it; members that join later wait for their own health.
            { parent: this, dependsOn: etcdStarted, ignoreChanges: ["*"], retainOnDelete: true },
        );
        // Members that left the config (scaled down, or gone) are removed through a member that stays, before any
        // new member is added: etcd keeps quorum throughout. The script refuses to remove a majority at once.
        const membership = new command.remote.Command(
            `${name}-etcd-members`,
            {
                connection: connection(first),
                create: sudoScript("create"),
                update: sudoScript("update"),
                stdin: renderMembershipScript(members),
                logging: "stdoutAndStderr",
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: [etcdGate], retainOnDelete: true },
        );

        // The order across components (MasterNode's componentOrder): every API server, then every controller manager.
        // The nodes are made one after another, so each gets promises, resolved once all of them exist.
        const apiservers = resolvedLater(active.length);
        const controllerManagers = resolvedLater(active.length);
        let previous: MasterNode | undefined;
        for (const m of c.masters) {
            const node: MasterNode = new MasterNode(
                `${name}-${m.name}`,
                {
                    self: { name: m.name, address: m.address },
                    members,
                    connection: connection(m),
                    pki,
                    binDir: args.binDir,
                    vip: c.loadBalancer.address,
                    serviceCidr: c.serviceCidr,
                    clusterCidr: c.clusterCidr,
                    nodeCidrMaskSize: c.nodeCidrMaskSize,
                    clusterDomain: c.clusterDomain,
                    clusterName: c.clusterName,
                    kubernetesVersion: c.kubernetesVersion,
                    certValidityHours: c.certValidityHours,
                    certEarlyRenewalHours: c.certEarlyRenewalHours,
                    keyAlgorithm: c.keyAlgorithm,
                    extraArgs: {
                        etcd: c.etcd.extraArgs,
                        apiserver: c.apiserver.extraArgs,
                        controllerManager: c.controllerManager.extraArgs,
                        scheduler: c.scheduler.extraArgs,
                    },
                    previous: m.gone ? undefined : previous,
                    componentOrder: { controllerManager: apiservers.promises, scheduler: controllerManagers.promises },
                    etcdHealthy: etcdGate,
                    observed: args.observed?.[m.name],
                    etcdStart: joining.has(m.name) ? "join" : "new",
                    joinAfter: joining.has(m.name) ? membership : undefined,
                    snapshots: c.etcdSnapshots,
                    gone: m.gone,
                },
                child,
            );
            this.masters.push(node);
            if (!m.gone) previous = node;
        }
        // The masters that stay, with their nodes (a gone master's node holds only its retained host step).
        const running = active.map((m) => ({ m, node: this.masters[c.masters.indexOf(m)] }));
        apiservers.resolve(running.map(({ node }) => node.apiserver.ready));
        controllerManagers.resolve(running.map(({ node }) => node.controllerManager.ready));
        // The gate runs after every member of a new cluster was started (they start without waiting for each other).
        startedAll(running.filter(({ m }) => !joining.has(m.name)).map(({ node }) => node.etcd.ready));
        const restore = args.etcdRestore
            ? new EtcdRestore(
                  `${name}-etcd-restore`,
                  {
                      masters: running.map(({ m }) => ({
                          member: { name: m.name, address: m.address },
                          connection: connection(m),
                          after: running.flatMap(({ node }) => [node.scheduler.ready, node.controllerManager.ready, node.snapshots]),
                      })),
                      clusterName: c.clusterName,
                      snapshot: args.etcdRestore,
                  },
                  child,
              )
            : undefined;

        const lb = c.loadBalancer;
        const lbComponent = lb.manage
            ? new ApiServerLoadBalancer(
                  `${name}-lb`,
                  {
                      connection: connection(lb),
                      port: lb.port,
                      backends: members,
                      waitFor: [...running.map(({ node }) => node.apiserver.ready), ...(restore?.done ?? [])],
                  },
                  child,
              )
            : undefined;

        const admin = new ClientCert(
            `${name}-admin`,
            {
                ca: kubernetesCA,
                ...identities.admin,
                validityHours: c.certValidityHours,
                earlyRenewalHours: c.certEarlyRenewalHours,
                keyAlgorithm: c.keyAlgorithm,
            },
            child,
        );
        const adminKubeconfig = new Kubeconfig(
            `${name}-admin`,
            {
                vip: lb.address,
                vipPort: lb.port,
                clusterName: c.clusterName,
                caCertPem: kubernetesCA.certPem,
                userName: identities.admin.commonName,
                clientCertPem: admin.certPem,
                clientKeyPem: admin.privateKeyPem,
            },
            { parent: this, dependsOn: lbComponent ? [lbComponent.ready] : [] },
        );

        this.endpoint = pulumi.output(`https://${lb.address}:${lb.port}`);
        this.kubernetesCaCertPem = kubernetesCA.certPem;
        this.kubernetesCaKeyPem = kubernetesCA.privateKeyPem;
        this.etcdCaCertPem = etcdCA.certPem;
        this.adminKubeconfig = adminKubeconfig.content;
        const named: [string, pulumi.Output<string>][] = [
            ["kubernetes-ca", kubernetesCA.notAfter],
            ["etcd-ca", etcdCA.notAfter],
            ["front-proxy-ca", frontProxyCA.notAfter],
            ["admin", admin.notAfter],
            ...this.masters.flatMap((n, i) =>
                Object.entries(n.certificates).map(
                    ([id, cert]) => [`${c.masters[i].name}/${id}`, cert.notAfter] as [string, pulumi.Output<string>],
                ),
            ),
        ];
        this.certificates = pulumi
            .all(named.map(([n, t]) => t.apply((notAfter) => ({ name: n, notAfter }))))
            .apply((list) => [...list].sort((a, b) => a.notAfter.localeCompare(b.notAfter) || a.name.localeCompare(b.name)));
        this.registerOutputs({
            endpoint: this.endpoint,
            kubernetesCaCertPem: this.kubernetesCaCertPem,
            adminKubeconfig: this.adminKubeconfig,
            certificates: this.certificates,
        });
    }
}
