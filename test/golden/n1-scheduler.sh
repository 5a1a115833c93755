#!/bin/bash
# k8scp: kube-scheduler (managed by Pulumi; edits are overwritten)
# files revision: 628043268636e1b168c9b52442e03fc554051ecb8e792455e64c3831e50021b9
set -euo pipefail
umask 022
action="${1:-create}"
svc='kube-scheduler'
user='kube-scheduler'
unit='/etc/systemd/system/kube-scheduler.service'
say() { echo "[k8scp] $svc@$(hostname): $*" >&2; }
revision=0223a5c4e98ccd776ce12cc5a7138ca984523ca0722dc07cfc11e7512a31d3ec
applied='/var/lib/k8scp/kube-scheduler.applied'
applied_same() { [ -f "$applied" ] && [ "$(cat "$applied")" = "$revision" ] && "$@"; }
applied_record() { install -d -m 0755 -o root -g root /var/lib/k8scp; echo "$revision" > "$applied"; }

if [ "$action" = delete ]; then
  systemctl disable --now "$svc.service" >/dev/null 2>&1 || true
  rm -f "$unit" "$applied"
  systemctl daemon-reload
  systemctl reset-failed "$svc.service" >/dev/null 2>&1 || true
  rm -f '/usr/local/bin/kube-scheduler' '/var/lib/k8scp/staging/kube-scheduler'
  rm -f /var/lib/k8scp/kube-scheduler.service.sums /var/lib/k8scp/kube-scheduler.service.sums.stat /var/lib/k8scp/kube-scheduler.service.repair
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
put_bin 'kube-scheduler' feaf335764c753b02cec374303de5546c86588ad505773831782d60c0304da6b

put_file '/etc/systemd/system/kube-scheduler.service' 0600 'root' text <<'K8SCP_TEXT'
[Unit]
Description=Kubernetes scheduler
Documentation=https://kubernetes.io/docs/reference/command-line-tools-reference/
After=network-online.target kube-apiserver.service
Wants=network-online.target kube-apiserver.service

[Service]
Type=simple
User=kube-scheduler
Group=kube-scheduler
ExecStart=/usr/local/bin/kube-scheduler \
  --authentication-kubeconfig=/etc/kubernetes/kube-scheduler/kubeconfig \
  --authorization-kubeconfig=/etc/kubernetes/kube-scheduler/kubeconfig \
  --bind-address=10.213.0.11 \
  --kubeconfig=/etc/kubernetes/kube-scheduler/kubeconfig \
  --leader-elect=true \
  --profiling=false \
  --secure-port=10259 \
  --tls-cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 \
  --tls-min-version=VersionTLS12 \
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
{ sha256sum '/etc/systemd/system/kube-scheduler.service'; echo 'feaf335764c753b02cec374303de5546c86588ad505773831782d60c0304da6b  /usr/local/bin/kube-scheduler'; } > /var/lib/k8scp/kube-scheduler.service.sums.tmp && mv -f /var/lib/k8scp/kube-scheduler.service.sums.tmp /var/lib/k8scp/kube-scheduler.service.sums
stat -c '%n %s %.9Y %i' '/etc/systemd/system/kube-scheduler.service' '/usr/local/bin/kube-scheduler' > /var/lib/k8scp/kube-scheduler.service.sums.stat
chmod 0600 /var/lib/k8scp/kube-scheduler.service.sums
rm -f /var/lib/k8scp/kube-scheduler.service.repair

healthy() { systemctl is-active --quiet "$svc.service" && curl -fsS --max-time 3 -o /dev/null --insecure https://10.213.0.11:10259/healthz 2>/dev/null; }
if applied_same healthy; then
  say "unchanged since it was applied and healthy at https://10.213.0.11:10259/healthz: not restarted"
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
until curl -fsS --max-time 3 -o /dev/null --insecure https://10.213.0.11:10259/healthz 2>/dev/null; do
  if [ $SECONDS -ge $deadline ]; then
    say "not healthy after 180s at https://10.213.0.11:10259/healthz; last log lines:"
    last_log
    exit 1
  fi
  sleep 1
done
applied_record
say "healthy at https://10.213.0.11:10259/healthz (t=$(date +%s.%N))"
