// The host-side half of the library, for real and without Pulumi: the exact scripts, systemd units, flags,
// kubeconfigs and HAProxy config that components/lib renders (assembled as masterNode.ts,
// controlPlaneService.ts and apiServerLoadBalancer.ts assemble them; certificates from openssl instead of the
// TLS provider) run over SSH on the lab's systemd hosts (scripts/lab.sh) with the pinned etcd/Kubernetes
// binaries: create on 3 masters + the HAProxy VIP, checks of the running control plane (users, modes, VIP
// readiness, etcd mTLS, leader election and fail-over, controllers and scheduler at work), one rolling update,
// and delete leaving nothing behind. Needs root and the toolchain (skipped otherwise). Ends with the lab down.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Member, kubeconfigPath, paths, pkiFile, serviceNames } from "../../components/lib/flags";
import { renderKubeconfig } from "../../components/lib/kubeconfig";
import { identities } from "../../components/lib/pki";
import { renderHostPrepScript, sudoScript } from "../../components/lib/scripts";
import { OpensslPki } from "./hostside/pki";
import { Extra, ServiceDef, clusterPki, haproxyScript, masterCerts, masterServices, serviceScript } from "./hostside/specs";

const repo = path.resolve(__dirname, "..", "..");
const labScript = path.join(repo, "scripts", "lab.sh");
const labDir = path.join(process.env.K8SCP_CACHE ?? path.join(os.homedir(), ".cache", "pulumi-k8s-control-plane"), "lab");

