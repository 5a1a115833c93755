#!/usr/bin/env bash
# The local lab: Debian hosts with systemd as PID 1 (systemd-nspawn containers) on a private bridge,
# for the library to deploy onto over SSH. Needs root; works without a TTY, a host systemd or D-Bus.
#
#   npm run lab -- up [N]        start masters n1..nN (default 3, max 5) and the load balancer host lb;
#                                idempotent: running nodes stay, missing ones start, masters above N stop
#   npm run lab -- down          stop everything, remove every trace, verify nothing is left
#   npm run lab -- status        one line per node; exit 0 all well, 1 something wrong, 3 lab down
#   npm run lab -- ssh I CMD...  run CMD (a remote shell command, as with ssh) on master I (1-based) or lb, as kube
#   npm run lab -- exec CMD...   run CMD in the controller network namespace (pulumi, kubectl, ssh, curl)
#   npm run lab -- kill NODE     stop one node for good and wipe its disk (a host that is gone, for DR tests)
#
# Network (10.213.0.0/24 only; the host's own network namespace is not touched):
#   namespace k8scp-ctl   bridge k8scp-br0 10.213.0.1/24 and lo; the Pulumi CLI, ssh and kubectl run here
#   namespace k8scp-lb    lb  10.213.0.10 (the VIP: the HAProxy host)
#   namespace k8scp-nI    nI  10.213.0.1I (masters)
# Each interface has a fixed MAC derived from its address, so a restarted node is reachable at once.
# Nodes resolve lab names from /etc/hosts (ctl, lb, n1..n5); in the controller namespace use addresses.
#
# Files:
#   ${K8SCP_CACHE:-$HOME/.cache/pulumi-k8s-control-plane}/lab/
#     rootfs-<hash>/      debootstrap --variant=minbase tree shared by all nodes (read-only lower layer);
#                         <hash> covers the suite and scripts/lab/rootfs.sh (package list and recipe);
#                         built in a temp dir and renamed, so an interrupted build is never used
#     id_ed25519{,.pub}   the lab's SSH key (made once), authorised for kube and root on every node
#     hostkeys/<node>_ed25519{,.pub}  each node's SSH host key, stable across down/up
#     known_hosts         the host keys of the current nodes (by address and name)
#     lab.json            the current nodes, written by `up`, removed by `down`
#     logs/<node>.log     the node's console (nspawn output); logs/rootfs-build.log
#   /run/k8scp-lab/<node>/root   overlay mount (merged view), /run/k8scp-lab/<node>.pid nspawn's pid
#   /var/lib/k8scp-lab/<node>/{upper,work}  the node's writable layer on the real disk, wiped on down
#   /sys/fs/cgroup/{systemd,unified}/k8scp-lab/<node>   each node's own cgroup (nspawn splits it into
#                         supervisor/ and payload/); controller hierarchies (memory, cpu...) are left as inherited
#
# Environment: K8SCP_CACHE, K8SCP_DEBIAN_MIRROR (default: the Debian mirror apt uses),
# K8SCP_LAB_BOOT_TIMEOUT (s, default 180), K8SCP_LAB_STOP_TIMEOUT (s, default 30).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
# shellcheck source=scripts/lab/rootfs.sh
source "$SCRIPT_DIR/lab/rootfs.sh"

LAB=k8scp-lab
CTL_NS=k8scp-ctl
BRIDGE=k8scp-br0
NET=10.213.0
CTL_ADDR=$NET.1
LB_ADDR=$NET.10
MAX_MASTERS=5
SSH_USER=kube
CACHE="${K8SCP_CACHE:-$HOME/.cache/pulumi-k8s-control-plane}"
LAB_DIR="$CACHE/lab"
KEY="$LAB_DIR/id_ed25519"
KNOWN_HOSTS="$LAB_DIR/known_hosts"
LAB_JSON="$LAB_DIR/lab.json"
RUN_DIR=/run/k8scp-lab
DATA_DIR=/var/lib/k8scp-lab
CGROUP_ROOT=/sys/fs/cgroup
CGROUP_HIERARCHIES=(systemd unified)
PROPAGATE_DIR=/run/systemd/nspawn/propagate
NSPAWN_LOCKS=/run/systemd/nspawn/locks
BOOT_TIMEOUT="${K8SCP_LAB_BOOT_TIMEOUT:-180}"
STOP_TIMEOUT="${K8SCP_LAB_STOP_TIMEOUT:-30}"
ALL_NODES=(n1 n2 n3 n4 n5 lb)

