// Interrupted runs, end to end through the real Pulumi CLI on the lab (4 master hosts + LB; the stack starts on 3):
// the CLI and everything it started is killed (SIGKILL, as a crash) or interrupted (SIGINT, Ctrl-C) at four points,
// each with both signals, and each triggered by an observed event (a unit running on a host, a step done in the
// engine's event stream), never by a sleep: after the first etcd member of a new cluster started and before the others
// have; while the API servers roll out (a flag change); during a rolling flag change of the schedulers; in a scale-up
// right after the new member was added. Then the README's recovery (pulumi cancel and refresh after a kill, then
// pulumi up; nothing wiped by hand) must converge: quorum formed, every service healthy, the next preview a no-op.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Member } from "../../components/render/flags";
import { Cluster, writeAdminFiles } from "../lib/cluster";
import { labCgroupRoots, repo, sleep } from "../lib/lab";
import { PulumiCli } from "../lib/pulumi";
import { e2eContext } from "../lib/e2e";

const { tc, skip, step, log, tmp, configFile, editConfig, stackEnv, labUp } = e2eContext("interrupt");

/** The engine's events so far, as `pulumi up --json` streams them (one JSON object a line). */
const events = (json: string): { pre?: string; done?: string }[] =>
    json.split("\n").flatMap((line) => {
        try {
            const ev = JSON.parse(line.slice(line.indexOf("{"))) as Record<string, { metadata?: { urn?: string } }>;
            return [{ pre: ev.resourcePreEvent?.metadata?.urn, done: ev.resOutputsEvent?.metadata?.urn }];
        } catch {
            return [];
        }
    });

/**
 * Limits a lab node to `percent` of a core (or lifts the limit), so its steps run far behind the others' without
 * anything on it being touched. cgroup v2 with the cpu controller: cpu.max on the node's cgroup (lab.sh). A hybrid
 * host (v2 without controllers, v1 cpu beside it): every process of the node moves into a v1 cpu group of its own,
 * whose children inherit it.
 */
