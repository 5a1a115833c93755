#!/bin/bash
# k8scp: etcd snapshots (managed by Pulumi)
set -euo pipefail
action="${1:-create}"
enabled=yes
say() { echo "[k8scp] etcd-snapshot@$(hostname): $*" >&2; }
revision=1a790a65275cbf6c28918619020592e6e40b5632571ba4da85f1872530b260d1
applied='/var/lib/k8scp/etcd-snapshot.applied'
applied_same() { [ -f "$applied" ] && [ "$(cat "$applied")" = "$revision" ] && "$@"; }
applied_record() { install -d -m 0755 -o root -g root /var/lib/k8scp; echo "$revision" > "$applied"; }
put_file() { # path mode owner [text]; content (base64 unless "text") on stdin; atomic, never printed
  local dst="$1" mode="$2" owner="$3" tmp
  tmp=$(mktemp "$(dirname "$dst")/.k8scp.XXXXXX")
  if [ "${4:-}" = text ]; then cat >"$tmp"; else base64 -d >"$tmp"; fi
  chown "$owner:$owner" "$tmp"; chmod "$mode" "$tmp"
  mv -f "$tmp" "$dst"
}
if [ "$action" = delete ] || [ "$enabled" = no ]; then
  systemctl disable --now etcd-snapshot.timer >/dev/null 2>&1 || true
  rm -f /usr/local/sbin/k8scp-etcd-snapshot /etc/systemd/system/etcd-snapshot.service /etc/systemd/system/etcd-snapshot.timer "$applied"
  rm -f /usr/local/bin/k8scp-backup /etc/k8scp-snapshot-upload.conf /etc/k8scp-snapshot-upload.credentials /etc/k8scp-snapshot-upload-ca.pem /var/lib/k8scp/staging/k8scp-backup
  systemctl daemon-reload
  say "snapshots off; those taken are kept in /var/lib/etcd-snapshots"
  exit 0
fi
# Only a directory of our own: one this step made (its marker inside), or an etcd-owned one from before the marker.
# Another existing directory (e.g. /home) is never taken over.
marker='/var/lib/etcd-snapshots/.k8scp-etcd-snapshots'
if [ ! -e '/var/lib/etcd-snapshots' ]; then
  install -d -m 0700 -o etcd -g etcd '/var/lib/etcd-snapshots'
elif [ ! -d '/var/lib/etcd-snapshots' ] || [ -L '/var/lib/etcd-snapshots' ] || { [ ! -e "$marker" ] && [ "$(stat -c %U '/var/lib/etcd-snapshots')" != etcd ]; }; then
  say "/var/lib/etcd-snapshots exists and is not a directory owned by etcd; it is left alone: set k8scp:etcdSnapshots.dir to a new path"
  exit 1
else
  # Ours: after a master left and came back its etcd user is a new one (another uid); the snapshots kept are its.
  chown -R etcd:etcd '/var/lib/etcd-snapshots'
  chmod 0700 '/var/lib/etcd-snapshots'
fi
touch "$marker"
if [ "$(sha256sum /usr/local/bin/k8scp-backup 2>/dev/null | cut -d' ' -f1)" != fded1284d5c3d39162bea08d9d32aa50ccecdbbb9289dba192fa46f8ef843eb6 ]; then
  echo "fded1284d5c3d39162bea08d9d32aa50ccecdbbb9289dba192fa46f8ef843eb6  /var/lib/k8scp/staging/k8scp-backup" | sha256sum --check --status || { say "the staged k8scp-backup differs from the one configured; run pulumi up again"; exit 1; }
  install -m 0755 -o root -g root /var/lib/k8scp/staging/k8scp-backup /usr/local/bin/k8scp-backup
