// Every script the library runs on a host, as the components render it for a reference config (the lab's three
// masters n1..n3 at 10.213.0.11-13, the VIP 10.213.0.10, every other setting its default): each is checked with
// `bash -n` and ShellCheck, and the reference's scripts, units and config files are compared with the golden files
// in test/golden, so that a change to what runs on the hosts shows in review as a diff of those files.
//
// The scripts are taken from the resources the components register (Pulumi's mocks, no engine, no hosts): the
// stdin of every remote.Command, and the script inside each `sudo -n bash -c '…'` command line. The probes the
// program runs before registering anything (index.ts) are rendered here as index.ts renders them.
//
//   UPDATE_GOLDEN=1 npm run test:unit   (or: npm run golden)   rewrites test/golden from what is rendered now
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";

// Placeholders for key material, obviously fake and assembled so that no key-looking text is in this file. The
// files scripts carry them base64-encoded, as they carry real keys.
const armour = (edge: "BEGIN" | "END", kind: string) => `-----${edge} ${kind}-----`;
const fakePem = (kind: string, what: string) =>
    `${armour("BEGIN", kind)}\nFAKE0${what.replace(/[^A-Za-z0-9]/g, "0")}0FOR0GOLDEN0FILES0NOT0A0KEY\n${armour("END", kind)}\n`;

/** Every remote.Command the components register: resource name and inputs. */
const commands: { name: string; inputs: Record<string, unknown> }[] = [];
pulumi.runtime.setMocks(
    {
        newResource: (a) => {
            const state: Record<string, unknown> = { ...a.inputs };
            if (a.type.startsWith("tls:"))
                Object.assign(state, {
                    certPem: fakePem("CERTIFICATE", `cert ${a.name}`),
                    privateKeyPem: fakePem(`EC ${"PRIVATE"} KEY`, `key ${a.name}`),
                    publicKeyPem: fakePem(`PUBLIC KEY`, `public ${a.name}`),
                    validityEndTime: "2099-01-01T00:00:00Z",
                });
            if (a.type === "random:index/randomBytes:RandomBytes")
                state.base64 = Buffer.from("FAKE-ENCRYPTION-KEY-GOLDEN-FILES").toString("base64");
            if (a.type === "command:remote:Command") commands.push({ name: a.name, inputs: a.inputs });
            return { id: `${a.name}-id`, state };
        },
        call: (a) => a.inputs,
    },
    "k8scp",
    "golden",
    false,
);

// Imported after the mocks are set.
import { ControlPlane } from "../../components/controlPlane";
import {
    SnapshotUpload,
    defaultSnapshots,
    renderSnapshotInstallScript,
    renderUploadCredentials,
    renderUploadCredentialsScript,
} from "../../components/render/backup";
import { renderSnapshotProbe } from "../../components/plan/snapshot";
import { validateConfig } from "../../components/config";
import { renderDriftProbe } from "../../components/plan/drift";
import { renderEtcdProbe } from "../../components/plan/etcd";
import { serviceNames } from "../../components/render/flags";
import { probeScript } from "../../components/host/observe";
import { sudoCommand } from "../../components/render/scripts";
import { BINARIES } from "../../components/host/preflight";
import { renderVersionProbe } from "../../components/plan/version";
import { fixedAssessment, labConfig, labMasters } from "./fixtures";

const goldenDir = path.join(__dirname, "..", "golden");
const updateCommand = "UPDATE_GOLDEN=1 npm run test:unit (or: npm run golden)";
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

interface Rendered {
    /** File name: the golden file's for the reference, or a name for the check's messages. */
    name: string;
    text: string;
    /** A script, checked with bash -n and ShellCheck; `sh` also for commands the SSH user's login shell runs. */
    shell?: "bash" | "sh";
    /** Compared with test/golden/<name>. */
    golden: boolean;
}

