// `npm run bench`: the library's figures on the lab, each the median of several runs with min and max.
//
//   cold `pulumi up` of 1, 3 and 5 masters + LB on freshly started hosts, and where its time goes (per-resource
//     spans from `pulumi up --json`, stamped on arrival);
//   no-op `pulumi preview` and `pulumi up` on 3 masters (and how many services they restarted);
//   one scheduler flag changed on 3 masters: the rolling restart's duration and failed /readyz probes via the VIP;
//   scheduler and controller-manager leader takeover after a graceful stop and after a kill -9 of the leader;
//   the same deploy the runbooks' way (bench/runbook-baseline.sh) in the same run, and our time as a ratio to it.
//
// Writes bench/results.json, bench/results.md and bench/deploy-time.png (gnuplot; skipped with a message when it
// cannot be installed). Environment: BENCH_RUNS (default 3), BENCH_QUICK=1 (1 run, sizes 1 and 3),
// BENCH_SIZES (e.g. "3,5"), BENCH_PARALLEL (extra cold 3-master runs with these --parallel values, e.g. "4,32"),
// BENCH_KEYS (extra cold runs of the sizes from 3 up with these k8scp:keyAlgorithm values, e.g. "RSA-2048", the
// baseline's keys), BENCH_SKIP_BASELINE=1, BENCH_WARM=0, BENCH_SETTLE (s, default 30), BENCH_TAKEOVER=0, BENCH_PROGRAM_DIR, BENCH_OUT (below). Takes the lab down at the end.
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import YAML from "yaml";
import { serviceNames } from "../components/render/flags";
import { Cluster, SERVICES, describeProbe, startReadyzProbe, writeAdminCerts } from "../test/lib/cluster";
import { Lab, fileBackend, repo, run, sleep, stepper, toolchainEnv, until } from "../test/lib/lab";
import { PulumiCli } from "../test/lib/pulumi";
import { writeBaselinePlan } from "./baselinePlan";
import { CpuReading, CpuUsed, cpuUsed, readCpu, readUnits } from "./cpu";
import { CATEGORIES, Span, byCategory, parseStamped } from "./events";

const QUICK = process.env.BENCH_QUICK === "1";
const RUNS = QUICK ? 1 : Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const SIZES = (process.env.BENCH_SIZES ?? (QUICK ? "1,3" : "1,3,5")).split(",").filter(Boolean).map(Number);
const PARALLEL = (process.env.BENCH_PARALLEL ?? "").split(",").filter(Boolean).map(Number);
/** BENCH_KEYS: extra cold runs (sizes from 3 up) with these `k8scp:keyAlgorithm` values; the default is ECDSA-P256. */
const KEYS = (process.env.BENCH_KEYS ?? "").split(",").filter(Boolean);
const SKIP_BASELINE = process.env.BENCH_SKIP_BASELINE === "1";
/** BENCH_WARM=0: skip the no-op, flag and takeover measurements (cold deploys only). */
const WARM = process.env.BENCH_WARM !== "0";
/** BENCH_SETTLE: seconds between a cold deploy's end and the no-op runs (after both leaders are elected). */
const SETTLE_SECONDS = Math.max(0, Number(process.env.BENCH_SETTLE ?? 30));
/** BENCH_TAKEOVER=0: skip the leader takeovers. */
const TAKEOVER = process.env.BENCH_TAKEOVER !== "0";
/** The Pulumi program to measure (default: this repo); for experiments with a modified copy of the library. */
const PROGRAM_DIR = path.resolve(process.env.BENCH_PROGRAM_DIR ?? repo);
/** Where results.json, results.md and deploy-time.png go (default: bench/). */
const OUT_DIR = path.resolve(process.env.BENCH_OUT ?? __dirname);

const benchDir = __dirname;
/** Throwaway stacks, their config files, backend and event logs: outside the source tree (lint and format skip it). */
const work = process.env.BENCH_WORK ?? path.join(os.tmpdir(), `k8scp-bench-${new Date().toISOString().replace(/[:.]/g, "-")}`);
const log = (s: string) => console.log(`[bench] ${s}`);
const step = stepper("bench");
const secs = (ms: number) => ms / 1000;

