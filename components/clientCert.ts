import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { KeyAlgorithm, defaultKeyAlgorithm, usages } from "./render/pki";
import { newPrivateKey } from "./privateKey";

/** The CA that signs: a PrivateCA, or the PEMs of one (e.g. from a StackReference). */
export interface SigningCA {
    certPem: pulumi.Input<string>;
    privateKeyPem: pulumi.Input<string>;
}

export interface ClientCertArgs {
    ca: SigningCA;
    /** Subject CN: the Kubernetes user name, e.g. "system:kube-scheduler". */
    commonName: pulumi.Input<string>;
    /** Subject O: the Kubernetes group, e.g. "system:masters". Default: none. */
    organization?: pulumi.Input<string>;
    /** DNS SANs. Default: none. */
    dnsNames?: pulumi.Input<pulumi.Input<string>[]>;
    /** IP SANs. Default: none. */
    ipAddresses?: pulumi.Input<pulumi.Input<string>[]>;
    /** "client", "server" or "both". Default: "client". */
    usage?: "client" | "server" | "both";
    /** Validity in hours. Default: 8760 (one year). */
    validityHours?: pulumi.Input<number>;
    /** Re-issue when within this many hours of expiry. Default: 720 (30 days). */
    earlyRenewalHours?: pulumi.Input<number>;
    /** Algorithm of the key when it is made (an existing key is kept when this changes). Default: "ECDSA-P256". */
    keyAlgorithm?: KeyAlgorithm;
}

/** A key pair and a certificate signed locally by a CA: every identity of the control plane is one. */
export class ClientCert extends pulumi.ComponentResource {
    public readonly certPem: pulumi.Output<string>;
    /** Secret. */
    public readonly privateKeyPem: pulumi.Output<string>;
    /** RFC 3339 expiry time of the certificate. */
    public readonly notAfter: pulumi.Output<string>;
    public readonly commonName: pulumi.Output<string>;

    constructor(name: string, args: ClientCertArgs, opts?: pulumi.ComponentResourceOptions) {
        super("k8scp:index:ClientCert", name, {}, opts);
        const key = newPrivateKey(`${name}-key`, args.keyAlgorithm ?? defaultKeyAlgorithm, { parent: this });
        const csr = new tls.CertRequest(
            `${name}-csr`,
            {
                privateKeyPem: key.privateKeyPem,
                subject: { commonName: args.commonName, organization: args.organization },
                dnsNames: args.dnsNames ?? [],
                ipAddresses: args.ipAddresses ?? [],
            },
            { parent: this },
        );
        const cert = new tls.LocallySignedCert(
            `${name}-cert`,
            {
                certRequestPem: csr.certRequestPem,
                caCertPem: args.ca.certPem,
                caPrivateKeyPem: pulumi.secret(args.ca.privateKeyPem),
                validityPeriodHours: args.validityHours ?? 8760,
                earlyRenewalHours: args.earlyRenewalHours ?? 720,
                allowedUses: usages(args.usage ?? "client"),
            },
            { parent: this },
        );
        this.certPem = cert.certPem;
        this.privateKeyPem = pulumi.secret(key.privateKeyPem);
        this.notAfter = cert.validityEndTime;
        this.commonName = pulumi.output(args.commonName);
        this.registerOutputs({ certPem: this.certPem, privateKeyPem: this.privateKeyPem, notAfter: this.notAfter });
    }
}
