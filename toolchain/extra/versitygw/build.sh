#!/usr/bin/env bash
# versitygw at the release go.mod pins, stamped as upstream's Makefile does (main.Version, main.Build,
# main.BuildTime); Build is "release" (no git checkout here), BuildTime the tag's time from the module proxy's .info.
source "$(dirname "$0")/../../lib.sh"
v="$(tc_version github.com/versity/versitygw)"
build_time=2026-09-04T20:21:34Z # github.com/versity/versitygw@v1.8.0 .info "Time"
tc_build "-s -w -X main.Version=$v -X main.Build=release -X main.BuildTime=$build_time" "" tool
tc_expect "Version  : $v" "$TC_OUT/versitygw" --version
