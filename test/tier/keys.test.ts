// Key algorithms through the real engine and the real TLS plugin, no hosts needed: the library makes every key
// with `keyAlgorithm` when the key is made, and keeps an existing key when the setting (or the library's default)
// changes. A stack made with RSA-2048 keys (the default before ECDSA P-256) must preview no change after the
// switch, and a certificate added then gets a P-256 key, signed by the RSA CA it already had.
import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileBackend, repo, run, toolchainEnv } from "../lib/lab";

const env = toolchainEnv();
const tc = env?.K8SCP_TOOLCHAIN_DIR;
const skip =
    !tc || !fs.existsSync(path.join(tc, "stamps", "complete")) ? `the toolchain is not built (${tc ?? "?"}): run npm run toolchain` : false;

interface Outputs {
    caCertPem: string;
    caKeyPem: string;
    leafCertPems: string[];
    leafKeyPems: string[];
}

test("keys: made with keyAlgorithm, and kept when it changes", { skip, timeout: 600_000 }, async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-keys-"));
    const program = path.join(repo, "test", "tier", "keys");
    const e = { ...env, PULUMI_BACKEND_URL: fileBackend(tmp), PULUMI_CONFIG_PASSPHRASE: "keys-test" };
    const configFile = path.join(tmp, "Pulumi.keys.yaml");
    fs.writeFileSync(configFile, "config: {}\n");
    const pulumi = async (args: string[]) => {
        const withConfig = ["up", "preview", "destroy", "config"].includes(args[0]) ? ["--config-file", configFile] : [];
        const r = await run(
            path.join(tc!, "bin", "pulumi"),
            ["--non-interactive", "-C", program, ...args, "--stack", "keys", ...withConfig],
            {
                env: e,
                cwd: program,
                timeoutMs: 300_000,
            },
        );
        return { ...r, out: r.stdout + r.stderr };
    };
    const ok = async (args: string[]) => {
        const r = await pulumi(args);
        assert.equal(r.status, 0, `pulumi ${args.join(" ")}:\n${r.out}`);
        return r.out;
    };
    const outputs = async () => JSON.parse((await pulumi(["stack", "output", "--json", "--show-secrets"])).stdout) as Outputs;
    const armour = (pem: string) => /-----BEGIN ([A-Z ]+)-----/.exec(pem)?.[1];
    try {
        await ok(["stack", "init"]);
        fs.rmSync(path.join(program, "Pulumi.keys.yaml"), { force: true });
        await ok(["config", "set", "keyAlgorithm", "RSA-2048"]);
        await ok(["up", "--yes", "--skip-preview"]);
        const before = await outputs();
        assert.equal(armour(before.caKeyPem), "RSA PRIVATE KEY");
        assert.equal(armour(before.leafKeyPems[0]), "RSA PRIVATE KEY");

        // The library's default (ECDSA-P256) from now on: nothing that exists changes.
        await ok(["config", "rm", "keyAlgorithm"]);
        await ok(["preview", "--expect-no-changes"]);

        await ok(["config", "set", "leaves", "2"]);
        await ok(["up", "--yes", "--skip-preview"]);
        const after = await outputs();
        assert.equal(after.caKeyPem, before.caKeyPem, "the CA key was replaced");
        assert.equal(after.caCertPem, before.caCertPem, "the CA was re-issued");
        assert.equal(after.leafKeyPems[0], before.leafKeyPems[0], "an existing leaf key was replaced");
        assert.equal(after.leafCertPems[0], before.leafCertPems[0], "an existing certificate was re-issued");
        assert.equal(armour(after.leafKeyPems[1]), "EC PRIVATE KEY", "a new key is not made with the default algorithm");
        const ca = new X509Certificate(after.caCertPem);
        const leaf = new X509Certificate(after.leafCertPems[1]);
        assert.equal(leaf.publicKey.asymmetricKeyType, "ec");
        assert.ok(leaf.checkIssued(ca) && leaf.verify(ca.publicKey), "the new certificate is not signed by the existing RSA CA");
    } finally {
        const d = await pulumi(["destroy", "--yes", "--skip-preview"]);
        assert.equal(d.status, 0, d.out);
        await pulumi(["stack", "rm", "--yes"]);
        fs.rmSync(tmp, { recursive: true, force: true });
    }
});
