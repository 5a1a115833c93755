// Shell scripts run on the hosts over SSH. Pure: they are rendered here and passed on the command's
// stdin (never on its command line, where `ps` would show them, and never echoed: they carry keys).
import { createHash } from "node:crypto";
import { forgetLines, installedBinary, masterMarker, recordLines, stateDir } from "./records";
import { paths } from "./flags";

export interface ServiceFile {
    /** Absolute path on the host. */
    path: string;
    content: string;
    /** Octal mode; key material and kubeconfigs with keys are 0600. Default 0644. */
    mode?: string;
}

export interface ServiceBinary {
    /** File name under the staging dir and under /usr/local/bin. */
    name: string;
    sha256: string;
}

export interface HealthCheck {
    /** An HTTPS URL that must answer 2xx, or "tcp://host:port" that must accept a connection. */
    url: string;
    /** CA file to verify the server with; without it the check skips verification (self-signed serving certs). */
    caFile?: string;
    clientCertFile?: string;
    clientKeyFile?: string;
    /** Seconds to wait for the endpoint (default 180). */
    timeoutSeconds?: number;
}

export interface ServiceScriptSpec {
    /** systemd unit name without `.service`. */
    name: string;
    /** System user the service runs as and that owns its files; created when missing (not for "root"). */
    user: string;
    unit: string;
    binaries: ServiceBinary[];
    files: ServiceFile[];
    /** Directories the service owns (0700), e.g. etcd's data dir; removed on delete. */
    dataDirs?: string[];
    health: HealthCheck;
    /**
     * On first creation start without waiting for health (etcd members of a new cluster only become healthy
     * together): always (true), or when this shell test succeeds.
     */
    bootstrapWithoutWait?: boolean | string;
    /** Executables that must already exist on the host (e.g. a distribution's haproxy). */
    requires?: string[];
    /** A command that validates the written files before the (re)start. */
    validate?: string;
    /** Reload instead of restart when the service already runs. */
    reload?: boolean;
    /**
     * Whether this script creates and (on delete) removes the service user. Default true. False when a
     * separate files script (renderFilesScript) owns the user, the directories and the files.
     */
    ownsUser?: boolean;
    /** sha256 of what a separate files script wrote: a change of it restarts the service. */
    filesRevision?: string;
    /** Drift repair marker (see plan/drift.ts): a new one makes the script run again and rewrite everything. */
    repairMarker?: string;
}

export interface FilesScriptSpec {
    /** systemd unit name the files belong to (for messages). */
    name: string;
    user: string;
    files: ServiceFile[];
    /** Directories the service owns (0700), e.g. etcd's data dir; removed on delete. */
    dataDirs?: string[];
    /** Drift repair marker (see plan/drift.ts). */
    repairMarker?: string;
}

/** Directories holding the files, with their ancestors below /etc/kubernetes, parents first. */
export function serviceDirs(files: ServiceFile[]): string[] {
    const out = new Set<string>();
    for (const f of files) {
        let d = f.path.replace(/\/[^/]+$/, "");
        while (d.startsWith(`${paths.conf}/`)) {
            out.add(d);
            d = d.replace(/\/[^/]+$/, "");
        }
    }
    return [...out].sort();
}

/** Units are root's, readable by root only (CIS 1.1.1-1.1.8: the control plane's "pod specification" files). */
export const unitFileMode = "0600";

export const sha256 = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");

/** A word for the shell, single-quoted. */
export const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const q = shellQuote;

/**
 * Writes a non-secret text file from a quoted heredoc, so that it reads as itself in the script (and in
 * `pulumi preview --diff`). Falls back to base64 when the text could end the heredoc early.
 */
export function plainFileBlock(f: ServiceFile, owner: string): string {
    const text = f.content.endsWith("\n") ? f.content : `${f.content}\n`;
    if (text.split("\n").includes("K8SCP_TEXT")) return fileBlock(f, owner);
    return `put_file ${q(f.path)} ${f.mode ?? "0644"} ${q(owner)} text <<'K8SCP_TEXT'\n${text}K8SCP_TEXT`;
}

/** Writes a file from base64 (a secret's block: its text never shows in the script). */
export function secretFileBlock(f: ServiceFile, owner: string): string {
    return fileBlock(f, owner);
}

function fileBlock(f: ServiceFile, owner: string): string {
    const data = Buffer.from(f.content, "utf8")
        .toString("base64")
        .replace(/(.{76})/g, "$1\n");
    return `put_file ${q(f.path)} ${f.mode ?? "0644"} ${q(owner)} <<'K8SCP_EOF'\n${data}\nK8SCP_EOF`;
}

