#!/usr/bin/env bash
# Smoke test of the versitygw extra (toolchain/extra/versitygw) and of plain curl as an S3 client, on loopback only:
# groundwork for uploading etcd snapshots to S3-compatible storage. No network but 127.0.0.1.
#
#   bash scripts/toolchain.sh versitygw   # once (about 2-3 min)
#   bash scripts/s3-smoke.sh              # about 5 s; VERSITYGW=/path/to/versitygw to use another binary
#
# It starts versitygw's POSIX backend on a temporary directory, bound to 127.0.0.1 on a port the kernel picks, with
# the root credentials in its environment (never on a command line), then drives it with Debian's curl
# (--aws-sigv4, path-style URLs) whose credentials come from a mode-0600 config file (-K), from stdin (--config -)
# or from a netrc file (--netrc-file): never from its command line. Every curl has --max-time; the server is
# killed on exit. It ends with 'N passed, N failed' and exits non-zero when a check failed.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/env.sh disable=SC1091 # followed with shellcheck -x
source "$SCRIPT_DIR/env.sh"
# shellcheck source=scripts/lib/smoke.sh
source "$SCRIPT_DIR/lib/smoke.sh"

log() { printf '[s3-smoke] %s\n' "$*"; }
die() {
  printf '[s3-smoke] ERROR: %s\n' "$*" >&2
  exit 1
}

vgw="$(smoke_versitygw)"
command -v curl >/dev/null 2>&1 || die "curl is missing (Debian package curl, 7.75 or newer for --aws-sigv4)"
curl --help all 2>/dev/null | grep -q -- '--aws-sigv4' || die "this curl has no --aws-sigv4 ($(curl --version | head -n1))"

MAXT=10 # seconds, every curl
REGION=us-east-1
SIGV4="aws:amz:$REGION:s3"

