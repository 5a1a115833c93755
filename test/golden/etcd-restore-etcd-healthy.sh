#!/bin/bash
set -euo pipefail
say() { echo "[k8scp] etcd@$(hostname): $*" >&2; }
ctl() { /usr/local/bin/etcdctl --endpoints=https://10.213.0.11:2379,https://10.213.0.12:2379,https://10.213.0.13:2379 --cacert=/etc/kubernetes/etcd/pki/etcd-ca.pem --cert=/etc/kubernetes/etcd/pki/etcd-server.pem --key=/etc/kubernetes/etcd/pki/etcd-server-key.pem --dial-timeout=3s --command-timeout=15s "$@"; }
for i in $(seq 1 120); do
  if /usr/local/bin/etcdctl --endpoints=https://10.213.0.11:2379,https://10.213.0.12:2379,https://10.213.0.13:2379 --cacert=/etc/kubernetes/etcd/pki/etcd-ca.pem --cert=/etc/kubernetes/etcd/pki/etcd-server.pem --key=/etc/kubernetes/etcd/pki/etcd-server-key.pem --dial-timeout=3s --command-timeout=15s endpoint health >/dev/null 2>&1; then break; fi
  [ "$i" -lt 120 ] || { echo '[k8scp] etcd not healthy 120 s after the restore' >&2; exit 1; }
  sleep 1
done
if [ "$(cat /var/lib/k8scp/etcd-restored.verified 2>/dev/null || true)" = 916f3bb32c28bffbc2d88c4f77c1fb738c6dd15cb05e80dca0c48d067c1bfe3c ]; then say "3 members healthy"; exit 0; fi
status=$(ctl endpoint status -w json)
ids=$(printf '%s' "$status" | grep -o '"cluster_id":[0-9]*' | cut -d: -f2 | sort -u)
before=$(cat /var/lib/k8scp/etcd-restored.cluster-before 2>/dev/null || echo -)
want=$(cat /var/lib/k8scp/etcd-restored.revision 2>/dev/null || echo 0)
[ "$(printf '%s\n' "$ids" | grep -c .)" = 1 ] || { say "the members report different clusters (${ids//$'\n'/ }): the restore did not take; run pulumi up again"; exit 1; }
[ "$ids" != "$before" ] || { say "etcd is still the cluster from before the restore ($before); run pulumi up again"; exit 1; }
for r in $(printf '%s' "$status" | grep -o '"revision":[0-9]*' | cut -d: -f2); do
  [ "$r" -ge "$want" ] || { say "a member is at revision $r, before the snapshot's $want: the restore did not take; run pulumi up again"; exit 1; }
done
echo 916f3bb32c28bffbc2d88c4f77c1fb738c6dd15cb05e80dca0c48d067c1bfe3c > /var/lib/k8scp/etcd-restored.verified
say "3 members healthy on the restored data (cluster $ids, revision $want or later)"
