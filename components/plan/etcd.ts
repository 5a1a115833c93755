// etcd membership from what the masters report: the read-only probe (render and parse) and the plans made from it,
// who joins, who is removed, and the quorum rule that guards both. Pure.
import { Member, etcdPeerUrl, paths, pkiFile, serviceNames } from "../render/flags";
import { etcdMemberDir, etcdctl, restoredMarker } from "../render/etcd";
import { masterMarker } from "../render/records";

/** The majority of `n` members: what etcd needs to commit anything, membership changes included. */
export const quorum = (n: number) => Math.floor(n / 2) + 1;

/**
 * Probe lines (run as root on a master): whether it has member data, and the members it knows of. Without quorum
 * (`member list` is a linearizable read in etcd 3.5), as after a first start that was interrupted when only some
 * members had started, the member's own list from its peer endpoint (`/members`, JSON; HTTP/1.1: etcd's peer
 * listener resets HTTP/2 streams from curl).
 */
export function renderEtcdProbe(self: Member): string {
    const pki = (f: string) => pkiFile(serviceNames.etcd, f);
    return `echo "k8scp-master $(cat ${masterMarker} 2>/dev/null || echo -)"
echo "etcd-restored $(cat ${restoredMarker} 2>/dev/null || echo -)"
if [ -d ${etcdMemberDir} ]; then echo "etcd-data present"; else echo "etcd-data absent"; fi
if [ -x ${paths.bin}/etcdctl ] && [ -f ${pkiFile(serviceNames.etcd, "etcd-server.pem")} ]; then
  members=$(${etcdctl([self])} --command-timeout=5s member list -w simple 2>/dev/null | awk -F', ' 'NF >= 4 { print "etcd-member " ($3 == "" ? "-" : $3) " " $4 " " ($5 == "" ? "-" : $5) }' || true)
  if [ -n "$members" ]; then echo "$members"; else
    echo "etcd-peer-members $(curl -s --http1.1 --max-time 5 --cacert ${pki("etcd-ca.pem")} --cert ${pki("etcd-peer.pem")} --key ${pki("etcd-peer-key.pem")} ${etcdPeerUrl(self)}/members 2>/dev/null | tr -d '\\n')"
  fi
fi
`;
}

export interface ObservedEtcd {
    hasData: boolean;
    /**
     * The members this master's etcd reports (name "-" for one added but not started; `published` once it has
     * started and published its client URLs); empty when it cannot say.
     */
    members: { name: string; peerUrl: string; published?: boolean }[];
    /** The sha256 of the snapshot this member was last restored from ("" when never). */
    restored: string;
    /** The master this host belongs to, as its host step recorded it ("" when none). */
    master: string;
}

export function parseEtcdProbe(out: string): ObservedEtcd {
    const lines = out.split("\n").map((l) => l.trim());
    return {
        hasData: lines.includes("etcd-data present"),
        restored: /^etcd-restored ([0-9a-f]{64})$/m.exec(out)?.[1] ?? "",
        master: /^k8scp-master ([a-z0-9][a-z0-9-]*)$/m.exec(out)?.[1] ?? "",
        members: membersFromList(lines) ?? membersFromPeer(/^etcd-peer-members (.+)$/m.exec(out)?.[1]) ?? [],
    };
}

const membersFromList = (lines: string[]): ObservedEtcd["members"] | undefined => {
    const found = lines
        .map((l) => /^etcd-member (\S+) (\S+)(?: (\S+))?$/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => ({ name: m[1], peerUrl: m[2], ...(m[3] === undefined ? {} : { published: m[3] !== "-" }) }));
    return found.length ? found : undefined;
};

/** etcd's peer `/members` JSON: `[{"id":…,"name":"n1","peerURLs":[…],"clientURLs":[…]}]` (no client URLs before publishing). */
function membersFromPeer(json: string | undefined): ObservedEtcd["members"] | undefined {
    if (!json) return undefined;
    let list: unknown;
    try {
        list = JSON.parse(json);
    } catch {
        return undefined;
    }
    if (!Array.isArray(list)) return undefined;
    return list.flatMap((m: { name?: unknown; peerURLs?: unknown; clientURLs?: unknown }) =>
        Array.isArray(m.peerURLs) && typeof m.peerURLs[0] === "string"
            ? [
                  {
                      name: typeof m.name === "string" && m.name !== "" ? m.name : "-",
                      peerUrl: m.peerURLs[0],
                      published: Array.isArray(m.clientURLs) && m.clientURLs.length > 0,
                  },
              ]
            : [],
    );
}

/**
 * What a run does to the etcd membership, from what the masters report and the config: the members it removes
 * (in the cluster, not among the active masters) and the masters that join (no data while a cluster exists).
 * A removal of a majority at once is a problem: etcd would lose quorum halfway, or the config is a mistake.
 */
