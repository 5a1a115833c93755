// What a user sees when the config is wrong, through the real CLI: `pulumi preview` of the program (index.ts)
// with the dev stack's config, edited the way a user edits it (`pulumi config set`, `--path`, the stack file),
// on a throwaway stack in a throwaway backend, run in the lab's controller namespace like `npm run lab -- exec`.
// Each case asserts the exact output: the CLI's progress lines, then its Diagnostics with our one error, every
// problem on its own line, and the summary; nothing else (no stack trace, no object dump, no Node warning).
// Needs only the CLI and the Node.js language host: a config error comes before any resource is registered.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import YAML from "yaml";
import { Lab, fileBackend, labDir, repo, run, toolchainEnv } from "../lib/lab";

const baseEnv = toolchainEnv();
const tc = baseEnv?.K8SCP_TOOLCHAIN_DIR;
const has = (b: string) => tc !== undefined && fs.existsSync(path.join(tc, "bin", b));
const skip =
    process.getuid?.() !== 0
        ? "the lab needs root (network namespaces)"
        : !has("pulumi") || !has("pulumi-language-nodejs")
          ? `the toolchain is not built (${tc ?? "?"}/bin has no pulumi or pulumi-language-nodejs): run npm run toolchain`
          : false;
/** The provider plugins too: only then does a valid config preview to the end. */
const complete = tc !== undefined && fs.existsSync(path.join(tc, "stamps", "complete"));

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-config-errors-"));
const env: NodeJS.ProcessEnv = {
    ...baseEnv,
    PULUMI_BACKEND_URL: fileBackend(path.join(tmp, "backend")),
    PULUMI_CONFIG_PASSPHRASE: "config-errors",
};
let labWasDown = false;
after(async () => {
    if (labWasDown) await Lab.down();
    fs.rmSync(tmp, { recursive: true, force: true });
});

const pulumiBin = () => path.join(tc!, "bin", "pulumi");
type Config = Record<string, unknown>;
const masters = (c: Config) => c["k8scp:masters"] as Record<string, unknown>[];

/** The lab host key of a node (`ssh-ed25519 AAAA...`) and its fingerprint as ssh-keygen -l prints it. */
const labKey = (node: string) =>
    fs
        .readFileSync(path.join(labDir, "hostkeys", `${node}_ed25519.pub`), "utf8")
        .split(/\s+/)
        .slice(0, 2)
        .join(" ");
const fp = (key: string) =>
    `SHA256:${createHash("sha256")
        .update(Buffer.from(key.split(" ")[1], "base64"))
        .digest("base64")
        .replace(/=+$/, "")}`;
/** A fresh ed25519 public key in OpenSSH format: a host key that no lab host has. */
function otherHostKey(): string {
    const raw = Buffer.from(generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }).x!, "base64url");
    const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
    return `ssh-ed25519 ${Buffer.concat([str(Buffer.from("ssh-ed25519")), str(raw)]).toString("base64")}`;
}

const labKnownHosts = "~/.cache/pulumi-k8s-control-plane/lab/known_hosts";
const labKnownHostsFull = path.join(os.homedir(), ".cache/pulumi-k8s-control-plane/lab/known_hosts");

interface Case {
    name: string;
    /** Edits of the stack file (the dev stack's config). */
    edit?: (c: Config) => void;
    /** `pulumi config set` argument lists, run in order after the edits. */
    set?: string[][];
    /** The problem lines, exactly (a RegExp where the OS words the reason). */
    problems: (string | RegExp)[];
}

