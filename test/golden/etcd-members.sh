#!/bin/bash
# k8scp: etcd members n1 n2 n3
set -euo pipefail
say() { echo "[k8scp] etcd@$(hostname): $*" >&2; }
ctl() { /usr/local/bin/etcdctl --endpoints=https://10.213.0.11:2379,https://10.213.0.12:2379,https://10.213.0.13:2379 --cacert=/etc/kubernetes/etcd/pki/etcd-ca.pem --cert=/etc/kubernetes/etcd/pki/etcd-server.pem --key=/etc/kubernetes/etcd/pki/etcd-server-key.pem --dial-timeout=3s --command-timeout=15s "$@"; }
list=""
for _ in $(seq 1 30); do
  if list=$(ctl member list -w simple 2>/dev/null); then break; fi
  list=""; sleep 2
done
[ -n "$list" ] || { say 'cannot list the members: no quorum among n1, n2, n3'; exit 1; }
total=$(printf '%s\n' "$list" | grep -c .)
stale=$(printf '%s\n' "$list" | awk -F', ' -v want=' https://10.213.0.11:2380 https://10.213.0.12:2380 https://10.213.0.13:2380 ' 'NF >= 4 && index(want, " " $4 " ") == 0 { print $1 "," ($3 == "" ? "(unstarted)" : $3) "," $4 }')
n=$(printf '%s' "$stale" | grep -c . || true)
if [ "$n" -ge $((total / 2 + 1)) ]; then
  say "refusing to remove $n of $total members at once (a majority): ${stale//$'\n'/ }"; exit 1
fi
for s in $stale; do
  IFS=, read -r id nm peer <<<"$s"
  ctl member remove "$id" >/dev/null
  say "removed member $nm ($peer)"
done
say "members: $(ctl member list -w simple | awk -F', ' '{ printf "%s%s", (c++ ? " " : ""), ($3 == "" ? "(unstarted)" : $3) }')"
