#!/usr/bin/env bash
# Smoke test of the Pulumi CLI's DIY (self-managed) state backend on S3-compatible storage served by versitygw, on
# loopback only: the stack lock refuses a second concurrent `pulumi up`, and the state is intact afterwards.
# See toolchain/extra/versitygw/state-backend.md.
#
#   bash scripts/toolchain.sh versitygw   # once (about 2-3 min)
#   bash scripts/s3-state-smoke.sh        # about 40 s; VERSITYGW=/path/to/versitygw to use another binary
#
# It starts versitygw's POSIX backend on a temporary directory (127.0.0.1, a port the kernel picks, random root
# credentials in its environment), creates a bucket, and runs the toolchain's pulumi against
#   PULUMI_BACKEND_URL=s3://BUCKET?endpoint=http://127.0.0.1:PORT&use_path_style=true&region=us-east-1
# with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a throwaway PULUMI_HOME (plugins linked from the toolchain's) and a
# tiny JavaScript program (one random.RandomString and a secret output; it waits S3_STATE_SMOKE_DELAY_MS, default
# 20000, before registering resources in the update). Update A takes the lock; once A's lock object is in the
# bucket, update B on the same stack must fail with "the stack is currently locked by 1 lock(s)". Then A must
# succeed, the lock must be gone, `pulumi stack export` must parse, `pulumi preview --expect-no-changes` must pass
# and no object in the bucket may hold the secret config value in plaintext. Every wait is bounded; every process
# it starts (each pulumi in its own session, with its plugins) and its temp dir are removed on exit.
# Exits non-zero when a check failed.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/env.sh disable=SC1091 # followed with shellcheck -x
source "$SCRIPT_DIR/env.sh"
# shellcheck source=scripts/lib/smoke.sh
source "$SCRIPT_DIR/lib/smoke.sh"

log() { printf '[s3-state] %s\n' "$*"; }
die() {
  printf '[s3-state] ERROR: %s\n' "$*" >&2
  exit 1
}

vgw="$(smoke_versitygw)"
command -v pulumi >/dev/null 2>&1 || die "no pulumi on PATH: build the toolchain (bash scripts/toolchain.sh)"
[ -d "$PULUMI_HOME/plugins" ] || die "no plugins in $PULUMI_HOME: build the toolchain (bash scripts/toolchain.sh)"
[ -d "$K8SCP_REPO/node_modules/@pulumi/random" ] || die "no node_modules/@pulumi/random: run npm ci"
command -v curl >/dev/null 2>&1 || die "curl is missing"

DELAY_MS="${S3_STATE_SMOKE_DELAY_MS:-20000}"
STEP_TIMEOUT=60                         # seconds, every pulumi command but update A
A_TIMEOUT=$((DELAY_MS / 1000 + 60))     # update A: its program's wait plus the same margin
REGION=us-east-1
BUCKET=pulumi-state
PROJECT=s3lock
STACK=dev

work="$(mktemp -d "${TMPDIR:-/tmp}/k8scp-s3-state.XXXXXX")"
vgw_pid=""
sessions=() # pids of the pulumi processes started, each the leader of its own session (setsid)

