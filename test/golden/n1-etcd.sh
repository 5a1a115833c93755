#!/bin/bash
# k8scp: etcd (managed by Pulumi; edits are overwritten)
# files revision: c228ac12918dbf018836b5805e027c2f197c8e343d2cbf3d0cf84972d728fdfd
set -euo pipefail
umask 022
action="${1:-create}"
svc='etcd'
user='etcd'
unit='/etc/systemd/system/etcd.service'
say() { echo "[k8scp] $svc@$(hostname): $*" >&2; }
revision=b5874b88d46300231483b5153158a97010c25b2c7fba3dee8ba51e1f055ff493
applied='/var/lib/k8scp/etcd.applied'
applied_same() { [ -f "$applied" ] && [ "$(cat "$applied")" = "$revision" ] && "$@"; }
applied_record() { install -d -m 0755 -o root -g root /var/lib/k8scp; echo "$revision" > "$applied"; }

if [ "$action" = delete ]; then
  systemctl disable --now "$svc.service" >/dev/null 2>&1 || true
  rm -f "$unit" "$applied"
  systemctl daemon-reload
  systemctl reset-failed "$svc.service" >/dev/null 2>&1 || true
  rm -f '/usr/local/bin/etcd' '/var/lib/k8scp/staging/etcd'
  rm -f '/usr/local/bin/etcdctl' '/var/lib/k8scp/staging/etcdctl'
  rm -f '/usr/local/bin/etcdutl' '/var/lib/k8scp/staging/etcdutl'
  rm -f /var/lib/k8scp/etcd.service.sums /var/lib/k8scp/etcd.service.sums.stat /var/lib/k8scp/etcd.service.repair
  rmdir --ignore-fail-on-non-empty '/etc/kubernetes' '/var/log/kubernetes' 2>/dev/null || true
  say "removed"
  exit 0
fi

put_file() { # path mode owner [text]; content (base64 unless "text") on stdin; atomic, never printed
  local dst="$1" mode="$2" owner="$3" tmp
  tmp=$(mktemp "$(dirname "$dst")/.k8scp.XXXXXX")
  if [ "${4:-}" = text ]; then cat >"$tmp"; else base64 -d >"$tmp"; fi
  chown "$owner:$owner" "$tmp"; chmod "$mode" "$tmp"
  mv -f "$tmp" "$dst"
}
put_bin() { # name sha256
  local dst="/usr/local/bin/$1" src="/var/lib/k8scp/staging/$1"
  if [ -f "$dst" ] && echo "$2  $dst" | sha256sum --check --status; then return 0; fi
  if ! echo "$2  $src" | sha256sum --check --status; then say "binary $1 missing or changed in /var/lib/k8scp/staging; run pulumi up again"; exit 3; fi
  install -m 0755 -o root -g root "$src" "$dst"
}



install -d -m 0755 -o root -g root '/etc/kubernetes'
put_bin 'etcd' 544c3620c3732f069dc88831e1e57f84d875998ddc3b050c2e5ea8a40b0bb36f
put_bin 'etcdctl' 19690c7febcc7c9e0d8b15a4a0156ee668b2cbfba3c28cc4848e04cb86b980db
put_bin 'etcdutl' 464df0d46daad96daace7c4c29ecf04d7f21ead4dd1d858ef0594eeda4f7d80e

