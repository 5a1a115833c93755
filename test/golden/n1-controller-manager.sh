#!/bin/bash
# k8scp: kube-controller-manager (managed by Pulumi; edits are overwritten)
# files revision: 800bef3747e4ced2c8283f1b5439db07ffb0364993d2ea129089c737857a3ad1
set -euo pipefail
umask 022
action="${1:-create}"
svc='kube-controller-manager'
user='kube-controller-manager'
unit='/etc/systemd/system/kube-controller-manager.service'
say() { echo "[k8scp] $svc@$(hostname): $*" >&2; }
revision=d6631049cf8822047820641388d6326ccecf9691b68403d62fad9973b31d8940
applied='/var/lib/k8scp/kube-controller-manager.applied'
applied_same() { [ -f "$applied" ] && [ "$(cat "$applied")" = "$revision" ] && "$@"; }
applied_record() { install -d -m 0755 -o root -g root /var/lib/k8scp; echo "$revision" > "$applied"; }

if [ "$action" = delete ]; then
  systemctl disable --now "$svc.service" >/dev/null 2>&1 || true
  rm -f "$unit" "$applied"
  systemctl daemon-reload
  systemctl reset-failed "$svc.service" >/dev/null 2>&1 || true
  rm -f '/usr/local/bin/kube-controller-manager' '/var/lib/k8scp/staging/kube-controller-manager'
  rm -f /var/lib/k8scp/kube-controller-manager.service.sums /var/lib/k8scp/kube-controller-manager.service.sums.stat /var/lib/k8scp/kube-controller-manager.service.repair
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
put_bin 'kube-controller-manager' bdcc3e2725a33ca8b32bf24a41e77933846f3ef4eb96253684dc3152d876f4c4

put_file '/etc/systemd/system/kube-controller-manager.service' 0600 'root' text <<'K8SCP_TEXT'
[Unit]
Description=Kubernetes controller manager
Documentation=https://kubernetes.io/docs/reference/command-line-tools-reference/
After=network-online.target kube-apiserver.service
Wants=network-online.target kube-apiserver.service

[Service]
Type=simple
User=kube-controller-manager
Group=kube-controller-manager
ExecStart=/usr/local/bin/kube-controller-manager \
  --allocate-node-cidrs=true \
  --authentication-kubeconfig=/etc/kubernetes/kube-controller-manager/kubeconfig \
  --authorization-kubeconfig=/etc/kubernetes/kube-controller-manager/kubeconfig \
  --bind-address=10.213.0.11 \
  --client-ca-file=/etc/kubernetes/kube-controller-manager/pki/ca.pem \
  --cluster-cidr=172.20.0.0/16 \
  --cluster-name=kubernetes \
  --cluster-signing-cert-file=/etc/kubernetes/kube-controller-manager/pki/ca.pem \
  --cluster-signing-key-file=/etc/kubernetes/kube-controller-manager/pki/ca-key.pem \
  "--controllers=*,bootstrapsigner,tokencleaner" \
  --kubeconfig=/etc/kubernetes/kube-controller-manager/kubeconfig \
  --leader-elect=true \
  --node-cidr-mask-size=24 \
  --profiling=false \
  --requestheader-client-ca-file=/etc/kubernetes/kube-controller-manager/pki/front-proxy-ca.pem \
  --root-ca-file=/etc/kubernetes/kube-controller-manager/pki/ca.pem \
  --secure-port=10257 \
  --service-account-private-key-file=/etc/kubernetes/kube-controller-manager/pki/sa.key \
  --service-cluster-ip-range=10.68.0.0/16 \
  --terminated-pod-gc-threshold=12500 \
  --tls-cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 \
  --tls-min-version=VersionTLS12 \
  --use-service-account-credentials=true \
  --v=2
Restart=always
RestartSec=5
LimitNOFILE=65536
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
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
{ sha256sum '/etc/systemd/system/kube-controller-manager.service'; echo 'bdcc3e2725a33ca8b32bf24a41e77933846f3ef4eb96253684dc3152d876f4c4  /usr/local/bin/kube-controller-manager'; } > /var/lib/k8scp/kube-controller-manager.service.sums.tmp && mv -f /var/lib/k8scp/kube-controller-manager.service.sums.tmp /var/lib/k8scp/kube-controller-manager.service.sums
stat -c '%n %s %.9Y %i' '/etc/systemd/system/kube-controller-manager.service' '/usr/local/bin/kube-controller-manager' > /var/lib/k8scp/kube-controller-manager.service.sums.stat
chmod 0600 /var/lib/k8scp/kube-controller-manager.service.sums
rm -f /var/lib/k8scp/kube-controller-manager.service.repair

healthy() { systemctl is-active --quiet "$svc.service" && curl -fsS --max-time 3 -o /dev/null --insecure https://10.213.0.11:10257/healthz 2>/dev/null; }
if applied_same healthy; then
  say "unchanged since it was applied and healthy at https://10.213.0.11:10257/healthz: not restarted"
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
until curl -fsS --max-time 3 -o /dev/null --insecure https://10.213.0.11:10257/healthz 2>/dev/null; do
  if [ $SECONDS -ge $deadline ]; then
    say "not healthy after 180s at https://10.213.0.11:10257/healthz; last log lines:"
    last_log
    exit 1
  fi
  sleep 1
done
applied_record
say "healthy at https://10.213.0.11:10257/healthz (t=$(date +%s.%N))"
