import * as pulumi from "@pulumi/pulumi";
import { renderKubeconfig } from "./render/kubeconfig";

export interface KubeconfigArgs {
    /** API server URL. Default: the VIP, `https://<vip>:6443`, which must then be given as `vip`. */
    server?: pulumi.Input<string>;
    /** The load balancer address the default server points at. */
    vip?: pulumi.Input<string>;
    /** Port of the VIP. Default: 6443. */
    vipPort?: pulumi.Input<number>;
    /** Cluster entry name. Default: "kubernetes". */
    clusterName?: pulumi.Input<string>;
    caCertPem: pulumi.Input<string>;
    /** User entry name, e.g. "system:kube-scheduler". */
    userName: pulumi.Input<string>;
    clientCertPem: pulumi.Input<string>;
    clientKeyPem: pulumi.Input<string>;
}

/** A kubeconfig with CA, client certificate and key embedded. Its content is a secret. */
export class Kubeconfig extends pulumi.ComponentResource {
    /** Secret: the kubeconfig YAML. */
    public readonly content: pulumi.Output<string>;
    public readonly server: pulumi.Output<string>;

    constructor(name: string, args: KubeconfigArgs, opts?: pulumi.ComponentResourceOptions) {
        super("k8scp:index:Kubeconfig", name, {}, opts);
        this.server = pulumi.all([args.server, args.vip, args.vipPort]).apply(([server, vip, port]) => {
            if (server) return server;
            if (!vip) throw new Error(`Kubeconfig ${name}: set either 'server' or 'vip'`);
            return `https://${vip}:${port ?? 6443}`;
        });
        this.content = pulumi.secret(
            pulumi
                .all([this.server, args.clusterName, args.caCertPem, args.userName, args.clientCertPem, args.clientKeyPem])
                .apply(([server, clusterName, caCertPem, userName, clientCertPem, clientKeyPem]) =>
                    renderKubeconfig({
                        server,
                        clusterName: clusterName ?? "kubernetes",
                        caCertPem,
                        userName,
                        clientCertPem,
                        clientKeyPem,
                    }),
                ),
        );
        this.registerOutputs({ content: this.content, server: this.server });
    }
}
