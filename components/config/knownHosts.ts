// known_hosts files: the host key a file pins for an address, plain or hashed entries. Pure.
import { createHmac } from "node:crypto";

/** True when a known_hosts host field (`a,b`, `[a]:2222`, or hashed `|1|salt|hash`) names `host`. */
function knownHostsNames(field: string, host: string): boolean {
    return field.split(",").some((n) => {
        const hashed = /^\|1\|([^|]+)\|(.+)$/.exec(n);
        if (!hashed) return n === host;
        return createHmac("sha1", Buffer.from(hashed[1], "base64")).update(host).digest("base64") === hashed[2];
    });
}

/** The host key for `address` in known_hosts text (plain or hashed entries), preferring ed25519. */
export function hostKeyFromKnownHosts(text: string, address: string, port = 22): string | undefined {
    const host = port === 22 ? address : `[${address}]:${port}`;
    const keys = text
        .split("\n")
        .map((l) => l.trim().split(/\s+/))
        .filter((f) => f.length >= 3 && !f[0].startsWith("#") && !f[0].startsWith("@") && knownHostsNames(f[0], host))
        .map((f) => `${f[1]} ${f[2]}`);
    return keys.find((k) => k.startsWith("ssh-ed25519 ")) ?? keys[0];
}
