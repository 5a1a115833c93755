// The command plugin's own Go tests (toolchain/pulumi-resource-command): both SSH modes against an in-process SSH
// server, the schema against the shipped @pulumi/command SDK. Offline: the modules are those the toolchain build
// downloaded (GOPROXY=off), and the run is bounded.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as path from "node:path";
import { repo } from "../lib/lab";

const go = childProcess.spawnSync("go", ["version"], { encoding: "utf8" });

test("command plugin: go vet and go test", { skip: go.status !== 0 ? "go is not on PATH" : false, timeout: 600_000 }, () => {
    const env = {
        ...process.env,
        CGO_ENABLED: "0",
        GOWORK: "off",
        GOTOOLCHAIN: "local",
        GOPROXY: "off",
        GOFLAGS: "-buildvcs=false -modcacherw -mod=readonly",
        K8SCP_COMMAND_SDK_DIR: path.join(repo, "node_modules", "@pulumi", "command"),
    };
    const cwd = path.join(repo, "toolchain", "pulumi-resource-command");
    for (const args of [
        ["vet", "./..."],
        ["test", "-count=1", "-timeout", "300s", "./..."],
    ]) {
        const r = childProcess.spawnSync("go", args, { cwd, env, encoding: "utf8", timeout: 540_000 });
        assert.equal(r.status, 0, `go ${args.join(" ")} in ${cwd} exited ${r.status ?? r.signal}:\n${r.stdout}${r.stderr}`);
    }
});
