// The warm measurements on a deployed 3-master stack: no-op runs, one flag's rolling restart, leader takeovers.
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { serviceNames } from "../components/render/flags";
import { Cluster, SERVICES, describeProbe, startReadyzProbe, writeAdminCerts } from "../test/lib/cluster";
import { Lab, sleep, until } from "../test/lib/lab";
import { PulumiCli } from "../test/lib/pulumi";
import { results, warmOf } from "./figures";
import { Mode, SETTLE_SECONDS, TAKEOVER, log, secs, step, work } from "./settings";

// ---------------------------------------------------------------------------------------------------------------
// Warm measurements on the deployed 3-master stack.
async function allActiveSince(cluster: Cluster): Promise<Record<string, string[]>> {
    return Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await cluster.activeSince(s)] as const)));
}
const restartsBetween = (a: Record<string, string[]>, b: Record<string, string[]>, only?: string) =>
    Object.keys(a)
        .filter((s) => !only || s === only)
        .reduce((n, s) => n + a[s].filter((x, i) => x !== b[s][i]).length, 0);

async function leaseNow(cluster: Cluster, lease: string): Promise<{ holder: string; acquired: number }> {
    const out = await cluster.kubectlOk([
        "-n",
        "kube-system",
        "get",
        "lease",
        lease,
        "-o",
        "jsonpath={.spec.holderIdentity} {.spec.acquireTime}",
    ]);
    const [holder, acquired] = out.trim().split(" ");
    return { holder: holder ?? "", acquired: Date.parse(acquired ?? "") };
}

async function takeover(lab: Lab, cluster: Cluster, lease: string, service: string, how: "graceful" | "kill -9") {
    const before = await until(`${lease} holder`, 60_000, async () => {
        const l = await leaseNow(cluster, lease);
        return lab.masters.some((m) => l.holder.startsWith(`${m.name}_`)) ? l : undefined;
    });
    const from = lab.masters.find((m) => before.holder.startsWith(`${m.name}_`))!;
    const cmd = how === "graceful" ? `sudo -n systemctl stop ${service}.service` : `sudo -n systemctl kill -s KILL ${service}.service`;
    await lab.sshOk(from.address, cmd);
    const t = Date.now();
    const after = await until(
        `a new ${lease} holder`,
        90_000,
        async () => {
            const l = await leaseNow(cluster, lease);
            return l.holder && l.holder !== before.holder && Number.isFinite(l.acquired) ? l : undefined;
        },
        200,
    );
    const seconds = (after.acquired - t) / 1000;
    const same = after.holder.startsWith(`${from.name}_`);
    const key = `${service} ${how}`;
    results.takeover[key] ??= { seconds: [], sameMaster: 0 };
    results.takeover[key].seconds.push(seconds);
    if (same) results.takeover[key].sameMaster++;
    log(`${key}: ${from.name} -> ${after.holder.split("_")[0]} in ${seconds.toFixed(1)} s${same ? " (the restarted leader itself)" : ""}`);
    // Restore: start the stopped unit (a killed one restarts by itself) and wait for every instance to be active.
    if (how === "graceful") await lab.sshOk(from.address, `sudo -n systemctl start ${service}.service`);
    await until(`${service} active on every master`, 60_000, async () => {
        const rs = await Promise.all(lab.masters.map((m) => lab.ssh(m.address, `systemctl is-active ${service}.service`)));
        return rs.every((x) => x.stdout.trim() === "active") ? true : undefined;
    });
    await sleep(3000);
}

/** The warm figures of `mode` (the plugin's mode `p` runs in); the leader takeovers only in the default mode. */
export async function warm3(lab: Lab, p: PulumiCli, cluster: Cluster, r: number, mode: Mode = "default") {
    const f = warmOf(mode);
    const tag = mode === "default" ? "" : `${mode} mode: `;
    const certDir = path.join(work, `probe-${r}${mode === "default" ? "" : `-${mode}`}`);
    writeAdminCerts(fs.readFileSync(cluster.adminKubeconfig, "utf8"), certDir);

    // No-op preview and up, on a settled cluster: both leaders elected, then a pause for the first minute's work of a
    // new control plane (informer syncs, leader elections, etcd's first compactions) that a no-op run later in a
    // cluster's life does not share its 2 cores with.
    await step(`settle: leaders, then ${SETTLE_SECONDS} s`, async () => {
        await cluster.leaders();
        await sleep(SETTLE_SECONDS * 1000);
    });
    const before = await allActiveSince(cluster);
    let t = Date.now();
    await step("no-op pulumi preview", () => p.ok(["preview", "--expect-no-changes"], 300_000));
    f.noop.preview.push(secs(Date.now() - t));
    t = Date.now();
    await step("no-op pulumi up", () => p.ok(["up", "--yes", "--skip-preview", "--expect-no-changes"], 300_000));
    f.noop.up.push(secs(Date.now() - t));
    // The same preview without the host checks (k8scp:preflight false; the drift probe runs either way): what they cost.
    const cfg0 = fs.readFileSync(p.configFile, "utf8");
    const c0 = YAML.parse(cfg0) as { config: Record<string, unknown> };
    c0.config["k8scp:preflight"] = false;
    fs.writeFileSync(p.configFile, YAML.stringify(c0));
    t = Date.now();
    await step("no-op pulumi preview, k8scp:preflight false", () => p.ok(["preview"], 300_000)).finally(() =>
        fs.writeFileSync(p.configFile, cfg0),
    );
    f.noop.previewNoPreflight.push(secs(Date.now() - t));
    const afterNoop = await allActiveSince(cluster);
    f.noop.restarts.push(restartsBetween(before, afterNoop));
    log(
        `${tag}no-op preview ${f.noop.preview.at(-1)!.toFixed(1)} s, up ${f.noop.up.at(-1)!.toFixed(1)} s, restarts ${f.noop.restarts.at(-1)}`,
    );

    // One scheduler flag: the rolling restart, probed via the VIP.
    const cfg = YAML.parse(fs.readFileSync(p.configFile, "utf8")) as { config: Record<string, unknown> };
    cfg.config["k8scp:scheduler"] = { extraArgs: { v: "3" } };
    fs.writeFileSync(p.configFile, YAML.stringify(cfg));
    const probe = startReadyzProbe(lab, lab.vip, certDir);
    await sleep(1000);
    t = Date.now();
    try {
        await step("pulumi up, one scheduler flag", () => p.ok(["up", "--yes", "--skip-preview"], 600_000));
    } finally {
        f.flag.seconds.push(secs(Date.now() - t));
        await sleep(1000);
    }
    const pr = await probe.stop();
    const afterFlag = await allActiveSince(cluster);
    f.flag.failedProbes.push(pr.failed);
    f.flag.probes.push(pr.total);
    f.flag.restartedSchedulers.push(restartsBetween(afterNoop, afterFlag, serviceNames.scheduler));
    f.flag.others.push(restartsBetween(afterNoop, afterFlag) - restartsBetween(afterNoop, afterFlag, serviceNames.scheduler));
    log(`${tag}flag rollout ${f.flag.seconds.at(-1)!.toFixed(1)} s; probes ${describeProbe(pr)}`);

    // Leader takeover.
    if (TAKEOVER && mode === "default")
        for (const how of ["graceful", "kill -9"] as const) {
            await step(`takeover, scheduler, ${how}`, () => takeover(lab, cluster, "kube-scheduler", serviceNames.scheduler, how));
            await step(`takeover, controller-manager, ${how}`, () =>
                takeover(lab, cluster, "kube-controller-manager", serviceNames.controllerManager, how),
            );
        }
}