const cases: () => Case[] = () => {
    const d = (name: string) => fs.mkdirSync(path.join(tmp, name), { recursive: true });
    const emptyBin = path.join(tmp, "empty-bin");
    const wrongKey = otherHostKey();
    const n1Wrong = otherHostKey();
    const kh = path.join(tmp, "known_hosts");
    const tcBin = path.join(tc!, "bin");
    return [
        {
            name: "set with `pulumi config set k8scp:masterz x` and a quoted value: unknown keys, with the key meant",
            set: [
                ["k8scp:masterz", "x"],
                ["k8scp:kubernetesversion", '"1.34.4"'],
            ],
            problems: [
                "k8scp:masterz: unknown key; did you mean k8scp:masters?",
                "k8scp:kubernetesversion: unknown key; did you mean k8scp:kubernetesVersion?",
            ],
        },
        {
            name: "masterz instead of masters in the stack file: the missing key and the unknown one",
            edit: (c) => {
                c["k8scp:masterz"] = c["k8scp:masters"];
                delete c["k8scp:masters"];
            },
            problems: [
                "k8scp:masters: missing; e.g. pulumi config set --path 'k8scp:masters[0].name' n1 and pulumi config set --path 'k8scp:masters[0].address' 10.213.0.11",
                "k8scp:masterz: unknown key; did you mean k8scp:masters?",
            ],
        },
        {
            name: "a bad master IP, an unknown key and a serviceCidr inside clusterCidr: all three in one run",
            edit: (c) => {
                masters(c)[1].address = "10.213.0.300";
                c["k8scp:schedular"] = { extraArgs: { v: "2" } };
                c["k8scp:clusterCidr"] = "10.68.0.0/15";
            },
            problems: [
                "k8scp:masters[1].address: '10.213.0.300' is not an IP address; use one like 10.213.0.11",
                "k8scp:serviceCidr: 10.68.0.0/16 overlaps k8scp:clusterCidr 10.68.0.0/15; Service IPs and Pod IPs need disjoint ranges (e.g. 10.68.0.0/16 and 172.20.0.0/16)",
                "k8scp:schedular: unknown key; did you mean k8scp:scheduler?",
            ],
        },
        {
            name: "a flag value that is a map: its type named, not 'required'",
            set: [["--path", "k8scp:scheduler.extraArgs.v.level", "3"]],
            problems: [
                "k8scp:scheduler.extraArgs.v: expected a string, number or boolean, got a map; e.g. pulumi config set --path k8scp:scheduler.extraArgs.v 2",
            ],
        },
        {
            name: "a missing SSH key file and a binDir without the binaries",
            edit: (c) => {
                d("empty-bin");
                c["k8scp:sshPrivateKeyPath"] = path.join(tmp, "nope", "id_ed25519");
                c["k8scp:binDir"] = emptyBin;
            },
            problems: [
                `k8scp:sshPrivateKeyPath: ${tmp}/nope/id_ed25519 does not exist; create a key (ssh-keygen -t ed25519) or fix the path`,
                `k8scp:binDir: ${emptyBin} has no etcd, etcdctl, etcdutl, kube-apiserver, kube-controller-manager, kube-scheduler; put them there (npm run toolchain builds them and prints the directory) or fix the path`,
            ],
        },
        {
            name: "an unreadable SSH key file and binaries of another version",
            edit: (c) => {
                d("keydir");
                c["k8scp:sshPrivateKeyPath"] = path.join(tmp, "keydir");
                c["k8scp:kubernetesVersion"] = "1.35.0";
            },
            problems: [
                `k8scp:sshPrivateKeyPath: ${tmp}/keydir is a directory; give the path of the private key file in it`,
                `k8scp:kubernetesVersion: 1.35.0, but kube-apiserver, kube-controller-manager, kube-scheduler in ${tcBin} (the toolchain's, since k8scp:binDir is not set) are v1.34.4; put Kubernetes v1.35.0 binaries in k8scp:binDir, or set k8scp:kubernetesVersion to 1.34.4`,
            ],
        },
        {
            name: "an unreachable host (no host at 10.213.0.99)",
            edit: (c) => (masters(c)[2].address = "10.213.0.99"),
            problems: [
                /^k8scp:masters\[2\]: n3 \(10\.213\.0\.99:22\) is not reachable over SSH \((no route to host|no answer within 5 s)\); start it, or fix its address or sshPort$/,
                `k8scp:knownHostsFile: ${labKnownHosts} (${labKnownHostsFull}) has no host key for n3 (10.213.0.99:22); add it (ssh-keyscan -t ed25519 10.213.0.99 >> ${labKnownHosts}) or set k8scp:masters[2].hostKey`,
            ],
        },
        {
            name: "a wrong host key, pinned in the config and in a known_hosts file",
            edit: (c) => {
                const lines = fs.readFileSync(labKnownHostsFull, "utf8").split("\n");
                fs.writeFileSync(kh, lines.map((l) => (l.startsWith("10.213.0.11,") ? `10.213.0.11,n1 ${n1Wrong}` : l)).join("\n"));
                c["k8scp:knownHostsFile"] = kh;
                masters(c)[1].hostKey = wrongKey;
            },
            problems: [
                `k8scp:masters[1].hostKey: n2 (10.213.0.12:22) presents another ssh-ed25519 host key (${fp(labKey("n2"))}) than the one pinned here (${fp(wrongKey)}); if n2 was reinstalled, pin its new key (ssh-keyscan -t ed25519 10.213.0.12), otherwise check the address: another machine may answer there`,
                `k8scp:knownHostsFile: n1 (10.213.0.11:22) presents another ssh-ed25519 host key (${fp(labKey("n1"))}) than ${kh} pins (${fp(n1Wrong)}); if n1 was reinstalled, replace its line (ssh-keygen -R 10.213.0.11 -f ${kh}; ssh-keyscan -t ed25519 10.213.0.11 >> ${kh}), otherwise check the address: another machine may answer there`,
            ],
        },
        {
            name: "values that reach the hosts: an IPv6 address, /home for snapshots, a security flag, a newline in a flag",
            edit: (c) => {
                masters(c)[1].address = "fd00::12";
                c["k8scp:etcdSnapshots"] = { dir: "/home" };
                c["k8scp:apiserver"] = { extraArgs: { "anonymous-auth": "true" } };
                c["k8scp:scheduler"] = { extraArgs: { v: "2\nExecStartPre=/bin/sh -c id" } };
            },
            problems: [
                "k8scp:masters[1].address: 'fd00::12' is an IPv6 address: IPv6 is not supported yet; use an IPv4 address like 10.213.0.11",
                "k8scp:etcdSnapshots.dir: '/home' is a system directory; use a dedicated directory such as /var/lib/etcd-snapshots",
                "k8scp:apiserver.extraArgs.anonymous-auth: 'true' overrides a security flag of kube-apiserver, which the library does not set; remove it (pulumi config rm --path k8scp:apiserver.extraArgs.anonymous-auth), or accept the risk by naming it in k8scp:allowSecurityOverrides: pulumi config set --path 'k8scp:allowSecurityOverrides[0]' apiserver.anonymous-auth",
                "k8scp:scheduler.extraArgs.v: '2...' contains a control character (a newline, carriage return, NUL or the like); each flag is one line of the systemd unit, and a broken unit would stop the rolling update with a master down; give the value on one line",
            ],
        },
        {
            name: "a flag value set with --secret: refused, since flags are in the unit in plain text",
            set: [["--secret", "--path", "k8scp:apiserver.extraArgs.oidc-client-id", "kubernetes-prod"]],
            problems: [
                "k8scp:apiserver: holds a secret (set with --secret); extraArgs values are written into the systemd unit, readable to anyone who can read the unit, and shown in the preview; keep secrets in files on the masters, pass the file's path as the flag value, and set k8scp:apiserver without --secret",
            ],
        },
        {
            name: "no host key pinned (no knownHostsFile, no hostKey): every host refused, before any SSH session",
            edit: (c) => delete c["k8scp:knownHostsFile"],
            problems: [
                "k8scp:masters[0].hostKey: no host key is pinned for n1 (10.213.0.11:22), so any machine answering there would be trusted with the cluster's keys; pin it (ssh-keyscan -t ed25519 10.213.0.11 prints the line to set as k8scp:masters[0].hostKey), or set k8scp:knownHostsFile to a known_hosts file that lists it",
                "k8scp:masters[1].hostKey: no host key is pinned for n2 (10.213.0.12:22), so any machine answering there would be trusted with the cluster's keys; pin it (ssh-keyscan -t ed25519 10.213.0.12 prints the line to set as k8scp:masters[1].hostKey), or set k8scp:knownHostsFile to a known_hosts file that lists it",
                "k8scp:masters[2].hostKey: no host key is pinned for n3 (10.213.0.13:22), so any machine answering there would be trusted with the cluster's keys; pin it (ssh-keyscan -t ed25519 10.213.0.13 prints the line to set as k8scp:masters[2].hostKey), or set k8scp:knownHostsFile to a known_hosts file that lists it",
                "k8scp:loadBalancer.hostKey: no host key is pinned for lb (10.213.0.10:22), so any machine answering there would be trusted with the cluster's keys; pin it (ssh-keyscan -t ed25519 10.213.0.10 prints the line to set as k8scp:loadBalancer.hostKey), or set k8scp:knownHostsFile to a known_hosts file that lists it",
            ],
        },
        {
            name: "a secret value is shown as [secret]",
            set: [["--secret", "k8scp:sshPrivateKeyPath", path.join(tmp, "secret-path")]],
            problems: ["k8scp:sshPrivateKeyPath: [secret] does not exist; create a key (ssh-keygen -t ed25519) or fix the path"],
        },
    ];
};

