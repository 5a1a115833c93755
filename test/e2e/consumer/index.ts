// Another Pulumi program using the package, as its README shows: through a StackReference to a control-plane
// stack's outputs (CA certificate plain, CA key secret; that stack sets k8scp:exportCaKey, the key is no output
// otherwise) it issues a client certificate and a kubeconfig for a user. Config: controlPlaneStack (e.g.
// organization/k8scp/dev), user, group.
import * as pulumi from "@pulumi/pulumi";
import { ClientCert, Kubeconfig } from "pulumi-k8s-control-plane";

const cfg = new pulumi.Config();
const cp = new pulumi.StackReference(cfg.require("controlPlaneStack"));
const user = cfg.require("user");
const caCertPem = cp.requireOutput("kubernetesCaCertPem") as pulumi.Output<string>;

const cert = new ClientCert(user, {
    ca: { certPem: caCertPem, privateKeyPem: cp.requireOutput("kubernetesCaKeyPem") as pulumi.Output<string> },
    commonName: user,
    organization: cfg.require("group"),
    validityHours: 24,
});
const endpoint = cp.requireOutput("endpoint") as pulumi.Output<string>;

export const kubeconfig = new Kubeconfig(user, {
    server: endpoint,
    caCertPem,
    userName: user,
    clientCertPem: cert.certPem,
    clientKeyPem: cert.privateKeyPem,
}).content;
export const notAfter = cert.notAfter;
