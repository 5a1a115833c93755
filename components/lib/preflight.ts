// Checks run by the program before any resource is registered: they touch no host.
import { execFileSync } from "node:child_process";
import * as net from "node:net";

/** Resolves with the targets whose TCP port did not accept a connection within `timeoutMs`. */
export async function unreachable<T extends { address: string; port: number }>(targets: T[], timeoutMs = 5000): Promise<T[]> {
    const probe = (t: T) =>
        new Promise<boolean>((resolve) => {
            const sock = net.connect({ host: t.address, port: t.port });
            const done = (ok: boolean) => {
                sock.destroy();
                resolve(ok);
            };
            sock.setTimeout(timeoutMs, () => done(false));
            sock.once("connect", () => done(true));
            sock.once("error", () => done(false));
        });
    const results = await Promise.all(targets.map(probe));
    return targets.filter((_, i) => !results[i]);
}

/** The version a Kubernetes or etcd binary reports, e.g. "v1.34.4" or "3.5.35". */
export function binaryVersion(binary: string): string {
    const out = execFileSync(binary, ["--version"], { encoding: "utf8", timeout: 10000 });
    const m = /(v?\d+\.\d+\.\d+)/.exec(out);
    if (!m) throw new Error(`cannot read a version from '${binary} --version': ${out.trim()}`);
    return m[1];
}
