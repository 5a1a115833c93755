for i in $(seq 1 120); do
  if /usr/local/bin/etcdctl --endpoints=https://10.213.0.11:2379,https://10.213.0.12:2379,https://10.213.0.13:2379 --cacert=/etc/kubernetes/etcd/pki/etcd-ca.pem --cert=/etc/kubernetes/etcd/pki/etcd-server.pem --key=/etc/kubernetes/etcd/pki/etcd-server-key.pem --dial-timeout=3s --command-timeout=15s endpoint health >/dev/null 2>&1; then break; fi
  [ "$i" -lt 120 ] || { echo '[k8scp] etcd not healthy after 120 s' >&2; exit 1; }
  sleep 1
done
echo "etcd: 3 members healthy"