// ---------------------------------------------------------------------------------------------------------------
// Figures: every measurement is a list of samples; the report shows median (min–max).
type Samples = number[];
const stats = (xs: Samples) => {
    if (xs.length === 0) return undefined;
    const s = [...xs].sort((a, b) => a - b);
    const mid = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    return { median: mid, min: s[0], max: s[s.length - 1], n: s.length, samples: xs };
};
const fmt = (xs: Samples | undefined, digits = 1) => {
    const st = xs && stats(xs);
    if (!st) return "–";
    const f = (x: number) => x.toFixed(digits);
    return st.n === 1 ? f(st.median) : `${f(st.median)} (${f(st.min)}–${f(st.max)})`;
};

interface ColdRun {
    masters: number;
    parallel?: number;
    /** k8scp:keyAlgorithm when not the default (BENCH_KEYS). */
    keyAlgorithm?: string;
    seconds: number;
    /** Time before the CLI's first engine event (process and plugin start-up). */
    cliStartup: number;
    /** From the first engine event to the first resource step (program run, config checks, preflight, drift probe). */
    programStartup: number;
    /** Per category: exclusive wall seconds (they add up, with start-up and idle, to the run). */
    exclusive: Record<string, number>;
    /** Per category: sum of the steps' durations (resource-seconds) and wall time with at least one running. */
    sum: Record<string, number>;
    wall: Record<string, number>;
    idle: number;
    /** Service commands, summed over all of them: before the process started, its health wait, after healthy. */
    servicePhases: { beforeStart: number; healthWait: number; afterHealthy: number };
    /** The longest chain of service commands the rolling order makes (apiservers n1 → n2 → …). */
    apiserverChain: number;
    resources: number;
    /** Every service command, seconds from the CLI's start: [name, step start, process start, healthy, step end]. */
    timeline: [string, number, number | null, number | null, number][];
    /** CPU seconds used during the `up` (bench/cpu.ts); absent in results of runs before it was measured. */
    cpu?: CpuUsed;
}

/** A variant of a cold run: --parallel and k8scp:keyAlgorithm (none: the library's defaults). */
interface Variant {
    parallel?: number;
    keyAlgorithm?: string;
}
/** A cold run with the library's defaults (not a BENCH_PARALLEL or BENCH_KEYS variant). */
const isDefault = (c: ColdRun) => !c.parallel && !c.keyAlgorithm;

const results = {
    machine: {} as Record<string, unknown>,
    startedAt: new Date().toISOString(),
    program: PROGRAM_DIR,
    runs: RUNS,
    sizes: SIZES,
    cold: [] as ColdRun[],
    baseline: [] as { masters: number; seconds: number; phases: Record<string, number>; cpu?: CpuUsed }[],
    noop: { preview: [] as Samples, up: [] as Samples, restarts: [] as Samples, previewNoPreflight: [] as Samples },
    flag: {
        seconds: [] as Samples,
        failedProbes: [] as Samples,
        probes: [] as Samples,
        restartedSchedulers: [] as Samples,
        others: [] as Samples,
    },
    takeover: {} as Record<string, { seconds: Samples; sameMaster: number }>,
    destroy: [] as { masters: number; seconds: number; nothingLeft: boolean }[],
    notes: [] as string[],
};

function machine() {
    const cpu = os.cpus();
    const r = childProcess.spawnSync("bash", ["-c", ". /etc/os-release; echo $PRETTY_NAME"], { encoding: "utf8" });
    return {
        cpus: cpu.length,
        cpuModel: cpu[0]?.model,
        memGiB: Math.round(os.totalmem() / 2 ** 30),
        os: r.stdout.trim(),
        kernel: os.release(),
        node: process.version,
    };
}

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
const defaultParallel = env.PULUMI_PARALLEL ?? String(4 * os.cpus().length);

