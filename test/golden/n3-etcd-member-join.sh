#!/bin/bash
# k8scp: etcd member n3 (joins the running cluster)
set -euo pipefail
say() { echo "[k8scp] etcd@$(hostname): $*" >&2; }
write_env() { # initial-cluster state
  install -d -m 0755 -o root -g root /var/lib/k8scp
  printf 'ETCD_INITIAL_CLUSTER=%s\nETCD_INITIAL_CLUSTER_STATE=%s\n' "$1" "$2" > /var/lib/k8scp/etcd-initial-cluster.env.tmp
  chmod 0644 /var/lib/k8scp/etcd-initial-cluster.env.tmp && mv -f /var/lib/k8scp/etcd-initial-cluster.env.tmp /var/lib/k8scp/etcd-initial-cluster.env
}
if [ -d /var/lib/etcd/member ]; then
  say "has member data: already a member"
  [ -f /var/lib/k8scp/etcd-initial-cluster.env ] || write_env 'n1=https://10.213.0.11:2380,n2=https://10.213.0.12:2380,n3=https://10.213.0.13:2380' existing
  exit 0
fi
[ -x /usr/local/bin/etcdctl ] || install -m 0755 -o root -g root /var/lib/k8scp/staging/etcdctl /usr/local/bin/etcdctl
ctl() { /usr/local/bin/etcdctl --endpoints=https://10.213.0.11:2379,https://10.213.0.12:2379 --cacert=/etc/kubernetes/etcd/pki/etcd-ca.pem --cert=/etc/kubernetes/etcd/pki/etcd-server.pem --key=/etc/kubernetes/etcd/pki/etcd-server-key.pem --dial-timeout=3s --command-timeout=15s "$@"; }
list=""
for _ in $(seq 1 30); do
  if list=$(ctl member list -w simple 2>/dev/null); then break; fi
  list=""; sleep 2
done
[ -n "$list" ] || { say 'cannot list the members through n1, n2; the cluster needs quorum to add one'; exit 1; }
listed() { printf '%s\n' "$list" | awk -F', ' -v p='https://10.213.0.13:2380' '$4 == p { f = 1 } END { exit !f }'; }
if ! listed; then
  # etcd refuses an add while a member that just started is not yet counted as healthy ("unhealthy cluster"):
  # try again for up to a minute, listing first, so that an add that went through is never repeated.
  for i in $(seq 1 30); do
    if out=$(ctl member add 'n3' --peer-urls='https://10.213.0.13:2380' 2>&1); then break; fi
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
cluster=$(printf '%s\n' "$list" | awk -F', ' -v n='n3' -v p='https://10.213.0.13:2380' 'NF >= 4 { nm = $3; if ($4 == p) nm = n; if (nm != "") printf "%s%s=%s", (c++ ? "," : ""), nm, $4 }')
write_env "$cluster" existing
say "joins as n3: $cluster"
