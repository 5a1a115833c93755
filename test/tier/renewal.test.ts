// Certificate renewal through the real engine and the real TLS plugin, no hosts needed: does a routine `pulumi
// preview`/`up` (no refresh, no input change) re-issue a certificate once it is inside `earlyRenewalHours`, and only
// that one? Users reported it never did (pulumi-tls#39, when the provider only re-evaluated the window on refresh);
// this checks the plugin this toolchain builds, with the library's own PrivateCA/ClientCert/Kubeconfig.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileBackend, repo, run, toolchainEnv } from "../lib/lab";

const env = toolchainEnv();
const tc = env?.K8SCP_TOOLCHAIN_DIR;
const skip =
    !tc || !fs.existsSync(path.join(tc, "stamps", "complete")) ? `the toolchain is not built (${tc ?? "?"}): run npm run toolchain` : false;

test(
    "renewal: a routine run re-issues exactly the certificates inside their window, and what embeds them",
    { skip, timeout: 600_000 },
    async () => {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-renewal-"));
        const program = path.join(repo, "test", "tier", "renewal");
        const e = { ...env, PULUMI_BACKEND_URL: fileBackend(tmp), PULUMI_CONFIG_PASSPHRASE: "renewal-test" };
        const configFile = path.join(tmp, "Pulumi.renewal.yaml");
        fs.writeFileSync(configFile, "config: {}\n");
        const pulumi = async (args: string[]) => {
            const withConfig = ["up", "preview", "destroy"].includes(args[0]) ? ["--config-file", configFile] : [];
            const r = await run(
                path.join(tc!, "bin", "pulumi"),
                ["--non-interactive", "-C", program, ...args, "--stack", "renewal", ...withConfig],
                {
                    env: e,
                    cwd: program,
                    timeoutMs: 300_000,
                },
            );
            return { ...r, out: r.stdout + r.stderr };
        };
        const outputs = async () =>
            JSON.parse((await pulumi(["stack", "output", "--json", "--show-secrets"])).stdout) as Record<string, string>;
        try {
            assert.equal((await pulumi(["stack", "init"])).status, 0);
            fs.rmSync(path.join(program, "Pulumi.renewal.yaml"), { force: true });
            const first = await pulumi(["up", "--yes", "--skip-preview"]);
            assert.equal(first.status, 0, first.out);
            const before = await outputs();

            // No input changed and no refresh: the plugin plans a replacement of `due` alone, from its expiry.
            const preview = await pulumi(["preview", "--diff"]);
            assert.equal(preview.status, 0, preview.out);
            const replaced = [
                ...preview.out.matchAll(
                    /\+-tls:index\/locallySignedCert:LocallySignedCert: \(replace\)\s*\n\s*\[id=[^\]]*\]\s*\n\s*\[urn=[^\]]*::([^\]]+)\]/g,
                ),
            ].map((m) => m[1]);
            assert.deepEqual(replaced, ["due-cert"], preview.out);
            assert.match(preview.out, /readyForRenewal\s*: true/);

            const up = await pulumi(["up", "--yes", "--skip-preview"]);
            assert.equal(up.status, 0, up.out);
            const after = await outputs();
            assert.notEqual(after.dueCert, before.dueCert, "the certificate in its window was not re-issued");
            assert.equal(after.freshCert, before.freshCert, "a certificate outside its window was re-issued");
            assert.equal(after.caNotAfter, before.caNotAfter, "the CA was re-issued");
            assert.notEqual(after.kubeconfigContent, before.kubeconfigContent, "the kubeconfig still embeds the old certificate");
            assert.ok(
                after.kubeconfigContent.includes(Buffer.from(after.dueCert).toString("base64")),
                "the kubeconfig does not embed the new certificate",
            );
        } finally {
            const d = await pulumi(["destroy", "--yes", "--skip-preview"]);
            assert.equal(d.status, 0, d.out);
            await pulumi(["stack", "rm", "--yes"]);
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    },
);