function stampedUp(
    p: PulumiCli,
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

const serviceOfSpan = (name: string): [string, string] | undefined => {
    const m = /^k8s-(n\d+)-(etcd|apiserver|controller-manager|scheduler)$/.exec(name);
    if (!m) return undefined;
    const svc = {
        etcd: serviceNames.etcd,
        apiserver: serviceNames.apiserver,
        "controller-manager": serviceNames.controllerManager,
        scheduler: serviceNames.scheduler,
    }[m[2] as "etcd"];
    return [m[1], svc];
};

function analyse(file: string, seconds: number, masters: number, starts: Record<string, number>, t0: number, v: Variant): ColdRun {
    const ev = parseStamped(file);
    const b = byCategory(ev);
    const phases = { beforeStart: 0, healthWait: 0, afterHealthy: 0 };
    const services = ev.spans.filter((s) => s.category === "services");
    const rel = (x: number | undefined) => (x === undefined ? null : Math.round((x - t0) * 100) / 100);
    const timeline = [...ev.spans]
        .filter((s) => s.category !== "certificates")
        .sort((a, b) => a.start - b.start)
        .map((s): ColdRun["timeline"][number] => {
            const k = serviceOfSpan(s.name);
            return [s.name, rel(s.start)!, rel(k ? starts[`${k[0]}/${k[1]}`] : undefined), rel(s.healthyAt), rel(s.end)!];
        });
    for (const s of services) {
        const k = serviceOfSpan(s.name);
        const started = k ? starts[`${k[0]}/${k[1]}`] : undefined;
        if (started === undefined || s.healthyAt === undefined || !(started >= s.start - 1)) continue;
        phases.beforeStart += Math.max(0, started - s.start);
        phases.healthWait += Math.max(0, s.healthyAt - Math.max(started, s.start));
        phases.afterHealthy += Math.max(0, s.end - s.healthyAt);
    }
    const apis = services.filter((s: Span) => /-apiserver$/.test(s.name));
    const chain = apis.length ? Math.max(...apis.map((s) => s.end)) - Math.min(...apis.map((s) => s.start)) : 0;
    const pick = (f: "exclusive" | "sum" | "wall") => Object.fromEntries(Object.entries(b.categories).map(([k, v]) => [k, v[f]]));
    return {
        masters,
        ...v,
        seconds,
        cliStartup: ev.first - t0,
        programStartup: b.startup,
        exclusive: pick("exclusive"),
        sum: pick("sum"),
        wall: pick("wall"),
        idle: b.idle,
        servicePhases: phases,
        apiserverChain: chain,
        resources: ev.spans.length,
        timeline,
    };
}

/** The lab's nodes, whose cgroups hold the hosts' CPU. */
const labNodes = (lab: Lab) => [...lab.masters.map((m) => m.name), "lb"];
/** The units whose CPU is read on the hosts after a cold deploy: the control plane and the load balancer. */
const HOST_UNITS = [...SERVICES, "k8scp-haproxy"];
/** The window's CPU, and what the control plane's units used of the hosts' share (the hosts were fresh before). */
const deployCpu = (before: CpuReading, nodes: string[]): CpuUsed => ({
    ...cpuUsed(before, readCpu(nodes), nodes),
    units: readUnits(nodes, HOST_UNITS),
});
const describeCpu = (c: CpuUsed) =>
    `CPU ${c.total.toFixed(1)} s` + (c.hosts !== undefined ? ` (hosts ${c.hosts.toFixed(1)}, controller ${c.controller!.toFixed(1)})` : "");

// ---------------------------------------------------------------------------------------------------------------
async function coldOurs(n: number, r: number, v: Variant, warm?: (lab: Lab, p: PulumiCli, cluster: Cluster) => Promise<void>) {
    const { parallel, keyAlgorithm } = v;
    const lab = await step(`lab down, up ${n} (fresh hosts)`, () => freshLab(n));
    const stack = `bench${n}r${r}${parallel ? `p${parallel}` : ""}${keyAlgorithm ? `k${keyAlgorithm.toLowerCase()}` : ""}`;
    const cfgFile = path.join(work, `Pulumi.${stack}.yaml`);
    fs.writeFileSync(cfgFile, YAML.stringify(stackConfig(lab, keyAlgorithm)));
    const p = new PulumiCli(lab, env, PROGRAM_DIR, stack, cfgFile);
    await p.ok(["stack", "init"], 120_000);
    const events = path.join(work, `${stack}.up.jsonl`);
    const nodes = labNodes(lab);
    const cpu0 = readCpu(nodes);
    const t0 = Date.now() / 1000;
    const what = `${parallel ? `, --parallel ${parallel}` : ""}${keyAlgorithm ? `, ${keyAlgorithm} keys` : ""}`;
    const up = await step(`cold pulumi up, ${n} masters${what} (run ${r + 1}/${RUNS})`, () =>
        stampedUp(p, parallel ? ["--parallel", String(parallel)] : [], events),
    );
    const cpu = deployCpu(cpu0, nodes);
    assert.equal(up.status, 0, `pulumi up failed:\n${up.stderr.slice(-3000)}\n(events: ${events})`);
    const cold = { ...analyse(events, up.seconds, n, await execStarts(lab), t0, v), cpu };
    results.cold.push(cold);
    log(
        `cold up ${n} masters${what}: ${up.seconds.toFixed(1)} s; ` +
            Object.entries(cold.exclusive)
                .map(([k, v]) => `${k} ${v.toFixed(1)}`)
                .join(", ") +
            `; start-up ${(cold.cliStartup + cold.programStartup).toFixed(1)}; apiserver chain ${cold.apiserverChain.toFixed(1)}; ` +
            describeCpu(cpu),
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
        results.destroy.push({ masters: n, seconds: secs(Date.now() - t), nothingLeft });
        log(`destroy: ${secs(Date.now() - t).toFixed(1)} s; nothing of ours left on the hosts: ${nothingLeft}`);
        await p.run(["stack", "rm", "--yes", "--force"], 120_000);
    }
}

async function baseline(n: number, r: number) {
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

// ---------------------------------------------------------------------------------------------------------------
// Warm measurements on the deployed 3-master stack.
async function allActiveSince(cluster: Cluster): Promise<Record<string, string[]>> {
    return Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await cluster.activeSince(s)] as const)));
}
const restartsBetween = (a: Record<string, string[]>, b: Record<string, string[]>, only?: string) =>
    Object.keys(a)
        .filter((s) => !only || s === only)
        .reduce((n, s) => n + a[s].filter((x, i) => x !== b[s][i]).length, 0);

