// Off the masters, end to end on the lab: the stack's state in an S3 bucket (versitygw on the lb host, started by
// scripts/lab/s3.sh), every etcd snapshot encrypted and uploaded to another bucket with its retention, a failed
// upload visible in systemctl --failed with the local copy kept, two concurrent `pulumi up` refused by the
// backend's lock, and a disaster-recovery drill: etcd's data gone on every master, restored from the bucket.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { bucketSettingsLines, snapshotTool, uploadFiles } from "../../components/render/backup";
import { Cluster, writeAdminFiles } from "../lib/cluster";
import { labDir, labScript, ok, repo, until } from "../lib/lab";
import { PulumiCli } from "../lib/pulumi";
import { e2eContext } from "../lib/e2e";
import { s3StateBackend } from "../lib/s3";

const { tc, skip, step, log, tmp, configFile, editConfig, stackEnv, labUp } = e2eContext("bucket");

/** What `lab.sh s3 up` wrote. */
interface S3Json {
    endpoint: string;
    region: string;
    buckets: { snapshots: string; state: string };
    credentialsFile: string;
    dataDir: string;
}

test(
    "off the masters: state and encrypted etcd snapshots in S3, a locked stack, restore from the bucket",
    { skip, timeout: 1_800_000 },
    async (t) => {
        const base = stackEnv("bucket-passphrase");
        const lab = await step("lab up 3", () => labUp(3));
        await step("lab s3 up", () => ok("bash", [labScript, "s3", "up"], { timeoutMs: 600_000 }));
        const s3 = JSON.parse(fs.readFileSync(path.join(labDir, "s3.json"), "utf8")) as S3Json;
        const creds = Object.fromEntries(
            fs
                .readFileSync(s3.credentialsFile, "utf8")
                .trim()
                .split("\n")
                .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
        ) as { access_key_id: string; secret_access_key: string };
        const binDir = path.join(tc!, "bin");
        const backupTool = path.join(binDir, "k8scp-backup");
        const identity = (await ok(backupTool, ["keygen"])).trim();
        assert.match(identity, /^AGE-SECRET-KEY-1/);
        // The state backend: the bucket, credentials in the environment (as a team's CI would give them).
        const env = {
            ...base,
            PULUMI_BACKEND_URL: s3StateBackend(s3.buckets.state, s3.endpoint, s3.region),
            AWS_ACCESS_KEY_ID: creds.access_key_id,
            AWS_SECRET_ACCESS_KEY: creds.secret_access_key,
            AWS_REGION: s3.region,
            // No credentials lookup off the lab (the AWS SDK would ask an EC2 metadata address).
            AWS_EC2_METADATA_DISABLED: "true",
        };
        const pulumi = new PulumiCli(lab, env, repo, "bucket", configFile);
        const adminKubeconfig = path.join(tmp, "admin.kubeconfig");
        const cluster = new Cluster(lab, lab.masters, binDir, adminKubeconfig, log);
        const [n1] = lab.masters;
        const prefix = "drill";
        const retention = 2;
        const settings = path.join(tmp, "bucket.conf");
        const target = { endpoint: s3.endpoint, bucket: s3.buckets.snapshots, prefix, region: s3.region };
        fs.writeFileSync(settings, bucketSettingsLines(target).join("\n"), { mode: 0o600 });
        /** k8scp-backup on this machine (in the controller namespace), with the bucket's credentials in its environment. */
        const bucketTool = async (args: string[]) => {
            const r = await lab.inCtl(backupTool, [args[0], "--settings", settings, ...args.slice(1)], {
                env: {
                    ...process.env,
                    AWS_ACCESS_KEY_ID: creds.access_key_id,
                    AWS_SECRET_ACCESS_KEY: creds.secret_access_key,
                    K8SCP_BACKUP_IDENTITY: identity,
                },
                timeoutMs: 120_000,
            });
            assert.equal(r.status, 0, `k8scp-backup ${args.join(" ")}: ${r.stdout}${r.stderr}`);
            return r.stdout.trim();
        };
        const snapshotNow = (address: string) => lab.ssh(address, "sudo -n systemctl start etcd-snapshot.service");

        await step("stack init on the S3 backend; config with secrets set by the CLI", async () => {
            await pulumi.ok(["stack", "init"]);
            const set = (p: string, v: string, secret = false) =>
                pulumi.ok(["config", "set", "--path", ...(secret ? ["--secret"] : []), p, v]);
            await set("k8scp:etcdSnapshots.retention", "3");
            await set("k8scp:etcdSnapshots.upload.endpoint", s3.endpoint);
            await set("k8scp:etcdSnapshots.upload.bucket", s3.buckets.snapshots);
            await set("k8scp:etcdSnapshots.upload.prefix", prefix);
            await set("k8scp:etcdSnapshots.upload.retention", String(retention));
            await set("k8scp:etcdSnapshots.upload.accessKeyId", creds.access_key_id);
            await set("k8scp:etcdSnapshots.upload.secretAccessKey", creds.secret_access_key, true);
            await set("k8scp:etcdSnapshots.upload.encryptionKey", identity, true);
            const text = fs.readFileSync(configFile, "utf8");
            assert.ok(
                !text.includes(creds.secret_access_key) && !text.includes(identity),
                "a secret is in plain text in the stack's config file",
            );
        });

        await step("pulumi up (3 masters, state in S3)", () => pulumi.ok(["up", "--yes", "--skip-preview"], 1_200_000));
        writeAdminFiles(String((await pulumi.outputs()).adminKubeconfig), adminKubeconfig, path.join(tmp, "probe"));

        await t.test("every snapshot is uploaded encrypted; the bucket keeps the newest N per master", async () => {
            await cluster.kubectlOk(["create", "configmap", "before-snapshot", "--from-literal=k=v"]);
            for (let i = 0; i < retention + 1; i++) {
                for (const m of lab.masters) assert.equal((await snapshotNow(m.address)).status, 0);
                await new Promise((r) => setTimeout(r, 1100)); // names carry the second
            }
            const listed = (await bucketTool(["list"])).split("\n");
            log(`bucket ${s3.buckets.snapshots}:\n${listed.join("\n")}`);
            for (const m of lab.masters) {
                const mine = listed.filter((l) => l.includes(` ${prefix}/${m.name}/etcd-${m.name}-`));
                assert.equal(mine.length, retention, `${m.name}: the bucket keeps ${retention}`);
                assert.ok(mine.every((l) => l.endsWith(".db.age")));
                const record = (await lab.sshOk(m.address, `sudo -n ${snapshotTool} uploaded`)).trim();
                assert.match(record, new RegExp(`^\\S+Z ${prefix}/${m.name}/etcd-${m.name}-\\S+\\.db\\.age$`));
                assert.match(
                    await lab.sshOk(m.address, "sudo -n journalctl -u etcd-snapshot.service -o cat --no-pager | tail -n 5"),
                    /uploaded to k8scp-snapshots: /,
                );
                // The credentials: root's, 0600; the unit reads them through LoadCredential, not a plain-text line.
                assert.equal((await lab.sshOk(m.address, `sudo -n stat -c '%a %U' ${uploadFiles.credentials}`)).trim(), "600 root");
                const unit = await lab.sshOk(m.address, "sudo -n systemctl cat etcd-snapshot.service");
                assert.match(unit, /LoadCredential=s3-credentials:/);
                assert.ok(!unit.includes(creds.secret_access_key), "the secret key is in the unit");
            }
            // At rest in the bucket: age's format, not an etcd database (bbolt's magic) nor any key or value of it.
            const newest = await bucketTool(["newest", "--dir", n1.name]);
            const raw = await lab.sshOk(lab.vip, `sudo -n head -c 200 ${path.join(s3.dataDir, s3.buckets.snapshots, newest)} | base64 -w0`);
            const head = Buffer.from(raw.trim(), "base64").toString("latin1");
            assert.match(head, /^age-encryption\.org\/v1\n-> X25519 /, "the object is not age-encrypted");
            const whole = await lab.sshOk(
                lab.vip,
                `sudo -n grep -c before-snapshot ${path.join(s3.dataDir, s3.buckets.snapshots, newest)} || true`,
            );
            assert.equal(whole.trim(), "0", "the object holds a key of etcd in plain text");
            // It decrypts (only with the identity) into a snapshot etcdutl accepts.
            const back = path.join(tmp, "back.db");
            await bucketTool(["get", newest, back]);
            assert.match(await ok(path.join(binDir, "etcdutl"), ["snapshot", "status", back, "-w", "simple"]), /^[0-9a-f]+, \d+, \d+, /);
        });

        await t.test("a failed upload fails the unit (systemctl --failed) and keeps the local copy", async () => {
            const before = (await lab.sshOk(n1.address, `sudo -n ${snapshotTool} newest`)).trim();
            await lab.sshOk(lab.vip, "sudo -n systemctl stop k8scp-lab-s3.service");
            try {
                await new Promise((r) => setTimeout(r, 1100));
                const r = await snapshotNow(n1.address);
                assert.notEqual(r.status, 0, "the snapshot run succeeded with the bucket down");
                assert.match(await lab.sshOk(n1.address, "systemctl --failed --no-legend --plain"), /etcd-snapshot\.service/);
                const journal = await lab.sshOk(n1.address, "sudo -n journalctl -u etcd-snapshot.service -o cat --no-pager | tail -n 8");
                assert.match(journal, /uploading \S+ to k8scp-snapshots at \S+ failed \(above\); the local copy is kept/);
                const kept = (await lab.sshOk(n1.address, `sudo -n ${snapshotTool} newest`)).trim();
                assert.notEqual(kept, before, "no new local snapshot");
                assert.match(await lab.sshOk(n1.address, `sudo -n stat -c '%a %U' ${kept}`), /^600 etcd/);
            } finally {
                await lab.sshOk(lab.vip, "sudo -n systemctl start k8scp-lab-s3.service");
            }
            await until("the S3 server answers again", 30_000, async () => ((await bucketTool(["list"])).length ? true : undefined));
            assert.equal((await snapshotNow(n1.address)).status, 0);
            assert.doesNotMatch(
                await lab.sshOk(n1.address, "systemctl --failed --no-legend --plain"),
                /etcd-snapshot/,
                "the next run clears it",
            );
        });

        await t.test("two concurrent pulumi up on one stack: the backend's lock refuses the second; the state stays intact", async () => {
            // The first holds the lock while it reads the hosts and diffs; the second starts once the lock is in the bucket.
            const locks = path.join(s3.dataDir, s3.buckets.state, ".pulumi", "locks");
            const first = pulumi.start(["up", "--yes", "--skip-preview"], 600_000);
            await until(
                "the first up's lock is in the bucket",
                60_000,
                async () =>
                    (await lab.ssh(lab.vip, `sudo -n find ${locks} -name '*.json' 2>/dev/null | grep -q .`)).status === 0
                        ? true
                        : undefined,
                250,
            );
            const second = await pulumi.run(["up", "--yes", "--skip-preview"], 300_000);
            const done = await first.done;
            assert.equal(done.status, 0, `the first up failed:\n${done.stdout}${done.stderr}`);
            assert.notEqual(second.status, 0, "the second up ran while the first held the lock");
            log(`second up refused: ${(second.stdout + second.stderr).trim().split("\n").slice(-4).join(" | ")}`);
            assert.match(second.stdout + second.stderr, /the stack is currently locked by 1 lock\(s\)/);
            const exported = JSON.parse(await pulumi.ok(["stack", "export"], 60_000)) as { deployment: { resources: unknown[] } };
            assert.ok(exported.deployment.resources.length > 50, "the exported state lost its resources");
            await pulumi.ok(["preview", "--expect-no-changes"], 600_000);
            // Secrets in the state objects in the bucket: ciphertext under the stack's passphrase.
            const state = await lab.sshOk(
                lab.vip,
                `sudo -n find ${path.join(s3.dataDir, s3.buckets.state)} -name '*.json*' -type f -exec cat {} +`,
            );
            assert.ok(state.length > 10_000, "no state objects found in the bucket");
            for (const secret of [creds.secret_access_key, identity, "BEGIN OPENSSH"])
                assert.ok(!state.includes(secret), `the state in the bucket holds a secret in plain text (${secret.slice(0, 12)}...)`);
        });

        await t.test("outputs: the newest upload of each master", async () => {
            const uploaded = (await pulumi.outputs()).etcdSnapshotsUploaded as Record<string, string>;
            for (const m of lab.masters)
                assert.match(uploaded[m.name], new RegExp(`^\\S+Z ${prefix}/${m.name}/etcd-${m.name}-\\S+\\.db\\.age$`));
        });

        await t.test("drill: etcd's data gone on every master; etcdRestoreFrom the bucket's newest snapshot; pulumi up", async () => {
            await cluster.kubectlOk(["create", "configmap", "after-snapshot", "--from-literal=k=v"]);
            const t0 = Date.now();
            for (const m of lab.masters)
                await lab.sshOk(m.address, "sudo -n systemctl stop etcd-snapshot.timer etcd && sudo -n rm -rf /var/lib/etcd/member");
            editConfig((c) => (c["k8scp:etcdRestoreFrom"] = "bucket:newest"));
            const named = await pulumi.run(["preview"], 300_000);
            assert.notEqual(named.status, 0, "bucket:newest was accepted as a restore");
            const m = /the newest snapshot in \S+ is '([^']+)'; set k8scp:etcdRestoreFrom to 'bucket:\1'/.exec(named.stdout + named.stderr);
            assert.ok(m, named.stdout + named.stderr);
            const newest = await bucketTool(["newest"]);
            assert.equal(m[1], newest);
            editConfig((c) => (c["k8scp:etcdRestoreFrom"] = `bucket:${newest}`));
            const preview = await pulumi.ok(["preview"], 600_000);
            assert.match(preview, new RegExp(`etcd restore from bucket object \\S+Z \\d+ ${newest.replace(/[.]/g, "\\.")} `));
            assert.match(preview, /hash, revision, keys, size, version: [0-9a-f]+, \d+, \d+, /);
            const up = await step("pulumi up (restore from the bucket)", () => pulumi.ok(["up", "--yes", "--skip-preview"], 1_200_000));
            assert.match(up, /restored from the snapshot/);
            await cluster.rawOk("/readyz", 60_000);
            await cluster.kubectlOk(["get", "configmap", "before-snapshot"]);
            const gone = await cluster.kubectl(["get", "configmap", "after-snapshot"]);
            assert.match(gone.stderr, /NotFound/);
            log(
                `drill: data deleted on every master to the API answering via the VIP on the restored data: ${((Date.now() - t0) / 1000).toFixed(1)} s`,
            );
            await pulumi.ok(["preview", "--expect-no-changes"], 600_000);
        });

        await t.test(
            "every master gone: new hosts (same addresses, new host keys), the same config; pulumi up restores from the bucket",
            async () => {
                await cluster.kubectlOk(["create", "configmap", "after-restore", "--from-literal=k=v"]);
                const t0 = Date.now();
                // Each host stopped for good and its disk wiped; `lab up` brings up empty Debian hosts at the same
                // addresses with new host keys, as new machines have (the stack's knownHostsFile is the lab's, rewritten).
                for (const m of lab.masters) {
                    await ok("bash", [labScript, "kill", m.name], { timeoutMs: 120_000 });
                    for (const f of fs.readdirSync(path.join(labDir, "hostkeys")).filter((f) => f.startsWith(`${m.name}_`)))
                        fs.rmSync(path.join(labDir, "hostkeys", f));
                }
                await step("lab up 3 (new, empty hosts)", () => labUp(3));
                const up = await step("pulumi up (new hosts, etcdRestoreFrom still the bucket's snapshot)", () =>
                    pulumi.ok(["up", "--yes", "--skip-preview"], 1_800_000),
                );
                assert.match(up, /restored from the snapshot/);
                await cluster.rawOk("/readyz", 60_000);
                await cluster.kubectlOk(["get", "configmap", "before-snapshot"]);
                assert.match((await cluster.kubectl(["get", "configmap", "after-restore"])).stderr, /NotFound/);
                log(`every master gone to the API answering on new hosts: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
                editConfig((c) => delete c["k8scp:etcdRestoreFrom"]);
                await pulumi.ok(["up", "--yes", "--skip-preview"], 600_000);
                await pulumi.ok(["preview", "--expect-no-changes"], 600_000);
                for (const m of lab.masters)
                    assert.equal((await lab.sshOk(m.address, "systemctl is-active etcd-snapshot.timer")).trim(), "active");
            },
        );
    },
);
