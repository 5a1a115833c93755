// The runbooks' proofs of a running control plane, shared by the host-side test (scripts without Pulumi) and the
// end-to-end test (through the Pulumi CLI): services and their users, file modes, etcd over mutual TLS, the API
// via the VIP, one leader per component and its fail-over, work flowing through controllers and scheduler.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Member, kubeconfigPath, paths, pkiFile, serviceNames } from "../../components/render/flags";
import { parseKubeconfig } from "../../components/render/kubeconfig";
import { Lab, Result, until } from "./lab";

/** The services of a master, in start order. */
export const SERVICES = Object.values(serviceNames);
const etcdPki = (f: string) => pkiFile(serviceNames.etcd, f);

/** Key files and kubeconfigs with keys: 0600, owned by the service user. */
export const SECRET_FILES = [
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

export class Cluster {
    constructor(
        readonly lab: Lab,
        readonly masters: Member[],
        readonly binDir: string,
        readonly adminKubeconfig: string,
        readonly log: (s: string) => void,
    ) {}

    kubectl(args: string[], o: { timeoutMs?: number; kubeconfig?: string } = {}): Promise<Result> {
        return this.lab.inCtl(
            path.join(this.binDir, "kubectl"),
            ["--kubeconfig", o.kubeconfig ?? this.adminKubeconfig, "--request-timeout=10s", ...args],
            { timeoutMs: o.timeoutMs ?? 30_000 },
        );
    }

    async kubectlOk(args: string[], o: { timeoutMs?: number; kubeconfig?: string } = {}): Promise<string> {
        const r = await this.kubectl(args, o);
        assert.equal(r.status, 0, `kubectl ${args.join(" ")} exited ${r.status}:\n${r.stdout}${r.stderr}`);
        return r.stdout;
    }

    /** etcdctl on a master against its own member, with the member's client certificate unless `withCert` is false. */
    etcdctl(m: Member, args: string, withCert = true): Promise<Result> {
        return this.lab.ssh(
            m.address,
            `sudo -n ETCDCTL_API=3 ${paths.bin}/etcdctl --endpoints=https://${m.address}:2379 --cacert=${etcdPki("etcd-ca.pem")} ` +
                (withCert ? `--cert=${etcdPki("etcd-server.pem")} --key=${etcdPki("etcd-server-key.pem")} ` : "") +
                `--command-timeout=5s --dial-timeout=3s ${args}`,
            { timeoutMs: 30_000 },
        );
    }

    /** Every service active on every master, running as its own user; keys and kubeconfigs 0600; service dirs 0700. */
    async servicesActiveAsOwnUsers(): Promise<void> {
        for (const m of this.masters) {
            for (const s of SERVICES) {
                assert.equal((await this.lab.sshOk(m.address, `systemctl is-active ${s}.service`)).trim(), "active", `${s} on ${m.name}`);
                const users = (await this.lab.sshOk(m.address, `ps -o user= -C ${s}`)).trim().split(/\s+/);
                assert.deepEqual([...new Set(users)], [s], `${s} on ${m.name} runs as ${users.join(",")}`);
            }
            const out = (await this.lab.sshOk(m.address, `sudo -n stat -c '%n %a %U %G' ${SECRET_FILES.join(" ")}`)).trim().split("\n");
            assert.equal(out.length, SECRET_FILES.length);
            for (const line of out) {
                const [f, mode, u, g] = line.split(" ");
                const owner = f.split("/")[3];
                assert.deepEqual([mode, u, g], ["600", owner, owner], `${m.name}: ${line}`);
            }
            const dirs = (
                await this.lab.sshOk(
                    m.address,
                    `sudo -n stat -c '%n %a %U' ${SERVICES.map((s) => `/etc/kubernetes/${s}`).join(" ")} ${paths.etcdData}`,
                )
            )
                .trim()
                .split("\n");
            for (const line of dirs) assert.match(line, /^\/\S+ 700 (etcd|kube-\S+)$/, `${m.name}: ${line}`);
        }
    }

    /** The HTTP status of an anonymous (no client certificate) GET of `urlPath` via the VIP. */
    async anonymousStatus(caFile: string, urlPath: string): Promise<string> {
        const args = [
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
            "--cacert",
            caFile,
            `https://${this.lab.vip}:6443${urlPath}`,
        ];
        return (await this.lab.inCtl("curl", args)).stdout.trim();
    }

    /** `kubectl get --raw=PATH` via the VIP answers `ok` (waits up to `timeoutMs` for it). */
    async rawOk(rawPath: string, timeoutMs = 30_000): Promise<void> {
        const out = await until(`${rawPath} via the VIP`, timeoutMs, async () => {
            const r = await this.kubectl(["get", `--raw=${rawPath}`]);
            return r.status === 0 ? r.stdout : undefined;
        });
        assert.equal(out.trim(), "ok");
    }

    /** The member set answers `endpoint health --cluster` with a client certificate and refuses a client without one. */
    async etcdMutualTls(expectHealthy = this.masters.length): Promise<void> {
        const r = await this.etcdctl(this.masters[0], "endpoint health --cluster");
        assert.equal(r.status, 0, r.stdout + r.stderr);
        assert.equal((r.stdout.match(/is healthy/g) ?? []).length, expectHealthy, r.stdout);
        const noCert = await this.etcdctl(this.masters[0], "get /registry --prefix --keys-only --limit=1", false);
        assert.notEqual(noCert.status, 0, `etcd answered a request without a client certificate:\n${noCert.stdout}`);
        const m = this.masters[1] ?? this.masters[0];
        const curl = await this.lab.ssh(
            m.address,
            `sudo -n curl -sS --max-time 5 --cacert ${etcdPki("etcd-ca.pem")} https://${m.address}:2379/health`,
        );
        assert.notEqual(curl.status, 0, `etcd /health answered without a client certificate: ${curl.stdout}`);
        // Refused by TLS (the server demands a client certificate), not unreachable: with TLS 1.3 the server aborts
        // after the handshake, which curl reports either as the alert or, when the close wins the race, as errno
        // 107/reset on the established connection; never as connection refused or timeout.
        assert.match(curl.stderr, /certificate required|alert|handshake|errno 107|reset by peer/i, curl.stderr);
        assert.doesNotMatch(curl.stderr, /Connection refused|timed out|No route/i, curl.stderr);
        const plain = await this.lab.ssh(m.address, `curl -sS --max-time 5 http://${m.address}:2379/health`);
        assert.notEqual(plain.status, 0, `etcd answered plain http: ${plain.stdout}`);
        const withCert = await this.lab.ssh(
            m.address,
            `sudo -n curl -sS --max-time 5 --cacert ${etcdPki("etcd-ca.pem")} --cert ${etcdPki("etcd-server.pem")} --key ${etcdPki("etcd-server-key.pem")} https://${m.address}:2379/health`,
        );
        assert.equal(withCert.status, 0, withCert.stderr);
        this.log(
            `etcd without client cert: ${curl.stderr.trim()}; plain http: ${plain.stderr.trim()}; with cert: ${withCert.stdout.trim()}`,
        );
    }

    /** The master holding a Lease (kube-system/<lease>), if any. */
    async holder(lease: string): Promise<Member | undefined> {
        const r = await this.kubectl(["-n", "kube-system", "get", "lease", lease, "-o", "jsonpath={.spec.holderIdentity}"]);
        const id = r.status === 0 ? r.stdout.trim() : "";
        return this.masters.find((m) => id.startsWith(`${m.name}_`));
    }

    async leaders(): Promise<{ scheduler: Member; controllerManager: Member }> {
        const scheduler = await until("kube-scheduler lease", 60_000, () => this.holder("kube-scheduler"));
        const controllerManager = await until("kube-controller-manager lease", 60_000, () => this.holder("kube-controller-manager"));
        this.log(`leaders: kube-scheduler ${scheduler.name}, kube-controller-manager ${controllerManager.name}`);
        return { scheduler, controllerManager };
    }

    /**
     * Stops `service` on the lease holder and waits for another master to hold the lease; returns the new holder
     * and the takeover time in seconds: from the moment the old leader had stopped to the Lease's own
     * `spec.acquireTime` of the new holder (the lab hosts share this machine's clock), so the time the test takes to
     * notice does not count. Fails when it exceeds `boundMs`. The stopped service is left stopped.
     */
    async failover(lease: string, service: string, from: Member, boundMs: number): Promise<{ next: Member; seconds: number }> {
        await this.lab.sshOk(from.address, `sudo -n systemctl stop ${service}.service`);
        const stopped = Date.now();
        const next = await until(
            `another ${lease} leader after stopping ${from.name}`,
            boundMs + 15_000,
            async () => {
                const h = await this.holder(lease);
                return h && h.name !== from.name ? h : undefined;
            },
            200,
        );
        const noticed = (Date.now() - stopped) / 1000;
        const acquired = await this.kubectlOk(["-n", "kube-system", "get", "lease", lease, "-o", "jsonpath={.spec.acquireTime}"]);
        const seconds = (Date.parse(acquired.trim()) - stopped) / 1000;
        assert.ok(Number.isFinite(seconds), `${lease}: unreadable acquireTime '${acquired}'`);
        this.log(
            `${lease} lease moved ${from.name} -> ${next.name}: acquired ${seconds.toFixed(1)} s after the stop (seen after ${noticed.toFixed(1)} s)`,
        );
        assert.ok(
            seconds * 1000 <= boundMs,
            `${lease}: takeover took ${seconds.toFixed(1)} s, more than the lease bounds allow (${boundMs / 1000} s)`,
        );
        return { next, seconds };
    }

    /** An nginx Deployment: its ReplicaSet and Pods appear, the scheduler reports FailedScheduling, etcd holds its keys. */
    async workFlows(): Promise<void> {
        await this.kubectlOk(["create", "deployment", "nginx", "--image=nginx", "--replicas=2"]);
        await until("ReplicaSet", 60_000, async () => {
            const r = await this.kubectl(["get", "rs", "-l", "app=nginx", "-o", "name"]);
            return r.status === 0 && r.stdout.includes("replicaset.apps/nginx-") ? true : undefined;
        });
        const pods = await until("2 Pods", 60_000, async () => {
            const r = await this.kubectl(["get", "pods", "-l", "app=nginx", "-o", "name"]);
            const n = r.stdout.trim().split("\n").filter(Boolean);
            return r.status === 0 && n.length === 2 ? n : undefined;
        });
        this.log(`pods: ${pods.join(" ")}`);
        const ev = await until("FailedScheduling event", 60_000, async () => {
            const r = await this.kubectl([
                "get",
                "events",
                "--field-selector",
                "reason=FailedScheduling",
                "-o",
                "jsonpath={.items[*].message}",
            ]);
            return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
        });
        this.log(`FailedScheduling: ${ev.slice(0, 200)}`);
        const r = await this.etcdctl(this.masters[0], "get /registry --prefix --keys-only");
        assert.equal(r.status, 0, r.stderr);
        const keys = r.stdout.split("\n").filter((k) => k.includes("nginx"));
        assert.ok(
            keys.some((k) => k.startsWith("/registry/deployments/default/nginx")),
            `no nginx Deployment key in etcd: ${keys.join(" ")}`,
        );
        assert.ok(
            keys.some((k) => k.startsWith("/registry/pods/default/nginx-")),
            `no nginx Pod key in etcd: ${keys.join(" ")}`,
        );
        this.log(`etcd nginx keys: ${keys.join(" ")}`);
    }

    /** ActiveEnterTimestamp (µs, UTC) of a service on every master. */
    async activeSince(service: string): Promise<string[]> {
        return Promise.all(
            this.masters.map(async (m) =>
                (
                    await this.lab.sshOk(m.address, `systemctl show --timestamp=us+utc --value -p ActiveEnterTimestamp ${service}.service`)
                ).trim(),
            ),
        );
    }

    /** activeSince of every control-plane service, by unit name. */
    async allActiveSince(): Promise<Record<string, string[]>> {
        return Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await this.activeSince(s)])));
    }

    /** When a service last became active on every master, in seconds since the epoch (the hosts share this machine's clock). */
    async startedAt(service: string): Promise<number[]> {
        return Promise.all(
            this.masters.map(async (m) =>
                Number(
                    (
                        await this.lab.sshOk(
                            m.address,
                            `date -d "$(systemctl show --timestamp=us+utc --value -p ActiveEnterTimestamp ${service}.service)" +%s.%N`,
                        )
                    ).trim(),
                ),
            ),
        );
    }

    /**
     * Nothing of ours is left on the masters (and the LB host unless `lb` is false): no unit, directory, user,
     * process, binary or data; etcd snapshots are kept on purpose.
     */
    async nothingLeft(lb = true): Promise<void> {
        for (const m of this.masters) {
            for (const s of SERVICES) {
                const r = await this.lab.ssh(
                    m.address,
                    `test ! -e /etc/systemd/system/${s}.service && test ! -e /etc/kubernetes/${s} && ! id -u ${s} >/dev/null 2>&1 && ! pgrep -x ${s.slice(0, 15)} >/dev/null && test ! -e ${paths.bin}/${s} && test ! -e ${paths.staging}/${s}`,
                );
                assert.equal(r.status, 0, `${s} left on ${m.name}: ${r.stdout}${r.stderr}`);
            }
            const r = await this.lab.ssh(
                m.address,
                `test ! -e ${paths.etcdData} && test ! -e ${paths.bin}/etcdctl && test ! -e ${paths.bin}/etcdutl && test ! -e /var/log/kubernetes/kube-apiserver && ` +
                    `test ! -e /etc/systemd/system/etcd-snapshot.timer && test ! -e /usr/local/sbin/k8scp-etcd-snapshot && test ! -e /var/lib/k8scp`,
            );
            assert.equal(r.status, 0, `etcd data, etcdctl, etcdutl, audit log dir, snapshot timer or /var/lib/k8scp left on ${m.name}`);
        }
        if (!lb) return;
        const r = await this.lab.ssh(
            this.lab.vip,
            "test ! -e /etc/systemd/system/k8scp-haproxy.service && test ! -e /etc/kubernetes/k8scp-haproxy && ! pgrep -x haproxy >/dev/null && ! id -u k8scp-haproxy >/dev/null 2>&1",
        );
        assert.equal(r.status, 0, "HAProxy unit, config or process left on lb");
    }
}

