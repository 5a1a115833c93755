#!/bin/bash
# k8scp: files of kube-apiserver (managed by Pulumi; edits are overwritten)
set -euo pipefail
umask 022
action="${1:-create}"
svc='kube-apiserver'
user='kube-apiserver'
say() { echo "[k8scp] $svc@$(hostname): $*" >&2; }

if [ "$action" = delete ]; then
  if systemctl is-active --quiet "$svc.service"; then systemctl stop "$svc.service"; fi
  rm -f /var/lib/k8scp/kube-apiserver.files.sums /var/lib/k8scp/kube-apiserver.files.sums.stat /var/lib/k8scp/kube-apiserver.files.repair
  rm -rf '/etc/kubernetes/kube-apiserver'
  rm -rf '/etc/kubernetes/kube-apiserver/pki'
  rm -rf '/var/log/kubernetes/kube-apiserver'
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
install -d -m 0700 -o "$user" -g "$user" '/etc/kubernetes/kube-apiserver'
install -d -m 0700 -o "$user" -g "$user" '/etc/kubernetes/kube-apiserver/pki'
install -d -m 0700 -o "$user" -g "$user" '/var/log/kubernetes/kube-apiserver'
put_file '/etc/kubernetes/kube-apiserver/pki/ca.pem' 0600 'kube-apiserver' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkZBS0UwY2VydDByZWYwa3ViZXJuZXRlczBjYTBj
ZXJ0MEZPUjBHT0xERU4wRklMRVMwTk9UMEEwS0VZCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K

K8SCP_EOF
put_file '/etc/kubernetes/kube-apiserver/pki/apiserver.pem' 0600 'kube-apiserver' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkZBS0UwY2VydDByZWYwbjEwYXBpc2VydmVyMGNl
cnQwRk9SMEdPTERFTjBGSUxFUzBOT1QwQTBLRVkKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=

