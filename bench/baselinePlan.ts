// The plan the runbook baseline (bench/runbook-baseline.sh) follows: which certificates to make, which files go
// where on each master, each unit and health check. Rendered from the library's pure renderers so the baseline
// runs the same flags, paths and health endpoints as the library; everything else (openssl, kubeconfigs,
// scp, ssh, systemctl) is the plain bash script's own work.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { Member, paths } from "../components/render/flags";
import { renderHaproxyConfig } from "../components/render/haproxy";
import { apiserverSans, etcdMemberSans, identities } from "../components/render/pki";
import { etcdInitialClusterEnv, initialCluster } from "../components/render/etcd";
import { renderEncryptionConfig } from "../components/render/policy";
import { healthCommand } from "../components/render/scripts";
import { masterServiceSpecs, renderServiceUnit, haproxyConfigPath } from "../components/render/services";
import { renderUnit } from "../components/render/systemd";
import { toolchainPins } from "../test/lib/lab";

const cfg = {
    kubernetesVersion: toolchainPins().kubernetes,
    serviceCidr: "10.68.0.0/16",
    clusterCidr: "172.20.0.0/16",
    nodeCidrMaskSize: 24,
    clusterDomain: "cluster.local",
    clusterName: "kubernetes",
};

/** Writes the plan under `dir`: masters, certs.tsv, per-master files/units/health, the LB's config and unit. */
export function writeBaselinePlan(dir: string, masters: Member[], vip: string): void {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(path.join(dir, "literal"), { recursive: true });
    fs.writeFileSync(path.join(dir, "masters"), masters.map((m) => `${m.name} ${m.address}\n`).join(""));
    // name  CN  O  usage  dns,..  ip,..   (one CA, the runbooks' way; "-" for empty)
    const certs: string[][] = [];
    const c = (name: string, cn: string, o: string, usage: string, dns: string[] = [], ip: string[] = []) =>
        certs.push([name, cn, o || "-", usage, dns.join(",") || "-", ip.join(",") || "-"]);
    // The runbooks' admin is in system:masters (the library binds its own admin's group by RBAC instead).
    c("admin", identities.admin.commonName, identities.superAdmin.organization, "client");
    for (const m of masters) {
        const s = etcdMemberSans(m);
        c(`${m.name}-etcd-server`, m.name, "", "both", s.dnsNames, s.ipAddresses);
        c(`${m.name}-etcd-peer`, m.name, "", "both", s.dnsNames, s.ipAddresses);
        c(`${m.name}-apiserver-etcd-client`, identities.apiserverEtcdClient.commonName, "", "client");
        const a = apiserverSans({
            vip,
            masterAddresses: masters.map((x) => x.address),
            masterNames: masters.map((x) => x.name),
            serviceCidr: cfg.serviceCidr,
            clusterDomain: cfg.clusterDomain,
        });
        c(`${m.name}-apiserver`, "kube-apiserver", "", "server", a.dnsNames, a.ipAddresses);
        c(
            `${m.name}-apiserver-kubelet-client`,
            identities.apiserverKubeletClient.commonName,
            identities.apiserverKubeletClient.organization,
            "client",
        );
        c(`${m.name}-front-proxy-client`, identities.frontProxyClient.commonName, "", "client");
        c(`${m.name}-controller-manager`, identities.controllerManager.commonName, identities.controllerManager.organization, "client");
        c(`${m.name}-scheduler`, identities.scheduler.commonName, identities.scheduler.organization, "client");
    }
    fs.writeFileSync(path.join(dir, "certs.tsv"), certs.map((r) => r.join("\t") + "\n").join(""));
    let literal = 0;
    // Secrets encryption as the runbooks set it up: one random key, the same file on every master.
    const encryptionConfig = renderEncryptionConfig(randomBytes(32).toString("base64"));
    for (const m of masters) {
        const pem = (id: string) => ({ certPem: `@${m.name}-${id}.pem`, privateKeyPem: `@${m.name}-${id}-key.pem` });
        const specs = masterServiceSpecs<string>({
            self: m,
            members: masters,
            ...cfg,
            pem: {
                etcdCA: "@ca.pem",
                kubernetesCA: { certPem: "@ca.pem", privateKeyPem: "@ca-key.pem" },
                frontProxyCA: "@ca.pem",
                serviceAccount: { publicKeyPem: "@sa.pub", privateKeyPem: "@sa.key" },
                encryptionConfig,
                etcdServer: pem("etcd-server"),
                etcdPeer: pem("etcd-peer"),
                etcdClient: pem("apiserver-etcd-client"),
                apiserver: pem("apiserver"),
                kubeletClient: pem("apiserver-kubelet-client"),
                frontProxyClient: pem("front-proxy-client"),
            },
            kubeconfigs: { controllerManager: `@${m.name}-controller-manager.kubeconfig`, scheduler: `@${m.name}-scheduler.kubeconfig` },
        });
        const md = path.join(dir, m.name);
        fs.mkdirSync(path.join(md, "units"), { recursive: true });
        const files: string[] = [];
        const services: string[] = [];
        // The runbooks give etcd its initial cluster as flags; the library's unit reads it from the file its join step
        // writes, so the baseline writes that file with the same content.
        const etcdFiles = [
            ...specs.etcd.files,
            {
                path: etcdInitialClusterEnv,
                content: `ETCD_INITIAL_CLUSTER=${initialCluster(masters)}\nETCD_INITIAL_CLUSTER_STATE=new\n`,
                mode: "0644",
            },
        ];
        for (const s of [{ ...specs.etcd, files: etcdFiles }, specs.apiserver, specs.controllerManager, specs.scheduler]) {
            for (const f of s.files) {
                let src = String(f.content);
                if (src.startsWith("@")) src = src.slice(1);
                else {
                    const name = `literal/${literal++}`;
                    fs.writeFileSync(path.join(dir, name), src);
                    src = name;
                }
                files.push([s.service, f.path, f.mode, src].join("\t"));
            }
            for (const d of s.dataDirs ?? []) files.push([s.service, d, "dir", "-"].join("\t"));
            fs.writeFileSync(
                path.join(md, "units", `${s.service}.service`),
                renderServiceUnit({
                    description: s.description,
                    binary: s.binaries[0],
                    args: s.args,
                    user: s.service,
                    unitType: s.unitType,
                    after: s.after,
                    // As ControlPlaneService renders it: the sandbox's writable data directories, etcd's cluster file.
                    writablePaths: s.dataDirs,
                    environmentFile: s.environmentFile,
                }),
            );
            services.push([s.service, healthCommand(s.health)].join("\t"));
        }
        fs.writeFileSync(path.join(md, "files.tsv"), files.join("\n") + "\n");
        fs.writeFileSync(path.join(md, "services.tsv"), services.join("\n") + "\n");
    }
    fs.mkdirSync(path.join(dir, "lb"), { recursive: true });
    fs.writeFileSync(path.join(dir, "lb", "haproxy.cfg"), renderHaproxyConfig({ port: 6443, backends: masters }));
    fs.writeFileSync(
        path.join(dir, "lb", "k8scp-haproxy.service"),
        renderUnit({
            description: "HAProxy load balancer for kube-apiserver (runbook baseline)",
            exec: "/usr/sbin/haproxy",
            args: ["-Ws", "-f", haproxyConfigPath],
            type: "notify",
            serviceExtra: { ExecReload: "/bin/kill -USR2 $MAINPID", KillMode: "mixed" },
        }),
    );
    fs.writeFileSync(path.join(dir, "vip"), `${vip}\n`);
    fs.writeFileSync(path.join(dir, "bin-dir"), `${paths.bin}\n`);
}
