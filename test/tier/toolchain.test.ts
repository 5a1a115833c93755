// Checks the toolchain that `npm run toolchain` (scripts/toolchain.sh) built:
// every built binary reports the version pinned in package.json, and the
// Pulumi plugins are installed in the toolchain's PULUMI_HOME. Components the
// Go module proxy does not serve are reported as skipped, with the reason.
import { after, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const repo = path.resolve(__dirname, "..", "..");

interface Component {
    name: string;
    status: "built" | "unavailable" | "missing";
    release?: string;
    module?: string;
    version?: string;
    reason?: string;
    binaries?: Record<string, string>;
    plugins?: Record<string, string>;
}

interface Manifest {
    toolchainDir: string;
    components: Record<string, Component>;
}

interface PackageJson {
    toolchain: { kubernetes: string; etcd: string };
    dependencies: Record<string, string>;
}

const pkg = JSON.parse(fs.readFileSync(path.join(repo, "package.json"), "utf8")) as PackageJson;

// The pinned release each component must report, from package.json.
const pins: Record<string, string> = {
    kubernetes: pkg.toolchain.kubernetes,
    etcd: pkg.toolchain.etcd,
    pulumi: pkg.dependencies["@pulumi/pulumi"],
    "pulumi-language-nodejs": pkg.dependencies["@pulumi/pulumi"],
    "pulumi-resource-command": pkg.dependencies["@pulumi/command"],
    "pulumi-resource-tls": pkg.dependencies["@pulumi/tls"],
    "pulumi-resource-random": pkg.dependencies["@pulumi/random"],
};

const toolchainDir = childProcess
    .execFileSync("bash", ["-c", 'source scripts/env.sh && echo "$K8SCP_TOOLCHAIN_DIR"'], {
        cwd: repo,
        encoding: "utf8",
    })
    .trim();
const manifestPath = path.join(toolchainDir, "manifest.json");
const manifest: Manifest | undefined = fs.existsSync(manifestPath)
    ? (JSON.parse(fs.readFileSync(manifestPath, "utf8")) as Manifest)
    : undefined;

// A minimal environment: no proxy or other network settings, a throw-away
// HOME (no ~/.kube/config, no ~/.pulumi), the toolchain's PULUMI_HOME.
const home = fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-toolchain-test-"));
after(() => fs.rmSync(home, { recursive: true, force: true }));
const cleanEnv: NodeJS.ProcessEnv = {
    PATH: `${path.join(toolchainDir, "bin")}:/usr/local/bin:/usr/bin:/bin`,
    HOME: home,
    LANG: "C.UTF-8",
    PULUMI_HOME: path.join(toolchainDir, "pulumi-home"),
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
};

function run(bin: string, args: string[]): string {
    const r = childProcess.spawnSync(bin, args, { env: cleanEnv, encoding: "utf8", timeout: 60_000 });
    if (r.error) throw r.error;
    const out = `${r.stdout}${r.stderr}`;
    assert.equal(r.status, 0, `${path.basename(bin)} ${args.join(" ")} exited ${r.status}:\n${out}`);
    return out;
}

function component(t: TestContext, name: string): Component | undefined {
    assert.ok(manifest, `no toolchain at ${toolchainDir}: run npm run toolchain`);
    const c = manifest.components[name];
    assert.ok(c, `manifest.json has no entry for ${name}: run npm run toolchain`);
    if (c.status === "unavailable") {
        t.skip(`${c.module}@${c.version} not served by the Go module proxy: ${c.reason}`);
        return undefined;
    }
    assert.equal(c.status, "built", `${name} is ${c.status}: run npm run toolchain`);
    assert.equal(c.release, pins[name], `${name} was built for ${c.release}, package.json pins ${pins[name]}`);
    return c;
}

function binary(c: Component, name: string): string {
    const p = c.binaries?.[name];
    assert.ok(p, `manifest.json lists no ${name} binary for ${c.name}`);
    assert.ok(fs.existsSync(p), `${p} is missing: run npm run toolchain`);
    return p;
}

test("the toolchain has been built (npm run toolchain)", () => {
    assert.ok(fs.existsSync(toolchainDir), `no toolchain directory ${toolchainDir}: run npm run toolchain`);
    assert.ok(manifest, `no ${manifestPath}: run npm run toolchain`);
    assert.deepEqual(Object.keys(manifest.components).sort(), Object.keys(pins).sort());
});

test("kubernetes binaries report the pinned version", (t) => {
    const c = component(t, "kubernetes");
    if (!c) return;
    const want = `v${pins.kubernetes}`;
    for (const b of ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]) {
        assert.match(run(binary(c, b), ["--version"]), new RegExp(`^Kubernetes ${want.replace(/\./g, "\\.")}$`, "m"));
    }
    assert.match(run(binary(c, "kubectl"), ["version", "--client"]), new RegExp(`^Client Version: ${want}$`, "m"));
});

test("etcd binaries report the pinned version", (t) => {
    const c = component(t, "etcd");
    if (!c) return;
    assert.match(run(binary(c, "etcd"), ["--version"]), new RegExp(`^etcd Version: ${pins.etcd}$`, "m"));
    assert.match(run(binary(c, "etcdctl"), ["version"]), new RegExp(`^etcdctl version: ${pins.etcd}$`, "m"));
});

test("pulumi CLI reports the pinned version", (t) => {
    const c = component(t, "pulumi");
    if (!c) return;
    assert.equal(run(binary(c, "pulumi"), ["version"]).trim(), `v${pins.pulumi}`);
});

test("pulumi-language-nodejs carries the pinned version", (t) => {
    const c = component(t, "pulumi-language-nodejs");
    if (!c) return;
    // The language host has no version command: the version is linked into it.
    const bin = fs.readFileSync(binary(c, "pulumi-language-nodejs"));
    assert.ok(bin.includes(`v${pins.pulumi}`), `pulumi-language-nodejs does not contain v${pins.pulumi}`);
});

for (const provider of ["command", "tls", "random"]) {
    const name = `pulumi-resource-${provider}`;
    test(`${name} is installed as a plugin`, (t) => {
        const c = component(t, name);
        if (!c) return;
        const plugin = c.plugins?.[provider];
        assert.ok(plugin && fs.existsSync(plugin), `plugin ${provider} is not installed in PULUMI_HOME`);
        const pulumi = manifest?.components.pulumi;
        if (pulumi?.status !== "built" || !pulumi.binaries?.pulumi) {
            // Without our pulumi CLI, the plugin's place in PULUMI_HOME is all we can check.
            assert.ok(plugin.includes(`resource-${provider}-v${pins[name]}`), plugin);
            return;
        }
        const ls = run(pulumi.binaries.pulumi, ["plugin", "ls"]);
        assert.match(ls, new RegExp(`^${provider}\\s+resource\\s+${pins[name].replace(/\./g, "\\.")}\\s`, "m"), ls);
    });
}