put_file '/etc/systemd/system/etcd.service' 0600 'root' text <<'K8SCP_TEXT'
[Unit]
Description=etcd key-value store (Kubernetes backing store)
Documentation=https://kubernetes.io/docs/reference/command-line-tools-reference/
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
User=etcd
Group=etcd
EnvironmentFile=-/var/lib/k8scp/etcd-initial-cluster.env
ExecStart=/usr/local/bin/etcd \
  --advertise-client-urls=https://10.213.0.11:2379 \
  --auto-compaction-mode=periodic \
  --auto-compaction-retention=1h \
  --cert-file=/etc/kubernetes/etcd/pki/etcd-server.pem \
  --cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 \
  --client-cert-auth=true \
  --data-dir=/var/lib/etcd \
  --election-timeout=2500 \
  --heartbeat-interval=250 \
  --initial-advertise-peer-urls=https://10.213.0.11:2380 \
  --initial-cluster-token=kubernetes-etcd \
  --key-file=/etc/kubernetes/etcd/pki/etcd-server-key.pem \
  --listen-client-urls=https://10.213.0.11:2379,https://127.0.0.1:2379 \
  --listen-metrics-urls=http://127.0.0.1:2381 \
  --listen-peer-urls=https://10.213.0.11:2380 \
  --name=n1 \
  --peer-cert-file=/etc/kubernetes/etcd/pki/etcd-peer.pem \
  --peer-client-cert-auth=true \
  --peer-key-file=/etc/kubernetes/etcd/pki/etcd-peer-key.pem \
  --peer-trusted-ca-file=/etc/kubernetes/etcd/pki/etcd-ca.pem \
  --quota-backend-bytes=8589934592 \
  --trusted-ca-file=/etc/kubernetes/etcd/pki/etcd-ca.pem
Restart=always
RestartSec=5
LimitNOFILE=65536
TimeoutStartSec=120
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ReadWritePaths=/var/lib/etcd
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK
SystemCallArchitectures=native

[Install]
WantedBy=multi-user.target
K8SCP_TEXT
systemctl daemon-reload
systemctl enable --no-reload "$svc.service" >/dev/null 2>&1
install -d -m 0755 -o root -g root /var/lib/k8scp
{ sha256sum '/etc/systemd/system/etcd.service'; echo '544c3620c3732f069dc88831e1e57f84d875998ddc3b050c2e5ea8a40b0bb36f  /usr/local/bin/etcd'; echo '19690c7febcc7c9e0d8b15a4a0156ee668b2cbfba3c28cc4848e04cb86b980db  /usr/local/bin/etcdctl'; echo '464df0d46daad96daace7c4c29ecf04d7f21ead4dd1d858ef0594eeda4f7d80e  /usr/local/bin/etcdutl'; } > /var/lib/k8scp/etcd.service.sums.tmp && mv -f /var/lib/k8scp/etcd.service.sums.tmp /var/lib/k8scp/etcd.service.sums
stat -c '%n %s %.9Y %i' '/etc/systemd/system/etcd.service' '/usr/local/bin/etcd' '/usr/local/bin/etcdctl' '/usr/local/bin/etcdutl' > /var/lib/k8scp/etcd.service.sums.stat
chmod 0600 /var/lib/k8scp/etcd.service.sums
rm -f /var/lib/k8scp/etcd.service.repair

healthy() { systemctl is-active --quiet "$svc.service" && curl -fsS --max-time 3 -o /dev/null --cacert /etc/kubernetes/etcd/pki/etcd-ca.pem --cert /etc/kubernetes/etcd/pki/etcd-server.pem --key /etc/kubernetes/etcd/pki/etcd-server-key.pem https://10.213.0.11:2379/health 2>/dev/null; }
if applied_same healthy; then
  say "unchanged since it was applied and healthy at https://10.213.0.11:2379/health: not restarted"
  exit 0
fi
if [ "$action" = create ] && grep -qx ETCD_INITIAL_CLUSTER_STATE=new /var/lib/k8scp/etcd-initial-cluster.env; then
  systemctl restart --no-block "$svc.service"
  applied_record
  say "started (health is checked once every member runs)"
  exit 0
fi

last_log() { journalctl -u "$svc.service" -n 25 --no-pager -o cat >&2 || true; }
systemctl restart "$svc.service" || { say "did not start; last log lines:"; last_log; exit 1; }
deadline=$((SECONDS + 180))
until curl -fsS --max-time 3 -o /dev/null --cacert /etc/kubernetes/etcd/pki/etcd-ca.pem --cert /etc/kubernetes/etcd/pki/etcd-server.pem --key /etc/kubernetes/etcd/pki/etcd-server-key.pem https://10.213.0.11:2379/health 2>/dev/null; do
  if [ $SECONDS -ge $deadline ]; then
    say "not healthy after 180s at https://10.213.0.11:2379/health; last log lines:"
    last_log
    exit 1
  fi
  sleep 1
done
applied_record
say "healthy at https://10.213.0.11:2379/health (t=$(date +%s.%N))"