let stackNo = 0;
/** A throwaway stack whose config file (outside the repo) starts as Pulumi.dev.yaml; returns its name and file. */
async function newStack(c: Pick<Case, "edit" | "set">): Promise<{ stack: string; file: string }> {
    const stack = `cfg${++stackNo}`;
    // `stack init` writes Pulumi.<stack>.yaml (the passphrase salt) next to Pulumi.yaml: a copy of it, not the repo.
    const proj = path.join(tmp, stack);
    fs.mkdirSync(proj);
    fs.copyFileSync(path.join(repo, "Pulumi.yaml"), path.join(proj, "Pulumi.yaml"));
    const init = await run(pulumiBin(), ["--non-interactive", "-C", proj, "stack", "init", stack], { env, cwd: proj });
    assert.equal(init.status, 0, init.stdout + init.stderr);
    const file = path.join(proj, `Pulumi.${stack}.yaml`);
    const doc = YAML.parse(fs.readFileSync(file, "utf8")) as Config;
    const config = (YAML.parse(fs.readFileSync(path.join(repo, "Pulumi.dev.yaml"), "utf8")) as { config: Config }).config;
    c.edit?.(config);
    fs.writeFileSync(file, YAML.stringify({ ...doc, config }));
    for (const args of c.set ?? []) {
        const r = await run(pulumiBin(), ["--non-interactive", "config", "set", ...args, "--stack", stack, "--config-file", file], { env });
        assert.equal(r.status, 0, `pulumi config set ${args.join(" ")}: ${r.stdout}${r.stderr}`);
    }
    return { stack, file };
}

