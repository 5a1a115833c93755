import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Connection } from "./controlPlaneService";
import { Backend, renderHaproxyConfig } from "./lib/haproxy";
import { renderServiceScript, sudoScript } from "./lib/scripts";
import { renderUnit } from "./lib/systemd";

export interface ApiServerLoadBalancerArgs {
    /** SSH connection to the load-balancer host; HAProxy must be installed there (Debian: apt install haproxy). */
    connection: Connection;
    /** Port of the VIP. Default: 6443. */
    port?: number;
    /** The API servers behind the VIP. */
    backends: Backend[];
    /** Resources to finish before the load balancer is configured. Default: none. */
    waitFor?: pulumi.Input<pulumi.Resource>[];
}

const configPath = "/etc/kubernetes/k8scp-haproxy/haproxy.cfg";

/** HAProxy on one host in front of every kube-apiserver: TCP pass-through, health-checked on /readyz. */
export class ApiServerLoadBalancer extends pulumi.ComponentResource {
    public readonly config: pulumi.Output<string>;
    public readonly ready: command.remote.Command;

    constructor(name: string, args: ApiServerLoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("k8scp:index:ApiServerLoadBalancer", name, {}, opts);
        const port = args.port ?? 6443;
        const config = renderHaproxyConfig({ port, backends: args.backends });
        const unit = renderUnit({
            description: "HAProxy load balancer for kube-apiserver (k8scp)",
            exec: "/usr/sbin/haproxy",
            args: ["-Ws", "-f", configPath],
            type: "notify",
            serviceExtra: { ExecReload: "/bin/kill -USR2 $MAINPID", KillMode: "mixed" },
        });
        const script = renderServiceScript({
            name: "k8scp-haproxy",
            user: "root",
            unit,
            binaries: [],
            files: [{ path: configPath, content: config, mode: "0644" }],
            requires: ["/usr/sbin/haproxy"],
            validate: `haproxy -c -q -f ${configPath}`,
            reload: true,
            health: { url: `tcp://127.0.0.1:${port}`, timeoutSeconds: 30 },
        });
        this.config = pulumi.output(config);
        this.ready = new command.remote.Command(
            name,
            {
                connection: args.connection,
                create: sudoScript("create"),
                update: sudoScript("update"),
                delete: sudoScript("delete"),
                stdin: script,
                logging: "stdoutAndStderr",
            },
            { parent: this, dependsOn: args.waitFor ?? [], deleteBeforeReplace: true },
        );
        this.registerOutputs({ config: this.config });
    }
}
