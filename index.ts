// The program: reads the stack config, validates it, checks the hosts answer, and composes the control plane.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ControlPlane } from "./components/controlPlane";
import { CONFIG_NAMESPACE, ConfigError, hostKeyFromKnownHosts, rawConfigFromPulumi, validateConfig } from "./components/lib/config";
import { binaryVersion, unreachable } from "./components/lib/preflight";

const expandHome = (p: string) => (p.startsWith("~/") ? path.join(os.homedir(), p.slice(2)) : p);

async function main() {
    const config = validateConfig(rawConfigFromPulumi(pulumi.runtime.allConfig()));
    const pcfg = new pulumi.Config(CONFIG_NAMESPACE);

    const binDir = expandHome(config.binDir ?? (process.env.K8SCP_TOOLCHAIN_DIR ? path.join(process.env.K8SCP_TOOLCHAIN_DIR, "bin") : ""));
    if (!binDir)
        throw new ConfigError([
            `${CONFIG_NAMESPACE}:binDir: not set; point it at the directory with kube-apiserver, etcd, ... (npm run toolchain prints it)`,
        ]);
    const binaries = ["etcd", "etcdctl", "kube-apiserver", "kube-controller-manager", "kube-scheduler"];
    const missing = binaries.filter((b) => !fs.existsSync(path.join(binDir, b)));
    if (missing.length)
        throw new ConfigError([
            `${CONFIG_NAMESPACE}:binDir: ${binDir} lacks ${missing.join(", ")}; run 'npm run toolchain' or fix the path`,
        ]);
    const want = `v${config.kubernetesVersion.replace(/^v/, "")}`;
    const have = binaryVersion(path.join(binDir, "kube-apiserver"));
    if (have !== want) {
        throw new ConfigError([
            `${CONFIG_NAMESPACE}:kubernetesVersion: is ${want} but ${binDir}/kube-apiserver is ${have}; build ${want} or change the config`,
        ]);
    }

    let sshPrivateKey: pulumi.Output<string> | undefined = pcfg.getSecret("sshPrivateKey");
    if (!sshPrivateKey && config.sshPrivateKeyPath) {
        const keyPath = expandHome(config.sshPrivateKeyPath);
        if (!fs.existsSync(keyPath))
            throw new ConfigError([`${CONFIG_NAMESPACE}:sshPrivateKeyPath: ${keyPath} does not exist; create the key or fix the path`]);
        sshPrivateKey = pulumi.secret(fs.readFileSync(keyPath, "utf8"));
    }

    if (config.knownHostsFile) {
        const file = expandHome(config.knownHostsFile);
        if (!fs.existsSync(file))
            throw new ConfigError([
                `${CONFIG_NAMESPACE}:knownHostsFile: ${file} does not exist; create it (ssh-keyscan) or remove the key`,
            ]);
        const text = fs.readFileSync(file, "utf8");
        for (const h of [...config.masters, config.loadBalancer]) h.hostKey ??= hostKeyFromKnownHosts(text, h.address, h.sshPort);
    }

    if (config.preflight) {
        const hosts = [
            ...config.masters.map((m) => ({ name: m.name, address: m.address, port: m.sshPort })),
            ...(config.loadBalancer.manage
                ? [{ name: config.loadBalancer.name, address: config.loadBalancer.address, port: config.loadBalancer.sshPort }]
                : []),
        ];
        const down = await unreachable(hosts);
        if (down.length) {
            throw new Error(
                `host(s) not reachable over SSH, nothing was changed: ${down.map((h) => `${h.name} (${h.address}:${h.port})`).join(", ")}; ` +
                    `start them or fix ${CONFIG_NAMESPACE}:masters, then run again`,
            );
        }
    }

    const cp = new ControlPlane("k8s", { config, sshPrivateKey: sshPrivateKey!, binDir });
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

export = main();
