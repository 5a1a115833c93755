// The host-side half of the library, for real and without Pulumi: the exact scripts, systemd units, flags,
// kubeconfigs and HAProxy config that components/render renders (assembled as masterNode.ts,
// controlPlaneService.ts and apiServerLoadBalancer.ts assemble them; certificates from openssl instead of the
// TLS provider) run over SSH on the lab's systemd hosts (scripts/lab.sh) with the pinned etcd/Kubernetes
// binaries: create on 3 masters + the HAProxy VIP, checks of the running control plane (users, modes, VIP
// readiness, etcd mTLS, leader election and fail-over, controllers and scheduler at work), one rolling update,
// and delete leaving nothing behind. Needs root and the toolchain (skipped otherwise). Ends with the lab down.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ExtraArgs, Member, paths, serviceNames } from "../../components/render/flags";
import { renderKubeconfig } from "../../components/render/kubeconfig";
import { identities } from "../../components/render/pki";
import { renderJoinScript } from "../../components/render/etcd";
import { snapshotTool, snapshotUnits } from "../../components/render/backup";
import { renderHostCleanupScript, renderHostPrepScript, sudoCommand, sudoScript } from "../../components/render/scripts";
import { Cluster } from "../lib/cluster";
import { Lab, stepper, toolchainDir, until } from "../lib/lab";
import { OpensslPki } from "./hostside/pki";
import { ServiceDef, clusterPki, haproxyScript, masterCerts, masterServices, serviceScript } from "./hostside/specs";

