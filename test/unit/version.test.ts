// Kubernetes version changes against the version skew policy (pure).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { describeVersionChange, parseVersionProbe, planVersionChange, renderVersionProbe } from "../../components/plan/version";

const key = "k8scp:kubernetesVersion";

test("version probe: the line kube-apiserver --version gives, or nothing where none is installed", () => {
    assert.match(renderVersionProbe(), /^echo "kube-version \$\(\/usr\/local\/bin\/kube-apiserver --version 2>\/dev\/null\)"\n$/);
    assert.equal(parseVersionProbe("etcd-data yes\nkube-version Kubernetes v1.33.13\n"), "v1.33.13");
    assert.equal(parseVersionProbe("kube-version \n"), undefined);
    assert.equal(parseVersionProbe("kube-version Kubernetes garbage\n"), undefined);
});

test("version probe with the local binary known: a recorded, unchanged kube-apiserver is not started", () => {
    const known = { sha256: "a".repeat(64), version: "1.34.4" };
    const probe = renderVersionProbe(known);
    // The probe reads the service step's records; run it against scratch copies of them (paths rewritten).
    const dir = fs.mkdtempSync("/tmp/k8scp-version-");
    try {
        const bin = `${dir}/kube-apiserver`;
        fs.writeFileSync(bin, '#!/bin/sh\necho "Kubernetes v1.33.13"\n', { mode: 0o755 });
        const local = probe.replaceAll("/usr/local/bin/kube-apiserver", bin).replaceAll("/var/lib/k8scp", dir);
        const run = () => parseVersionProbe(execFileSync("bash", ["-s"], { input: local, encoding: "utf8" }));
        assert.equal(run(), "v1.33.13", "no records: the binary is asked");
        const record = (sum: string) => {
            fs.writeFileSync(`${dir}/kube-apiserver.service.sums`, `${sum}  ${bin}\n`);
            fs.writeFileSync(
                `${dir}/kube-apiserver.service.sums.stat`,
                execFileSync("stat", ["-c", "%n %s %.9Y %i", bin], { encoding: "utf8" }),
            );
        };
        record(known.sha256);
        assert.equal(run(), "v1.34.4", "recorded with the local binary's sha256 and unchanged: the local version, not started");
        record("b".repeat(64));
        assert.equal(run(), "v1.33.13", "another binary was installed: asked");
        record(known.sha256);
        fs.appendFileSync(bin, "# replaced by hand\n");
        assert.equal(run(), "v1.33.13", "the file changed since it was recorded: asked");
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});

test("version change: one minor release up is planned in the skew policy's order", () => {
    const plan = planVersionChange({ n1: "v1.33.13", n2: "v1.33.13", n3: undefined }, "1.34.4", key);
    assert.deepEqual(plan.problems, []);
    assert.deepEqual(plan.changing, [
        { name: "n1", from: "v1.33.13" },
        { name: "n2", from: "v1.33.13" },
    ]);
    const line = describeVersionChange(plan, "1.34.4")!;
    assert.match(line, /^Kubernetes v1\.33\.13 -> v1\.34\.4 on n1, n2: every kube-apiserver first/);
    assert.ok(line.indexOf("kube-controller-managers") < line.indexOf("kube-schedulers"));
});

test("version change: nothing to say when every master already runs it", () => {
    const plan = planVersionChange({ n1: "v1.34.4", n2: "v1.34.4" }, "v1.34.4", key);
    assert.deepEqual(plan, { changing: [], problems: [] });
    assert.equal(describeVersionChange(plan, "1.34.4"), undefined);
});

test("version change: skipping a minor release is refused, naming the key and the release to go through", () => {
    const plan = planVersionChange({ n1: "v1.32.9", n2: "v1.33.13" }, "1.34.4", key);
    assert.equal(plan.problems.length, 1);
    assert.match(plan.problems[0], /^k8scp:kubernetesVersion: n1 runs v1\.32\.9 .* set 1\.33\.x first/);
    assert.equal(planVersionChange({ n1: "v1.34.4" }, "2.0.0", key).problems.length, 1);
});

test("version change: a minor downgrade is refused, a patch downgrade is allowed", () => {
    const down = planVersionChange({ n1: "v1.34.4" }, "1.33.13", key);
    assert.equal(down.problems.length, 1);
    assert.match(down.problems[0], /n1 runs v1\.34\.4; going back to v1\.33\.13.*etcdRestoreFrom/);
    const patch = planVersionChange({ n1: "v1.34.4" }, "1.34.3", key);
    assert.deepEqual(patch.problems, []);
    assert.deepEqual(patch.changing, [{ name: "n1", from: "v1.34.4" }]);
});