const settle = <T>(o: pulumi.Output<T>) => new Promise<T>((resolve) => o.apply(resolve));
/** An input as the mocks hand it over: secrets come as `{ <sig>, value }`. */
const plain = (v: unknown): string | undefined =>
    v === undefined ? undefined : typeof v === "object" && v !== null && "value" in v ? String((v as { value: unknown }).value) : String(v);

/** The script inside `sudo -n bash -c '<script>'` (sudoCommand), or undefined for another command line. */
function sudoCommandScript(cmd: string): string | undefined {
    const m = /^sudo -n bash -c '(.*)'$/s.exec(cmd);
    if (!m) return undefined;
    const script = m[1].replace(/'\\''/g, "'");
    assert.equal(sudoCommand(script), cmd, "the command line unquotes to the script it was made of");
    return script;
}

/** Files a script writes from a heredoc: text ones (units, the snapshot tool) and base64 ones that are plain config. */
function writtenFiles(script: string): { path: string; text: string }[] {
    const out: { path: string; text: string }[] = [];
    for (const m of script.matchAll(/^put_file '([^']+)' (\d+) '[^']+' text <<'K8SCP_TEXT'\n([\s\S]*?)^K8SCP_TEXT$/gm))
        out.push({ path: m[1], text: m[3] });
    // Only readable configuration: not keys, certificates, kubeconfigs, or the 0600 encryption config.
    for (const m of script.matchAll(/^put_file '([^']+)' (\d+) '[^']+' <<'K8SCP_EOF'\n([\s\S]*?)\nK8SCP_EOF$/gm))
        if (m[2] === "0644" && /\.(ya?ml|cfg)$/.test(m[1])) out.push({ path: m[1], text: Buffer.from(m[3], "base64").toString("utf8") });
    return out;
}