/**
 * The one script that installs, updates or removes a service: `bash -s -- create|update|delete`.
 * create/update: user, directories, binaries (from staging, only when their hash differs), files
 * (atomically, with owner and mode), unit, daemon-reload, enable, (re)start, then wait for health.
 * delete: stop, disable and remove everything it created. Output never contains file contents.
 */
export function renderServiceScript(s: ServiceScriptSpec): string {
    return withRevision(renderServiceScriptBody(s));
}

/**
 * What the host was last applied with: a step re-run with the same script (the command provider re-runs a step's
 * update when any input changes, its SSH connection included: a rotated key, another user or port) finds it there
 * and leaves a healthy service alone. Lines for the script: `applied_same` (true when this revision was applied and
 * `healthy` succeeds) and `applied_record` (after the service was (re)started with it). The script's revision is
 * the sha256 of its own text (see withRevision).
 */
export const appliedFile = (name: string) => `${stateDir}/${name}.applied`;
export const appliedLines = (name: string) => `revision=${revisionPlaceholder}
applied=${q(appliedFile(name))}
applied_same() { [ -f "$applied" ] && [ "$(cat "$applied")" = "$revision" ] && "$@"; }
applied_record() { install -d -m 0755 -o root -g root ${stateDir}; echo "$revision" > "$applied"; }`;

const revisionPlaceholder = "K8SCP_REVISION_PLACEHOLDER";
/** The script with `revision=<sha256 of the script with a placeholder in its place>`. */
export const withRevision = (body: string) => body.replace(revisionPlaceholder, sha256(body));

