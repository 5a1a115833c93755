// The runs on the lab: cold `pulumi up` (stamped events) and the runbook baseline, each on freshly started hosts.
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import YAML from "yaml";
import { Cluster, SERVICES } from "../test/lib/cluster";
import { Lab, fileBackend, toolchainEnv } from "../test/lib/lab";
import { PulumiCli } from "../test/lib/pulumi";
import { analyse, deployCpu, describeCpu, labNodes } from "./analysis";
import { writeBaselinePlan } from "./baselinePlan";
import { readCpu } from "./cpu";
import { Variant, results } from "./figures";
import { modeEnv } from "./modes";
import { PROGRAM_DIR, RUNS, benchDir, log, secs, step, work } from "./settings";

// ---------------------------------------------------------------------------------------------------------------
// The Pulumi CLI, as the tests drive it, plus `up --json` with every line stamped on arrival.
const env0 = toolchainEnv();
if (!env0) throw new Error("the toolchain is not available (scripts/env.sh): run npm run toolchain");
const env: NodeJS.ProcessEnv = {
    ...env0,
    PULUMI_BACKEND_URL: fileBackend(path.join(work, "backend")),
    PULUMI_CONFIG_PASSPHRASE: "bench-passphrase",
};
const binDir = path.join(env.K8SCP_TOOLCHAIN_DIR!, "bin");
/** What `pulumi up` runs with when no --parallel is given: scripts/env.sh's PULUMI_PARALLEL, else Pulumi's 4 per core. */
export const defaultParallel = env.PULUMI_PARALLEL ?? String(4 * os.cpus().length);

function stampedUp(
    p: PulumiCli,
    env: NodeJS.ProcessEnv,
    extra: string[],
    out: string,
    timeoutMs = 1_200_000,
): Promise<{ status: number | null; seconds: number; stderr: string }> {
    const args = [
        "netns",
        "exec",
        p.lab.json.controllerNamespace,
        path.join(binDir, "pulumi"),
        "--non-interactive",
        "-C",
        p.programDir,
        "up",
        "--yes",
        "--skip-preview",
        "--json",
        ...extra,
        "--stack",
        p.stack,
        "--config-file",
        p.configFile,
    ];
    return new Promise((resolve, reject) => {
        const t0 = Date.now();
        const fd = fs.openSync(out, "w");
        const child = childProcess.spawn("ip", args, { cwd: p.programDir, env, stdio: ["ignore", "pipe", "pipe"] });
        let buf = "";
        let stderr = "";
        const stamp = () => (Date.now() / 1000).toFixed(3);
        child.stdout.on("data", (d: Buffer) => {
            buf += d.toString();
            let i;
            while ((i = buf.indexOf("\n")) >= 0) {
                fs.writeSync(fd, `${stamp()}\t${buf.slice(0, i)}\n`);
                buf = buf.slice(i + 1);
            }
        });
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        const timer = setTimeout(() => {
            child.kill("SIGKILL");
            reject(new Error(`pulumi up timed out after ${timeoutMs} ms\n${stderr.slice(-2000)}`));
        }, timeoutMs);
        child.on("close", (status) => {
            clearTimeout(timer);
            if (buf) fs.writeSync(fd, `${stamp()}\t${buf}\n`);
            fs.closeSync(fd);
            resolve({ status, seconds: secs(Date.now() - t0), stderr });
        });
    });
}

function stackConfig(lab: Lab, keyAlgorithm?: string): Record<string, unknown> {
    return {
        config: {
            "k8scp:masters": lab.masters.map((m) => ({ name: m.name, address: m.address })),
            "k8scp:loadBalancer": { address: lab.vip, port: 6443 },
            "k8scp:kubernetesVersion": "1.34.4",
            "k8scp:sshPrivateKeyPath": lab.json.sshKeyPath,
            "k8scp:knownHostsFile": lab.json.knownHostsFile,
            "k8scp:serviceCidr": "10.68.0.0/16",
            "k8scp:clusterCidr": "172.20.0.0/16",
            "k8scp:nodeCidrMaskSize": 24,
            "k8scp:clusterDomain": "cluster.local",
            ...(keyAlgorithm ? { "k8scp:keyAlgorithm": keyAlgorithm } : {}),
        },
    };
}

