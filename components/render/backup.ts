// etcd snapshots on a timer, and restoring every member from one snapshot. Pure: scripts and units only.
import { etcdHealthWaitLines, etcdctl, initialCluster, restoredMarker } from "./etcd";
import { Member, etcdPeerUrl, paths, serviceNames } from "./flags";
import { stateDir } from "./records";
import { appliedLines, plainFileBlock, putFileFunction, secretFileBlock, shellQuote, unitFileMode, withRevision } from "./scripts";
import { sandbox } from "./services";

export interface SnapshotSettings {
    enabled: boolean;
    /** systemd time span between snapshots, e.g. "1h". */
    interval: string;
    /** Snapshots kept per master. */
    retention: number;
    /** Directory on the master (0700, owned by etcd); never removed by Pulumi. */
    dir: string;
    /** Upload every snapshot, encrypted, to S3-compatible object storage; none when absent. */
    upload?: SnapshotUpload;
}

/** Where the snapshots go off the master: the non-secret part of `etcdSnapshots.upload` (credentials apart). */
export interface SnapshotUpload {
    /** http(s)://host[:port]; path-style addressing. */
    endpoint: string;
    bucket: string;
    /** Key prefix; each master's snapshots are under <prefix>/<master>/. */
    prefix: string;
    region: string;
    /** Snapshots kept per master in the bucket. */
    retention: number;
    /** The age recipient (public key) every snapshot is encrypted to; its identity stays off the masters. */
    recipient: string;
    /** PEM of the CA of an https endpoint with a private certificate. */
    caPem?: string;
}

/** The upload's files on a master: the tool, its settings (0644), the bucket's credentials (0600, root) and CA. */
export const uploadFiles = {
    tool: "/usr/local/bin/k8scp-backup",
    staged: `${paths.staging}/k8scp-backup`,
    settings: "/etc/k8scp-snapshot-upload.conf",
    credentials: "/etc/k8scp-snapshot-upload.credentials",
    ca: "/etc/k8scp-snapshot-upload-ca.pem",
};
/** The systemd credential name the snapshot service reads the bucket's credentials under. */
export const uploadCredentialName = "s3-credentials";
/** A master's last successful upload: `<time> <object key>`, one line, in the snapshot directory. */
const uploadedRecordName = ".k8scp-uploaded";
export const uploadedRecord = (dir: string) => `${dir}/${uploadedRecordName}`;

/**
 * The lines of a k8scp-backup settings file (key=value; no secret in it), on a master or on the machine running
 * Pulumi: the bucket, the recipient when it encrypts (put), the CA file of an endpoint with a private certificate.
 */
export const bucketSettingsLines = (
    t: { endpoint: string; bucket: string; prefix: string; region: string; recipient?: string },
    caFile?: string,
): string[] => [
    `endpoint=${t.endpoint}`,
    `bucket=${t.bucket}`,
    `prefix=${t.prefix}`,
    `region=${t.region}`,
    ...(t.recipient ? [`recipient=${t.recipient}`] : []),
    ...(caFile ? [`ca_file=${caFile}`] : []),
    "",
];

/** k8scp-backup's settings file on a master. */
export function renderUploadSettings(u: SnapshotUpload): string {
    return [
        "# k8scp: where etcd snapshots are uploaded (managed by Pulumi); credentials are in a systemd credential",
        ...bucketSettingsLines(u, u.caPem ? uploadFiles.ca : undefined),
    ].join("\n");
}

/** The bucket's credentials as k8scp-backup reads them (a secret: written 0600, root's, read through LoadCredential). */
export const renderUploadCredentials = (c: { accessKeyId: string; secretAccessKey: string }) =>
    `access_key_id=${c.accessKeyId}\nsecret_access_key=${c.secretAccessKey}\n`;

/** The step that writes the bucket's credentials (its stdin is secret; nothing of it is printed). */
export function renderUploadCredentialsScript(content: string): string {
    return `#!/bin/bash
# k8scp: the snapshot bucket's credentials (managed by Pulumi)
set -euo pipefail
umask 077
${putFileFunction}
${secretFileBlock({ path: uploadFiles.credentials, mode: "0600", content }, "root")}
echo "[k8scp] etcd-snapshot@$(hostname): bucket credentials in place (${uploadFiles.credentials}, 0600)" >&2
`;
}

