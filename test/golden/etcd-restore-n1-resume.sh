#!/bin/bash
set -euo pipefail
say() { echo "[k8scp] $(hostname): $*" >&2; }
systemctl start kube-apiserver kube-controller-manager kube-scheduler
systemctl start etcd-snapshot.timer >/dev/null 2>&1 || true
deadline=$((SECONDS + 180))
until curl -fsS --max-time 3 -o /dev/null --cacert /etc/kubernetes/kube-apiserver/pki/ca.pem https://10.213.0.11:6443/readyz 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || { say "kube-apiserver not ready 180 s after the restore"; journalctl -u kube-apiserver -n 25 --no-pager -o cat >&2; exit 1; }
  sleep 1
done
say "control plane back on the restored data"
