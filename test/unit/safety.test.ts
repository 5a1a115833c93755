// Guards of issue 25 that are pure: a step re-run with the same script changes nothing on a healthy host.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { renderSnapshotInstallScript } from "../../components/render/backup";
import { renderServiceScript } from "../../components/render/scripts";
import { labMasters } from "./fixtures";

const spec = {
    name: "kube-scheduler",
    user: "kube-scheduler",
    unit: "[Service]\nExecStart=/usr/local/bin/kube-scheduler --v=2\n",
    binaries: [{ name: "kube-scheduler", sha256: "ab".repeat(32) }],
    files: [],
    ownsUser: false,
    filesRevision: "cd".repeat(32),
    health: { url: "https://10.213.0.11:10259/healthz" },
};
const revisionOf = (script: string) => /^revision=([0-9a-f]{64})$/m.exec(script)?.[1];

test("service script: its revision is the hash of its own text; the same script again leaves a healthy service alone", () => {
    const s = renderServiceScript(spec);
    const rev = revisionOf(s);
    assert.ok(rev, "no revision line");
    assert.equal(rev, createHash("sha256").update(s.replace(rev, "K8SCP_REVISION_PLACEHOLDER")).digest("hex"));
    // Anything that restarts the service changes the revision: a flag, the files, a repair marker.
    assert.notEqual(revisionOf(renderServiceScript({ ...spec, unit: spec.unit.replace("--v=2", "--v=3") })), rev);
    assert.notEqual(revisionOf(renderServiceScript({ ...spec, filesRevision: "ef".repeat(32) })), rev);
    assert.notEqual(revisionOf(renderServiceScript({ ...spec, repairMarker: "0123456789abcdef" })), rev);
    // The check comes before any (re)start, and the revision is recorded only after the service is healthy or started.
    const check = s.indexOf("if applied_same healthy; then");
    assert.ok(check > 0 && check < s.indexOf('systemctl restart "$svc.service"') && check < s.indexOf("systemctl restart --no-block"));
    assert.ok(s.lastIndexOf("applied_record") > s.indexOf("until curl"), "recorded before health");
    assert.match(s, /^healthy\(\) \{ systemctl is-active --quiet "\$svc.service" && curl /m);
});

test("snapshot timer: the same install script again keeps the timer running (no restart)", () => {
    const s = renderSnapshotInstallScript(labMasters()[0], { enabled: true, interval: "1h", retention: 3, dir: "/var/lib/etcd-snapshots" });
    assert.ok(revisionOf(s));
    const check = s.indexOf("if applied_same systemctl is-active --quiet etcd-snapshot.timer");
    assert.ok(check > 0 && check < s.indexOf("systemctl restart etcd-snapshot.timer"));
    // An existing directory that is not etcd's (e.g. /home) is never taken over.
    assert.match(s, /is not a directory owned by etcd; it is left alone/);
    assert.ok(s.indexOf("install -d -m 0700 -o etcd") > s.indexOf("if [ ! -e '/var/lib/etcd-snapshots' ]"));
    // One it made (its marker) is its own again after the master left and came back with a new etcd user (seen on the lab).
    assert.match(s, /\[ ! -e "\$marker" \] && \[ "\$\(stat -c %U '\/var\/lib\/etcd-snapshots'\)" != etcd \]/);
    assert.match(s, /chown -R etcd:etcd '\/var\/lib\/etcd-snapshots'/);
});
