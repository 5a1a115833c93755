// Kubernetes version changes: what each master runs (the drift probe asks its kube-apiserver) against
// k8scp:kubernetesVersion, checked with the version skew policy before anything changes. Pure.
import * as semver from "semver";
import { paths, serviceNames } from "./flags";

/** The minor release of a Kubernetes version ("1.34.4" or "v1.34.4" -> 34), or undefined when it is not one. */
export function kubernetesMinor(version: string): number | undefined {
    return semver.coerce(version)?.minor;
}

/** The probe line: `kube-version <what kube-apiserver --version printed>` (empty where none is installed). */
export const renderVersionProbe = (): string => `echo "kube-version $(${paths.bin}/${serviceNames.apiserver} --version 2>/dev/null)"\n`;

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
