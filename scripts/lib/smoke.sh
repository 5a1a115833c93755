# shellcheck shell=bash
# What the loopback smoke scripts (scripts/s3-smoke.sh, scripts/s3-state-smoke.sh) share: the versitygw binary,
# stopping a background process, and the ok/bad/check counters. Sourced after scripts/env.sh; needs log and die.

# smoke_versitygw : prints the versitygw binary: $VERSITYGW, else the build for the current sources in the
# component cache (present even when another checkout's toolchain run has pruned the assembled
# $K8SCP_TOOLCHAIN_DIR/extra/versitygw/bin), else that assembled one.
smoke_versitygw() {
  local vgw="${VERSITYGW:-}"
  if [ -z "$vgw" ]; then
    vgw="${K8SCP_CACHE:-$HOME/.cache/pulumi-k8s-control-plane}/components/versitygw/$(k8scp_component_hash extra/versitygw)/versitygw"
    [ -x "$vgw" ] || vgw="$K8SCP_TOOLCHAIN_DIR/extra/versitygw/bin/versitygw"
  fi
  [ -x "$vgw" ] || die "no versitygw binary ($vgw); build it: bash scripts/toolchain.sh versitygw (or set VERSITYGW)"
  printf '%s' "$vgw"
}

# smoke_stop PID : TERM, up to 5 s, then KILL; reaps it. Nothing when PID is empty or gone.
smoke_stop() {
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

passed=0 failed=0
ok() {
  passed=$((passed + 1))
  log "ok: $*"
}
bad() {
  failed=$((failed + 1))
  log "FAILED: $*"
}
# check WHAT CMD... : ok when CMD succeeds.
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}
