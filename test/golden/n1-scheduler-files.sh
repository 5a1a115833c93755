#!/bin/bash
# k8scp: files of kube-scheduler (managed by Pulumi; edits are overwritten)
set -euo pipefail
umask 022
action="${1:-create}"
svc='kube-scheduler'
user='kube-scheduler'
say() { echo "[k8scp] $svc@$(hostname): $*" >&2; }

if [ "$action" = delete ]; then
  if systemctl is-active --quiet "$svc.service"; then systemctl stop "$svc.service"; fi
  rm -f /var/lib/k8scp/kube-scheduler.files.sums /var/lib/k8scp/kube-scheduler.files.sums.stat /var/lib/k8scp/kube-scheduler.files.repair
  rm -rf '/etc/kubernetes/kube-scheduler'
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
install -d -m 0700 -o "$user" -g "$user" '/etc/kubernetes/kube-scheduler'
put_file '/etc/kubernetes/kube-scheduler/kubeconfig' 0600 'kube-scheduler' <<'K8SCP_EOF'
YXBpVmVyc2lvbjogdjEKa2luZDogQ29uZmlnCmNsdXN0ZXJzOgogIC0gbmFtZToga3ViZXJuZXRl
cwogICAgY2x1c3RlcjoKICAgICAgc2VydmVyOiBodHRwczovLzEwLjIxMy4wLjExOjY0NDMKICAg
ICAgY2VydGlmaWNhdGUtYXV0aG9yaXR5LWRhdGE6IExTMHRMUzFDUlVkSlRpQkRSVkpVU1VaSlEw
RlVSUzB0TFMwdENrWkJTMFV3WTJWeWREQnlaV1l3YTNWaVpYSnVaWFJsY3pCallUQmpaWEowTUVa
UFVqQkhUMHhFUlU0d1JrbE1SVk13VGs5VU1FRXdTMFZaQ2kwdExTMHRSVTVFSUVORlVsUkpSa2xE
UVZSRkxTMHRMUzBLCnVzZXJzOgogIC0gbmFtZTogc3lzdGVtOmt1YmUtc2NoZWR1bGVyCiAgICB1
c2VyOgogICAgICBjbGllbnQtY2VydGlmaWNhdGUtZGF0YTogTFMwdExTMUNSVWRKVGlCRFJWSlVT
VVpKUTBGVVJTMHRMUzB0Q2taQlMwVXdZMlZ5ZERCeVpXWXdiakV3YzJOb1pXUjFiR1Z5TUdObGNu
UXdSazlTTUVkUFRFUkZUakJHU1V4RlV6Qk9UMVF3UVRCTFJWa0tMUzB0TFMxRlRrUWdRMFZTVkVs
R1NVTkJWRVV0TFMwdExRbz0KICAgICAgY2xpZW50LWtleS1kYXRhOiBMUzB0TFMxQ1JVZEpUaUJG
UXlCUVVrbFdRVlJGSUV0RldTMHRMUzB0Q2taQlMwVXdhMlY1TUhKbFpqQnVNVEJ6WTJobFpIVnNa
WEl3YTJWNU1FWlBVakJIVDB4RVJVNHdSa2xNUlZNd1RrOVVNRUV3UzBWWkNpMHRMUzB0UlU1RUlF
VkRJRkJTU1ZaQlZFVWdTMFZaTFMwdExTMEsKY29udGV4dHM6CiAgLSBuYW1lOiBkZWZhdWx0CiAg
ICBjb250ZXh0OgogICAgICBjbHVzdGVyOiBrdWJlcm5ldGVzCiAgICAgIHVzZXI6IHN5c3RlbTpr
dWJlLXNjaGVkdWxlcgpjdXJyZW50LWNvbnRleHQ6IGRlZmF1bHQKcHJlZmVyZW5jZXM6IHt9Cg==

K8SCP_EOF
install -d -m 0755 -o root -g root /var/lib/k8scp
{ sha256sum '/etc/kubernetes/kube-scheduler/kubeconfig'; } > /var/lib/k8scp/kube-scheduler.files.sums.tmp && mv -f /var/lib/k8scp/kube-scheduler.files.sums.tmp /var/lib/k8scp/kube-scheduler.files.sums
stat -c '%n %s %.9Y %i' '/etc/kubernetes/kube-scheduler/kubeconfig' > /var/lib/k8scp/kube-scheduler.files.sums.stat
chmod 0600 /var/lib/k8scp/kube-scheduler.files.sums
rm -f /var/lib/k8scp/kube-scheduler.files.repair
say "1 files in place"