/** The reference config's masters, VIP and defaults, through ControlPlane with every optional part on. */
async function renderReference(): Promise<Rendered[]> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-golden-"));
    try {
        for (const b of BINARIES) fs.writeFileSync(path.join(dir, b), `fake ${b}`);
        const snapshot = path.join(dir, "snapshot.db");
        fs.writeFileSync(snapshot, "fake snapshot");
        const build = (name: string, etcdJoining: string[] = []) =>
            ControlPlane.create(name, {
                config: labConfig(),
                assess: fixedAssessment({
                    config: validateConfig(labConfig()),
                    binDir: dir,
                    etcdJoining,
                    etcdRestore: { path: snapshot, sha256: sha256("fake snapshot") },
                }),
            });
        // The reference, and one where n3 joins the running cluster (etcd member add) instead of bootstrapping it.
        const planes = await Promise.all([build("ref"), build("join", ["n3"])]);
        for (const cp of planes) {
            await settle(cp.certificates);
            await Promise.all(cp.masters.map((m) => settle(m.scheduler.ready.stdin as pulumi.Output<string>)));
        }
        await new Promise((r) => setTimeout(r, 200));
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }

    const out: Rendered[] = [];
    // Golden: the first master's scripts and the cluster's (the others differ only in names and addresses).
    const isReference = (n: string) => !/(^|-)n[23]-/.test(n);
    for (const c of commands) {
        const join = c.name.startsWith("join-");
        if (join && c.name !== "join-n3-etcd-member") continue;
        const name = join ? "n3-etcd-member-join" : c.name.replace(/^ref-/, "");
        const golden = join || isReference(name);
        const stdin = plain(c.inputs.stdin);
        if (stdin !== undefined) out.push({ name: `${name}.sh`, text: stdin, shell: "bash", golden });
        for (const action of ["create", "update", "delete"] as const) {
            const cmd = plain(c.inputs[action]);
            if (cmd === undefined || cmd === `sudo -n bash -s -- ${action}`) continue;
            const script = sudoCommandScript(cmd);
            const file = `${name}${action === "create" ? "" : `-${action}`}`;
            if (script !== undefined) {
                assert.equal(stdin, undefined, `${c.name}: a command line script and a stdin script`);
                out.push({ name: `${file}.sh`, text: script, shell: "bash", golden });
                // The command line itself, as the SSH user's login shell reads it.
                out.push({ name: `${file}.cmdline`, text: cmd, shell: "sh", golden: false });
            } else {
                // Not through sudo: the SSH user's login shell runs it (the host preparation).
                out.push({ name: `${file}.sh`, text: cmd, shell: "sh", golden });
            }
        }
        // Units, the snapshot tool and plain config the script writes: `<host>-<file name>`.
        if (stdin !== undefined && golden && !join)
            for (const f of writtenFiles(stdin)) {
                const base = path.basename(f.path);
                const isScript = f.text.startsWith("#!/bin/bash\n");
                out.push({
                    name: `${name.split("-")[0]}-${base}${isScript && !base.includes(".") ? ".sh" : ""}`,
                    text: f.text,
                    shell: isScript ? "bash" : undefined,
                    golden: true,
                });
            }
    }

    // The probes the program runs on every master before any resource is registered (index.ts), and together.
    const known = { sha256: sha256("fake kube-apiserver"), version: "1.34.4" };
    const self = labMasters()[0];
    const probes: Rendered[] = [
        { name: "probe-drift.sh", text: renderDriftProbe(Object.values(serviceNames)), shell: "bash", golden: true },
        { name: "probe-etcd-n1.sh", text: renderEtcdProbe(self), shell: "bash", golden: true },
        { name: "probe-version.sh", text: renderVersionProbe(known), shell: "bash", golden: true },
        { name: "probe-version-unknown-binary.sh", text: renderVersionProbe(), shell: "bash", golden: true },
        { name: "probe-snapshot.sh", text: renderSnapshotProbe(), shell: "bash", golden: true },
    ];
    out.push(...probes, {
        name: "probe-n1-together.sh",
        text: probeScript(probes.slice(0, 3).map((p) => p.text)),
        shell: "bash",
        golden: false,
    });
    // Snapshots uploaded to a bucket: the install step and what it writes, and the credentials step (placeholders).
    const upload: SnapshotUpload = {
        endpoint: "http://10.213.0.10:7070",
        bucket: "k8scp-snapshots",
        prefix: "kubernetes",
        region: "us-east-1",
        retention: 48,
        recipient: "age1placeholderplaceholderplaceholderplaceholderplaceholderpl",
    };
    const uploadInstall = renderSnapshotInstallScript(self, { ...defaultSnapshots, upload }, sha256("fake k8scp-backup"));
    out.push({ name: "n1-etcd-snapshots-upload.sh", text: uploadInstall, shell: "bash", golden: true });
    for (const f of writtenFiles(uploadInstall)) {
        const base = path.basename(f.path);
        const isScript = f.text.startsWith("#!/bin/bash\n");
        out.push({
            name: `n1-upload-${base}${isScript && !base.includes(".") ? ".sh" : ""}`,
            text: f.text,
            shell: isScript ? "bash" : undefined,
            golden: true,
        });
    }
    out.push({
        name: "n1-etcd-snapshot-credentials.sh",
        text: renderUploadCredentialsScript(
            renderUploadCredentials({ accessKeyId: "ACCESS-KEY-ID", secretAccessKey: "SECRET-ACCESS-KEY" }),
        ),
        shell: "bash",
        golden: true,
    });
    // Snapshots turned off (the same step removes the timer).
    out.push({
        name: "n1-etcd-snapshots-off.sh",
        text: renderSnapshotInstallScript(self, { ...defaultSnapshots, enabled: false }),
        shell: "bash",
        golden: false,
    });

    const names = out.map((r) => r.name);
    assert.deepEqual(
        names.filter((n, i) => names.indexOf(n) !== i),
        [],
        "every rendered file has a name of its own",
    );
    return out.sort((a, b) => a.name.localeCompare(b.name));
}

const reference = renderReference();
reference.catch(() => undefined); // a failure is reported by each test that awaits it
const scripts = async () => (await reference).filter((r) => r.shell !== undefined);

