// The toolchain's smoke program: one resource of each plugin (tls, random, command) through the real
// engine against one lab host. Config: host, hostKey, keyPath, message (changed by the test).
import * as fs from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";

const cfg = new pulumi.Config();
const connection = {
    host: cfg.require("host"),
    user: "kube",
    privateKey: pulumi.secret(fs.readFileSync(cfg.require("keyPath"), "utf8")),
    hostKey: cfg.require("hostKey"),
    dialErrorLimit: 3,
    perDialTimeout: 10,
};
const message = cfg.require("message");

const key = new tls.PrivateKey("key", { algorithm: "ED25519" });
const suffix = new random.RandomId("suffix", { byteLength: 4 });
const dir = pulumi.interpolate`/tmp/k8scp-tiny-${suffix.hex}`;

const written = new command.remote.Command("write", {
    connection,
    create: pulumi.interpolate`set -eu; mkdir -p ${dir}; cat > ${dir}/message; cat ${dir}/message`,
    delete: pulumi.interpolate`rm -rf ${dir}`,
    stdin: message,
    logging: "stdout",
});
const copied = new command.remote.CopyToRemote(
    "copy",
    {
        connection,
        source: key.publicKeyOpenssh.apply((k) => new pulumi.asset.StringAsset(k)),
        remotePath: pulumi.interpolate`${dir}/id.pub`,
    },
    { dependsOn: [written] },
);
const check = new command.remote.Command(
    "read-back",
    { connection, create: pulumi.interpolate`cat ${dir}/id.pub`, triggers: [copied.id] },
    { dependsOn: [copied] },
);

export const messageOnHost = written.stdout;
export const publicKeyOnHost = check.stdout;
export const publicKey = key.publicKeyOpenssh;
export const privateKey = key.privateKeyPem; // secret: the provider marks it
export const remoteDir = dir;
