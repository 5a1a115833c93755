// RSA host-key pins: which key to pin given the keys a host proved, what the preview says, and the thin I/O around it
// (the session's ssh options and reading the updated known_hosts back, with a stand-in for ssh).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { opensshVersion, rsaPinOutcome } from "../../components/host/hostKeys";
import { learnHostKeys } from "../../components/host/observe";
import { fingerprint, SshHost } from "../../components/host/preflight";

const RSA = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABrsa";
const ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIed";
const P256 = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYp256";
const n1 = (over: Partial<SshHost> = {}): SshHost & { hostKey: string } => ({
    key: "k8scp:masters[0]",
    name: "n1",
    address: "10.213.0.11",
    port: 22,
    hostKey: RSA,
    pinnedBy: "hostKey",
    ...over,
});
const fix =
    "give n1 an ed25519 host key (on it: sudo ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key, and a HostKey " +
    "line for it if sshd_config lists its keys; then sudo systemctl reload ssh, or sshd), then pin it (ssh-keyscan -t ed25519 " +
    "10.213.0.11 prints it; compare its fingerprint with ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the host), or run " +
    "again: the RSA pin lets the library learn the new key over SSH and pin it";

test("a pin that is not RSA stays, whatever was proved", () => {
    assert.deepEqual(rsaPinOutcome(n1({ hostKey: P256 }), [P256, ED]), { hostKey: P256 });
});

test("an RSA pin gives way to the strongest key the host proved, said at preview with the way to pin it", () => {
    assert.deepEqual(rsaPinOutcome(n1(), [RSA, P256, ED]), {
        hostKey: ED,
        info:
            `k8scp:masters[0].hostKey: 10.213.0.11 also proved an ed25519 key (${fingerprint(ED)}); it is pinned instead of the ` +
            "RSA key (the official command plugin cannot use RSA host keys with OpenSSH 8.8+); to pin it yourself: " +
            `pulumi config set --path 'k8scp:masters[0].hostKey' '${ED}'`,
    });
    // Pinned from the known_hosts file: the line to add there; ECDSA when there is no ed25519 key; a comment is dropped.
    const lb = n1({ key: "k8scp:loadBalancer", name: "lb", address: "10.213.0.10", port: 2222, pinnedBy: "knownHostsFile" });
    assert.deepEqual(rsaPinOutcome(lb, [RSA, `${P256} root@lb`]), {
        hostKey: P256,
        info:
            `k8scp:knownHostsFile: 10.213.0.10 also proved an ECDSA (nistp256) key (${fingerprint(P256)}); it is pinned instead ` +
            "of the RSA key (the official command plugin cannot use RSA host keys with OpenSSH 8.8+); to pin it yourself: add " +
            `the line '[10.213.0.10]:2222 ${P256}' to it`,
    });
});

test("an RSA-only host: a problem on OpenSSH 8.8 and later or an unknown server, a warning on an older OpenSSH", () => {
    const plugin =
        "the official command plugin (pulumi-resource-command 1.2.1) offers only the ssh-rsa (SHA-1) signature for an RSA host key";
    const problem = (runs: string) =>
        `k8scp:masters[0].hostKey: n1 (10.213.0.11:22) has only an RSA host key (it proved no ed25519 or ECDSA key over SSH; ${runs}); ` +
        `${plugin}, which OpenSSH 8.8 and later refuse, so every step on n1 would fail; ${fix}`;
    assert.deepEqual(rsaPinOutcome(n1(), [RSA], "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"), {
        hostKey: RSA,
        problem: problem("it runs OpenSSH_9.2p1"),
    });
    assert.equal(rsaPinOutcome(n1(), [RSA], "SSH-2.0-OpenSSH_8.8").problem, problem("it runs OpenSSH_8.8"));
    assert.equal(rsaPinOutcome(n1(), [], undefined).problem, problem("its SSH server's version could not be read"));
    assert.equal(rsaPinOutcome(n1(), [RSA], "SSH-2.0-dropbear_2022.83").problem, problem("it runs dropbear_2022.83"));
    assert.deepEqual(rsaPinOutcome(n1(), [RSA], "SSH-2.0-OpenSSH_8.4p1 Debian-5+deb11u3"), {
        hostKey: RSA,
        warn:
            "k8scp:masters[0].hostKey: n1 (10.213.0.11:22) has only an RSA host key (it proved no ed25519 or ECDSA key over SSH); " +
            `${plugin}, which its OpenSSH_8.4p1 still accepts, but OpenSSH 8.8 and later refuse it: once its sshd is upgraded, ` +
            `every step on it fails; ${fix}`,
    });
    assert.ok(rsaPinOutcome(n1(), [RSA], "SSH-2.0-OpenSSH_7.9p1").warn);
});

