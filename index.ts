// The program: reads the stack config, checks it, the files and binaries it names and the hosts (all problems
// at once, before any resource is registered), and composes the control plane.
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ControlPlane } from "./components/controlPlane";
import { checkConfig, ConfigError, configKey, rawConfigFromPulumi } from "./components/lib/config";
import { serviceNames } from "./components/lib/flags";
import { observeDrift } from "./components/lib/observe";
import { binDirProblems, expandHome, hostProblems, pinFromKnownHosts, readPrivateKey, sshHosts } from "./components/lib/preflight";

async function main() {
    const raw = rawConfigFromPulumi(pulumi.runtime.allConfig());
    const { config, partial, problems } = checkConfig(raw);

    const sshKey = readPrivateKey(partial);
    problems.push(...sshKey.problems);

    const toolchainBin = process.env.K8SCP_TOOLCHAIN_DIR ? path.join(process.env.K8SCP_TOOLCHAIN_DIR, "bin") : undefined;
    const binDirGiven = raw.binDir !== undefined;
    const binDir = binDirGiven ? partial.binDir : toolchainBin;
    if (binDir !== undefined || !binDirGiven) {
        problems.push(...(await binDirProblems(binDir, { kubernetes: partial.kubernetesVersion, etcd: partial.etcdVersion }, binDirGiven)));
    }

    const hosts = sshHosts(partial);
    problems.push(...pinFromKnownHosts(hosts, partial.knownHostsFile));
    if (partial.preflight !== false) problems.push(...(await hostProblems(hosts, partial.knownHostsFile)));

    if (!config || problems.length || !sshKey.text || !binDir) throw new ConfigError(problems);
    const sshPrivateKey = pulumi.secret(sshKey.text);
    for (const h of [...config.masters, config.loadBalancer]) {
        h.hostKey ??= hosts.find((x) => x.address === h.address && x.port === h.sshPort)?.hostKey;
    }
    const want = `v${config.kubernetesVersion.replace(/^v/, "")}`;

    // Drift: what was changed on the masters by hand since the last apply (read-only, with the host checks).
    let observed;
    if (config.preflight) {
        const masters = config.masters.map((m, i) => ({
            key: configKey(["masters", i]),
            ...m,
            port: m.sshPort,
            user: m.sshUser,
            hostKey: m.hostKey!,
        }));
        const r = await observeDrift(masters, sshKey.text, Object.values(serviceNames));
        if (r.problems.length) throw new ConfigError(r.problems);
        observed = r.observed;
    }

    const cp = new ControlPlane("k8s", { config, sshPrivateKey, binDir: expandHome(binDir), observed });
    return {
        endpoint: cp.endpoint,
        kubernetesVersion: want,
        masters: config.masters.map((m) => ({ name: m.name, address: m.address })),
        kubernetesCaCertPem: cp.kubernetesCaCertPem,
        kubernetesCaKeyPem: cp.kubernetesCaKeyPem,
        etcdCaCertPem: cp.etcdCaCertPem,
        adminKubeconfig: cp.adminKubeconfig,
        certificates: cp.certificates,
    };
}

// A function, not its promise: Pulumi calls and awaits it, so a rejection is never "unhandled".
export = main;