/**
 * Writes the stack's admin kubeconfig (the `adminKubeconfig` output) to `kubeconfigFile`, and its CA, client
 * certificate and key to `certDir` for the curl probes.
 */
export function writeAdminFiles(adminKubeconfig: string, kubeconfigFile: string, certDir: string): void {
    fs.writeFileSync(kubeconfigFile, adminKubeconfig, { mode: 0o600 });
    writeAdminCerts(adminKubeconfig, certDir);
}

/** Writes the CA, client certificate and key of an admin kubeconfig to `certDir`, as `adminTls` names them. */
export function writeAdminCerts(adminKubeconfig: string, certDir: string): void {
    const admin = parseKubeconfig(adminKubeconfig);
    fs.mkdirSync(certDir, { mode: 0o700, recursive: true });
    fs.writeFileSync(path.join(certDir, "ca.pem"), admin.caCertPem);
    fs.writeFileSync(path.join(certDir, "admin.pem"), admin.clientCertPem);
    fs.writeFileSync(path.join(certDir, "admin-key.pem"), admin.clientKeyPem, { mode: 0o600 });
}

/** curl's options for a request to the API as the admin, with the files `writeAdminCerts` wrote to `certDir`. */
const adminTls = (certDir: string) => `--cacert ${certDir}/ca.pem --cert ${certDir}/admin.pem --key ${certDir}/admin-key.pem`;