async function leaseNow(cluster: Cluster, lease: string): Promise<{ holder: string; acquired: number }> {
    const out = await cluster.kubectlOk([
        "-n",
        "kube-system",
        "get",
        "lease",
        lease,
        "-o",
        "jsonpath={.spec.holderIdentity} {.spec.acquireTime}",
    ]);
    const [holder, acquired] = out.trim().split(" ");
    return { holder: holder ?? "", acquired: Date.parse(acquired ?? "") };
}

async function takeover(lab: Lab, cluster: Cluster, lease: string, service: string, how: "graceful" | "kill -9") {
    const before = await until(`${lease} holder`, 60_000, async () => {
        const l = await leaseNow(cluster, lease);
        return lab.masters.some((m) => l.holder.startsWith(`${m.name}_`)) ? l : undefined;
    });
    const from = lab.masters.find((m) => before.holder.startsWith(`${m.name}_`))!;
    const cmd = how === "graceful" ? `sudo -n systemctl stop ${service}.service` : `sudo -n systemctl kill -s KILL ${service}.service`;
    await lab.sshOk(from.address, cmd);
    const t = Date.now();
    const after = await until(
        `a new ${lease} holder`,
        90_000,
        async () => {
            const l = await leaseNow(cluster, lease);
            return l.holder && l.holder !== before.holder && Number.isFinite(l.acquired) ? l : undefined;
        },
        200,
    );
    const seconds = (after.acquired - t) / 1000;
    const same = after.holder.startsWith(`${from.name}_`);
    const key = `${service} ${how}`;
    results.takeover[key] ??= { seconds: [], sameMaster: 0 };
    results.takeover[key].seconds.push(seconds);
    if (same) results.takeover[key].sameMaster++;
    log(`${key}: ${from.name} -> ${after.holder.split("_")[0]} in ${seconds.toFixed(1)} s${same ? " (the restarted leader itself)" : ""}`);
    // Restore: start the stopped unit (a killed one restarts by itself) and wait for every instance to be active.
    if (how === "graceful") await lab.sshOk(from.address, `sudo -n systemctl start ${service}.service`);
    await until(`${service} active on every master`, 60_000, async () => {
        const rs = await Promise.all(lab.masters.map((m) => lab.ssh(m.address, `systemctl is-active ${service}.service`)));
        return rs.every((x) => x.stdout.trim() === "active") ? true : undefined;
    });
    await sleep(3000);
}

