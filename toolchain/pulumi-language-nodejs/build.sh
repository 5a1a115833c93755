#!/usr/bin/env bash
# The Node.js language host from sdk/v3 (see go.mod for why this release). It has no version command.
source "$(dirname "$0")/../lib.sh"
v="$(tc_version github.com/pulumi/pulumi/sdk/v3)"
tc_build "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$v" osusergo,grpcnotrace tool
[ -x "$TC_OUT/pulumi-language-nodejs" ] && tc_log "built pulumi-language-nodejs ($v)"