# kill_session SID: end every process of that session (a pulumi and the plugins it started in their own process
# groups), by pid: TERM, up to 3 s, then KILL.
kill_session() {
  local sid=$1 pids p
  pids="$(ps -eo pid=,sid= | awk -v s="$sid" '$2 == s { print $1 }')"
  [ -n "$pids" ] || return 0
  for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 1 30); do
    pids="$(ps -eo pid=,sid= | awk -v s="$sid" '$2 == s { print $1 }')"
    [ -n "$pids" ] || return 0
    sleep 0.1
  done
  for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
}
cleanup() {
  local s
  for s in "${sessions[@]}"; do kill_session "$s"; done
  smoke_stop "$vgw_pid"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show() { sed 's/^/    | /' "$1" | tail -n "${2:-15}"; }

# pulumi_bg OUT ARGS... : start `pulumi ARGS...` in the background in a session of its own (a background child of a
# non-interactive bash is no process group leader, so setsid execs in place: $! is pulumi and its session id);
# stdout and stderr to OUT. Sets bg_pid.
pulumi_bg() {
  local out=$1
  shift
  setsid pulumi "$@" </dev/null >"$out" 2>&1 &
  bg_pid=$!
  sessions+=("$bg_pid")
}
# wait_for PID SECS: wait for PID up to SECS seconds; on timeout interrupt it (SIGINT: pulumi cancels and unlocks),
# then end its session; sets rc to its exit code, or 124 after a timeout.
wait_for() {
  local pid=$1 secs=$2 i
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill_session "$pid"
    wait "$pid" 2>/dev/null || true
    rc=124
    return 0
  fi
  rc=0
  wait "$pid" || rc=$?
  kill_session "$pid" # plugins left behind, if any
}
# pl OUT ARGS... : run `pulumi ARGS...` bounded by STEP_TIMEOUT; sets rc and took (seconds, 2 decimals).
pl() {
  local out=$1 t0
  shift
  t0=$(date +%s%N)
  pulumi_bg "$out" "$@"
  wait_for "$bg_pid" "$STEP_TIMEOUT"
  took=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
}

# --- versitygw ----------------------------------------------------------------------------------------------------
key="state$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
secret="$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')"
root="$work/root"
mkdir -p "$root"
ROOT_ACCESS_KEY_ID="$key" ROOT_SECRET_ACCESS_KEY="$secret" \
  "$vgw" --health /health --port 127.0.0.1:0 --region "$REGION" posix "$root" >"$work/versitygw.log" 2>&1 &
vgw_pid=$!
port=""
for _ in $(seq 1 100); do
  kill -0 "$vgw_pid" 2>/dev/null || break
  port="$(ss -Hltnp 2>/dev/null | awk -v p="pid=$vgw_pid," 'index($0, p) { n = split($4, a, ":"); print a[n]; exit }')"
  [ -n "$port" ] && break
  sleep 0.1
done
if [ -z "$port" ]; then
  show "$work/versitygw.log" 30 >&2
  die "versitygw exited or did not listen within 10 s (log above)"
fi
endpoint="http://127.0.0.1:$port"
for _ in $(seq 1 50); do
  [ "$(curl -sS --max-time 1 -o /dev/null -w '%{http_code}' "$endpoint/health" 2>/dev/null)" = 200 ] && break
  sleep 0.1
done
log "versitygw $("$vgw" --version | sed -n 's/^Version *: //p') pid $vgw_pid on $endpoint, backend dir $root"

# The bucket, with a signed PUT (versitygw wants x-amz-content-sha256 on every request); credentials from a 0600 file.
(
  umask 077
  printf 'user = "%s:%s"\n' "$key" "$secret" >"$work/curl.conf"
)
code="$(curl -K "$work/curl.conf" --aws-sigv4 "aws:amz:$REGION:s3" --max-time 10 -sS -o "$work/curl.out" \
  -w '%{http_code}' -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -X PUT "$endpoint/$BUCKET" 2>&1 || true)"
[ "$code" = 200 ] || die "create bucket $BUCKET: HTTP $code $(head -c 300 "$work/curl.out" 2>/dev/null)"

# --- Pulumi environment -------------------------------------------------------------------------------------------
# A throwaway PULUMI_HOME: nothing is written to the toolchain's (nor to ~/.pulumi); its plugins are linked, no logs.
home="$work/pulumi-home"
mkdir -p "$home"
ln -s "$PULUMI_HOME/plugins" "$home/plugins"
ln -s /dev/null "$home/logs"
export PULUMI_HOME="$home"
export PULUMI_BACKEND_URL="s3://$BUCKET?endpoint=$endpoint&use_path_style=true&region=$REGION"
export AWS_ACCESS_KEY_ID="$key" AWS_SECRET_ACCESS_KEY="$secret"
# Nothing but these credentials, and no request off loopback: without credentials the AWS SDK would try the EC2
# instance metadata service (169.254.169.254).
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL \
  AWS_ENDPOINT_URL_S3 AWS_REQUEST_CHECKSUM_CALCULATION AWS_RESPONSE_CHECKSUM_VALIDATION PULUMI_ACCESS_TOKEN
PULUMI_CONFIG_PASSPHRASE="smoke-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export PULUMI_CONFIG_PASSPHRASE
unset PULUMI_CONFIG_PASSPHRASE_FILE
log "PULUMI_BACKEND_URL=$PULUMI_BACKEND_URL"

proj="$work/proj"
mkdir -p "$proj"
ln -s "$K8SCP_REPO/node_modules" "$proj/node_modules"
cat >"$proj/Pulumi.yaml" <<EOF
name: $PROJECT
runtime:
  name: nodejs
  options:
    typescript: false
main: index.js
EOF
printf '{ "name": "%s", "private": true }\n' "$PROJECT" >"$proj/package.json"
cat >"$proj/index.js" <<'EOF'
"use strict";
const pulumi = require("@pulumi/pulumi");
const random = require("@pulumi/random");
module.exports = (async () => {
  const config = new pulumi.Config();
  const delay = Number(process.env.S3_STATE_SMOKE_PROGRAM_DELAY_MS || "0");
  // Only in the update, not in its preview: the lock is held from before the preview to the end of the update.
  if (delay > 0 && !pulumi.runtime.isDryRun()) await new Promise((r) => setTimeout(r, delay));
  const s = new random.RandomString("s", { length: 12, special: false });
  return { value: s.result, token: config.requireSecret("token") };
})();
EOF
cd "$proj"
secret_value="s3-state-plaintext-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

pl "$work/init.out" stack init "$STACK"
[ "$rc" = 0 ] || { show "$work/init.out" >&2; die "pulumi stack init failed (exit $rc)"; }
ok "pulumi stack init $STACK on the S3 backend (${took}s)"
pl "$work/config.out" config set --secret token "$secret_value"
[ "$rc" = 0 ] || { show "$work/config.out" >&2; die "pulumi config set --secret failed (exit $rc)"; }

# --- Two concurrent updates ---------------------------------------------------------------------------------------
lockdir="$root/$BUCKET/.pulumi/locks/organization/$PROJECT/$STACK"
t0=$(date +%s%N)
S3_STATE_SMOKE_PROGRAM_DELAY_MS="$DELAY_MS" pulumi_bg "$work/a.out" up --yes
a_pid=$bg_pid
lockfile=""
for _ in $(seq 1 300); do # up to 30 s
  kill -0 "$a_pid" 2>/dev/null || break
  lockfile="$(find "$lockdir" -maxdepth 1 -name '*.json' -print -quit 2>/dev/null || true)"
  [ -n "$lockfile" ] && break
  sleep 0.1
done
if [ -z "$lockfile" ]; then
  bad "update A's lock object did not appear under $lockdir within 30 s"
  wait_for "$a_pid" 1
  show "$work/a.out" >&2
  die "no lock to test"
fi
ok "update A (pid $a_pid) holds the lock: ${lockfile#"$root/"}: $(cat "$lockfile")"

pl "$work/b.out" up --yes
b_rc=$rc
log "update B: exit $b_rc in ${took}s:"
show "$work/b.out"
refused() { [ "$1" != 0 ] && [ "$1" != 124 ]; } # 124: our timeout, not a refusal
check "update B refused (exit $b_rc)" refused "$b_rc"
check "update B's error: 'the stack is currently locked by 1 lock(s)'" grep -qF 'the stack is currently locked by 1 lock(s)' "$work/b.out"
check "update B's error names A's lock object" grep -qF "$(basename "$lockfile")" "$work/b.out"
check "update B's error names A's pid $a_pid" grep -qF "(pid $a_pid)" "$work/b.out"
check "update A still holds its lock after B" [ -f "$lockfile" ]

wait_for "$a_pid" "$A_TIMEOUT"
a_took=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
if [ "$rc" = 0 ]; then ok "update A succeeded (${a_took}s)"; else bad "update A: exit $rc"; show "$work/a.out" >&2; fi
left="$({ find "$root/$BUCKET/.pulumi/locks" -type f 2>/dev/null || true; } | wc -l)"
check "no lock object left in the bucket ($left)" [ "$left" = 0 ]

# --- The state afterwards -----------------------------------------------------------------------------------------
pl "$work/export.json" stack export
# shellcheck disable=SC2016 # a node script
if [ "$rc" = 0 ] && node -e '
  const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).deployment;
  const types = (d.resources || []).map((r) => r.type);
  if (!types.includes("random:index/randomString:RandomString")) throw new Error("no RandomString: " + types);
  if ((d.pending_operations || []).length) throw new Error("pending operations: " + JSON.stringify(d.pending_operations));
