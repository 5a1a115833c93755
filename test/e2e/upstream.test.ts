// The main end-to-end path with the command plugin in upstream mode (K8SCP_COMMAND_UPSTREAM=1: upstream 1.2.1's
// SSH behaviour, a new connection for every operation, toolchain/pulumi-resource-command/README.md) on lab hosts
// with Debian's default sshd (MaxStartups 10:30:100, MaxSessions 10; scripts/lab/rootfs.sh): deploy, a no-op, a
// rolling flag change, drift repair and destroy, as users of the official plugin will run them.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { serviceNames } from "../../components/render/flags";
import { Cluster, SERVICES, describeProbe, startReadyzProbe, writeAdminFiles } from "../lib/cluster";
import { repo } from "../lib/lab";
import { PulumiCli, updatedCommands } from "../lib/pulumi";
import { e2eContext } from "../lib/e2e";

const { tc, skip, step, log, tmp, configFile, editConfig, stackEnv, labUp } = e2eContext("upstream");

test("upstream mode: the official plugin's SSH behaviour on default-sshd hosts", { skip, timeout: 2_400_000 }, async (t) => {
    const e = { ...stackEnv("upstream-passphrase"), K8SCP_COMMAND_UPSTREAM: "1" };
    const lab = await step("lab up 3", () => labUp(3));
    const masters = lab.masters;
    const binDir = path.join(tc!, "bin");
    const pulumi = new PulumiCli(lab, e, repo, "upstream", configFile);
    const adminKubeconfig = path.join(tmp, "admin.kubeconfig");
    const certDir = path.join(tmp, "probe");
    const cluster = new Cluster(lab, masters, binDir, adminKubeconfig, log);
    const allActiveSince = () => cluster.allActiveSince();
    const logins = async () =>
        Promise.all(
            masters.map(async (m) =>
                Number(
                    (
                        await lab.sshOk(
                            m.address,
                            "sudo -n journalctl -u ssh.service --no-pager -o cat | grep -c 'Accepted publickey' || true",
                        )
                    ).trim(),
                ),
            ),
        );
    try {
        await t.test("1. deploy", async () => {
            const before = await logins();
            await step("pulumi up (deploy, upstream mode)", async () => {
                await pulumi.ok(["stack", "init"]);
                return pulumi.ok(["up", "--yes", "--skip-preview"], 1_800_000);
            });
            const outputs = await pulumi.outputs();
            writeAdminFiles(String(outputs.adminKubeconfig), adminKubeconfig, certDir);
            await cluster.rawOk("/readyz", 120_000);
            await cluster.servicesActiveAsOwnUsers();
            await cluster.etcdMutualTls();
            // Upstream mode dials for every operation: each master saw a login per step (host, files, copies,
            // services, etcd member, snapshots), where the default mode shares one connection per host.
            const after = await logins();
            const counts = after.map((n, i) => n - before[i]);
            log(`SSH logins per master during the deploy: ${counts.join(", ")}`);
            for (const [i, n] of counts.entries()) assert.ok(n >= 15, `${masters[i].name}: ${n} logins; upstream mode dials per operation`);
        });

        await t.test("2. no-op: nothing changes, nothing restarts", async () => {
            const before = await allActiveSince();
            await pulumi.ok(["preview", "--expect-no-changes"]);
            const out = await pulumi.ok(["up", "--yes", "--skip-preview"]);
            assert.doesNotMatch(out, /updated|created|deleted/, out);
            assert.deepEqual(await allActiveSince(), before);
        });

        await t.test("3. one scheduler flag rolls the schedulers, one master at a time, nothing else restarts", async () => {
            const before = await allActiveSince();
            editConfig((c) => (c["k8scp:scheduler"] = { extraArgs: { v: "3" } }));
            const probe = startReadyzProbe(lab, lab.vip, certDir);
            const out = await pulumi.ok(["up", "--yes", "--skip-preview", "--diff"]).finally(() => probe.stop());
            const p = await probe.stop();
            log(`readyz probes via the VIP during the rollout: ${describeProbe(p)}`);
            assert.equal(p.failed, 0, describeProbe(p));
            assert.deepEqual(updatedCommands(out), ["k8s-n1-scheduler", "k8s-n2-scheduler", "k8s-n3-scheduler"], out);
            const after = await allActiveSince();
            for (const s of SERVICES) if (s !== serviceNames.scheduler) assert.deepEqual(after[s], before[s], `${s} was restarted`);
            await pulumi.ok(["preview", "--expect-no-changes"]);
        });

        await t.test("4. drift: a unit edited by hand is put right by the next up", async () => {
            const unitPath = "/etc/systemd/system/kube-scheduler.service";
            await lab.sshOk(
                masters[1].address,
                `sudo -n sed -i '/^\\[Service\\]/a Environment=EDITED_BY_HAND=1' ${unitPath} && sudo -n systemctl daemon-reload`,
            );
            const preview = await pulumi.ok(["preview", "--diff"]);
            assert.deepEqual(updatedCommands(preview), ["k8s-n2-scheduler"], preview);
            await pulumi.ok(["up", "--yes", "--skip-preview"]);
            assert.doesNotMatch(await lab.sshOk(masters[1].address, `sudo -n cat ${unitPath}`), /EDITED_BY_HAND/);
            await pulumi.ok(["preview", "--expect-no-changes"]);
            await cluster.servicesActiveAsOwnUsers();
        });
    } finally {
        await step("pulumi destroy (upstream mode)", async () => {
            const r = await pulumi.run(["destroy", "--yes", "--skip-preview"], 1_200_000);
            assert.equal(r.status, 0, `pulumi destroy exited ${r.status}:\n${r.stdout}${r.stderr}`);
        });
    }
    await t.test("5. destroy leaves no unit, file, user or process of ours on any host", () => cluster.nothingLeft());
});
