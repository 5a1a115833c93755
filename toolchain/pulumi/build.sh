#!/usr/bin/env bash
# The Pulumi CLI at the go.mod pin (the version is linked in as upstream's release build does).
source "$(dirname "$0")/../lib.sh"
v="$(tc_version github.com/pulumi/pulumi/pkg/v3)"
tc_build "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$v" osusergo,grpcnotrace tool
tc_expect "$v" "$TC_OUT/pulumi" version