work="$(mktemp -d "${TMPDIR:-/tmp}/k8scp-s3-smoke.XXXXXX")"
pid=""
cleanup() {
  smoke_stop "$pid"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# one_of X A B... : X is one of A B ...
one_of() {
  local x=$1 w
  shift
  for w in "$@"; do [ "$x" = "$w" ] && return 0; done
  return 1
}

# Random credentials, made here and kept in files only.
key="smoke$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
secret="$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')"
root="$work/root"
mkdir -p "$root"
log "versitygw: $vgw ($("$vgw" --version | sed -n 's/^Version *: //p'))"
log "backend dir: $root on $(findmnt -no FSTYPE -T "$root" 2>/dev/null || stat -f -c %T "$root") (the posix backend keeps metadata in user.* xattrs; it checks at start)"

# The server: credentials through its environment (bash prefix assignments are not in any argv), port 0 on loopback.
ROOT_ACCESS_KEY_ID="$key" ROOT_SECRET_ACCESS_KEY="$secret" \
  "$vgw" --quiet --health /health --port 127.0.0.1:0 posix "$root" >"$work/server.log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 100); do
  kill -0 "$pid" 2>/dev/null || break
  port="$(ss -Hltnp 2>/dev/null | awk -v p="pid=$pid," 'index($0, p) { n = split($4, a, ":"); print a[n]; exit }')"
  [ -n "$port" ] && break
  sleep 0.1
done
if [ -z "$port" ]; then
  sed 's/^/    /' "$work/server.log" >&2
  die "versitygw exited or did not listen within 10 s (log above)"
fi
base="http://127.0.0.1:$port"
for _ in $(seq 1 50); do
  [ "$(curl -sS --max-time 1 -o /dev/null -w '%{http_code}' "$base/health" 2>/dev/null)" = 200 ] && break
  sleep 0.1
done
log "versitygw pid $pid on $base"

# Credentials for curl: a config file made under umask 077 (mode 0600), read with -K.
cfg="$work/curl.conf"
(
  umask 077
  printf 'user = "%s:%s"\n' "$key" "$secret" >"$cfg"
  printf 'user = "%s:%s"\n' "$key" "not-the-secret" >"$work/wrong.conf"
)
check "curl config file is mode 0600 (it is $(stat -c %a "$cfg"))" [ "$(stat -c %a "$cfg")" = 600 ]

# s3 CONFIG OUTFILE ARGS... : one signed request; prints the HTTP status (000 when none), the body goes to OUTFILE.
# versitygw (like AWS) wants x-amz-content-sha256 on every request and curl 7.88 does not add it: the callers give
# the payload's SHA-256 on uploads (the server checks it) and UNSIGNED-PAYLOAD elsewhere.
s3() {
  local conf=$1 out=$2
  shift 2
  curl -K "$conf" --aws-sigv4 "$SIGV4" --max-time "$MAXT" -sS -o "$out" -w '%{http_code}' "$@" 2>"$work/curl.err" || true
}
UNSIGNED=(-H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
sha() { sha256sum "$1" | cut -d' ' -f1; }
expect() { # expect WHAT WANT GOT
  if [ "$2" = "$3" ]; then ok "$1 ($3)"; else bad "$1: wanted HTTP $2, got $3: $(head -c 300 "$work/out" 2>/dev/null) $(cat "$work/curl.err")"; fi
}

bucket=snapshots
obj="etcd/snapshot-1.db"
head -c 1048576 /dev/urandom >"$work/payload"

expect "create bucket" 200 "$(s3 "$cfg" "$work/out" "${UNSIGNED[@]}" -X PUT "$base/$bucket")"
expect "PUT object (payload SHA-256 signed)" 200 "$(s3 "$cfg" "$work/out" -H "x-amz-content-sha256: $(sha "$work/payload")" -T "$work/payload" "$base/$bucket/$obj")"
check "the object is a plain file in the backend dir: root/$bucket/$obj" [ -f "$root/$bucket/$obj" ]
expect "GET object" 200 "$(s3 "$cfg" "$work/got" "${UNSIGNED[@]}" "$base/$bucket/$obj")"
check "GET returned the bytes PUT sent" cmp -s "$work/payload" "$work/got"
# Query values must be percent-encoded in the URL (prefix=etcd%2F): curl 7.88 signs the query as written, the
# server canonicalises it (etcd/ -> etcd%2F), and a literal '/' there is a SignatureDoesNotMatch (403).
expect "LIST (list-type=2, prefix=etcd%2F)" 200 "$(s3 "$cfg" "$work/out" "${UNSIGNED[@]}" "$base/$bucket?list-type=2&prefix=etcd%2F")"
check "LIST names $obj" grep -q "<Key>$obj</Key>" "$work/out"
expect "LIST with a literal '/' in the query is refused (curl 7.88 signs it unencoded)" 403 "$(s3 "$cfg" "$work/out" "${UNSIGNED[@]}" "$base/$bucket?list-type=2&prefix=etcd/")"

# Refusals.
expect "wrong secret refused" 403 "$(s3 "$work/wrong.conf" "$work/out" "${UNSIGNED[@]}" "$base/$bucket/$obj")"
check "wrong secret: SignatureDoesNotMatch" grep -q SignatureDoesNotMatch "$work/out"
# An access key the gateway does not know is a 404 (XAdminUserNotFound) in v1.8.0, not a 403: a client must treat
# every non-2xx as a failure, not only 403.
printf 'user = "%s:%s"\n' "nosuchkey" "$secret" >"$work/wrong.conf"
expect "unknown access key refused (404 in versitygw v1.8.0)" 404 "$(s3 "$work/wrong.conf" "$work/out" "${UNSIGNED[@]}" "$base/$bucket/$obj")"
check "unknown access key: XAdminUserNotFound" grep -q XAdminUserNotFound "$work/out"
printf 'user = "%s:%s"\n' "$key" "not-the-secret" >"$work/wrong.conf"
expect "unsigned request refused" 403 "$(curl -sS --max-time "$MAXT" -o "$work/out" -w '%{http_code}' "$base/$bucket/$obj" 2>"$work/curl.err" || true)"
expect "upload whose body does not match its signed SHA-256 refused" 400 "$(s3 "$cfg" "$work/out" -H "x-amz-content-sha256: $(printf other | sha256sum | cut -d' ' -f1)" -T "$work/payload" "$base/$bucket/tampered")"
check "mismatch: XAmzContentSHA256Mismatch" grep -q XAmzContentSHA256Mismatch "$work/out"
expect "streamed upload from stdin (chunked, no Content-Length) refused" 411 "$(head -c 1000 /dev/urandom | s3 "$cfg" "$work/out" "${UNSIGNED[@]}" -T - "$base/$bucket/streamed")"

# --fail / --fail-with-body: a refused upload is a non-zero exit, not only a status code: 22 usually, but 55 (send
# error) when the server answers 403 and closes the connection while curl is still sending the body (1 run in ~30
# here). A client must treat any non-zero exit as a failure.
rc=0
curl -K "$work/wrong.conf" --aws-sigv4 "$SIGV4" --max-time "$MAXT" -sS --fail-with-body -o "$work/out" "${UNSIGNED[@]}" \
  -T "$work/payload" "$base/$bucket/refused" 2>"$work/curl.err" || rc=$?
check "--fail-with-body upload with a wrong secret exits non-zero (exit $rc; 22, or 55 when refused mid-body)" one_of "$rc" 22 55
rc=0
curl -K "$cfg" --aws-sigv4 "$SIGV4" --max-time "$MAXT" -sS --fail -o /dev/null "${UNSIGNED[@]}" \
  -T "$work/payload" "$base/no-such-bucket/x" 2>"$work/curl.err" || rc=$?
check "--fail upload to a missing bucket exits 22 (exit $rc)" [ "$rc" = 22 ]
rc=0
curl -K "$cfg" --aws-sigv4 "$SIGV4" --max-time "$MAXT" -sS --fail -o /dev/null "${UNSIGNED[@]}" "$base/$bucket/$obj" 2>"$work/curl.err" || rc=$?
check "--fail GET that succeeds exits 0 (exit $rc)" [ "$rc" = 0 ]

# Other ways to keep the credentials off curl's command line.
got="$(printf 'user = "%s:%s"\n' "$key" "$secret" | curl --config - --aws-sigv4 "$SIGV4" --max-time "$MAXT" -sS -o /dev/null \
  -w '%{http_code}' "${UNSIGNED[@]}" "$base/$bucket/$obj" 2>"$work/curl.err" || true)"
expect "credentials from stdin (--config -)" 200 "$got"
(
  umask 077
  printf 'machine 127.0.0.1\nlogin %s\npassword %s\n' "$key" "$secret" >"$work/netrc"
)
got="$(curl --netrc-file "$work/netrc" --aws-sigv4 "$SIGV4" --max-time "$MAXT" -sS -o /dev/null -w '%{http_code}' \
  "${UNSIGNED[@]}" "$base/$bucket/$obj" 2>"$work/curl.err" || true)"
expect "credentials from --netrc-file" 200 "$got"

# While a curl runs, neither its argv nor the server's holds the secret. The curl is an upload from stdin whose
# 5 bytes come after 1 s (--limit-rate did not slow a loopback GET of 1 MiB in curl 7.88), with its Content-Length
# given and "Transfer-Encoding:" removed: curl 7.88 sends -T - chunked even with a Content-Length header (both
# headers, and a 403: it signs content-length 5, the server sees 0), and chunked alone is a 411 at once.
argv_lacks_secret() { ! tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF "$secret"; }
{
  sleep 1
  printf 'late\n'
} | curl -K "$cfg" --aws-sigv4 "$SIGV4" --max-time "$MAXT" -sS -o /dev/null -w '%{http_code}' "${UNSIGNED[@]}" \
  -H "Content-Length: 5" -H "Transfer-Encoding:" -T - "$base/$bucket/late" >"$work/late.code" 2>"$work/curl.err" &
cpid=$!
sleep 0.3
if kill -0 "$cpid" 2>/dev/null; then
  check "the secret is not in curl's argv (-K FILE)" argv_lacks_secret "$cpid"
else
  bad "the waiting curl ended before its argv could be read"
fi
check "the secret is not in versitygw's argv (environment)" argv_lacks_secret "$pid"
wait "$cpid" || true
expect "upload from stdin with Content-Length given" 200 "$(cat "$work/late.code")"
expect "DELETE it" 204 "$(s3 "$cfg" "$work/out" "${UNSIGNED[@]}" -X DELETE "$base/$bucket/late")"

# Clean up through the API.
expect "DELETE object" 204 "$(s3 "$cfg" "$work/out" "${UNSIGNED[@]}" -X DELETE "$base/$bucket/$obj")"
expect "GET deleted object" 404 "$(s3 "$cfg" "$work/out" "${UNSIGNED[@]}" "$base/$bucket/$obj")"
expect "LIST after DELETE" 200 "$(s3 "$cfg" "$work/out" "${UNSIGNED[@]}" "$base/$bucket?list-type=2")"
check "the bucket is empty" grep -q '<KeyCount>0</KeyCount>' "$work/out"
expect "DELETE bucket" 204 "$(s3 "$cfg" "$work/out" "${UNSIGNED[@]}" -X DELETE "$base/$bucket")"
check "the bucket's dir is removed" [ ! -e "$root/$bucket" ]

echo "s3-smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
