// etcd membership: how a member starts (a new cluster, or joining a running one with `member add`), removing
// members that left the config, and the quorum rule that guards both. Pure: scripts and checks only.
import { Member, etcdClientUrl, etcdPeerUrl, paths, pkiFile, serviceNames } from "./flags";
import { shellQuote } from "./scripts";
import { masterMarker } from "../plan/drift";

/** The sha256 of the snapshot a member was last restored from (written by the restore script, backup.ts). */
export const restoredMarker = "/var/lib/k8scp/etcd-restored";

/** Written by the join step, read by etcd.service (EnvironmentFile): ETCD_INITIAL_CLUSTER and its state. */
export const etcdInitialClusterEnv = "/var/lib/k8scp/etcd-initial-cluster.env";
/** Present once a member has data: etcd then ignores the initial-cluster settings. */
export const etcdMemberDir = `${paths.etcdData}/member`;

/** The majority of `n` members: what etcd needs to commit anything, membership changes included. */
export const quorum = (n: number) => Math.floor(n / 2) + 1;

const q = shellQuote;

/** `etcdctl` with this host's etcd client credentials (the server certificate is also a client one). */
export function etcdctl(endpoints: Member[]): string {
    const pki = (f: string) => pkiFile(serviceNames.etcd, f);
    return [
        `${paths.bin}/etcdctl`,
        `--endpoints=${endpoints.map(etcdClientUrl).join(",")}`,
        `--cacert=${pki("etcd-ca.pem")}`,
        `--cert=${pki("etcd-server.pem")}`,
        `--key=${pki("etcd-server-key.pem")}`,
        "--dial-timeout=3s",
        "--command-timeout=15s",
    ].join(" ");
}

/** Script lines (run as root): wait up to 120 s until every member answers `endpoint health`, else `failure` and exit 1. */
export const etcdHealthWaitLines = (members: Member[], failure: string) => `for i in $(seq 1 120); do
  if ${etcdctl(members)} endpoint health >/dev/null 2>&1; then break; fi
  [ "$i" -lt 120 ] || { echo ${q(`[k8scp] ${failure}`)} >&2; exit 1; }
  sleep 1
done`;

/** The first start's gate (run as root): waits for every member (etcdHealthWaitLines), then says so. */
export const renderEtcdHealthWait = (members: Member[]) =>
    `${etcdHealthWaitLines(members, "etcd not healthy after 120 s")}
echo "etcd: ${members.length} members healthy"`;

export const initialCluster = (members: Member[]) => members.map((m) => `${m.name}=${etcdPeerUrl(m)}`).join(",");

/** Script lines: `ctl` (etcdctl through `through`), and `$list`, the member list, retried for a minute or `failure`. */
const listMembers = (through: Member[], failure: string) => `ctl() { ${etcdctl(through)} "$@"; }
list=""
for _ in $(seq 1 30); do
  if list=$(ctl member list -w simple 2>/dev/null); then break; fi
  list=""; sleep 2
done
[ -n "$list" ] || { say ${q(failure)}; exit 1; }`;

const sayLine = `say() { echo "[k8scp] etcd@$(hostname): $*" >&2; }`;
const writeEnv = `write_env() { # initial-cluster state
  install -d -m 0755 -o root -g root /var/lib/k8scp
  printf 'ETCD_INITIAL_CLUSTER=%s\\nETCD_INITIAL_CLUSTER_STATE=%s\\n' "$1" "$2" > ${etcdInitialClusterEnv}.tmp
  chmod 0644 ${etcdInitialClusterEnv}.tmp && mv -f ${etcdInitialClusterEnv}.tmp ${etcdInitialClusterEnv}
}`;

/**
 * Before a member's first start (run as root): a member with data keeps it; otherwise either all `members`
 * bootstrap a new cluster together (`mode: "new"`), or this member is added to the running cluster through the
 * others with `etcdctl member add` and starts with the state `existing` (`mode: "join"`).
 */
