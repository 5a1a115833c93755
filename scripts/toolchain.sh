#!/usr/bin/env bash
# Build the pinned toolchain once, into a cache outside the clone, and print its directory.
#
#   npm run toolchain                    build whatever is missing (a no-op when complete)
#   bash scripts/toolchain.sh etcd pulumi   only the named components (and re-assemble)
#   bash scripts/toolchain.sh kubernetes-previous   an extra (toolchain/extra/NAME), built only when named
#   bash scripts/toolchain.sh versitygw  another extra: an S3 gateway for snapshot-upload tests (scripts/s3-smoke.sh)
#
# Every component is a small committed Go module under toolchain/<name>/ with its go.mod and go.sum
# (every checksum pinned and reviewable) and a build.sh. This script only orchestrates:
#   1. download the module's dependencies from the Go module proxy, each try bounded by
#      K8SCP_DOWNLOAD_TIMEOUT seconds (default 900), up to 3 tries, naming the module on failure;
#   2. run `bash build.sh OUT` with GOPROXY=off (nothing is fetched while building) into
#      ${K8SCP_CACHE:-~/.cache/pulumi-k8s-control-plane}/components/<name>/<hash of its files>/,
#      so a component is rebuilt only when its own folder (or toolchain/lib.sh) changes;
#   3. assemble $K8SCP_TOOLCHAIN_DIR (scripts/env.sh computes it): bin/ holds hard links to the
#      binaries (the language host sits beside `pulumi`, where the CLI looks for it), pulumi-home/
#      is the project's private PULUMI_HOME with the resource plugins installed by
#      `pulumi plugin install resource NAME VERSION --file BINARY` at the versions the npm SDKs ask for,
#      manifest.json and versions.txt describe it, stamps/complete marks a full build. Other assembled
#      dirs are removed, and component builds unused for 14 days.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/env.sh
source "$SCRIPT_DIR/env.sh"
TC="${K8SCP_TOOLCHAIN_DIR:?scripts/env.sh did not compute the toolchain directory}"
CACHE="${K8SCP_CACHE:-$HOME/.cache/pulumi-k8s-control-plane}"
SRC="$K8SCP_REPO/toolchain"
DOWNLOAD_TIMEOUT="${K8SCP_DOWNLOAD_TIMEOUT:-900}"
DOWNLOAD_TRIES=3

export CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN=local GOFLAGS="-buildvcs=false -modcacherw"

log() { printf '[toolchain] %s\n' "$*"; }
die() {
  printf '[toolchain] ERROR: %s\n' "$*" >&2
  exit 1
}

# The components in build order (plugins last: installing them needs the CLI), what each yields, and
# where it goes: bin:NAMES go to bin/, plugin:NAME is installed as a resource plugin.
COMPONENTS=(kubernetes etcd pulumi pulumi-language-nodejs k8scp-backup pulumi-resource-command pulumi-resource-tls pulumi-resource-random)
declare -A YIELDS=(
  [kubernetes]="bin:kube-apiserver,kube-controller-manager,kube-scheduler,kubectl"
  [etcd]="bin:etcd,etcdctl,etcdutl"
  [pulumi]="bin:pulumi"
  [pulumi-language-nodejs]="bin:pulumi-language-nodejs"
  [k8scp-backup]="bin:k8scp-backup"
  [pulumi-resource-command]="plugin:command"
  [pulumi-resource-tls]="plugin:tls"
  [pulumi-resource-random]="plugin:random"
  [kubernetes-previous]="bin:kube-apiserver,kube-controller-manager,kube-scheduler,kubectl"
  [versitygw]="bin:versitygw"
)
# Extras are built only when named (`bash scripts/toolchain.sh kubernetes-previous`, as `npm run test:upgrade`
# does) and stay out of the default toolchain and its hash: their folders are under toolchain/extra/. Each is
# assembled as a complete binDir, $TC/extra/NAME/bin: its own binaries and links to the default etcd ones.
EXTRAS=(kubernetes-previous versitygw)
# src NAME : the component's folder under toolchain/.
src() { if [[ " ${EXTRAS[*]} " == *" $1 "* ]]; then echo "extra/$1"; else echo "$1"; fi; }

command -v go >/dev/null 2>&1 || die "go is not on PATH (Go >= 1.24 builds the toolchain; Debian: the golang package is too old, use the Go release)"
GO_VERSION="$(go env GOVERSION)"
declare -A PIN=()
while IFS='=' read -r k v; do PIN[$k]=$v; done < <(k8scp_toolchain_versions)
# shellcheck disable=SC2016 # a node script, not shell
PIN[kubernetes-previous]="$(k8scp_node -p 'require(process.argv[1]).toolchain.kubernetesPrevious' "$K8SCP_REPO/package.json")"
# shellcheck disable=SC2016 # a node script, not shell
PIN[versitygw]="$(k8scp_node -p 'require(process.argv[1]).toolchain.versitygw' "$K8SCP_REPO/package.json")"