/** What a user would pick: hourly, a day's worth kept. */
export const defaultSnapshots: SnapshotSettings = { enabled: true, interval: "1h", retention: 24, dir: "/var/lib/etcd-snapshots" };

/** The snapshot tool installed on every master: `k8scp-etcd-snapshot save|list|newest`. */
export const snapshotTool = "/usr/local/sbin/k8scp-etcd-snapshot";
export const snapshotUnits = { service: "etcd-snapshot.service", timer: "etcd-snapshot.timer" };

const q = shellQuote;

/** The tool: `save` (the timer's job, as the etcd user) takes a snapshot, checks it with etcdutl, keeps the newest N. */
export function renderSnapshotTool(self: Member, s: SnapshotSettings): string {
    return `#!/bin/bash
# k8scp: etcd snapshots of ${self.name} (managed by Pulumi; edits are overwritten)
#   save     take a snapshot, check it with etcdutl snapshot status, keep the newest ${s.retention}${
        s.upload
            ? `,
#            upload it encrypted to ${s.upload.bucket} (newest ${s.upload.retention} kept there)`
            : ""
    }
#   list     every snapshot, newest first: time (UTC), size in bytes, path
#   newest   the path of the newest snapshot
#   uploaded the last upload to the bucket: time (UTC), object key${s.upload ? "" : " (uploads are off)"}
set -euo pipefail
umask 077
dir=${q(s.dir)}
keep=${s.retention}
say() { echo "[k8scp] etcd-snapshot@$(hostname): $*" >&2; }
snapshots() { ls -1t "$dir"/etcd-*.db 2>/dev/null || true; }
case "\${1:-save}" in
save)
  f="$dir/etcd-$(hostname)-$(date -u +%Y%m%dT%H%M%SZ).db"
  ${etcdctl([{ name: self.name, address: "127.0.0.1" }])} snapshot save "$f.part" >/dev/null 2>"$f.log" || { cat "$f.log" >&2; rm -f "$f.part" "$f.log"; say "snapshot failed"; exit 1; }
  rm -f "$f.log"
  if ! st=$(${paths.bin}/etcdutl snapshot status "$f.part" -w simple 2>&1); then
    rm -f "$f.part"; say "the snapshot failed its check (etcdutl snapshot status): $st"; exit 1
  fi
  chmod 0600 "$f.part" && mv -f "$f.part" "$f"
  say "saved $f (hash, revision, keys, size, version: $st)"
  snapshots | tail -n +$((keep + 1)) | xargs -r rm -f --
${s.upload ? uploadLines(self, s.upload) : ""}  ;;
list) for f in $(snapshots); do echo "$(date -u -r "$f" +%Y-%m-%dT%H:%M:%SZ) $(stat -c %s "$f") $f"; done ;;
newest) snapshots | head -n 1 ;;
uploaded) cat ${q(uploadedRecord(s.dir))} 2>/dev/null || true ;;
*) echo "usage: $0 save|list|newest|uploaded" >&2; exit 2 ;;
esac
`;
}

/**
 * The tool's upload (after the local copy passed its check and the local retention ran): encrypted to the
 * recipient and put under <prefix>/<master>/, then the bucket keeps the newest N of this master. A failure fails the
 * run (the unit shows in systemctl --failed) and leaves the local copy.
 */
function uploadLines(self: Member, u: SnapshotUpload): string {
    const backup = (sub: string) => `${uploadFiles.tool} ${sub} --settings ${uploadFiles.settings}`;
    return `  if ! key=$(${backup("put")} --name ${q(self.name)}/"$(basename "$f")" "$f"); then
    say "uploading $f to ${u.bucket} at ${u.endpoint} failed (above); the local copy is kept"; exit 1
  fi
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $key" >"$dir/${uploadedRecordName}"
  say "uploaded to ${u.bucket}: $key"
  ${backup("prune")} --dir ${q(self.name)} --keep ${u.retention} >/dev/null || { say "uploaded, but keeping the newest ${u.retention} in ${u.bucket} failed (above)"; exit 1; }
