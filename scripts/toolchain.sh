#!/usr/bin/env bash
# Build the pinned toolchain from Go modules, once, into a cache outside the clone.
#
#   npm run toolchain              # build whatever is missing (no-op when complete)
#   bash scripts/toolchain.sh etcd # only the named components
#
# Versions come from package.json (toolchain.kubernetes, toolchain.etcd and the
# @pulumi/* dependency versions). The cache directory is
#   ${K8SCP_CACHE:-$HOME/.cache/pulumi-k8s-control-plane}/toolchain/<hash>/
# where <hash> covers the versions and K8SCP_TOOLCHAIN_RECIPE (scripts/env.sh,
# which also computes the directory for everyone else). It holds:
#   bin/          kube-apiserver kube-controller-manager kube-scheduler kubectl
#                 etcd etcdctl pulumi pulumi-language-nodejs
#   providers/    pulumi-resource-{command,tls,random} (also installed into
#                 pulumi-home/plugins; kept off PATH on purpose)
#   pulumi-home/  PULUMI_HOME with the provider plugins installed
#   src/<name>/   the generated wrapper Go modules (go.mod, go.sum)
#   logs/<name>.log, stamps/<name>.json, manifest.json, versions.txt
#
# Every binary is built with `go build` from a wrapper module of ours that
# requires the upstream module(s) at the pinned version, because upstream
# go.mod files carry local `replace` directives (./staging, ../api, ../sdk)
# that `go install pkg@version` refuses. Local replaces are re-pointed at the
# published sibling modules of the same release; non-local replaces are copied.
#
# Pulumi components whose modules the Go module proxy does not serve are
# probed, recorded as "unavailable" in manifest.json with the proxy's reason and
# skipped with a warning. The run fails (exit 1) only when a component that can
# be obtained fails to build.
# shellcheck disable=SC2016,SC2317 # node snippets in single quotes; build_* run indirectly
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/env.sh
source "$SCRIPT_DIR/env.sh"
# shellcheck source=scripts/toolchain/pins.sh
source "$SCRIPT_DIR/toolchain/pins.sh"

TC="${K8SCP_TOOLCHAIN_DIR:?scripts/env.sh did not compute the toolchain directory}"

export CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN=local
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

log() { printf '[toolchain] %s\n' "$*"; }
warn() { printf '[toolchain] WARNING: %s\n' "$*" >&2; }
die() {
  printf '[toolchain] ERROR: %s\n' "$*" >&2
  exit 1
}

command -v go >/dev/null 2>&1 || die "go is not on PATH (Go >= 1.24 is needed to build the toolchain)"
GO_VERSION="$(go env GOVERSION)"

# --- versions ---------------------------------------------------------------
declare -A PIN=()
while IFS='=' read -r k v; do PIN[$k]=$v; done < <(k8scp_toolchain_versions)
K8S="${PIN[kubernetes]}"
ETCD="${PIN[etcd]}"
PULUMI="${PIN[pulumi]}"
CMD="${PIN[pulumi-command]}"
TLS="${PIN[pulumi-tls]}"
RANDOM_V="${PIN[pulumi-random]}"

ALL_COMPONENTS=(kubernetes etcd pulumi pulumi-language-nodejs pulumi-resource-command pulumi-resource-tls pulumi-resource-random)

mkdir -p "$TC"/{bin,providers,pulumi-home,src,logs,stamps,build}
exec 9>"$TC/.lock"
if ! flock -n 9; then
  log "another toolchain build holds $TC/.lock; waiting ..."
  flock 9
fi

# --- small helpers ----------------------------------------------------------

# jfield FIELD < JSON : print a top-level field (strings raw, others as JSON).
jfield() {
  k8scp_node -e '
    let s = "";
    process.stdin.on("data", (d) => (s += d)).on("end", () => {
      let o;
      try { o = JSON.parse(s); } catch { return; }
      const v = o[process.argv[1]];
      if (v === undefined || v === null) return;
      process.stdout.write(typeof v === "string" ? v : JSON.stringify(v));
    });' "$1"
}

# short_reason TEXT : the proxy's status and message, without the proxy's address.
short_reason() {
  k8scp_node -e '
    const e = process.argv[1];
    const m = e.match(/(\d{3} [^\n]*)\n\s*server response:\s*([^\n]*)/);
    let r = m ? `${m[1].trim()}: ${m[2].trim()}` : e.split("\n").filter(Boolean).slice(-1)[0] || e;
    process.stdout.write(r.replace(/https?:\/\/[^\s/]+/g, "<proxy>"));' "$1"
}