log() { printf '[lab] %s\n' "$*"; }
warn() { printf '[lab] WARNING: %s\n' "$*" >&2; }
die() {
  printf '[lab] ERROR: %s\n' "$*" >&2
  DIED=1
  exit 1
}
now() { printf '%s' "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }'; }

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

require_root() { [ "$(id -u)" = 0 ] || die "the lab needs root (network namespaces, overlay mounts, systemd-nspawn)"; }

# --- nodes, names, addresses -------------------------------------------------------------------------

node_addr() {
  case $1 in
    lb) echo "$LB_ADDR" ;;
    n[1-9]) echo "$NET.$((10 + ${1#n}))" ;;
    *) die "unknown node '$1'" ;;
  esac
}
node_role() { if [ "$1" = lb ]; then echo lb; else echo master; fi; }
node_ns() { echo "k8scp-$1"; }
node_cgroups() {
  local h
  for h in "${CGROUP_HIERARCHIES[@]}"; do echo "$CGROUP_ROOT/$h/$LAB/$1"; done
}

# nspawn_pids [NODE] : "PID NODE" for every systemd-nspawn process booting a lab node (from /proc, not pid files).
nspawn_pids() {
  local p comm cmd m
  for p in /proc/[0-9]*; do
    { read -r comm <"$p/comm"; } 2>/dev/null || continue
    [ "$comm" = systemd-nspawn ] || continue
    cmd=$(tr '\0' '\n' <"$p/cmdline" 2>/dev/null) || continue
    grep -qx -- "--directory=$RUN_DIR/.*/root" <<<"$cmd" || continue
    m=$(sed -n 's/^--machine=//p' <<<"$cmd")
    if [ -z "${1:-}" ] || [ "$m" = "$1" ]; then echo "${p#/proc/} $m"; fi
  done
}
node_pid() { nspawn_pids "$1" | awk 'NR == 1 { print $1 }'; }
node_running() { [ -n "$(node_pid "$1")" ]; }

# lab_mounts : mount points of the lab: anything under its runtime and data dirs, and overlays named k8scp-lab-*.
lab_mounts() {
  awk -v r="$RUN_DIR" -v d="$DATA_DIR" -v l="$LAB-" '{
    for (i = 7; i <= NF && $i != "-"; i++) {}
    if ($5 == r || index($5, r "/") == 1 || $5 == d || index($5, d "/") == 1 || ($(i + 1) == "overlay" && index($(i + 2), l) == 1)) print $5
  }' /proc/self/mountinfo
}

# present_nodes : nodes with any trace on this machine (process, namespace, mount, cgroup, data, pid file).
present_nodes() {
  local n cg running mounts
  running=" $(nspawn_pids | awk '{ print $2 }' | tr '\n' ' ') "
  mounts=$(lab_mounts)
  for n in "${ALL_NODES[@]}"; do
    if [[ $running == *" $n "* ]] || [ -e "/run/netns/$(node_ns "$n")" ] || [ -e "$RUN_DIR/$n.pid" ] || [ -e "$RUN_DIR/$n" ] ||
      [ -e "$DATA_DIR/$n" ] || [ -e "$PROPAGATE_DIR/$n" ] || grep -q "^$RUN_DIR/$n/" <<<"$mounts"; then
      echo "$n"
      continue
    fi
    for cg in $(node_cgroups "$n"); do
      if [ -d "$cg" ]; then
        echo "$n"
        break
      fi
    done
  done
}
is_in() { [[ " $2 " == *" $1 "* ]]; } # is_in WORD "LIST"

# --- host tools --------------------------------------------------------------------------------------

ensure_host_tools() {
  local -A need=([systemd-nspawn]=systemd-container [debootstrap]=debootstrap [ip]=iproute2 [ssh]=openssh-client
    [ssh-keygen]=openssh-client [ssh-keyscan]=openssh-client [setsid]=util-linux [flock]=util-linux [chroot]=coreutils)
  local -A pkgs=()
  local c
  for c in "${!need[@]}"; do command -v "$c" >/dev/null 2>&1 || pkgs[${need[$c]}]=1; done
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || pkgs[debian-archive-keyring]=1
  [ ${#pkgs[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing host packages (${!pkgs[*]}) and no apt-get to install them"
  log "installing host packages: ${!pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q "${!pkgs[@]}" </dev/null; then
    apt-get update -q </dev/null
    apt-get install -y -q "${!pkgs[@]}" </dev/null
  fi
}

# --- Debian mirror (the one apt uses) ---------------------------------------------------------------

# apt_sources : "URI SUITE" for every enabled `deb` entry in apt's sources (one-line and deb822 formats).
apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ } if (i < NF) print $i, $(i + 1) }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '
      function flush(   n, m, i, j, u, s) {
        if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no") {
          n = split(uris, u, /[ \t]+/); m = split(suites, s, /[ \t]+/)
          for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) if (u[i] != "" && s[j] != "") print u[i], s[j]
        }
        types = uris = suites = enabled = last = ""
      }
      /^#/ { next }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]/ { if (last == "uris") uris = uris " " $0; else if (last == "suites") suites = suites " " $0; else if (last == "types") types = types " " $0; next }
      {
        key = tolower($1); sub(/:.*$/, "", key); val = $0; sub(/^[^:]*:[ \t]*/, "", val); last = ""
        if (key == "types") { types = val; last = "types" }
        else if (key == "uris") { uris = val; last = "uris" }
        else if (key == "suites") { suites = val; last = "suites" }
        else if (key == "enabled") enabled = tolower(val)
      }
      END { flush() }' "$f"
  done
}