export function renderJoinScript(a: { self: Member; members: Member[]; mode: "new" | "join" }): string {
    const others = a.members.filter((m) => m.name !== a.self.name);
    const peer = etcdPeerUrl(a.self);
    const head = `#!/bin/bash
# k8scp: etcd member ${a.self.name} (${a.mode === "new" ? "bootstraps a new cluster" : "joins the running cluster"})
set -euo pipefail
${sayLine}
${writeEnv}
if [ -d ${etcdMemberDir} ]; then
  say "has member data: already a member"
  [ -f ${etcdInitialClusterEnv} ] || write_env ${q(initialCluster(a.members))} existing
  exit 0
fi
`;
    if (a.mode === "new" || others.length === 0) {
        return `${head}write_env ${q(initialCluster(a.members))} new
say "bootstraps a new cluster: ${a.members.map((m) => m.name).join(" ")}"
`;
    }
    return `${head}[ -x ${paths.bin}/etcdctl ] || install -m 0755 -o root -g root ${paths.staging}/etcdctl ${paths.bin}/etcdctl
${listMembers(others, `cannot list the members through ${others.map((m) => m.name).join(", ")}; the cluster needs quorum to add one`)}
listed() { printf '%s\\n' "$list" | awk -F', ' -v p=${q(peer)} '$4 == p { f = 1 } END { exit !f }'; }
if ! listed; then
  # etcd refuses an add while a member that just started is not yet counted as healthy ("unhealthy cluster"):
  # try again for up to a minute, listing first, so that an add that went through is never repeated.
  for i in $(seq 1 30); do
    if out=$(ctl member add ${q(a.self.name)} --peer-urls=${q(peer)} 2>&1); then break; fi
    list=$(ctl member list -w simple 2>/dev/null || true)
    if listed; then break; fi
    [ "$i" -lt 30 ] || { say "member add failed: $out"; exit 1; }
    sleep 2
  done
  say "added to the cluster with member add"
  list=$(ctl member list -w simple)
else
  say "already added (not started yet)"
fi
cluster=$(printf '%s\\n' "$list" | awk -F', ' -v n=${q(a.self.name)} -v p=${q(peer)} 'NF >= 4 { nm = $3; if ($4 == p) nm = n; if (nm != "") printf "%s%s=%s", (c++ ? "," : ""), nm, $4 }')
write_env "$cluster" existing
say "joins as ${a.self.name}: $cluster"
`;
}

/**
 * Makes the running cluster's members exactly `members` by removing the others (run as root on a member that
 * stays), one `member remove` at a time; refuses to remove a majority at once. Adding is the join step's.
 */
export function renderMembershipScript(members: Member[]): string {
    const want = members.map(etcdPeerUrl).join(" ");
    return `#!/bin/bash
# k8scp: etcd members ${members.map((m) => m.name).join(" ")}
set -euo pipefail
${sayLine}
${listMembers(members, `cannot list the members: no quorum among ${members.map((m) => m.name).join(", ")}`)}
total=$(printf '%s\\n' "$list" | grep -c .)
stale=$(printf '%s\\n' "$list" | awk -F', ' -v want=${q(` ${want} `)} 'NF >= 4 && index(want, " " $4 " ") == 0 { print $1 "," ($3 == "" ? "(unstarted)" : $3) "," $4 }')
n=$(printf '%s' "$stale" | grep -c . || true)
if [ "$n" -ge $((total / 2 + 1)) ]; then
  say "refusing to remove $n of $total members at once (a majority): \${stale//$'\\n'/ }"; exit 1
fi
for s in $stale; do
  IFS=, read -r id nm peer <<<"$s"
  ctl member remove "$id" >/dev/null
  say "removed member $nm ($peer)"
done
say "members: $(ctl member list -w simple | awk -F', ' '{ printf "%s%s", (c++ ? " " : ""), ($3 == "" ? "(unstarted)" : $3) }')"
`;
}

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
