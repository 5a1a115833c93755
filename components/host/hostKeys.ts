// RSA host-key pins. The official command plugin (pulumi-resource-command 1.2.1) offers only the ssh-rsa (SHA-1)
// signature algorithm for a pinned RSA key, which OpenSSH 8.8 and later refuse. For a host pinned by its RSA key,
// an SSH session authenticated by that key learns the host's other keys (OpenSSH's UpdateHostKeys: the server
// proves each, observe.ts); this decides, purely, which key to pin and what to say.
import { configKey, isRsaHostKey, knownHostsHost, strongestHostKey } from "../config";
import { fingerprint, SshHost } from "./preflight";

/** The OpenSSH version in an SSH greeting (`SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3` → [9, 2]); undefined for another server. */
export function opensshVersion(greeting: string | undefined): [number, number] | undefined {
    const m = /^SSH-[\d.]+-OpenSSH_(\d+)\.(\d+)/.exec(greeting ?? "");
    return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** The key to pin for a host and what to say about it: a line for the preview, a warning, or a problem. */
export interface PinOutcome {
    hostKey: string;
    info?: string;
    warn?: string;
    problem?: string;
}

const typeName = (key: string) => {
    const t = key.split(/\s+/)[0];
    return t === "ssh-ed25519" ? "ed25519" : t.startsWith("ecdsa-sha2-") ? `ECDSA (${t.replace("ecdsa-sha2-", "")})` : t;
};

/**
 * The key to pin for `h`, given the host keys its SSH server proved in a session checked against its pin (`proved`,
 * the pin included) and, for a host that proved no other key, its SSH greeting (`SSH-2.0-OpenSSH_9.2p1 ...`, if read).
 * A pin that is not RSA stays. An RSA pin gives way to the strongest ed25519 or ECDSA key proved (said at preview).
 * An RSA-only host is a problem, since the official command plugin cannot log in to it with OpenSSH 8.8 or later;
 * a warning when its greeting shows an older OpenSSH (it works until sshd is upgraded).
 */
export function rsaPinOutcome(h: SshHost & { hostKey: string }, proved: readonly string[], greeting?: string): PinOutcome {
    if (!isRsaHostKey(h.hostKey)) return { hostKey: h.hostKey };
    const byFile = h.pinnedBy === "knownHostsFile";
    const pinKey = byFile ? configKey(["knownHostsFile"]) : `${h.key}.hostKey`;
    const stronger = strongestHostKey(proved.filter((k) => !isRsaHostKey(k)));
    if (stronger) {
        const [type, blob] = stronger.split(/\s+/);
        const pinIt = byFile
            ? `add the line '${knownHostsHost(h.address, h.port)} ${type} ${blob}' to it`
            : `pulumi config set --path '${pinKey}' '${type} ${blob}'`;
        return {
            hostKey: `${type} ${blob}`,
            info:
                `${pinKey}: ${h.address} also proved an ${typeName(stronger)} key (${fingerprint(stronger)}); it is pinned instead of ` +
                `the RSA key (the official command plugin cannot use RSA host keys with OpenSSH 8.8+); to pin it yourself: ${pinIt}`,
        };
    }
    const label = `${h.name} (${h.address}:${h.port})`;
    const software = /^SSH-[\d.]+-(\S+)/.exec(greeting ?? "")?.[1];
    const version = opensshVersion(greeting);
    const scan = `ssh-keyscan -t ed25519${h.port === 22 ? "" : ` -p ${h.port}`} ${h.address}`;
    const fix =
        `give ${h.name} an ed25519 host key (on it: sudo ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key, ` +
        `and a HostKey line for it if sshd_config lists its keys; then sudo systemctl reload ssh, or sshd), then pin it (${scan} ` +
        `prints it; compare its fingerprint with ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the host), or run again: ` +
        `the RSA pin lets the library learn the new key over SSH and pin it`;
    const plugin =
        "the official command plugin (pulumi-resource-command 1.2.1) offers only the ssh-rsa (SHA-1) signature for an RSA host key";
    if (version && (version[0] < 8 || (version[0] === 8 && version[1] < 8)))
        return {
            hostKey: h.hostKey,
            warn:
                `${pinKey}: ${label} has only an RSA host key (it proved no ed25519 or ECDSA key over SSH); ${plugin}, which its ` +
                `${software} still accepts, but OpenSSH 8.8 and later refuse it: once its sshd is upgraded, every step on it fails; ${fix}`,
        };
    const runs = software ? `it runs ${software}` : "its SSH server's version could not be read";
    return {
        hostKey: h.hostKey,
        problem:
            `${pinKey}: ${label} has only an RSA host key (it proved no ed25519 or ECDSA key over SSH; ${runs}); ${plugin}, ` +
            `which OpenSSH 8.8 and later refuse, so every step on ${h.name} would fail; ${fix}`,
    };
}
