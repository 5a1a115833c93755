import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Connection } from "./controlPlaneService";
import { Backend } from "./render/haproxy";
import { sudoScript } from "./render/scripts";
import { haproxyService } from "./render/services";

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

/** HAProxy on one host in front of every kube-apiserver: TCP pass-through, health-checked on /readyz. */
export class ApiServerLoadBalancer extends pulumi.ComponentResource {
    public readonly config: pulumi.Output<string>;
    public readonly ready: command.remote.Command;

    constructor(name: string, args: ApiServerLoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("k8scp:index:ApiServerLoadBalancer", name, {}, opts);
        const { config, script } = haproxyService(args.backends, args.port ?? 6443);
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
                // The delete needs no previous output (and sshd would refuse the variables without AcceptEnv).
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: args.waitFor ?? [], deleteBeforeReplace: true },
        );
        this.registerOutputs({ config: this.config });
    }
}
