import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { KeyAlgorithm, keyAlgorithmArgs, privateKeyArgs } from "./render/pki";

/**
 * A private key as every component of the library makes it: its private forms are secret outputs, and its
 * algorithm is fixed when it is made (`keyAlgorithmArgs`: a later change of the setting keeps the key).
 */
export function newPrivateKey(name: string, algorithm: KeyAlgorithm, opts: pulumi.CustomResourceOptions): tls.PrivateKey {
    return new tls.PrivateKey(name, privateKeyArgs(algorithm), {
        ...opts,
        additionalSecretOutputs: ["privateKeyPem", "privateKeyOpenssh", "privateKeyPemPkcs8"],
        ignoreChanges: keyAlgorithmArgs,
    });
}
