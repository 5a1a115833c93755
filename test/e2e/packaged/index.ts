// A user's program on the packed package: a resource of its own reports the hosts (it stands in for whatever makes
// the machines: a cloud's VMs, a bare-metal API), and the control plane goes on them in the same `pulumi up`. Every
// check, probe and plan comes with the package. Config (namespace k8scp-packaged): labJson (the lab's host list),
// masters (names), kubernetesVersion, sshPrivateKeyPath, knownHostsFile, binDir, schedulerArgs (optional).
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { ControlPlane } from "pulumi-k8s-control-plane";

interface LabNode {
    name: string;
    address: string;
}

export = async () => {
    const cfg = new pulumi.Config();
    const hosts = new command.local.Command("lab-hosts", { create: `cat -- '${cfg.require("labJson")}'` });
    const nodes = hosts.stdout.apply((s) => (JSON.parse(s) as { nodes: LabNode[] }).nodes);
    const addressOf = (name: string) =>
        nodes.apply((ns) => {
            const n = ns.find((x) => x.name === name);
            if (!n) throw new Error(`the lab has no host ${name}`);
            return n.address;
        });
    const cp = await ControlPlane.create("k8s", {
        config: {
            masters: cfg.requireObject<string[]>("masters").map((name) => ({ name, address: addressOf(name) })),
            loadBalancer: { address: addressOf("lb"), port: 6443 },
            kubernetesVersion: cfg.require("kubernetesVersion"),
            sshPrivateKeyPath: cfg.require("sshPrivateKeyPath"),
            knownHostsFile: cfg.require("knownHostsFile"),
            scheduler: { extraArgs: cfg.getObject<Record<string, string>>("schedulerArgs") ?? {} },
        },
        defaultBinDir: cfg.require("binDir"),
    });
    return { endpoint: cp.endpoint, adminKubeconfig: cp.adminKubeconfig, masters: cp.mastersRunning };
};
