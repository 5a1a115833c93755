// The snapshot bucket from the machine running Pulumi (components/host/bucket.ts), with a stand-in for the
// k8scp-backup binary (a shell script that answers as the tool does): no S3 here. The real tool against a real S3
// server: toolchain/k8scp-backup's Go tests and test/e2e/bucket.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { UploadConfig, clearRestoreCache, fetchRestoreObject, localSettings, uploadRecipient } from "../../components/host/bucket";

const upload: UploadConfig = {
    endpoint: "http://10.213.0.10:7070",
    bucket: "k8scp-snapshots",
    region: "us-east-1",
    accessKeyId: "ACCESS-KEY-ID",
    secretAccessKey: "SECRET-ACCESS-KEY",
    encryptionKey: `AGE-SECRET-KEY-1${"Q".repeat(58)}`,
};

/** A stand-in tool: logs its argv and environment's secrets' presence, answers per subcommand. */
function fakeTool(dir: string, answers: Record<string, string>): string {
    const tool = path.join(dir, "k8scp-backup");
    const cases = Object.entries(answers)
        .map(([sub, body]) => `  ${sub}) ${body} ;;`)
        .join("\n");
    fs.writeFileSync(
        tool,
        `#!/bin/bash
echo "$* | key=\${AWS_SECRET_ACCESS_KEY:+set} identity=\${K8SCP_BACKUP_IDENTITY:+set}" >> ${JSON.stringify(path.join(dir, "argv.log"))}
case "$1" in
${cases}
  *) echo "unexpected $1" >&2; exit 2 ;;
esac
`,
        { mode: 0o755 },
    );
    return tool;
}

test("the settings file for this machine: no secret in it; the recipient from the identity on stdin", async () => {
    const s = localSettings({ ...upload, caFile: "/etc/ssl/private-ca.pem" }, "prod");
    assert.equal(
        s,
        "endpoint=http://10.213.0.10:7070\nbucket=k8scp-snapshots\nprefix=prod\nregion=us-east-1\nca_file=/etc/ssl/private-ca.pem\n",
    );
    assert.ok(!s.includes("SECRET") && !s.includes("AGE-SECRET"));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-bucket-"));
    try {
        const ok = fakeTool(dir, { recipient: 'read -r id; [ "${id#AGE-SECRET-KEY-1}" != "$id" ] && echo age1qqqqqqqq' });
        assert.deepEqual(await uploadRecipient(ok, upload), { recipient: "age1qqqqqqqq" });
        const bad = fakeTool(dir, { recipient: 'echo "k8scp-backup: parsing the identity: malformed" >&2; exit 1' });
        const r = await uploadRecipient(bad, upload);
        assert.match(
            r.problem ?? "",
            /^k8scp:etcdSnapshots\.upload\.encryptionKey: k8scp-backup recipient failed \(k8scp-backup: parsing the identity: malformed\)/,
        );
        assert.ok(!fs.readFileSync(path.join(dir, "argv.log"), "utf8").includes("AGE-SECRET"), "the identity on a command line");
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});

test("restore from the bucket: newest names the key instead of restoring; a missing object and a wrong key are named", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-bucket-"));
    const cache = path.join(dir, "cache");
    process.env.K8SCP_CACHE = cache;
    try {
        const key = "prod/n1/etcd-n1-20261207T000000Z.db.age";
        const tool = fakeTool(dir, {
            newest: `echo ${key}`,
            check: `[ "$4" = ${key} ] && echo "2026-12-07T00:00:01Z 4096 ${key}" || { echo "k8scp-backup: no object $4" >&2; exit 1; }`,
            get: 'printf snapshot > "$5"; echo "abc 8"',
        });
        const newest = await fetchRestoreObject(tool, upload, "prod", "bucket:newest");
        assert.match(
            newest.problem ?? "",
            new RegExp(
                `the newest snapshot in http://10\\.213\\.0\\.10:7070/k8scp-snapshots is '${key}'; set k8scp:etcdRestoreFrom to 'bucket:${key}'`,
            ),
        );
        const missing = await fetchRestoreObject(tool, upload, "prod", "bucket:prod/n9/nope.db.age");
        assert.match(
            missing.problem ?? "",
            /k8scp:etcdRestoreFrom: 'prod\/n9\/nope\.db\.age' is not in .*k8scp-backup: no object prod\/n9\/nope\.db\.age/,
        );
        const got = await fetchRestoreObject(tool, upload, "prod", `bucket:${key}`);
        assert.equal(got.object, `2026-12-07T00:00:01Z 4096 ${key}`);
        assert.equal(fs.readFileSync(got.file!, "utf8"), "snapshot");
        assert.equal(fs.statSync(path.dirname(got.file!)).mode & 0o777, 0o700);
        const log = fs.readFileSync(path.join(dir, "argv.log"), "utf8");
        assert.ok(!log.includes("SECRET-ACCESS-KEY") && !log.includes("AGE-SECRET"), "a secret on a command line");
        assert.match(log, /^get --settings \S+ prod\/n1\/\S+ \S+ \| key=set identity=set$/m, "credentials and identity in the environment");
        const wrongKey = fakeTool(dir, {
            check: `echo "2026-12-07T00:00:01Z 4096 ${key}"`,
            get: 'echo "k8scp-backup: decrypting: no identity matched any of the recipients" >&2; exit 1',
        });
        const wrong = await fetchRestoreObject(wrongKey, upload, "prod", `bucket:${key}`);
        assert.match(wrong.problem ?? "", /could not be downloaded and decrypted \(k8scp-backup: decrypting: no identity matched/);
        assert.match(wrong.problem ?? "", /is etcdSnapshots\.upload\.encryptionKey the key it was uploaded with\?/);
        // Once no restore from the bucket is configured, the decrypted copies are removed.
        assert.deepEqual(clearRestoreCache(path.join(cache, "restore")), [path.basename(got.file!)]);
        assert.equal(fs.existsSync(got.file!), false);
    } finally {
        delete process.env.K8SCP_CACHE;
        fs.rmSync(dir, { recursive: true, force: true });
    }
});