test("OpenSSH versions from SSH greetings", () => {
    assert.deepEqual(opensshVersion("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"), [9, 2]);
    assert.deepEqual(opensshVersion("SSH-2.0-OpenSSH_10.0"), [10, 0]);
    assert.equal(opensshVersion("SSH-2.0-dropbear_2022.83"), undefined);
    assert.equal(opensshVersion(undefined), undefined);
});

// A stand-in for ssh: records its arguments and, with UpdateHostKeys=yes, rewrites the UserKnownHostsFile as OpenSSH
// does once the server proved its keys (the host's lines replaced by every key it holds).
const FAKE_SSH = `#!/bin/bash
printf '%s\\n' "$@" > "$FAKE_SSH_ARGS"
[ -n "$FAKE_SSH_FAIL" ] && { echo "kube@10.213.0.10: Permission denied (publickey)." >&2; exit 255; }
kh=; update=
while [ $# -gt 0 ]; do
  case "$1" in -o) case "$2" in UserKnownHostsFile=*) kh=\${2#*=};; UpdateHostKeys=yes) update=1;; esac; shift;; esac
  shift
done
if [ -n "$update" ]; then
  host=$(cut -d' ' -f1 "$kh" | head -1)
  while read -r k; do echo "$host $k"; done < "$FAKE_SSH_KEYS" > "$kh.new" && mv "$kh.new" "$kh"
fi
exit 0
`;

test("the session that learns an RSA-pinned host's keys: its ssh options, and the proved keys read back", async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-hostkeys-test-"));
    const saved = { ...process.env };
    try {
        fs.mkdirSync(path.join(d, "bin"));
        fs.writeFileSync(path.join(d, "bin", "ssh"), FAKE_SSH, { mode: 0o755 });
        fs.writeFileSync(path.join(d, "keys"), `${RSA}\n${P256}\n${ED}\n`);
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(d, "id")]);
        Object.assign(process.env, {
            PATH: `${path.join(d, "bin")}:${process.env.PATH}`,
            FAKE_SSH_ARGS: path.join(d, "args"),
            FAKE_SSH_KEYS: path.join(d, "keys"),
        });
        const lb = { key: "k8scp:loadBalancer", address: "10.213.0.10", port: 2222, user: "kube", hostKey: RSA };
        const found = await learnHostKeys([lb], fs.readFileSync(path.join(d, "id"), "utf8"), 5000);
        assert.deepEqual(found, { "k8scp:loadBalancer": { proved: [RSA, P256, ED] } });
        const args = fs.readFileSync(path.join(d, "args"), "utf8").trim().split("\n");
        for (const o of [
            "StrictHostKeyChecking=yes",
            "BatchMode=yes",
            "UpdateHostKeys=yes",
            "GlobalKnownHostsFile=/dev/null",
            "CheckHostIP=no",
            "HashKnownHosts=no",
        ])
            assert.ok(args.includes(o), `ssh is not given -o ${o}: ${args.join(" ")}`);
        assert.ok(!args.some((a) => a.startsWith("HostKeyAlgorithms=")), "HostKeyAlgorithms would drop the keys it does not list");
        assert.deepEqual(args.slice(-4), ["-p", "2222", "kube@10.213.0.10", "true"]);

        process.env.FAKE_SSH_FAIL = "1";
        assert.deepEqual(await learnHostKeys([lb], fs.readFileSync(path.join(d, "id"), "utf8"), 5000), {
            "k8scp:loadBalancer": { err: "kube@10.213.0.10: Permission denied (publickey)." },
        });
    } finally {
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
        Object.assign(process.env, saved);
        fs.rmSync(d, { recursive: true, force: true });
    }
});
