// Least privilege for the library's own identities: no certificate but the break-glass super-admin in system:masters,
// the RBAC bootstrap script (run here against a fake API server: a `curl` on PATH that keeps objects in a directory),
// and HAProxy as its own sandboxed user.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { identities } from "../../components/render/pki";
import { clusterRoleBindingJson, clusterRoleBindings, renderRbacBootstrapScript } from "../../components/render/rbac";
import { haproxyService, haproxyUser, sandbox } from "../../components/render/services";
import { labMasters } from "./fixtures";

test("only the break-glass super-admin is in system:masters; admin and the kubelet client are bound by RBAC", () => {
    const inMasters = Object.entries(identities)
        .filter(([, i]) => i.organization === "system:masters")
        .map(([k]) => k);
    assert.deepEqual(inMasters, ["superAdmin"]);
    const bound = Object.fromEntries(clusterRoleBindings.map((b) => [b.group, b.clusterRole]));
    assert.equal(bound[identities.admin.organization], "cluster-admin");
    assert.equal(bound[identities.apiserverKubeletClient.organization], "system:kubelet-api-admin");
});

/**
 * A fake API server behind `curl`: GET/POST/PUT/DELETE of ClusterRoleBindings stored as files, every call logged,
 * and a PUT that changes roleRef refused with 422, as the real one does.
 */
const fakeCurl = `#!/bin/bash
out= fmt= method=GET body= url=
while [ $# -gt 0 ]; do
  case $1 in
    -o) out=$2; shift ;;
    -w) fmt=$2; shift ;;
    -X) method=$2; shift ;;
    --data-binary) body=\${2#@}; shift ;;
    --cacert|--cert|--key|-H|--max-time) shift ;;
    -*) ;;
    *) url=$1 ;;
  esac
  shift
done
: "$fmt"
name=\${url##*/clusterrolebindings}; name=\${name#/}
echo "$method \${name:-(collection)}" >>"$FAKE_API/log"
code=200
case $method in
  GET) if [ -f "$FAKE_API/$name" ]; then cp "$FAKE_API/$name" "$out"; else code=404; echo '{"kind":"Status"}' >"$out"; fi ;;
  POST) name=$(grep -o '"name":"[^"]*"' "$body" | head -n 1 | cut -d'"' -f4)
        if [ -f "$FAKE_API/$name" ]; then code=409; else cp "$body" "$FAKE_API/$name"; code=201; fi; echo '{}' >"$out" ;;
  PUT) old=$(grep -o '"roleRef":{[^}]*}' "$FAKE_API/$name"); new=$(grep -o '"roleRef":{[^}]*}' "$body")
       if [ "$old" != "$new" ]; then code=422; else cp "$body" "$FAKE_API/$name"; fi; echo '{}' >"$out" ;;
  DELETE) rm -f "$FAKE_API/$name"; echo '{}' >"$out" ;;
esac
printf '%s' "$code"
`;

test("RBAC bootstrap: creates the bindings, changes nothing on a re-run, puts a changed one right", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-rbac-"));
    try {
        const bin = path.join(tmp, "bin");
        const api = path.join(tmp, "api");
        fs.mkdirSync(bin);
        fs.mkdirSync(api);
        fs.writeFileSync(path.join(bin, "curl"), fakeCurl, { mode: 0o755 });
        const script = renderRbacBootstrapScript({
            apiserverUrl: `https://${labMasters()[0].address}:6443`,
            caFile: "/etc/kubernetes/kube-apiserver/pki/ca.pem",
            superAdmin: { certPem: "CERT\n", privateKeyPem: "KEY\n" },
        });
        assert.match(script, /^dir=\$\(mktemp -d \/run\/k8scp-rbac\.XXXXXX\)$/m, "credentials only in tmpfs, removed on exit");
        // Here the runtime directory is the test's own.
        const local = script.replace("mktemp -d /run/", `mktemp -d ${tmp}/`);
        const run = () => {
            fs.writeFileSync(path.join(api, "log"), "");
            const r = spawnSync("bash", ["-s", "--", "update"], {
                input: local,
                encoding: "utf8",
                env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, FAKE_API: api },
            });
            assert.equal(r.status, 0, r.stderr);
            return { log: fs.readFileSync(path.join(api, "log"), "utf8").trim().split("\n"), stderr: r.stderr };
        };
        const [admins, kubelet] = clusterRoleBindings.map((b) => b.name);

        const first = run();
        assert.deepEqual(first.log, [`GET ${admins}`, "POST (collection)", `GET ${kubelet}`, "POST (collection)"]);
        for (const b of clusterRoleBindings)
            assert.equal(fs.readFileSync(path.join(api, b.name), "utf8").trim(), clusterRoleBindingJson(b).json);

        const again = run();
        assert.deepEqual(again.log, [`GET ${admins}`, `GET ${kubelet}`], "a re-run only reads");
        assert.match(again.stderr, /k8scp:cluster-admins: unchanged/);

        // Someone bound the group to another subject: replaced in place. Someone changed the roleRef: re-created.
        const wrongSubject = { ...clusterRoleBindings[0], group: "someone-else" };
        fs.writeFileSync(path.join(api, admins), clusterRoleBindingJson(wrongSubject).json);
        const wrongRole = { ...clusterRoleBindings[1], clusterRole: "view" };
        fs.writeFileSync(path.join(api, kubelet), clusterRoleBindingJson(wrongRole).json);
        const repaired = run();
        assert.deepEqual(repaired.log, [
            `GET ${admins}`,
            `PUT ${admins}`,
            `GET ${kubelet}`,
            `PUT ${kubelet}`,
            `DELETE ${kubelet}`,
            "POST (collection)",
        ]);
        for (const b of clusterRoleBindings)
            assert.equal(fs.readFileSync(path.join(api, b.name), "utf8").trim(), clusterRoleBindingJson(b).json);
        assert.deepEqual(
            fs.readdirSync(tmp).filter((f) => f.startsWith("k8scp-rbac.")),
            [],
            "the credentials' directory is gone",
        );
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
});

test("HAProxy runs as its own user with the control plane's sandbox; a changed unit restarts it, a changed config reloads", () => {
    const { script } = haproxyService(labMasters());
    const unit = /put_file '\/etc\/systemd\/system\/k8scp-haproxy\.service' 0600 'root' text <<'K8SCP_TEXT'\n([\s\S]*?)K8SCP_TEXT/.exec(
        script,
    )?.[1];
    assert.ok(unit, "the unit is written 0600, owned by root");
    assert.match(unit, new RegExp(`^User=${haproxyUser}$`, "m"));
    assert.match(unit, new RegExp(`^Group=${haproxyUser}$`, "m"));
    for (const [k, v] of Object.entries(sandbox([]))) assert.ok(unit.split("\n").includes(`${k}=${v}`), `${k}=${v}`);
    assert.match(unit, /^Type=notify$/m);
    assert.match(unit, /^ExecStart=\/usr\/sbin\/haproxy \\\n {2}-Ws/m);
    assert.match(script, new RegExp(`^user='${haproxyUser}'$`, "m"));
    assert.match(script, /useradd --system/, "the script makes the user");
    assert.match(script, /userdel "\$user"/, "and removes it on delete");
    // A reload keeps the running process's user and sandbox: a changed unit must restart it.
    assert.match(script, /^unit_before=\$\(sha256sum "\$unit" 2>\/dev\/null \|\| true\)$/m);
    assert.match(script, /then restart=reload-or-restart; else restart=restart; fi/);
    assert.match(script, /^systemctl "\$restart" "\$svc\.service"/m);
});
