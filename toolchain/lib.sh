# shellcheck shell=bash
# Sourced by toolchain/*/build.sh. scripts/toolchain.sh calls `bash build.sh OUTDIR` in the module's
# folder after it downloaded the module's dependencies (with a timeout and retries); the build itself
# runs with GOPROXY=off, so nothing is fetched here.
set -euo pipefail
TC_NAME="$(basename "$(pwd)")"
TC_OUT="${1:?usage: bash build.sh OUTDIR}"
mkdir -p "$TC_OUT"
TC_OUT="$(cd "$TC_OUT" && pwd)"
export CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN=local
tc_log() { printf '[toolchain:%s] %s\n' "$TC_NAME" "$*"; }

# tc_version MODULE : the version go.mod selects for MODULE (after replaces).
tc_version() { go list -m -f '{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}' "$1"; }

# tc_build LDFLAGS TAGS PACKAGES... : go build into TC_OUT (binary names as `go build -o DIR/` gives them).
tc_build() {
  local ld=$1 tags=$2
  shift 2
  tc_log "go build ${tags:+-tags $tags }$*"
  go build -trimpath ${tags:+-tags "$tags"} -ldflags "$ld" -o "$TC_OUT/" "$@"
}

# tc_expect WANT CMD... : CMD must succeed and print WANT.
tc_expect() {
  local want=$1 out
  shift
  out="$("$@" 2>&1)" || {
    tc_log "FAILED: $* exited non-zero: $out"
    return 1
  }
  [[ $out == *"$want"* ]] || {
    tc_log "FAILED: expected '$want' in the output of $*: $out"
    return 1
  }
  tc_log "$(basename "$1") ${*:2}: $(head -n1 <<<"$out")"
}
