#!/usr/bin/env bash
# etcd, etcdctl and etcdutl at the release go.mod pins.
source "$(dirname "$0")/../lib.sh"
v="$(tc_version go.etcd.io/etcd/server/v3)"
tc_build "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$v" "" tool
mv -f "$TC_OUT/server" "$TC_OUT/etcd" # go names a .../server/v3 main "server"
tc_expect "etcd Version: ${v#v}" "$TC_OUT/etcd" --version
tc_expect "etcdctl version: ${v#v}" "$TC_OUT/etcdctl" version
tc_expect "etcdutl version: ${v#v}" "$TC_OUT/etcdutl" version
