#!/bin/bash
# k8scp: the snapshot bucket's credentials (managed by Pulumi)
set -euo pipefail
umask 077
put_file() { # path mode owner [text]; content (base64 unless "text") on stdin; atomic, never printed
  local dst="$1" mode="$2" owner="$3" tmp
  tmp=$(mktemp "$(dirname "$dst")/.k8scp.XXXXXX")
  if [ "${4:-}" = text ]; then cat >"$tmp"; else base64 -d >"$tmp"; fi
  chown "$owner:$owner" "$tmp"; chmod "$mode" "$tmp"
  mv -f "$tmp" "$dst"
}
put_file '/etc/k8scp-snapshot-upload.credentials' 0600 'root' <<'K8SCP_EOF'
YWNjZXNzX2tleV9pZD1BQ0NFU1MtS0VZLUlECnNlY3JldF9hY2Nlc3Nfa2V5PVNFQ1JFVC1BQ0NF
U1MtS0VZCg==
K8SCP_EOF
echo "[k8scp] etcd-snapshot@$(hostname): bucket credentials in place (/etc/k8scp-snapshot-upload.credentials, 0600)" >&2
