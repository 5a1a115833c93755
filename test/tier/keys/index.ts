// A CA and `leaves` certificates from the library's PrivateCA and ClientCert, made with the stack's keyAlgorithm
// (the library's default when unset): a changed algorithm must keep the keys that exist and apply to new ones.
import * as pulumi from "@pulumi/pulumi";
import { ClientCert } from "../../../components/clientCert";
import { PrivateCA } from "../../../components/privateCA";
import { KeyAlgorithm } from "../../../components/render/pki";

const config = new pulumi.Config();
const keyAlgorithm = config.get("keyAlgorithm") as KeyAlgorithm | undefined;
const ca = new PrivateCA("ca", { commonName: "keys-ca", validityHours: 24, earlyRenewalHours: 0, algorithm: keyAlgorithm });
const leaves = Array.from(
    { length: config.getNumber("leaves") ?? 1 },
    (_, i) => new ClientCert(`leaf${i}`, { ca, commonName: `leaf${i}`, validityHours: 12, earlyRenewalHours: 1, keyAlgorithm }),
);

export const caCertPem = ca.certPem;
export const caKeyPem = ca.privateKeyPem;
export const leafCertPems = leaves.map((l) => l.certPem);
export const leafKeyPems = pulumi.secret(leaves.map((l) => l.privateKeyPem));
