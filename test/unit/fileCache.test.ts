// The cache of costly facts about local files (a binary's sha256 and --version), and the probe script that runs
// independent probes on a host at the same time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { factsFile, fileFact, fileFactAsync, fileSha256 } from "../../components/host/fileCache";
import { probeScript } from "../../components/host/observe";

// The module reads K8SCP_CACHE when it first needs the cache file, so this is in time.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-facts-"));
process.env.K8SCP_CACHE = dir;

test("a file fact is computed once while the file is unchanged, and again when it changes", async () => {
    const f = path.join(dir, "bin");
    fs.writeFileSync(f, "one");
    let runs = 0;
    const fact = () => fileFact("probe", f, () => `v${++runs}`);
    assert.equal(fact(), "v1");
    assert.equal(fact(), "v1", "kept: not computed again");
    assert.ok(fs.readFileSync(factsFile(), "utf8").includes(`probe ${f}:`), "written to the cache file");
    fs.writeFileSync(`${f}.new`, "two!");
    fs.renameSync(`${f}.new`, f);
    assert.equal(fact(), "v2", "another size and inode: computed again");
    assert.equal(
        Object.keys(JSON.parse(fs.readFileSync(factsFile(), "utf8"))).filter((k) => k.startsWith(`probe ${f}:`)).length,
        1,
        "the old key is dropped",
    );

    assert.equal(fileSha256(f), execFileSync("sha256sum", [f], { encoding: "utf8" }).split(" ")[0]);

    await assert.rejects(
        fileFactAsync("version", f, () => Promise.reject(new Error("no --version"))),
        /no --version/,
    );
    assert.equal(await fileFactAsync("version", f, async () => "v1.34.4"), "v1.34.4", "a failure is not kept");
    assert.equal(await fileFactAsync("version", f, async () => "other"), "v1.34.4");
});

test("the probe script runs its probes at the same time and prints every line of each", () => {
    const script = probeScript(["sleep 1; echo a1; echo a2", "sleep 1; echo b1\n", "echo c1"]);
    const t = Date.now();
    const out = execFileSync("bash", ["-s"], { input: script, encoding: "utf8" });
    const took = Date.now() - t;
    assert.deepEqual(out.trim().split("\n").sort(), ["a1", "a2", "b1", "c1"]);
    assert.ok(took < 1900, `two 1 s probes took ${took} ms: one after the other (2 s or more), not at the same time`);
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
