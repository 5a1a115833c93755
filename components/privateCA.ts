import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { KeyAlgorithm, defaultKeyAlgorithm } from "./render/pki";
import { newPrivateKey } from "./privateKey";

export interface PrivateCAArgs {
    /** Subject CN of the CA, e.g. "kubernetes-ca". */
    commonName: pulumi.Input<string>;
    /** Subject O. Default: none. */
    organization?: pulumi.Input<string>;
    /** Validity in hours. Default: 87600 (ten years). */
    validityHours?: pulumi.Input<number>;
    /** Re-issue when within this many hours of expiry. Default: 8760 (one year). */
    earlyRenewalHours?: pulumi.Input<number>;
    /**
     * Algorithm of the key when it is made: an existing CA key is kept when this changes (a new CA would split trust;
     * rotation is a procedure). "RSA" and "ECDSA" are read as "RSA-2048" and "ECDSA-P256". Default: "ECDSA-P256".
     */
    algorithm?: KeyAlgorithm | "RSA" | "ECDSA";
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
        const a = args.algorithm ?? defaultKeyAlgorithm;
        const key = newPrivateKey(`${name}-key`, a === "RSA" ? "RSA-2048" : a === "ECDSA" ? "ECDSA-P256" : a, { parent: this });
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
