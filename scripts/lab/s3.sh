# shellcheck shell=bash
# The lab's S3 server: versitygw (toolchain/extra/versitygw, POSIX backend) as a systemd unit on the lb host,
# for etcd snapshot uploads and a shared Pulumi state backend. `lab.sh s3 up|down|status`.
# Sourced by scripts/lab.sh: functions only, no top-level code; the settings they use are lab.sh's.
#
# Files:
#   $LAB_DIR/s3-credentials   access_key_id=/secret_access_key= lines (0600), made once, stable across down/up
#   $LAB_DIR/s3.json          endpoint, region, buckets, credentials file (written by `s3 up`, removed by `s3 down`)
# On lb: /usr/local/bin/k8scp-lab-s3 (the binary), /etc/k8scp-lab-s3.env (0600, the root credentials for
# versitygw's environment: never on a command line), k8scp-lab-s3.service, data in /var/lib/k8scp-lab-s3.

S3_PORT=7070
S3_REGION=us-east-1
S3_BUCKETS=(k8scp-snapshots k8scp-state)
S3_UNIT=k8scp-lab-s3.service

s3_credentials() { printf '%s/s3-credentials' "$LAB_DIR"; }
s3_value() { sed -n "s/^$1=//p" "$(s3_credentials)"; } # s3_value access_key_id|secret_access_key

# The versitygw binary for the current sources (built once by the toolchain script when missing).
s3_binary() {
  local b h
  # shellcheck source=scripts/env.sh disable=SC1091 # followed with shellcheck -x
  h=$(source "$REPO/scripts/env.sh" >/dev/null 2>&1 && k8scp_component_hash extra/versitygw) || die "s3: scripts/env.sh failed"
  b="$CACHE/components/versitygw/$h/versitygw"
  if [ ! -x "$b" ]; then
    log "s3: building versitygw (bash scripts/toolchain.sh versitygw, about 2-3 min once)" >&2
    bash "$REPO/scripts/toolchain.sh" versitygw >&2 || die "s3: building versitygw failed (see above)"
  fi
  [ -x "$b" ] || die "s3: no versitygw binary at $b after building it"
  printf '%s' "$b"
}

# s3_request METHOD PATH : one signed request from the controller namespace; prints the HTTP status.
# Credentials go to curl through a 0600 config file on stdin (--config -), never its command line.
s3_request() {
  local method=(-X "$1") code
  [ "$1" = HEAD ] && method=(--head)
  code=$(printf 'user = "%s:%s"\n' "$(s3_value access_key_id)" "$(s3_value secret_access_key)" |
    ip netns exec "$CTL_NS" curl -sS --max-time 10 --config - -o /dev/null -w '%{http_code}' "${method[@]}" \
      --aws-sigv4 "aws:amz:$S3_REGION:s3" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "http://$LB_ADDR:$S3_PORT$2" 2>/dev/null) || true
  printf '%s' "${code:-000}"
}

cmd_s3() {
  local sub=${1:-status}
  require_root
  [ -e "/run/netns/$CTL_NS" ] || die "the lab is down; run: npm run lab -- up"
  node_running lb || die "s3: the lb node is not running; run: npm run lab -- up"
  case $sub in
    up) s3_up ;;
    down) s3_down ;;
    status) s3_status ;;
    *) die "usage: lab.sh s3 up|down|status" ;;
  esac
}