# Each go.mod must select the release package.json pins (one truth, checked before any download).
# check_pin FOLDER MODULE PIN KEY : toolchain/FOLDER/go.mod requires MODULE at v$PIN[KEY].
check_pin() {
  local got
  got="$(sed -n "s|^\t$2 \(v[^ ]*\).*|\1|p" "$SRC/$1/go.mod")"
  [ "$got" = "v${PIN[$3]}" ] || die "toolchain/$1/go.mod requires $2 ${got:-(nothing)} but package.json pins ${PIN[$3]} ($4); make them agree"
}
check_pins() {
  check_pin kubernetes k8s.io/kubernetes kubernetes toolchain.kubernetes
  check_pin etcd go.etcd.io/etcd/server/v3 etcd toolchain.etcd
  check_pin pulumi github.com/pulumi/pulumi/pkg/v3 pulumi-cli toolchain.pulumi
  check_pin extra/kubernetes-previous k8s.io/kubernetes kubernetes-previous toolchain.kubernetesPrevious
  check_pin extra/versitygw github.com/versity/versitygw versitygw toolchain.versitygw
}

# download NAME : fetch every module NAME's build (and its own tests) needs, bounded and retried.
download() {
  local name=$1 dir="$SRC/$(src "$1")" try out rc
  local -a lists=()
  grep -q '^tool' "$dir/go.mod" && lists+=("go list -deps tool")
  compgen -G "$dir/*.go" >/dev/null && lists+=("go list -deps -test ./...")
  for try in $(seq 1 "$DOWNLOAD_TRIES"); do
    rc=0
    out="$(cd "$dir" && for l in "${lists[@]}"; do timeout "$DOWNLOAD_TIMEOUT" $l >/dev/null || exit $?; done 2>&1)" || rc=$?
    [ "$rc" -eq 0 ] && return 0
    if [ "$rc" -eq 124 ]; then
      log "$name: downloading Go modules for toolchain/$name timed out after ${DOWNLOAD_TIMEOUT}s (try $try of $DOWNLOAD_TRIES)"
    else
      log "$name: downloading Go modules for toolchain/$name failed (try $try of $DOWNLOAD_TRIES): $(grep -m3 -E 'go: |reading|403|404|timeout' <<<"$out" | tr '\n' ' ')"
    fi
    [ "$try" -lt "$DOWNLOAD_TRIES" ] && sleep $((try * 10))
  done
  printf '%s\n' "$out" | tail -n 15 >&2
  die "$name: could not download the Go modules of toolchain/$name after $DOWNLOAD_TRIES tries (see above: the module path and the proxy's answer)"
}

# outputs NAME : the files the component yields, one per line.
outputs() {
  local y="${YIELDS[$1]}"
  case "$y" in
    bin:*) tr ',' '\n' <<<"${y#bin:}" ;;
    plugin:*) echo "pulumi-resource-${y#plugin:}" ;;
  esac
}

# built_dir NAME : the component's cache directory for the current sources (hashes computed once per run).
declare -A HASH=()
for c in "${COMPONENTS[@]}" "${EXTRAS[@]}"; do HASH[$c]="$(k8scp_component_hash "$(src "$c")")"; done
built_dir() { printf '%s/components/%s/%s\n' "$CACHE" "$1" "${HASH[$1]}"; }

is_built() {
  local d f
  d="$(built_dir "$1")"
  [ -f "$d/stamp.json" ] || return 1
  while read -r f; do [ -x "$d/$f" ] || return 1; done < <(outputs "$1")
}

build() {
  local name=$1 dir out tmp t0 logf
  dir="$SRC/$(src "$name")"
  [ -f "$dir/build.sh" ] || die "$name: toolchain/$(src "$name")/build.sh is missing"
  out="$(built_dir "$name")"
  if is_built "$name"; then
    log "$name: up to date ($out)"
    return 0
  fi
  t0=$SECONDS
  log "$name: downloading Go modules (each try at most ${DOWNLOAD_TIMEOUT}s) ..."
  download "$name"
  log "$name: modules ready in $((SECONDS - t0))s; building (log: $out.log) ..."
  tmp="$out.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$(dirname "$out")"
  logf="$out.log"
  if ! (cd "$dir" && GOPROXY=off GOFLAGS="$GOFLAGS -mod=readonly" bash build.sh "$tmp") >"$logf" 2>&1; then
    tail -n 30 "$logf" | sed 's/^/    /' >&2
    rm -rf "$tmp"
    die "$name: build failed after $((SECONDS - t0))s; full log: $logf"
  fi
  grep '^\[toolchain' "$logf" | sed 's/^/  /' || true
  local f
  while read -r f; do [ -x "$tmp/$f" ] || die "$name: build.sh did not produce $f (log: $logf)"; done < <(outputs "$name")
  printf '{"name":"%s","hash":"%s","go":"%s","builtAt":"%s","buildSeconds":%d}\n' \
    "$name" "$(basename "$out")" "$GO_VERSION" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" $((SECONDS - t0)) >"$tmp/stamp.json"
  rm -rf "$out"
  mv "$tmp" "$out"
  log "$name: built in $((SECONDS - t0))s ($(du -sh "$out" | cut -f1))"
}