debian_mirror() {
  if [ -n "${K8SCP_DEBIAN_MIRROR:-}" ]; then
    echo "$K8SCP_DEBIAN_MIRROR"
    return
  fi
  local uri suite
  # A source apt already uses for this suite, else any plain Debian archive (path ending in /debian).
  while read -r uri suite; do
    if [ "$suite" = "$SUITE" ] && [[ $uri == http://* || $uri == https://* ]]; then
      echo "${uri%/}"
      return
    fi
  done < <(apt_sources)
  while read -r uri suite; do
    if [[ $uri =~ ^https?://.*/debian/?$ && $suite != *-* && $suite != */* ]]; then
      echo "${uri%/}"
      return
    fi
  done < <(apt_sources)
  die "no Debian mirror found in /etc/apt/sources.list{,.d/*}; set K8SCP_DEBIAN_MIRROR"
}

# --- rootfs ------------------------------------------------------------------------------------------

SUITE="${K8SCP_DEBIAN_SUITE:-$(sed -n 's/^ *"debian": *"\([a-z]*\)".*/\1/p' "$REPO/package.json" | head -1)}"
SUITE="${SUITE:-bookworm}"
# Comment and blank lines do not count, so only a change to the recipe itself rebuilds.
ROOTFS_HASH="$({
  echo "$SUITE"
  grep -Ev '^[[:space:]]*(#|$)' "$SCRIPT_DIR/lab/rootfs.sh"
} | sha256sum | cut -c1-16)"
ROOTFS="$LAB_DIR/rootfs-$ROOTFS_HASH"
BUILD_TMP=""
BUILD_PID=""

# unmount_under DIR : unmount everything mounted at or below DIR, deepest first.
unmount_under() {
  local m
  awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
}

# A command that fails outside a check (set -e) would end the script silently: name it on the way out.
FAILED_AT=""
DIED=0
set -E
trap 'FAILED_AT="line $LINENO: $BASH_COMMAND"' ERR

on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ "$DIED" = 0 ] && [ -n "$FAILED_AT" ]; then
    printf '[lab] ERROR: unexpected failure (exit %s) at %s\n' "$rc" "$FAILED_AT" >&2
  fi
  if [ -n "$BUILD_PID" ]; then
    kill -TERM -- "-$BUILD_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do
      kill -0 -- "-$BUILD_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$BUILD_PID" 2>/dev/null || true
  fi
  if [ -n "$BUILD_TMP" ] && [ -d "$BUILD_TMP" ]; then
    warn "removing the unfinished rootfs build $BUILD_TMP"
    unmount_under "$BUILD_TMP" || true
    rm -rf --one-file-system "$BUILD_TMP" || true
  fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_rootfs() {
  if [ -d "$ROOTFS" ]; then
    log "rootfs: cached $ROOTFS"
    return
  fi
  local t stale mirror
  t=$(now)
  for stale in "$LAB_DIR"/rootfs-*.tmp.*; do
    [ -d "$stale" ] || continue
    log "removing an interrupted rootfs build: $stale"
    unmount_under "$stale"
    rm -rf --one-file-system "$stale"
  done
  mirror=$(debian_mirror)
  if [ -z "${http_proxy:-}" ]; then
    local APT_PROXY=""
    eval "$(apt-config shell APT_PROXY Acquire::http::Proxy 2>/dev/null || true)"
    if [ -n "$APT_PROXY" ]; then export http_proxy="$APT_PROXY"; fi
  fi
  local includes
  includes=$(
    IFS=,
    echo "${LAB_PACKAGES[*]}"
  )
  log "rootfs: building $SUITE (minbase + $includes) from $mirror (log: $LAB_DIR/logs/rootfs-build.log)"
  BUILD_TMP=$(mktemp -d "$ROOTFS.tmp.XXXXXX")
  chmod 0755 "$BUILD_TMP"
  local blog="$LAB_DIR/logs/rootfs-build.log"
  # In its own process group, waited for with `wait`, so that a signal to this script stops the build at once.
  setsid debootstrap --variant=minbase --components=main --include="$includes" "$SUITE" "$BUILD_TMP" "$mirror" >"$blog" 2>&1 </dev/null 9>&- &
  BUILD_PID=$!
  local rc=0
  wait "$BUILD_PID" || rc=$?
  BUILD_PID=""
  if [ $rc -ne 0 ]; then
    tail -n 30 "$blog" >&2
    die "debootstrap failed (full log: $blog)"
  fi
  unmount_under "$BUILD_TMP"
  log "rootfs: debootstrap done in $(since "$t"); customising"
  if ! (lab_rootfs_customise "$BUILD_TMP") >>"$blog" 2>&1 </dev/null; then
    tail -n 30 "$blog" >&2
    die "rootfs customisation failed (full log: $blog)"
  fi
  unmount_under "$BUILD_TMP"
  printf 'suite=%s\nrecipe=%s\nhash=%s\nmirror=%s\npackages=%s\nbuilt=%s\n' "$SUITE" "$LAB_ROOTFS_RECIPE" "$ROOTFS_HASH" \
    "$mirror" "$includes" "$(date -u +%FT%TZ)" >"$BUILD_TMP/etc/k8scp-lab-rootfs"
  mv -T "$BUILD_TMP" "$ROOTFS"
  BUILD_TMP=""
  log "rootfs: built in $(since "$t"), $(du -sh --one-file-system "$ROOTFS" | cut -f1): $ROOTFS"
  # Older recipes' trees are only in use while their nodes run.
  if [ -z "$(present_nodes)" ]; then
    for stale in "$LAB_DIR"/rootfs-*; do
      [ "$stale" = "$ROOTFS" ] || [[ $stale == *.tmp.* ]] || [ ! -d "$stale" ] && continue
      log "removing the rootfs of an older recipe: $stale"
      rm -rf --one-file-system "$stale"
    done
  fi
}

# --- keys, known_hosts, lab.json ---------------------------------------------------------------------

ensure_keys() {
  local n
  mkdir -p "$LAB_DIR/hostkeys"
  if [ ! -f "$KEY" ] || [ ! -f "$KEY.pub" ]; then
    rm -f "$KEY" "$KEY.pub"
    ssh-keygen -q -t ed25519 -N "" -C "k8scp-lab" -f "$KEY" </dev/null
    log "generated the lab SSH key $KEY"
  fi
  for n in "$@"; do
    local hk="$LAB_DIR/hostkeys/${n}_ed25519"
    if [ ! -f "$hk" ] || [ ! -f "$hk.pub" ]; then
      rm -f "$hk" "$hk.pub"
      ssh-keygen -q -t ed25519 -N "" -C "root@$n" -f "$hk" </dev/null
    fi
  done
}

host_key() { awk '{ print $1, $2 }' "$LAB_DIR/hostkeys/${1}_ed25519.pub"; }

json_str() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# write_lab_files NODE... : known_hosts and lab.json for these nodes (atomically).
write_lab_files() {
  local n first=1
  {
    for n in "$@"; do echo "$(node_addr "$n"),$n $(host_key "$n")"; done
  } >"$KNOWN_HOSTS.tmp"
  mv -f "$KNOWN_HOSTS.tmp" "$KNOWN_HOSTS"
  {
    printf '{\n  "nodes": [\n'
    for n in "$@"; do
      [ $first = 1 ] || printf ',\n'
      first=0
      printf '    {"name": %s, "address": %s, "role": %s, "hostKey": %s}' "$(json_str "$n")" "$(json_str "$(node_addr "$n")")" \
        "$(json_str "$(node_role "$n")")" "$(json_str "$(host_key "$n")")"
    done
    printf '\n  ],\n'
    printf '  "sshUser": %s,\n' "$(json_str "$SSH_USER")"
    printf '  "sshKeyPath": %s,\n' "$(json_str "$KEY")"
    printf '  "knownHostsFile": %s,\n' "$(json_str "$KNOWN_HOSTS")"
    printf '  "controllerNamespace": %s\n}\n' "$(json_str "$CTL_NS")"
  } >"$LAB_JSON.tmp"
  mv -f "$LAB_JSON.tmp" "$LAB_JSON"
}

# --- network -----------------------------------------------------------------------------------------

ensure_controller_net() {
  # A namespace file that no longer holds a namespace (e.g. /run on disk kept it over a reboot) is removed.
  if [ -e "/run/netns/$CTL_NS" ] && ! ip -n "$CTL_NS" link show lo >/dev/null 2>&1; then
    ip netns del "$CTL_NS" 2>/dev/null || rm -f "/run/netns/$CTL_NS"
  fi
  [ -e "/run/netns/$CTL_NS" ] || ip netns add "$CTL_NS"
  ip -n "$CTL_NS" link set lo up
  ip -n "$CTL_NS" link show "$BRIDGE" >/dev/null 2>&1 ||
    ip -n "$CTL_NS" link add "$BRIDGE" address "$(lab_mac 0 "$CTL_ADDR")" type bridge forward_delay 0 stp_state 0
  ip -n "$CTL_NS" addr replace "$CTL_ADDR/24" dev "$BRIDGE"
  ip -n "$CTL_NS" link set "$BRIDGE" up
}

# lab_mac KIND ADDR : a fixed, locally administered MAC per address (KIND 0: the address's own interface,
# 1: the bridge port of its veth). A node that restarts keeps its MAC, so neighbour caches of the other
# nodes and of the controller namespace stay valid (a new MAC would make them wait ~30 s for a stale entry).
lab_mac() {
  local IFS=.
  # shellcheck disable=SC2086
  set -- "$1" $2
  printf '02:%02x:%02x:%02x:%02x:%02x\n' "$2" "$3" "$4" "$1" "$5"
}

node_net_up() {
  local n=$1 ns
  ns=$(node_ns "$n")
  ip netns add "$ns"
  ip -n "$CTL_NS" link add "veth-$n" address "$(lab_mac 1 "$(node_addr "$n")")" type veth \
    peer name eth0 address "$(lab_mac 0 "$(node_addr "$n")")" netns "$ns"
  ip -n "$CTL_NS" link set "veth-$n" master "$BRIDGE" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$(node_addr "$n")/24" dev eth0
  ip -n "$ns" link set eth0 up
}

# --- one node ----------------------------------------------------------------------------------------

hosts_file() {
  local n=$1 m
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n\n'
  printf '# k8scp lab (the node itself: %s)\n%s\tk8scp-ctl ctl\n%s\tlb\n' "$n" "$CTL_ADDR" "$LB_ADDR"
  for m in $(seq 1 "$MAX_MASTERS"); do printf '%s\tn%s\n' "$(node_addr "n$m")" "$m"; done
}

# prepare_upper NODE : the node's writable layer, with its identity in it (written before the overlay is mounted).
prepare_upper() {
  local n=$1 u="$DATA_DIR/$1/upper" d
  for d in etc etc/ssh etc/ssh/authorized_keys.d; do
    mkdir -p "$u/$d"
    chown --reference="$ROOTFS/$d" "$u/$d"
    chmod --reference="$ROOTFS/$d" "$u/$d"
  done
  echo "$n" >"$u/etc/hostname"
  hosts_file "$n" >"$u/etc/hosts"
  install -m 0600 "$LAB_DIR/hostkeys/${n}_ed25519" "$u/etc/ssh/ssh_host_ed25519_key"
  install -m 0644 "$LAB_DIR/hostkeys/${n}_ed25519.pub" "$u/etc/ssh/ssh_host_ed25519_key.pub"
  install -m 0644 "$KEY.pub" "$u/etc/ssh/authorized_keys.d/$SSH_USER"
  install -m 0644 "$KEY.pub" "$u/etc/ssh/authorized_keys.d/root"
}

start_node() {
  local n=$1 merged="$RUN_DIR/$1/root" cg pid i comm=""
  node_net_up "$n"
  rm -rf --one-file-system "${DATA_DIR:?}/$n"
  mkdir -p "$DATA_DIR/$n/upper" "$DATA_DIR/$n/work" "$merged"
  prepare_upper "$n"
  mount -t overlay "$LAB-$n" -o "lowerdir=$ROOTFS,upperdir=$DATA_DIR/$n/upper,workdir=$DATA_DIR/$n/work" "$merged"
  # nspawn's image lock file for this directory; it stays behind when nspawn is killed.
  stat -c 'inode-%d:%i' "$merged" >"$RUN_DIR/$n.nspawn-lock"
  local cgs=()
  for cg in $(node_cgroups "$n"); do
    mkdir -p "$cg"
    cgs+=("$cg")
  done
  # The launcher moves itself into the node's cgroups, then becomes nspawn (setsid does not fork here:
  # a background job of a non-interactive shell is not a process group leader).
  (
    for cg in "${cgs[@]}"; do echo "$BASHPID" >"$cg/cgroup.procs"; done
    exec setsid systemd-nspawn --boot --register=no --keep-unit --machine="$n" --directory="$merged" \
      --network-namespace-path="/run/netns/$(node_ns "$n")" --console=read-only \
      --link-journal=no --resolv-conf=off --timezone=off
  ) </dev/null >"$LAB_DIR/logs/$n.log" 2>&1 9>&- &
  pid=$!
  for i in $(seq 1 50); do
    { read -r comm <"/proc/$pid/comm"; } 2>/dev/null || break
    [ "$comm" = systemd-nspawn ] && break
    sleep 0.1
  done
  [ "$(node_pid "$n")" = "$pid" ] || {
    tail -n 20 "$LAB_DIR/logs/$n.log" >&2
    die "node $n: systemd-nspawn did not start (log: $LAB_DIR/logs/$n.log)"
  }
  echo "$pid" >"$RUN_DIR/$n.pid"
}

# cgroup_pids NODE : every process in the node's cgroups (nspawn and the whole container).
cgroup_pids() {
  local cg
  for cg in $(node_cgroups "$1"); do
    if [ -d "$cg" ]; then find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null || true; fi
  done | sort -un
}

# stop_nodes NODE... : orderly shutdown (SIGTERM to nspawn halts the node's systemd), SIGKILL after
# STOP_TIMEOUT, then remove every trace of the nodes.
stop_nodes() {
  local n pid deadline left running
  for n in "$@"; do
    pid=$(node_pid "$n")
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  deadline=$((SECONDS + STOP_TIMEOUT))
  while :; do
    left=()
    running=" $(nspawn_pids | awk '{ print $2 }' | tr '\n' ' ') "
    for n in "$@"; do is_in "$n" "$running" && left+=("$n"); done
    [ ${#left[@]} -eq 0 ] && break
    if [ $SECONDS -ge $deadline ]; then
      warn "nodes still running after ${STOP_TIMEOUT}s: ${left[*]}; killing them"
      for n in "${left[@]}"; do
        pid=$(node_pid "$n")
        if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
      done
      break
    fi
    sleep 0.2
  done
  for n in "$@"; do node_cleanup "$n"; done
}

node_cleanup() {
  local n=$1 i p ns
  # Processes left in the node's cgroups (only when nspawn itself had to be killed).
  for i in $(seq 1 50); do
    p=$(cgroup_pids "$n")
    [ -z "$p" ] && break
    # shellcheck disable=SC2086
    kill -KILL $p 2>/dev/null || true
    sleep 0.1
  done
  [ -z "$(cgroup_pids "$n")" ] || warn "node $n: processes left in its cgroups: $(cgroup_pids "$n" | tr '\n' ' ')"
  if [ -f "$RUN_DIR/$n.nspawn-lock" ]; then rm -f "$NSPAWN_LOCKS/$(cat "$RUN_DIR/$n.nspawn-lock")"; fi
  unmount_under "$RUN_DIR/$n"
  local cg
  for cg in $(node_cgroups "$n"); do
    [ -d "$cg" ] || continue
    for i in $(seq 1 20); do
      find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [ -d "$cg" ] || break
      sleep 0.1
    done
  done
  ns=$(node_ns "$n")
  if [ -e "/run/netns/$ns" ]; then ip netns del "$ns" 2>/dev/null || rm -f "/run/netns/$ns"; fi
  if [ -e "/run/netns/$CTL_NS" ]; then ip -n "$CTL_NS" link del "veth-$n" >/dev/null 2>&1 || true; fi
  rm -rf --one-file-system "${RUN_DIR:?}/$n" "$RUN_DIR/$n.pid" "$RUN_DIR/$n.nspawn-lock" "${DATA_DIR:?}/$n"
  # nspawn cannot remove these itself when /run is not a tmpfs.
  if [ -d "$PROPAGATE_DIR/$n" ]; then rm -rf --one-file-system "${PROPAGATE_DIR:?}/$n"; fi
}

# leftovers : print every trace of the lab on this machine (none after a clean `down`).
leftovers() {
  local p n ns m cg h
  while read -r p n; do [ -n "$p" ] && echo "systemd-nspawn process $p (node $n)"; done < <(nspawn_pids)
  for ns in /run/netns/k8scp-*; do [ -e "$ns" ] && echo "network namespace ${ns#/run/netns/}"; done
  for m in $(lab_mounts); do echo "mount $m"; done
  for h in "$CGROUP_ROOT"/*/; do
    cg="$h$LAB"
    if [ -d "$cg" ]; then echo "cgroup $cg"; fi
  done
  for n in "${ALL_NODES[@]}"; do
    if [ -e "$PROPAGATE_DIR/$n" ]; then echo "nspawn leftover $PROPAGATE_DIR/$n"; fi
    if [ -e "$DATA_DIR/$n" ]; then echo "node data $DATA_DIR/$n"; fi
  done
  if [ -e "$RUN_DIR" ]; then echo "runtime dir $RUN_DIR"; fi
  return 0
}

# --- health ------------------------------------------------------------------------------------------

SSH_OPTS=(-F /dev/null -i "$KEY" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes
  -o "UserKnownHostsFile=$KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR
  -o ServerAliveInterval=5 -o ServerAliveCountMax=3)

lab_ssh() { # lab_ssh USER ADDR ARGS...
  local user=$1 addr=$2
  shift 2
  ip netns exec "$CTL_NS" ssh "${SSH_OPTS[@]}" "$user@$addr" "$@"
}

# wait_ready NODE... : each node answers SSH as kube, sudo -n works, and systemd finished booting.
wait_ready() {
  local n addr out state t0 deadline
  t0=$(now)
  deadline=$((SECONDS + BOOT_TIMEOUT))
  for n in "$@"; do
    addr=$(node_addr "$n")
    while :; do
      out=$(timeout 60 ip netns exec "$CTL_NS" ssh "${SSH_OPTS[@]}" -n "$SSH_USER@$addr" \
        'sudo -n true && timeout 50 systemctl is-system-running --wait' 2>&1) || true
      state=$(tail -n 1 <<<"$out")
      case $state in
        running) break ;;
        degraded)
          warn "node $n: systemd is degraded; failed units: $(lab_ssh "$SSH_USER" "$addr" -n 'systemctl --failed --no-legend --plain' 2>&1 | awk '{ print $1 }' | tr '\n' ' ')"
          break
          ;;
      esac
      node_running "$n" || {
        tail -n 30 "$LAB_DIR/logs/$n.log" >&2
        die "node $n ($addr): systemd-nspawn exited while booting (log: $LAB_DIR/logs/$n.log)"
      }
      if [ $SECONDS -ge $deadline ]; then
        tail -n 20 "$LAB_DIR/logs/$n.log" >&2
        die "node $n ($addr) not ready after ${BOOT_TIMEOUT}s (SSH as $SSH_USER + sudo -n true + systemctl is-system-running); last answer: ${out:-none} (log: $LAB_DIR/logs/$n.log)"
      fi
      sleep 0.5
    done
    log "$n ($addr) ready: ssh as $SSH_USER, sudo, systemd $state ($(since "$t0"))"
  done
}

# --- commands ----------------------------------------------------------------------------------------

take_lock() {
  mkdir -p "$LAB_DIR"
  exec 9>"$LAB_DIR/.lock"
  flock -w 900 9 || die "another lab command holds $LAB_DIR/.lock"
}

cmd_up() {
  local count=${1:-3} t0 n i
  if ! [[ $count =~ ^[1-9][0-9]*$ ]] || [ "$count" -gt "$MAX_MASTERS" ]; then die "up: N must be 1..$MAX_MASTERS, got '$count'"; fi
  require_root
  t0=$(now)
  take_lock
  ensure_host_tools
  mkdir -p "$LAB_DIR/logs" "$RUN_DIR" "$DATA_DIR"
  ensure_rootfs
  if [ -f "$RUN_DIR/rootfs" ] && [ "$(cat "$RUN_DIR/rootfs")" != "$ROOTFS" ] && [ -n "$(present_nodes)" ]; then
    warn "running nodes use $(cat "$RUN_DIR/rootfs"); new nodes would use $ROOTFS. Run 'down' first to use the new rootfs everywhere."
  fi
  local want=()
  for i in $(seq 1 "$count"); do want+=("n$i"); done
  want+=(lb)
  ensure_keys "${want[@]}"
  # Masters above N stop; nodes with traces but no running nspawn are cleaned before they start again.
  local extra=()
  local present
  present=$(present_nodes | tr '\n' ' ')
  for i in $(seq $((count + 1)) "$MAX_MASTERS"); do
    if is_in "n$i" "$present"; then extra+=("n$i"); fi
  done
  if [ ${#extra[@]} -gt 0 ]; then
    local ts
    ts=$(now)
    stop_nodes "${extra[@]}"
    log "stopped ${extra[*]} ($(since "$ts"))"
  fi
  ensure_controller_net
  write_lab_files "${want[@]}"
  [ -f "$RUN_DIR/rootfs" ] || echo "$ROOTFS" >"$RUN_DIR/rootfs"
  local ts started=()
  ts=$(now)
  local running
  running=$(nspawn_pids | awk '{ print $2 }' | tr '\n' ' ')
  present=$(present_nodes | tr '\n' ' ')
  for n in "${want[@]}"; do
    is_in "$n" "$running" && continue
    if is_in "$n" "$present"; then node_cleanup "$n"; fi
    start_node "$n"
    started+=("$n")
  done
  local kept=()
  for n in "${want[@]}"; do is_in "$n" "${started[*]}" || kept+=("$n"); done
  log "started: ${started[*]:-none}; already running: ${kept[*]:-none} ($(since "$ts"))"
  wait_ready "${want[@]}"
  log "lab up: ${want[*]} in $(since "$t0"); $LAB_JSON"
}

cmd_down() {
  require_root
  local t0 nodes
  t0=$(now)
  take_lock
  mapfile -t nodes < <(present_nodes)
  if [ ${#nodes[@]} -gt 0 ]; then
    stop_nodes "${nodes[@]}"
    log "stopped ${nodes[*]} ($(since "$t0"))"
  fi
  if [ -e "/run/netns/$CTL_NS" ]; then ip netns del "$CTL_NS" 2>/dev/null || rm -f "/run/netns/$CTL_NS"; fi
  local cg h
  for h in "${CGROUP_HIERARCHIES[@]}"; do
    cg="$CGROUP_ROOT/$h/$LAB"
    if [ -d "$cg" ]; then find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
  done
  unmount_under "$RUN_DIR"
  rm -rf --one-file-system "$RUN_DIR"
  rmdir "$DATA_DIR" 2>/dev/null || true
  rm -f "$LAB_JSON"
  local left m
  left=$(leftovers)
  if [ -n "$left" ]; then
    printf '[lab] ERROR: down left these behind:\n' >&2
    while read -r m; do printf '[lab]   %s\n' "$m" >&2; done <<<"$left"
    exit 1
  fi
  if [ ${#nodes[@]} -eq 0 ]; then
    log "lab is down (nothing was running)"
  else
    log "lab down in $(since "$t0"); verified: no nspawn processes, namespaces, overlay mounts, cgroups or node data left"
  fi
}

# node_pss_kib NODE : proportional set size of the node's processes (nspawn included), KiB.
node_pss_kib() {
  local p total=0 kb
  for p in $(cgroup_pids "$1"); do
    kb=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null) || continue
    total=$((total + ${kb:-0}))
  done
  echo "$total"
}

cmd_status() {
  require_root
  local n nodes=() rc=0 present running listed=""
  present=$(present_nodes | tr '\n' ' ')
  running=$(nspawn_pids | awk '{ print $2 }' | tr '\n' ' ')
  [ -f "$LAB_JSON" ] && listed=$(sed -n 's/.*"name": "\([a-z0-9]*\)".*/\1/p' "$LAB_JSON" | tr '\n' ' ')
  for n in "${ALL_NODES[@]}"; do
    if is_in "$n" "$present" || is_in "$n" "$listed"; then nodes+=("$n"); fi
  done
  if [ ${#nodes[@]} -eq 0 ] && [ ! -e "/run/netns/$CTL_NS" ]; then
    echo "lab is down"
    return 3
  fi
  local sshok
  for n in "${nodes[@]}"; do
    if is_in "$n" "$running"; then
      if lab_ssh "$SSH_USER" "$(node_addr "$n")" -n -o ConnectTimeout=3 true >/dev/null 2>&1; then sshok=ok; else
        sshok=failed
        rc=1
      fi
      printf '%-3s %-8s %-12s ssh %-6s pss %s MiB  disk %s\n' "$n" running "$(node_addr "$n")" "$sshok" \
        "$(($(node_pss_kib "$n") / 1024))" "$(du -sh "$DATA_DIR/$n/upper" 2>/dev/null | cut -f1)"
    else
      printf '%-3s %-8s %-12s ssh -\n' "$n" stopped "$(node_addr "$n")"
      rc=1
    fi
  done
  [ -e "/run/netns/$CTL_NS" ] || {
    echo "controller namespace $CTL_NS missing"
    rc=1
  }
  return $rc
}

cmd_ssh() {
  [ $# -ge 1 ] || die "usage: lab.sh ssh I|lb [CMD...]"
  require_root
  local target=$1 n
  shift
  case $target in
    lb | n[1-9]) n=$target ;;
    [1-9]) [ "$target" -le "$MAX_MASTERS" ] || die "ssh: master index must be 1..$MAX_MASTERS, got $target"; n=n$target ;;
    *) die "ssh: node must be a master index 1..$MAX_MASTERS or 'lb', got '$target'" ;;
  esac
  [ -e "/run/netns/$CTL_NS" ] || die "the lab is down; run: npm run lab -- up"
  node_running "$n" || die "node $n is not running"
  if [ $# -eq 0 ] && [ -t 0 ]; then
    exec ip netns exec "$CTL_NS" ssh "${SSH_OPTS[@]}" -t "$SSH_USER@$(node_addr "$n")"
  fi
  exec ip netns exec "$CTL_NS" ssh "${SSH_OPTS[@]}" "$SSH_USER@$(node_addr "$n")" "$@"
}

cmd_kill() {
  [ $# -eq 1 ] || die "usage: lab.sh kill n1..n$MAX_MASTERS|lb"
  require_root
  case $1 in lb | n[1-9]) ;; *) die "kill: node must be n1..n$MAX_MASTERS or lb, got '$1'" ;; esac
  node_running "$1" || die "node $1 is not running"
  local t0
  t0=$(now)
  stop_nodes "$1"
  log "$1 is gone: stopped and its disk wiped ($(since "$t0")); lab up brings it back empty"
}

cmd_exec() {
  [ $# -ge 1 ] || die "usage: lab.sh exec CMD..."
  require_root
  [ -e "/run/netns/$CTL_NS" ] || die "the lab is down (no namespace $CTL_NS); run: npm run lab -- up"
  exec ip netns exec "$CTL_NS" "$@"
}

main() {
  local cmd=${1:-}
  [ $# -gt 0 ] && shift
  case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down ;;
    status) cmd_status || exit $? ;;
    ssh) cmd_ssh "$@" ;;
    exec) cmd_exec "$@" ;;
    kill) cmd_kill "$@" ;;
    leftovers) leftovers ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