/** `pulumi preview` from the repo root, in the lab's controller namespace, as a user runs it. */
async function preview(lab: Lab, stack: string, file: string, extra: string[] = []) {
    return lab.inCtl(pulumiBin(), ["--non-interactive", "preview", "--stack", stack, "--config-file", file, ...extra], {
        env,
        cwd: repo,
        timeoutMs: 300_000,
    });
}

/** The output a user sees, line by line, with exactly these problems, and nothing else. */
function assertOutput(stdout: string, stack: string, problems: (string | RegExp)[]) {
    const n = problems.length;
    const error = `k8scp: ${n} problem${n === 1 ? "" : "s"}, found before anything was changed:`;
    const res = `pulumi:pulumi:Stack k8scp-${stack}`;
    // The progress part: the CLI's "@ previewing update...." ticks come and go with timing; the rest is fixed.
    const progress = new Set([` +  ${res} create `, ` +  ${res} create error: ${error}`, ` +  ${res} create 1 error`]);
    const lines = stdout.split("\n").filter((l) => !/^@ previewing update\.*$/.test(l));
    const diag = lines.indexOf("Diagnostics:");
    assert.ok(diag > 0, `no Diagnostics in:\n${stdout}`);
    assert.deepEqual(lines.slice(0, 2), [`Previewing update (${stack}):`, ""], stdout);
    for (const l of lines.slice(2, diag)) assert.ok(progress.has(l), `unexpected line ${JSON.stringify(l)} in:\n${stdout}`);
    assert.ok(lines.includes(` +  ${res} create error: ${error}`), stdout);
    const expected = [
        "Diagnostics:",
        `  ${res.replace(`k8scp-${stack}`, `(k8scp-${stack})`)}:`,
        `    error: ${error}`,
        ...problems.map((p) => (typeof p === "string" ? `      - ${p}` : p)),
        "",
        "Resources:",
        "    + 1 to create",
        "    1 errored",
        "",
        "",
    ];
    const got = lines.slice(diag);
    const msg = `expected:\n${expected.map(String).join("\n")}\n\ngot:\n${got.join("\n")}`;
    assert.equal(got.length, expected.length, msg);
    expected.forEach((e, i) => {
        if (typeof e === "string") assert.equal(got[i], e, msg);
        else assert.match(got[i].replace(/^ {6}- /, ""), e, msg);
    });
}

