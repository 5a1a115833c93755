import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";

export interface PrivateCAArgs {
    /** Subject CN of the CA, e.g. "kubernetes-ca". */
    commonName: pulumi.Input<string>;
    /** Subject O. Default: none. */
    organization?: pulumi.Input<string>;
    /** Validity in hours. Default: 87600 (ten years). */
    validityHours?: pulumi.Input<number>;
    /** Re-issue when within this many hours of expiry. Default: 8760 (one year). */
    earlyRenewalHours?: pulumi.Input<number>;
    /** Key algorithm: "RSA" (2048 bits, as the runbooks) or "ECDSA" (P-256). Default: "RSA". */
    algorithm?: pulumi.Input<"RSA" | "ECDSA">;
}

/** A private certificate authority: a key and a self-signed CA certificate (cert and CRL signing). */
export class PrivateCA extends pulumi.ComponentResource {
    public readonly certPem: pulumi.Output<string>;
    /** Secret. */
    public readonly privateKeyPem: pulumi.Output<string>;
    public readonly keyAlgorithm: pulumi.Output<string>;
    public readonly notAfter: pulumi.Output<string>;

    constructor(name: string, args: PrivateCAArgs, opts?: pulumi.ComponentResourceOptions) {
        super("k8scp:index:PrivateCA", name, {}, opts);
        const algorithm = pulumi.output(args.algorithm ?? "RSA");
        const key = new tls.PrivateKey(
            `${name}-key`,
            {
                algorithm,
                rsaBits: algorithm.apply((a) => (a === "RSA" ? 2048 : undefined)) as pulumi.Output<number>,
                ecdsaCurve: algorithm.apply((a) => (a === "ECDSA" ? "P256" : undefined)) as pulumi.Output<string>,
            },
            { parent: this, additionalSecretOutputs: ["privateKeyPem", "privateKeyOpenssh", "privateKeyPemPkcs8"] },
        );
        const cert = new tls.SelfSignedCert(
            `${name}-cert`,
            {
                privateKeyPem: key.privateKeyPem,
                isCaCertificate: true,
                subject: { commonName: args.commonName, organization: args.organization },
                validityPeriodHours: args.validityHours ?? 87600,
                earlyRenewalHours: args.earlyRenewalHours ?? 8760,
                allowedUses: ["cert_signing", "crl_signing", "digital_signature", "key_encipherment"],
            },
            { parent: this },
        );
        this.certPem = cert.certPem;
        this.privateKeyPem = pulumi.secret(key.privateKeyPem);
        this.keyAlgorithm = key.algorithm;
        this.notAfter = cert.validityEndTime;
        this.registerOutputs({ certPem: this.certPem, privateKeyPem: this.privateKeyPem, notAfter: this.notAfter });
    }
}