# write_state FILE key=value... : write a component state as JSON.
#   bin:NAME=PATH goes into "binaries", plugin:NAME=PATH into "plugins",
#   num:KEY=N is a number, anything else a string.
write_state() {
  local file=$1
  shift
  k8scp_node -e '
    const fs = require("fs");
    const [file, ...kv] = process.argv.slice(1);
    const o = {};
    for (const a of kv) {
      const i = a.indexOf("=");
      const k = a.slice(0, i), v = a.slice(i + 1);
      if (k.startsWith("bin:")) (o.binaries ??= {})[k.slice(4)] = v;
      else if (k.startsWith("plugin:")) (o.plugins ??= {})[k.slice(7)] = v;
      else if (k.startsWith("num:")) o[k.slice(4)] = Number(v);
      else o[k] = v;
    }
    fs.writeFileSync(file + ".tmp", JSON.stringify(o, null, 2) + "\n");
    fs.renameSync(file + ".tmp", file);' "$file" "$@"
}

# state_check FILE : print "built" when the stamp says built and every binary /
# plugin it lists exists; "unavailable<TAB>MODULE@VERSION<TAB>REASON<TAB>TIME"
# when the proxy refused the component
# less than K8SCP_TOOLCHAIN_REPROBE_HOURS (default 24) ago and
# K8SCP_TOOLCHAIN_REPROBE is not 1; "stale" otherwise.
state_check() {
  if [ ! -f "$1" ]; then
    echo stale
    return 0
  fi
  k8scp_node -e '
    const fs = require("fs");
    const [file, recipe, reprobe, hours] = process.argv.slice(1);
    let o;
    try { o = JSON.parse(fs.readFileSync(file, "utf8")); } catch { o = {}; }
    let r = "stale";
    if (o.recipe === recipe && o.status === "built") {
      const paths = [...Object.values(o.binaries || {}), ...Object.values(o.plugins || {})];
      r = paths.every((p) => { try { fs.accessSync(p, fs.constants.X_OK); return true; } catch { return false; } })
        ? "built" : "stale";
    } else if (o.recipe === recipe && o.status === "unavailable" && reprobe !== "1") {
      const age = Date.now() - Date.parse(o.checkedAt);
      if (age >= 0 && age < Number(hours) * 3600e3) {
        r = ["unavailable", `${o.module}@${o.version}`, o.reason, o.checkedAt].join("\t");
      }
    }
    console.log(r);' "$1" "$K8SCP_TOOLCHAIN_RECIPE" "${K8SCP_TOOLCHAIN_REPROBE:-0}" "${K8SCP_TOOLCHAIN_REPROBE_HOURS:-24}"
}

# go_download MODULE@QUERY : `go mod download -json`; sets DL_JSON and DL_ERROR.
go_download() {
  DL_JSON="$(cd "$TC" && go mod download -json "$1" 2>&1)" || true
  DL_ERROR="$(jfield Error <<<"$DL_JSON")"
  if [ -z "$DL_ERROR" ] && [ -z "$(jfield GoMod <<<"$DL_JSON")" ]; then
    DL_ERROR="${DL_JSON:-go mod download $1 printed nothing}"
  fi
  [ -z "$DL_ERROR" ]
}