/**
 * Runs `f` while an API read (GET /api/v1/namespaces/default, as clients see the API) goes to the VIP every 250 ms,
 * and fails when a read failed or too few ran. (/readyz of an API server that drains before its restart answers 500
 * on purpose, so the load balancer takes it out; clients still get answers from it meanwhile.)
 */
export async function duringApiReads<T>(
    lab: Lab,
    certDir: string,
    what: string,
    log: (s: string) => void,
    f: () => Promise<T>,
): Promise<T> {
    const probe = startReadyzProbe(lab, lab.vip, certDir, "/api/v1/namespaces/default");
    try {
        return await f();
    } finally {
        const r = await probe.stop();
        log(`${what}: GET /api/v1/namespaces/default via the VIP: ${r.total} probes, ${r.failed} failed ${describeProbe(r)}`);
        assert.ok(r.total > 10, `${what}: too few probes (${r.total})`);
        assert.equal(r.failed, 0, `${what}: failed API reads via the VIP: ${describeProbe(r)}`);
    }
}

/** When a service step reported `service` healthy on `m` in a run's output (the script's `healthy at ... (t=...)` line). */
export function healthyAt(runOutput: string, service: string, m: Member): number {
    const mm = new RegExp(`${service}@${m.name}: healthy at \\S+ \\(t=([\\d.]+)\\)`).exec(runOutput);
    assert.ok(mm, `no health line of ${service} on ${m.name} in:\n${runOutput}`);
    return Number(mm[1]);
}