function toolchainBin(): string | undefined {
    const r = childProcess.spawnSync("bash", ["-c", 'source scripts/env.sh >/dev/null && printf %s "$K8SCP_TOOLCHAIN_DIR"'], {
        cwd: repo,
        encoding: "utf8",
        timeout: 30_000,
    });
    return r.status === 0 && r.stdout ? path.join(r.stdout, "bin") : undefined;
}
const binDir = toolchainBin();
const binaries = ["etcd", "etcdctl", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"];

const skip =
    process.platform !== "linux"
        ? "Linux only"
        : process.getuid?.() !== 0
          ? "the lab needs root"
          : !binDir || !binaries.every((b) => fs.existsSync(path.join(binDir, b)))
            ? "toolchain binaries missing (npm run toolchain)"
            : false;

const SERVICES = [serviceNames.etcd, serviceNames.apiserver, serviceNames.controllerManager, serviceNames.scheduler];

interface Result {
    status: number | null;
    stdout: string;
    stderr: string;
}

/** Runs a command (never through a shell) with a timeout; stdin from `input`. */
function run(cmd: string, args: string[], o: { input?: string; timeoutMs?: number } = {}): Promise<Result> {
    return new Promise((resolve, reject) => {
        const p = childProcess.spawn(cmd, args, { cwd: repo, stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        const timer = setTimeout(() => {
            p.kill("SIGKILL");
            reject(new Error(`timed out after ${o.timeoutMs ?? 60_000} ms: ${cmd} ${args.join(" ").slice(0, 300)}\n${stdout}${stderr}`));
        }, o.timeoutMs ?? 60_000);
        p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        p.on("error", (e) => {
            clearTimeout(timer);
            reject(e);
        });
        p.on("close", (status) => {
            clearTimeout(timer);
            resolve({ status, stdout, stderr });
        });
        p.stdin.on("error", () => undefined);
        p.stdin.end(o.input ?? "");
    });
}

async function ok(cmd: string, args: string[], o: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    const r = await run(cmd, args, o);
    assert.equal(r.status, 0, `${cmd} ${args.join(" ").slice(0, 400)} exited ${r.status}:\n${r.stdout}${r.stderr}`);
    return r.stdout;
}

interface LabJson {
    nodes: { name: string; address: string; role: "master" | "lb" }[];
    sshUser: string;
    sshKeyPath: string;
    knownHostsFile: string;
    controllerNamespace: string;
}

let lab: LabJson;
const sshOpts = () => [
    "-F",
    "/dev/null",
    "-i",
    lab.sshKeyPath,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${lab.knownHostsFile}`,
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    "ConnectTimeout=5",
    "-o",
    "LogLevel=ERROR",
];
/** In the controller network namespace, where 10.213.0.0/24 is reachable. */
const inCtl = (cmd: string, args: string[], o: { input?: string; timeoutMs?: number } = {}) =>
    run("ip", ["netns", "exec", lab.controllerNamespace, cmd, ...args], o);
const ssh = (address: string, remote: string, o: { input?: string; timeoutMs?: number } = {}) =>
    inCtl("ssh", [...sshOpts(), `${lab.sshUser}@${address}`, remote], o);
async function sshOk(address: string, remote: string, o: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    const r = await ssh(address, remote, o);
    assert.equal(r.status, 0, `ssh ${address} ${remote.slice(0, 300)} exited ${r.status}:\n${r.stdout}${r.stderr}`);
    return r.stdout;
}

const t0 = Date.now();
async function step<T>(name: string, f: () => Promise<T>): Promise<T> {
    const s = Date.now();
    console.log(`[hostside] ${name} ...`);
    try {
        const v = await f();
        console.log(`[hostside] ${name}: ${((Date.now() - s) / 1000).toFixed(1)} s (total ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        return v;
    } catch (e) {
        console.log(`[hostside] ${name}: FAILED after ${((Date.now() - s) / 1000).toFixed(1)} s`);
        throw e;
    }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, timeoutMs: number, f: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
        try {
            const v = await f();
            if (v !== undefined) return v;
        } catch (e) {
            last = e;
        }
        if (Date.now() > deadline)
            throw new Error(`${what}: not reached within ${timeoutMs} ms${last ? `; last error: ${String(last)}` : ""}`);
        await sleep(1000);
    }
}

let tmp: string | undefined;
let labStarted = false;
after(async () => {
    if (labStarted) {
        const r = await run("bash", [labScript, "down"], { timeoutMs: 180_000 }).catch((e: Error) => ({
            status: -1,
            stdout: "",
            stderr: e.message,
        }));
        console.log(`[hostside] lab down: exit ${r.status}${r.status === 0 ? "" : `\n${r.stdout}${r.stderr}`}`);
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test(
    "the rendered scripts, units, flags, kubeconfigs and HAProxy config run a working HA control plane",
    { skip, timeout: 1_500_000 },
    async () => {
        await step("lab up 3", async () => {
            labStarted = true;
            await ok("bash", [labScript, "up", "3"], { timeoutMs: 900_000 });
        });
        lab = JSON.parse(fs.readFileSync(path.join(labDir, "lab.json"), "utf8")) as LabJson;
        const masters: Member[] = lab.nodes.filter((n) => n.role === "master").map((n) => ({ name: n.name, address: n.address }));
        const lb = lab.nodes.find((n) => n.role === "lb");
        assert.ok(lb && masters.length === 3, "lab.json: 3 masters and lb");
        const vip = lb.address;

        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-hostside-"));
        const settings = {
            members: masters,
            vip,
            serviceCidr: "10.68.0.0/16",
            clusterCidr: "172.20.0.0/16",
            nodeCidrMaskSize: 24,
            clusterDomain: "cluster.local",
            clusterName: "k8scp-lab",
        };
        const pki = new OpensslPki(path.join(tmp, "pki"));
        const shaCache = new Map<string, string>();
        const sha = (b: string) => {
            let h = shaCache.get(b);
            if (!h)
                shaCache.set(
                    b,
                    (h = crypto
                        .createHash("sha256")
                        .update(fs.readFileSync(path.join(binDir!, b)))
                        .digest("hex")),
                );
            return h;
        };
        const { cluster, perNode, adminKubeconfig } = await step("certificates (openssl)", async () => {
            const cluster = clusterPki(pki);
            const perNode = masters.map((m) => {
                const certs = masterCerts(pki, cluster, settings, m);
                return { m, certs, ...masterServices(certs, cluster, settings, m) };
            });
            const admin = pki.leaf(cluster.kubernetesCA, { ...identities.admin });
            const adminKubeconfig = path.join(tmp!, "admin.kubeconfig");
            fs.writeFileSync(
                adminKubeconfig,
                renderKubeconfig({
                    clusterName: settings.clusterName,
                    server: `https://${vip}:6443`,
                    caCertPem: cluster.kubernetesCA.certPem,
                    userName: "admin",
                    clientCertPem: admin.certPem,
                    clientKeyPem: admin.privateKeyPem,
                }),
                { mode: 0o600 },
            );
            for (const b of binaries) sha(b);
            return { cluster, perNode, adminKubeconfig };
        });

        /** Runs the service's rendered script as the library does: `sudo -n bash -s -- <action>`, script on stdin. */
        const apply = async (m: Member, d: ServiceDef, action: "create" | "update" | "delete") => {
            const { script } = serviceScript(d, sha);
            const r = await ssh(m.address, sudoScript(action), { input: script, timeoutMs: 300_000 });
            if (r.status !== 0) {
                const j = await ssh(m.address, `sudo -n journalctl -u ${d.service}.service -n 60 --no-pager -o cat`, { timeoutMs: 30_000 });
                assert.fail(`${d.service} ${action} on ${m.name} exited ${r.status}:\n${r.stdout}${r.stderr}\njournal:\n${j.stdout}`);
            }
            assert.ok(!r.stdout.includes("PRIVATE KEY") && !r.stderr.includes("PRIVATE KEY"), "script output must not contain keys");
            return r;
        };
        const kubectl = (args: string[], timeoutMs = 30_000) =>
            inCtl(path.join(binDir!, "kubectl"), ["--kubeconfig", adminKubeconfig, "--request-timeout=10s", ...args], { timeoutMs });
        const kubectlOk = async (args: string[], timeoutMs = 30_000) => {
            const r = await kubectl(args, timeoutMs);
            assert.equal(r.status, 0, `kubectl ${args.join(" ")} exited ${r.status}:\n${r.stdout}${r.stderr}`);
            return r.stdout;
        };
        const etcdPki = (f: string) => pkiFile(serviceNames.etcd, f);
        const etcdctl = (m: Member, args: string, withCert = true) =>
            ssh(
                m.address,
                `sudo -n ETCDCTL_API=3 ${paths.bin}/etcdctl --endpoints=https://${m.address}:2379 --cacert=${etcdPki("etcd-ca.pem")} ` +
                    (withCert ? `--cert=${etcdPki("etcd-server.pem")} --key=${etcdPki("etcd-server-key.pem")} ` : "") +
                    `--command-timeout=5s --dial-timeout=3s ${args}`,
                { timeoutMs: 30_000 },
            );

        // 1. Create.
        await step("host prep + binaries to staging (all nodes in parallel)", async () => {
            await Promise.all(
                masters.map(async (m) => {
                    await sshOk(m.address, "bash -s", { input: renderHostPrepScript(lab.sshUser), timeoutMs: 30_000 });
                    const files = ["etcd", "etcdctl", "kube-apiserver", "kube-controller-manager", "kube-scheduler"].map((b) =>
                        path.join(binDir!, b),
                    );
                    await ok(
                        "ip",
                        [
                            "netns",
                            "exec",
                            lab.controllerNamespace,
                            "scp",
                            "-q",
                            ...sshOpts(),
                            ...files,
                            `${lab.sshUser}@${m.address}:${paths.staging}/`,
                        ],
                        {
                            timeoutMs: 300_000,
                        },
                    );
                }),
            );
        });
        await step("etcd create on all masters concurrently (bootstrapWithoutWait)", async () => {
            await Promise.all(perNode.map((n) => apply(n.m, n.etcd, "create")));
        });
        await step("etcd cluster healthy (etcdctl endpoint health --cluster over TLS)", async () => {
            await until("etcd endpoint health --cluster", 120_000, async () => {
                const r = await etcdctl(masters[0], "endpoint health --cluster");
                return r.status === 0 && (r.stdout.match(/is healthy/g) ?? []).length === 3 ? true : undefined;
            });
        });
        for (const [svcKey, label] of [
            ["apiserver", "kube-apiserver"],
            ["controllerManager", "kube-controller-manager"],
            ["scheduler", "kube-scheduler"],
        ] as const) {
            for (const n of perNode) {
                await step(`${label} create on ${n.m.name} (waits for health)`, async () => {
                    await apply(n.m, n[svcKey], "create");
                });
            }
        }
        await step("HAProxy create on lb", async () => {
            const r = await ssh(vip, sudoScript("create"), { input: haproxyScript(masters), timeoutMs: 120_000 });
            assert.equal(r.status, 0, `k8scp-haproxy create exited ${r.status}:\n${r.stdout}${r.stderr}`);
        });

        // 2. Checks.
        await step("services active, own users, file modes", async () => {
            assert.equal((await sshOk(vip, "systemctl is-active k8scp-haproxy.service")).trim(), "active", "k8scp-haproxy on lb");
            for (const m of masters) {
                for (const s of SERVICES) {
                    assert.equal((await sshOk(m.address, `systemctl is-active ${s}.service`)).trim(), "active", `${s} on ${m.name}`);
                    const users = (await sshOk(m.address, `ps -o user= -C ${s}`)).trim().split(/\s+/);
                    assert.deepEqual([...new Set(users)], [s], `${s} on ${m.name} runs as ${users.join(",")}`);
                }
                const secret = [
                    etcdPki("etcd-server-key.pem"),
                    etcdPki("etcd-peer-key.pem"),
                    pkiFile(serviceNames.apiserver, "apiserver-key.pem"),
                    pkiFile(serviceNames.apiserver, "apiserver-etcd-client-key.pem"),
                    pkiFile(serviceNames.apiserver, "sa.key"),
                    pkiFile(serviceNames.controllerManager, "ca-key.pem"),
                    pkiFile(serviceNames.controllerManager, "sa.key"),
                    kubeconfigPath(serviceNames.controllerManager),
                    kubeconfigPath(serviceNames.scheduler),
                ];
                const out = (await sshOk(m.address, `sudo -n stat -c '%n %a %U %G' ${secret.join(" ")}`)).trim().split("\n");
                for (const line of out) {
                    const [f, mode, u, g] = line.split(" ");
                    const owner = f.split("/")[3];
                    assert.deepEqual([mode, u, g], ["600", owner, owner], `${m.name}: ${line}`);
                }
                const dirs = (
                    await sshOk(
                        m.address,
                        `sudo -n stat -c '%n %a %U' ${SERVICES.map((s) => `/etc/kubernetes/${s}`).join(" ")} ${paths.etcdData}`,
                    )
                )
                    .trim()
                    .split("\n");
                for (const line of dirs) assert.match(line, /^\/\S+ 700 (etcd|kube-\S+)$/, `${m.name}: ${line}`);
            }
        });
        await step("kubectl get --raw=/readyz via the VIP", async () => {
            const out = await until("readyz via VIP", 30_000, async () => {
                const r = await kubectl(["get", "--raw=/readyz"]);
                return r.status === 0 ? r.stdout : undefined;
            });
            assert.equal(out.trim(), "ok");
        });
        await step("etcd: healthy with client certs, refused without", async () => {
            const r = await etcdctl(masters[0], "endpoint health --cluster");
            assert.equal(r.status, 0, r.stdout + r.stderr);
            assert.equal((r.stdout.match(/is healthy/g) ?? []).length, 3, r.stdout);
            const noCert = await etcdctl(masters[0], "get /registry --prefix --keys-only --limit=1", false);
            assert.notEqual(noCert.status, 0, `etcd answered a request without a client certificate:\n${noCert.stdout}`);
            const curl = await ssh(
                masters[1].address,
                `sudo -n curl -sS --max-time 5 --cacert ${etcdPki("etcd-ca.pem")} https://${masters[1].address}:2379/health`,
            );
            assert.notEqual(curl.status, 0, `etcd /health answered without a client certificate: ${curl.stdout}`);
            // Refused by TLS (the server demands a client certificate), not unreachable: with TLS 1.3 the server
            // aborts after the handshake, which curl reports either as the alert or, when the close wins the
            // race, as errno 107/reset on the established connection; never as connection refused or timeout.
            assert.match(curl.stderr, /certificate required|alert|handshake|errno 107|reset by peer/i, curl.stderr);
            assert.doesNotMatch(curl.stderr, /Connection refused|timed out|No route/i, curl.stderr);
            const withCert = await ssh(
                masters[1].address,
                `sudo -n curl -sS --max-time 5 --cacert ${etcdPki("etcd-ca.pem")} --cert ${etcdPki("etcd-server.pem")} --key ${etcdPki("etcd-server-key.pem")} https://${masters[1].address}:2379/health`,
            );
            assert.equal(withCert.status, 0, withCert.stderr);
            console.log(`[hostside] etcd without client cert: ${curl.stderr.trim()}; with: ${withCert.stdout.trim()}`);
        });
        const holder = async (lease: string) => {
            const r = await kubectl(["-n", "kube-system", "get", "lease", lease, "-o", "jsonpath={.spec.holderIdentity}"]);
            const id = r.status === 0 ? r.stdout.trim() : "";
            return masters.find((m) => id.startsWith(`${m.name}_`));
        };
        const leaders = await step("leases kube-scheduler and kube-controller-manager held by a master", async () => {
            const sched = await until("kube-scheduler lease", 60_000, () => holder("kube-scheduler"));
            const cm = await until("kube-controller-manager lease", 60_000, () => holder("kube-controller-manager"));
            console.log(`[hostside] leaders: kube-scheduler ${sched.name}, kube-controller-manager ${cm.name}`);
            return { sched, cm };
        });
        await step(`scheduler fail-over (stop kube-scheduler on ${leaders.sched.name})`, async () => {
            await sshOk(leaders.sched.address, "sudo -n systemctl stop kube-scheduler.service");
            const s = Date.now();
            const next = await until("another scheduler leader", 60_000, async () => {
                const h = await holder("kube-scheduler");
                return h && h.name !== leaders.sched.name ? h : undefined;
            });
            console.log(
                `[hostside] kube-scheduler lease moved ${leaders.sched.name} -> ${next.name} in ${((Date.now() - s) / 1000).toFixed(1)} s`,
            );
            await sshOk(leaders.sched.address, "sudo -n systemctl start kube-scheduler.service");
            assert.equal((await sshOk(leaders.sched.address, "systemctl is-active kube-scheduler.service")).trim(), "active");
        });
        await step("nginx Deployment via the VIP: ReplicaSet, Pods, FailedScheduling", async () => {
            await kubectlOk(["create", "deployment", "nginx", "--image=nginx", "--replicas=2"]);
            await until("ReplicaSet", 60_000, async () => {
                const r = await kubectl(["get", "rs", "-l", "app=nginx", "-o", "name"]);
                return r.status === 0 && r.stdout.includes("replicaset.apps/nginx-") ? true : undefined;
            });
            const pods = await until("2 Pods", 60_000, async () => {
                const r = await kubectl(["get", "pods", "-l", "app=nginx", "-o", "name"]);
                const n = r.stdout.trim().split("\n").filter(Boolean);
                return r.status === 0 && n.length === 2 ? n : undefined;
            });
            console.log(`[hostside] pods: ${pods.join(" ")}`);
            const ev = await until("FailedScheduling event", 60_000, async () => {
                const r = await kubectl([
                    "get",
                    "events",
                    "--field-selector",
                    "reason=FailedScheduling",
                    "-o",
                    "jsonpath={.items[*].message}",
                ]);
                return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
            });
            console.log(`[hostside] FailedScheduling: ${ev.slice(0, 200)}`);
        });
        await step("etcdctl get /registry on n1 lists nginx keys", async () => {
            const r = await etcdctl(masters[0], "get /registry --prefix --keys-only");
            assert.equal(r.status, 0, r.stderr);
            const keys = r.stdout.split("\n").filter((k) => k.includes("nginx"));
            assert.ok(keys.length > 0, "no nginx keys in etcd");
            console.log(`[hostside] etcd nginx keys: ${keys.join(" ")}`);
        });

        // 3. Rolling update of the scheduler with a changed flag.
        await step("kube-scheduler update node by node with --v=3", async () => {
            const activeEnter = async (m: Member) =>
                (await sshOk(m.address, "systemctl show --timestamp=us+utc --value -p ActiveEnterTimestamp kube-scheduler.service")).trim();
            const before = await Promise.all(masters.map(activeEnter));
            const extra: Extra = { scheduler: { v: "3" } };
            const afterTs: string[] = [];
            for (const m of masters) {
                const n = perNode.find((x) => x.m.name === m.name)!;
                const d = masterServices(n.certs, cluster, settings, m, extra).scheduler;
                assert.ok(d.args.includes("--v=3"));
                await apply(m, d, "update");
                afterTs.push(await activeEnter(m));
                const unit = await sshOk(m.address, "cat /etc/systemd/system/kube-scheduler.service");
                assert.match(unit, /--v=3/);
            }
            console.log(`[hostside] scheduler ActiveEnterTimestamp before ${before.join(" | ")}; after ${afterTs.join(" | ")}`);
            for (let i = 0; i < masters.length; i++) assert.notEqual(afterTs[i], before[i], `${masters[i].name} scheduler not restarted`);
            for (let i = 1; i < masters.length; i++)
                assert.ok(afterTs[i - 1] < afterTs[i], `restart order: ${afterTs[i - 1]} !< ${afterTs[i]}`);
            for (const m of masters) assert.equal((await sshOk(m.address, "systemctl is-active kube-scheduler.service")).trim(), "active");
        });

        // 4. Delete.
        await step("delete everything", async () => {
            const r = await ssh(vip, sudoScript("delete"), { input: haproxyScript(masters), timeoutMs: 60_000 });
            assert.equal(r.status, 0, r.stdout + r.stderr);
            for (const key of ["scheduler", "controllerManager", "apiserver", "etcd"] as const) {
                await Promise.all(perNode.map((n) => apply(n.m, n[key], "delete")));
            }
        });
        await step("nothing of ours left", async () => {
            for (const m of masters) {
                for (const s of SERVICES) {
                    const r = await ssh(
                        m.address,
                        `test ! -e /etc/systemd/system/${s}.service && test ! -e /etc/kubernetes/${s} && ! id -u ${s} >/dev/null 2>&1 && ! pgrep -x ${s.slice(0, 15)} >/dev/null && test ! -e ${paths.bin}/${s} && test ! -e ${paths.staging}/${s}`,
                    );
                    assert.equal(r.status, 0, `${s} left on ${m.name}: ${r.stdout}${r.stderr}`);
                }
                const r = await ssh(
                    m.address,
                    `test ! -e ${paths.etcdData} && test ! -e ${paths.bin}/etcdctl && test ! -e /var/log/kubernetes/kube-apiserver`,
                );
                assert.equal(r.status, 0, `etcd data, etcdctl or audit log dir left on ${m.name}`);
            }
            const r = await ssh(
                vip,
                "test ! -e /etc/systemd/system/k8scp-haproxy.service && test ! -e /etc/kubernetes/k8scp-haproxy && ! pgrep -x haproxy >/dev/null",
            );
            assert.equal(r.status, 0, "HAProxy unit, config or process left on lb");
        });
    },
);