export function planMembership(
    observed: Record<string, ObservedEtcd>,
    active: Member[],
    configKeyOf: (name: string) => string,
    mastersKey: string,
): { clusterExists: boolean; joining: string[]; removing: { name: string; peerUrl: string }[]; problems: string[] } {
    const current = Object.values(observed).find((o) => o.members.length > 0)?.members ?? [];
    const clusterExists = current.length > 0 || Object.values(observed).some((o) => o.hasData);
    const wanted = new Set(active.map(etcdPeerUrl));
    const removing = current.filter((m) => !wanted.has(m.peerUrl));
    // A master without data that the cluster lists under its own name but that never started (no client URLs) is one
    // of the members the cluster was bootstrapped with, whose first start was interrupted: it starts as they did,
    // with the same initial cluster, and needs no `member add` (which needs a quorum that may not exist yet).
    const bootstrapMember = (m: Member) => current.some((c) => c.peerUrl === etcdPeerUrl(m) && c.name === m.name && c.published === false);
    const joining = clusterExists
        ? active.filter((m) => observed[m.name] && !observed[m.name].hasData && !bootstrapMember(m)).map((m) => m.name)
        : [];
    const problems: string[] = [];
    if (current.length > 0 && removing.length >= quorum(current.length)) {
        problems.push(
            `${mastersKey}: this change removes ${removing.length} of the ${current.length} etcd members at once ` +
                `(${removing.map((m) => m.name).join(", ")}), a majority, and etcd would lose quorum; remove at most ` +
                `${quorum(current.length) - 1} per pulumi up`,
        );
    }
    problems.push(...renameProblems(observed, current, active, configKeyOf));
    problems.push(...wipedProblems(observed, current, active, configKeyOf));
    for (const m of removing) {
        const a = active.find((x) => x.name === m.name);
        if (a)
            problems.push(
                `${configKeyOf(a.name)}: '${a.name}' is an etcd member at ${m.peerUrl}, not ${etcdPeerUrl(a)}; a master cannot move, add it under a new name`,
            );
    }
    return { clusterExists, joining, removing, problems };
}

/**
 * A master whose host was wiped or replaced while the cluster runs on: the cluster lists it as a started member, but
 * the host has no etcd data and no record of the control plane. The stack's state says every step of it ran, so a
 * run would not redeploy it in full (a step whose inputs did not change does not run). Refused, with the way back:
 * the member removed (gone), then added again as a new one.
 */
function wipedProblems(
    observed: Record<string, ObservedEtcd>,
    current: { name: string; peerUrl: string; published?: boolean }[],
    active: Member[],
    configKeyOf: (name: string) => string,
): string[] {
    return active.flatMap((a) => {
        const o = observed[a.name];
        if (!o || o.hasData || o.master) return [];
        if (!current.some((m) => m.name === a.name && m.peerUrl === etcdPeerUrl(a) && m.published === true)) return [];
        return [
            `${configKeyOf(a.name)}: ${a.name} (${a.address}) is a started member of the running etcd cluster, but its host has no ` +
                `trace of the control plane (no etcd data, no ${masterMarker}): it was wiped or replaced. The stack's state says ` +
                `it is deployed, so a run would not redeploy it in full. Set gone: true on it and pulumi up (its member is ` +
                `removed through the others), then remove gone: true and pulumi up again: it joins as a new member`,
        ];
    });
}

/**
 * A master renamed in place (same address, another name) is refused: its resources are named after it, so Pulumi
 * would deploy the new name and then delete the old one, whose delete cleans the host (services stopped, etcd's
 * data removed). The old name is what the host records (its host step) or what etcd calls the member at its address.
 */
function renameProblems(
    observed: Record<string, ObservedEtcd>,
    current: { name: string; peerUrl: string }[],
    active: Member[],
    configKeyOf: (name: string) => string,
): string[] {
    return active.flatMap((a) => {
        const recorded = observed[a.name]?.master;
        const member = current.find((m) => m.peerUrl === etcdPeerUrl(a) && m.name !== "-")?.name;
        const was = [recorded, member].find((n) => n && n !== a.name);
        if (!was) return [];
        return [
            `${configKeyOf(a.name)}: ${a.address} is master '${was}' (as its host and etcd member record it), here named '${a.name}'; ` +
                `a rename in place would deploy '${a.name}' and then run the removal of '${was}' on the same host. Keep the name '${was}', ` +
                `or replace the master: add '${a.name}' on a new address, pulumi up, then remove '${was}'. If the host was ` +
                `rebuilt, remove ${masterMarker} on it`,
        ];
    });
}

/**
 * With `etcdRestoreFrom` still set once its restore is done: a master without data that was not restored (one added
 * since) would be restored alone into a cluster of its own. Refused: the key comes out before masters are added.
 */
export function planRestore(observed: Record<string, ObservedEtcd>, active: Member[], sha256: string, restoreKey: string): string[] {
    const done = active.filter((m) => observed[m.name]?.restored === sha256);
    const pendingWithData = active.some((m) => observed[m.name]?.hasData && observed[m.name].restored !== sha256);
    const added = active.filter((m) => observed[m.name] && !observed[m.name].hasData && observed[m.name].restored !== sha256);
    if (done.length === 0 || pendingWithData || added.length === 0) return [];
    return [
        `${restoreKey}: the restore from this snapshot is done on ${done.map((m) => m.name).join(", ")}; ` +
            `${added.map((m) => m.name).join(", ")} would be restored alone instead of joining. Remove ${restoreKey} ` +
            `(pulumi config rm), pulumi up, then add the master`,
    ];
}
