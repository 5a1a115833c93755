// Least privilege for the library's own identities: HAProxy as its own sandboxed user.
import { test } from "node:test";
import assert from "node:assert/strict";
import { haproxyService, haproxyUser, sandbox } from "../../components/render/services";
import { labMasters } from "./fixtures";

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
