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
#   npm run lab -- s3 up|down|status   an S3 server (versitygw) on lb at 10.213.0.10:7070 with buckets
#                                k8scp-snapshots and k8scp-state (scripts/lab/s3.sh; s3.json describes it)
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
#     hostkeys/<node>_{rsa,ecdsa,ed25519}{,.pub}  each node's SSH host keys (Debian's three types), stable across
#                         down/up; sshd runs with Debian's defaults otherwise (scripts/lab/rootfs.sh)
#     known_hosts         the host keys of the current nodes, all three types (by address and name)
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
# The parts (functions only): scripts/lab/*.sh.
# shellcheck source=scripts/lab/nodes.sh
source "$SCRIPT_DIR/lab/nodes.sh"
# shellcheck source=scripts/lab/host.sh
source "$SCRIPT_DIR/lab/host.sh"
# shellcheck source=scripts/lab/files.sh
source "$SCRIPT_DIR/lab/files.sh"
# shellcheck source=scripts/lab/net.sh
source "$SCRIPT_DIR/lab/net.sh"
# shellcheck source=scripts/lab/commands.sh
source "$SCRIPT_DIR/lab/commands.sh"
# shellcheck source=scripts/lab/s3.sh
source "$SCRIPT_DIR/lab/s3.sh"

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
# The host key types every node has, as on a Debian install (the order known_hosts lists them in).
HOST_KEY_TYPES="rsa ecdsa ed25519"
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

# --- rootfs (the build: scripts/lab/host.sh) ---------------------------------------------------------

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

# --- SSH (scripts/lab/nodes.sh) ----------------------------------------------------------------------

SSH_OPTS=(-F /dev/null -i "$KEY" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes
  -o "UserKnownHostsFile=$KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR
  -o ServerAliveInterval=5 -o ServerAliveCountMax=3)

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
    s3) cmd_s3 "$@" ;;
    leftovers) leftovers ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

# Sourced (to inspect its functions), it runs nothing.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
