#!/usr/bin/env bash
# kube-apiserver, kube-controller-manager, kube-scheduler and kubectl at the release go.mod pins,
# version-stamped as upstream's hack/lib/version.sh does (build date = the release tag's time, from
# the module proxy's .info, so a rebuild gives the same binaries).
source "$(dirname "$0")/../lib.sh"
v="$(tc_version k8s.io/kubernetes)"
minor="$(cut -d. -f2 <<<"$v")"
build_date=2026-02-10T12:53:36Z # k8s.io/kubernetes@v1.34.4 .info "Time"
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=$build_date"
done
tc_build "$ld" "" tool
for b in kube-apiserver kube-controller-manager kube-scheduler; do tc_expect "Kubernetes $v" "$TC_OUT/$b" --version; done
tc_expect "Client Version: $v" "$TC_OUT/kubectl" version --client
