// The package as a user's program uses it: built, packed and installed from the tarball into a program of its own
// (test/e2e/packaged, compiled against the shipped .d.ts), whose own resource reports the hosts' addresses. Through the
// real CLI: the first preview (addresses unknown) shows the plan it can, `up` deploys in one run, the next preview is
// a no-op, the library's guard refuses a removal of two of three masters at preview, a scheduler flag rolls only the
// schedulers, and destroy leaves nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { serviceNames } from "../../components/render/flags";
import { Cluster, SERVICES, writeAdminFiles } from "../lib/cluster";
import { labDir, repo } from "../lib/lab";
import { installProgram, packedPackage } from "../lib/package";
import { PulumiCli, updatedCommands } from "../lib/pulumi";
import { e2eContext } from "../lib/e2e";

const { tc, skip, step, log, tmp, configFile, writeConfig, editConfig, stackEnv, labUp } = e2eContext("pkg");

test("package: a user's program on the packed package, addresses from its own resource", { skip, timeout: 2_400_000 }, async (t) => {
    const e = stackEnv("pkg-passphrase");
    const lab = await step("lab up 3", () => labUp(3));
    const binDir = path.join(tc!, "bin");
    const program = await step("npm run build, npm pack, install into the program, tsc", async () =>
        installProgram(path.join(repo, "test", "e2e", "packaged"), path.join(tmp, "packaged"), await packedPackage(tmp, log), [
            "@pulumi/pulumi",
            "@pulumi/command",
        ]),
    );
    const ns = "k8scp-packaged";
    writeConfig({
        config: {
            [`${ns}:inventoryHost`]: lab.vip,
            [`${ns}:masters`]: ["n1", "n2", "n3"],
            [`${ns}:kubernetesVersion`]: "1.34.4",
            [`${ns}:sshPrivateKeyPath`]: path.join(labDir, "id_ed25519"),
            [`${ns}:knownHostsFile`]: path.join(labDir, "known_hosts"),
            [`${ns}:binDir`]: binDir,
        },
    });
    const pulumi = new PulumiCli(lab, e, program, "pkg", configFile);
    const adminKubeconfig = path.join(tmp, "admin.kubeconfig");
    const cluster = new Cluster(lab, lab.masters, binDir, adminKubeconfig, log);
    const allActiveSince = () => cluster.allActiveSince();
    try {
        await pulumi.ok(["stack", "init"]);

        await t.test("1. the first preview, addresses unknown: the host resource and the component, no host step", async () => {
            const preview = await pulumi.ok(["preview"]);
            assert.match(preview, /\+\s+command:remote:Command\s+lab-hosts\s+create/, preview);
            assert.match(preview, /\+\s+k8scp:index:ControlPlane\s+k8s\s+create/, preview);
            assert.match(preview, /this preview cannot show its resources/, preview);
            assert.deepEqual([...new Set([...preview.matchAll(/command:remote:\w+\s+(\S+)/g)].map((m) => m[1]))], ["lab-hosts"], preview);
        });

        await t.test("2. up: the hosts' resource, then the checks, plans and the control plane, in one run", async () => {
            const out = await step("pulumi up (deploy)", () => pulumi.ok(["up", "--yes"], 1_800_000));
            assert.match(out, /command:remote:Command/);
            const outputs = await pulumi.outputs();
            assert.equal(outputs.endpoint, `https://${lab.vip}:6443`);
            assert.deepEqual(
                outputs.masters,
                lab.masters.map((m) => ({ name: m.name, address: m.address })),
            );
            writeAdminFiles(String(outputs.adminKubeconfig), adminKubeconfig, path.join(tmp, "probe"));
            await cluster.rawOk("/readyz", 120_000);
            await cluster.servicesActiveAsOwnUsers();
            await pulumi.ok(["preview", "--expect-no-changes"]);
        });

        await t.test("3. the library's guard: removing two of three masters is refused at preview", async () => {
            editConfig((c) => (c[`${ns}:masters`] = ["n1"]));
            const r = await pulumi.run(["preview"]);
            editConfig((c) => (c[`${ns}:masters`] = ["n1", "n2", "n3"]));
            const out = r.stdout + r.stderr;
            assert.notEqual(r.status, 0, out);
            assert.match(out, /k8scp:masters: this change removes 2 of the 3 etcd members at once \(n2, n3\), a majority/, out);
            assert.doesNotMatch(out, /command:remote:Command\s+\S+\s+(delete|update)/, out);
        });

        await t.test("4. a scheduler flag: only the schedulers roll, nothing else restarts", async () => {
            const before = await allActiveSince();
            editConfig((c) => (c[`${ns}:schedulerArgs`] = { v: "3" }));
            const out = await pulumi.ok(["up", "--yes", "--diff"]);
            // The preview's diff and the update's: each lists the same three.
            assert.deepEqual([...new Set(updatedCommands(out))], ["k8s-n1-scheduler", "k8s-n2-scheduler", "k8s-n3-scheduler"], out);
            const after = await allActiveSince();
            for (const s of SERVICES) {
                if (s === serviceNames.scheduler) for (let i = 0; i < 3; i++) assert.notEqual(after[s][i], before[s][i], `${s} restarted`);
                else assert.deepEqual(after[s], before[s], `${s} was restarted`);
            }
            await pulumi.ok(["preview", "--expect-no-changes"]);
        });

        await t.test("5. the inventory changes (addresses unknown in the preview): the up deletes and restarts nothing", async () => {
            const before = await allActiveSince();
            editConfig((c) => (c[`${ns}:inventoryNote`] = "moved to a new rack"));
            const preview = await pulumi.ok(["preview"]);
            assert.match(preview, /this preview cannot show its resources/, preview);
            assert.match(preview, /listed below as deletes are not deleted/, preview);
            const out = await pulumi.ok(["up", "--yes", "--skip-preview"]);
            assert.doesNotMatch(out, /delet/i, out);
            assert.match(out, /~ 1 updated/, out);
            assert.deepEqual(await allActiveSince(), before, "a service restarted");
            await pulumi.ok(["preview", "--expect-no-changes"]);
        });
    } finally {
        await step("pulumi destroy", async () => {
            const r = await pulumi.run(["destroy", "--yes", "--skip-preview"], 1_200_000);
            assert.equal(r.status, 0, `pulumi destroy exited ${r.status}:\n${r.stdout}${r.stderr}`);
        });
    }
    await t.test("6. destroy leaves no unit, file, user or process of ours on any host", () => cluster.nothingLeft());
});
