// End to end through the real Pulumi CLI (local file:// backend) on the lab's 3 masters + LB host: `pulumi up`
// of index.ts with the dev stack's config, then the runbooks' proofs (services, users, modes, etcd over mTLS,
// /readyz and /livez via the VIP, component health, leases, fail-over of each leader and of a whole master,
// work flowing through the controllers and the scheduler, RBAC), Pulumi's own behaviour (no-op runs restart
// nothing, one flag rolls one service master by master with no failed probe, no key in state or output),
// faults (a wrong host key, an unreachable master), another program using the package through a
// StackReference, and `pulumi destroy` leaving nothing. One deployed stack serves every check.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { serviceNames } from "../../components/render/flags";
import { Cluster, SERVICES, describeProbe, healthyAt, startReadyzProbe, startSlowWrites, writeAdminFiles } from "../lib/cluster";
import { repo, run, sleep, until } from "../lib/lab";
import { installProgram, packedPackage } from "../lib/package";
import { PulumiCli, updatedCommands } from "../lib/pulumi";
import { e2eContext } from "../lib/e2e";
import { clusterCisFailures } from "../lib/cis";

const { tc, skip, step, log, tmp, configFile, readConfig, writeConfig, editConfig, stackEnv, labUp } = e2eContext("e2e");
/** The command resources an `up --diff` or `preview --diff` output updates, by name, sorted. */
test("e2e: pulumi up of 3 masters + LB on the lab, proven like the runbooks", { skip, timeout: 3_600_000 }, async (t) => {
    const e = stackEnv("e2e-passphrase");
    const lab = await step("lab up 3", () => labUp(3));
    const masters = lab.masters;
    const binDir = path.join(tc!, "bin");
    const pulumi = new PulumiCli(lab, e, repo, "e2e", configFile);
    const adminKubeconfig = path.join(tmp, "admin.kubeconfig");
    const cluster = new Cluster(lab, masters, binDir, adminKubeconfig, log);
    const allActiveSince = () => cluster.allActiveSince();
    const noKeyIn = (what: string, text: string) => assert.doesNotMatch(text, /PRIVATE KEY-----/, `a private key in plaintext in ${what}`);

    try {
        const upOut = await step("pulumi up (deploy)", async () => {
            await pulumi.ok(["stack", "init"]);
            // The consumer program (test 9) signs its user with the stack's CA key, an opt-in output.
            editConfig((c) => (c["k8scp:exportCaKey"] = true));
            return pulumi.ok(["up", "--yes", "--skip-preview"], 1_800_000);
        });
        noKeyIn("the output of pulumi up", upOut);
        const outputs = await pulumi.outputs();
        const certDir = path.join(tmp, "probe");
        writeAdminFiles(String(outputs.adminKubeconfig), adminKubeconfig, certDir);
        assert.equal(outputs.endpoint, `https://${lab.vip}:6443`);

        await t.test("1. deploy: every service active on every master as its own user; keys and kubeconfigs 0600", () =>
            cluster.servicesActiveAsOwnUsers(),
        );

        await t.test("2. health like the runbooks", async () => {
            await cluster.etcdMutualTls();
            const verbose = await cluster.kubectlOk(["get", "--raw=/readyz?verbose"]);
            assert.match(verbose, /\[\+\]etcd ok/);
            assert.match(verbose, /readyz check passed/);
            await cluster.rawOk("/livez");
            for (const m of masters) {
                for (const [svc, port] of [
                    ["kube-controller-manager", 10257],
                    ["kube-scheduler", 10259],
                ] as const) {
                    const out = await lab.sshOk(m.address, `curl -sS --max-time 5 --insecure https://${m.address}:${port}/healthz`);
                    assert.equal(out.trim(), "ok", `${svc} /healthz on ${m.name}`);
                }
            }
            // The runbooks' `kubectl get componentstatuses`: deprecated since 1.19, still served by 1.34. The apiserver
            // probes the scheduler and controller-manager on 127.0.0.1 and etcd through its own client; record what
            // this release reports and assert the parts that are meaningful (the etcd members are healthy).
            const cs = await cluster.kubectl(["get", "componentstatuses", "-o", "json"]);
            assert.equal(cs.status, 0, cs.stderr);
            assert.match(cs.stderr, /ComponentStatus is deprecated/);
            const items = (
                JSON.parse(cs.stdout) as { items: { metadata: { name: string }; conditions: { status: string; message?: string }[] }[] }
            ).items;
            log(`componentstatuses: ${items.map((i) => `${i.metadata.name}=${i.conditions.map((c) => c.status).join(",")}`).join(" ")}`);
            const etcd = items.filter((i) => i.metadata.name.startsWith("etcd-"));
            assert.ok(etcd.length >= 1 && etcd.every((i) => i.conditions[0].status === "True"), JSON.stringify(etcd));
            const names = items.map((i) => i.metadata.name);
            assert.ok(names.includes("scheduler") && names.includes("controller-manager"), names.join(" "));
        });

        const leaders = await cluster.leaders();
        await t.test("3. one leader per component, one of the masters", () => {
            assert.ok(masters.some((m) => m.name === leaders.scheduler.name));
            assert.ok(masters.some((m) => m.name === leaders.controllerManager.name));
        });

        await t.test("4. fail-over: each leader, then a whole master", async () => {
            // Lease bounds (the defaults of both components): lease 15 s, renew deadline 10 s, retry period 2 s, retried
            // by client-go with a jitter of up to 1.2 x the period. The scheduler releases its lease on a graceful stop
            // (takeover in one retry); the controller-manager does not, so a successor waits out the lease — counted from when
            // it last *observed* a renewal (client-go's observedTime, updated at its own jittered polls). Bound: lease +
            // two jittered retries (the observation, then the acquiring poll) + 0.5 s for clock rounding, measured to the
            // Lease's own acquireTime.
            const bound = 15_000 + 2 * 2_000 * 2.2 + 500;
            for (const [lease, svc, first] of [
                ["kube-scheduler", serviceNames.scheduler, leaders.scheduler],
                ["kube-controller-manager", serviceNames.controllerManager, leaders.controllerManager],
            ] as const) {
                const a = await cluster.failover(lease, svc, first, bound);
                const b = await cluster.failover(lease, svc, a.next, bound);
                assert.ok(![first.name, a.next.name].includes(b.next.name), `${lease}: third holder ${b.next.name}`);
                log(`${lease} takeover times: ${a.seconds.toFixed(1)} s, ${b.seconds.toFixed(1)} s (bound ${bound / 1000} s)`);
                for (const m of [first, a.next]) await lab.sshOk(m.address, `sudo -n systemctl start ${svc}.service`);
                for (const m of masters) assert.equal((await lab.sshOk(m.address, `systemctl is-active ${svc}.service`)).trim(), "active");
            }
            const down = masters[2];
            // Writes in flight on every API server when one of them is stopped: the stopped one drains its write.
            const writes = startSlowWrites(lab, lab.vip, certDir);
            await sleep(2000);
            // A real read (not /readyz: a draining apiserver answers /readyz with 500 by design, to be drained).
            const probe = startReadyzProbe(lab, lab.vip, certDir, "/api/v1/namespaces/kube-system");
            await lab.sshOk(down.address, `sudo -n systemctl stop ${[...SERVICES].reverse().join(" ")}`);
            try {
                const s = Date.now();
                await until("the VIP drops the stopped master", 30_000, async () =>
                    (await cluster.kubectl(["get", "--raw=/readyz"])).status === 0 ? true : undefined,
                );
                for (let i = 0; i < 5; i++) await cluster.kubectlOk(["get", "--raw=/readyz"]);
                await cluster.kubectlOk(["create", "configmap", "while-n3-down", "--from-literal=k=v"]);
                // etcdctl against each member on its own: the two that run are healthy, the stopped one is not.
                const healthy: string[] = [];
                for (const m of masters) {
                    const r = await cluster.etcdctl(masters[0], `endpoint health --endpoints=https://${m.address}:2379`);
                    if (r.status === 0 && /is healthy/.test(r.stdout)) healthy.push(m.name);
                }
                assert.deepEqual(healthy, [masters[0].name, masters[1].name], "two of three etcd members healthy: quorum kept");
                log(
                    `${down.name} stopped: API answered via the VIP, a write went through, etcd kept quorum (${((Date.now() - s) / 1000).toFixed(1)} s)`,
                );
            } finally {
                await lab.sshOk(down.address, `sudo -n systemctl start ${SERVICES.join(" ")}`);
                await until(`${down.name} back`, 120_000, async () => {
                    const r = await cluster.etcdctl(masters[0], "endpoint health --cluster");
                    return r.status === 0 && (r.stdout.match(/is healthy/g) ?? []).length === 3 ? true : undefined;
                });
                await until(`${down.name} apiserver ready`, 120_000, async () =>
                    (await lab.ssh(down.address, `curl -fsS --max-time 3 --insecure https://${down.address}:6443/readyz`)).status === 0
                        ? true
                        : undefined,
                );
                const w = await writes.wait();
                log(`slow writes via the VIP in flight while ${down.name} stopped: ${w.join("; ")}`);
                assert.deepEqual(w, Array(3).fill(`201 ${writes.size} 0`), `a write in flight was cut while ${down.name} stopped`);
                const p = await probe.stop();
                log(`API reads via the VIP while ${down.name} was down and back: ${describeProbe(p)}`);
                // Each apiserver drains on stop (--shutdown-delay-duration) and HAProxy redispatches refused connects.
                assert.equal(p.failed, 0, `failed API reads via the VIP while ${down.name} was down and back: ${describeProbe(p)}`);
            }
            await cluster.servicesActiveAsOwnUsers();
            await cluster.etcdMutualTls();
            assert.equal((await cluster.kubectlOk(["get", "configmap", "while-n3-down", "-o", "jsonpath={.data.k}"])).trim(), "v");
        });

        await t.test("5. work flows; RBAC", async () => {
            await cluster.workFlows();
            const can = await cluster.kubectl(["auth", "can-i", "get", "secrets", "--all-namespaces", "--as", "system:kube-scheduler"]);
            assert.equal(can.stdout.trim(), "no", "the scheduler's identity cannot read Secrets");
            const anon = await cluster.anonymousStatus(path.join(certDir, "ca.pem"), "/api/v1/namespaces/kube-system/secrets");
            assert.match(anon, /^40[13]$/, `an anonymous request is refused: HTTP ${anon}`);
            // Least privilege: the admin is cluster-admin through a binding the library made, not system:masters.
            const who = JSON.parse(await cluster.kubectlOk(["auth", "whoami", "-o", "json"])) as {
                status: { userInfo: { groups: string[] } };
            };
            assert.ok(who.status.userInfo.groups.includes("k8scp:cluster-admins"), JSON.stringify(who));
            assert.ok(!who.status.userInfo.groups.includes("system:masters"), JSON.stringify(who));
            for (const [name, role] of [
                ["k8scp:cluster-admins", "cluster-admin"],
                ["k8scp:apiserver-kubelet-client", "system:kubelet-api-admin"],
            ])
                assert.equal((await cluster.kubectlOk(["get", "clusterrolebinding", name, "-o", "jsonpath={.roleRef.name}"])).trim(), role);
            assert.equal(
                (
                    await cluster.kubectl([
                        "auth",
                        "can-i",
                        "get",
                        "nodes/proxy",
                        "--as",
                        "kube-apiserver-kubelet-client",
                        "--as-group",
                        "k8scp:apiserver-kubelet-client",
                    ])
                ).stdout.trim(),
                "yes",
                "the API servers' kubelet client may use the kubelet API",
            );
            // HAProxy on the load balancer runs as its own user, sandboxed.
            assert.deepEqual([...new Set((await lab.sshOk(lab.vip, "ps -o user= -C haproxy")).trim().split(/\s+/))], ["k8scp-haproxy"]);
            assert.equal((await lab.sshOk(lab.vip, "systemctl show -p NoNewPrivileges --value k8scp-haproxy")).trim(), "yes");
        });

        await t.test("5b. CIS Kubernetes Benchmark: every row the README marks met holds on every master", async () => {
            assert.deepEqual(await clusterCisFailures(cluster), []);
        });

        await t.test("6. Pulumi: no-op runs change and restart nothing; one flag rolls the schedulers; no key leaks", async () => {
            const before = await allActiveSince();
            await pulumi.ok(["preview", "--expect-no-changes"]);
            const second = await pulumi.ok(["up", "--yes", "--skip-preview", "--expect-no-changes"]);
            noKeyIn("a no-op pulumi up", second);
            assert.deepEqual(await allActiveSince(), before, "a no-op up restarted a service");

            editConfig((c) => (c["k8scp:scheduler"] = { extraArgs: { v: "3" } }));
            const preview = await pulumi.ok(["preview", "--diff"]);
            noKeyIn("pulumi preview --diff", preview);
            const updated = updatedCommands(preview);
            assert.deepEqual(updated, ["k8s-n1-scheduler", "k8s-n2-scheduler", "k8s-n3-scheduler"], preview);
            assert.match(preview, /3 to update/);
            // The reviewer sees the flag itself, in plain text, on each master.
            assert.equal((preview.match(/^\s*-\s+--v=2( \\)?$/gm) ?? []).length, 3, preview);
            assert.equal((preview.match(/^\s*\+\s+--v=3( \\)?$/gm) ?? []).length, 3, preview);
            assert.doesNotMatch(preview, /~ .*-files\b/);

            const probe = startReadyzProbe(lab, lab.vip, certDir);
            const rolled = await pulumi.ok(["up", "--yes", "--skip-preview"]).finally(() => probe.stop());
            const p = await probe.stop();
            log(`readyz probes via the VIP during the scheduler rollout: ${describeProbe(p)}`);
            assert.equal(p.failed, 0, `failed probes during the rollout: ${describeProbe(p)}`);
            assert.ok(p.total >= 5, `too few probes (${p.total}) to mean anything`);
            const after = await allActiveSince();
            for (const s of SERVICES.filter((x) => x !== serviceNames.scheduler))
                assert.deepEqual(after[s], before[s], `${s} was restarted`);
            const restarted = after[serviceNames.scheduler] as string[];
            // Restart timestamps strictly ordered n1 < n2 < n3, and each master starts only after the previous is healthy.
            const healthy = masters.map((m) => healthyAt(rolled, serviceNames.scheduler, m));
            const started = await cluster.startedAt(serviceNames.scheduler);
            for (let i = 0; i < masters.length; i++) {
                assert.notEqual(
                    restarted[i],
                    (before[serviceNames.scheduler] as string[])[i],
                    `${masters[i].name} scheduler not restarted`,
                );
                if (i > 0)
                    assert.ok(
                        started[i] > healthy[i - 1],
                        `${masters[i].name} restarted at ${started[i]} before ${masters[i - 1].name} was healthy at ${healthy[i - 1]}`,
                    );
            }
            log(
                `scheduler restarts (s): ${started.map((x, i) => `${masters[i].name} ${x.toFixed(2)} healthy ${healthy[i].toFixed(2)}`).join("; ")}`,
            );
            for (const m of masters)
                assert.match(await lab.sshOk(m.address, "sudo -n cat /etc/systemd/system/kube-scheduler.service"), /--v=3/);
            await pulumi.ok(["preview", "--expect-no-changes"]);
            for (const text of await pulumi.stateTexts()) noKeyIn("the state", text);
            noKeyIn("pulumi up", rolled);
        });

        await t.test("7. faults: a wrong host key, an unreachable master", async () => {
            const before = await allActiveSince();
            const other = path.join(tmp, "other_ed25519");
            await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
            const wrongKey = fs.readFileSync(`${other}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
            const original = readConfig();
            editConfig((c) => {
                const ms = c["k8scp:masters"] as { name: string; hostKey?: string }[];
                ms[1].hostKey = wrongKey;
                c["k8scp:scheduler"] = { extraArgs: { v: "4" } };
            });
            const r = await pulumi.run(["up", "--yes", "--skip-preview"]);
            const out = r.stdout + r.stderr;
            assert.notEqual(r.status, 0, "up with a wrong host key must fail");
            assert.match(out, /10\.213\.0\.12|n2/, out);
            assert.match(out, /host key/i, out);
            assert.match(
                await lab.sshOk(masters[1].address, "sudo -n cat /etc/systemd/system/kube-scheduler.service"),
                /--v=3/,
                "n2 was not touched",
            );
            writeConfig(original);

            // An unreachable master: its link goes down; up fails naming it, before touching any host.
            editConfig((c) => (c["k8scp:scheduler"] = { extraArgs: { v: "4" } }));
            await run("ip", ["netns", "exec", "k8scp-n3", "ip", "link", "set", "eth0", "down"]);
            let downOut = "";
            try {
                const r2 = await pulumi.run(["up", "--yes", "--skip-preview"]);
                downOut = r2.stdout + r2.stderr;
                assert.notEqual(r2.status, 0, "up with an unreachable master must fail");
            } finally {
                await run("ip", ["netns", "exec", "k8scp-n3", "ip", "link", "set", "eth0", "up"]);
            }
            assert.match(downOut, /n3 \(10\.213\.0\.13:22\)/, downOut);
            assert.match(
                await lab.sshOk(masters[0].address, "sudo -n cat /etc/systemd/system/kube-scheduler.service"),
                /--v=3/,
                "n1 was not touched",
            );
            // Back: a re-run converges, with nothing lost.
            await until("n3 answers SSH again", 30_000, async () =>
                (await lab.ssh(masters[2].address, "true")).status === 0 ? true : undefined,
            );
            const converged = await pulumi.ok(["up", "--yes", "--skip-preview", "--diff"]);
            assert.deepEqual(updatedCommands(converged), ["k8s-n1-scheduler", "k8s-n2-scheduler", "k8s-n3-scheduler"], converged);
            for (const m of masters)
                assert.match(await lab.sshOk(m.address, "sudo -n cat /etc/systemd/system/kube-scheduler.service"), /--v=4/);
            await pulumi.ok(["preview", "--expect-no-changes"]);
            // Pulumi touched only the schedulers (above). etcd and the apiservers never restarted; a controller-manager
            // may restart by itself while a master is cut off (it exits when it cannot renew its lease, and systemd
            // starts it again), and then only for that reason.
            const after = await allActiveSince();
            for (const s of [serviceNames.etcd, serviceNames.apiserver]) assert.deepEqual(after[s], before[s], `${s} was restarted`);
            for (const [i, m] of masters.entries()) {
                const s = serviceNames.controllerManager;
                if (after[s][i] === before[s][i]) continue;
                const since = before[s][i].replace(/^\w+ /, "").replace(/ UTC$/, "");
                const journal = await lab.sshOk(
                    m.address,
                    `sudo -n journalctl -u ${s} --since '${since}' --utc --no-pager -o cat | grep -c 'leaderelection lost' || true`,
                );
                assert.ok(Number(journal.trim()) > 0, `${s} on ${m.name} restarted at ${after[s][i]} without losing its lease`);
                log(`${s} on ${m.name} restarted by itself after losing its lease while n3 was cut off (not by Pulumi)`);
            }
            await cluster.servicesActiveAsOwnUsers();
            assert.equal((await cluster.kubectlOk(["get", "configmap", "while-n3-down", "-o", "jsonpath={.data.k}"])).trim(), "v");
        });

        await t.test(
            "7b. drift: a unit edited, a service stopped and a kubeconfig edited by hand are put right by the next up",
            async () => {
                const unitPath = "/etc/systemd/system/kube-scheduler.service";
                await lab.sshOk(
                    masters[0].address,
                    `sudo -n sed -i '/^\\[Service\\]/a Environment=EDITED_BY_HAND=1' ${unitPath} && sudo -n systemctl daemon-reload`,
                );
                await lab.sshOk(masters[1].address, "sudo -n systemctl stop kube-controller-manager");
                await lab.sshOk(
                    masters[2].address,
                    "echo '# edited by hand' | sudo -n tee -a /etc/kubernetes/kube-scheduler/kubeconfig >/dev/null",
                );
                const before = await allActiveSince();
                const preview = await pulumi.ok(["preview", "--diff"]);
                const updated = updatedCommands(preview);
                assert.deepEqual(updated, ["k8s-n1-scheduler", "k8s-n2-controller-manager", "k8s-n3-scheduler-files"], preview);
                assert.match(preview, /kube-scheduler: .*differs? .*EDITED|kube-scheduler: .*kube-scheduler.service: FAILED/);
                assert.match(preview, /kube-controller-manager: .*kube-controller-manager.service: (inactive|failed)/);
                assert.match(preview, /kubeconfig: FAILED/);
                await pulumi.ok(["up", "--yes", "--skip-preview"]);
                assert.doesNotMatch(await lab.sshOk(masters[0].address, `sudo -n cat ${unitPath}`), /EDITED_BY_HAND/);
                assert.equal((await lab.sshOk(masters[1].address, "systemctl is-active kube-controller-manager")).trim(), "active");
                assert.doesNotMatch(
                    await lab.sshOk(masters[2].address, "sudo -n cat /etc/kubernetes/kube-scheduler/kubeconfig"),
                    /edited by hand/,
                );
                await pulumi.ok(["preview", "--expect-no-changes"]);
                const after = await allActiveSince();
                for (const s of SERVICES)
                    for (let i = 0; i < masters.length; i++) {
                        const repaired = (s === serviceNames.scheduler && i === 0) || (s === serviceNames.controllerManager && i === 1);
                        if (!repaired) assert.equal(after[s][i], before[s][i], `${s} on ${masters[i].name} was restarted`);
                    }
                await cluster.servicesActiveAsOwnUsers();
            },
        );

        await t.test("9. another program, on the packed package: a user from the stack's CA through a StackReference", async () => {
            const dir = await installProgram(
                path.join(repo, "test", "e2e", "consumer"),
                path.join(tmp, "consumer"),
                await packedPackage(tmp, log),
                ["@pulumi/pulumi"],
            );
            const consumer = new PulumiCli(lab, e, dir, "jane", path.join(tmp, "Pulumi.jane.yaml"));
            await consumer.ok(["stack", "init"]);
            await consumer.ok(["config", "set", "controlPlaneStack", "organization/k8scp/e2e"]);
            await consumer.ok(["config", "set", "user", "jane"]);
            await consumer.ok(["config", "set", "group", "dev"]);
            const out = await consumer.ok(["up", "--yes", "--skip-preview"]);
            noKeyIn("the consumer's pulumi up", out);
            const kc = path.join(tmp, "jane.kubeconfig");
            fs.writeFileSync(kc, String((await consumer.outputs()).kubeconfig), { mode: 0o600 });
            const who = JSON.parse(await cluster.kubectlOk(["auth", "whoami", "-o", "json"], { kubeconfig: kc })) as {
                status: { userInfo: { username: string; groups: string[] } };
            };
            assert.equal(who.status.userInfo.username, "jane");
            assert.ok(who.status.userInfo.groups.includes("dev"), JSON.stringify(who));
            const denied = await cluster.kubectl(["get", "pods"], { kubeconfig: kc });
            assert.notEqual(denied.status, 0);
            assert.match(denied.stderr, /forbidden/i);
            await cluster.kubectlOk(["create", "rolebinding", "dev-view", "--clusterrole=view", "--group=dev", "--namespace=default"]);
            await until("jane may list pods", 30_000, async () =>
                (await cluster.kubectl(["get", "pods"], { kubeconfig: kc })).status === 0 ? true : undefined,
            );
            for (const text of await consumer.stateTexts()) noKeyIn("the consumer's state", text);
            await consumer.ok(["destroy", "--yes", "--skip-preview"]);
            await consumer.ok(["stack", "rm", "--yes"]);
        });
    } finally {
        await step("pulumi destroy", async () => {
            const r = await pulumi.run(["destroy", "--yes", "--skip-preview"], 1_200_000);
            assert.equal(r.status, 0, `pulumi destroy exited ${r.status}:\n${r.stdout}${r.stderr}`);
        });
    }
    await t.test("8. destroy leaves no unit, file, user or process of ours on any host", () => cluster.nothingLeft());
});