`;
}

export function renderSnapshotService(s: SnapshotSettings): string {
    const lines = [
        "[Unit]",
        "Description=etcd snapshot (k8scp)",
        "After=etcd.service",
        "",
        "[Service]",
        "Type=oneshot",
        `User=${serviceNames.etcd}`,
        `Group=${serviceNames.etcd}`,
        `ExecStart=${snapshotTool} save`,
        // The bucket's credentials: root's 0600 file, handed to this run only (in $CREDENTIALS_DIRECTORY).
        ...(s.upload ? [`LoadCredential=${uploadCredentialName}:${uploadFiles.credentials}`] : []),
        ...Object.entries(sandbox([s.dir])).map(([k, v]) => `${k}=${v}`),
        "",
    ];
    return lines.join("\n");
}

export function renderSnapshotTimer(s: SnapshotSettings): string {
    return [
        "[Unit]",
        `Description=etcd snapshot every ${s.interval} (k8scp)`,
        "",
        "[Timer]",
        `OnActiveSec=${s.interval}`,
        `OnUnitActiveSec=${s.interval}`,
        "AccuracySec=1s",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
    ].join("\n");
}

/**
 * Installs (create/update) the tool, the service and the timer and starts the timer; with snapshots disabled,
 * or on delete, stops and removes them. Snapshots already taken are never removed.
 */
export function renderSnapshotInstallScript(self: Member, s: SnapshotSettings, uploadToolSha256?: string): string {
    const put = (path: string, mode: string, content: string) => plainFileBlock({ path, mode, content }, "root");
    const uploadOff = `rm -f ${uploadFiles.tool} ${uploadFiles.settings} ${uploadFiles.credentials} ${uploadFiles.ca} ${uploadFiles.staged}`;
    const remove = `systemctl disable --now ${snapshotUnits.timer} >/dev/null 2>&1 || true
  rm -f ${snapshotTool} /etc/systemd/system/${snapshotUnits.service} /etc/systemd/system/${snapshotUnits.timer} "$applied"
  ${uploadOff}
  systemctl daemon-reload
  say "snapshots off; those taken are kept in ${s.dir}"`;
    return withRevision(`#!/bin/bash
# k8scp: etcd snapshots (managed by Pulumi)
set -euo pipefail
action="\${1:-create}"
enabled=${s.enabled ? "yes" : "no"}
say() { echo "[k8scp] etcd-snapshot@$(hostname): $*" >&2; }
${appliedLines("etcd-snapshot")}
${putFileFunction}
if [ "$action" = delete ] || [ "$enabled" = no ]; then
  ${remove}
  exit 0
fi
# Only a directory of our own: one this step made (its marker inside), or an etcd-owned one from before the marker.
# Another existing directory (e.g. /home) is never taken over.
marker=${q(`${s.dir}/.k8scp-etcd-snapshots`)}
if [ ! -e ${q(s.dir)} ]; then
  install -d -m 0700 -o ${serviceNames.etcd} -g ${serviceNames.etcd} ${q(s.dir)}
elif [ ! -d ${q(s.dir)} ] || [ -L ${q(s.dir)} ] || { [ ! -e "$marker" ] && [ "$(stat -c %U ${q(s.dir)})" != ${serviceNames.etcd} ]; }; then
  say "${s.dir} exists and is not a directory owned by ${serviceNames.etcd}; it is left alone: set k8scp:etcdSnapshots.dir to a new path"
  exit 1
else
  # Ours: after a master left and came back its etcd user is a new one (another uid); the snapshots kept are its.
  chown -R ${serviceNames.etcd}:${serviceNames.etcd} ${q(s.dir)}
  chmod 0700 ${q(s.dir)}
fi
touch "$marker"
${
    s.upload
        ? uploadInstallLines(s.upload, uploadToolSha256)
        : `${uploadOff}
`
}${put(snapshotTool, "0755", renderSnapshotTool(self, s))}
${put(`/etc/systemd/system/${snapshotUnits.service}`, unitFileMode, renderSnapshotService(s))}
${put(`/etc/systemd/system/${snapshotUnits.timer}`, unitFileMode, renderSnapshotTimer(s))}
systemctl daemon-reload
systemctl enable --no-reload ${snapshotUnits.timer} >/dev/null 2>&1
# The same script again (e.g. a new SSH key re-runs every step): the timer keeps its schedule.
if applied_same systemctl is-active --quiet ${snapshotUnits.timer}; then say "unchanged: the timer keeps running"; exit 0; fi
systemctl restart ${snapshotUnits.timer}
applied_record
say "every ${s.interval}, newest ${s.retention} kept in ${s.dir} (${snapshotTool} list)${s.upload ? `, uploaded to ${s.upload.bucket}` : ""}"
`);
}

/** The install script's upload part: the tool from staging (when its hash differs), its settings and CA. */
function uploadInstallLines(u: SnapshotUpload, toolSha256: string | undefined): string {
    if (!toolSha256) throw new Error("renderSnapshotInstallScript: the upload needs the sha256 of the k8scp-backup binary");
    return `if [ "$(sha256sum ${uploadFiles.tool} 2>/dev/null | cut -d' ' -f1)" != ${toolSha256} ]; then
  echo "${toolSha256}  ${uploadFiles.staged}" | sha256sum --check --status || { say "the staged k8scp-backup differs from the one configured; run pulumi up again"; exit 1; }
  install -m 0755 -o root -g root ${uploadFiles.staged} ${uploadFiles.tool}
