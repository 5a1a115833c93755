#!/bin/bash
# k8scp: ClusterRoleBindings of the library's identities (managed by Pulumi)
# after the restore from 916f3bb32c28bffbc2d88c4f77c1fb738c6dd15cb05e80dca0c48d067c1bfe3c
set -euo pipefail
umask 077
say() { echo "[k8scp] rbac@$(hostname): $*" >&2; }
dir=$(mktemp -d /run/k8scp-rbac.XXXXXX)
trap 'rm -rf "$dir"' EXIT
base64 -d >"$dir/cert.pem" <<'K8SCP_EOF'
LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkZBS0UwY2VydDByZWYwc3VwZXIwYWRtaW4wY2Vy
dDBGT1IwR09MREVOMEZJTEVTME5PVDBBMEtFWQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==

K8SCP_EOF
base64 -d >"$dir/key.pem" <<'K8SCP_EOF'
LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCkZBS0Uwa2V5MHJlZjBzdXBlcjBhZG1pbjBr
ZXkwRk9SMEdPTERFTjBGSUxFUzBOT1QwQTBLRVkKLS0tLS1FTkQgRUMgUFJJVkFURSBLRVktLS0t
LQo=
K8SCP_EOF
api='https://10.213.0.11:6443'
crb=/apis/rbac.authorization.k8s.io/v1/clusterrolebindings
# call METHOD PATH [BODY-FILE]: prints the HTTP status (000: no answer), the response body in $dir/out
call() {
  local args=(-sS --max-time 10 -o "$dir/out" -w '%{http_code}' --cacert '/etc/kubernetes/kube-apiserver/pki/ca.pem' --cert "$dir/cert.pem" --key "$dir/key.pem" -X "$1")
  if [ $# -gt 2 ]; then args+=(-H 'Content-Type: application/json' --data-binary "@$3"); fi
  curl "${args[@]}" "$api$2" 2>/dev/null || true
}
# ensure NAME SHA256, the object's JSON on stdin
ensure() {
  local name=$1 sum=$2 code tries=0
  cat >"$dir/body.json"
  until code=$(call GET "$crb/$name"); [ "$code" = 200 ] || [ "$code" = 404 ]; do
    tries=$((tries + 1))
    if [ $tries -ge 60 ]; then say "ClusterRoleBinding $name: GET answered $code: $(head -c 300 "$dir/out" 2>/dev/null)"; return 1; fi
    sleep 1
  done
  if [ "$code" = 200 ]; then
    if grep -qF "\"k8scp.io/spec-sha256\":\"$sum\"" "$dir/out"; then say "ClusterRoleBinding $name: unchanged"; return 0; fi
    code=$(call PUT "$crb/$name" "$dir/body.json")
    if [ "$code" = 422 ]; then # its roleRef differs, which cannot change in place
      code=$(call DELETE "$crb/$name")
      [ "$code" = 200 ] && code=$(call POST "$crb" "$dir/body.json")
    fi
  else
    code=$(call POST "$crb" "$dir/body.json")
  fi
  case $code in
    200 | 201) say "ClusterRoleBinding $name: written" ;;
    *) say "ClusterRoleBinding $name: the API server answered $code: $(head -c 300 "$dir/out" 2>/dev/null)"; return 1 ;;
  esac
}
# k8scp:cluster-admins -> ClusterRole cluster-admin
ensure 'k8scp:cluster-admins' b0b41670d136e1329306e7b53613e2da5a08311dc9051ab89944a4b9e10bc096 <<'K8SCP_JSON'
{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"k8scp:cluster-admins","labels":{"app.kubernetes.io/managed-by":"k8scp"},"annotations":{"k8scp.io/spec-sha256":"b0b41670d136e1329306e7b53613e2da5a08311dc9051ab89944a4b9e10bc096"}},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"k8scp:cluster-admins"}]}
K8SCP_JSON
# k8scp:apiserver-kubelet-client -> ClusterRole system:kubelet-api-admin
ensure 'k8scp:apiserver-kubelet-client' dbea94525276233a2377ace8ea4f7bb39979e5452d8c752e6a5dc648574e7d3d <<'K8SCP_JSON'
{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"k8scp:apiserver-kubelet-client","labels":{"app.kubernetes.io/managed-by":"k8scp"},"annotations":{"k8scp.io/spec-sha256":"dbea94525276233a2377ace8ea4f7bb39979e5452d8c752e6a5dc648574e7d3d"}},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"system:kubelet-api-admin"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"k8scp:apiserver-kubelet-client"}]}
K8SCP_JSON
