#!/bin/bash
# k8scp: files of kube-controller-manager (managed by Pulumi; edits are overwritten)
set -euo pipefail
umask 022
action="${1:-create}"
svc='kube-controller-manager'
user='kube-controller-manager'
say() { echo "[k8scp] $svc@$(hostname): $*" >&2; }

if [ "$action" = delete ]; then
  if systemctl is-active --quiet "$svc.service"; then systemctl stop "$svc.service"; fi
  rm -f /var/lib/k8scp/kube-controller-manager.files.sums /var/lib/k8scp/kube-controller-manager.files.sums.stat /var/lib/k8scp/kube-controller-manager.files.repair
  rm -rf '/etc/kubernetes/kube-controller-manager'
  rm -rf '/etc/kubernetes/kube-controller-manager/pki'
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
install -d -m 0700 -o "$user" -g "$user" '/etc/kubernetes/kube-controller-manager'
install -d -m 0700 -o "$user" -g "$user" '/etc/kubernetes/kube-controller-manager/pki'
put_file '/etc/kubernetes/kube-controller-manager/pki/ca.pem' 0600 'kube-controller-manager' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkZBS0UwY2VydDByZWYwa3ViZXJuZXRlczBjYTBj
ZXJ0MEZPUjBHT0xERU4wRklMRVMwTk9UMEEwS0VZCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K

K8SCP_EOF
put_file '/etc/kubernetes/kube-controller-manager/pki/ca-key.pem' 0600 'kube-controller-manager' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCkZBS0Uwa2V5MHJlZjBrdWJlcm5ldGVzMGNh
MGtleTBGT1IwR09MREVOMEZJTEVTME5PVDBBMEtFWQotLS0tLUVORCBFQyBQUklWQVRFIEtFWS0t
LS0tCg==
K8SCP_EOF
put_file '/etc/kubernetes/kube-controller-manager/pki/front-proxy-ca.pem' 0600 'kube-controller-manager' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkZBS0UwY2VydDByZWYwZnJvbnQwcHJveHkwY2Ew
Y2VydDBGT1IwR09MREVOMEZJTEVTME5PVDBBMEtFWQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0t
Cg==
K8SCP_EOF
put_file '/etc/kubernetes/kube-controller-manager/pki/sa.key' 0600 'kube-controller-manager' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCkZBS0Uwa2V5MHJlZjBzZXJ2aWNlMGFjY291
bnQwa2V5MEZPUjBHT0xERU4wRklMRVMwTk9UMEEwS0VZCi0tLS0tRU5EIEVDIFBSSVZBVEUgS0VZ
LS0tLS0K
K8SCP_EOF
put_file '/etc/kubernetes/kube-controller-manager/kubeconfig' 0600 'kube-controller-manager' <<'K8SCP_EOF'
YXBpVmVyc2lvbjogdjEKa2luZDogQ29uZmlnCmNsdXN0ZXJzOgogIC0gbmFtZToga3ViZXJuZXRl
cwogICAgY2x1c3RlcjoKICAgICAgc2VydmVyOiBodHRwczovLzEwLjIxMy4wLjExOjY0NDMKICAg
ICAgY2VydGlmaWNhdGUtYXV0aG9yaXR5LWRhdGE6IExTMHRMUzFDUlVkSlRpQkRSVkpVU1VaSlEw
RlVSUzB0TFMwdENrWkJTMFV3WTJWeWREQnlaV1l3YTNWaVpYSnVaWFJsY3pCallUQmpaWEowTUVa
UFVqQkhUMHhFUlU0d1JrbE1SVk13VGs5VU1FRXdTMFZaQ2kwdExTMHRSVTVFSUVORlVsUkpSa2xE
UVZSRkxTMHRMUzBLCnVzZXJzOgogIC0gbmFtZTogc3lzdGVtOmt1YmUtY29udHJvbGxlci1tYW5h
Z2VyCiAgICB1c2VyOgogICAgICBjbGllbnQtY2VydGlmaWNhdGUtZGF0YTogTFMwdExTMUNSVWRK
VGlCRFJWSlVTVVpKUTBGVVJTMHRMUzB0Q2taQlMwVXdZMlZ5ZERCeVpXWXdiakV3WTI5dWRISnZi
R3hsY2pCdFlXNWhaMlZ5TUdObGNuUXdSazlTTUVkUFRFUkZUakJHU1V4RlV6Qk9UMVF3UVRCTFJW
a0tMUzB0TFMxRlRrUWdRMFZTVkVsR1NVTkJWRVV0TFMwdExRbz0KICAgICAgY2xpZW50LWtleS1k
YXRhOiBMUzB0TFMxQ1JVZEpUaUJGUXlCUVVrbFdRVlJGSUV0RldTMHRMUzB0Q2taQlMwVXdhMlY1
TUhKbFpqQnVNVEJqYjI1MGNtOXNiR1Z5TUcxaGJtRm5aWEl3YTJWNU1FWlBVakJIVDB4RVJVNHdS
a2xNUlZNd1RrOVVNRUV3UzBWWkNpMHRMUzB0UlU1RUlFVkRJRkJTU1ZaQlZFVWdTMFZaTFMwdExT
MEsKY29udGV4dHM6CiAgLSBuYW1lOiBkZWZhdWx0CiAgICBjb250ZXh0OgogICAgICBjbHVzdGVy
OiBrdWJlcm5ldGVzCiAgICAgIHVzZXI6IHN5c3RlbTprdWJlLWNvbnRyb2xsZXItbWFuYWdlcgpj
dXJyZW50LWNvbnRleHQ6IGRlZmF1bHQKcHJlZmVyZW5jZXM6IHt9Cg==
K8SCP_EOF
install -d -m 0755 -o root -g root /var/lib/k8scp
{ sha256sum '/etc/kubernetes/kube-controller-manager/pki/ca.pem' '/etc/kubernetes/kube-controller-manager/pki/ca-key.pem' '/etc/kubernetes/kube-controller-manager/pki/front-proxy-ca.pem' '/etc/kubernetes/kube-controller-manager/pki/sa.key' '/etc/kubernetes/kube-controller-manager/kubeconfig'; } > /var/lib/k8scp/kube-controller-manager.files.sums.tmp && mv -f /var/lib/k8scp/kube-controller-manager.files.sums.tmp /var/lib/k8scp/kube-controller-manager.files.sums
stat -c '%n %s %.9Y %i' '/etc/kubernetes/kube-controller-manager/pki/ca.pem' '/etc/kubernetes/kube-controller-manager/pki/ca-key.pem' '/etc/kubernetes/kube-controller-manager/pki/front-proxy-ca.pem' '/etc/kubernetes/kube-controller-manager/pki/sa.key' '/etc/kubernetes/kube-controller-manager/kubeconfig' > /var/lib/k8scp/kube-controller-manager.files.sums.stat
chmod 0600 /var/lib/k8scp/kube-controller-manager.files.sums
rm -f /var/lib/k8scp/kube-controller-manager.files.repair
say "5 files in place"