/**
 * Findings accepted, each named exactly (file, code, the text it is about) with the reason. Nothing else is left
 * out: ShellCheck runs at every severity (style included) with no code excluded.
 */
const accepted: { file: RegExp; code: number; message: RegExp; why: string }[] = [
    {
        // The service scripts of the master services: `user=` is a line every service script has; the script uses it
        // only where it creates the user or the service's directories, which for these services the files script
        // does (ownsUser: false, no files). Leaving the line out would change the text of every service script, so
        // its revision, and restart every control-plane service once on the next `pulumi up` for a variable nothing reads.
        file: /^n\d-(etcd|apiserver|controller-manager|scheduler)\.sh$/,
        code: 2034,
        message: /^user appears unused/,
        why: "the service scripts' `user=` line, unused where the files script owns the user",
    },
];

/** `#!/bin/bash` before a snippet without a shebang, so that ShellCheck and a reader know the shell. */
const withShebang = (text: string, shell: "bash" | "sh") => (text.startsWith("#!") ? text : `#!/bin/${shell}\n${text}`);

test("every rendered script passes bash -n", async () => {
    const failed: string[] = [];
    for (const s of await scripts()) {
        const r = spawnSync(s.shell === "sh" ? "sh" : "bash", ["-n"], { input: s.text, encoding: "utf8" });
        if (r.status !== 0) failed.push(`${s.name}: ${r.stderr.trim()}`);
    }
    if (failed.length) assert.fail(`bash -n (sh -n for the login shell's commands) finds syntax errors:\n${failed.join("\n")}`);
});