# assemble NAME : link or install the component into the toolchain dir.
assemble() {
  local name=$1 d f y plugin version
  d="$(built_dir "$name")"
  y="${YIELDS[$name]}"
  case "$y" in
    bin:*)
      while read -r f; do ln -f "$d/$f" "$TC/bin/$f"; done < <(outputs "$name")
      ;;
    plugin:*)
      plugin="${y#plugin:}"
      version="${PIN[pulumi-$plugin]}"
      [ -x "$TC/bin/pulumi" ] || die "$name: the pulumi CLI must be built before plugins are installed"
      if ! cmp -s "$d/pulumi-resource-$plugin" "$PULUMI_HOME/plugins/resource-$plugin-v$version/pulumi-resource-$plugin"; then
        "$TC/bin/pulumi" plugin install resource "$plugin" "$version" --file "$d/pulumi-resource-$plugin" --reinstall >/dev/null
        log "$name: installed as plugin $plugin v$version in $PULUMI_HOME"
      fi
      ;;
  esac
}

# assemble_extra NAME : $TC/extra/NAME/bin, a binDir with NAME's binaries and the default etcd ones.
assemble_extra() {
  local d="$TC/extra/$1/bin" f
  mkdir -p "$d"
  while read -r f; do ln -f "$(built_dir "$1")/$f" "$d/$f"; done < <(outputs "$1")
  if is_built etcd; then
    while read -r f; do ln -f "$(built_dir etcd)/$f" "$d/$f"; done < <(outputs etcd)
  fi
  log "$1: assembled as $d"
}

write_manifest() {
  local n
  {
    printf '{\n  "toolchainDir": "%s",\n  "go": "%s",\n  "components": {\n' "$TC" "$GO_VERSION"
    local first=1
    for n in "${COMPONENTS[@]}"; do
      [ $first = 1 ] || printf ',\n'
      first=0
      if is_built "$n"; then
        printf '    "%s": {"status": "built", "dir": "%s", "stamp": %s}' "$n" "$(built_dir "$n")" "$(cat "$(built_dir "$n")/stamp.json")"
      else
        printf '    "%s": {"status": "missing"}' "$n"
      fi
    done
    printf '\n  }\n}\n'
  } >"$TC/manifest.json.tmp"
  mv "$TC/manifest.json.tmp" "$TC/manifest.json"
  k8scp_toolchain_versions >"$TC/versions.txt"
}

# prune : remove other assembled toolchain dirs (hard links and a plugin home: cheap to make again) and
# component builds the current sources do not use, each made more than 14 days ago (a younger one may be another
# checkout's, in use: two clones on one machine must not delete each other's toolchain mid-run), and entries of
# Node's compile cache (scripts/env.sh; one per module file and checkout, never removed by Node) written
# more than 14 days ago (Node writes them again when needed).
prune() {
  local d c keep
  if [ -d "$CACHE/node-compile-cache" ]; then find "$CACHE/node-compile-cache" -type f -mtime +14 -delete 2>/dev/null || true; fi
  for d in "$CACHE"/toolchain/*/; do
    d="${d%/}"
    [ "$d" = "$TC" ] && continue
    if [ -n "$(find "$d" -maxdepth 0 -mtime +14)" ]; then rm -rf "$d"; fi
  done
  for c in "${COMPONENTS[@]}" "${EXTRAS[@]}"; do
    keep="$(built_dir "$c")"
    for d in "$CACHE/components/$c"/*; do
      [ -e "$d" ] || continue
      case "$d" in "$keep" | "$keep.log") continue ;; esac
      if [ -n "$(find "$d" -maxdepth 0 -mtime +14)" ]; then rm -rf "$d"; fi
    done
  done
}

main() {
  local t_start=$SECONDS c
  local -a selected=("${COMPONENTS[@]}")
  if [ "$#" -gt 0 ]; then
    selected=("$@")
    for c in "${selected[@]}"; do
      [ -n "${YIELDS[$c]+x}" ] || die "unknown component '$c' (known: ${COMPONENTS[*]}; extras: ${EXTRAS[*]})"
    done
  fi
  check_pins
  mkdir -p "$CACHE"
  exec 9>"$CACHE/toolchain.lock"
  if ! flock -n 9; then
    log "another toolchain build holds $CACHE/toolchain.lock; waiting ..."
    flock 9
  fi
  mkdir -p "$TC/bin" "$TC/stamps" "$PULUMI_HOME" "$CACHE/components"
  log "toolchain dir: $TC ($GO_VERSION)"
  for c in "${selected[@]}"; do build "$c"; done
  for c in "${COMPONENTS[@]}"; do
    if is_built "$c"; then assemble "$c"; fi
  done
  for c in "${EXTRAS[@]}"; do
    if is_built "$c"; then assemble_extra "$c"; fi
  done
  write_manifest
  prune
  local all=1
  for c in "${COMPONENTS[@]}"; do is_built "$c" || all=0; done
  if [ "$all" = 1 ]; then
    date -u +%Y-%m-%dT%H:%M:%SZ >"$TC/stamps/complete"
  else
    rm -f "$TC/stamps/complete"
  fi
  log "done in $((SECONDS - t_start))s"
  echo "$TC"
}

main "$@"