async function warm3(lab: Lab, p: PulumiCli, cluster: Cluster, r: number) {
    const certDir = path.join(work, `probe-${r}`);
    writeAdminCerts(fs.readFileSync(cluster.adminKubeconfig, "utf8"), certDir);

    // No-op preview and up, on a settled cluster: both leaders elected, then a pause for the first minute's work of a
    // new control plane (informer syncs, leader elections, etcd's first compactions) that a no-op run later in a
    // cluster's life does not share its 2 cores with.
    await step(`settle: leaders, then ${SETTLE_SECONDS} s`, async () => {
        await cluster.leaders();
        await sleep(SETTLE_SECONDS * 1000);
    });
    const before = await allActiveSince(cluster);
    let t = Date.now();
    await step("no-op pulumi preview", () => p.ok(["preview", "--expect-no-changes"], 300_000));
    results.noop.preview.push(secs(Date.now() - t));
    t = Date.now();
    await step("no-op pulumi up", () => p.ok(["up", "--yes", "--skip-preview", "--expect-no-changes"], 300_000));
    results.noop.up.push(secs(Date.now() - t));
    // The same preview without the host checks (k8scp:preflight false; the drift probe runs either way): what they cost.
    const cfg0 = fs.readFileSync(p.configFile, "utf8");
    const c0 = YAML.parse(cfg0) as { config: Record<string, unknown> };
    c0.config["k8scp:preflight"] = false;
    fs.writeFileSync(p.configFile, YAML.stringify(c0));
    t = Date.now();
    await step("no-op pulumi preview, k8scp:preflight false", () => p.ok(["preview"], 300_000)).finally(() =>
        fs.writeFileSync(p.configFile, cfg0),
    );
    results.noop.previewNoPreflight.push(secs(Date.now() - t));
    const afterNoop = await allActiveSince(cluster);
    results.noop.restarts.push(restartsBetween(before, afterNoop));
    log(
        `no-op preview ${results.noop.preview.at(-1)!.toFixed(1)} s, up ${results.noop.up.at(-1)!.toFixed(1)} s, restarts ${results.noop.restarts.at(-1)}`,
    );

    // One scheduler flag: the rolling restart, probed via the VIP.
    const cfg = YAML.parse(fs.readFileSync(p.configFile, "utf8")) as { config: Record<string, unknown> };
    cfg.config["k8scp:scheduler"] = { extraArgs: { v: "3" } };
    fs.writeFileSync(p.configFile, YAML.stringify(cfg));
    const probe = startReadyzProbe(lab, lab.vip, certDir);
    await sleep(1000);
    t = Date.now();
    try {
        await step("pulumi up, one scheduler flag", () => p.ok(["up", "--yes", "--skip-preview"], 600_000));
    } finally {
        results.flag.seconds.push(secs(Date.now() - t));
        await sleep(1000);
    }
    const pr = await probe.stop();
    const afterFlag = await allActiveSince(cluster);
    results.flag.failedProbes.push(pr.failed);
    results.flag.probes.push(pr.total);
    results.flag.restartedSchedulers.push(restartsBetween(afterNoop, afterFlag, serviceNames.scheduler));
    results.flag.others.push(restartsBetween(afterNoop, afterFlag) - restartsBetween(afterNoop, afterFlag, serviceNames.scheduler));
    log(`flag rollout ${results.flag.seconds.at(-1)!.toFixed(1)} s; probes ${describeProbe(pr)}`);

    // Leader takeover.
    if (TAKEOVER)
        for (const how of ["graceful", "kill -9"] as const) {
            await step(`takeover, scheduler, ${how}`, () => takeover(lab, cluster, "kube-scheduler", serviceNames.scheduler, how));
            await step(`takeover, controller-manager, ${how}`, () =>
                takeover(lab, cluster, "kube-controller-manager", serviceNames.controllerManager, how),
            );
        }
}

// ---------------------------------------------------------------------------------------------------------------
function median(xs: Samples) {
    return stats(xs)?.median;
}