const tc = toolchainDir();
const binDir = tc ? path.join(tc, "bin") : undefined;
const binaries = ["etcd", "etcdctl", "etcdutl", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"];

const skip =
    process.platform !== "linux"
        ? "Linux only"
        : process.getuid?.() !== 0
          ? "the lab needs root"
          : !binDir || !binaries.every((b) => fs.existsSync(path.join(binDir, b)))
            ? "toolchain binaries missing (npm run toolchain)"
            : false;

const step = stepper("hostside");
const log = (s: string) => console.log(`[hostside] ${s}`);

let tmp: string | undefined;
let labStarted = false;
after(async () => {
    if (labStarted) {
        const r = await Lab.down();
        log(`lab down: exit ${r.status}${r.status === 0 ? "" : `\n${r.stdout}${r.stderr}`}`);
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test(
    "the rendered scripts, units, flags, kubeconfigs and HAProxy config run a working HA control plane",
    { skip, timeout: 1_500_000 },
    async () => {
        const lab = await step("lab up 3", async () => {
            labStarted = true;
            return Lab.up(3);
        });
        const masters: Member[] = lab.masters;
        assert.equal(masters.length, 3, "lab.json: 3 masters and lb");
        const vip = lab.vip;
        const ssh = lab.ssh.bind(lab);
        const sshOk = lab.sshOk.bind(lab);

        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-hostside-"));
        const settings = {
            members: masters,
            vip,
            serviceCidr: "10.68.0.0/16",
            clusterCidr: "172.20.0.0/16",
            nodeCidrMaskSize: 24,
            clusterDomain: "cluster.local",
            clusterName: "k8scp-lab",
        };
        const pki = new OpensslPki(path.join(tmp, "pki"));
        const shaCache = new Map<string, string>();
        const sha = (b: string) => {
            let h = shaCache.get(b);
            if (!h)
                shaCache.set(
                    b,
                    (h = crypto
                        .createHash("sha256")
                        .update(fs.readFileSync(path.join(binDir!, b)))
                        .digest("hex")),
                );
            return h;
        };
        const { cluster, perNode, adminKubeconfig } = await step("certificates (openssl)", async () => {
            const cluster = clusterPki(pki);
            const perNode = masters.map((m) => {
                const certs = masterCerts(pki, cluster, settings, m);
                return { m, certs, ...masterServices(certs, cluster, settings, m) };
            });
            // No RBAC bootstrap here (it is the components' step): the break-glass identity, as the runbooks' admin is.
            const admin = pki.leaf(cluster.kubernetesCA, { ...identities.superAdmin });
            const adminKubeconfig = path.join(tmp!, "admin.kubeconfig");
            fs.writeFileSync(
                adminKubeconfig,
                renderKubeconfig({
                    clusterName: settings.clusterName,
                    server: `https://${vip}:6443`,
                    caCertPem: cluster.kubernetesCA.certPem,
                    userName: "admin",
                    clientCertPem: admin.certPem,
                    clientKeyPem: admin.privateKeyPem,
                }),
                { mode: 0o600 },
            );
            for (const b of binaries) sha(b);
            return { cluster, perNode, adminKubeconfig };
        });

        /** Runs the service's rendered script as the library does: `sudo -n bash -s -- <action>`, script on stdin. */
        const apply = async (m: Member, d: ServiceDef, action: "create" | "update" | "delete") => {
            const { script } = serviceScript(d, sha);
            const r = await ssh(m.address, sudoScript(action), { input: script, timeoutMs: 300_000 });
            if (r.status !== 0) {
                const j = await ssh(m.address, `sudo -n journalctl -u ${d.service}.service -n 60 --no-pager -o cat`, { timeoutMs: 30_000 });
                assert.fail(`${d.service} ${action} on ${m.name} exited ${r.status}:\n${r.stdout}${r.stderr}\njournal:\n${j.stdout}`);
            }
            assert.ok(!r.stdout.includes("PRIVATE KEY") && !r.stderr.includes("PRIVATE KEY"), "script output must not contain keys");
            return r;
        };
        const checks = new Cluster(lab, masters, binDir!, adminKubeconfig, log);

        // 1. Create.
        await step("host prep + binaries to staging (all nodes in parallel)", async () => {
            await Promise.all(
                masters.map(async (m) => {
                    await sshOk(m.address, "bash -s", { input: renderHostPrepScript(lab.sshUser, m.name), timeoutMs: 30_000 });
                    const files = ["etcd", "etcdctl", "etcdutl", "kube-apiserver", "kube-controller-manager", "kube-scheduler"].map((b) =>
                        path.join(binDir!, b),
                    );
                    await lab.scp(files, m.address, paths.staging);
                }),
            );
        });
        await step("etcd create on all masters concurrently (a new cluster: bootstrapWithoutWait)", async () => {
            await Promise.all(
                perNode.map((n) =>
                    sshOk(n.m.address, sudoScript("create"), {
                        input: renderJoinScript({ self: n.m, members: masters, mode: "new" }),
                        timeoutMs: 30_000,
                    }),
                ),
            );
            await Promise.all(perNode.map((n) => apply(n.m, n.etcd, "create")));
        });
        await step("etcd cluster healthy (etcdctl endpoint health --cluster over TLS)", async () => {
            await until("etcd endpoint health --cluster", 120_000, async () => {
                const r = await checks.etcdctl(masters[0], "endpoint health --cluster");
                return r.status === 0 && (r.stdout.match(/is healthy/g) ?? []).length === 3 ? true : undefined;
            });
        });
        for (const [svcKey, label] of [
            ["apiserver", "kube-apiserver"],
            ["controllerManager", "kube-controller-manager"],
            ["scheduler", "kube-scheduler"],
        ] as const) {
            for (const n of perNode) {
                await step(`${label} create on ${n.m.name} (waits for health)`, async () => {
                    await apply(n.m, n[svcKey], "create");
                });
            }
        }
        await step("HAProxy create on lb", async () => {
            const r = await ssh(vip, sudoScript("create"), { input: haproxyScript(masters), timeoutMs: 120_000 });
            assert.equal(r.status, 0, `k8scp-haproxy create exited ${r.status}:\n${r.stdout}${r.stderr}`);
        });

        // 2. Checks.
        await step("services active, own users, file modes", async () => {
            assert.equal((await sshOk(vip, "systemctl is-active k8scp-haproxy.service")).trim(), "active", "k8scp-haproxy on lb");
            await checks.servicesActiveAsOwnUsers();
        });
        await step("kubectl get --raw=/readyz via the VIP", () => checks.rawOk("/readyz"));
        await step("etcd: healthy with client certs, refused without", () => checks.etcdMutualTls());
        const leaders = await step("leases kube-scheduler and kube-controller-manager held by a master", () => checks.leaders());
        await step(`scheduler fail-over (stop kube-scheduler on ${leaders.scheduler.name})`, async () => {
            await checks.failover("kube-scheduler", serviceNames.scheduler, leaders.scheduler, 60_000);
            await sshOk(leaders.scheduler.address, "sudo -n systemctl start kube-scheduler.service");
            assert.equal((await sshOk(leaders.scheduler.address, "systemctl is-active kube-scheduler.service")).trim(), "active");
        });
        await step("nginx Deployment via the VIP: ReplicaSet, Pods, FailedScheduling, keys in etcd", () => checks.workFlows());

        // 3. Rolling update of the scheduler with a changed flag.
        await step("kube-scheduler update node by node with --v=3", async () => {
            const before = await checks.activeSince(serviceNames.scheduler);
            const extra: ExtraArgs = { scheduler: { v: "3" } };
            const afterTs: string[] = [];
            for (const m of masters) {
                const n = perNode.find((x) => x.m.name === m.name)!;
                const d = masterServices(n.certs, cluster, settings, m, extra).scheduler;
                assert.ok(d.args.includes("--v=3"));
                await apply(m, d, "update");
                afterTs.push((await checks.activeSince(serviceNames.scheduler))[masters.indexOf(m)]);
                const unit = await sshOk(m.address, "sudo -n cat /etc/systemd/system/kube-scheduler.service");
                assert.match(unit, /--v=3/);
            }
            log(`scheduler ActiveEnterTimestamp before ${before.join(" | ")}; after ${afterTs.join(" | ")}`);
            for (let i = 0; i < masters.length; i++) assert.notEqual(afterTs[i], before[i], `${masters[i].name} scheduler not restarted`);
            for (let i = 1; i < masters.length; i++)
                assert.ok(afterTs[i - 1] < afterTs[i], `restart order: ${afterTs[i - 1]} !< ${afterTs[i]}`);
            for (const m of masters) assert.equal((await sshOk(m.address, "systemctl is-active kube-scheduler.service")).trim(), "active");
        });
        // Any input change re-runs a step (the command provider's update): a new SSH key re-runs every one of them.
        await step("the same scripts again on every master (as a rotated SSH key re-runs them): nothing restarts", async () => {
            const units = [serviceNames.etcd, serviceNames.apiserver, serviceNames.controllerManager, serviceNames.scheduler];
            const ids = (m: Member) =>
                sshOk(m.address, `systemctl show -p InvocationID --value ${units.map((u) => `${u}.service`).join(" ")}`);
            const before = await Promise.all(masters.map(ids));
            for (const n of perNode) {
                const d = masterServices(n.certs, cluster, settings, n.m, { scheduler: { v: "3" } });
                for (const svc of [d.etcd, d.apiserver, d.controllerManager, d.scheduler]) {
                    const r = await ssh(n.m.address, sudoScript("update"), { input: serviceScript(svc, sha).script, timeoutMs: 120_000 });
                    assert.equal(r.status, 0, r.stdout + r.stderr);
                    assert.match(r.stderr, /unchanged since it was applied and healthy/, `${svc.service} on ${n.m.name}: ${r.stderr}`);
                }
            }
            assert.deepEqual(await Promise.all(masters.map(ids)), before, "a unit was restarted (its InvocationID changed)");
        });
        await step("host steps: a host that is another master's is neither prepared nor cleaned under a new name", async () => {
            const m = masters[0];
            const prep = await ssh(m.address, "bash -s", { input: renderHostPrepScript(lab.sshUser, "renamed"), timeoutMs: 30_000 });
            assert.notEqual(prep.status, 0, "host prep took over another master's host");
            assert.match(prep.stderr, new RegExp(`this host is master ${m.name}, not renamed`));
            const n = perNode[0];
            const cleanup = await ssh(
                m.address,
                sudoCommand(
                    renderHostCleanupScript([n.etcd, n.apiserver, n.controllerManager, n.scheduler], {
                        master: "renamed",
                        units: [snapshotUnits.timer, snapshotUnits.service],
                        files: [snapshotTool],
                        keep: [],
                    }),
                ),
                { timeoutMs: 60_000 },
            );
            assert.equal(cleanup.status, 0, cleanup.stdout + cleanup.stderr);
            assert.match(cleanup.stderr, new RegExp(`this host is master ${m.name} now, not renamed: nothing removed`));
            assert.equal((await sshOk(m.address, "systemctl is-active etcd.service kube-apiserver.service")).trim(), "active\nactive");
            assert.ok((await sshOk(m.address, "sudo -n test -d /var/lib/etcd/member && echo yes")).includes("yes"), "etcd's data removed");
        });

        // 4. Delete.
        await step("delete everything", async () => {
            const r = await ssh(vip, sudoScript("delete"), { input: haproxyScript(masters), timeoutMs: 60_000 });
            assert.equal(r.status, 0, r.stdout + r.stderr);
            // As MasterNode's host step does on delete: one cleanup of every service (their own steps are retained).
            await Promise.all(
                perNode.map((n) =>
                    sshOk(
                        n.m.address,
                        sudoCommand(
                            renderHostCleanupScript([n.etcd, n.apiserver, n.controllerManager, n.scheduler], {
                                master: n.m.name,
                                units: [snapshotUnits.timer, snapshotUnits.service],
                                files: [snapshotTool],
                                keep: [],
                            }),
                        ),
                        { timeoutMs: 120_000 },
                    ),
                ),
            );
        });
        await step("nothing of ours left", () => checks.nothingLeft());
    },
);