fi
[ -s /etc/k8scp-snapshot-upload.credentials ] || { say "the bucket's credentials (/etc/k8scp-snapshot-upload.credentials) are missing; run pulumi up again"; exit 1; }
put_file '/etc/k8scp-snapshot-upload.conf' 0644 'root' text <<'K8SCP_TEXT'
# k8scp: where etcd snapshots are uploaded (managed by Pulumi); credentials are in a systemd credential
endpoint=http://10.213.0.10:7070
bucket=k8scp-snapshots
prefix=kubernetes
region=us-east-1
recipient=age1placeholderplaceholderplaceholderplaceholderplaceholderpl
K8SCP_TEXT
rm -f /etc/k8scp-snapshot-upload-ca.pem
put_file '/usr/local/sbin/k8scp-etcd-snapshot' 0755 'root' text <<'K8SCP_TEXT'
#!/bin/bash
# k8scp: etcd snapshots of n1 (managed by Pulumi; edits are overwritten)
#   save     take a snapshot, check it with etcdutl snapshot status, keep the newest 24,
#            upload it encrypted to k8scp-snapshots (newest 48 kept there)
#   list     every snapshot, newest first: time (UTC), size in bytes, path
#   newest   the path of the newest snapshot
#   uploaded the last upload to the bucket: time (UTC), object key
set -euo pipefail
umask 077
dir='/var/lib/etcd-snapshots'
keep=24
say() { echo "[k8scp] etcd-snapshot@$(hostname): $*" >&2; }
snapshots() { ls -1t "$dir"/etcd-*.db 2>/dev/null || true; }
case "${1:-save}" in
save)
  f="$dir/etcd-$(hostname)-$(date -u +%Y%m%dT%H%M%SZ).db"
  /usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/etcd/pki/etcd-ca.pem --cert=/etc/kubernetes/etcd/pki/etcd-server.pem --key=/etc/kubernetes/etcd/pki/etcd-server-key.pem --dial-timeout=3s --command-timeout=15s snapshot save "$f.part" >/dev/null 2>"$f.log" || { cat "$f.log" >&2; rm -f "$f.part" "$f.log"; say "snapshot failed"; exit 1; }
  rm -f "$f.log"
  if ! st=$(/usr/local/bin/etcdutl snapshot status "$f.part" -w simple 2>&1); then
    rm -f "$f.part"; say "the snapshot failed its check (etcdutl snapshot status): $st"; exit 1
  fi
  chmod 0600 "$f.part" && mv -f "$f.part" "$f"
  say "saved $f (hash, revision, keys, size, version: $st)"
  snapshots | tail -n +$((keep + 1)) | xargs -r rm -f --
  if ! key=$(/usr/local/bin/k8scp-backup put --settings /etc/k8scp-snapshot-upload.conf --name 'n1'/"$(basename "$f")" "$f"); then
    say "uploading $f to k8scp-snapshots at http://10.213.0.10:7070 failed (above); the local copy is kept"; exit 1
  fi
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $key" >"$dir/.k8scp-uploaded"
  say "uploaded to k8scp-snapshots: $key"
  /usr/local/bin/k8scp-backup prune --settings /etc/k8scp-snapshot-upload.conf --dir 'n1' --keep 48 >/dev/null || { say "uploaded, but keeping the newest 48 in k8scp-snapshots failed (above)"; exit 1; }
  ;;
list) for f in $(snapshots); do echo "$(date -u -r "$f" +%Y-%m-%dT%H:%M:%SZ) $(stat -c %s "$f") $f"; done ;;
newest) snapshots | head -n 1 ;;
uploaded) cat '/var/lib/etcd-snapshots/.k8scp-uploaded' 2>/dev/null || true ;;
*) echo "usage: $0 save|list|newest|uploaded" >&2; exit 2 ;;
esac
K8SCP_TEXT
put_file '/etc/systemd/system/etcd-snapshot.service' 0600 'root' text <<'K8SCP_TEXT'
[Unit]
Description=etcd snapshot (k8scp)
After=etcd.service

[Service]
Type=oneshot
User=etcd
Group=etcd
ExecStart=/usr/local/sbin/k8scp-etcd-snapshot save
LoadCredential=s3-credentials:/etc/k8scp-snapshot-upload.credentials
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ReadWritePaths=/var/lib/etcd-snapshots
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK
SystemCallArchitectures=native
K8SCP_TEXT
put_file '/etc/systemd/system/etcd-snapshot.timer' 0600 'root' text <<'K8SCP_TEXT'
[Unit]
Description=etcd snapshot every 1h (k8scp)

[Timer]
OnActiveSec=1h
OnUnitActiveSec=1h
AccuracySec=1s

[Install]
WantedBy=timers.target
K8SCP_TEXT
systemctl daemon-reload
systemctl enable --no-reload etcd-snapshot.timer >/dev/null 2>&1
# The same script again (e.g. a new SSH key re-runs every step): the timer keeps its schedule.
if applied_same systemctl is-active --quiet etcd-snapshot.timer; then say "unchanged: the timer keeps running"; exit 0; fi
systemctl restart etcd-snapshot.timer
applied_record
say "every 1h, newest 24 kept in /var/lib/etcd-snapshots (/usr/local/sbin/k8scp-etcd-snapshot list), uploaded to k8scp-snapshots"
