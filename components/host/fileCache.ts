// Facts about local files that are costly to find (a binary's sha256 reads 100 MB, its `--version` starts a large Go
// program), kept between runs in one JSON file and keyed by what identifies the file's content without reading
// it: path, size, modification time and inode. A changed file has a new key, so a stale fact is never returned.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** The cache file: `$K8SCP_CACHE/file-facts.json` (default `~/.cache/pulumi-k8s-control-plane`). */
export const factsFile = () =>
    path.join(process.env.K8SCP_CACHE ?? path.join(os.homedir(), ".cache", "pulumi-k8s-control-plane"), "file-facts.json");

let facts: Record<string, string> | undefined;
const load = (): Record<string, string> => {
    if (!facts) {
        try {
            facts = JSON.parse(fs.readFileSync(factsFile(), "utf8")) as Record<string, string>;
        } catch {
            facts = {};
        }
    }
    return facts;
};

/** The key of one fact of one file, e.g. `sha256 /bin/etcd:26882210:1795426357000:1234`, and what is kept under it. */
function lookup(kind: string, file: string): { key: string; known: string | undefined } {
    const st = fs.statSync(file);
    const key = `${kind} ${path.resolve(file)}:${st.size}:${st.mtimeMs}:${st.ino}`;
    return { key, known: load()[key] };
}

function remember(kind: string, file: string, key: string, value: string): void {
    const all = load();
    const prefix = `${kind} ${path.resolve(file)}:`;
    for (const old of Object.keys(all)) if (old.startsWith(prefix)) delete all[old];
    all[key] = value;
    const f = factsFile();
    try {
        fs.mkdirSync(path.dirname(f), { recursive: true });
        fs.writeFileSync(`${f}.${process.pid}`, JSON.stringify(all));
        fs.renameSync(`${f}.${process.pid}`, f);
    } catch {
        // A cache only: without it the next run finds the fact again.
    }
}

/** A fact of a file, from the cache while the file is unchanged, else computed (and kept). */
export function fileFact(kind: string, file: string, compute: () => string): string {
    const { key, known } = lookup(kind, file);
    if (known !== undefined) return known;
    const value = compute();
    remember(kind, file, key, value);
    return value;
}

/** The same for a fact found asynchronously; a rejection is not kept. */
export async function fileFactAsync(kind: string, file: string, compute: () => Promise<string>): Promise<string> {
    const { key, known } = lookup(kind, file);
    if (known !== undefined) return known;
    const value = await compute();
    remember(kind, file, key, value);
    return value;
}

/** sha256 of a local file (hex), kept while the file is unchanged (binaries are large and shared by masters). */
export const fileSha256 = (file: string): string =>
    fileFact("sha256", file, () => createHash("sha256").update(fs.readFileSync(file)).digest("hex"));
