import * as path from "node:path";
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
import { ClusterConfigInput, configSecretKeys, rawConfigFromPulumi } from "./config";
import { AssessOptions, Assessment, assessHosts } from "./host/assess";
import { renderEtcdHealthWait, renderMembershipScript } from "./render/etcd";
import { sudoCommand, sudoScript } from "./render/scripts";
import { components, pkiFile, serviceNames } from "./render/flags";
import { identities } from "./render/pki";
import { renderEncryptionConfig } from "./render/policy";
import { renderRbacBootstrapScript } from "./render/rbac";
import { localApiserverUrl } from "./render/services";

type AddressInput<T> = Omit<T, "address" | "hostKey"> & {
    /** IPv4 address; may be an Input that another resource of the program produces (e.g. the host's own resource). */
    address: pulumi.Input<string>;
    /** The host's SSH key (`type base64`); may be an Input as well. Default: from knownHostsFile. */
    hostKey?: pulumi.Input<string>;
};

/**
 * The cluster config, keys as in the stack config's `k8scp:` namespace (README: Configuration), before it is checked:
 * the component checks it. A master's address and the load balancer's may come from other resources, and the SSH key
 * may be a secret Output.
 */
export type ControlPlaneConfig = Omit<ClusterConfigInput, "masters" | "loadBalancer" | "sshPrivateKey"> & {
    masters: AddressInput<ClusterConfigInput["masters"][number]>[];
    loadBalancer: AddressInput<ClusterConfigInput["loadBalancer"]>;
    sshPrivateKey?: pulumi.Input<string>;
};

/** The `k8scp:` keys of the running stack's config, as they are: the component checks them. */
export const stackConfig = (): ControlPlaneConfig => rawConfigFromPulumi(pulumi.runtime.allConfig()) as unknown as ControlPlaneConfig;

export interface ControlPlaneArgs {
    /** The cluster config (see `ControlPlaneConfig`; `stackConfig()` reads it from the stack). */
    config: ControlPlaneConfig;
    /** Local directory with the binaries when the config has no `binDir`. Default: `$K8SCP_TOOLCHAIN_DIR/bin` if set. */
    defaultBinDir?: string;
    /**
     * How the component checks the config and reads the hosts before it plans. Default: `assessHosts` (over SSH,
     * read-only). Tests pass a fixed Assessment; a program should keep the default, which holds every guard.
     */
    assess?: (raw: unknown, opts: AssessOptions) => Promise<Assessment>;
}

/** The component's children and outputs, once the addresses are known and the hosts checked. */
interface Built {
    masters: MasterNode[];
    rbacBootstrap?: command.remote.Command;
    outputs: {
        endpoint: pulumi.Output<string>;
        kubernetesCaCertPem: pulumi.Output<string>;
        kubernetesCaKeyPem: pulumi.Output<string> | undefined;
        etcdCaCertPem: pulumi.Output<string>;
        adminKubeconfig: pulumi.Output<string>;
        superAdminKubeconfig: pulumi.Output<string> | undefined;
        certificates: pulumi.Output<CertificateExpiry[]>;
    };
    kubernetesVersion: pulumi.Input<string>;
    mastersOut: pulumi.Input<{ name: string; address: string }[]>;
    snapshots: pulumi.Input<Record<string, string>>;
    uploaded: pulumi.Input<Record<string, string>>;
}