function writeReport() {
    fs.writeFileSync(path.join(OUT_DIR, "results.json"), JSON.stringify(results, null, 2) + "\n");
    const m = results.machine;
    const L: string[] = [];
    L.push(`# Benchmark results`, "");
    L.push(
        `Machine: ${m.cpus} × ${m.cpuModel}, ${m.memGiB} GiB, ${m.os}, kernel ${m.kernel}. ${results.startedAt}. ` +
            `Each figure: median (min–max) of ${RUNS} run${RUNS > 1 ? "s" : ""}${QUICK ? " (quick mode)" : ""}; seconds. ` +
            `\`pulumi up\` without \`--parallel\` runs ${defaultParallel} steps at once (PULUMI_PARALLEL from scripts/env.sh).`,
        "",
    );
    L.push("## Cold deploy (fresh lab hosts, binaries copied)", "");
    L.push("| masters | ours `pulumi up` | runbook baseline | ours / baseline |", "|---|---|---|---|");
    for (const n of SIZES) {
        const ours = results.cold.filter((c) => c.masters === n && isDefault(c)).map((c) => c.seconds);
        const base = results.baseline.filter((c) => c.masters === n).map((c) => c.seconds);
        const ratio = ours.length && base.length ? (median(ours)! / median(base)!).toFixed(2) : "–";
        L.push(`| ${n} | ${fmt(ours)} | ${fmt(base)} | ${ratio} |`);
    }
    const med = (n: number) => median(results.cold.filter((c) => c.masters === n && isDefault(c)).map((c) => c.seconds));
    if (med(3) !== undefined)
        L.push("", `Target: cold 3-master deploy under 90 s: ${med(3)! < 90 ? "met" : "NOT met"} (${med(3)!.toFixed(1)} s).`);
    if (med(3) !== undefined && med(5) !== undefined)
        L.push(
            `Growth 3 → 5 masters: ×${(med(5)! / med(3)!).toFixed(2)} (linear would be ×${(5 / 3).toFixed(2)}): ${med(5)! / med(3)! < 5 / 3 ? "under linear" : "NOT under linear"}.`,
        );
    if (PROGRAM_DIR !== repo) L.push("", `Program measured: ${PROGRAM_DIR} (not this repository).`);
    const withCpu = [...results.cold.filter(isDefault), ...results.baseline].filter((c) => c.cpu);
    if (withCpu.length) {
        const cores = Number(m.cpus);
        L.push(
            "",
            `### CPU used by a cold deploy (seconds of the machine's ${cores} cores; lab hosts from their cgroups, the controller is the rest)`,
            "",
        );
        L.push(`| | ${SIZES.map((n) => `${n} master${n > 1 ? "s" : ""}`).join(" | ")} |`, `|---|${SIZES.map(() => "---|").join("")}`);
        const runs = [
            ["ours", results.cold.filter(isDefault)],
            ["baseline", results.baseline],
        ] as const;
        for (const [who, list] of runs) {
            const cpuRow = (name: string, f: (x: { seconds: number; cpu: CpuUsed }) => number | undefined, digits = 1) =>
                L.push(
                    `| ${who}: ${name} | ${SIZES.map((n) =>
                        fmt(
                            list
                                .filter((x) => x.masters === n && x.cpu)
                                .map((x) => f({ seconds: x.seconds, cpu: x.cpu! }))
                                .filter((v): v is number => v !== undefined),
                            digits,
                        ),
                    ).join(" | ")} |`,
                );
            cpuRow("all", (x) => x.cpu.total);
            cpuRow("share of the cores, %", (x) => (100 * x.cpu.total) / (x.seconds * cores), 0);
            cpuRow("lab hosts", (x) => x.cpu.hosts);
            cpuRow("controller (CLI, program, plugins, ssh, openssl)", (x) => x.cpu.controller);
            for (const u of HOST_UNITS) cpuRow(`lab hosts: ${u} units`, (x) => x.cpu.units?.[u]);
            cpuRow("lab hosts: the rest (sshd, sudo, bash, install, systemd)", (x) =>
                x.cpu.units && x.cpu.hosts !== undefined ? x.cpu.hosts - Object.values(x.cpu.units).reduce((a, b) => a + b, 0) : undefined,
            );
        }
    }
    L.push("", "### Where a cold `pulumi up` goes (wall seconds, each instant attributed to one category)", "");
    const cats = ["CLI start-up", "program start-up (config, preflight, drift probe)", ...CATEGORIES, "idle"];
    L.push(`| | ${SIZES.map((n) => `${n} master${n > 1 ? "s" : ""}`).join(" | ")} |`, `|---|${SIZES.map(() => "---|").join("")}`);
    for (const c of cats) {
        const cells = SIZES.map((n) => {
            const xs = results.cold.filter((x) => x.masters === n && isDefault(x));
            const v = xs.map((x) =>
                c === "CLI start-up"
                    ? x.cliStartup
                    : c.startsWith("program")
                      ? x.programStartup
                      : c === "idle"
                        ? x.idle
                        : (x.exclusive[c] ?? 0),
            );
            return fmt(v);
        });
        if (cells.every((x) => x === "0.0" || x === "–")) continue;
        L.push(`| ${c} | ${cells.join(" | ")} |`);
    }
    const row = (name: string, f: (x: ColdRun) => number) =>
        L.push(`| ${name} | ${SIZES.map((n) => fmt(results.cold.filter((x) => x.masters === n && isDefault(x)).map(f))).join(" | ")} |`);
    row("— service commands: before the process started (ssh, install, unit, daemon-reload), summed", (x) => x.servicePhases.beforeStart);
    row("— service commands: health waits (process start → healthy), summed", (x) => x.servicePhases.healthWait);
    row("— kube-apiserver commands, first start → last healthy (rolling chain)", (x) => x.apiserverChain);
    row("— copies: resource-seconds (sum over CopyToRemote)", (x) => x.sum.copies ?? 0);
    row("— certificates: resource-seconds (sum over tls/random)", (x) => x.sum.certificates ?? 0);
    if (results.baseline.length) {
        L.push("", "Runbook baseline phases (one host after another):", "");
        L.push(`| phase | ${SIZES.map((n) => `${n}`).join(" | ")} |`, `|---|${SIZES.map(() => "---|").join("")}`);
        for (const ph of ["pki and kubeconfigs", "copies", "services started", "load balancer up"])
            L.push(
                `| ${ph} | ${SIZES.map((n) => fmt(results.baseline.filter((b) => b.masters === n).map((b) => b.phases[ph] ?? NaN))).join(" | ")} |`,
            );
    }
    if (PARALLEL.length) {
        L.push("", "### `--parallel` (cold, 3 masters)", "", "| --parallel | pulumi up |", "|---|---|");
        L.push(
            `| default (${defaultParallel}) | ${fmt(results.cold.filter((c) => c.masters === 3 && isDefault(c)).map((c) => c.seconds))} |`,
        );
        for (const pv of PARALLEL)
            L.push(`| ${pv} | ${fmt(results.cold.filter((c) => c.masters === 3 && c.parallel === pv).map((c) => c.seconds))} |`);
    }
    if (KEYS.length) {
        const big = SIZES.filter((n) => n >= 3);
        L.push("", "### Key algorithm (cold)", "", `| k8scp:keyAlgorithm | ${big.map((n) => `${n} masters`).join(" | ")} | growth |`);
        L.push(`|---|${big.map(() => "---|").join("")}---|`);
        const keyRow = (name: string, f: (c: ColdRun) => boolean) => {
            const xs = big.map((n) => results.cold.filter((c) => c.masters === n && f(c)).map((c) => c.seconds));
            const a = median(xs[0] ?? []);
            const z = median(xs[xs.length - 1] ?? []);
            const growth = big.length > 1 && a !== undefined && z !== undefined ? `×${(z / a).toFixed(2)}` : "–";
            L.push(`| ${name} | ${xs.map((x) => fmt(x)).join(" | ")} | ${growth} |`);
        };
        keyRow("default (ECDSA-P256)", isDefault);
        for (const k of KEYS) keyRow(k, (c) => !c.parallel && c.keyAlgorithm === k);
    }
    L.push("", "## 3 masters, deployed", "", "| what | figure | target |", "|---|---|---|");
    L.push(`| no-op \`pulumi preview --expect-no-changes\` | ${fmt(results.noop.preview)} s | < 10 s |`);
    L.push(`| no-op \`pulumi up --expect-no-changes\` | ${fmt(results.noop.up)} s | < 10 s |`);
    L.push(
        `| no-op \`pulumi preview\` with \`k8scp:preflight false\` (no host checks; the probe runs) | ${fmt(results.noop.previewNoPreflight)} s | |`,
    );
    L.push(`| services restarted by the no-op runs | ${fmt(results.noop.restarts, 0)} | 0 |`);
    L.push(`| one scheduler flag: \`pulumi up\` (rolling restart over 3 masters) | ${fmt(results.flag.seconds)} s | |`);
    L.push(
        `| … failed /readyz probes via the VIP during it | ${fmt(results.flag.failedProbes, 0)} of ${fmt(results.flag.probes, 0)} | 0 |`,
    );
    L.push(
        `| … schedulers restarted / other services restarted | ${fmt(results.flag.restartedSchedulers, 0)} / ${fmt(results.flag.others, 0)} | 3 / 0 |`,
    );
    for (const [k, v] of Object.entries(results.takeover))
        L.push(
            `| leader takeover, ${k} (stop → new holder's acquireTime) | ${fmt(v.seconds)} s${v.sameMaster ? ` (${v.sameMaster}× the restarted leader itself)` : ""} | |`,
        );
    L.push(
        `| \`pulumi destroy\` (3 masters), nothing of ours left after | ${fmt(results.destroy.filter((d) => d.masters === 3).map((d) => d.seconds))} s, ${results.destroy.every((d) => d.nothingLeft) ? "yes" : "NO"} | |`,
    );
    if (results.notes.length) L.push("", "Notes:", "", ...results.notes.map((n) => `- ${n}`));
    L.push("");
    fs.writeFileSync(path.join(OUT_DIR, "results.md"), L.join("\n"));
}