s3_up() {
  local t0 bin root=$RUN_DIR/lb/root code b i
  t0=$(now)
  take_lock
  bin=$(s3_binary)
  if [ ! -s "$(s3_credentials)" ]; then
    (
      umask 077
      printf 'access_key_id=k8scplab%s\nsecret_access_key=%s\n' "$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')" \
        "$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')" >"$(s3_credentials).tmp"
    )
    mv -f "$(s3_credentials).tmp" "$(s3_credentials)"
  fi
  # Written into the node's root from here (the overlay's merged view), then started by its systemd.
  install -m 0755 "$bin" "$root/usr/local/bin/k8scp-lab-s3"
  (
    umask 077
    printf 'ROOT_ACCESS_KEY_ID=%s\nROOT_SECRET_ACCESS_KEY=%s\n' "$(s3_value access_key_id)" "$(s3_value secret_access_key)" >"$root/etc/k8scp-lab-s3.env"
  )
  cat >"$root/etc/systemd/system/$S3_UNIT" <<EOF
[Unit]
Description=lab S3 server (versitygw, POSIX backend in /var/lib/k8scp-lab-s3)
After=network-online.target

[Service]
EnvironmentFile=/etc/k8scp-lab-s3.env
ExecStartPre=/usr/bin/install -d -m 0700 /var/lib/k8scp-lab-s3
ExecStart=/usr/local/bin/k8scp-lab-s3 --quiet --health /health --region $S3_REGION --port $LB_ADDR:$S3_PORT posix /var/lib/k8scp-lab-s3
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
EOF
  lab_ssh "$SSH_USER" "$LB_ADDR" -n "sudo -n systemctl daemon-reload && sudo -n systemctl enable $S3_UNIT >/dev/null 2>&1 && sudo -n systemctl restart $S3_UNIT" ||
    die "s3: starting $S3_UNIT on lb failed"
  for i in $(seq 1 100); do
    code=$(ip netns exec "$CTL_NS" curl -sS --max-time 2 -o /dev/null -w '%{http_code}' "http://$LB_ADDR:$S3_PORT/health" 2>/dev/null) || code=000
    [ "$code" = 200 ] && break
    [ "$i" = 100 ] && die "s3: http://$LB_ADDR:$S3_PORT/health did not answer 200 within 20 s (last: $code); journal: $(lab_ssh "$SSH_USER" "$LB_ADDR" -n "sudo -n journalctl -u $S3_UNIT -n 20 --no-pager" 2>&1)"
    sleep 0.2
  done
  for b in "${S3_BUCKETS[@]}"; do
    code=$(s3_request HEAD "/$b")
    if [ "$code" = 404 ]; then code=$(s3_request PUT "/$b"); fi
    [ "$code" = 200 ] || die "s3: bucket $b: HTTP $code (want 200)"
  done
  {
    printf '{\n  "endpoint": %s,\n  "region": %s,\n' "$(json_str "http://$LB_ADDR:$S3_PORT")" "$(json_str "$S3_REGION")"
    printf '  "buckets": {"snapshots": %s, "state": %s},\n' "$(json_str "${S3_BUCKETS[0]}")" "$(json_str "${S3_BUCKETS[1]}")"
    printf '  "credentialsFile": %s,\n  "dataDir": "/var/lib/k8scp-lab-s3",\n  "host": "lb",\n  "unit": %s\n}\n' \
      "$(json_str "$(s3_credentials)")" "$(json_str "$S3_UNIT")"
  } >"$LAB_DIR/s3.json.tmp"
  mv -f "$LAB_DIR/s3.json.tmp" "$LAB_DIR/s3.json"
  log "s3 up: http://$LB_ADDR:$S3_PORT on lb, buckets ${S3_BUCKETS[*]} ($(since "$t0")); $LAB_DIR/s3.json"
}

s3_down() {
  take_lock
  lab_ssh "$SSH_USER" "$LB_ADDR" -n "sudo -n systemctl disable --now $S3_UNIT >/dev/null 2>&1 || true; sudo -n rm -rf /var/lib/k8scp-lab-s3 /etc/k8scp-lab-s3.env /usr/local/bin/k8scp-lab-s3 /etc/systemd/system/$S3_UNIT; sudo -n systemctl daemon-reload" ||
    die "s3: removing $S3_UNIT from lb failed"
  rm -f "$LAB_DIR/s3.json"
  log "s3 down: the server, its data and $LAB_DIR/s3.json are gone (the credentials file stays)"
}

s3_status() {
  local code
  code=$(ip netns exec "$CTL_NS" curl -sS --max-time 2 -o /dev/null -w '%{http_code}' "http://$LB_ADDR:$S3_PORT/health" 2>/dev/null) || code=000
  if [ "$code" = 200 ] && [ -f "$LAB_DIR/s3.json" ]; then
    log "s3: up at http://$LB_ADDR:$S3_PORT"
    return 0
  fi
  log "s3: down (health: HTTP $code)"
  return 3
}
