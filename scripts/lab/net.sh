# shellcheck shell=bash
# The lab's network: the controller namespace and its bridge, one namespace and veth per node, fixed MACs.
# Sourced by scripts/lab.sh: functions only, no top-level code; the settings they use are lab.sh's.

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