fi
[ -s ${uploadFiles.credentials} ] || { say "the bucket's credentials (${uploadFiles.credentials}) are missing; run pulumi up again"; exit 1; }
${plainFileBlock({ path: uploadFiles.settings, mode: "0644", content: renderUploadSettings(u) }, "root")}
${u.caPem ? plainFileBlock({ path: uploadFiles.ca, mode: "0644", content: u.caPem }, "root") : `rm -f ${uploadFiles.ca}`}
`;
}

/** Where the snapshot to restore from is copied on each master. */
export const restoreSnapshotPath = `${paths.staging}/etcd-restore.db`;

const controlPlaneUnits = [serviceNames.scheduler, serviceNames.controllerManager, serviceNames.apiserver];

/** Files on each master that say what its last restore was: the snapshot's revision, and the cluster it replaced. */
export const restoreRecord = {
    revision: `${restoredMarker}.revision`,
    clusterBefore: `${restoredMarker}.cluster-before`,
    verified: `${restoredMarker}.verified`,
};

/**
 * The restored cluster's token: a new one for every snapshot, so the restored members get new member IDs and a new
 * cluster ID. A member still running on the old data then cannot replicate its log over theirs (etcd refuses a peer
 * of another cluster), which it could with the old IDs: it would win the election with its longer log and silently
 * undo the restore.
 */
export const restoreToken = (clusterName: string, sha256: string) => `${clusterName}-etcd-restore-${sha256.slice(0, 16)}`;

/** `grep -o` of a numeric JSON field, one value a line (etcdctl and etcdutl print JSON on one line). */
const jsonNumbers = (field: string) => `grep -o '"${field}":[0-9]*' | cut -d: -f2`;

/**
 * The first phase of a restore (run as root on every member; no member starts before all have run it): once per
 * snapshot as the host records it (a re-run for any other reason, such as a new SSH key or member list, changes
 * nothing), it stops the control plane and etcd, moves the current data aside (nothing is deleted), runs
 * `etcdutl snapshot restore` with the names and peer URLs the library renders and a token of the snapshot's own,
 * removes the copy of the snapshot and writes the marker. It does not start etcd: see renderRestoreStart.
 */
export function renderRestoreScript(a: { self: Member; members: Member[]; clusterName: string; sha256: string }): string {
    return `#!/bin/bash
# k8scp: restore etcd member ${a.self.name} from the snapshot with sha256 ${a.sha256}
set -euo pipefail
say() { echo "[k8scp] etcd@$(hostname): $*" >&2; }
snap=${restoreSnapshotPath}
if [ "$(cat ${restoredMarker} 2>/dev/null || true)" = ${a.sha256} ]; then
  rm -f "$snap"
  say "already restored from this snapshot: nothing changed"
  exit 0
fi
echo "${a.sha256}  $snap" | sha256sum --check --status || { say "the snapshot copy on this host differs from the one configured; run pulumi up again"; exit 1; }
rev=$(${paths.bin}/etcdutl snapshot status "$snap" -w json | ${jsonNumbers("revision")} | head -n 1)
# The cluster this member is in now (if it answers), to tell afterwards that the restored one replaced it.
before=$(${etcdctl([{ name: a.self.name, address: "127.0.0.1" }])} --command-timeout=5s endpoint status -w json 2>/dev/null | ${jsonNumbers("cluster_id")} | head -n 1 || true)
install -d -m 0755 -o root -g root ${stateDir}
systemctl stop ${snapshotUnits.timer} ${controlPlaneUnits.join(" ")} >/dev/null 2>&1 || true
systemctl stop ${serviceNames.etcd}
if [ -e ${paths.etcdData} ]; then
  aside=${paths.etcdData}.before-restore-$(date -u +%Y%m%dT%H%M%SZ)
  mv ${paths.etcdData} "$aside"
  say "kept the previous data in $aside"
