#!/bin/bash
# k8scp: kube-apiserver (managed by Pulumi; edits are overwritten)
# files revision: 2d0769f23f944839d1569180c453208b7b875c3a59d06e3d81cd4a5482e3ecb2
set -euo pipefail
umask 022
action="${1:-create}"
svc='kube-apiserver'
user='kube-apiserver'
unit='/etc/systemd/system/kube-apiserver.service'
say() { echo "[k8scp] $svc@$(hostname): $*" >&2; }
revision=ec8d4d7243992725fb01b8788b8f2db99e5661130450124efbfea624cf492917
applied='/var/lib/k8scp/kube-apiserver.applied'
applied_same() { [ -f "$applied" ] && [ "$(cat "$applied")" = "$revision" ] && "$@"; }
applied_record() { install -d -m 0755 -o root -g root /var/lib/k8scp; echo "$revision" > "$applied"; }

if [ "$action" = delete ]; then
  systemctl disable --now "$svc.service" >/dev/null 2>&1 || true
  rm -f "$unit" "$applied"
  systemctl daemon-reload
  systemctl reset-failed "$svc.service" >/dev/null 2>&1 || true
  rm -f '/usr/local/bin/kube-apiserver' '/var/lib/k8scp/staging/kube-apiserver'
  rm -f /var/lib/k8scp/kube-apiserver.service.sums /var/lib/k8scp/kube-apiserver.service.sums.stat /var/lib/k8scp/kube-apiserver.service.repair
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
put_bin 'kube-apiserver' 0cb59e702ce30bde70a6109aef1414ec1e820446b586639ac21b8b9227fba4ad

put_file '/etc/systemd/system/kube-apiserver.service' 0600 'root' text <<'K8SCP_TEXT'
[Unit]
Description=Kubernetes API server
Documentation=https://kubernetes.io/docs/reference/command-line-tools-reference/
After=network-online.target etcd.service
Wants=network-online.target etcd.service

[Service]
Type=notify
User=kube-apiserver
Group=kube-apiserver
ExecStart=/usr/local/bin/kube-apiserver \
  --admission-control-config-file=/etc/kubernetes/kube-apiserver/admission-config.yaml \
  --advertise-address=10.213.0.11 \
  --allow-privileged=true \
  --apiserver-count=3 \
  --audit-log-maxage=30 \
  --audit-log-maxbackup=10 \
  --audit-log-maxsize=100 \
  --audit-log-path=/var/log/kubernetes/kube-apiserver/audit.log \
  --audit-policy-file=/etc/kubernetes/kube-apiserver/audit-policy.yaml \
  --authentication-config=/etc/kubernetes/kube-apiserver/authentication-config.yaml \
  --authorization-mode=Node,RBAC \
  --bind-address=10.213.0.11 \
  --client-ca-file=/etc/kubernetes/kube-apiserver/pki/ca.pem \
  --enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,DefaultTolerationSeconds,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ResourceQuota,NodeRestriction,DenyServiceExternalIPs,EventRateLimit \
  --enable-aggregator-routing=true \
  --encryption-provider-config=/etc/kubernetes/kube-apiserver/encryption-config.yaml \
  --endpoint-reconciler-type=lease \
  --etcd-cafile=/etc/kubernetes/kube-apiserver/pki/etcd-ca.pem \
  --etcd-certfile=/etc/kubernetes/kube-apiserver/pki/apiserver-etcd-client.pem \
  --etcd-keyfile=/etc/kubernetes/kube-apiserver/pki/apiserver-etcd-client-key.pem \
  --etcd-servers=https://10.213.0.11:2379,https://10.213.0.12:2379,https://10.213.0.13:2379 \
  --event-ttl=168h \
  --kubelet-client-certificate=/etc/kubernetes/kube-apiserver/pki/apiserver-kubelet-client.pem \
  --kubelet-client-key=/etc/kubernetes/kube-apiserver/pki/apiserver-kubelet-client-key.pem \
  --profiling=false \
  --proxy-client-cert-file=/etc/kubernetes/kube-apiserver/pki/front-proxy-client.pem \
  --proxy-client-key-file=/etc/kubernetes/kube-apiserver/pki/front-proxy-client-key.pem \
  --requestheader-allowed-names=front-proxy-client \
  --requestheader-client-ca-file=/etc/kubernetes/kube-apiserver/pki/front-proxy-ca.pem \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --requestheader-group-headers=X-Remote-Group \
  --requestheader-username-headers=X-Remote-User \
  --secure-port=6443 \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file=/etc/kubernetes/kube-apiserver/pki/sa.pub \
  --service-account-signing-key-file=/etc/kubernetes/kube-apiserver/pki/sa.key \
  --service-cluster-ip-range=10.68.0.0/16 \
  --service-node-port-range=30000-32767 \
  --shutdown-delay-duration=5s \
  --shutdown-send-retry-after=true \
  --tls-cert-file=/etc/kubernetes/kube-apiserver/pki/apiserver.pem \
  --tls-cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 \
  --tls-min-version=VersionTLS12 \
  --tls-private-key-file=/etc/kubernetes/kube-apiserver/pki/apiserver-key.pem \
  --v=2
Restart=always
RestartSec=5
LimitNOFILE=65536
TimeoutStartSec=120
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ReadWritePaths=/var/log/kubernetes/kube-apiserver
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
{ sha256sum '/etc/systemd/system/kube-apiserver.service'; echo '0cb59e702ce30bde70a6109aef1414ec1e820446b586639ac21b8b9227fba4ad  /usr/local/bin/kube-apiserver'; } > /var/lib/k8scp/kube-apiserver.service.sums.tmp && mv -f /var/lib/k8scp/kube-apiserver.service.sums.tmp /var/lib/k8scp/kube-apiserver.service.sums
stat -c '%n %s %.9Y %i' '/etc/systemd/system/kube-apiserver.service' '/usr/local/bin/kube-apiserver' > /var/lib/k8scp/kube-apiserver.service.sums.stat
chmod 0600 /var/lib/k8scp/kube-apiserver.service.sums
rm -f /var/lib/k8scp/kube-apiserver.service.repair

healthy() { systemctl is-active --quiet "$svc.service" && curl -fsS --max-time 3 -o /dev/null --cacert /etc/kubernetes/kube-apiserver/pki/ca.pem https://10.213.0.11:6443/readyz 2>/dev/null; }
if applied_same healthy; then
  say "unchanged since it was applied and healthy at https://10.213.0.11:6443/readyz: not restarted"
  exit 0
fi
if [ "$action" = create ] && false; then
  systemctl restart --no-block "$svc.service"
  applied_record
  say "started (health is checked once every member runs)"
  exit 0
fi

last_log() { journalctl -u "$svc.service" -n 25 --no-pager -o cat >&2 || true; }
systemctl restart "$svc.service" || { say "did not start; last log lines:"; last_log; exit 1; }
deadline=$((SECONDS + 180))
until curl -fsS --max-time 3 -o /dev/null --cacert /etc/kubernetes/kube-apiserver/pki/ca.pem https://10.213.0.11:6443/readyz 2>/dev/null; do
  if [ $SECONDS -ge $deadline ]; then
    say "not healthy after 180s at https://10.213.0.11:6443/readyz; last log lines:"
    last_log
    exit 1
  fi
  sleep 1
done
applied_record
say "healthy at https://10.213.0.11:6443/readyz (t=$(date +%s.%N))"
