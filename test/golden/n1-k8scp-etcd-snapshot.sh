#!/bin/bash
# k8scp: etcd snapshots of n1 (managed by Pulumi; edits are overwritten)
#   save     take a snapshot, check it with etcdutl snapshot status, keep the newest 24
#   list     every snapshot, newest first: time (UTC), size in bytes, path
#   newest   the path of the newest snapshot
#   uploaded the last upload to the bucket: time (UTC), object key (uploads are off)
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
  ;;
list) for f in $(snapshots); do echo "$(date -u -r "$f" +%Y-%m-%dT%H:%M:%SZ) $(stat -c %s "$f") $f"; done ;;
newest) snapshots | head -n 1 ;;
uploaded) cat '/var/lib/etcd-snapshots/.k8scp-uploaded' 2>/dev/null || true ;;
*) echo "usage: $0 save|list|newest|uploaded" >&2; exit 2 ;;
esac
