// The snapshot bucket as seen from the machine running Pulumi, through the k8scp-backup binary of binDir: the
// recipient of the encryption key, and the object a restore names (checked, downloaded and decrypted before any host
// is touched). Credentials and the identity reach the tool through its environment, never its command line.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ClusterConfig, configKey } from "../config";
import { bucketRestorePrefix } from "../config/rules";
import { bucketSettingsLines } from "../render/backup";

/** The upload target as the config gives it (secrets included). */
export type UploadConfig = NonNullable<ClusterConfig["etcdSnapshots"]["upload"]>;

export const backupToolName = "k8scp-backup";

interface ToolRun {
    out?: string;
    err?: string;
}

/** Runs the tool with the bucket's credentials and the identity in its environment; resolves with stdout or the error. */
function runTool(tool: string, args: string[], o: { upload?: UploadConfig; stdin?: string; timeoutMs: number }): Promise<ToolRun> {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
    if (o.upload) {
        env.AWS_ACCESS_KEY_ID = o.upload.accessKeyId;
        env.AWS_SECRET_ACCESS_KEY = o.upload.secretAccessKey;
        env.K8SCP_BACKUP_IDENTITY = o.upload.encryptionKey;
    }
    return new Promise((resolve) => {
        const child = execFile(tool, args, { encoding: "utf8", timeout: o.timeoutMs, env }, (e, stdout, stderr) =>
            resolve(e ? { err: (stderr.trim() || e.message).split("\n").slice(-3).join("; ") } : { out: stdout.trim() }),
        );
        // A tool that exits before reading its stdin (an error) closes the pipe: that is its answer, not ours to throw.
        child.stdin?.on("error", () => undefined);
        child.stdin?.end(o.stdin ?? "");
    });
}

/** The tool's settings file for the machine running Pulumi (the local caFile path as is). */
export const localSettings = (u: UploadConfig, prefix: string) =>
    bucketSettingsLines({ endpoint: u.endpoint, bucket: u.bucket, prefix, region: u.region }, u.caFile).join("\n");

/** A private temporary directory with the settings file, removed after `f`. */
async function withSettings<T>(u: UploadConfig, prefix: string, f: (settings: string) => Promise<T>): Promise<T> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-bucket-"));
    try {
        const settings = path.join(dir, "settings.conf");
        fs.writeFileSync(settings, localSettings(u, prefix), { mode: 0o600 });
        return await f(settings);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** The age recipient (public key) of the configured encryption key, or the problem. */
export async function uploadRecipient(tool: string, u: UploadConfig): Promise<{ recipient?: string; problem?: string }> {
    const r = await runTool(tool, ["recipient"], { stdin: `${u.encryptionKey}\n`, timeoutMs: 10_000 });
    if (r.out && /^age1[0-9a-z]+$/.test(r.out)) return { recipient: r.out };
    return {
        problem: `${configKey(["etcdSnapshots", "upload", "encryptionKey"])}: ${backupToolName} recipient failed (${r.err ?? r.out}); make a key with '${backupToolName} keygen'`,
    };
}

/** The directory of decrypted snapshots on this machine (0700): only while a restore from the bucket is configured. */
export const restoreCacheDir = () =>
    path.join(process.env.K8SCP_CACHE ?? path.join(os.homedir(), ".cache", "pulumi-k8s-control-plane"), "restore");

/**
 * Removes the decrypted snapshots a restore from the bucket left on this machine (each holds every object of the
 * cluster): called when no restore from the bucket is configured, so they live as long as the key is set.
 */
export function clearRestoreCache(dir = restoreCacheDir()): string[] {
    if (!fs.existsSync(dir)) return [];
    const removed = fs.readdirSync(dir).filter((f) => f.endsWith(".db") || f.endsWith(".part"));
    for (const f of removed) fs.rmSync(path.join(dir, f), { force: true });
    return removed;
}

/** Where a restore's decrypted snapshot is kept on this machine (0700 directory; one file per object). */
export function restoreCacheFile(u: UploadConfig, key: string): string {
    const dir = restoreCacheDir();
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(dir, 0o700);
    const id = createHash("sha256").update(`${u.endpoint}/${u.bucket}/${key}`).digest("hex").slice(0, 24);
    return path.join(dir, `${id}.db`);
}

/**
 * The object `etcdRestoreFrom: bucket:<key>` names, downloaded and decrypted to a local file: the file, and what the
 * bucket says of it (`<time> <bytes> <key>`), or the problem. `bucket:newest` is a problem that names the newest key.
 */
export async function fetchRestoreObject(
    tool: string,
    u: UploadConfig,
    prefix: string,
    from: string,
    timeoutMs = 600_000,
): Promise<{ file?: string; object?: string; problem?: string }> {
    const k = configKey(["etcdRestoreFrom"]);
    const key = from.slice(bucketRestorePrefix.length);
    const where = `${u.endpoint}/${u.bucket}`;
    return withSettings(u, prefix, async (settings) => {
        if (key === "newest") {
            const n = await runTool(tool, ["newest", "--settings", settings], { upload: u, timeoutMs: 60_000 });
            if (!n.out)
                return {
                    problem: `${k}: no snapshot found in ${where} under '${prefix}/' (${n.err ?? "none"}); check etcdSnapshots.upload`,
                };
            return {
                problem:
                    `${k}: the newest snapshot in ${where} is '${n.out}'; set ${k} to 'bucket:${n.out}' to restore it. A restore names one ` +
                    `object: 'newest' would pick a newer snapshot on a later run and roll the cluster back again`,
            };
        }
        const st = await runTool(tool, ["check", "--settings", settings, key], { upload: u, timeoutMs: 60_000 });
        if (!st.out)
            return {
                problem: `${k}: '${key}' is not in ${where} (${st.err}); list the snapshots with '${backupToolName} list', or remove the key`,
            };
        const file = restoreCacheFile(u, key);
        const got = await runTool(tool, ["get", "--settings", settings, key, file], { upload: u, timeoutMs });
        if (got.err !== undefined)
            return {
                problem: `${k}: '${key}' in ${where} could not be downloaded and decrypted (${got.err}); is etcdSnapshots.upload.encryptionKey the key it was uploaded with?`,
            };
        return { file, object: st.out };
    });
}
