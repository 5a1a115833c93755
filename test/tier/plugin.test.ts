// The Go tests of the project's own toolchain programs. The command plugin (toolchain/pulumi-resource-command): both
// SSH modes against an in-process SSH server, the schema against the shipped @pulumi/command SDK. k8scp-backup
// (toolchain/k8scp-backup): settings, credentials, age and ordering, and put/list/newest/get/check/prune against a
// versitygw S3 gateway it starts on 127.0.0.1 when one is built (bash scripts/toolchain.sh versitygw; otherwise those
// tests skip). Offline: the modules are those the toolchain build downloaded (GOPROXY=off), and every run is bounded.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { cacheDir, repo, toolchainDir } from "../lib/lab";

const go = childProcess.spawnSync("go", ["version"], { encoding: "utf8" });
const skip = go.status !== 0 ? "go is not on PATH" : false;

/** `go vet ./...` and `go test ./...` in toolchain/NAME, offline, with extra environment. */
function goVetAndTest(name: string, extraEnv: NodeJS.ProcessEnv): void {
    const env = {
        ...process.env,
        CGO_ENABLED: "0",
        GOWORK: "off",
        GOTOOLCHAIN: "local",
        GOPROXY: "off",
        GOFLAGS: "-buildvcs=false -modcacherw -mod=readonly",
        ...extraEnv,
    };
    const cwd = path.join(repo, "toolchain", name);
    for (const args of [
        ["vet", "./..."],
        ["test", "-count=1", "-timeout", "300s", "./..."],
    ]) {
        const r = childProcess.spawnSync("go", args, { cwd, env, encoding: "utf8", timeout: 540_000 });
        assert.equal(r.status, 0, `go ${args.join(" ")} in ${cwd} exited ${r.status ?? r.signal}:\n${r.stdout}${r.stderr}`);
    }
}

/**
 * The versitygw binary, when built: $K8SCP_VERSITYGW, else the toolchain's extra binDir, else the newest build in the
 * component cache (still there when another checkout's toolchain run pruned this toolchain dir; see
 * toolchain/extra/versitygw/README.md). Building it is left to `bash scripts/toolchain.sh versitygw`.
 */
function versitygw(): string | undefined {
    const isExe = (p: string) => {
        try {
            fs.accessSync(p, fs.constants.X_OK);
            return fs.statSync(p).isFile();
        } catch {
            return false;
        }
    };
    if (process.env.K8SCP_VERSITYGW) return process.env.K8SCP_VERSITYGW;
    const tc = toolchainDir();
    if (tc && isExe(path.join(tc, "extra", "versitygw", "bin", "versitygw")))
        return path.join(tc, "extra", "versitygw", "bin", "versitygw");
    const builds = path.join(cacheDir, "components", "versitygw");
    const found = (fs.existsSync(builds) ? fs.readdirSync(builds) : [])
        .map((h) => path.join(builds, h, "versitygw"))
        .filter(isExe)
        .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
    return found[0];
}

test("command plugin: go vet and go test", { skip, timeout: 600_000 }, () => {
    goVetAndTest("pulumi-resource-command", { K8SCP_COMMAND_SDK_DIR: path.join(repo, "node_modules", "@pulumi", "command") });
});

test("k8scp-backup: go vet and go test (S3 tests against versitygw when it is built)", { skip, timeout: 600_000 }, (t) => {
    const vgw = versitygw();
    t.diagnostic(vgw ? `versitygw: ${vgw}` : "no versitygw binary (bash scripts/toolchain.sh versitygw): the S3 integration tests skip");
    goVetAndTest("k8scp-backup", vgw ? { K8SCP_VERSITYGW: vgw } : {});
});
