// etcd membership scripts: how a member starts (a new cluster, or joining a running one with `member add`), removing
// members that left the config, and the health wait. Pure: scripts only; the probe and the plans are plan/etcd.ts.
import { Member, etcdClientUrl, etcdPeerUrl, paths, pkiFile, serviceNames } from "./flags";
import { shellQuote } from "./scripts";
import { stateDir } from "./records";

/** The sha256 of the snapshot a member was last restored from (written by the restore script, backup.ts). */
export const restoredMarker = `${stateDir}/etcd-restored`;

/** Written by the join step, read by etcd.service (EnvironmentFile): ETCD_INITIAL_CLUSTER and its state. */
export const etcdInitialClusterEnv = `${stateDir}/etcd-initial-cluster.env`;
/** Present once a member has data: etcd then ignores the initial-cluster settings. */
export const etcdMemberDir = `${paths.etcdData}/member`;

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
  install -d -m 0755 -o root -g root ${stateDir}
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
