// The drift probe's SSH key: held by an ssh-agent of its own, never written to a file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startAgent } from "../../components/host/observe";

test("probe key: an agent holds it in memory; no file of the probe's holds the private key; stop ends the agent", async () => {
    const keys = fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-observe-test-"));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-observe-dir-"));
    try {
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(keys, "id")]);
        const privateKey = fs.readFileSync(path.join(keys, "id"), "utf8");
        const agent = await startAgent(dir, privateKey, 5000);
        try {
            const listed = execFileSync("ssh-add", ["-L"], { env: { ...process.env, SSH_AUTH_SOCK: agent.socket }, encoding: "utf8" });
            const pub = fs.readFileSync(path.join(keys, "id.pub"), "utf8").split(" ").slice(0, 2).join(" ");
            assert.equal(listed.split(" ").slice(0, 2).join(" "), pub);
            assert.equal(fs.readFileSync(agent.publicKeyFile, "utf8").split(" ").slice(0, 2).join(" "), pub);
            const body = privateKey.split("\n")[1];
            for (const f of fs.readdirSync(dir)) {
                const p = path.join(dir, f);
                if (fs.statSync(p).isFile()) assert.ok(!fs.readFileSync(p, "utf8").includes(body), `${f} holds the private key`);
            }
        } finally {
            agent.stop();
        }
        const gone = Date.now() + 5000;
        while (fs.existsSync(agent.socket) && Date.now() < gone) await new Promise((r) => setTimeout(r, 50));
        assert.ok(!fs.existsSync(agent.socket), "the agent still runs after stop");
    } finally {
        fs.rmSync(keys, { recursive: true, force: true });
        fs.rmSync(dir, { recursive: true, force: true });
    }
});
