#!/bin/bash
# k8scp: restore etcd member n1 from the snapshot with sha256 916f3bb32c28bffbc2d88c4f77c1fb738c6dd15cb05e80dca0c48d067c1bfe3c
set -euo pipefail
say() { echo "[k8scp] etcd@$(hostname): $*" >&2; }
snap=/var/lib/k8scp/staging/etcd-restore.db
if [ "$(cat /var/lib/k8scp/etcd-restored 2>/dev/null || true)" = 916f3bb32c28bffbc2d88c4f77c1fb738c6dd15cb05e80dca0c48d067c1bfe3c ]; then
  rm -f "$snap"
  say "already restored from this snapshot: nothing changed"
  exit 0
fi
echo "916f3bb32c28bffbc2d88c4f77c1fb738c6dd15cb05e80dca0c48d067c1bfe3c  $snap" | sha256sum --check --status || { say "the snapshot copy on this host differs from the one configured; run pulumi up again"; exit 1; }
rev=$(/usr/local/bin/etcdutl snapshot status "$snap" -w json | grep -o '"revision":[0-9]*' | cut -d: -f2 | head -n 1)
# The cluster this member is in now (if it answers), to tell afterwards that the restored one replaced it.
before=$(/usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/etcd/pki/etcd-ca.pem --cert=/etc/kubernetes/etcd/pki/etcd-server.pem --key=/etc/kubernetes/etcd/pki/etcd-server-key.pem --dial-timeout=3s --command-timeout=15s --command-timeout=5s endpoint status -w json 2>/dev/null | grep -o '"cluster_id":[0-9]*' | cut -d: -f2 | head -n 1 || true)
install -d -m 0755 -o root -g root /var/lib/k8scp
systemctl stop etcd-snapshot.timer kube-scheduler kube-controller-manager kube-apiserver >/dev/null 2>&1 || true
systemctl stop etcd
if [ -e /var/lib/etcd ]; then
  aside=/var/lib/etcd.before-restore-$(date -u +%Y%m%dT%H%M%SZ)
  mv /var/lib/etcd "$aside"
  say "kept the previous data in $aside"
fi
tmp=/var/lib/etcd.restoring
rm -rf "$tmp"
/usr/local/bin/etcdutl snapshot restore "$snap" --name 'n1' \
  --initial-cluster 'n1=https://10.213.0.11:2380,n2=https://10.213.0.12:2380,n3=https://10.213.0.13:2380' --initial-cluster-token 'kubernetes-etcd-restore-916f3bb32c28bffb' \
  --initial-advertise-peer-urls 'https://10.213.0.11:2380' --data-dir "$tmp" >/dev/null 2>"$tmp.log" || { cat "$tmp.log" >&2; exit 1; }
rm -f "$tmp.log"
mv "$tmp" /var/lib/etcd
chown -R etcd:etcd /var/lib/etcd
chmod 0700 /var/lib/etcd
echo "$rev" > /var/lib/k8scp/etcd-restored.revision
echo "${before:--}" > /var/lib/k8scp/etcd-restored.cluster-before
rm -f /var/lib/k8scp/etcd-restored.verified "$snap"
echo 916f3bb32c28bffbc2d88c4f77c1fb738c6dd15cb05e80dca0c48d067c1bfe3c > /var/lib/k8scp/etcd-restored
say "restored from the snapshot (revision $rev); etcd starts once every member is restored"
