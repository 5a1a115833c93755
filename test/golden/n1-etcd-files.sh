#!/bin/bash
# k8scp: files of etcd (managed by Pulumi; edits are overwritten)
set -euo pipefail
umask 022
action="${1:-create}"
svc='etcd'
user='etcd'
say() { echo "[k8scp] $svc@$(hostname): $*" >&2; }

if [ "$action" = delete ]; then
  if systemctl is-active --quiet "$svc.service"; then systemctl stop "$svc.service"; fi
  rm -f /var/lib/k8scp/etcd.files.sums /var/lib/k8scp/etcd.files.sums.stat /var/lib/k8scp/etcd.files.repair
  rm -rf '/etc/kubernetes/etcd'
  rm -rf '/etc/kubernetes/etcd/pki'
  rm -rf '/var/lib/etcd'
  if id -u "$user" >/dev/null 2>&1; then pkill -KILL -u "$user" 2>/dev/null || true; userdel "$user" 2>/dev/null || true; fi
  rmdir --ignore-fail-on-non-empty '/etc/kubernetes' '/var/log/kubernetes' 2>/dev/null || true
  say "files removed"
  exit 0
fi

put_file() { # path mode owner [text]; content (base64 unless "text") on stdin; atomic, never printed
  local dst="$1" mode="$2" owner="$3" tmp
  tmp=$(mktemp "$(dirname "$dst")/.k8scp.XXXXXX")
  if [ "${4:-}" = text ]; then cat >"$tmp"; else base64 -d >"$tmp"; fi
  chown "$owner:$owner" "$tmp"; chmod "$mode" "$tmp"
  mv -f "$tmp" "$dst"
}
id -u "$user" >/dev/null 2>&1 || useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
install -d -m 0755 -o root -g root '/etc/kubernetes'
install -d -m 0700 -o "$user" -g "$user" '/etc/kubernetes/etcd'
install -d -m 0700 -o "$user" -g "$user" '/etc/kubernetes/etcd/pki'
install -d -m 0700 -o "$user" -g "$user" '/var/lib/etcd'
put_file '/etc/kubernetes/etcd/pki/etcd-ca.pem' 0600 'etcd' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkZBS0UwY2VydDByZWYwZXRjZDBjYTBjZXJ0MEZP
UjBHT0xERU4wRklMRVMwTk9UMEEwS0VZCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K
K8SCP_EOF
put_file '/etc/kubernetes/etcd/pki/etcd-server.pem' 0600 'etcd' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkZBS0UwY2VydDByZWYwbjEwZXRjZDBzZXJ2ZXIw
Y2VydDBGT1IwR09MREVOMEZJTEVTME5PVDBBMEtFWQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0t
Cg==
K8SCP_EOF
put_file '/etc/kubernetes/etcd/pki/etcd-server-key.pem' 0600 'etcd' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCkZBS0Uwa2V5MHJlZjBuMTBldGNkMHNlcnZl
cjBrZXkwRk9SMEdPTERFTjBGSUxFUzBOT1QwQTBLRVkKLS0tLS1FTkQgRUMgUFJJVkFURSBLRVkt
LS0tLQo=
K8SCP_EOF
put_file '/etc/kubernetes/etcd/pki/etcd-peer.pem' 0600 'etcd' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkZBS0UwY2VydDByZWYwbjEwZXRjZDBwZWVyMGNl
cnQwRk9SMEdPTERFTjBGSUxFUzBOT1QwQTBLRVkKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=

K8SCP_EOF
put_file '/etc/kubernetes/etcd/pki/etcd-peer-key.pem' 0600 'etcd' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCkZBS0Uwa2V5MHJlZjBuMTBldGNkMHBlZXIw
a2V5MEZPUjBHT0xERU4wRklMRVMwTk9UMEEwS0VZCi0tLS0tRU5EIEVDIFBSSVZBVEUgS0VZLS0t
LS0K
K8SCP_EOF
install -d -m 0755 -o root -g root /var/lib/k8scp
{ sha256sum '/etc/kubernetes/etcd/pki/etcd-ca.pem' '/etc/kubernetes/etcd/pki/etcd-server.pem' '/etc/kubernetes/etcd/pki/etcd-server-key.pem' '/etc/kubernetes/etcd/pki/etcd-peer.pem' '/etc/kubernetes/etcd/pki/etcd-peer-key.pem'; } > /var/lib/k8scp/etcd.files.sums.tmp && mv -f /var/lib/k8scp/etcd.files.sums.tmp /var/lib/k8scp/etcd.files.sums
stat -c '%n %s %.9Y %i' '/etc/kubernetes/etcd/pki/etcd-ca.pem' '/etc/kubernetes/etcd/pki/etcd-server.pem' '/etc/kubernetes/etcd/pki/etcd-server-key.pem' '/etc/kubernetes/etcd/pki/etcd-peer.pem' '/etc/kubernetes/etcd/pki/etcd-peer-key.pem' > /var/lib/k8scp/etcd.files.sums.stat
chmod 0600 /var/lib/k8scp/etcd.files.sums
rm -f /var/lib/k8scp/etcd.files.repair
say "5 files in place"