/** Outputs derived from a config that is not known yet: unknown too, in the preview (no callback runs on them). */
function unknownOutputs(pending: pulumi.Output<unknown>): Built {
    const unknown = <T>(secret = false): pulumi.Output<T> => {
        const o = pending.apply(() => undefined as unknown as T);
        return secret ? (pulumi.secret(o) as pulumi.Output<T>) : o;
    };
    return {
        masters: [],
        outputs: {
            endpoint: unknown(),
            kubernetesCaCertPem: unknown(),
            // Opt-in outputs (k8scp:exportCaKey, exportSuperAdminKubeconfig): not shown while the config is unknown.
            kubernetesCaKeyPem: undefined,
            etcdCaCertPem: unknown(),
            adminKubeconfig: unknown(true),
            superAdminKubeconfig: undefined,
            certificates: unknown(),
        },
        kubernetesVersion: unknown(),
        mastersOut: unknown(),
        snapshots: unknown(),
        uploaded: unknown(),
    };
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

/**
 * An HA control plane over N masters: the PKI, one MasterNode per master, and the VIP load balancer. Made with
 * `await ControlPlane.create(...)`, which first checks the config, the binaries and the hosts, reads every master
 * (read-only) and plans the day-2 change from what it found: etcd members that join or leave (never a majority at
 * once), the version skew, drift repair, a pending restore. A problem fails the program with every problem listed,
 * before any resource is registered.
 *
 * While an address is unknown (its resource is yet to be created, in a preview) the component is registered without
 * children and its outputs are unknown: the preview cannot show the control plane's resources. The `up` waits for the
 * address's resource, then checks, plans and deploys in the same run; later runs preview as usual.
 */
export class ControlPlane extends pulumi.ComponentResource {
    /** `https://<vip>:<port>`. */
    public readonly endpoint: pulumi.Output<string>;
    public readonly kubernetesCaCertPem: pulumi.Output<string>;
    /** Secret; only with `exportCaKey: true` (undefined otherwise). */
    public readonly kubernetesCaKeyPem: pulumi.Output<string> | undefined;
    public readonly etcdCaCertPem: pulumi.Output<string>;
    /**
     * Secret: a kubeconfig of user `admin` in group `k8scp:cluster-admins` (bound to the ClusterRole cluster-admin),
     * pointing at the VIP; known only once the RBAC bootstrap step has created that binding.
     */
    public readonly adminKubeconfig: pulumi.Output<string>;
    /**
     * Secret: the break-glass kubeconfig (O=system:masters, beyond RBAC), only with `exportSuperAdminKubeconfig: true`
     * (undefined otherwise). The library's RBAC bootstrap step uses its certificate either way.
     */
    public readonly superAdminKubeconfig: pulumi.Output<string> | undefined;
    /** Every certificate with its expiry, sorted by expiry. */
    public readonly certificates: pulumi.Output<CertificateExpiry[]>;
    /** The Kubernetes release deployed, e.g. `v1.34.4`. */
    public readonly kubernetesVersion: pulumi.Output<string>;
    /** The masters that run (not gone), with their addresses. */
    public readonly mastersRunning: pulumi.Output<{ name: string; address: string }[]>;
    /** The newest etcd snapshot on each master when this run started (time, bytes, path). */
    public readonly etcdSnapshots: pulumi.Output<Record<string, string>>;
    /** Each master's last upload to the snapshot bucket when this run started (time, object key); empty without uploads. */
    public readonly etcdSnapshotsUploaded: pulumi.Output<Record<string, string>>;
    /** Every master's node, gone ones included (none while the addresses are unknown). */
    public readonly masters: MasterNode[] = [];
    /** The step that binds the admin's and the kubelet client's groups to their ClusterRoles (render/rbac.ts). */
    public readonly rbacBootstrap: command.remote.Command | undefined;

    /** Checks, reads the hosts and plans (see the class), then builds the control plane. */
    static async create(name: string, args: ControlPlaneArgs, opts?: pulumi.ComponentResourceOptions): Promise<ControlPlane> {
        const raw = pulumi.output(args.config as pulumi.Input<ControlPlaneConfig>);
        // isKnown: the SDK's own promise of whether every value is known (internal to @pulumi/pulumi, untyped).
        if (!(await (raw as unknown as { isKnown: Promise<boolean> }).isKnown)) return new ControlPlane(name, raw, opts);
        const value = await new Promise<unknown>((resolve) => raw.apply(resolve));
        const toolchain = process.env.K8SCP_TOOLCHAIN_DIR;
        const assessment = await (args.assess ?? assessHosts)(value, {
            secretKeys: configSecretKeys(args.config),
            defaultBinDir: args.defaultBinDir ?? (toolchain ? path.join(toolchain, "bin") : undefined),
        });
        return new ControlPlane(name, assessment, opts);
    }

    private constructor(name: string, a: Assessment | pulumi.Output<unknown>, opts?: pulumi.ComponentResourceOptions) {
        super("k8scp:index:ControlPlane", name, {}, opts);
        let built: Built;
        if (!pulumi.Output.isInstance(a)) {
            for (const w of a.messages.warn) pulumi.log.warn(w, this);
            for (const i of a.messages.info) pulumi.log.info(i, this);
            // Stack traces are V8's own, not mapped through source maps, and short while the resources are declared.
            // The SDK records one for each promise it makes for an output (thousands in a run, shown only in its report
            // of leaked promises) and two for each resource (its registration's call stack; not kept in the state),
            // and ts-node's source-map-support mapped every frame: about 1 s of CPU while the components are
            // constructed and 0.6 s after, on the program's one thread. Sucrase keeps every line where it is
            // (test/unit/transpile.test.ts), so a trace still names the TypeScript file and line; only columns differ.
            const prepare = Error.prepareStackTrace;
            const traceLimit = Error.stackTraceLimit;
            Error.prepareStackTrace = undefined as unknown as typeof Error.prepareStackTrace;
            Error.stackTraceLimit = 2;
            try {
                built = this.children(name, a);
            } finally {
                Error.stackTraceLimit = traceLimit;
                Error.prepareStackTrace = prepare;
            }
        } else {
            // The engine lists the children of an earlier run that this run has not registered as deletes. The up
            // registers them again once the value is known, so it deletes none; the preview cannot know that.
            pulumi.log.warn(
                "an address, host key or the SSH key comes from a resource that is not created yet or changes in this run: " +
                    "the control plane is checked, planned and deployed in the up, once the value is known; this preview " +
                    "cannot show its resources. Resources of an earlier run listed below as deletes are not deleted by " +
                    "the up; to review its real plan, update that resource first (pulumi up --target <its URN>), then preview",
                this,
            );
            built = unknownOutputs(a);
        }
        this.masters = built.masters;
        this.rbacBootstrap = built.rbacBootstrap;
        this.endpoint = built.outputs.endpoint;
        this.kubernetesCaCertPem = built.outputs.kubernetesCaCertPem;
        this.kubernetesCaKeyPem = built.outputs.kubernetesCaKeyPem;
        this.etcdCaCertPem = built.outputs.etcdCaCertPem;
        this.adminKubeconfig = built.outputs.adminKubeconfig;
        this.superAdminKubeconfig = built.outputs.superAdminKubeconfig;
        this.certificates = built.outputs.certificates;
        this.kubernetesVersion = pulumi.output(built.kubernetesVersion);
        this.mastersRunning = pulumi.output(built.mastersOut);
        this.etcdSnapshots = pulumi.output(built.snapshots);
        this.etcdSnapshotsUploaded = pulumi.output(built.uploaded);
        this.registerOutputs({
            endpoint: this.endpoint,
            kubernetesCaCertPem: this.kubernetesCaCertPem,
            adminKubeconfig: this.adminKubeconfig,
            certificates: this.certificates,
        });
    }

    private children(name: string, a: Assessment): Built {
        const c = a.config;
        const child = { parent: this };
        const key = pulumi.secret(a.sshPrivateKey);
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
        const joining = new Set(a.etcdJoining);

        // etcd members start together; this gate waits until the cluster has quorum and every member is healthy.
        const masters: MasterNode[] = [];
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
                    binDir: a.binDir,
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
                    extraArgs: Object.fromEntries(components.map((k) => [k, c[k].extraArgs])),
                    previous: m.gone ? undefined : previous,
                    componentOrder: { controllerManager: apiservers.promises, scheduler: controllerManagers.promises },
                    etcdHealthy: etcdGate,
                    observed: a.observed?.[m.name],
                    etcdStart: joining.has(m.name) ? "join" : "new",
                    joinAfter: joining.has(m.name) ? membership : undefined,
                    snapshots: { ...c.etcdSnapshots, upload: a.upload?.target },
                    snapshotUpload: a.upload && {
                        tool: a.upload.tool,
                        credentials: pulumi.secret(a.upload.credentials),
                    },
                    gone: m.gone,
                },
                child,
            );
            masters.push(node);
            if (!m.gone) previous = node;
        }
        // The masters that stay, with their nodes (a gone master's node holds only its retained host step).
        const running = active.map((m) => ({ m, node: masters[c.masters.indexOf(m)] }));
        apiservers.resolve(running.map(({ node }) => node.apiserver.ready));
        controllerManagers.resolve(running.map(({ node }) => node.controllerManager.ready));
        // The gate runs after every member of a new cluster was started (they start without waiting for each other).
        startedAll(running.filter(({ m }) => !joining.has(m.name)).map(({ node }) => node.etcd.ready));
        const restore = a.etcdRestore
            ? new EtcdRestore(
                  `${name}-etcd-restore`,
                  {
                      masters: running.map(({ m }) => ({
                          member: { name: m.name, address: m.address },
                          connection: connection(m),
                          after: running.flatMap(({ node }) => [node.scheduler.ready, node.controllerManager.ready, node.snapshots]),
                      })),
                      clusterName: c.clusterName,
                      snapshot: a.etcdRestore,
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

        const leaf = (id: string, identity: { commonName: string; organization: string }) =>
            new ClientCert(
                `${name}-${id}`,
                {
                    ca: kubernetesCA,
                    ...identity,
                    validityHours: c.certValidityHours,
                    earlyRenewalHours: c.certEarlyRenewalHours,
                    keyAlgorithm: c.keyAlgorithm,
                },
                child,
            );
        const admin = leaf("admin", identities.admin);
        // Break-glass (system:masters): used by the RBAC bootstrap below; an output only when opted in.
        const superAdmin = leaf("super-admin", identities.superAdmin);
        // The bindings that give admin and the API servers' kubelet client their rights, through the first master's
        // API server once every API server is ready (and again after a restore: the snapshot may predate them).
        const rbac = new command.remote.Command(
            `${name}-rbac-bootstrap`,
            {
                connection: connection(first),
                create: sudoScript("create"),
                update: sudoScript("update"),
                stdin: pulumi.secret(
                    pulumi.all([superAdmin.certPem, superAdmin.privateKeyPem]).apply(([certPem, privateKeyPem]) =>
                        renderRbacBootstrapScript({
                            apiserverUrl: localApiserverUrl(first),
                            caFile: pkiFile(serviceNames.apiserver, "ca.pem"),
                            superAdmin: { certPem, privateKeyPem },
                            note: a.etcdRestore ? `after the restore from ${a.etcdRestore.sha256}` : undefined,
                        }),
                    ),
                ),
                logging: "stdoutAndStderr",
                addPreviousOutputInEnv: false,
            },
            {
                parent: this,
                dependsOn: [...running.map(({ node }) => node.apiserver.ready), ...(restore?.done ?? [])],
                // The bindings live in etcd: destroying the control plane removes them with it.
                retainOnDelete: true,
            },
        );
        const kubeconfig = (id: string, cert: ClientCert, userName: string) =>
            new Kubeconfig(
                `${name}-${id}`,
                {
                    vip: lb.address,
                    vipPort: lb.port,
                    clusterName: c.clusterName,
                    caCertPem: kubernetesCA.certPem,
                    userName,
                    clientCertPem: cert.certPem,
                    clientKeyPem: cert.privateKeyPem,
                },
                { parent: this, dependsOn: [rbac, ...(lbComponent ? [lbComponent.ready] : [])] },
            );
        const adminKubeconfig = kubeconfig("admin", admin, identities.admin.commonName);
        // Handed out only after the bootstrap step has bound its group (the step's output is unknown until it ran).
        const adminContent = pulumi.secret(pulumi.all([rbac.stdout, adminKubeconfig.content]).apply(([, content]) => content));
        const superAdminKubeconfig = c.exportSuperAdminKubeconfig
            ? kubeconfig("super-admin", superAdmin, identities.superAdmin.commonName).content
            : undefined;

        const named: [string, pulumi.Output<string>][] = [
            ["kubernetes-ca", kubernetesCA.notAfter],
            ["etcd-ca", etcdCA.notAfter],
            ["front-proxy-ca", frontProxyCA.notAfter],
            ["admin", admin.notAfter],
            ["super-admin", superAdmin.notAfter],
            ...masters.flatMap((n, i) =>
                Object.entries(n.certificates).map(
                    ([id, cert]) => [`${c.masters[i].name}/${id}`, cert.notAfter] as [string, pulumi.Output<string>],
                ),
            ),
        ];
        const certificates = pulumi
            .all(named.map(([n, t]) => t.apply((notAfter) => ({ name: n, notAfter }))))
            .apply((list) => [...list].sort((x, y) => x.notAfter.localeCompare(y.notAfter) || x.name.localeCompare(y.name)));
        return {
            masters,
            rbacBootstrap: rbac,
            outputs: {
                endpoint: pulumi.output(`https://${lb.address}:${lb.port}`),
                kubernetesCaCertPem: kubernetesCA.certPem,
                kubernetesCaKeyPem: c.exportCaKey ? pulumi.secret(kubernetesCA.privateKeyPem) : undefined,
                etcdCaCertPem: etcdCA.certPem,
                adminKubeconfig: adminContent,
                superAdminKubeconfig,
                certificates,
            },
            kubernetesVersion: `v${c.kubernetesVersion.replace(/^v/, "")}`,
            mastersOut: active.map((m) => ({ name: m.name, address: m.address })),
            snapshots: a.snapshots,
            uploaded: a.upload ? a.uploaded : {},
        };
    }
}
