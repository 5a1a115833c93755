// The rolling Kubernetes upgrade end to end on the lab (3 masters + LB), through the real Pulumi CLI: a cluster on
// the previous release (toolchain/extra/kubernetes-previous, built by `npm run test:upgrade`) is moved to the
// toolchain's release by one config edit: every kube-apiserver first, one master at a time, then the
// controller managers, then the schedulers, with API reads via the VIP answered throughout. Not in `npm test`: the
// previous release is a separate 20-minute build.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Member, serviceNames } from "../../components/render/flags";
import { Cluster, duringApiReads, healthyAt, writeAdminFiles } from "../lib/cluster";
import { repo, toolchainPins } from "../lib/lab";
import { PulumiCli, updatedCommands } from "../lib/pulumi";
import { e2eContext } from "../lib/e2e";

const pins = toolchainPins();
const ctx = e2eContext("upgrade");
const { tc, step, log, tmp, configFile, editConfig, stackEnv, labUp } = ctx;
const previousBin = tc ? path.join(tc, "extra", "kubernetes-previous", "bin") : "";
const skip =
    ctx.skip ||
    (!fs.existsSync(path.join(previousBin, "kube-apiserver")) &&
        `the previous release is not built (${previousBin}): run npm run test:upgrade`);

test(
    `rolling upgrade on the lab: Kubernetes ${pins.kubernetesPrevious} -> ${pins.kubernetes}, apiservers, then controller managers, then schedulers`,
    { skip, timeout: 3_600_000 },
    async (t) => {
        const e = stackEnv("upgrade-passphrase");
        const lab = await step("lab up 3", () => labUp(3));
        const masters = lab.masters;
        const pulumi = new PulumiCli(lab, e, repo, "upgrade", configFile);
        const adminKubeconfig = path.join(tmp, "admin.kubeconfig");
        const certDir = path.join(tmp, "probe");
        const cluster = new Cluster(lab, masters, path.join(tc!, "bin"), adminKubeconfig, log);
        const serverVersion = async () =>
            (JSON.parse(await cluster.kubectlOk(["version", "-o", "json"])) as { serverVersion: { gitVersion: string } }).serverVersion
                .gitVersion;
        const binaryVersions = (m: Member) =>
            lab.sshOk(m.address, `for b in kube-apiserver kube-controller-manager kube-scheduler; do /usr/local/bin/$b --version; done`);
        const [from, to] = [`v${pins.kubernetesPrevious}`, `v${pins.kubernetes}`];

        try {
            editConfig((c) => {
                c["k8scp:kubernetesVersion"] = pins.kubernetesPrevious;
                c["k8scp:binDir"] = previousBin;
            });
            await step(`pulumi up (3 masters, ${from})`, async () => {
                await pulumi.ok(["stack", "init"]);
                return pulumi.ok(["up", "--yes", "--skip-preview"], 1_800_000);
            });
            writeAdminFiles(String((await pulumi.outputs()).adminKubeconfig), adminKubeconfig, certDir);
            assert.equal(await serverVersion(), from);
            await cluster.kubectlOk(["create", "configmap", "before-upgrade", "--from-literal=k=v"]);
            const etcdBefore = await cluster.activeSince(serviceNames.etcd);

            await t.test(`preview, then up: ${from} -> ${to}, one component kind after the other`, async () => {
                editConfig((c) => {
                    c["k8scp:kubernetesVersion"] = pins.kubernetes;
                    delete c["k8scp:binDir"];
                });
                const preview = await pulumi.ok(["preview", "--diff"], 600_000);
                assert.match(
                    preview,
                    new RegExp(
                        `Kubernetes ${from.replace(/\./g, "\\.")} -> ${to.replace(/\./g, "\\.")} on n1, n2, n3: every kube-apiserver first`,
                    ),
                );
                // Exactly the three Kubernetes services on each master restart (etcd's binaries are the same).
                const expected = masters.flatMap((m) => ["apiserver", "controller-manager", "scheduler"].map((s) => `k8s-${m.name}-${s}`));
                assert.deepEqual(updatedCommands(preview), expected.sort(), preview);

                const out = await step(`pulumi up (${from} -> ${to})`, () =>
                    duringApiReads(lab, certDir, "the upgrade", log, () => pulumi.ok(["up", "--yes", "--skip-preview"], 1_800_000)),
                );
                fs.writeFileSync(path.join(os.tmpdir(), "k8scp-upgrade-up.txt"), out);
                const healthy = (svc: string) => masters.map((m) => healthyAt(out, svc, m));
                const started = {
                    apiserver: await cluster.startedAt(serviceNames.apiserver),
                    cm: await cluster.startedAt(serviceNames.controllerManager),
                    sched: await cluster.startedAt(serviceNames.scheduler),
                };
                const ready = { apiserver: healthy(serviceNames.apiserver), cm: healthy(serviceNames.controllerManager) };
                log(
                    `restarts (s since the first): ${(["apiserver", "cm", "sched"] as const)
                        .map((k) => `${k} ${started[k].map((x) => (x - started.apiserver[0]).toFixed(1)).join("/")}`)
                        .join("; ")}`,
                );
                for (let i = 1; i < masters.length; i++) {
                    assert.ok(
                        started.apiserver[i] > ready.apiserver[i - 1],
                        `apiserver on ${masters[i].name} restarted before the previous was ready`,
                    );
                    assert.ok(
                        started.cm[i] > ready.cm[i - 1],
                        `controller-manager on ${masters[i].name} restarted before the previous was ready`,
                    );
                }
                const lastApiserver = Math.max(...ready.apiserver);
                const lastCm = Math.max(...ready.cm);
                for (const [i, m] of masters.entries()) {
                    assert.ok(
                        started.cm[i] > lastApiserver,
                        `controller-manager on ${m.name} restarted before every apiserver was upgraded`,
                    );
                    assert.ok(started.sched[i] > lastCm, `scheduler on ${m.name} restarted before every controller-manager was upgraded`);
                }
                assert.deepEqual(await cluster.activeSince(serviceNames.etcd), etcdBefore, "etcd restarted");
            });

            await t.test(
                `after: kubectl version says ${to}, every binary is ${to}, objects kept, leaders elected, nothing left to do`,
                async () => {
                    assert.equal(await serverVersion(), to);
                    for (const m of masters) {
                        const v = await binaryVersions(m);
                        assert.equal(
                            (v.match(new RegExp(`^Kubernetes ${to.replace(/\./g, "\\.")}$`, "gm")) ?? []).length,
                            3,
                            `${m.name}: ${v}`,
                        );
                    }
                    assert.equal(await cluster.kubectlOk(["get", "configmap", "before-upgrade", "-o", "jsonpath={.data.k}"]), "v");
                    await cluster.servicesActiveAsOwnUsers();
                    await cluster.leaders();
                    await pulumi.ok(["preview", "--expect-no-changes"], 300_000);
                },
            );

            await t.test(`a downgrade to ${from} is refused at preview`, async () => {
                editConfig((c) => {
                    c["k8scp:kubernetesVersion"] = pins.kubernetesPrevious;
                    c["k8scp:binDir"] = previousBin;
                });
                const r = await pulumi.run(["preview"], 300_000);
                assert.notEqual(r.status, 0);
                assert.match(
                    r.stdout + r.stderr,
                    /k8scp:kubernetesVersion: n1 runs v1\.34\.\d+; going back to v1\.33\.\d+, an older minor release, is not supported/,
                );
                editConfig((c) => {
                    c["k8scp:kubernetesVersion"] = pins.kubernetes;
                    delete c["k8scp:binDir"];
                });
            });
        } finally {
            await step("pulumi destroy", () => pulumi.run(["destroy", "--yes", "--skip-preview"], 900_000));
        }
    },
);
