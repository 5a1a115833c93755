// A user's program on the packed package: a resource of its own reports the hosts' addresses (it stands in for
// whatever makes or lists the machines: a cloud's VMs, an inventory), and the control plane goes on them in the same
// `pulumi up`. Here that resource is a remote command on an inventory host (the lab's load balancer, which knows
// every lab host by name); its output is unknown until it runs. Every check, probe and plan comes with the package.
// Config (namespace k8scp-packaged): inventoryHost, inventoryNote (optional: changes the inventory resource),
// masters (names), kubernetesVersion, sshPrivateKeyPath, knownHostsFile, binDir, schedulerArgs (optional).
import * as fs from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { ControlPlane } from "pulumi-k8s-control-plane";

export = async () => {
    const cfg = new pulumi.Config();
    const inventory = cfg.require("inventoryHost");
    const note = cfg.get("inventoryNote")?.replace(/\n/g, " ");
    const masters = cfg.requireObject<string[]>("masters");
    const keyPath = cfg.require("sshPrivateKeyPath");
    const knownHostsFile = cfg.require("knownHostsFile");
    const pinned = fs
        .readFileSync(knownHostsFile, "utf8")
        .split("\n")
        .find((l) => l.startsWith(`${inventory} `));
    const hosts = new command.remote.Command("lab-hosts", {
        connection: {
            host: inventory,
            user: "kube",
            privateKey: pulumi.secret(fs.readFileSync(keyPath, "utf8")),
            hostKey: pinned?.split(" ").slice(1).join(" "),
        },
        // Every lab host, so that the inventory does not change with the masters the config lists.
        create: `${note ? `# ${note}\n` : ""}getent ahostsv4 n1 n2 n3 n4 n5 lb | awk '$2 == "STREAM" { print $3, $1 }' | sort -u`,
    });
    const addresses = hosts.stdout.apply((out) =>
        Object.fromEntries(
            out
                .trim()
                .split("\n")
                .map((l) => l.split(" ")),
        ),
    );
    const addressOf = (name: string) =>
        addresses.apply((a) => {
            if (!a[name]) throw new Error(`the inventory ${inventory} does not know ${name}`);
            return a[name];
        });
    const cp = await ControlPlane.create("k8s", {
        config: {
            masters: masters.map((name) => ({ name, address: addressOf(name) })),
            loadBalancer: { address: addressOf("lb"), port: 6443 },
            kubernetesVersion: cfg.require("kubernetesVersion"),
            sshPrivateKeyPath: keyPath,
            knownHostsFile,
            scheduler: { extraArgs: cfg.getObject<Record<string, string>>("schedulerArgs") ?? {} },
        },
        defaultBinDir: cfg.require("binDir"),
    });
    return { endpoint: cp.endpoint, adminKubeconfig: cp.adminKubeconfig, masters: cp.mastersRunning };
};
