# shellcheck shell=bash
# The lab's nodes: names, addresses, what runs and what is left (from /proc, mounts, cgroups); starting one
# (its writable layer, overlay, cgroups, systemd-nspawn), stopping and cleaning up; SSH and readiness.
# Sourced by scripts/lab.sh: functions only, no top-level code; the settings they use are lab.sh's.

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
  local t
  for t in $HOST_KEY_TYPES; do
    install -m 0600 "$LAB_DIR/hostkeys/${n}_$t" "$u/etc/ssh/ssh_host_${t}_key"
    install -m 0644 "$LAB_DIR/hostkeys/${n}_$t.pub" "$u/etc/ssh/ssh_host_${t}_key.pub"
  done
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
    # shellcheck disable=SC2034 # i only counts the tries
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