async function chart() {
    const has = await run("bash", ["-c", "command -v gnuplot"]);
    if (has.status !== 0) {
        log("gnuplot missing: apt-get install -y gnuplot-nox (at most 300 s)");
        const r = await run("bash", ["-c", "DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q gnuplot-nox"], {
            timeoutMs: 320_000,
        }).catch((e: Error) => ({ status: -1, stdout: "", stderr: e.message }));
        if (r.status !== 0) {
            log(`could not install gnuplot (exit ${r.status}); no chart, results.json and results.md are written. ${r.stderr.slice(-300)}`);
            return;
        }
    }
    const dat = path.join(work, "deploy.dat");
    const line = (n: number) => {
        const o = stats(results.cold.filter((c) => c.masters === n && isDefault(c)).map((c) => c.seconds));
        const b = stats(results.baseline.filter((c) => c.masters === n).map((c) => c.seconds));
        const f = (s: ReturnType<typeof stats>) => (s ? `${s.median} ${s.min} ${s.max}` : "NaN NaN NaN");
        return `${n} ${f(o)} ${f(b)}`;
    };
    fs.writeFileSync(dat, SIZES.map(line).join("\n") + "\n");
    const png = path.join(OUT_DIR, "deploy-time.png");
    const gp = [
        "set terminal png size 800,500",
        `set output '${png}'`,
        "set title 'Cold deploy of the control plane + LB on the lab (median, min-max)'",
        "set xlabel 'masters'",
        "set ylabel 'seconds'",
        `set xtics (${SIZES.join(",")})`,
        `set xrange [0:${Math.max(...SIZES) + 1}]`,
        "set yrange [0:*]",
        "set key bottom right",
        "set grid",
        `plot '${dat}' using 1:2:3:4 with yerrorlines lw 2 title 'pulumi up (this library)', '' using 1:5:6:7 with yerrorlines lw 2 title 'runbook baseline (bash, one host after another)'`,
    ].join("\n");
    const r = await run("gnuplot", [], { input: gp, timeoutMs: 60_000 });
    if (r.status === 0) log(`chart: ${png}`);
    else log(`gnuplot failed: ${r.stderr}`);
}

