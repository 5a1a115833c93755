// Kubernetes version changes: what each master runs (the drift probe asks its kube-apiserver) against
// k8scp:kubernetesVersion, checked with the version skew policy before anything changes. Pure.
import * as semver from "semver";
import { installedBinary, recordFiles, statFormat } from "../render/records";
import { serviceNames } from "../render/flags";

/**
 * The probe: `kube-version <what kube-apiserver --version prints>` (empty where none is installed). With `known`
 * (the local binary's sha256 and version), a host whose kube-apiserver is the one its service step installed (the
 * recorded sha256, and its name, size, mtime and inode unchanged since) is reported without starting it: that costs
 * about 0.2 s of CPU a master, on every run.
 */
export function renderVersionProbe(known?: { sha256: string; version: string }): string {
    const bin = installedBinary(serviceNames.apiserver);
    const ask = `echo "kube-version $(${bin} --version 2>/dev/null)"`;
    if (!known) return `${ask}\n`;
    const r = recordFiles(serviceNames.apiserver, "service");
    return (
        [
            `b=${bin} sum="" st=""`,
            `[ -f ${r.sums} ] && while read -r s n; do [ "$n" = "$b" ] && sum=$s; done < ${r.sums}`,
            `[ -f ${r.sums}.stat ] && while read -r l; do [ "\${l%% *}" = "$b" ] && st=$l; done < ${r.sums}.stat`,
            `if [ "$sum" = ${known.sha256} ] && [ -n "$st" ] && [ "$(stat -c '${statFormat}' "$b" 2>/dev/null)" = "$st" ]; then`,
            `  echo "kube-version Kubernetes v${known.version.replace(/^v/, "")}"`,
            `else`,
            `  ${ask}`,
            `fi`,
        ].join("\n") + "\n"
    );
}

/** The version a probe's output reports (`v1.34.4`), or undefined where no kube-apiserver is installed. */
export function parseVersionProbe(out: string): string | undefined {
    const v = /^kube-version Kubernetes (v\S+)\s*$/m.exec(out)?.[1];
    return v && semver.valid(v) ? v : undefined;
}

export interface VersionPlan {
    /** The masters whose kube-apiserver, kube-controller-manager and kube-scheduler change version. */
    changing: { name: string; from: string }[];
    problems: string[];
}

/**
 * Checks a change of `kubernetesVersion` (`want`, e.g. "1.34.4") against what each master runs (by name; masters
 * without Kubernetes yet are left out). The version skew policy allows one minor release at a time, upward; a minor
 * downgrade is refused (the API servers may already have written objects in the newer release's storage versions),
 * a patch downgrade within the minor is allowed.
 */
export function planVersionChange(running: Record<string, string | undefined>, want: string, key: string): VersionPlan {
    const to = semver.parse(semver.coerce(want)?.version ?? want);
    const changing: VersionPlan["changing"] = [];
    const problems: string[] = [];
    if (!to) return { changing, problems: [`${key}: '${want}' is not a version like 1.34.4`] };
    for (const [name, v] of Object.entries(running)) {
        const from = v ? semver.parse(v) : null;
        if (!from || semver.eq(from, to)) continue;
        changing.push({ name, from: `v${from.version}` });
        const next = `${from.major}.${from.minor + 1}`;
        if (to.major !== from.major || to.minor > from.minor + 1)
            problems.push(
                `${key}: ${name} runs v${from.version} and v${to.version} is more than one minor release ahead; the version skew ` +
                    `policy upgrades one minor release at a time: set ${next}.x first, apply, then v${to.version}`,
            );
        else if (to.minor < from.minor)
            problems.push(
                `${key}: ${name} runs v${from.version}; going back to v${to.version}, an older minor release, is not supported ` +
                    `(objects may already be stored in the newer release's versions): keep v${from.major}.${from.minor}.x, or restore ` +
                    `an etcd snapshot taken before the upgrade (k8scp:etcdRestoreFrom) together with the older binaries`,
            );
    }
    return { changing, problems };
}

/** The preview's line about an upgrade: what changes and in which order. */
export function describeVersionChange(plan: VersionPlan, want: string): string | undefined {
    if (!plan.changing.length) return undefined;
    const from = [...new Set(plan.changing.map((c) => c.from))].join(", ");
    return (
        `Kubernetes ${from} -> v${want.replace(/^v/, "")} on ${plan.changing.map((c) => c.name).join(", ")}: every kube-apiserver ` +
        `first, one master at a time, each waiting for /readyz; then the kube-controller-managers; then the kube-schedulers`
    );
}
