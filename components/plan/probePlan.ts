// Day-2 plans from what the read-only probe found on the masters (pure): etcd membership (who joins, who is
// removed, and whether that keeps quorum), the version change (the skew policy), a pending restore's take-over of
// etcd's drift, and the newest snapshot on each master. The probe's text is parsed by the parse half of each
// render/parse pair in this folder (etcd.ts, version.ts, drift.ts, snapshot.ts).
import { parseSnapshotProbe, parseUploadProbe } from "./snapshot";
import { ClusterConfig, configKey } from "../config";
import { ObservedService } from "./drift";
import { ObservedEtcd, parseEtcdProbe, planMembership, planRestore } from "./etcd";
import { serviceNames } from "../render/flags";
import { describeVersionChange, parseVersionProbe, planVersionChange } from "./version";

export interface ProbePlan {
    /** What each master has, by master and unit; an etcd the pending restore puts right counts as unchanged. */
    observed: Record<string, Record<string, ObservedService>>;
    /** Masters whose etcd joins the running cluster with `member add`, in rolling order. */
    etcdJoining: string[];
    /** The newest etcd snapshot on each master ("none yet" when there is none). */
    snapshots: Record<string, string>;
    /** Each master's last upload to the bucket (`<time> <key>`, "none yet" when there is none). */
    uploaded: Record<string, string>;
    /** What this run will do that a reviewer should read in the preview, one line each. */
    infos: string[];
    /** Why this run must not go on, one line each (a ConfigError's problems). */
    problems: string[];
}

/**
 * Plans from the probe's raw output per master (`raw`) and the drift it parsed (`observed`). `restoreSha256`: the
 * snapshot `etcdRestoreFrom` names, when set and checked.
 */
export function planFromProbe(
    config: ClusterConfig,
    raw: Record<string, string>,
    observed: Record<string, Record<string, ObservedService>>,
    restoreSha256?: string,
): ProbePlan {
    const active = config.masters.filter((m) => !m.gone);
    const etcd: Record<string, ObservedEtcd> = Object.fromEntries(Object.entries(raw).map(([n, out]) => [n, parseEtcdProbe(out)]));
    const membership = planMembership(
        etcd,
        active,
        (n) => configKey(["masters", config.masters.findIndex((m) => m.name === n)]),
        configKey(["masters"]),
    );
    // A version change: one minor release at a time, upward (the version skew policy), reviewed in the preview.
    const versions = planVersionChange(
        Object.fromEntries(Object.entries(raw).map(([n, out]) => [n, parseVersionProbe(out)])),
        config.kubernetesVersion,
        configKey(["kubernetesVersion"]),
    );
    const restore = restoreSha256 !== undefined ? planRestore(etcd, active, restoreSha256, configKey(["etcdRestoreFrom"])) : [];
    const snapshots = Object.fromEntries(Object.entries(raw).map(([n, out]) => [n, parseSnapshotProbe(out) ?? "none yet"]));
    const uploaded = Object.fromEntries(Object.entries(raw).map(([n, out]) => [n, parseUploadProbe(out) ?? "none yet"]));
    const problems = [...membership.problems, ...versions.problems, ...restore];
    if (problems.length) return { observed, etcdJoining: [], snapshots, uploaded, infos: [], problems };

    const infos: string[] = [];
    const upgrade = describeVersionChange(versions, config.kubernetesVersion);
    if (upgrade) infos.push(upgrade);
    for (const m of membership.removing)
        infos.push(`etcd member ${m.name} (${m.peerUrl}) left the config: it is removed through ${active[0].name}`);
    if (membership.joining.length)
        infos.push(`joining the running etcd cluster with member add, one at a time: ${membership.joining.join(", ")}`);
    // A restore still to do takes over etcd: it is stopped or its data is gone, and the restore starts it.
    const repaired = { ...observed };
    if (restoreSha256 !== undefined && active.some((m) => etcd[m.name]?.restored !== restoreSha256)) {
        for (const m of active) {
            const svc = observed[m.name]?.[serviceNames.etcd];
            if (svc?.service.state !== "drift") continue;
            infos.push(`etcd on ${m.name} differs from what was applied (${svc.service.detail}): the restore puts it right`);
            repaired[m.name] = {
                ...observed[m.name],
                [serviceNames.etcd]: { ...svc, service: { ...svc.service, state: "ok", detail: "" } },
            };
        }
    }
    return { observed: repaired, etcdJoining: membership.joining, snapshots, uploaded, infos, problems };
}