async function main() {
    assert.equal(process.getuid?.(), 0, "the lab needs root");
    fs.mkdirSync(path.join(work, "backend"), { recursive: true });
    fs.mkdirSync(OUT_DIR, { recursive: true });
    results.machine = machine();
    log(
        `runs ${RUNS}, sizes ${SIZES.join(",")}${PARALLEL.length ? `, --parallel ${PARALLEL.join(",")}` : ""}` +
            `${KEYS.length ? `, keys ${KEYS.join(",")}` : ""}; work dir ${work}`,
    );
    try {
        for (let r = 0; r < RUNS; r++) {
            for (const n of SIZES) {
                await coldOurs(n, r, {}, n === 3 && WARM ? (lab, p, cluster) => warm3(lab, p, cluster, r) : undefined);
                if (!SKIP_BASELINE) await baseline(n, r);
                writeReport();
            }
            for (const pv of PARALLEL) {
                await coldOurs(3, r, { parallel: pv });
                writeReport();
            }
            for (const keyAlgorithm of KEYS)
                for (const n of SIZES.filter((x) => x >= 3)) {
                    await coldOurs(n, r, { keyAlgorithm });
                    writeReport();
                }
        }
    } finally {
        writeReport();
        log(`lab down: exit ${(await Lab.down()).status}`);
    }
    await chart();
    log(`wrote ${OUT_DIR}/results.json, results.md`);
    console.log(fs.readFileSync(path.join(OUT_DIR, "results.md"), "utf8"));
}

main().catch((e: unknown) => {
    console.error(`[bench] FAILED: ${e instanceof Error ? e.stack : String(e)}`);
    process.exit(1);
});
