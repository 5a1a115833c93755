// The resource graph, built with Pulumi's mocks (no engine, no hosts).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";

interface Registered {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
}
const registered: Registered[] = [];
const dependsOn = new Map<string, string[]>();
const names = new WeakMap<pulumi.Resource, string>();
const strip = (n: string) => n.replace(/^[abc]-/, "");

pulumi.runtime.setMocks(
    {
        newResource: (a) => {
            registered.push({ type: a.type, name: a.name, inputs: a.inputs });
            const n = strip(a.name);
            const state: Record<string, unknown> = { ...a.inputs };
            if (a.type.startsWith("tls:")) {
                Object.assign(state, {
                    certPem: `CERT(${n})`,
                    privateKeyPem: `PRIVATE-KEY(${n})`,
                    publicKeyPem: `PUBLIC-KEY(${n})`,
                    certRequestPem: `CSR(${n})`,
                    validityEndTime: n.includes("-ca-") ? "2036-01-01T00:00:00Z" : "2027-01-01T00:00:00Z",
                    algorithm: a.inputs.algorithm ?? "RSA",
                });
            }
            return { id: `${a.name}-id`, state };
        },
        call: (a) => a.inputs,
    },
    "k8scp",
    "unit",
    false,
);
/** Records each resource's name and the names of what it depends on (transformations reach every child). */
const ignored = new Map<string, string[]>();
const capture: pulumi.ResourceTransformation = (t) => {
    names.set(t.resource, t.name);
    ignored.set(t.name, t.opts.ignoreChanges ?? []);
    const deps = t.opts.dependsOn ?? [];
    const record = (d: unknown) =>
        dependsOn.set(
            t.name,
            ([] as unknown[]).concat(d).map((r) => names.get(r as pulumi.Resource) ?? "?"),
        );
    if (pulumi.Output.isInstance(deps)) (deps as pulumi.Output<unknown>).apply(record);
    // Elements may be promises of resources made later (the order across components).
    else void Promise.resolve(deps).then((d) => Promise.all(([] as unknown[]).concat(d)).then(record));
    return undefined;
};

// Imported after the mocks are set.
import { ControlPlane } from "../../components/controlPlane";
import { Assessment } from "../../components/host/assess";
import { serviceNames } from "../../components/render/flags";
import { validateConfig } from "../../components/config";
import { fixedAssessment, labConfig } from "./fixtures";

const binDir = fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-bin-"));
for (const b of ["etcd", "etcdctl", "etcdutl", "kube-apiserver", "kube-controller-manager", "kube-scheduler"])
    fs.writeFileSync(path.join(binDir, b), `fake ${b}`);

const config = (schedulerArgs: Record<string, string> = {}, extra: Record<string, unknown> = {}) =>
    validateConfig({ ...labConfig(), scheduler: { extraArgs: schedulerArgs }, ...extra });

const settle = <T>(o: pulumi.Output<T>) => new Promise<T>((resolve) => o.apply(resolve));
const wait = () => new Promise((r) => setTimeout(r, 200));

/** The drift probe's answer for hosts where nothing was installed yet (a first install). */
const firstInstall = () => {
    const fresh = { state: "new", marker: "", detail: "" } as const;
    const host = Object.fromEntries(Object.values(serviceNames).map((u) => [u, { service: fresh, files: fresh }]));
    return { n1: host, n2: host, n3: host };
};

async function build(
    prefix: "a" | "b" | "c" | "d",
    schedulerArgs?: Record<string, string>,
    observed?: Assessment["observed"],
    extra?: Record<string, unknown>,
) {
    const cp = await ControlPlane.create(
        prefix,
        {
            config: labConfig(),
            assess: fixedAssessment({ config: config(schedulerArgs, extra), sshPrivateKey: "SSH-KEY", binDir, observed }),
        },
        { transformations: [capture] },
    );
    await settle(cp.certificates);
    await Promise.all(cp.masters.map((m) => settle(m.scheduler.ready.stdin)));
    await wait();
    return cp;
}

const byPrefix = (p: string) => registered.filter((r) => r.name.startsWith(`${p}-`));
const digest = (r: Registered) => createHash("sha256").update(JSON.stringify(r.inputs)).digest("hex");

