#!/usr/bin/env bash
# The previous Kubernetes release (for the rolling-upgrade test; not in the default toolchain), built with
# toolchain/kubernetes/build.sh's recipe: the four binaries, version-stamped as upstream's
# hack/lib/version.sh does, build date = the release tag's time from the module proxy's .info.
# (A copy of that recipe with another date: sourcing it would keep its changes out of this folder's hash.)
source "$(dirname "$0")/../../lib.sh"
v="$(tc_version k8s.io/kubernetes)"
minor="$(cut -d. -f2 <<<"$v")"
build_date=2026-06-11T16:59:07Z # k8s.io/kubernetes@v1.33.13 .info "Time"
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=$build_date"
done
tc_build "$ld" "" tool
for b in kube-apiserver kube-controller-manager kube-scheduler; do tc_expect "Kubernetes $v" "$TC_OUT/$b" --version; done
tc_expect "Client Version: $v" "$TC_OUT/kubectl" version --client