# gomod_parse GO.MOD : one record per line:
#   go VERSION | godebug KEY=VALUE | require MODULE VERSION |
#   replace-local MODULE TARGET | replace LEFT => RIGHT
gomod_parse() {
  awk '
    function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t\r]+$/, "", s); return s }
    { line = $0; sub(/\/\/.*$/, "", line); line = trim(line) }
    line == "" { next }
    block != "" && line == ")" { block = ""; next }
    block == "" && line ~ /^[a-z]+[ \t]*\($/ { block = line; sub(/[ \t]*\($/, "", block); next }
    {
      if (block != "") { kw = block; rest = line }
      else { kw = line; sub(/[ \t].*$/, "", kw); rest = line; sub(/^[^ \t]+[ \t]*/, "", rest) }
    }
    kw == "go" { print "go", rest }
    kw == "godebug" { print "godebug", rest }
    kw == "require" { split(rest, a, /[ \t]+/); print "require", a[1], a[2] }
    kw == "replace" {
      n = index(rest, "=>"); l = trim(substr(rest, 1, n - 1)); r = trim(substr(rest, n + 2))
      split(l, a, /[ \t]+/)
      if (r ~ /^\.\.?\// || r ~ /^\//) print "replace-local", a[1], r
      else print "replace", l, "=>", r
    }
  ' "$1"
}

# default_bin_name IMPORTPATH : the name `go build -o dir/` gives a main package.
default_bin_name() {
  local p=$1 last
  last="${p##*/}"
  if [[ $last =~ ^v[0-9]+$ ]] && [[ $p == */* ]]; then
    p="${p%/*}"
    last="${p##*/}"
  fi
  printf '%s\n' "$last"
}

# --- the generic wrapper-module build ---------------------------------------
#
# Inputs (set by the caller before calling wrapper_build):
#   W_NAME       component name (src/<name>, build/<name>)
#   W_MODULE     wrapper module path
#   W_PRIMARY    array of MODULE@VERSION the wrapper requires
#   W_SIBLINGS   array of PREFIX=VERSION: a module under PREFIX that a primary
#                go.mod replaces with a local directory is required at VERSION
#                instead (and replaced with itself at VERSION); VERSION
#                "@required" means the version that go.mod requires it at
#   W_MAINS      array of IMPORTPATH=BINARY
#   W_TAGS       build tags (comma separated, may be empty)
#   W_LDFLAGS    -ldflags value
#   W_OUTDIR     where the binaries end up (bin/ or providers/)
wrapper_build() {
  local src="$TC/src/$W_NAME" out="$TC/build/$W_NAME"
  local -a gomods=()
  local mv
  for mv in "${W_PRIMARY[@]}"; do
    echo "+ go mod download -json $mv"
    go_download "$mv" || {
      echo "cannot download $mv: $DL_ERROR"
      return 1
    }
    gomods+=("$(jfield GoMod <<<"$DL_JSON")")
  done

  # Collect go lines, godebug settings, requires and replaces of the primaries.
  local gover="1.24.0" # the `tool` directive needs go >= 1.24
  local -A godebug=() required=() sib_require=() remote_replace=()
  local -a godebug_order=() remote_order=() sib_order=()
  local gm kind a b c rest mod ver rule prefix i has_main
  for i in "${!gomods[@]}"; do
    gm="${gomods[$i]}"
    mod="${W_PRIMARY[$i]%@*}"
    # godebug and non-local replaces apply when a module is the main module,
    # so they are taken over only from primaries that hold a built command.
    has_main=""
    for a in "${W_MAINS[@]}"; do
      case "${a%=*}" in "$mod" | "$mod"/*) has_main=1 ;; esac
    done
    local -A req_here=()
    while read -r kind a b c rest; do
      if [ "$kind" = require ]; then
        req_here[$a]=$b
        required[$a]=$b
      fi
    done < <(gomod_parse "$gm")
    while read -r kind a b c rest; do
      case "$kind" in
        go)
          gover="$(printf '%s\n%s\n' "$gover" "$a" | sort -V | tail -n1)"
          ;;
        godebug)
          [ -n "$has_main" ] || continue
          local key="${a%%=*}"
          if [ -z "${godebug[$key]+x}" ]; then
            godebug[$key]=$a
            godebug_order+=("$key")
          fi
          ;;
        replace-local)
          # Only modules the go.mod actually requires matter (etcd also
          # replaces "forbidden" modules with ./FORBIDDEN_DEPENDENCY).
          [ -n "${req_here[$a]+x}" ] || continue
          ver=""
          for rule in "${W_SIBLINGS[@]}"; do
            prefix="${rule%=*}"
            if [[ $a == "$prefix"* ]]; then
              ver="${rule##*=}"
              break
            fi
          done
          if [ "$ver" = "@required" ]; then
            # The version upstream requires (etcd's go.mod files name the
            # release versions of their siblings, e.g. client/v2 v2.305.x).
            ver="${req_here[$a]}"
            if [ "$ver" = v0.0.0 ]; then
              echo "$gm: $a is required at the placeholder v0.0.0; give its version in W_SIBLINGS"
              return 1
            fi
          fi
          if [ -z "$ver" ]; then
            echo "$gm: required module $a is replaced by local directory $b, and no published sibling version is known for it"
            return 1
          fi
          if [ -z "${sib_require[$a]+x}" ]; then
            sib_require[$a]=$ver
            sib_order+=("$a")
          fi
          ;;
        replace)
          [ -n "$has_main" ] || continue
          # "LEFT [VER] => RIGHT VER": keep the first seen per LEFT.
          local line="$a $b $c $rest" left
          left="${line%% => *}"
          if [ -z "${remote_replace[$left]+x}" ]; then
            remote_replace[$left]="${line#* => }"
            remote_order+=("$left")
          fi
          ;;
      esac
    done < <(gomod_parse "$gm")
    unset req_here
  done

  # A primary is never re-pointed by a sibling rule of another primary.
  for mv in "${W_PRIMARY[@]}"; do
    mod="${mv%@*}"
    if [ -n "${sib_require[$mod]+x}" ]; then
      sib_require[$mod]="${mv##*@}"
    fi
  done

  rm -rf "$src" "$out"
  mkdir -p "$src" "$out"
  {
    echo "// Generated by scripts/toolchain.sh: a wrapper module that builds"
    echo "// ${W_PRIMARY[*]} from published modules."
    echo "module $W_MODULE"
    echo
    echo "go $gover"
    if [ "${#godebug_order[@]}" -gt 0 ]; then
      echo
      echo "godebug ("
      for a in "${godebug_order[@]}"; do echo "	${godebug[$a]}"; done
      echo ")"
    fi
    echo
    echo "require ("
    for mv in "${W_PRIMARY[@]}"; do echo "	${mv%@*} ${mv##*@}"; done
    for a in "${sib_order[@]}"; do
      case " ${W_PRIMARY[*]} " in *" $a@"*) continue ;; esac
      echo "	$a ${sib_require[$a]}"
    done
    echo ")"
    if [ "${#sib_order[@]}" -gt 0 ] || [ "${#remote_order[@]}" -gt 0 ]; then
      echo
      echo "replace ("
      for a in "${sib_order[@]}"; do echo "	$a => $a ${sib_require[$a]}"; done
      for a in "${remote_order[@]}"; do
        if [ -n "${sib_require[${a%% *}]+x}" ]; then continue; fi
        echo "	$a => ${remote_replace[$a]}"
      done
      echo ")"
    fi
    echo
    echo "tool ("
    for a in "${W_MAINS[@]}"; do echo "	${a%=*}"; done
    echo ")"
  } >"$src/go.mod"
  echo "--- $src/go.mod"
  cat "$src/go.mod"
  echo "---"

  echo "+ go mod tidy"
  (cd "$src" && go mod tidy)

  # Minimal version selection must not have moved the pinned modules.
  echo "+ go list -m (pinned modules)"
  local got want
  for mv in "${W_PRIMARY[@]}"; do
    mod="${mv%@*}"
    want="${mv##*@}"
    got="$(cd "$src" && go list -m -f '{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}' "$mod")"
    echo "  $mod $got"
    if [ "$got" != "$want" ]; then
      echo "minimal version selection moved $mod from $want to $got"
      return 1
    fi
  done
  for a in "${sib_order[@]}"; do
    got="$(cd "$src" && go list -m -f '{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}' "$a")"
    echo "  $a $got"
    if [ "$got" != "${sib_require[$a]}" ]; then
      echo "minimal version selection moved $a from ${sib_require[$a]} to $got"
      return 1
    fi
  done
  # Report (do not fail on) dependencies that differ from what upstream pins.
  local drift=0
  while read -r mod ver; do
    [ -n "${required[$mod]+x}" ] || continue
    [ -n "${sib_require[$mod]+x}" ] && continue
    if [ "${required[$mod]}" != "$ver" ]; then
      echo "  note: $mod upstream go.mod ${required[$mod]}, build list $ver"
      drift=$((drift + 1))
    fi
  done < <(cd "$src" && go list -m -f '{{.Path}} {{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}' all)
  echo "  $drift dependencies differ from the upstream go.mod requirements"

  local -a pkgs=()
  for a in "${W_MAINS[@]}"; do pkgs+=("${a%=*}"); done
  echo "+ go build -trimpath ${W_TAGS:+-tags $W_TAGS }-ldflags '$W_LDFLAGS' -o $out/ ${pkgs[*]}"
  (cd "$src" && go build -trimpath ${W_TAGS:+-tags "$W_TAGS"} -ldflags "$W_LDFLAGS" -o "$out/" "${pkgs[@]}")
  local pkg bin def
  for a in "${W_MAINS[@]}"; do
    pkg="${a%=*}"
    bin="${a##*=}"
    def="$(default_bin_name "$pkg")"
    [ "$def" = "$bin" ] || mv -f "$out/$def" "$out/$bin"
  done
}

# install_bins NAME... : move freshly built binaries from build/<W_NAME> to W_OUTDIR.
install_bins() {
  local b
  mkdir -p "$W_OUTDIR"
  for b in "$@"; do
    mv -f "$TC/build/$W_NAME/$b" "$W_OUTDIR/$b"
  done
  rm -rf "$TC/build/$W_NAME"
}

# expect_output WANT CMD... : CMD's output must contain WANT.
expect_output() {
  local want=$1 outp
  shift
  outp="$("$@" 2>&1)" || {
    echo "$* failed: $outp"
    return 1
  }
  echo "$ ${*##*/}"
  echo "$outp" | sed 's/^/  /'
  if [[ $outp != *"$want"* ]]; then
    echo "expected '$want' in the output of: $*"
    return 1
  fi
}

# info_time INFOFILE : the module version's commit time as YYYY-MM-DDTHH:MM:SSZ.
info_time() {
  local t
  t="$(jfield Time <"$1")"
  date -u -d "$t" +%Y-%m-%dT%H:%M:%SZ
}

# info_hash INFOFILE : the commit hash the proxy reports (Origin.Hash), if any.
info_hash() {
  k8scp_node -e '
    const o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    process.stdout.write((o.Origin && o.Origin.Hash) || "");' "$1"
}

# mark_unavailable STATEFILE MODULE VERSION RELEASE ERROR
mark_unavailable() {
  local reason
  reason="$(short_reason "$5")"
  echo "unavailable: $2@$3: $5"
  write_state "$1" name="$W_NAME" status=unavailable release="$4" module="$2" version="$3" \
    reason="$reason" recipe="$K8SCP_TOOLCHAIN_RECIPE" checkedAt="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}

# probe STATEFILE RELEASE MODULE@VERSION... : if the proxy refuses any of the
# modules, record the component as unavailable and return 1.
probe() {
  local state=$1 release=$2 mv
  shift 2
  for mv in "$@"; do
    echo "+ probe $mv"
    if ! go_download "$mv"; then
      mark_unavailable "$state" "${mv%@*}" "${mv##*@}" "$release" "$DL_ERROR"
      return 1
    fi
  done
}

# --- components -------------------------------------------------------------
# Each build_<name> runs in its own process with its output in logs/<name>.log
# and must write stamps/<name>.json (built or unavailable) on success.

build_kubernetes() {
  local state=$1 v="v$K8S" sv="v0.${K8S#*.}" minor
  minor="$(cut -d. -f2 <<<"$K8S")"
  W_NAME=kubernetes
  W_MODULE=k8scp.local/toolchain/kubernetes
  W_PRIMARY=("k8s.io/kubernetes@$v")
  W_SIBLINGS=("k8s.io/=$sv")
  W_MAINS=(
    k8s.io/kubernetes/cmd/kube-apiserver=kube-apiserver
    k8s.io/kubernetes/cmd/kube-controller-manager=kube-controller-manager
    k8s.io/kubernetes/cmd/kube-scheduler=kube-scheduler
    k8s.io/kubernetes/cmd/kubectl=kubectl
  )
  W_TAGS=""
  W_OUTDIR="$TC/bin"
  # Version stamping as upstream's hack/lib/version.sh does it. The build date
  # is the release commit's time, so rebuilding gives the same binaries.
  go_download "k8s.io/kubernetes@$v" || {
    echo "cannot download k8s.io/kubernetes@$v: $DL_ERROR"
    return 1
  }
  local info bdate commit pkg
  info="$(jfield Info <<<"$DL_JSON")"
  bdate="$(info_time "$info")"
  commit="$(info_hash "$info")"
  W_LDFLAGS="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    W_LDFLAGS+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    W_LDFLAGS+=" -X $pkg.gitCommit=$commit -X $pkg.gitTreeState=clean -X $pkg.buildDate=$bdate"
  done
  wrapper_build
  local b t="$TC/build/kubernetes"
  for b in kube-apiserver kube-controller-manager kube-scheduler; do
    expect_output "Kubernetes $v" "$t/$b" --version
  done
  expect_output "Client Version: $v" "$t/kubectl" version --client
  install_bins kube-apiserver kube-controller-manager kube-scheduler kubectl
  write_state "$state" name=kubernetes status=built release="$K8S" module=k8s.io/kubernetes version="$v" \
    stagingVersion="$sv" recipe="$K8SCP_TOOLCHAIN_RECIPE" go="$GO_VERSION" builtAt="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    bin:kube-apiserver="$TC/bin/kube-apiserver" bin:kube-controller-manager="$TC/bin/kube-controller-manager" \
    bin:kube-scheduler="$TC/bin/kube-scheduler" bin:kubectl="$TC/bin/kubectl"
}

build_etcd() {
  local state=$1 v="v$ETCD"
  W_NAME=etcd
  W_MODULE=k8scp.local/toolchain/etcd
  W_PRIMARY=("go.etcd.io/etcd/server/v3@$v" "go.etcd.io/etcd/etcdctl/v3@$v")
  W_SIBLINGS=("go.etcd.io/etcd/=@required")
  W_MAINS=(go.etcd.io/etcd/server/v3=etcd go.etcd.io/etcd/etcdctl/v3=etcdctl)
  W_TAGS=""
  W_OUTDIR="$TC/bin"
  go_download "go.etcd.io/etcd/server/v3@$v" || {
    echo "cannot download go.etcd.io/etcd/server/v3@$v: $DL_ERROR"
    return 1
  }
  local sha
  sha="$(info_hash "$(jfield Info <<<"$DL_JSON")")"
  W_LDFLAGS="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=${sha:0:7}"
  [ -n "$sha" ] || W_LDFLAGS="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$v"
  wrapper_build
  expect_output "etcd Version: $ETCD" "$TC/build/etcd/etcd" --version
  expect_output "etcdctl version: $ETCD" "$TC/build/etcd/etcdctl" version
  install_bins etcd etcdctl
  write_state "$state" name=etcd status=built release="$ETCD" module=go.etcd.io/etcd/server/v3 version="$v" \
    recipe="$K8SCP_TOOLCHAIN_RECIPE" go="$GO_VERSION" builtAt="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    bin:etcd="$TC/bin/etcd" bin:etcdctl="$TC/bin/etcdctl"
}

PULUMI_VERSION_LDFLAG="github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"

build_pulumi() {
  local state=$1 v="v$PULUMI"
  W_NAME=pulumi
  probe "$state" "$PULUMI" "github.com/pulumi/pulumi/pkg/v3@$v" "github.com/pulumi/pulumi/sdk/v3@$v" || return 0
  W_MODULE=k8scp.local/toolchain/pulumi
  W_PRIMARY=("github.com/pulumi/pulumi/pkg/v3@$v" "github.com/pulumi/pulumi/sdk/v3@$v")
  W_SIBLINGS=("github.com/pulumi/pulumi/=$v")
  W_MAINS=(github.com/pulumi/pulumi/pkg/v3/cmd/pulumi=pulumi)
  W_TAGS="osusergo,grpcnotrace"
  W_LDFLAGS="-s -w -X $PULUMI_VERSION_LDFLAG=$v"
  W_OUTDIR="$TC/bin"
  wrapper_build
  expect_output "$v" "$TC/build/pulumi/pulumi" version
  install_bins pulumi
  write_state "$state" name=pulumi status=built release="$PULUMI" module=github.com/pulumi/pulumi/pkg/v3 version="$v" \
    recipe="$K8SCP_TOOLCHAIN_RECIPE" go="$GO_VERSION" builtAt="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    bin:pulumi="$TC/bin/pulumi"
}

build_pulumi_language_nodejs() {
  local state=$1 v="v$PULUMI" mod=github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 q hash
  W_NAME=pulumi-language-nodejs
  q="${K8SCP_PIN_LANGUAGE_NODEJS[$PULUMI]:-}"
  if [ -z "$q" ]; then
    # The module has no release tags of its own: use the release commit of
    # sdk/v3 if the proxy tells it, else the release tag name (which a proxy
    # may or may not resolve).
    q="$v"
    if go_download "github.com/pulumi/pulumi/sdk/v3@$v"; then
      hash="$(info_hash "$(jfield Info <<<"$DL_JSON")")"
      [ -z "$hash" ] || q="$hash"
    fi
  fi
  probe "$state" "$PULUMI" "$mod@$q" || return 0
  W_MODULE=k8scp.local/toolchain/pulumi-language-nodejs
  W_PRIMARY=("$mod@$(jfield Version <<<"$DL_JSON")")
  W_SIBLINGS=("github.com/pulumi/pulumi/=$v")
  W_MAINS=("$mod=pulumi-language-nodejs")
  W_TAGS="osusergo,grpcnotrace"
  W_LDFLAGS="-s -w -X $PULUMI_VERSION_LDFLAG=$v"
  W_OUTDIR="$TC/bin"
  wrapper_build
  # The language host has no version command; its version string is linked in.
  grep -aq "$v" "$TC/build/pulumi-language-nodejs/pulumi-language-nodejs" || {
    echo "pulumi-language-nodejs does not contain its version $v"
    return 1
  }
  install_bins pulumi-language-nodejs
  write_state "$state" name=pulumi-language-nodejs status=built release="$PULUMI" module="$mod" \
    version="${W_PRIMARY[0]##*@}" recipe="$K8SCP_TOOLCHAIN_RECIPE" go="$GO_VERSION" \
    builtAt="$(date -u +%Y-%m-%dT%H:%M:%SZ)" bin:pulumi-language-nodejs="$TC/bin/pulumi-language-nodejs"
}

# build_provider STATE NAME RELEASE MODULE MODULE_VERSION MAIN_PKG VERSION_VAR
build_provider() {
  local state=$1 name=$2 release=$3 mod=$4 mver=$5 main=$6 vvar=$7
  local bin="pulumi-resource-$name"
  W_NAME="$bin"
  if [ -z "$mver" ]; then
    mark_unavailable "$state" "$mod" "(unpinned)" "$release" \
      "no module version is pinned for $name $release in scripts/toolchain/pins.sh"
    return 0
  fi
  probe "$state" "$release" "$mod@$mver" || return 0
  W_MODULE="k8scp.local/toolchain/$bin"
  W_PRIMARY=("$mod@$mver")
  W_SIBLINGS=("github.com/pulumi/pulumi/=v$PULUMI")
  W_MAINS=("$main=$bin")
  W_TAGS=""
  W_LDFLAGS="-s -w -X $vvar=v$release"
  W_OUTDIR="$TC/providers"
  wrapper_build
  install_bins "$bin"
  # Install as a plugin into PULUMI_HOME (with our pulumi when we have it,
  # else in the layout `pulumi plugin install` produces).
  local pdir="$PULUMI_HOME/plugins/resource-$name-v$release"
  if [ -x "$TC/bin/pulumi" ]; then
    echo "+ pulumi plugin install resource $name $release --file $TC/providers/$bin"
    "$TC/bin/pulumi" plugin install resource "$name" "$release" --file "$TC/providers/$bin" --reinstall
  else
    echo "pulumi CLI not built: placing the plugin in $pdir by hand"
    rm -rf "$pdir"
    mkdir -p "$pdir"
    cp "$TC/providers/$bin" "$pdir/$bin"
  fi
  [ -x "$pdir/$bin" ] || {
    echo "plugin not installed at $pdir/$bin"
    return 1
  }
  write_state "$state" name="$bin" status=built release="$release" module="$mod" version="$mver" \
    recipe="$K8SCP_TOOLCHAIN_RECIPE" go="$GO_VERSION" builtAt="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    bin:"$bin"="$TC/providers/$bin" plugin:"$name"="$pdir/$bin"
}

build_pulumi_resource_command() {
  build_provider "$1" command "$CMD" github.com/pulumi/pulumi-command/provider \
    "${K8SCP_PIN_COMMAND_PROVIDER[$CMD]:-}" \
    github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command \
    github.com/pulumi/pulumi-command/provider/pkg/version.Version
}

build_pulumi_resource_tls() {
  local major="${TLS%%.*}"
  build_provider "$1" tls "$TLS" "github.com/pulumi/pulumi-tls/provider/v$major" "v$TLS" \
    "github.com/pulumi/pulumi-tls/provider/v$major/cmd/pulumi-resource-tls" \
    "github.com/pulumi/pulumi-tls/provider/v$major/pkg/version.Version"
}

build_pulumi_resource_random() {
  local major="${RANDOM_V%%.*}"
  build_provider "$1" random "$RANDOM_V" "github.com/pulumi/pulumi-random/provider/v$major" "v$RANDOM_V" \
    "github.com/pulumi/pulumi-random/provider/v$major/cmd/pulumi-resource-random" \
    "github.com/pulumi/pulumi-random/provider/v$major/pkg/version.Version"
}

component_release() {
  case "$1" in
    kubernetes) echo "$K8S" ;;
    etcd) echo "$ETCD" ;;
    pulumi | pulumi-language-nodejs) echo "$PULUMI" ;;
    pulumi-resource-command) echo "$CMD" ;;
    pulumi-resource-tls) echo "$TLS" ;;
    pulumi-resource-random) echo "$RANDOM_V" ;;
  esac
}