/**
 * Probes `GET <urlPath>` (default /readyz) via the VIP with the admin's client certificate every `intervalMs`, from
 * the controller namespace, until stopped or `maxProbes` (a hard bound). `stop()` returns the HTTP codes seen.
 */
export function startReadyzProbe(lab: Lab, vip: string, certDir: string, urlPath = "/readyz", intervalMs = 250, maxProbes = 2400) {
    // One line per probe: HTTP code, curl's exit code, seconds it took, when it ended (epoch seconds).
    const script = [
        `for i in $(seq 1 ${maxProbes}); do`,
        `  [ -e ${certDir}/stop ] || [ ! -d ${certDir} ] && break`,
        `  out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 2 ${adminTls(certDir)} https://${vip}:6443${urlPath}); rc=$?`,
        `  set -- $out`,
        `  echo "\${1:-000} $rc \${2:-0} $EPOCHREALTIME"`,
        `  sleep ${intervalMs / 1000}`,
        `done`,
    ].join("\n");
    const done = lab.inCtl("bash", ["-c", script], { timeoutMs: maxProbes * (intervalMs + 2500) + 10_000 });
    return {
        /**
         * Stops the probe (idempotent) and returns what it saw: the HTTP codes, and for each failed probe what curl
         * said, how long it took and when (seconds after the first probe ended, and the UTC time).
         */
        async stop(): Promise<ProbeResult> {
            if (fs.existsSync(certDir)) fs.writeFileSync(path.join(certDir, "stop"), "");
            const r = await done;
            fs.rmSync(path.join(certDir, "stop"), { force: true });
            return parseProbeLines(r.stdout);
        },
    };
}

