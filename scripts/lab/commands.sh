# shellcheck shell=bash
# The lab's commands: up, down, status, ssh, kill, exec (dispatched by main in scripts/lab.sh).
# Sourced by scripts/lab.sh: functions only, no top-level code; the settings they use are lab.sh's.

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
  rm -f "$LAB_JSON" "$LAB_DIR/s3.json"
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
