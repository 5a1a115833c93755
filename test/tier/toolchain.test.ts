// Checks the toolchain that `npm run toolchain` (scripts/toolchain.sh) built: every binary reports the
// version pinned in package.json, the plugins are installed in the toolchain's private PULUMI_HOME at the
// versions the npm SDKs ask for, and a tiny real Pulumi program (test/tier/tiny) that uses all three plugins
// goes through `up`, a no-op `preview --expect-no-changes`, one changed input and `destroy` against a lab host.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { Lab, fileBackend, labDir, repo, stepper, toolchainEnv } from "../lib/lab";
import { PulumiCli } from "../lib/pulumi";

interface Manifest {
    toolchainDir: string;
    components: Record<string, { status: string; dir?: string }>;
}
interface PackageJson {
    toolchain: { kubernetes: string; etcd: string; pulumi: string };
    dependencies: Record<string, string>;
}
const pkg = JSON.parse(fs.readFileSync(path.join(repo, "package.json"), "utf8")) as PackageJson;
const plugins: Record<string, string> = {
    command: pkg.dependencies["@pulumi/command"],
    tls: pkg.dependencies["@pulumi/tls"],
    random: pkg.dependencies["@pulumi/random"],
};

const tcEnv = toolchainEnv();
assert.ok(tcEnv, "scripts/env.sh computes the toolchain directory");
const toolchainDir = tcEnv.K8SCP_TOOLCHAIN_DIR!;
const bin = (b: string) => path.join(toolchainDir, "bin", b);
const manifestPath = path.join(toolchainDir, "manifest.json");

// A minimal environment: a throw-away HOME (no ~/.pulumi, no ~/.kube), the toolchain's PULUMI_HOME, offline
// Pulumi settings, and PATH with the toolchain and the repo's Node first (what scripts/env.sh sets up).
const home = fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-toolchain-test-"));
after(() => fs.rmSync(home, { recursive: true, force: true }));
const cleanEnv: NodeJS.ProcessEnv = {
    PATH: tcEnv.PATH,
    HOME: home,
    LANG: "C.UTF-8",
    PULUMI_HOME: tcEnv.PULUMI_HOME,
    K8SCP_TOOLCHAIN_DIR: toolchainDir,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
    PULUMI_BACKEND_URL: fileBackend(path.join(home, "backend")),
    PULUMI_CONFIG_PASSPHRASE: "tiny-test",
};

interface Run {
    status: number | null;
    out: string;
}
function spawn(cmd: string, args: string[], timeoutMs = 60_000, input?: string): Run {
    const r = childProcess.spawnSync(cmd, args, { env: cleanEnv, encoding: "utf8", timeout: timeoutMs, input, cwd: repo });
    if (r.error) throw r.error;
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
}
function run(cmd: string, args: string[], timeoutMs = 60_000): string {
    const r = spawn(cmd, args, timeoutMs);
    assert.equal(r.status, 0, `${path.basename(cmd)} ${args.join(" ")} exited ${r.status}:\n${r.out}`);
    return r.out;
}

test("the toolchain is complete (npm run toolchain)", () => {
    assert.ok(fs.existsSync(manifestPath), `no ${manifestPath}: run npm run toolchain`);
    const m = JSON.parse(fs.readFileSync(manifestPath, "utf8")) as Manifest;
    const notBuilt = Object.entries(m.components).filter(([, c]) => c.status !== "built");
    assert.deepEqual(notBuilt, [], "every component is built");
    assert.deepEqual(Object.keys(m.components).sort(), [
        "etcd",
        "k8scp-backup",
        "kubernetes",
        "pulumi",
        "pulumi-language-nodejs",
        "pulumi-resource-command",
        "pulumi-resource-random",
        "pulumi-resource-tls",
    ]);
    assert.ok(fs.existsSync(path.join(toolchainDir, "stamps", "complete")));
});

test("kubernetes binaries report the pinned version", () => {
    const want = `v${pkg.toolchain.kubernetes}`.replace(/\./g, "\\.");
    for (const b of ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]) {
        assert.match(run(bin(b), ["--version"]), new RegExp(`^Kubernetes ${want}$`, "m"));
    }
    assert.match(run(bin("kubectl"), ["version", "--client"]), new RegExp(`^Client Version: ${want}$`, "m"));
});

test("etcd binaries report the pinned version", () => {
    const want = pkg.toolchain.etcd.replace(/\./g, "\\.");
    assert.match(run(bin("etcd"), ["--version"]), new RegExp(`^etcd Version: ${want}$`, "m"));
    assert.match(run(bin("etcdctl"), ["version"]), new RegExp(`^etcdctl version: ${want}$`, "m"));
    assert.match(run(bin("etcdutl"), ["version"]), new RegExp(`^etcdutl version: ${want}$`, "m"));
});