FAILED=()

# run_component NAME : build NAME unless its stamp says it is built and present.
run_component() {
  local name=$1 release state logf t0 dt rc pid
  release="$(component_release "$name")"
  state="$TC/stamps/$name.json"
  logf="$TC/logs/$name.log"
  local check mv why when
  IFS=$'\t' read -r check mv why when < <(state_check "$state")
  case "$check" in
    built)
      log "$name v$release: up to date"
      return 0
      ;;
    unavailable)
      warn "$name v$release skipped: $mv is not available from the Go module proxy ($why; checked $when, K8SCP_TOOLCHAIN_REPROBE=1 re-checks)"
      return 0
      ;;
  esac
  rm -f "$state"
  log "building $name v$release ..."
  t0=$SECONDS
  # A background process, so that `set -e` is in force inside the build.
  (
    set -euo pipefail
    "build_${name//-/_}" "$state"
  ) >"$logf" 2>&1 &
  pid=$!
  wait "$pid" && rc=0 || rc=$?
  dt=$((SECONDS - t0))
  if [ "$rc" -eq 0 ] && [ -f "$state" ]; then
    local status module version reason
    status="$(jfield status <"$state")"
    module="$(jfield module <"$state")"
    version="$(jfield version <"$state")"
    if [ "$status" = built ]; then
      k8scp_node -e '
        const fs = require("fs"), f = process.argv[1];
        const o = JSON.parse(fs.readFileSync(f, "utf8"));
        o.buildSeconds = Number(process.argv[2]);
        fs.writeFileSync(f, JSON.stringify(o, null, 2) + "\n");' "$state" "$dt"
      log "built $name v$release in ${dt}s ($module@$version)"
    else
      reason="$(jfield reason <"$state")"
      warn "$name v$release skipped: $module@$version is not available from the Go module proxy ($reason)"
    fi
  else
    FAILED+=("$name")
    [ "$rc" -ne 0 ] || rc="no stamp written"
    printf '[toolchain] FAILED: %s v%s after %ss (exit %s); last lines of %s:\n' "$name" "$release" "$dt" "$rc" "$logf" >&2
    tail -n 25 "$logf" | sed 's/^/    /' >&2
  fi
}

