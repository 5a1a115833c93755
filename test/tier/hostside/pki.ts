// Certificates for the host-side tier test, made with openssl the way components/privateCA.ts and
// components/clientCert.ts make them with the Pulumi TLS provider by default: ECDSA P-256 (SEC 1 "EC PRIVATE KEY"
// PEMs, as the provider writes them), CAs with cert_signing/crl_signing/digital_signature/key_encipherment, leaves with
// digital_signature/key_encipherment plus the extended usages of lib/pki.ts usages().
import * as childProcess from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export interface KeyPair {
    certPem: string;
    privateKeyPem: string;
}

export interface LeafSpec {
    commonName: string;
    organization?: string;
    dnsNames?: string[];
    ipAddresses?: string[];
    usage?: "client" | "server" | "both";
}

function openssl(dir: string, args: string[]): void {
    const r = childProcess.spawnSync("openssl", args, { cwd: dir, encoding: "utf8", timeout: 30_000 });
    if (r.error || r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.error?.message ?? ""}${r.stderr}`);
}

const subject = (cn: string, o?: string) => `${o ? `/O=${o.replace(/\//g, "\\/")}` : ""}/CN=${cn.replace(/\//g, "\\/")}`;

export class OpensslPki {
    private n = 0;
    constructor(private readonly dir: string) {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    }

    private key(id: string): string {
        const f = path.join(this.dir, `${id}-key.pem`);
        openssl(this.dir, ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f]);
        return f;
    }

    ca(commonName: string): KeyPair {
        const id = `ca${this.n++}`;
        const key = this.key(id);
        const ext = path.join(this.dir, `${id}.ext`);
        fs.writeFileSync(
            ext,
            [
                "[req]",
                "distinguished_name=dn",
                "[dn]",
                "[v3]",
                "basicConstraints=critical,CA:TRUE",
                "keyUsage=critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment",
                "subjectKeyIdentifier=hash",
                "",
            ].join("\n"),
        );
        const crt = path.join(this.dir, `${id}.pem`);
        openssl(this.dir, [
            "req",
            "-x509",
            "-new",
            "-key",
            key,
            "-subj",
            subject(commonName),
            "-days",
            "3650",
            "-config",
            ext,
            "-extensions",
            "v3",
            "-out",
            crt,
        ]);
        return { certPem: fs.readFileSync(crt, "utf8"), privateKeyPem: fs.readFileSync(key, "utf8") };
    }

    leaf(ca: KeyPair, s: LeafSpec): KeyPair {
        const id = `leaf${this.n++}`;
        const key = this.key(id);
        const caCrt = path.join(this.dir, `${id}-ca.pem`);
        const caKey = path.join(this.dir, `${id}-ca-key.pem`);
        fs.writeFileSync(caCrt, ca.certPem);
        fs.writeFileSync(caKey, ca.privateKeyPem, { mode: 0o600 });
        const csr = path.join(this.dir, `${id}.csr`);
        openssl(this.dir, ["req", "-new", "-key", key, "-subj", subject(s.commonName, s.organization || undefined), "-out", csr]);
        const usage = s.usage ?? "client";
        const eku = usage === "client" ? "clientAuth" : usage === "server" ? "serverAuth" : "serverAuth,clientAuth";
        const sans = [...(s.dnsNames ?? []).map((d) => `DNS:${d}`), ...(s.ipAddresses ?? []).map((i) => `IP:${i}`)];
        const ext = path.join(this.dir, `${id}.ext`);
        fs.writeFileSync(
            ext,
            [
                "basicConstraints=critical,CA:FALSE",
                "keyUsage=critical,digitalSignature,keyEncipherment",
                `extendedKeyUsage=${eku}`,
                "authorityKeyIdentifier=keyid",
                ...(sans.length ? [`subjectAltName=${sans.join(",")}`] : []),
                "",
            ].join("\n"),
        );
        const crt = path.join(this.dir, `${id}.pem`);
        openssl(this.dir, [
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            caCrt,
            "-CAkey",
            caKey,
            "-CAcreateserial",
            "-days",
            "365",
            "-extfile",
            ext,
            "-out",
            crt,
        ]);
        return { certPem: fs.readFileSync(crt, "utf8"), privateKeyPem: fs.readFileSync(key, "utf8") };
    }

    /** The service-account signing key pair: private key PEM and PKIX public key PEM. */
    serviceAccount(): { privateKeyPem: string; publicKeyPem: string } {
        const key = this.key("sa");
        const pub = path.join(this.dir, "sa.pub");
        openssl(this.dir, ["ec", "-in", key, "-pubout", "-out", pub]);
        return { privateKeyPem: fs.readFileSync(key, "utf8"), publicKeyPem: fs.readFileSync(pub, "utf8") };
    }
}
