// known_hosts files: the host keys a file pins for an address, plain or hashed entries, and which is strongest. Pure.
import { createHmac } from "node:crypto";

/** True when a known_hosts host field (`a,b`, `[a]:2222`, or hashed `|1|salt|hash`) names `host`. */
function knownHostsNames(field: string, host: string): boolean {
    return field.split(",").some((n) => {
        const hashed = /^\|1\|([^|]+)\|(.+)$/.exec(n);
        if (!hashed) return n === host;
        return createHmac("sha1", Buffer.from(hashed[1], "base64")).update(host).digest("base64") === hashed[2];
    });
}

/** The host field known_hosts uses for an address and SSH port: `10.0.0.1`, or `[10.0.0.1]:2222`. */
export const knownHostsHost = (address: string, port = 22) => (port === 22 ? address : `[${address}]:${port}`);

/** Every host key (`type base64`) known_hosts text lists for `address`, in file order; markers (@revoked, @cert-authority) and comments skipped. */
export function hostKeysFromKnownHosts(text: string, address: string, port = 22): string[] {
    const host = knownHostsHost(address, port);
    return text
        .split("\n")
        .map((l) => l.trim().split(/\s+/))
        .filter((f) => f.length >= 3 && !f[0].startsWith("#") && !f[0].startsWith("@") && knownHostsNames(f[0], host))
        .map((f) => `${f[1]} ${f[2]}`);
}

/** Host key types, strongest first: ed25519, then ECDSA by curve size, then RSA; any other type after these. */
const STRENGTH = ["ssh-ed25519", "ecdsa-sha2-nistp521", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp256", "ssh-rsa"];
const rank = (key: string) => {
    const i = STRENGTH.indexOf(key.split(/\s+/)[0]);
    return i < 0 ? STRENGTH.length : i;
};

/** The strongest of host keys (`type base64`): ed25519, then ECDSA (nistp521, 384, 256), then RSA; the first of equals. */
export function strongestHostKey(keys: readonly string[]): string | undefined {
    return keys.reduce<string | undefined>((best, k) => (best === undefined || rank(k) < rank(best) ? k : best), undefined);
}

/** True for an RSA host key (`ssh-rsa base64`). */
export const isRsaHostKey = (key: string) => key.split(/\s+/)[0] === "ssh-rsa";

/** The host key for `address` in known_hosts text (plain or hashed entries): the strongest it lists. */
export function hostKeyFromKnownHosts(text: string, address: string, port = 22): string | undefined {
    return strongestHostKey(hostKeysFromKnownHosts(text, address, port));
}