function throttle(node: string, percent: number | undefined) {
    const v2 = labCgroupRoots.map((r) => path.join(r, node)).find((d) => fs.existsSync(d));
    assert.ok(v2, `no cgroup of ${node}`);
    const quota = percent === undefined ? undefined : Math.round(percent * 1000);
    if (/\bcpu\b/.test(fs.readFileSync(path.join(path.dirname(v2), "cgroup.controllers"), "utf8"))) {
        const ctl = path.join(path.dirname(v2), "cgroup.subtree_control");
        if (!/\bcpu\b/.test(fs.readFileSync(ctl, "utf8"))) fs.writeFileSync(ctl, "+cpu");
        fs.writeFileSync(path.join(v2, "cpu.max"), `${quota ?? "max"} 100000`);
        return;
    }
    const v1 = path.join("/sys/fs/cgroup/cpu", `k8scp-throttle-${node}`);
    if (quota === undefined) {
        if (fs.existsSync(v1)) fs.writeFileSync(path.join(v1, "cpu.cfs_quota_us"), "-1");
        return;
    }
    fs.mkdirSync(v1, { recursive: true });
    fs.writeFileSync(path.join(v1, "cpu.cfs_period_us"), "100000");
    fs.writeFileSync(path.join(v1, "cpu.cfs_quota_us"), String(quota));
    const procs = (d: string): string[] =>
        fs
            .readdirSync(d, { withFileTypes: true })
            .flatMap((e) =>
                e.isDirectory()
                    ? procs(path.join(d, e.name))
                    : e.name === "cgroup.procs"
                      ? fs.readFileSync(path.join(d, e.name), "utf8").split("\n").filter(Boolean)
                      : [],
            );
    for (const pid of procs(v2)) {
        try {
            fs.writeFileSync(path.join(v1, "cgroup.procs"), pid);
        } catch {
            // exited meanwhile
        }
    }
}
/** Removes the v1 groups throttle made (their processes back in the root group; a group still busy stays, unlimited). */
function unthrottleAll() {
    const root = "/sys/fs/cgroup/cpu";
    if (!fs.existsSync(root)) return;
    for (const d of fs.readdirSync(root).filter((x) => x.startsWith("k8scp-throttle-"))) {
        const group = path.join(root, d);
        fs.writeFileSync(path.join(group, "cpu.cfs_quota_us"), "-1");
        for (let i = 0; i < 5; i++) {
            for (const pid of fs.readFileSync(path.join(group, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) {
                try {
                    fs.writeFileSync(path.join(root, "cgroup.procs"), pid);
                } catch {
                    // exited meanwhile
                }
            }
            try {
                fs.rmdirSync(group);
                break;
            } catch {
                // a process forked while the others moved: once more
            }
        }
    }
}

test(
    "interrupted runs: SIGKILL and SIGINT mid-bootstrap, mid-rollout of the API servers and the schedulers, mid-scale-up; pulumi up converges",
    { skip, timeout: 3_600_000 },
    async (t) => {
        /** A sub-test whose failure is printed when it happens (the spec reporter prints failures at the end). */
        let failed = "";
        const sub = (name: string, f: () => Promise<void>) =>
            t.test(name, { skip: failed ? `it starts from the state "${failed}" should have left` : false }, () =>
                f().catch((e: unknown) => {
                    failed ||= name;
                    log(`FAILED: ${name}: ${String(e).slice(0, 4000)}`);
                    throw e;
                }),
            );
        const e = stackEnv("interrupt-passphrase");
        const lab = await step("lab up 4", () => labUp(4));
        const [n1, n2, n3, n4] = lab.masters;
        const binDir = path.join(tc!, "bin");
        const pulumi = new PulumiCli(lab, e, repo, "interrupt", configFile);
        const adminKubeconfig = path.join(tmp, "admin.kubeconfig");
        const certDir = path.join(tmp, "probe");
        const clusterOf = (ms: Member[]) => new Cluster(lab, ms, binDir, adminKubeconfig, log);
        let cluster = clusterOf([n1, n2, n3]);
        /** Its process runs: etcd of a new cluster is `activating` until a quorum of members has started. */
        const isRunning = async (m: Member, unit: string) =>
            ["active", "activating"].includes((await lab.ssh(m.address, `systemctl is-active ${unit}`)).stdout.trim());
        /** Starts `pulumi up`; once `when` holds, sends `signal` to it and everything it started; returns its output. */
        const interrupted = async (
            name: string,
            when: (log: string) => Promise<boolean | undefined>,
            signal: NodeJS.Signals,
            /** Runs the moment the signal is sent (checks of that moment, letting slowed hosts go). */
            atSignal: () => Promise<void> = async () => undefined,
        ) => {
            const run = pulumi.start(["up", "--yes", "--skip-preview", "--json"]);
            let exited = false;
            void run.done.then(() => (exited = true));
            // Polled by hand rather than with until(): an error (the run ending early, a failed check) must end the test now.
            for (const deadline = Date.now() + 600_000; !(await when(run.stdout())); await sleep(200)) {
                if (exited) {
                    const r = await run.done;
                    assert.fail(
                        `${name}: pulumi up ended (exit ${r.status}) before the point to interrupt at:\n${r.stdout.slice(-3000)}${r.stderr}`,
                    );
                }
                assert.ok(Date.now() < deadline, `${name}: the point to interrupt at was not reached within 600 s`);
            }
            run.signal(signal);
            await atSignal();
            const r = await run.done;
            log(`${name}: ${signal} sent; pulumi up exited ${r.status}`);
            return r;
        };
        /**
         * The README's recovery after an interrupted run. A killed CLI leaves its lock on the stack (an interrupted one
         * removes it) and the operations it had in flight pending: `pulumi cancel --yes` removes the lock, `pulumi refresh
         * --clear-pending-creates` forgets them. Then `pulumi up` again; nothing is wiped by hand.
         */
        const recover = (name: string, killed: boolean) =>
            step(`${name}: ${killed ? "pulumi cancel, refresh --clear-pending-creates, " : ""}pulumi up again`, async () => {
                if (killed) {
                    log(`${name}: pulumi cancel: ${(await pulumi.ok(["cancel", "--yes"], 60_000)).trim()}`);
                    await pulumi.ok(["refresh", "--clear-pending-creates", "--yes", "--skip-preview"], 600_000);
                }
                const out = await pulumi.ok(["up", "--yes", "--skip-preview"], 1_800_000);
                assert.doesNotMatch(out, /pending operations/, "operations of the interrupted run are still pending");
                return out;
            });
        const converged = async (ms: Member[]) => {
            cluster = clusterOf(ms);
            const r = await cluster.etcdctl(ms[0], "member list -w simple");
            assert.equal(r.status, 0, r.stderr);
            const rows = r.stdout
                .trim()
                .split("\n")
                .map((l) => l.split(", "));
            assert.deepEqual(rows.map((x) => x[2]).sort(), ms.map((m) => m.name).sort(), r.stdout);
            assert.ok(
                rows.every((x) => x[1] === "started"),
                r.stdout,
            );
            await cluster.servicesActiveAsOwnUsers();
            await cluster.rawOk("/readyz", 60_000);
            await pulumi.ok(["preview", "--expect-no-changes"], 600_000);
        };

        /**
         * A cold deploy interrupted once the first etcd member runs and before the others have started: n2 and n3 get 2%
         * of a core from the first command step on (after the program read the hosts), so n1's etcd starts long before
         * theirs. The recovery must not take n2 and n3 for joiners (member add needs the quorum their start forms).
         */
        const interruptedBootstrap = async (name: string, signal: NodeJS.Signals) => {
            let slowed = false;
            const release = () => {
                for (const n of [n2, n3]) throttle(n.name, undefined);
                unthrottleAll();
            };
            try {
                await interrupted(
                    name,
                    async (json) => {
                        if (!slowed && events(json).some((x) => x.pre?.includes("command:remote:Command"))) {
                            for (const n of [n2, n3]) throttle(n.name, 2);
                            slowed = true;
                        }
                        return slowed && (await isRunning(n1, "etcd"));
                    },
                    signal,
                    async () => {
                        const others = [await isRunning(n2, "etcd"), await isRunning(n3, "etcd")];
                        release();
                        assert.deepEqual(others, [false, false], "precondition: n2's and n3's etcd had not started");
                    },
                );
            } finally {
                release();
            }
            const out = await recover(name, signal === "SIGKILL");
            assert.doesNotMatch(out, /joining the running etcd cluster/, "the members of an interrupted bootstrap were taken for joiners");
            writeAdminFiles(String((await pulumi.outputs()).adminKubeconfig), adminKubeconfig, certDir);
            await converged([n1, n2, n3]);
        };
        /** A rolling change of `component`'s --v, interrupted once `step` on n1 is done; the next up finishes it. */
        const interruptedRollout = async (name: string, component: string, unit: string, v: string, signal: NodeJS.Signals) => {
            editConfig((c) => (c[`k8scp:${component}`] = { extraArgs: { v } }));
            const stepName = component === "apiserver" ? "apiserver" : "scheduler";
            const r = await interrupted(name, async (json) => events(json).some((x) => x.done?.endsWith(`::k8s-n1-${stepName}`)), signal);
            assert.notEqual(r.status, 0, "pulumi up was not interrupted");
            await recover(name, signal === "SIGKILL");
            for (const m of [n1, n2, n3])
                assert.match(await lab.sshOk(m.address, `sudo -n systemctl cat ${unit}`), new RegExp(`--v=${v}\\b`), `${m.name}'s ${unit}`);
            await converged([n1, n2, n3]);
        };
        /** A scale-up 3 -> 4 interrupted right after n4 was added as a member (before it started); the next up starts it. */
        const interruptedScaleUp = async (name: string, signal: NodeJS.Signals) => {
            editConfig((c) => {
                c["k8scp:masters"] = [n1, n2, n3, n4].map((m) => ({ name: m.name, address: m.address }));
                c["k8scp:allowEvenMasters"] = true;
            });
            await interrupted(name, async (json) => events(json).some((x) => x.done?.endsWith("::k8s-n4-etcd-member")), signal);
            await recover(name, signal === "SIGKILL");
            await converged([n1, n2, n3, n4]);
        };

        try {
            await pulumi.ok(["stack", "init"]);
            await sub("SIGKILL after the first etcd member started and before the others: the next up forms the cluster", () =>
                interruptedBootstrap("bootstrap-kill", "SIGKILL"),
            );
            await sub("destroyed, to start again", async () => {
                await pulumi.ok(["destroy", "--yes", "--skip-preview"], 1_200_000);
                await cluster.nothingLeft();
            });
            await sub("SIGINT (Ctrl-C) after the first etcd member started and before the others: the next up forms the cluster", () =>
                interruptedBootstrap("bootstrap-int", "SIGINT"),
            );
            await sub("SIGKILL while the API servers roll out a flag, after n1's restarted: the next up finishes it", () =>
                interruptedRollout("apiservers-kill", "apiserver", "kube-apiserver", "3", "SIGKILL"),
            );
            await sub("SIGINT while the API servers roll out a flag, after n1's restarted: the next up finishes it", () =>
                interruptedRollout("apiservers-int", "apiserver", "kube-apiserver", "4", "SIGINT"),
            );
            await sub("SIGINT in a rolling scheduler flag change, after n1's scheduler restarted: the next up finishes it", () =>
                interruptedRollout("schedulers-int", "scheduler", "kube-scheduler", "3", "SIGINT"),
            );
            await sub("SIGKILL in a rolling scheduler flag change, after n1's scheduler restarted: the next up finishes it", () =>
                interruptedRollout("schedulers-kill", "scheduler", "kube-scheduler", "4", "SIGKILL"),
            );
            await sub("SIGKILL in a scale-up 3 -> 4 right after the new member was added: the next up starts it", () =>
                interruptedScaleUp("scale-up-kill", "SIGKILL"),
            );
            await sub("scaled down to 3 again", async () => {
                editConfig((c) => (c["k8scp:masters"] = [n1, n2, n3].map((m) => ({ name: m.name, address: m.address }))));
                await pulumi.ok(["up", "--yes", "--skip-preview"], 1_800_000);
                await converged([n1, n2, n3]);
            });
            await sub("SIGINT in a scale-up 3 -> 4 right after the new member was added: the next up starts it", () =>
                interruptedScaleUp("scale-up-int", "SIGINT"),
            );
        } finally {
            await step("pulumi destroy", async () => {
                // After a failed step the stack may still hold a killed run's lock.
                if (failed) await pulumi.run(["cancel", "--yes"], 60_000);
                const r = await pulumi.run(["destroy", "--yes", "--skip-preview"], 1_200_000);
                log(`pulumi destroy: exit ${r.status}`);
                assert.equal(r.status, 0, `pulumi destroy exited ${r.status}:\n${r.stdout}${r.stderr}`);
            });
        }
        await sub("destroy leaves nothing of ours on the masters", () => cluster.nothingLeft());
    },
);