test("k8scp-backup reports its version", () => {
    assert.match(run(bin("k8scp-backup"), ["version"]), /^k8scp-backup \d+\.\d+\.\d+$/m);
});

test("the pulumi CLI reports the pinned version, with its language host beside it", () => {
    assert.equal(run(bin("pulumi"), ["version"]).trim(), `v${pkg.toolchain.pulumi}`);
    // The CLI looks for bundled plugins next to its own executable (hard links, not symlinks: it resolves them).
    const st = fs.lstatSync(bin("pulumi-language-nodejs"));
    assert.ok(st.isFile() && (st.mode & 0o111) !== 0, "pulumi-language-nodejs is an executable file in bin/");
});

test("the resource plugins are installed in the private PULUMI_HOME at the SDKs' versions", () => {
    const ls = run(bin("pulumi"), ["plugin", "ls"]);
    for (const [name, version] of Object.entries(plugins)) {
        assert.match(ls, new RegExp(`^${name}\\s+resource\\s+${version.replace(/\./g, "\\.")}\\s`, "m"), ls);
    }
    assert.ok(!fs.existsSync(path.join(home, ".pulumi")), "nothing was written to a global ~/.pulumi");
});

// --- the tiny real program on a lab host -----------------------------------------------------------------
test("a tiny real program with all three plugins: up, no-op preview, one change, destroy", async (t) => {
    const step = stepper("toolchain");
    const lab = await step("lab up 1", () => Lab.up(1));
    fs.mkdirSync(path.join(home, "backend"));
    const pulumi = new PulumiCli(lab, cleanEnv, path.join(repo, "test", "tier", "tiny"), "tiny", path.join(home, "Pulumi.tiny.yaml"));
    const onHost = async (cmd: string) => (await lab.sshOk(lab.masters[0].address, cmd)).trim();
    try {
        const hostKey = fs
            .readFileSync(path.join(labDir, "hostkeys", "n1_ed25519.pub"), "utf8")
            .split(" ")
            .slice(0, 2)
            .join(" ");
        await pulumi.ok(["stack", "init"]);
        for (const [k, v] of Object.entries({
            host: lab.masters[0].address,
            hostKey,
            keyPath: path.join(labDir, "id_ed25519"),
            message: "hello from pulumi",
        })) {
            await pulumi.ok(["config", "set", k, v]);
        }
        const up = await step("up", () => pulumi.ok(["up", "--yes", "--skip-preview"]));
        assert.match(up, /Resources:\s*\n\s*\+ 6 created/, up);
        const outputs = (await pulumi.outputs()) as Record<string, string>;
        assert.equal(outputs.messageOnHost.trim(), "hello from pulumi");
        assert.equal(outputs.publicKeyOnHost.trim(), outputs.publicKey.trim());
        assert.equal(await onHost(`cat ${outputs.remoteDir}/message`), "hello from pulumi");
        assert.equal(await onHost(`cat ${outputs.remoteDir}/id.pub`), outputs.publicKey.trim());

        await t.test("the private key is a secret: not in the state, not printed", async () => {
            assert.match(await pulumi.ok(["stack", "output", "privateKey"]), /\[secret\]/);
            for (const text of await pulumi.stateTexts()) assert.doesNotMatch(text, /PRIVATE KEY/);
            assert.doesNotMatch(up, /PRIVATE KEY/);
        });

        await t.test("nothing changed: preview --expect-no-changes passes", async () => {
            await step("no-op preview", () => pulumi.ok(["preview", "--expect-no-changes"]));
        });

        await t.test("one changed input updates just the command that uses it", async () => {
            await pulumi.ok(["config", "set", "message", "changed"]);
            const preview = await pulumi.ok(["preview", "--diff"]);
            assert.match(preview, /~ command:remote:Command: \(update\)\s*\n\s*\[id=[^\]]*\]\s*\n\s*\[urn=[^\]]*::write\]/, preview);
            assert.match(preview, /~ stdin: "hello from pulumi" => "changed"/, preview);
            assert.match(preview, /1 to update/, preview);
            const r = await step("change", () => pulumi.ok(["up", "--yes", "--skip-preview"]));
            assert.match(r, /~ 1 updated/, r);
            assert.equal(await onHost(`cat ${outputs.remoteDir}/message`), "changed");
            await pulumi.ok(["preview", "--expect-no-changes"]);
        });

        await t.test("destroy removes what the program made on the host", async () => {
            await step("destroy", () => pulumi.ok(["destroy", "--yes", "--skip-preview"]));
            assert.equal(await onHost(`test -e ${outputs.remoteDir} && echo present || echo gone`), "gone");
            await pulumi.ok(["stack", "rm", "--yes"]);
        });
    } finally {
        await Lab.down();
    }
});
