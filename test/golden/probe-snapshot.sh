echo "etcd-snapshot $(/usr/local/sbin/k8scp-etcd-snapshot list 2>/dev/null | head -n 1)"
echo "etcd-snapshot-uploaded $(/usr/local/sbin/k8scp-etcd-snapshot uploaded 2>/dev/null | head -n 1)"