test("graph: shared CAs, per-master services, secrets, rolling order, one-flag diffs", async (t) => {
    const a = await build("a");
    const b = await build("b", { v: "3" });
    const ra = byPrefix("a");

    await t.test("one CA per purpose, shared by all masters", () => {
        const cas = ra.filter((r) => r.type === "k8scp:index:PrivateCA").map((r) => strip(r.name));
        assert.deepEqual(cas.sort(), ["etcd-ca", "front-proxy-ca", "kubernetes-ca"]);
        const signed = ra.filter((r) => r.type === "tls:index/locallySignedCert:LocallySignedCert");
        const caOf = (name: string) => signed.find((r) => r.name === name)?.inputs.caCertPem;
        for (const n of ["n1", "n2", "n3"]) {
            assert.equal(caOf(`a-${n}-apiserver-cert`), "CERT(kubernetes-ca-cert)");
            assert.equal(caOf(`a-${n}-scheduler-cert`), "CERT(kubernetes-ca-cert)");
            assert.equal(caOf(`a-${n}-etcd-server-cert`), "CERT(etcd-ca-cert)");
            assert.equal(caOf(`a-${n}-apiserver-etcd-client-cert`), "CERT(etcd-ca-cert)");
            assert.equal(caOf(`a-${n}-front-proxy-client-cert`), "CERT(front-proxy-ca-cert)");
        }
        assert.equal(ra.filter((r) => r.type === "tls:index/privateKey:PrivateKey" && r.name === "a-service-account-key").length, 1);
    });

    await t.test("every key is ECDSA P-256 by default and keeps its algorithm when the setting changes", () => {
        const keys = ra.filter((r) => r.type === "tls:index/privateKey:PrivateKey");
        assert.equal(keys.length, 3 + 3 * 8 + 2 + 1, "3 CAs, 8 leaves a master, the admin and super-admin, the service-account key");
        for (const k of keys) {
            assert.deepEqual(k.inputs, { algorithm: "ECDSA", ecdsaCurve: "P256" }, k.name);
            assert.deepEqual(ignored.get(k.name), ["algorithm", "rsaBits", "ecdsaCurve"], `${k.name}: an existing key is kept`);
        }
    });

    await t.test("every master gets etcd, apiserver, controller-manager and scheduler", async () => {
        const services = ra
            .filter((r) => r.type === "k8scp:index:ControlPlaneService")
            .map((r) => strip(r.name))
            .sort();
        const expected = ["n1", "n2", "n3"]
            .flatMap((n) => ["etcd", "apiserver", "controller-manager", "scheduler"].map((s) => `${n}-${s}`))
            .sort();
        assert.deepEqual(services, expected);
        assert.equal(ra.filter((r) => r.type === "command:remote:CopyToRemote").length, 3 * 6);
        assert.equal(a.masters.length, 3);
    });

    await t.test("certificates carry the identities and SANs the runbooks name", () => {
        const csr = (n: string) =>
            ra.find((r) => r.name === `a-${n}-csr`)!.inputs as {
                subject: { commonName: string; organization?: string };
                ipAddresses: string[];
                dnsNames: string[];
            };
        // Only the break-glass super-admin is in system:masters; admin and the kubelet client get RBAC bindings.
        assert.deepEqual(csr("admin").subject, { commonName: "admin", organization: "k8scp:cluster-admins" });
        assert.deepEqual(csr("super-admin").subject, { commonName: "k8scp-super-admin", organization: "system:masters" });
        for (const n of ["n1", "n2", "n3"])
            assert.deepEqual(csr(`${n}-apiserver-kubelet-client`).subject, {
                commonName: "kube-apiserver-kubelet-client",
                organization: "k8scp:apiserver-kubelet-client",
            });
        const masters = ra.filter((r) => (r.inputs.subject as { organization?: string } | undefined)?.organization === "system:masters");
        assert.deepEqual(
            masters.map((r) => strip(r.name)),
            ["super-admin-csr"],
        );
        assert.equal(csr("n2-scheduler").subject.commonName, "system:kube-scheduler");
        assert.equal(csr("n2-controller-manager").subject.organization, "system:kube-controller-manager");
        assert.ok(csr("n1-apiserver").ipAddresses.includes("10.68.0.1"));
        assert.ok(csr("n1-apiserver").ipAddresses.includes("10.213.0.10"));
        assert.ok(csr("n1-apiserver").dnsNames.includes("kubernetes.default.svc.cluster.local"));
        assert.deepEqual(csr("n2-etcd-peer").ipAddresses, ["10.213.0.12", "127.0.0.1"]);
    });

    await t.test("keys and kubeconfigs are secrets", async () => {
        assert.ok(await pulumi.isSecret(a.adminKubeconfig));
        assert.equal(a.kubernetesCaKeyPem, undefined, "the CA key is no output unless k8scp:exportCaKey is set");
        assert.equal(a.superAdminKubeconfig, undefined, "the super-admin kubeconfig is no output unless opted in");
        assert.ok(!(await pulumi.isSecret(a.kubernetesCaCertPem)));
        for (const m of a.masters) {
            for (const s of [m.etcd, m.apiserver, m.controllerManager, m.scheduler]) {
                assert.ok(await pulumi.isSecret(s.files.stdin), "the files step carries keys: its stdin is secret");
                // The service step is what a reviewer reads in `preview --diff`: plain, with the unit, no key.
                assert.ok(!(await pulumi.isSecret(s.ready.stdin)), "the service step's stdin is plain");
                const script = await settle(s.ready.stdin as pulumi.Output<string>);
                assert.match(script, /^ExecStart=\/usr\/local\/bin\//m);
                assert.match(script, /^# files revision: [0-9a-f]{64}$/m);
                assert.doesNotMatch(script, /PRIVATE KEY|client-key-data/);
            }
            for (const c of Object.values(m.certificates)) assert.ok(await pulumi.isSecret(c.privateKeyPem));
        }
        const kc = await settle(a.adminKubeconfig);
        assert.match(kc, /server: https:\/\/10\.213\.0\.10:6443/);
        const cmds = ra.filter((r) => r.type === "command:remote:Command");
        for (const c of cmds) {
            assert.ok(!String(c.inputs.create ?? "").includes("PRIVATE-KEY"), `${c.name}: no key on the command line`);
            if (/-(etcd|apiserver|controller-manager|scheduler)-files$/.test(c.name))
                assert.equal(c.inputs.logging, "none", `${c.name} logs nothing`);
            // An update or delete would otherwise be handed the previous output in variables sshd refuses by default.
            if (c.inputs.update !== undefined || c.inputs.delete !== undefined)
                assert.equal(c.inputs.addPreviousOutputInEnv, false, `${c.name}: addPreviousOutputInEnv false`);
        }
    });

    await t.test("RBAC bootstrap: after every API server, with the super-admin on a secret stdin; admin handed out after it", async () => {
        const rbac = ra.find((r) => r.name === "a-rbac-bootstrap");
        assert.ok(rbac, "the RBAC bootstrap step is registered");
        assert.deepEqual([...(dependsOn.get("a-rbac-bootstrap") ?? [])].sort(), ["a-n1-apiserver", "a-n2-apiserver", "a-n3-apiserver"]);
        assert.ok(
            dependsOn.get("a-admin")?.includes("a-rbac-bootstrap"),
            `admin kubeconfig after the bootstrap: ${dependsOn.get("a-admin")}`,
        );
        const step = a.rbacBootstrap!;
        assert.ok(await pulumi.isSecret(step.stdin), "its stdin carries the super-admin key: secret");
        const script = await settle(step.stdin as pulumi.Output<string>);
        assert.match(script, /^api='https:\/\/10\.213\.0\.11:6443'$/m);
        assert.match(script, /^ensure 'k8scp:cluster-admins' [0-9a-f]{64} <<'K8SCP_JSON'$/m);
        assert.match(script, /"roleRef":\{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"system:kubelet-api-admin"\}/);
        assert.equal(rbac.inputs.update, "sudo -n bash -s -- update");
    });

    await t.test("masters restart one after another, apiservers after etcd is healthy", () => {
        for (const s of ["etcd", "apiserver", "controller-manager", "scheduler"]) {
            assert.ok(dependsOn.get(`a-n2-${s}`)?.includes(`a-n1-${s}`), `n2 ${s} waits for n1 ${s}: ${dependsOn.get(`a-n2-${s}`)}`);
            assert.ok(dependsOn.get(`a-n3-${s}`)?.includes(`a-n2-${s}`), `n3 ${s} waits for n2 ${s}`);
        }
        for (const s of ["etcd", "apiserver"])
            assert.ok(!dependsOn.get(`a-n1-${s}`)?.some((d) => /^a-n[23]-/.test(d)), `n1 ${s} waits for no other master`);
        assert.ok(dependsOn.get("a-n1-apiserver")?.includes("a-etcd-cluster-healthy"));
        assert.ok(dependsOn.get("a-n1-scheduler")?.includes("a-n1-apiserver"));
        assert.deepEqual([...(dependsOn.get("a-etcd-cluster-healthy") ?? [])].sort(), ["a-n1-etcd", "a-n2-etcd", "a-n3-etcd"]);
        assert.ok(!dependsOn.get("a-n1-etcd")?.includes("a-etcd-cluster-healthy"), "etcd members start without waiting for quorum");
    });

    await t.test("a master's binaries are copied one at a time, across its services (few SSH logins at once)", () => {
        for (const n of ["n1", "n2", "n3"]) {
            const copies = ra.filter((r) => r.type === "command:remote:CopyToRemote" && r.name.startsWith(`a-${n}-`)).map((r) => r.name);
            assert.equal(copies.length, 6);
            const after = (c: string) => (dependsOn.get(c) ?? []).filter((d) => copies.includes(d));
            const first = copies.filter((c) => after(c).length === 0);
            assert.deepEqual(first, [`a-${n}-etcd-etcd`], `${n}: one copy starts the chain`);
            for (const c of copies) assert.ok(after(c).length <= 1, `${c} waits for at most one copy: ${after(c)}`);
            // A chain: following each copy's successor from the first reaches every copy.
            const chain = [first[0]];
            for (;;) {
                const next = copies.find((c) => after(c)[0] === chain[chain.length - 1]);
                if (!next || chain.includes(next)) break;
                chain.push(next);
            }
            assert.equal(chain.length, 6, `${n}: the chain ${chain.join(" -> ")}`);
        }
    });

    await t.test("version skew order: every apiserver before any controller manager, every controller manager before any scheduler", () => {
        for (const n of ["n1", "n2", "n3"]) {
            const cm = dependsOn.get(`a-${n}-controller-manager`) ?? [];
            const sched = dependsOn.get(`a-${n}-scheduler`) ?? [];
            for (const m of ["n1", "n2", "n3"]) {
                assert.ok(cm.includes(`a-${m}-apiserver`), `${n} controller-manager waits for ${m} apiserver: ${cm}`);
                assert.ok(sched.includes(`a-${m}-controller-manager`), `${n} scheduler waits for ${m} controller-manager: ${sched}`);
            }
            assert.ok(!(dependsOn.get(`a-${n}-apiserver`) ?? []).some((d) => /controller-manager|scheduler/.test(d)));
        }
    });

    await t.test("a first install starts every master's services without waiting for the other masters", async () => {
        await build("c", undefined, firstInstall());
        for (const n of ["n1", "n2", "n3"])
            for (const s of ["apiserver", "controller-manager", "scheduler"]) {
                const deps = dependsOn.get(`c-${n}-${s}`) ?? [];
                assert.ok(
                    !deps.some((d) => d.startsWith("c-n") && !d.startsWith(`c-${n}-`)),
                    `${n} ${s} waits only for its own host: ${deps}`,
                );
                assert.ok(deps.length > 0, `${n} ${s} was captured`);
            }
    });

    await t.test("exportCaKey and exportSuperAdminKubeconfig make the CA key and the break-glass kubeconfig outputs, secret", async () => {
        const d = await build("d", undefined, undefined, { exportCaKey: true, exportSuperAdminKubeconfig: true });
        assert.ok(d.kubernetesCaKeyPem && (await pulumi.isSecret(d.kubernetesCaKeyPem)));
        assert.equal(await settle(d.kubernetesCaKeyPem), "PRIVATE-KEY(d-kubernetes-ca-key)");
        assert.ok(d.superAdminKubeconfig && (await pulumi.isSecret(d.superAdminKubeconfig)));
        assert.match(await settle(d.superAdminKubeconfig), /user: k8scp-super-admin|name: k8scp-super-admin/);
    });

    await t.test("changing one scheduler flag changes only the scheduler resources", async () => {
        const id = (r: Registered) => `${r.type} ${strip(r.name)}`;
        const rb = new Map(byPrefix("b").map((r) => [id(r), digest(r)]));
        assert.equal(rb.size, ra.length, "same resources in both programs");
        const changed = ra
            .filter((r) => rb.get(id(r)) !== digest(r))
            .map(id)
            .sort();
        assert.deepEqual(
            changed,
            ["n1", "n2", "n3"].map((n) => `command:remote:Command ${n}-scheduler`),
        );
        assert.ok(b.masters.length === 3);
    });
});

test("snapshot upload: the tool staged after the host's other copies, the credentials by a secret step of their own", async () => {
    const tool = path.join(binDir, "k8scp-backup");
    fs.writeFileSync(tool, "fake k8scp-backup");
    const secretStdin = new Map<string, Promise<boolean>>();
    const secrets: pulumi.ResourceTransformation = (t) => {
        if (t.name.endsWith("-etcd-snapshot-credentials")) secretStdin.set(t.name, pulumi.isSecret(t.props.stdin as pulumi.Output<string>));
        return undefined;
    };
    const c = validateConfig({
        ...labConfig(),
        etcdSnapshots: {
            upload: {
                endpoint: "http://10.213.0.10:7070",
                bucket: "k8scp-snapshots",
                accessKeyId: "ACCESS-KEY-ID",
                secretAccessKey: "SECRET-ACCESS-KEY",
                encryptionKey: `AGE-SECRET-KEY-1${"Q".repeat(58)}`,
            },
        },
    });
    const target = {
        endpoint: "http://10.213.0.10:7070",
        bucket: "k8scp-snapshots",
        prefix: "kubernetes",
        region: "us-east-1",
        retention: 24,
        recipient: "age1recipient",
    };
    const cp = await ControlPlane.create(
        "a-up",
        {
            config: labConfig(),
            assess: fixedAssessment({
                config: c,
                sshPrivateKey: "SSH-KEY",
                binDir,
                upload: {
                    target,
                    tool: { localPath: tool, sha256: "0".repeat(64) },
                    credentials: "access_key_id=ACCESS-KEY-ID\nsecret_access_key=SECRET-ACCESS-KEY\n",
                },
            }),
        },
        { transformations: [capture, secrets] },
    );
    await Promise.all(cp.masters.map((m) => settle(m.snapshots.stdin)));
    await wait();
    for (const n of ["n1", "n2", "n3"]) {
        const mine = registered.filter((r) => r.name.startsWith(`a-up-${n}-`));
        const creds = mine.find((r) => r.name.endsWith("-etcd-snapshot-credentials"));
        assert.ok(creds, `${n}: no credentials step`);
        assert.equal(creds.inputs.logging, "none");
        assert.equal(await secretStdin.get(creds.name), true, `${n}: the credentials step's stdin is not secret`);
        const install = mine.find((r) => r.name.endsWith("-etcd-snapshots"));
        assert.ok(install && !String(install.inputs.stdin).includes("SECRET-ACCESS-KEY"), "the install step carries the secret");
        assert.match(String(install.inputs.stdin), /LoadCredential=s3-credentials:/);
        assert.deepEqual((dependsOn.get(install.name) ?? []).filter((d) => /k8scp-backup|credentials/.test(d)).sort(), [
            `a-up-${n}-etcd-snapshot-credentials`,
            `a-up-${n}-k8scp-backup`,
        ]);
        // One copy at a time on the host: the tool waits for the last binary copy.
        const copyDeps = dependsOn.get(`a-up-${n}-k8scp-backup`) ?? [];
        assert.ok(
            copyDeps.some((d) => mine.some((r) => r.name === d && r.type === "command:remote:CopyToRemote")),
            `${n}: the tool's copy does not wait for another copy: ${copyDeps.join(", ")}`,
        );
    }
});

test("a master replaced by a new machine gets its copies again: every copy's triggers hold the host's identity", () => {
    // CopyToRemote copies nothing on a change of its connection alone (upstream's behaviour): without the identity in
    // the triggers a new machine at a master's address, or with a new host key, would never get its binaries.
    const copies = byPrefix("a").filter((r) => r.type === "command:remote:CopyToRemote");
    assert.ok(copies.length >= 18);
    for (const c of copies) {
        const n = /^a-(?:up-)?(n\d)-/.exec(c.name)?.[1];
        const address = { n1: "10.213.0.11", n2: "10.213.0.12", n3: "10.213.0.13" }[n as "n1" | "n2" | "n3"];
        const triggers = c.inputs.triggers as string[];
        assert.equal(triggers.length, 2, `${c.name}: ${JSON.stringify(triggers)}`);
        assert.match(triggers[0], /^[0-9a-f]{64}$/, `${c.name}: the content's hash`);
        assert.ok(triggers[1].startsWith(`${address}:22 `), `${c.name}: the host's identity, got ${triggers[1]}`);
    }
});