/**
 * Starts `count` slow writes via the VIP, one after another, so that round robin puts one on each API server: a
 * dry-run ConfigMap create whose 600 kB body curl uploads at 50 kB/s, so each is in flight for about 12 s. An API
 * server stopped meanwhile drains: it must finish the write it is receiving, and the load balancer must not cut it
 * when it takes that server out. `wait()` returns one line per write: `<HTTP code> <bytes sent> <curl exit>`.
 */
export function startSlowWrites(lab: Lab, vip: string, certDir: string, count = 3) {
    const body = path.join(certDir, "slow-write.json");
    const data = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "slow-write" }, data: { k: "x".repeat(600_000) } };
    fs.writeFileSync(body, JSON.stringify(data));
    const url = `https://${vip}:6443/api/v1/namespaces/default/configmaps?dryRun=All`;
    const script = [
        `for i in $(seq 1 ${count}); do`,
        `  curl -s -o /dev/null -w '%{http_code} %{size_upload} %{exitcode}\n' --limit-rate 50k --max-time 60 -X POST -H 'Content-Type: application/json' --data-binary @${body} ${adminTls(certDir)} '${url}' &`,
        `  sleep 0.3`,
        `done`,
        `wait`,
    ].join("\n");
    const done = lab.inCtl("bash", ["-c", script], { timeoutMs: 90_000 });
    return {
        size: fs.statSync(body).size,
        async wait(): Promise<string[]> {
            const r = await done;
            fs.rmSync(body, { force: true });
            return r.stdout.trim().split("\n").filter(Boolean);
        },
    };
}

export interface ProbeResult {
    total: number;
    failed: number;
    codes: Record<string, number>;
    /** One line per failed probe, e.g. `HTTP 000, curl exit 28 (timeout), 2.00 s, at 41.3 s (21:16:57.921 UTC)`. */
    failures: string[];
}

const curlErrors: Record<string, string> = {
    "7": "connection refused",
    "16": "HTTP/2 stream or connection closed",
    "28": "timeout",
    "35": "TLS handshake failed",
    "52": "empty reply",
    "56": "connection reset",
};

/** Parses the probe's lines (`<http code> <curl exit> <seconds taken> <epoch seconds when it ended>`). */
export function parseProbeLines(stdout: string): ProbeResult {
    const lines = stdout.trim().split("\n").filter(Boolean);
    const codes: Record<string, number> = {};
    const failures: string[] = [];
    const t0 = Number(lines[0]?.split(" ")[3]);
    for (const line of lines) {
        const [code, rc, took, end] = line.split(" ");
        codes[code] = (codes[code] ?? 0) + 1;
        if (code === "200") continue;
        const why = rc === "0" ? "" : `, curl exit ${rc}${curlErrors[rc] ? ` (${curlErrors[rc]})` : ""}`;
        failures.push(
            `HTTP ${code}${why}, ${Number(took).toFixed(2)} s, at ${(Number(end) - t0).toFixed(1)} s (${new Date(Number(end) * 1000).toISOString().slice(11, 23)} UTC)`,
        );
    }
    return { total: lines.length, failed: failures.length, codes, failures };
}

/** A probe result for a message: the codes, then each failure on its own line. */
export function describeProbe(r: ProbeResult): string {
    return [JSON.stringify(r.codes), ...r.failures.map((f) => `  ${f}`)].join("\n");
}
