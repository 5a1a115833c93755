// End to end through the real Pulumi CLI on the lab: `pulumi up` of the dev stack, checks the runbooks make,
// a no-op run, and `pulumi destroy`. Skipped, with the reason, when the toolchain lacks a Pulumi part.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const repo = path.resolve(__dirname, "../..");
const sh = (cmd: string, timeoutSec = 600) =>
    execFileSync("bash", ["-c", `source scripts/env.sh >/dev/null && ${cmd}`], {
        cwd: repo,
        encoding: "utf8",
        timeout: timeoutSec * 1000,
    }).trim();
const toolchainDir = sh("echo $K8SCP_TOOLCHAIN_DIR");

interface Component {
    status: string;
    module?: string;
    version?: string;
    reason?: string;
}
const manifest = path.join(toolchainDir, "manifest.json");
test("the toolchain manifest exists (npm run toolchain)", () => assert.ok(fs.existsSync(manifest), manifest));

function missingParts(): string | undefined {
    const file = manifest;
    if (!fs.existsSync(file)) return "no toolchain manifest";
    const comps = (JSON.parse(fs.readFileSync(file, "utf8")) as { components: Record<string, Component> }).components;
    const need = ["pulumi", "pulumi-language-nodejs", "pulumi-resource-command", "pulumi-resource-tls", "pulumi-resource-random"];
    const bad = need.filter((n) => comps[n]?.status !== "built");
    if (!bad.length) return undefined;
    return `the toolchain could not build ${bad.map((n) => `${n} (${comps[n]?.module ?? "?"}@${comps[n]?.version ?? "?"}: ${comps[n]?.reason ?? comps[n]?.status ?? "missing"})`).join("; ")}`;
}

const skip = missingParts();
const ctl = (cmd: string, timeoutSec = 900) => sh(`bash scripts/lab.sh exec bash -c ${JSON.stringify(cmd)}`, timeoutSec);
const onNode = (i: number, cmd: string) => sh(`bash scripts/lab.sh ssh ${i} ${JSON.stringify(cmd)}`, 60);
const services = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"];

test("e2e: pulumi up of 3 masters + LB on the lab, checked like the runbooks", { skip }, async (t) => {
    const t0 = Date.now();
    const step = (name: string) => console.log(`[e2e] ${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    sh("bash scripts/lab.sh up 3", 300);
    try {
        ctl("pulumi stack select dev --create --non-interactive");
        ctl("pulumi up --stack dev --yes --non-interactive --skip-preview", 1800);
        step("deploy");
        const kc = path.join(repo, ".state/admin.kubeconfig");
        fs.writeFileSync(kc, ctl("pulumi stack output adminKubeconfig --show-secrets --stack dev"), { mode: 0o600 });

        await t.test("every service is active on every master, as its own user", () => {
            for (const i of [1, 2, 3]) {
                for (const s of services) {
                    assert.equal(onNode(i, `systemctl is-active ${s}`), "active", `n${i} ${s}`);
                    assert.equal(onNode(i, `ps -o user= -C ${s} | sort -u`), s, `n${i} ${s} runs as ${s}`);
                }
                assert.equal(onNode(i, "sudo stat -c %a /etc/kubernetes/kube-scheduler/kubeconfig"), "600");
                assert.equal(onNode(i, "sudo stat -c %a /etc/kubernetes/kube-apiserver/pki/apiserver-key.pem"), "600");
            }
        });
        await t.test("the API answers via the VIP", () => {
            assert.equal(ctl(`kubectl --kubeconfig ${kc} get --raw=/readyz`), "ok");
            assert.equal(ctl(`kubectl --kubeconfig ${kc} get --raw=/livez`), "ok");
        });
        await t.test("one leader per component, one of the masters", () => {
            for (const lease of ["kube-scheduler", "kube-controller-manager"]) {
                const holder = ctl(`kubectl --kubeconfig ${kc} -n kube-system get lease ${lease} -o jsonpath='{.spec.holderIdentity}'`);
                assert.match(holder, /^n[123]_/, `${lease} holder ${holder}`);
            }
        });
        await t.test("a second run changes nothing and restarts nothing", () => {
            const before = [1, 2, 3].map((i) => onNode(i, `systemctl show -p ActiveEnterTimestamp ${services.join(" ")}`));
            ctl("pulumi preview --stack dev --expect-no-changes --non-interactive", 600);
            ctl("pulumi up --stack dev --yes --non-interactive --skip-preview", 600);
            const after = [1, 2, 3].map((i) => onNode(i, `systemctl show -p ActiveEnterTimestamp ${services.join(" ")}`));
            assert.deepEqual(after, before);
        });
        await t.test("no private key in plaintext in the state", () => {
            const state = ctl("pulumi stack export --stack dev");
            assert.doesNotMatch(state, /-----BEGIN (RSA |EC )?PRIVATE KEY-----/);
        });
        step("checks");
    } finally {
        try {
            ctl("pulumi destroy --stack dev --yes --non-interactive --skip-preview", 900);
            for (const i of [1, 2, 3]) assert.equal(onNode(i, "ls /etc/systemd/system | grep -cE '^(etcd|kube-)' || true"), "0");
        } finally {
            sh("bash scripts/lab.sh down", 300);
            step("destroy and lab down");
        }
    }
});