fi
tmp=${paths.etcdData}.restoring
rm -rf "$tmp"
${paths.bin}/etcdutl snapshot restore "$snap" --name ${q(a.self.name)} \\
  --initial-cluster ${q(initialCluster(a.members))} --initial-cluster-token ${q(restoreToken(a.clusterName, a.sha256))} \\
  --initial-advertise-peer-urls ${q(etcdPeerUrl(a.self))} --data-dir "$tmp" >/dev/null 2>"$tmp.log" || { cat "$tmp.log" >&2; exit 1; }
rm -f "$tmp.log"
mv "$tmp" ${paths.etcdData}
chown -R ${serviceNames.etcd}:${serviceNames.etcd} ${paths.etcdData}
chmod 0700 ${paths.etcdData}
echo "$rev" > ${restoreRecord.revision}
echo "\${before:--}" > ${restoreRecord.clusterBefore}
rm -f ${restoreRecord.verified} "$snap"
echo ${a.sha256} > ${restoredMarker}
say "restored from the snapshot (revision $rev); etcd starts once every member is restored"
`;
}

/** The second phase (run as root on every member once all have run the first): etcd starts on the restored data. */
export const renderRestoreStart = () =>
    `systemctl start --no-block ${serviceNames.etcd} && echo "[k8scp] etcd@$(hostname): starting on the restored data" >&2`;

/**
 * The third (run as root on one member): waits up to 120 s until every member is healthy, then, once per snapshot,
 * checks that the cluster is the restored one: every member reports the same cluster ID, not the one before the
 * restore, at the snapshot's revision or later. Fails otherwise, so the API servers are not started on other data.
 */
export function renderRestoreVerify(a: { members: Member[]; sha256: string }): string {
    return `#!/bin/bash
set -euo pipefail
say() { echo "[k8scp] etcd@$(hostname): $*" >&2; }
ctl() { ${etcdctl(a.members)} "$@"; }
${etcdHealthWaitLines(a.members, "etcd not healthy 120 s after the restore")}
if [ "$(cat ${restoreRecord.verified} 2>/dev/null || true)" = ${a.sha256} ]; then say "${a.members.length} members healthy"; exit 0; fi
status=$(ctl endpoint status -w json)
ids=$(printf '%s' "$status" | ${jsonNumbers("cluster_id")} | sort -u)
before=$(cat ${restoreRecord.clusterBefore} 2>/dev/null || echo -)
want=$(cat ${restoreRecord.revision} 2>/dev/null || echo 0)
[ "$(printf '%s\\n' "$ids" | grep -c .)" = 1 ] || { say "the members report different clusters (\${ids//$'\\n'/ }): the restore did not take; run pulumi up again"; exit 1; }
[ "$ids" != "$before" ] || { say "etcd is still the cluster from before the restore ($before); run pulumi up again"; exit 1; }
for r in $(printf '%s' "$status" | ${jsonNumbers("revision")}); do
  [ "$r" -ge "$want" ] || { say "a member is at revision $r, before the snapshot's $want: the restore did not take; run pulumi up again"; exit 1; }
done
echo ${a.sha256} > ${restoreRecord.verified}
say "${a.members.length} members healthy on the restored data (cluster $ids, revision $want or later)"
`;
}

/** After every member was restored and etcd is healthy: start the control plane again and wait for the API server. */
export function renderResumeScript(apiserverHealth: string): string {
    return `#!/bin/bash
set -euo pipefail
say() { echo "[k8scp] $(hostname): $*" >&2; }
systemctl start ${[...controlPlaneUnits].reverse().join(" ")}
systemctl start ${snapshotUnits.timer} >/dev/null 2>&1 || true
deadline=$((SECONDS + 180))
until ${apiserverHealth} 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || { say "kube-apiserver not ready 180 s after the restore"; journalctl -u kube-apiserver -n 25 --no-pager -o cat >&2; exit 1; }
  sleep 1
done
say "control plane back on the restored data"
`;
}