K8SCP_EOF
put_file '/etc/kubernetes/kube-apiserver/pki/apiserver-key.pem' 0600 'kube-apiserver' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCkZBS0Uwa2V5MHJlZjBuMTBhcGlzZXJ2ZXIw
a2V5MEZPUjBHT0xERU4wRklMRVMwTk9UMEEwS0VZCi0tLS0tRU5EIEVDIFBSSVZBVEUgS0VZLS0t
LS0K
K8SCP_EOF
put_file '/etc/kubernetes/kube-apiserver/pki/etcd-ca.pem' 0600 'kube-apiserver' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkZBS0UwY2VydDByZWYwZXRjZDBjYTBjZXJ0MEZP
UjBHT0xERU4wRklMRVMwTk9UMEEwS0VZCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K
K8SCP_EOF
put_file '/etc/kubernetes/kube-apiserver/pki/apiserver-etcd-client.pem' 0600 'kube-apiserver' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkZBS0UwY2VydDByZWYwbjEwYXBpc2VydmVyMGV0
Y2QwY2xpZW50MGNlcnQwRk9SMEdPTERFTjBGSUxFUzBOT1QwQTBLRVkKLS0tLS1FTkQgQ0VSVElG
SUNBVEUtLS0tLQo=
K8SCP_EOF
put_file '/etc/kubernetes/kube-apiserver/pki/apiserver-etcd-client-key.pem' 0600 'kube-apiserver' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCkZBS0Uwa2V5MHJlZjBuMTBhcGlzZXJ2ZXIw
ZXRjZDBjbGllbnQwa2V5MEZPUjBHT0xERU4wRklMRVMwTk9UMEEwS0VZCi0tLS0tRU5EIEVDIFBS
SVZBVEUgS0VZLS0tLS0K
K8SCP_EOF
put_file '/etc/kubernetes/kube-apiserver/pki/apiserver-kubelet-client.pem' 0600 'kube-apiserver' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkZBS0UwY2VydDByZWYwbjEwYXBpc2VydmVyMGt1
YmVsZXQwY2xpZW50MGNlcnQwRk9SMEdPTERFTjBGSUxFUzBOT1QwQTBLRVkKLS0tLS1FTkQgQ0VS
VElGSUNBVEUtLS0tLQo=
K8SCP_EOF
put_file '/etc/kubernetes/kube-apiserver/pki/apiserver-kubelet-client-key.pem' 0600 'kube-apiserver' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCkZBS0Uwa2V5MHJlZjBuMTBhcGlzZXJ2ZXIw
a3ViZWxldDBjbGllbnQwa2V5MEZPUjBHT0xERU4wRklMRVMwTk9UMEEwS0VZCi0tLS0tRU5EIEVD
IFBSSVZBVEUgS0VZLS0tLS0K
K8SCP_EOF
put_file '/etc/kubernetes/kube-apiserver/pki/front-proxy-ca.pem' 0600 'kube-apiserver' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkZBS0UwY2VydDByZWYwZnJvbnQwcHJveHkwY2Ew
Y2VydDBGT1IwR09MREVOMEZJTEVTME5PVDBBMEtFWQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0t
Cg==
K8SCP_EOF
put_file '/etc/kubernetes/kube-apiserver/pki/front-proxy-client.pem' 0600 'kube-apiserver' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkZBS0UwY2VydDByZWYwbjEwZnJvbnQwcHJveHkw
Y2xpZW50MGNlcnQwRk9SMEdPTERFTjBGSUxFUzBOT1QwQTBLRVkKLS0tLS1FTkQgQ0VSVElGSUNB
VEUtLS0tLQo=
K8SCP_EOF
put_file '/etc/kubernetes/kube-apiserver/pki/front-proxy-client-key.pem' 0600 'kube-apiserver' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCkZBS0Uwa2V5MHJlZjBuMTBmcm9udDBwcm94
eTBjbGllbnQwa2V5MEZPUjBHT0xERU4wRklMRVMwTk9UMEEwS0VZCi0tLS0tRU5EIEVDIFBSSVZB
VEUgS0VZLS0tLS0K
K8SCP_EOF
put_file '/etc/kubernetes/kube-apiserver/pki/sa.pub' 0600 'kube-apiserver' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KRkFLRTBwdWJsaWMwcmVmMHNlcnZpY2UwYWNjb3Vu
dDBrZXkwRk9SMEdPTERFTjBGSUxFUzBOT1QwQTBLRVkKLS0tLS1FTkQgUFVCTElDIEtFWS0tLS0t
Cg==
K8SCP_EOF
put_file '/etc/kubernetes/kube-apiserver/pki/sa.key' 0600 'kube-apiserver' <<'K8SCP_EOF'
LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCkZBS0Uwa2V5MHJlZjBzZXJ2aWNlMGFjY291
bnQwa2V5MEZPUjBHT0xERU4wRklMRVMwTk9UMEEwS0VZCi0tLS0tRU5EIEVDIFBSSVZBVEUgS0VZ
LS0tLS0K
K8SCP_EOF
put_file '/etc/kubernetes/kube-apiserver/audit-policy.yaml' 0644 'kube-apiserver' <<'K8SCP_EOF'
YXBpVmVyc2lvbjogYXVkaXQuazhzLmlvL3YxCmtpbmQ6IFBvbGljeQpvbWl0U3RhZ2VzOgogIC0g
UmVxdWVzdFJlY2VpdmVkCnJ1bGVzOgogIC0gbGV2ZWw6IE5vbmUKICAgIHVzZXJzOgogICAgICAt
IHN5c3RlbTprdWJlLXByb3h5CiAgICB2ZXJiczoKICAgICAgLSB3YXRjaAogIC0gbGV2ZWw6IE5v
bmUKICAgIG5vblJlc291cmNlVVJMczoKICAgICAgLSAvaGVhbHRoeioKICAgICAgLSAvbGl2ZXoq
CiAgICAgIC0gL3JlYWR5eioKICAgICAgLSAvdmVyc2lvbgogIC0gbGV2ZWw6IE5vbmUKICAgIHJl
c291cmNlczoKICAgICAgLSBncm91cDogY29vcmRpbmF0aW9uLms4cy5pbwogICAgICAgIHJlc291
cmNlczoKICAgICAgICAgIC0gbGVhc2VzCiAgICB2ZXJiczoKICAgICAgLSBnZXQKICAgICAgLSB1
cGRhdGUKICAtIGxldmVsOiBNZXRhZGF0YQogICAgcmVzb3VyY2VzOgogICAgICAtIGdyb3VwOiAi
IgogICAgICAgIHJlc291cmNlczoKICAgICAgICAgIC0gc2VjcmV0cwogICAgICAgICAgLSBjb25m
aWdtYXBzCiAgICAgICAgICAtIHNlcnZpY2VhY2NvdW50cy90b2tlbgogICAgICAtIGdyb3VwOiBh
dXRoZW50aWNhdGlvbi5rOHMuaW8KICAgICAgICByZXNvdXJjZXM6CiAgICAgICAgICAtIHRva2Vu
cmV2aWV3cwogIC0gbGV2ZWw6IFJlcXVlc3QKICAgIHZlcmJzOgogICAgICAtIGNyZWF0ZQogICAg
ICAtIHVwZGF0ZQogICAgICAtIHBhdGNoCiAgICAgIC0gZGVsZXRlCiAgICAgIC0gZGVsZXRlY29s
bGVjdGlvbgogIC0gbGV2ZWw6IE1ldGFkYXRhCg==
K8SCP_EOF
put_file '/etc/kubernetes/kube-apiserver/authentication-config.yaml' 0644 'kube-apiserver' <<'K8SCP_EOF'
YXBpVmVyc2lvbjogYXBpc2VydmVyLmNvbmZpZy5rOHMuaW8vdjFiZXRhMQpraW5kOiBBdXRoZW50
aWNhdGlvbkNvbmZpZ3VyYXRpb24KYW5vbnltb3VzOgogIGVuYWJsZWQ6IHRydWUKICBjb25kaXRp
b25zOgogICAgLSBwYXRoOiAvaGVhbHRoegogICAgLSBwYXRoOiAvbGl2ZXoKICAgIC0gcGF0aDog
L3JlYWR5ego=
K8SCP_EOF
put_file '/etc/kubernetes/kube-apiserver/admission-config.yaml' 0644 'kube-apiserver' <<'K8SCP_EOF'
YXBpVmVyc2lvbjogYXBpc2VydmVyLmNvbmZpZy5rOHMuaW8vdjEKa2luZDogQWRtaXNzaW9uQ29u
ZmlndXJhdGlvbgpwbHVnaW5zOgogIC0gbmFtZTogRXZlbnRSYXRlTGltaXQKICAgIGNvbmZpZ3Vy
YXRpb246CiAgICAgIGFwaVZlcnNpb246IGV2ZW50cmF0ZWxpbWl0LmFkbWlzc2lvbi5rOHMuaW8v
djFhbHBoYTEKICAgICAga2luZDogQ29uZmlndXJhdGlvbgogICAgICBsaW1pdHM6CiAgICAgICAg
LSB0eXBlOiBTZXJ2ZXIKICAgICAgICAgIHFwczogNTAwMAogICAgICAgICAgYnVyc3Q6IDIwMDAw
CiAgICAgICAgLSB0eXBlOiBOYW1lc3BhY2UKICAgICAgICAgIHFwczogNTAwCiAgICAgICAgICBi
dXJzdDogMTAwMAogICAgICAgICAgY2FjaGVTaXplOiA1MDAwCiAgICAgICAgLSB0eXBlOiBVc2Vy
CiAgICAgICAgICBxcHM6IDIwMAogICAgICAgICAgYnVyc3Q6IDUwMAogICAgICAgICAgY2FjaGVT
aXplOiA1MDAwCg==
K8SCP_EOF
put_file '/etc/kubernetes/kube-apiserver/encryption-config.yaml' 0600 'kube-apiserver' <<'K8SCP_EOF'
YXBpVmVyc2lvbjogYXBpc2VydmVyLmNvbmZpZy5rOHMuaW8vdjEKa2luZDogRW5jcnlwdGlvbkNv
bmZpZ3VyYXRpb24KcmVzb3VyY2VzOgogIC0gcmVzb3VyY2VzOgogICAgICAtIHNlY3JldHMKICAg
IHByb3ZpZGVyczoKICAgICAgLSBzZWNyZXRib3g6CiAgICAgICAgICBrZXlzOgogICAgICAgICAg
ICAtIG5hbWU6IGtleTEKICAgICAgICAgICAgICBzZWNyZXQ6IFJrRkxSUzFGVGtOU1dWQlVTVTlP
TFV0RldTMUhUMHhFUlU0dFJrbE1SVk09CiAgICAgIC0gaWRlbnRpdHk6IHt9Cg==
K8SCP_EOF
install -d -m 0755 -o root -g root /var/lib/k8scp
{ sha256sum '/etc/kubernetes/kube-apiserver/pki/ca.pem' '/etc/kubernetes/kube-apiserver/pki/apiserver.pem' '/etc/kubernetes/kube-apiserver/pki/apiserver-key.pem' '/etc/kubernetes/kube-apiserver/pki/etcd-ca.pem' '/etc/kubernetes/kube-apiserver/pki/apiserver-etcd-client.pem' '/etc/kubernetes/kube-apiserver/pki/apiserver-etcd-client-key.pem' '/etc/kubernetes/kube-apiserver/pki/apiserver-kubelet-client.pem' '/etc/kubernetes/kube-apiserver/pki/apiserver-kubelet-client-key.pem' '/etc/kubernetes/kube-apiserver/pki/front-proxy-ca.pem' '/etc/kubernetes/kube-apiserver/pki/front-proxy-client.pem' '/etc/kubernetes/kube-apiserver/pki/front-proxy-client-key.pem' '/etc/kubernetes/kube-apiserver/pki/sa.pub' '/etc/kubernetes/kube-apiserver/pki/sa.key' '/etc/kubernetes/kube-apiserver/audit-policy.yaml' '/etc/kubernetes/kube-apiserver/authentication-config.yaml' '/etc/kubernetes/kube-apiserver/admission-config.yaml' '/etc/kubernetes/kube-apiserver/encryption-config.yaml'; } > /var/lib/k8scp/kube-apiserver.files.sums.tmp && mv -f /var/lib/k8scp/kube-apiserver.files.sums.tmp /var/lib/k8scp/kube-apiserver.files.sums
stat -c '%n %s %.9Y %i' '/etc/kubernetes/kube-apiserver/pki/ca.pem' '/etc/kubernetes/kube-apiserver/pki/apiserver.pem' '/etc/kubernetes/kube-apiserver/pki/apiserver-key.pem' '/etc/kubernetes/kube-apiserver/pki/etcd-ca.pem' '/etc/kubernetes/kube-apiserver/pki/apiserver-etcd-client.pem' '/etc/kubernetes/kube-apiserver/pki/apiserver-etcd-client-key.pem' '/etc/kubernetes/kube-apiserver/pki/apiserver-kubelet-client.pem' '/etc/kubernetes/kube-apiserver/pki/apiserver-kubelet-client-key.pem' '/etc/kubernetes/kube-apiserver/pki/front-proxy-ca.pem' '/etc/kubernetes/kube-apiserver/pki/front-proxy-client.pem' '/etc/kubernetes/kube-apiserver/pki/front-proxy-client-key.pem' '/etc/kubernetes/kube-apiserver/pki/sa.pub' '/etc/kubernetes/kube-apiserver/pki/sa.key' '/etc/kubernetes/kube-apiserver/audit-policy.yaml' '/etc/kubernetes/kube-apiserver/authentication-config.yaml' '/etc/kubernetes/kube-apiserver/admission-config.yaml' '/etc/kubernetes/kube-apiserver/encryption-config.yaml' > /var/lib/k8scp/kube-apiserver.files.sums.stat
chmod 0600 /var/lib/k8scp/kube-apiserver.files.sums
rm -f /var/lib/k8scp/kube-apiserver.files.repair
say "17 files in place"
