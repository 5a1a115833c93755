#!/bin/bash
# k8scp: etcd member n1 (bootstraps a new cluster)
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
write_env 'n1=https://10.213.0.11:2380,n2=https://10.213.0.12:2380,n3=https://10.213.0.13:2380' new
say "bootstraps a new cluster: n1 n2 n3"