write_manifest() {
  k8scp_node -e '
    const fs = require("fs"), path = require("path");
    const [dir, recipe, goVersion, ...names] = process.argv.slice(1);
    const components = {};
    for (const n of names) {
      const f = path.join(dir, "stamps", n + ".json");
      components[n] = fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, "utf8")) : { name: n, status: "missing" };
      delete components[n].recipe;
    }
    const m = { toolchainDir: dir, recipe: Number(recipe), go: goVersion, components };
    fs.writeFileSync(path.join(dir, "manifest.json.tmp"), JSON.stringify(m, null, 2) + "\n");
    fs.renameSync(path.join(dir, "manifest.json.tmp"), path.join(dir, "manifest.json"));
    const lines = [`recipe ${recipe}`, `go ${goVersion}`];
    for (const [n, c] of Object.entries(components)) {
      lines.push([n, c.release ?? "-", c.module && c.version ? `${c.module}@${c.version}` : "-", c.status].join(" "));
    }
    fs.writeFileSync(path.join(dir, "versions.txt"), lines.join("\n") + "\n");' \
    "$TC" "$K8SCP_TOOLCHAIN_RECIPE" "$GO_VERSION" "${ALL_COMPONENTS[@]}"
}

# --- main -------------------------------------------------------------------
# The whole run is one function called on the last line, so bash has parsed
# the entire file before anything runs (editing the script mid-build is safe).
main() {
  T_START=$SECONDS
  if [ "$#" -gt 0 ]; then
    SELECTED=("$@")
    for c in "${SELECTED[@]}"; do
      case " ${ALL_COMPONENTS[*]} " in *" $c "*) ;; *) die "unknown component '$c' (known: ${ALL_COMPONENTS[*]})" ;; esac
    done
  else
    SELECTED=("${ALL_COMPONENTS[@]}")
  fi

  log "toolchain dir: $TC"
  log "versions: kubernetes $K8S, etcd $ETCD, pulumi $PULUMI, command $CMD, tls $TLS, random $RANDOM_V ($GO_VERSION, recipe $K8SCP_TOOLCHAIN_RECIPE)"
  for c in "${SELECTED[@]}"; do
    run_component "$c"
  done
  write_manifest

  if [ "${#FAILED[@]}" -gt 0 ]; then
    rm -f "$TC/stamps/complete"
    log "total $((SECONDS - T_START))s; FAILED: ${FAILED[*]} (logs in $TC/logs/)"
    exit 1
  fi
  if [ "$#" -eq 0 ]; then
    date -u +%Y-%m-%dT%H:%M:%SZ >"$TC/stamps/complete"
  fi
  log "total $((SECONDS - T_START))s"
  log "bin dir: $TC/bin"
}

main "$@"
exit $?