function renderServiceScriptBody(s: ServiceScriptSpec): string {
    const unitPath = `/etc/systemd/system/${s.name}.service`;
    const dirs = serviceDirs(s.files);
    const h = s.health;
    const managesUser = s.user !== "root" && s.ownsUser !== false;
    const owned = [...dirs, ...(s.dataDirs ?? [])];
    return `#!/bin/bash
# k8scp: ${s.name} (managed by Pulumi; edits are overwritten)
${s.filesRevision ? `# files revision: ${s.filesRevision}\n` : ""}${s.repairMarker ? `# repair: ${s.repairMarker}\n` : ""}set -euo pipefail
umask 022
action="\${1:-create}"
svc=${q(s.name)}
user=${q(s.user)}
unit=${q(unitPath)}
say() { echo "[k8scp] $svc@$(hostname): $*" >&2; }
${appliedLines(s.name)}

if [ "$action" = delete ]; then
  systemctl disable --now "$svc.service" >/dev/null 2>&1 || true
  rm -f "$unit" "$applied"
  systemctl daemon-reload
  systemctl reset-failed "$svc.service" >/dev/null 2>&1 || true
${s.binaries.map((b) => `  rm -f ${q(`${paths.bin}/${b.name}`)} ${q(`${paths.staging}/${b.name}`)}`).join("\n")}
  ${forgetLines(s.name, "service")}
${removeOwned(owned, managesUser)}  say "removed"
  exit 0
fi

${putFileFunction}
put_bin() { # name sha256
  local dst="${paths.bin}/$1" src="${paths.staging}/$1"
  if [ -f "$dst" ] && echo "$2  $dst" | sha256sum --check --status; then return 0; fi
  if ! echo "$2  $src" | sha256sum --check --status; then say "binary $1 missing or changed in ${paths.staging}; run pulumi up again"; exit 3; fi
  install -m 0755 -o root -g root "$src" "$dst"
}

${(s.requires ?? []).map((r) => `[ -x ${q(r)} ] || { say "${r} is missing on this host; install it first (Debian: apt-get install ${r.replace(/^.*\//, "")})"; exit 4; }`).join("\n")}
${managesUser ? addUser : ""}
${createOwned(dirs, s.dataDirs)}
${s.binaries.map((b) => `put_bin ${q(b.name)} ${b.sha256}`).join("\n")}
${s.files.map((f) => fileBlock(f, s.user)).join("\n")}
${s.reload ? `unit_before=$(sha256sum "$unit" 2>/dev/null || true)\n` : ""}${plainFileBlock({ path: unitPath, content: s.unit, mode: unitFileMode }, "root")}
systemctl daemon-reload
systemctl enable --no-reload "$svc.service" >/dev/null 2>&1
${recordLines(
    s.name,
    "service",
    [unitPath, ...s.files.map((f) => f.path)],
    s.repairMarker ?? "",
    // put_bin above has checked every installed binary against its sha256 (or exited).
    s.binaries.map((b) => ({ path: installedBinary(b.name), sha256: b.sha256 })),
)}

healthy() { systemctl is-active --quiet "$svc.service" && ${healthCommand(h)} 2>/dev/null; }
if applied_same healthy; then
  say "unchanged since it was applied and healthy at ${h.url}: not restarted"
  exit 0
fi
if [ "$action" = create ] && ${typeof s.bootstrapWithoutWait === "string" ? s.bootstrapWithoutWait : s.bootstrapWithoutWait ? "true" : "false"}; then
  systemctl restart --no-block "$svc.service"
  applied_record
  say "started (health is checked once every member runs)"
  exit 0
fi
${s.validate ? `${s.validate} || { say "configuration rejected by: ${s.validate}"; exit 5; }` : ""}
last_log() { journalctl -u "$svc.service" -n 25 --no-pager -o cat >&2 || true; }
${
    s.reload
        ? // A reload keeps the running process (its user, sandbox, limits): a changed unit needs a restart to apply.
          `if [ "$(sha256sum "$unit")" = "$unit_before" ]; then restart=reload-or-restart; else restart=restart; fi
systemctl "$restart" "$svc.service" || { say "did not start; last log lines:"; last_log; exit 1; }`
        : `systemctl restart "$svc.service" || { say "did not start; last log lines:"; last_log; exit 1; }`
}
deadline=$((SECONDS + ${h.timeoutSeconds ?? 180}))
until ${healthCommand(h)} 2>/dev/null; do
  if [ $SECONDS -ge $deadline ]; then
    say "not healthy after ${h.timeoutSeconds ?? 180}s at ${h.url}; last log lines:"
    last_log
    exit 1
  fi
  sleep 1
done
applied_record
say "healthy at ${h.url} (t=$(date +%s.%N))"
`;
}

/** The shell function `put_file path mode owner [text]` the blocks above call (define it once per script). */
export const putFileFunction = `put_file() { # path mode owner [text]; content (base64 unless "text") on stdin; atomic, never printed
  local dst="$1" mode="$2" owner="$3" tmp
  tmp=$(mktemp "$(dirname "$dst")/.k8scp.XXXXXX")
  if [ "\${4:-}" = text ]; then cat >"$tmp"; else base64 -d >"$tmp"; fi
  chown "$owner:$owner" "$tmp"; chmod "$mode" "$tmp"
  mv -f "$tmp" "$dst"
}`;

const addUser = `id -u "$user" >/dev/null 2>&1 || useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"`;

/** Creates /etc/kubernetes and the service's directories (0700, owned by the service user). */
const createOwned = (dirs: string[], dataDirs: string[] = []) =>
    [
        `install -d -m 0755 -o root -g root ${q(paths.conf)}`,
        ...[...dirs, ...dataDirs].map((d) => `install -d -m 0700 -o "$user" -g "$user" ${q(d)}`),
    ].join("\n");

/** Delete-branch lines removing the owned directories, the user (and its processes) and empty parents. */
const removeOwned = (owned: string[], removeUser: boolean) =>
    [
        ...owned.map((d) => `  rm -rf ${q(d)}\n`),
        removeUser
            ? `  if id -u "$user" >/dev/null 2>&1; then pkill -KILL -u "$user" 2>/dev/null || true; userdel "$user" 2>/dev/null || true; fi\n`
            : "",
        `  rmdir --ignore-fail-on-non-empty ${q(paths.conf)} ${q(paths.logs)} 2>/dev/null || true\n`,
    ].join("");

/**
 * The script that owns a service's user, directories and files (certificates, keys, kubeconfigs), apart from
 * the service script so that its stdin (which embeds key material) can stay secret while the service script,
 * with the unit and its flags, stays reviewable in `pulumi preview --diff`. create/update: user, directories,
 * files (atomically, owner and mode). delete: the directories, data directories and the user.
 * It never starts or restarts anything; the service script does, when the files' revision changes.
 */
export function renderFilesScript(s: FilesScriptSpec): string {
    const dirs = serviceDirs(s.files);
    const owned = [...dirs, ...(s.dataDirs ?? [])];
    const isRoot = s.user === "root";
    return `#!/bin/bash
# k8scp: files of ${s.name} (managed by Pulumi; edits are overwritten)
${s.repairMarker ? `# repair: ${s.repairMarker}\n` : ""}set -euo pipefail
umask 022
action="\${1:-create}"
svc=${q(s.name)}
user=${q(s.user)}
say() { echo "[k8scp] $svc@$(hostname): $*" >&2; }

if [ "$action" = delete ]; then
  if systemctl is-active --quiet "$svc.service"; then systemctl stop "$svc.service"; fi
  ${forgetLines(s.name, "files")}
${removeOwned(owned, !isRoot)}  say "files removed"
  exit 0
fi

${putFileFunction}
${isRoot ? "" : addUser}
${createOwned(dirs, s.dataDirs)}
${s.files.map((f) => fileBlock(f, s.user)).join("\n")}
${recordLines(
    s.name,
    "files",
    s.files.map((f) => f.path),
    s.repairMarker ?? "",
)}
say "${s.files.length} files in place"
`;
}

/** A shell command that succeeds once the health endpoint answers. */
export function healthCommand(h: HealthCheck): string {
    const tcp = /^tcp:\/\/([^:/]+):(\d+)$/.exec(h.url);
    if (tcp) return `timeout 3 bash -c ${q(`</dev/tcp/${tcp[1]}/${tcp[2]}`)}`;
    const curl = ["curl", "-fsS", "--max-time", "3", "-o", "/dev/null"];
    if (h.caFile) curl.push("--cacert", h.caFile);
    else curl.push("--insecure");
    if (h.clientCertFile && h.clientKeyFile) curl.push("--cert", h.clientCertFile, "--key", h.clientKeyFile);
    curl.push(h.url);
    return curl.map((w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : q(w))).join(" ");
}

/**
 * Prepares a master's host: the staging directory the SSH user copies binaries into, and the record of the master
 * it belongs to (read by its cleanup and the program's probe). A host that belongs to another master is refused.
 */
export function renderHostPrepScript(sshUser: string, master: string): string {
    return `set -eu
owner=$(sudo -n cat ${masterMarker} 2>/dev/null || true)
if [ -n "$owner" ] && [ "$owner" != ${q(master)} ]; then
  echo "[k8scp] $(hostname): this host is master $owner, not ${master}: keep its name in the config (a rename is not done in place)" >&2
  exit 1
fi
sudo -n install -d -m 0755 -o root -g root ${stateDir}
sudo -n install -d -m 0700 -o ${q(sshUser)} ${q(paths.staging)}
echo ${q(master)} | sudo -n tee ${masterMarker} >/dev/null
`;
}

/** What a host-level cleanup removes of one service. */
export interface HostService {
    service: string;
    binaries: string[];
    files: { path: string }[];
    dataDirs?: string[];
}

/**
 * Removes everything the library put on a master, in one SSH session: the services (stopped, disabled, units
 * removed), extra units, binaries, files, data and log directories, the service users and the staging directory.
 * Runs when the master's host resource is deleted (destroy, or the master left the config while its host is up);
 * the services' own resources are retained on delete, so a host that is gone for good is never contacted.
 */
export function renderHostCleanupScript(
    services: HostService[],
    extra: { master: string; units: string[]; files: string[]; keep: string[] },
): string {
    const units = [...extra.units, ...[...services].reverse().map((s) => `${s.service}.service`)];
    const dirs = [
        ...new Set(services.flatMap((s) => [...serviceDirs(s.files.map((f) => ({ path: f.path, content: "" }))), ...(s.dataDirs ?? [])])),
    ];
    return `set -u
# Never on a host that another master (this one renamed, or a new one on its address) has taken over.
owner=$(cat ${masterMarker} 2>/dev/null || true)
if [ -n "$owner" ] && [ "$owner" != ${q(extra.master)} ]; then
  echo "[k8scp] $(hostname): this host is master $owner now, not ${extra.master}: nothing removed" >&2
  exit 0
fi
for u in ${units.join(" ")}; do systemctl disable --now "$u" >/dev/null 2>&1 || true; done
rm -f ${units.map((u) => q(`/etc/systemd/system/${u}`)).join(" ")} ${extra.files.map(q).join(" ")}
systemctl daemon-reload
rm -f ${services.flatMap((s) => s.binaries.map((b) => q(`${paths.bin}/${b}`))).join(" ")}
rm -rf ${dirs.map(q).join(" ")} ${stateDir}
rmdir --ignore-fail-on-non-empty ${q(paths.conf)} ${q(paths.logs)} 2>/dev/null || true
for user in ${services.map((s) => q(s.service)).join(" ")}; do
  if id -u "$user" >/dev/null 2>&1; then pkill -KILL -u "$user" 2>/dev/null || true; userdel "$user" 2>/dev/null || true; fi
done
echo "[k8scp] $(hostname): control plane removed${extra.keep.length ? ` (kept: ${extra.keep.join(", ")})` : ""}" >&2
`;
}

/** The command line that runs a stdin script as root: `sudo -n bash -s -- <action>`. */
export const sudoScript = (action: "create" | "update" | "delete") => `sudo -n bash -s -- ${action}`;

/** The command line that runs a short, non-secret script as root: `sudo -n bash -c '<script>'`. */
export const sudoCommand = (script: string) => `sudo -n bash -c ${q(script)}`;
