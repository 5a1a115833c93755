set -u
# Never on a host that another master (this one renamed, or a new one on its address) has taken over.
owner=$(cat /var/lib/k8scp/master 2>/dev/null || true)
if [ -n "$owner" ] && [ "$owner" != 'n1' ]; then
  echo "[k8scp] $(hostname): this host is master $owner now, not n1: nothing removed" >&2
  exit 0
fi
for u in etcd-snapshot.timer etcd-snapshot.service kube-scheduler.service kube-controller-manager.service kube-apiserver.service etcd.service; do systemctl disable --now "$u" >/dev/null 2>&1 || true; done
rm -f '/etc/systemd/system/etcd-snapshot.timer' '/etc/systemd/system/etcd-snapshot.service' '/etc/systemd/system/kube-scheduler.service' '/etc/systemd/system/kube-controller-manager.service' '/etc/systemd/system/kube-apiserver.service' '/etc/systemd/system/etcd.service' '/usr/local/sbin/k8scp-etcd-snapshot' '/usr/local/bin/k8scp-backup' '/etc/k8scp-snapshot-upload.conf' '/etc/k8scp-snapshot-upload.credentials' '/etc/k8scp-snapshot-upload-ca.pem'
systemctl daemon-reload
rm -f '/usr/local/bin/etcd' '/usr/local/bin/etcdctl' '/usr/local/bin/etcdutl' '/usr/local/bin/kube-apiserver' '/usr/local/bin/kube-controller-manager' '/usr/local/bin/kube-scheduler'
rm -rf '/etc/kubernetes/etcd' '/etc/kubernetes/etcd/pki' '/var/lib/etcd' '/etc/kubernetes/kube-apiserver' '/etc/kubernetes/kube-apiserver/pki' '/var/log/kubernetes/kube-apiserver' '/etc/kubernetes/kube-controller-manager' '/etc/kubernetes/kube-controller-manager/pki' '/etc/kubernetes/kube-scheduler' /var/lib/k8scp
rmdir --ignore-fail-on-non-empty '/etc/kubernetes' '/var/log/kubernetes' 2>/dev/null || true
for user in 'etcd' 'kube-apiserver' 'kube-controller-manager' 'kube-scheduler'; do
  if id -u "$user" >/dev/null 2>&1; then pkill -KILL -u "$user" 2>/dev/null || true; userdel "$user" 2>/dev/null || true; fi
done
echo "[k8scp] $(hostname): control plane removed (kept: /var/lib/etcd-snapshots)" >&2