/** Lab down then up with `n` masters: hosts with nothing of ours on them. */
async function freshLab(n: number): Promise<Lab> {
    const d = await Lab.down();
    assert.equal(d.status, 0, `lab down: ${d.stdout}${d.stderr}`);
    return Lab.up(n);
}

/** When each service's process started on each master (epoch seconds), keyed "n1/kube-apiserver". */
async function execStarts(lab: Lab): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    await Promise.all(
        lab.masters.map(async (m) => {
            const r = await lab.sshOk(
                m.address,
                SERVICES.map(
                    (s) =>
                        `echo ${s} $(date -d "$(systemctl show --timestamp=us+utc --value -p ExecMainStartTimestamp ${s}.service)" +%s.%N)`,
                ).join("; "),
            );
            for (const line of r.trim().split("\n")) {
                const [s, t] = line.split(" ");
                out[`${m.name}/${s}`] = Number(t);
            }
        }),
    );
    return out;
}

/**
 * SSH logins on each master (in the lab's order) between epoch seconds `from` and `to`: sshd's "Accepted" lines in
 * its journal (`sshd`, or `sshd-session` from OpenSSH 9.8); undefined, with a note, when a journal cannot be read.
 */
async function sshLogins(lab: Lab, from: number, to: number): Promise<number[] | undefined> {
    const window = `--since @${from.toFixed(3)} --until @${to.toFixed(3)}`;
    // grep -c exits 1 on no match (0 logins); an unreadable journal leaves stdout empty.
    const cmd = `j=$(sudo -n journalctl -q -t sshd -t sshd-session ${window} -o cat) && { grep -c '^Accepted ' <<<"$j" || true; }`;
    const rs = await Promise.all(lab.masters.map((m) => lab.ssh(m.address, cmd)));
    const counts = rs.map((x) => (x.status === 0 && /^\d+$/.test(x.stdout.trim()) ? Number(x.stdout.trim()) : NaN));
    if (counts.every(Number.isFinite)) return counts;
    results.notes.push(
        `SSH logins not counted (journal of sshd unreadable): ${rs
            .map((x) => (x.stdout + x.stderr).trim())
            .join("; ")
            .slice(0, 300)}`,
    );
    return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
export async function coldOurs(n: number, r: number, v: Variant, warm?: (lab: Lab, p: PulumiCli, cluster: Cluster) => Promise<void>) {
    // The default mode is no variant: not tagged in the results (as before modes).
    const { mode: m, ...plain } = v;
    const mode = m === "default" ? undefined : m;
    v = mode ? { ...plain, mode } : plain;
    const { parallel, keyAlgorithm } = v;
    const lab = await step(`lab down, up ${n} (fresh hosts)`, () => freshLab(n));
    const stack = `bench${n}r${r}${parallel ? `p${parallel}` : ""}${keyAlgorithm ? `k${keyAlgorithm.toLowerCase()}` : ""}${mode ?? ""}`;
    const cfgFile = path.join(work, `Pulumi.${stack}.yaml`);
    fs.writeFileSync(cfgFile, YAML.stringify(stackConfig(lab, keyAlgorithm)));
    // The plugin's mode for every command on this stack (up, the warm runs, destroy).
    const menv = modeEnv(env, mode ?? "default");
    const p = new PulumiCli(lab, menv, PROGRAM_DIR, stack, cfgFile);
    await p.ok(["stack", "init"], 120_000);
    const events = path.join(work, `${stack}.up.jsonl`);
    const nodes = labNodes(lab);
    const cpu0 = readCpu(nodes);
    const t0 = Date.now() / 1000;
    const what =
        `${parallel ? `, --parallel ${parallel}` : ""}${keyAlgorithm ? `, ${keyAlgorithm} keys` : ""}` +
        `${mode ? `, ${mode} plugin mode` : ""}`;
    const up = await step(`cold pulumi up, ${n} masters${what} (run ${r + 1}/${RUNS})`, () =>
        stampedUp(p, menv, parallel ? ["--parallel", String(parallel)] : [], events),
    );
    const t1 = Date.now() / 1000;
    const cpu = deployCpu(cpu0, nodes);
    assert.equal(up.status, 0, `pulumi up failed:\n${up.stderr.slice(-3000)}\n(events: ${events})`);
    const logins = await sshLogins(lab, t0, t1);
    const cold = { ...analyse(events, up.seconds, n, await execStarts(lab), t0, v), cpu, ...(logins ? { sshLogins: logins } : {}) };
    results.cold.push(cold);
    log(
        `cold up ${n} masters${what}: ${up.seconds.toFixed(1)} s; ` +
            Object.entries(cold.exclusive)
                .map(([k, v]) => `${k} ${v.toFixed(1)}`)
                .join(", ") +
            `; start-up ${(cold.cliStartup + cold.programStartup).toFixed(1)}; apiserver chain ${cold.apiserverChain.toFixed(1)}; ` +
            describeCpu(cpu) +
            (logins ? `; SSH logins per master ${logins.join(", ")}` : ""),
    );
    const adminKubeconfig = path.join(work, `${stack}.admin.kubeconfig`);
    const outputs = await p.outputs();
    fs.writeFileSync(adminKubeconfig, String(outputs.adminKubeconfig), { mode: 0o600 });
    const cluster = new Cluster(lab, lab.masters, binDir, adminKubeconfig, log);
    try {
        await cluster.rawOk("/readyz", 60_000);
        if (warm) await warm(lab, p, cluster);
    } finally {
        const t = Date.now();
        const d = await step("pulumi destroy", () => p.run(["destroy", "--yes", "--skip-preview"], 1_200_000));
        assert.equal(d.status, 0, `pulumi destroy:\n${d.stdout}${d.stderr}`);
        let nothingLeft = true;
        try {
            await cluster.nothingLeft();
        } catch (e) {
            nothingLeft = false;
            results.notes.push(`after destroy of ${stack}: ${String(e).slice(0, 300)}`);
        }
        results.destroy.push({ masters: n, seconds: secs(Date.now() - t), nothingLeft, ...(mode ? { mode } : {}) });
        log(`destroy: ${secs(Date.now() - t).toFixed(1)} s; nothing of ours left on the hosts: ${nothingLeft}`);
        await p.run(["stack", "rm", "--yes", "--force"], 120_000);
    }
}

export async function baseline(n: number, r: number) {
    const lab = await step(`lab down, up ${n} (fresh hosts)`, () => freshLab(n));
    const plan = path.join(work, `baseline-${n}`);
    writeBaselinePlan(plan, lab.masters, lab.vip);
    const script = path.join(benchDir, "runbook-baseline.sh");
    const benv = { ...env, SSH_KEY: lab.json.sshKeyPath, KNOWN_HOSTS: lab.json.knownHostsFile, SSH_USER: lab.sshUser, BIN_DIR: binDir };
    const nodes = labNodes(lab);
    const cpu0 = readCpu(nodes);
    const t0 = Date.now();
    const res = await step(`runbook baseline, ${n} masters (run ${r + 1}/${RUNS})`, () =>
        lab.inCtl("bash", [script, "up", plan], { env: benv, timeoutMs: 1_200_000 }),
    );
    const seconds = secs(Date.now() - t0);
    const cpu = deployCpu(cpu0, nodes);
    fs.writeFileSync(path.join(work, `baseline-${n}-r${r}.log`), res.stdout + res.stderr);
    assert.equal(res.status, 0, `baseline failed:\n${(res.stdout + res.stderr).slice(-3000)}`);
    const phases: Record<string, number> = {};
    for (const m of res.stdout.matchAll(
        /\[baseline\] (pki and kubeconfigs|copies|services started|load balancer up)(?: done)? in ([\d.]+) s/g,
    ))
        phases[m[1]] = Number(m[2]);
    results.baseline.push({ masters: n, seconds, phases, cpu });
    log(`baseline ${n} masters: ${seconds.toFixed(1)} s ${JSON.stringify(phases)}; ${describeCpu(cpu)}`);
    const c = await step("baseline clean", () => lab.inCtl("bash", [script, "clean", plan], { env: benv, timeoutMs: 300_000 }));
    assert.equal(c.status, 0, `baseline clean:\n${c.stdout}${c.stderr}`);
    const cluster = new Cluster(lab, lab.masters, binDir, "", log);
    await cluster.nothingLeft();
}