test("every rendered script passes ShellCheck (--shell=bash, every severity; sh too for the login shell's commands)", async () => {
    const version = spawnSync("shellcheck", ["--version"], { encoding: "utf8" });
    if (version.error || version.status !== 0)
        assert.fail(
            "shellcheck is missing (or does not run): install Debian's shellcheck package (apt-get install shellcheck); " +
                "bash scripts/test.sh (npm test, CI) installs it when it is missing",
        );
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-shellcheck-"));
    try {
        const all = await scripts();
        const runs: { shell: "bash" | "sh"; list: Rendered[] }[] = [
            { shell: "bash", list: all },
            { shell: "sh", list: all.filter((x) => x.shell === "sh") },
        ];
        const findings: string[] = [];
        const used = new Set<number>();
        for (const { shell, list } of runs) {
            const files = list.map((x) => {
                const f = path.join(dir, `${shell}-${x.name}`);
                fs.writeFileSync(f, withShebang(x.text, shell));
                return f;
            });
            const r = spawnSync("shellcheck", [`--shell=${shell}`, "--severity=style", "--format=json1", ...files], {
                encoding: "utf8",
                maxBuffer: 64 << 20,
            });
            assert.ok(r.status === 0 || r.status === 1, `shellcheck failed to run (exit ${r.status}): ${r.stderr}`);
            const { comments } = JSON.parse(r.stdout) as {
                comments: { file: string; line: number; column: number; level: string; code: number; message: string }[];
            };
            for (const c of comments) {
                const x = list[files.indexOf(c.file)];
                const a = accepted.findIndex((a) => a.code === c.code && a.file.test(x.name) && a.message.test(c.message));
                if (a >= 0) {
                    used.add(a);
                    continue;
                }
                const offset = x.text.startsWith("#!") ? 0 : 1; // the line numbers of the rendered text
                const line = x.text.split("\n")[c.line - 1 - offset] ?? "";
                findings.push(
                    `${x.name}:${c.line - offset}:${c.column} [${shell}] ${c.level} SC${c.code}: ${c.message}\n    ${line.trim()}`,
                );
            }
        }
        if (findings.length)
            assert.fail(
                `ShellCheck findings in rendered scripts (fix the renderer in components/render or components/plan):\n${findings.join("\n")}`,
            );
        const stale = accepted.filter((_, i) => !used.has(i)).map((a) => `SC${a.code} ${a.why}`);
        if (stale.length)
            assert.fail(`accepted ShellCheck findings that no longer occur (remove them from accepted):\n${stale.join("\n")}`);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});

test("the reference config's scripts, units and config files equal test/golden", async () => {
    const golden = (await reference).filter((r) => r.golden);
    if (process.env.UPDATE_GOLDEN) {
        fs.mkdirSync(goldenDir, { recursive: true });
        for (const f of fs.readdirSync(goldenDir)) if (!golden.some((g) => g.name === f)) fs.rmSync(path.join(goldenDir, f));
        for (const g of golden) fs.writeFileSync(path.join(goldenDir, g.name), g.text);
        return;
    }
    const problems: string[] = [];
    const existing = fs.existsSync(goldenDir) ? fs.readdirSync(goldenDir) : [];
    for (const g of golden) {
        const file = path.join("test", "golden", g.name);
        if (!existing.includes(g.name)) {
            problems.push(`${file} is missing (a new script or file)`);
            continue;
        }
        const want = fs.readFileSync(path.join(goldenDir, g.name), "utf8");
        if (want === g.text) continue;
        const a = want.split("\n");
        const b = g.text.split("\n");
        const i = a.findIndex((l, k) => l !== b[k]);
        const at = i < 0 ? a.length : i;
        problems.push(
            `${file} differs from what the library renders now, first at line ${at + 1}:\n` +
                `    golden:   ${JSON.stringify(a[at] ?? "(end of file)").slice(0, 200)}\n` +
                `    rendered: ${JSON.stringify(b[at] ?? "(end of file)").slice(0, 200)}`,
        );
    }
    for (const f of existing)
        if (!golden.some((g) => g.name === f))
            problems.push(`test/golden/${f} is no longer rendered (a script or file was removed or renamed)`);
    if (problems.length)
        assert.fail(
            `${problems.join("\n")}\nWhat runs on the hosts changed. If that is intended, update the golden files with\n    ${updateCommand}\n` +
                `and commit them: their diff is the change to the hosts, for review.`,
        );
});

/**
 * Where each renderer of components/render and components/plan shows in the golden files. A renderer added without a place here fails the
 * test below: render it for the reference config above (and so check and keep it) first.
 */
const coverage: Record<string, string[]> = {
    renderServiceScript: ["n1-etcd.sh", "n1-apiserver.sh", "n1-controller-manager.sh", "n1-scheduler.sh", "lb.sh"],
    renderFilesScript: ["n1-etcd-files.sh", "n1-apiserver-files.sh", "n1-controller-manager-files.sh", "n1-scheduler-files.sh"],
    renderHostPrepScript: ["n1-host.sh"],
    renderHostCleanupScript: ["n1-host-delete.sh"],
    renderJoinScript: ["n1-etcd-member.sh", "n3-etcd-member-join.sh"],
    renderMembershipScript: ["etcd-members.sh"],
    renderEtcdHealthWait: ["etcd-cluster-healthy.sh"],
    renderSnapshotInstallScript: ["n1-etcd-snapshots.sh"],
    renderSnapshotTool: ["n1-k8scp-etcd-snapshot.sh"],
    renderSnapshotService: ["n1-etcd-snapshot.service"],
    renderSnapshotTimer: ["n1-etcd-snapshot.timer"],
    renderUploadSettings: ["n1-upload-k8scp-snapshot-upload.conf"],
    renderUploadCredentials: ["n1-etcd-snapshot-credentials.sh"],
    renderUploadCredentialsScript: ["n1-etcd-snapshot-credentials.sh"],
    renderRestoreScript: ["etcd-restore-n1-restore.sh"],
    renderRestoreStart: ["etcd-restore-n1-start.sh"],
    renderRestoreVerify: ["etcd-restore-etcd-healthy.sh"],
    renderResumeScript: ["etcd-restore-n1-resume.sh"],
    renderDriftProbe: ["probe-drift.sh"],
    renderEtcdProbe: ["probe-etcd-n1.sh"],
    renderVersionProbe: ["probe-version.sh", "probe-version-unknown-binary.sh"],
    renderSnapshotProbe: ["probe-snapshot.sh"],
    renderHaproxyConfig: ["lb-haproxy.cfg"],
    renderUnit: ["lb-k8scp-haproxy.service"],
    renderServiceUnit: ["n1-etcd.service", "n1-kube-apiserver.service", "n1-kube-controller-manager.service", "n1-kube-scheduler.service"],
    renderArgs: ["n1-etcd.service", "n1-kube-apiserver.service", "n1-kube-controller-manager.service", "n1-kube-scheduler.service"],
    renderAuditPolicy: ["n1-audit-policy.yaml"],
    renderAuthenticationConfig: ["n1-authentication-config.yaml"],
    renderAdmissionConfig: ["n1-admission-config.yaml"],
    // Carries the super-admin's key (a placeholder here): a secret stdin.
    renderRbacBootstrapScript: ["rbac-bootstrap.sh"],
    // Secret files: inside the files scripts, base64 (of the placeholders here).
    renderEncryptionConfig: ["n1-apiserver-files.sh"],
    renderKubeconfig: ["n1-controller-manager-files.sh", "n1-scheduler-files.sh"],
};

/** The rooms of components/ that hold renderers: render/ (what is written to the hosts) and plan/ (the probes). */
const rendererRooms = ["render", "plan"];

test("every renderer in components/render and components/plan is rendered into the golden files", async () => {
    const renderers = rendererRooms.flatMap((room) => {
        const dir = path.join(__dirname, "..", "..", "components", room);
        return fs
            .readdirSync(dir)
            .filter((f) => f.endsWith(".ts"))
            .flatMap((f) =>
                [...fs.readFileSync(path.join(dir, f), "utf8").matchAll(/^export (?:function|const) (render\w+)/gm)].map((m) => m[1]),
            );
    });
    assert.ok(renderers.includes("renderServiceScript") && renderers.includes("renderDriftProbe"), "the scan found the renderers");
    assert.deepEqual(
        renderers.filter((r) => !(r in coverage)).sort(),
        [],
        "renderers without golden files (add them to renderReference and to coverage in test/unit/scripts.test.ts)",
    );
    const golden = new Set((await reference).filter((r) => r.golden).map((r) => r.name));
    for (const [r, files] of Object.entries(coverage))
        for (const f of files) assert.ok(golden.has(f), `${r}: ${f} is not among the golden files`);
});

test("the golden files hold no key material: every key and certificate in them is a placeholder", async () => {
    const pem = new RegExp(`${armour("BEGIN", "([A-Z ]*)")}\\n([^-]*)\\n`, "g");
    const seen = new Set<string>();
    for (const g of (await reference).filter((r) => r.golden)) {
        // The text, what its base64 heredocs decode to (the files scripts), and the base64 words in that (kubeconfigs).
        const layers = [g.text];
        for (const m of g.text.matchAll(/<<'K8SCP_EOF'\n([\s\S]*?)\nK8SCP_EOF$/gm))
            layers.push(Buffer.from(m[1], "base64").toString("utf8"));
        for (const layer of layers.slice(1))
            for (const m of layer.matchAll(/[A-Za-z0-9+/]{40,}={0,2}/g)) {
                const decoded = Buffer.from(m[0], "base64").toString("utf8");
                if (/^[\t\n\r -~]*$/.test(decoded)) layers.push(decoded);
            }
        for (const layer of layers)
            for (const m of layer.matchAll(pem)) {
                assert.match(m[2], /^FAKE0.*0FOR0GOLDEN0FILES0NOT0A0KEY$/, `${g.name}: ${m[0]}`);
                seen.add(m[1]);
            }
    }
    assert.deepEqual([...seen].sort(), ["CERTIFICATE", `EC ${"PRIVATE"} KEY`, "PUBLIC KEY"], "the check saw every kind of placeholder");
});
