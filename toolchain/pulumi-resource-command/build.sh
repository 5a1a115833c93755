#!/usr/bin/env bash
# Our own Pulumi resource plugin "command" (remote:Command, remote:CopyToRemote), compatible with the
# @pulumi/command 1.2.1 SDK; see README.md. `bash build.sh OUTDIR` builds OUTDIR/pulumi-resource-command.
source "$(dirname "$0")/../lib.sh"
v=1.2.1 # the version the engine asks for: the one in @pulumi/command's package.json
tc_log "pulumi-go-provider $(tc_version github.com/pulumi/pulumi-go-provider), plugin version $v"
tc_build "-s -w -X main.Version=$v" osusergo,grpcnotrace .
[ -x "$TC_OUT/pulumi-resource-command" ] || {
  tc_log "FAILED: $TC_OUT/pulumi-resource-command was not built"
  exit 1
}
tc_expect "$v" "$TC_OUT/pulumi-resource-command" --version
tc_log "built pulumi-resource-command $v ($(du -h "$TC_OUT/pulumi-resource-command" | cut -f1))"
