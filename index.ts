// The program: reads the stack config, checks it, the files and binaries it names and the hosts (all problems
// at once, before any resource is registered), and composes the control plane.
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ControlPlane } from "./components/controlPlane";
import { checkConfig, ConfigError, configKey, rawConfigFromPulumi } from "./components/lib/config";
import { serviceNames } from "./components/lib/flags";
import { observeDrift } from "./components/lib/observe";
import { fileSha256 } from "./components/lib/fileCache";
import { snapshotTool } from "./components/lib/backup";
import { ObservedEtcd, parseEtcdProbe, planMembership, planRestore, renderEtcdProbe } from "./components/lib/etcd";
import { describeVersionChange, parseVersionProbe, planVersionChange, renderVersionProbe } from "./components/lib/version";
import {
    binDirProblems,
    expandHome,
    hostProblems,
    pinFromKnownHosts,
    readPrivateKey,
    snapshotCheck,
    sshHosts,
    unpinnedProblems,
} from "./components/lib/preflight";

async function main() {
    const raw = rawConfigFromPulumi(pulumi.runtime.allConfig());
    const { config, partial, problems, warnings } = checkConfig(raw);
    for (const warning of warnings) pulumi.log.warn(warning);

    const sshKey = readPrivateKey(partial);
    problems.push(...sshKey.problems);

    const toolchainBin = process.env.K8SCP_TOOLCHAIN_DIR ? path.join(process.env.K8SCP_TOOLCHAIN_DIR, "bin") : undefined;
    const binDirGiven = raw.binDir !== undefined;
    const binDir = binDirGiven ? partial.binDir : toolchainBin;
    const hosts = sshHosts(partial);
    const pinProblems = [...pinFromKnownHosts(hosts, partial.knownHostsFile), ...unpinnedProblems(hosts, partial.knownHostsFile)];
    const active = config?.masters.filter((m) => !m.gone) ?? [];
    if (config)
        for (const h of [...config.masters, config.loadBalancer])
            h.hostKey ??= hosts.find((x) => x.address === h.address && x.port === h.sshPort)?.hostKey;
    // With a valid config, the read-only drift probe (below) starts with the binary checks. Its SSH session checks the
    // pinned host key strictly, so a master it read is reachable and presents its key. The checks that say what is
    // wrong with a host (a TCP probe and a key scan, about a second) run for the others: the load balancer, and a
    // master the probe could not read. `preflight: false` skips only those: the probe runs always, since the etcd
    // membership plan, the version-skew check and joiner detection depend on what it reads.
    const probed =
        config && sshKey.text && !pinProblems.length
            ? active.map((m) => ({
                  key: configKey(["masters", config.masters.indexOf(m)]),
                  ...m,
                  port: m.sshPort,
                  user: m.sshUser,
                  hostKey: m.hostKey!,
              }))
            : [];
    // The kube-apiserver of this binDir, to recognise on the masters without starting it there.
    const localApiserver = binDir !== undefined ? path.join(expandHome(binDir), "kube-apiserver") : undefined;
    const known =
        localApiserver && partial.kubernetesVersion && fs.existsSync(localApiserver)
            ? { sha256: fileSha256(localApiserver), version: partial.kubernetesVersion }
            : undefined;
    const isProbed = (h: { key: string }) => probed.some((p) => p.key === h.key);
    const [binaryProblems, drift, othersReach] = await Promise.all([
        binDir !== undefined || !binDirGiven
            ? binDirProblems(binDir, { kubernetes: partial.kubernetesVersion, etcd: partial.etcdVersion }, binDirGiven)
            : [],
        probed.length
            ? observeDrift(probed, sshKey.text!, Object.values(serviceNames), (h) => [
                  renderEtcdProbe(h),
                  `echo "etcd-snapshot $(${snapshotTool} list 2>/dev/null | head -n 1)"`,
                  renderVersionProbe(known),
              ])
            : undefined,
        partial.preflight !== false
            ? hostProblems(
                  hosts.filter((h) => !isProbed(h)),
                  partial.knownHostsFile,
              )
            : [],
    ]);
    // A master the probe could not read: what the host checks find, else the probe's own error (e.g. sudo asked for a password).
    const mastersReach = await Promise.all(
        probed
            .filter((p) => drift && !(p.name in drift.raw))
            .map(async (p) => {
                const found = await hostProblems(
                    hosts.filter((h) => h.key === p.key),
                    partial.knownHostsFile,
                );
                return found.length ? found : drift!.problems.filter((x) => x.startsWith(`${p.key}:`));
            }),
    );
    problems.push(...binaryProblems, ...pinProblems, ...mastersReach.flat(), ...othersReach);

    let etcdRestore: { path: string; sha256: string } | undefined;
    if (partial.etcdRestoreFrom !== undefined && binDir !== undefined && fs.existsSync(path.join(expandHome(binDir), "etcdutl"))) {
        const r = await snapshotCheck(partial.etcdRestoreFrom, path.join(expandHome(binDir), "etcdutl"));
        if (r.problem) problems.push(r.problem);
        else {
            etcdRestore = { path: r.path!, sha256: r.sha256! };
            pulumi.log.info(`etcd restore from ${r.path} (sha256 ${r.sha256!.slice(0, 12)}, ${r.status}): runs once for this snapshot`);
        }
    }

    if (!config || problems.length || !sshKey.text || !binDir) throw new ConfigError(problems);
    const sshPrivateKey = pulumi.secret(sshKey.text);
    const want = `v${config.kubernetesVersion.replace(/^v/, "")}`;

    // Drift: what was changed on the masters by hand since the last apply (read-only, with the host checks), and
    // what etcd reports of its members: who joins, who is removed, and whether that keeps quorum.
    let observed;
    let etcdJoining: string[] = [];
    let snapshots: Record<string, string> = {};
    if (drift) {
        observed = drift.observed;
        const etcd: Record<string, ObservedEtcd> = Object.fromEntries(
            Object.entries(drift.raw).map(([n, out]) => [n, parseEtcdProbe(out)]),
        );
        const plan = planMembership(
            etcd,
            active,
            (n) => configKey(["masters", config.masters.findIndex((m) => m.name === n)]),
            configKey(["masters"]),
        );
        // A version change: one minor release at a time, upward (the version skew policy), reviewed in the preview.
        const versions = planVersionChange(
            Object.fromEntries(Object.entries(drift.raw).map(([n, out]) => [n, parseVersionProbe(out)])),
            config.kubernetesVersion,
            configKey(["kubernetesVersion"]),
        );
        const restorePlan = etcdRestore ? planRestore(etcd, active, etcdRestore.sha256, configKey(["etcdRestoreFrom"])) : [];
        if (plan.problems.length || versions.problems.length || restorePlan.length)
            throw new ConfigError([...plan.problems, ...versions.problems, ...restorePlan]);
        const upgrade = describeVersionChange(versions, config.kubernetesVersion);
        if (upgrade) pulumi.log.info(upgrade);
        for (const m of plan.removing)
            pulumi.log.info(`etcd member ${m.name} (${m.peerUrl}) left the config: it is removed through ${active[0].name}`);
        if (plan.joining.length)
            pulumi.log.info(`joining the running etcd cluster with member add, one at a time: ${plan.joining.join(", ")}`);
        etcdJoining = plan.joining;
        // A restore still to do takes over etcd: it is stopped or its data is gone, and the restore starts it.
        if (etcdRestore && active.some((m) => etcd[m.name]?.restored !== etcdRestore!.sha256)) {
            for (const m of active) {
                const svc = observed[m.name]?.[serviceNames.etcd];
                if (svc?.service.state !== "drift") continue;
                pulumi.log.info(`etcd on ${m.name} differs from what was applied (${svc.service.detail}): the restore puts it right`);
                svc.service = { ...svc.service, state: "ok", detail: "" };
            }
        }
        snapshots = Object.fromEntries(
            Object.entries(drift.raw).map(([n, out]) => [n, /^etcd-snapshot (.*)$/m.exec(out)?.[1].trim() || "none yet"]),
        );
    }

    // Stack traces are V8's own, not mapped through source maps, and short while the resources are declared. The SDK
    // records one for each promise it makes for an output (thousands in a run, shown only in its report of leaked
    // promises) and two for each resource (its registration's call stack; not kept in the state), and ts-node's
    // source-map-support mapped every frame: about 1 s of CPU while the components are constructed and 0.6 s after,
    // on the program's one thread. Sucrase keeps every line where it is (test/unit/transpile.test.ts), so a trace
    // still names the TypeScript file and line; only columns can differ.
    Error.prepareStackTrace = undefined as unknown as typeof Error.prepareStackTrace;
    const traceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 2;
    let cp: ControlPlane;
    try {
        cp = new ControlPlane("k8s", { config, sshPrivateKey, binDir: expandHome(binDir), observed, etcdJoining, etcdRestore });
    } finally {
        Error.stackTraceLimit = traceLimit;
    }
    return {
        endpoint: cp.endpoint,
        kubernetesVersion: want,
        masters: active.map((m) => ({ name: m.name, address: m.address })),
        /** The newest etcd snapshot on each master when this run started (time, bytes, path); `sudo ${snapshotTool} list` on a master lists all. */
        etcdSnapshots: snapshots,
        kubernetesCaCertPem: cp.kubernetesCaCertPem,
        kubernetesCaKeyPem: cp.kubernetesCaKeyPem,
        etcdCaCertPem: cp.etcdCaCertPem,
        adminKubeconfig: cp.adminKubeconfig,
        certificates: cp.certificates,
    };
}

// A function, not its promise: Pulumi calls and awaits it, so a rejection is never "unhandled".
export = main;
