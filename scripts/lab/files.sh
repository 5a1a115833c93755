# shellcheck shell=bash
# The lab's files: the SSH key, the nodes' host keys, known_hosts and lab.json.
# Sourced by scripts/lab.sh: functions only, no top-level code; the settings they use are lab.sh's.

# --- keys, known_hosts, lab.json ---------------------------------------------------------------------

ensure_keys() {
  local n
  mkdir -p "$LAB_DIR/hostkeys"
  if [ ! -f "$KEY" ] || [ ! -f "$KEY.pub" ]; then
    rm -f "$KEY" "$KEY.pub"
    ssh-keygen -q -t ed25519 -N "" -C "k8scp-lab" -f "$KEY" </dev/null
    log "generated the lab SSH key $KEY"
  fi
  local t hk
  for n in "$@"; do
    for t in $HOST_KEY_TYPES; do
      hk="$LAB_DIR/hostkeys/${n}_$t"
      if [ ! -f "$hk" ] || [ ! -f "$hk.pub" ]; then
        rm -f "$hk" "$hk.pub"
        ssh-keygen -q -t "$t" -N "" -C "root@$n" -f "$hk" </dev/null
      fi
    done
  done
}

# host_key NODE [TYPE] : the node's host key of TYPE (default ed25519), `type base64`.
host_key() { awk '{ print $1, $2 }' "$LAB_DIR/hostkeys/${1}_${2:-ed25519}.pub"; }

json_str() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# write_lab_files NODE... : known_hosts and lab.json for these nodes (atomically).
write_lab_files() {
  local n t first=1
  {
    for n in "$@"; do
      for t in $HOST_KEY_TYPES; do echo "$(node_addr "$n"),$n $(host_key "$n" "$t")"; done
    done
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