' "$work/export.json" 2>"$work/parse.err"; then
  ok "pulumi stack export parses: a RandomString, no pending operations (${took}s)"
else
  bad "pulumi stack export (exit $rc): $(head -c 300 "$work/parse.err")"
fi
pl "$work/preview.out" preview --expect-no-changes
if [ "$rc" = 0 ]; then ok "pulumi preview --expect-no-changes (${took}s)"; else bad "preview --expect-no-changes: exit $rc"; show "$work/preview.out" >&2; fi

# Secrets: the config value is ciphertext in every object in the bucket (the stack file, its .bak, history, backups).
state="$root/$BUCKET/.pulumi/stacks/$PROJECT/$STACK.json"
check "the stack's state object is a plain file in the backend dir" [ -f "$state" ]
plain="$(grep -rlF "$secret_value" "$root/$BUCKET" 2>/dev/null || true)"
check "no object in the bucket holds the secret in plaintext${plain:+: $plain}" [ -z "$plain" ]
check "the state holds the secret output as ciphertext" grep -q '"token":{"4dabf18193072939515e22adb298388d":"1b47061264138c4ac30d75fd1eb44270","ciphertext":"v1:' "$state"
pl "$work/export-secrets.json" stack export --show-secrets
check "the secret does decrypt with the passphrase (stack export --show-secrets)" grep -qF "$secret_value" "$work/export-secrets.json"
check "PULUMI_BACKEND_URL wrote no credentials.json to PULUMI_HOME" [ ! -e "$home/credentials.json" ]

errs="$(grep -cE '\| (5[0-9][0-9]) \|' "$work/versitygw.log" || true)"
check "versitygw answered no 5xx (${errs})" [ "$errs" = 0 ]

echo "s3-state-smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
