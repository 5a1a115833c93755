// Host keys as the official command plugin needs them, on lab hosts with Debian's three host key types: RSA pins
// (a host's hostKey, and a known_hosts file with RSA entries only) are replaced at preview by the ed25519 key each
// host proves over SSH, and a deploy with the plugin in upstream mode (which offers only ssh-rsa for an RSA pin,
// as the official plugin does) goes through; a host with only an RSA key is refused at preview, naming the fix.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { labDir, repo } from "../lib/lab";
import { PulumiCli } from "../lib/pulumi";
import { e2eContext } from "../lib/e2e";

const { skip, step, tmp, configFile, editConfig, stackEnv, labUp } = e2eContext("hostkeys");
const rsaKey = (node: string) =>
    fs
        .readFileSync(path.join(labDir, "hostkeys", `${node}_rsa.pub`), "utf8")
        .split(/\s+/)
        .slice(0, 2)
        .join(" ");

test("host keys: RSA pins replaced by the proved ed25519 key; an RSA-only host refused", { skip, timeout: 1_800_000 }, async (t) => {
    const e = { ...stackEnv("hostkeys-passphrase"), K8SCP_COMMAND_UPSTREAM: "1" };
    const lab = await step("lab up 3", () => labUp(3));
    const pulumi = new PulumiCli(lab, e, repo, "hostkeys", configFile);
    await pulumi.ok(["stack", "init"]);
    // Every host pinned by RSA: n1 and the load balancer in their hostKey, the others by a known_hosts of RSA lines.
    const rsaOnly = path.join(tmp, "known_hosts_rsa");
    fs.writeFileSync(
        rsaOnly,
        fs
            .readFileSync(path.join(labDir, "known_hosts"), "utf8")
            .split("\n")
            .filter((l) => l.includes(" ssh-rsa "))
            .join("\n") + "\n",
    );
    editConfig((c) => {
        c["k8scp:knownHostsFile"] = rsaOnly;
        (c["k8scp:masters"] as Record<string, unknown>[])[0].hostKey = rsaKey("n1");
        (c["k8scp:loadBalancer"] as Record<string, unknown>).hostKey = rsaKey("lb");
    });

    await t.test("1. a host with only an RSA key: refused at preview, with the fix", async () => {
        const n3 = lab.masters[2].address;
        const aside =
            "sudo -n mkdir -p /root/k8scp-keys-aside && sudo -n sh -c 'mv /etc/ssh/ssh_host_ecdsa_key* /etc/ssh/ssh_host_ed25519_key* /root/k8scp-keys-aside/'";
        await lab.sshOk(n3, `${aside} && sudo -n systemctl reload ssh`);
        try {
            const r = await pulumi.run(["preview"]);
            const out = r.stdout + r.stderr;
            assert.notEqual(r.status, 0, out);
            assert.match(
                out,
                /k8scp:knownHostsFile: n3 \(10\.213\.0\.13:22\) has only an RSA host key \(it proved no ed25519 or ECDSA key over SSH; it runs OpenSSH[ _]9\.\d+[^)]*\); .*OpenSSH 8\.8 and later refuse.*give n3 an ed25519 host key/,
                out,
            );
            assert.doesNotMatch(out, /k8scp:masters\[0\]\.hostKey: .*only an RSA/, out);
        } finally {
            await lab.sshOk(n3, "sudo -n sh -c 'mv /root/k8scp-keys-aside/* /etc/ssh/' && sudo -n systemctl reload ssh");
        }
    });

    await t.test("2. RSA pins: the ed25519 key each host proves is pinned; the upstream-mode deploy goes through", async () => {
        const preview = await pulumi.ok(["preview"]);
        assert.match(
            preview,
            /k8scp:masters\[0\]\.hostKey: 10\.213\.0\.11 also proved an ed25519 key .*it is pinned instead of the RSA key/,
            preview,
        );
        assert.match(preview, /k8scp:loadBalancer\.hostKey: 10\.213\.0\.10 also proved an ed25519 key/, preview);
        for (const a of ["10.213.0.12", "10.213.0.13"])
            assert.match(preview, new RegExp(`k8scp:knownHostsFile: ${a.replace(/\./g, "\\.")} also proved an ed25519 key`), preview);
        await step("pulumi up (upstream mode, RSA pins)", () => pulumi.ok(["up", "--yes", "--skip-preview"], 1_800_000));
        await pulumi.ok(["preview", "--expect-no-changes"]);
        await step("pulumi destroy", () => pulumi.ok(["destroy", "--yes", "--skip-preview"], 1_200_000));
    });
});
