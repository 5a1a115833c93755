#!/bin/bash
# k8scp: k8scp-haproxy (managed by Pulumi; edits are overwritten)
set -euo pipefail
umask 022
action="${1:-create}"
svc='k8scp-haproxy'
user='k8scp-haproxy'
unit='/etc/systemd/system/k8scp-haproxy.service'
say() { echo "[k8scp] $svc@$(hostname): $*" >&2; }
revision=bdc586014cc9b3a1e9b9e4cca5c9eac8fc579eb2a45e448e49553560469ed07f
applied='/var/lib/k8scp/k8scp-haproxy.applied'
applied_same() { [ -f "$applied" ] && [ "$(cat "$applied")" = "$revision" ] && "$@"; }
applied_record() { install -d -m 0755 -o root -g root /var/lib/k8scp; echo "$revision" > "$applied"; }

if [ "$action" = delete ]; then
  systemctl disable --now "$svc.service" >/dev/null 2>&1 || true
  rm -f "$unit" "$applied"
  systemctl daemon-reload
  systemctl reset-failed "$svc.service" >/dev/null 2>&1 || true

  rm -f /var/lib/k8scp/k8scp-haproxy.service.sums /var/lib/k8scp/k8scp-haproxy.service.sums.stat /var/lib/k8scp/k8scp-haproxy.service.repair
  rm -rf '/etc/kubernetes/k8scp-haproxy'
  if id -u "$user" >/dev/null 2>&1; then pkill -KILL -u "$user" 2>/dev/null || true; userdel "$user" 2>/dev/null || true; fi
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

[ -x '/usr/sbin/haproxy' ] || { say "/usr/sbin/haproxy is missing on this host; install it first (Debian: apt-get install haproxy)"; exit 4; }
id -u "$user" >/dev/null 2>&1 || useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
install -d -m 0755 -o root -g root '/etc/kubernetes'
install -d -m 0700 -o "$user" -g "$user" '/etc/kubernetes/k8scp-haproxy'

put_file '/etc/kubernetes/k8scp-haproxy/haproxy.cfg' 0644 'k8scp-haproxy' <<'K8SCP_EOF'
IyBrOHNjcDoga3ViZS1hcGlzZXJ2ZXIgbG9hZCBiYWxhbmNlciAobWFuYWdlZCBieSBQdWx1bWk7
IGVkaXRzIGFyZSBvdmVyd3JpdHRlbikKZ2xvYmFsCiAgICBsb2cgc3Rkb3V0IGZvcm1hdCByYXcg
bG9jYWwwIGluZm8KICAgIG1heGNvbm4gNDA5NgpkZWZhdWx0cwogICAgbW9kZSB0Y3AKICAgIGxv
ZyBnbG9iYWwKICAgIG9wdGlvbiB0Y3Bsb2cKICAgIHRpbWVvdXQgY29ubmVjdCAxcwogICAgcmV0
cmllcyAzCiAgICBvcHRpb24gcmVkaXNwYXRjaAogICAgdGltZW91dCBjbGllbnQgMWgKICAgIHRp
bWVvdXQgc2VydmVyIDFoCmZyb250ZW5kIGt1YmUtYXBpc2VydmVyCiAgICBiaW5kICo6NjQ0Mwog
ICAgZGVmYXVsdF9iYWNrZW5kIGt1YmUtYXBpc2VydmVyCmJhY2tlbmQga3ViZS1hcGlzZXJ2ZXIK
ICAgIG9wdGlvbiBodHRwY2hrIEdFVCAvcmVhZHl6CiAgICBodHRwLWNoZWNrIGV4cGVjdCBzdGF0
dXMgMjAwCiAgICBiYWxhbmNlIHJvdW5kcm9iaW4KICAgIHNlcnZlciBuMSAxMC4yMTMuMC4xMTo2
NDQzIGNoZWNrIGNoZWNrLXNzbCB2ZXJpZnkgbm9uZSBpbnRlciAxcyBmYWxsIDIgcmlzZSAyCiAg
ICBzZXJ2ZXIgbjIgMTAuMjEzLjAuMTI6NjQ0MyBjaGVjayBjaGVjay1zc2wgdmVyaWZ5IG5vbmUg
aW50ZXIgMXMgZmFsbCAyIHJpc2UgMgogICAgc2VydmVyIG4zIDEwLjIxMy4wLjEzOjY0NDMgY2hl
Y2sgY2hlY2stc3NsIHZlcmlmeSBub25lIGludGVyIDFzIGZhbGwgMiByaXNlIDIK
K8SCP_EOF
unit_before=$(sha256sum "$unit" 2>/dev/null || true)
put_file '/etc/systemd/system/k8scp-haproxy.service' 0600 'root' text <<'K8SCP_TEXT'
[Unit]
Description=HAProxy load balancer for kube-apiserver (k8scp)
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
User=k8scp-haproxy
Group=k8scp-haproxy
ExecStart=/usr/sbin/haproxy \
  -Ws \
  -f \
  /etc/kubernetes/k8scp-haproxy/haproxy.cfg
Restart=always
RestartSec=5
LimitNOFILE=65536
TimeoutStartSec=120
ExecReload=/bin/kill -USR2 $MAINPID
KillMode=mixed
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
{ sha256sum '/etc/systemd/system/k8scp-haproxy.service' '/etc/kubernetes/k8scp-haproxy/haproxy.cfg'; } > /var/lib/k8scp/k8scp-haproxy.service.sums.tmp && mv -f /var/lib/k8scp/k8scp-haproxy.service.sums.tmp /var/lib/k8scp/k8scp-haproxy.service.sums
stat -c '%n %s %.9Y %i' '/etc/systemd/system/k8scp-haproxy.service' '/etc/kubernetes/k8scp-haproxy/haproxy.cfg' > /var/lib/k8scp/k8scp-haproxy.service.sums.stat
chmod 0600 /var/lib/k8scp/k8scp-haproxy.service.sums
rm -f /var/lib/k8scp/k8scp-haproxy.service.repair

healthy() { systemctl is-active --quiet "$svc.service" && timeout 3 bash -c '</dev/tcp/127.0.0.1/6443' 2>/dev/null; }
if applied_same healthy; then
  say "unchanged since it was applied and healthy at tcp://127.0.0.1:6443: not restarted"
  exit 0
fi
if [ "$action" = create ] && false; then
  systemctl restart --no-block "$svc.service"
  applied_record
  say "started (health is checked once every member runs)"
  exit 0
fi
haproxy -c -q -f /etc/kubernetes/k8scp-haproxy/haproxy.cfg || { say "configuration rejected by: haproxy -c -q -f /etc/kubernetes/k8scp-haproxy/haproxy.cfg"; exit 5; }
last_log() { journalctl -u "$svc.service" -n 25 --no-pager -o cat >&2 || true; }
if [ "$(sha256sum "$unit")" = "$unit_before" ]; then restart=reload-or-restart; else restart=restart; fi
systemctl "$restart" "$svc.service" || { say "did not start; last log lines:"; last_log; exit 1; }
deadline=$((SECONDS + 30))
until timeout 3 bash -c '</dev/tcp/127.0.0.1/6443' 2>/dev/null; do
  if [ $SECONDS -ge $deadline ]; then
    say "not healthy after 30s at tcp://127.0.0.1:6443; last log lines:"
    last_log
    exit 1
  fi
  sleep 1
done
applied_record
say "healthy at tcp://127.0.0.1:6443 (t=$(date +%s.%N))"
