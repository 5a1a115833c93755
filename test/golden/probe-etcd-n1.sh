echo "k8scp-master $(cat /var/lib/k8scp/master 2>/dev/null || echo -)"
echo "etcd-restored $(cat /var/lib/k8scp/etcd-restored 2>/dev/null || echo -)"
if [ -d /var/lib/etcd/member ]; then echo "etcd-data present"; else echo "etcd-data absent"; fi
if [ -x /usr/local/bin/etcdctl ] && [ -f /etc/kubernetes/etcd/pki/etcd-server.pem ]; then
  members=$(/usr/local/bin/etcdctl --endpoints=https://10.213.0.11:2379 --cacert=/etc/kubernetes/etcd/pki/etcd-ca.pem --cert=/etc/kubernetes/etcd/pki/etcd-server.pem --key=/etc/kubernetes/etcd/pki/etcd-server-key.pem --dial-timeout=3s --command-timeout=15s --command-timeout=5s member list -w simple 2>/dev/null | awk -F', ' 'NF >= 4 { print "etcd-member " ($3 == "" ? "-" : $3) " " $4 " " ($5 == "" ? "-" : $5) }' || true)
  if [ -n "$members" ]; then echo "$members"; else
    echo "etcd-peer-members $(curl -s --http1.1 --max-time 5 --cacert /etc/kubernetes/etcd/pki/etcd-ca.pem --cert /etc/kubernetes/etcd/pki/etcd-peer.pem --key /etc/kubernetes/etcd/pki/etcd-peer-key.pem https://10.213.0.11:2380/members 2>/dev/null | tr -d '\n')"
  fi
fi
