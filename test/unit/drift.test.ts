// Drift detection's pure parts: the probe's parsing, the repair marker's stability, and the record lines,
// with the probe and the record lines run for real by bash against a scratch directory standing for the host.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseDriftProbe, renderDriftProbe, repairMarker } from "../../components/plan/drift";
import { recordFiles, recordLines, stateDir } from "../../components/render/records";

test("the probe's lines parse into each unit's steps; a unit it did not report is an error", () => {
    const out = [
        "kube-scheduler service drift 0123abcd /etc/systemd/system/kube-scheduler.service:%20FAILED;kube-scheduler.service:%20inactive",
        "kube-scheduler files ok - -",
        "etcd service new - -",
        "etcd files new - -",
    ].join("\n");
    const o = parseDriftProbe(out, ["kube-scheduler", "etcd"]);
    assert.deepEqual(o["kube-scheduler"].service, {
        state: "drift",
        marker: "0123abcd",
        detail: "/etc/systemd/system/kube-scheduler.service: FAILED; kube-scheduler.service: inactive",
    });
    assert.deepEqual(o["kube-scheduler"].files, { state: "ok", marker: "", detail: "" });
    assert.equal(o.etcd.service.state, "new");
    assert.throws(() => parseDriftProbe(out, ["kube-apiserver"]), /printed nothing for kube-apiserver/);
});

test("the repair marker: kept while the host is as recorded, a new one chained from it on drift", () => {
    assert.equal(repairMarker(undefined), "");
    assert.equal(repairMarker({ state: "new", marker: "", detail: "" }), "");
    assert.equal(repairMarker({ state: "ok", marker: "abc", detail: "" }), "abc", "no drift: the host's marker, so stdin is unchanged");
    const m1 = repairMarker({ state: "drift", marker: "", detail: "x: FAILED" });
    assert.match(m1, /^[0-9a-f]{16}$/);
    assert.equal(repairMarker({ state: "drift", marker: "", detail: "x: FAILED" }), m1, "deterministic: preview and up agree");
    assert.notEqual(repairMarker({ state: "drift", marker: m1, detail: "x: FAILED" }), m1, "the same edit again still repairs");
});

test(
    "record lines and the probe, run by bash: as recorded, then edited, then stopped",
    { skip: process.getuid?.() !== 0 && "needs root (writes /var/lib/k8scp)" },
    () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-drift-"));
        const unit = `k8scp-drift-test-${process.pid}`;
        try {
            const f = path.join(dir, "unit.service");
            fs.writeFileSync(f, "[Service]\nExecStart=/bin/true\n");
            execFileSync("bash", ["-c", recordLines(unit, "files", [f], "feedbeef")]);
            const probe = () =>
                parseDriftProbe(execFileSync("bash", ["-s"], { input: renderDriftProbe([unit]), encoding: "utf8" }), [unit])[unit];
            assert.deepEqual(probe().files, { state: "ok", marker: "feedbeef", detail: "" });
            assert.equal(probe().service.state, "new", "no record yet");
            // Unchanged name, size, mtime and inode: the probe trusts the record and does not hash (a wrong sum is not seen).
            const sums = recordFiles(unit, "files").sums;
            const recorded = fs.readFileSync(sums, "utf8");
            fs.writeFileSync(sums, recorded.replace(/^[0-9a-f]{64}/, "0".repeat(64)));
            assert.equal(probe().files.state, "ok", "hashed although the file's identity is as recorded");
            // The same bytes written again (a new inode, a new mtime): hashed, and the same content is not drift.
            fs.writeFileSync(`${f}.new`, fs.readFileSync(f));
            fs.renameSync(`${f}.new`, f);
            assert.equal(probe().files.state, "drift", "the wrong sum is seen once the file's identity changed");
            fs.writeFileSync(sums, recorded);
            assert.equal(probe().files.state, "ok", "rewritten with the same content");
            fs.appendFileSync(f, "# edited by hand\n");
            const o = probe().files;
            assert.equal(o.state, "drift");
            assert.match(o.detail, new RegExp(`${f}: FAILED`));
            execFileSync("bash", ["-c", recordLines(unit, "service", [f], "")]);
            // The service step also drifts when its unit is not active (this test unit does not exist).
            assert.equal(probe().service.state, "drift");
            assert.match(probe().service.detail, new RegExp(`^${unit}.service: `));
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
            for (const x of fs.readdirSync(stateDir).filter((n) => n.startsWith(unit))) fs.rmSync(path.join(stateDir, x));
        }
    },
);

test(
    "record lines: a verified file (an installed binary) is recorded with its known sum, and an edit of it is drift",
    { skip: process.getuid?.() !== 0 && "needs root (writes /var/lib/k8scp)" },
    () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-drift-"));
        const unit = `k8scp-drift-verified-${process.pid}`;
        try {
            const unitFile = path.join(dir, "unit.service");
            const bin = path.join(dir, "bin");
            fs.writeFileSync(unitFile, "[Service]\n");
            fs.writeFileSync(bin, "binary bytes\n");
            const sum = execFileSync("sha256sum", [bin], { encoding: "utf8" }).split(" ")[0];
            const record = (sha256: string) =>
                execFileSync("bash", ["-c", recordLines(unit, "files", [unitFile], "", [{ path: bin, sha256 }])]);
            const probe = () =>
                parseDriftProbe(execFileSync("bash", ["-s"], { input: renderDriftProbe([unit]), encoding: "utf8" }), [unit])[unit].files;
            // The known sum is what is recorded (the script does not read the file again).
            record(sum);
            const sums = fs.readFileSync(recordFiles(unit, "files").sums, "utf8").trim().split("\n").sort();
            assert.deepEqual(sums, [`${sum}  ${bin}`, execFileSync("sha256sum", [unitFile], { encoding: "utf8" }).trim()].sort());
            assert.equal(probe().state, "ok");
            fs.writeFileSync(`${bin}.new`, "other bytes\n");
            fs.renameSync(`${bin}.new`, bin);
            assert.equal(probe().state, "drift", "the binary was replaced");
            assert.match(probe().detail, new RegExp(`${bin}: FAILED`));
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
            for (const x of fs.readdirSync(stateDir).filter((n) => n.startsWith(unit))) fs.rmSync(path.join(stateDir, x));
        }
    },
);