test(
    "config errors through the real CLI: one clean error, every problem, exact lines",
    { skip, timeout: 1_200_000, concurrency: 2 },
    async (t) => {
        // The lab as it is when it runs 3 masters; brought up (and down again at the end) only when it is down.
        const status = (await run("bash", [path.join(repo, "scripts", "lab.sh"), "status"], { timeoutMs: 60_000 })).status;
        labWasDown = status === 3;
        const lab = status === 0 && new Lab().masters.length === 3 ? new Lab() : await Lab.up(3);
        fs.mkdirSync(path.join(tmp, "backend"));
        const list = cases();

        const all = list.map((c) =>
            t.test(c.name, async () => {
                const { stack, file } = await newStack(c);
                const r = await preview(lab, stack, file);
                assert.equal(r.status, 1, `exit ${r.status}:\n${r.stdout}${r.stderr}`);
                assert.equal(r.stderr, "", "nothing on stderr");
                assertOutput(r.stdout, stack, c.problems);
            }),
        );

        all.push(
            t.test("numbers and booleans set with --path are accepted: the preview plans the deployment", async (st) => {
                const { stack, file } = await newStack({
                    set: [
                        ["--path", "k8scp:scheduler.extraArgs.v", "3"],
                        ["--path", "k8scp:apiserver.extraArgs.profiling", "false"],
                    ],
                });
                const stored = YAML.parse(fs.readFileSync(file, "utf8")) as { config: Config };
                assert.deepEqual(stored.config["k8scp:scheduler"], { extraArgs: { v: 3 } }, "pulumi stores 3 as a number");
                assert.deepEqual(stored.config["k8scp:apiserver"], { extraArgs: { profiling: false } }, "and false as a boolean");
                const r = await preview(lab, stack, file);
                const out = r.stdout + r.stderr;
                assert.doesNotMatch(out, /problems?, found before anything was changed/, out);
                if (!complete) {
                    st.skip(
                        `the config is accepted; the rest of the preview needs the provider plugins, which ${tc} lacks (no stamps/complete)`,
                    );
                    return;
                }
                // A first preview cannot show the rendered units (their step waits for unknown outputs); the
                // unit tests check that these values render as --v=3 and --profiling=false.
                assert.equal(r.status, 0, out);
                assert.doesNotMatch(out, /error/i, out);
                assert.match(out, /\+ {2}command:remote:Command k8s-n3-scheduler create/, out);
            }),
        );
        await Promise.all(all);
    },
);
