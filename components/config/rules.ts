// The config's cross-field rules: what a schema of single fields cannot express (quorum, unique names and
// addresses, ranges that must not overlap), the security flags extraArgs may change only when opted in, and secrets
// that would land in a unit. Pure; each rule runs when the fields it reads are valid.
import { Component, Flags, Member, components, flagName, flagText, masterFlags, securityFlags, serviceNames } from "../render/flags";
import { cidrContains, cidrPrefix, cidrsOverlap, parseCidr } from "../render/network";
import { closestKey, key, rmCommand, setCommand, show } from "./messages";
import { PartialConfig } from "./schema";

/** Cross-field rules that a schema of single fields cannot express; each runs when the fields it reads are valid. */
export function semanticProblems(c: PartialConfig, given: Record<string, unknown>): string[] {
    const problems: string[] = [];
    const masters = c.masters ?? [];
    const gone = masters.filter((m) => m?.gone === true).length;
    const n = masters.length - gone;
    if (c.masters && n === 0 && gone > 0) {
        problems.push(`${key("masters")}: every master is marked gone; keep at least one, or restore from a snapshot onto new ones`);
    } else if (gone > 0 && gone >= Math.floor(masters.length / 2) + 1) {
        problems.push(
            `${key("masters")}: ${gone} of ${masters.length} masters are marked gone, a majority: etcd has no quorum to remove them; ` +
                `mark at most ${Math.floor((masters.length - 1) / 2)} gone per pulumi up, or restore from a snapshot (${key("etcdRestoreFrom")})`,
        );
    }
    if (c.masters && n > 0 && n % 2 === 0 && c.allowEvenMasters === false) {
        problems.push(
            `${key("masters")}: ${n}${gone ? " remaining" : ""} masters tolerate ${Math.floor((n - 1) / 2)} failed member(s), the same as ${n - 1}; ` +
                `use an odd count (3 or 5), or set ${key("allowEvenMasters")}: true to accept it`,
        );
    }
    for (const field of ["name", "address"] as const) {
        const first = new Map<string, number>();
        masters.forEach((m, i) => {
            const v = m?.[field];
            if (v === undefined) return;
            const prev = first.get(v);
            if (prev !== undefined) {
                problems.push(
                    `${key("masters", i, field)}: '${v}' is also used by ${key("masters", prev)}; every master needs its own ${field}`,
                );
            } else first.set(v, i);
        });
    }
    const lb = c.loadBalancer;
    const vip = lb?.address;
    masters.forEach((m, i) => {
        if (vip !== undefined && m?.address === vip) {
            problems.push(
                `${key("loadBalancer", "address")}: the VIP ${vip} equals ${key("masters", i, "address")}; give the load balancer its own address`,
            );
        }
        if (m?.name !== undefined && m.name === lb?.name && lb.manage === true) {
            problems.push(`${key("loadBalancer", "name")}: '${m.name}' is also a master name; choose another`);
        }
    });
    if (lb?.manage === true && lb.port !== undefined && lb.port < 1024) {
        problems.push(
            `${key("loadBalancer", "port")}: ${lb.port} is a privileged port; the load balancer's HAProxy runs as an unprivileged user ` +
                `without capabilities; use a port of 1024 or above, e.g. 6443 (or manage: false for a load balancer of your own)`,
        );
    }
    const { serviceCidr, clusterCidr } = c;
    if (serviceCidr !== undefined && clusterCidr !== undefined && cidrsOverlap(serviceCidr, clusterCidr)) {
        problems.push(
            `${key("serviceCidr")}: ${serviceCidr} overlaps ${key("clusterCidr")} ${clusterCidr}; Service IPs and Pod IPs need disjoint ranges (e.g. 10.68.0.0/16 and 172.20.0.0/16)`,
        );
    }
    for (const [field, range] of [
        ["serviceCidr", serviceCidr],
        ["clusterCidr", clusterCidr],
    ] as const) {
        if (range === undefined) continue;
        masters.forEach((m, i) => {
            if (m?.address !== undefined && cidrContains(range, m.address)) {
                problems.push(
                    `${key(field)}: ${range} contains ${key("masters", i, "address")} ${m.address}; pick a range that does not include host addresses`,
                );
            }
        });
        if (vip !== undefined && cidrContains(range, vip)) {
            problems.push(`${key(field)}: ${range} contains the VIP ${vip}; pick a range that does not include it`);
        }
    }
    if (clusterCidr !== undefined && c.nodeCidrMaskSize !== undefined && c.nodeCidrMaskSize <= cidrPrefix(clusterCidr)) {
        problems.push(
            `${key("nodeCidrMaskSize")}: ${c.nodeCidrMaskSize} must be longer than the prefix of ${key("clusterCidr")} (/${cidrPrefix(clusterCidr)}), e.g. 24 for a /16`,
        );
    }
    if (serviceCidr !== undefined) {
        const [net, prefix] = parseCidr(serviceCidr);
        const hostBits = (net.kind() === "ipv4" ? 32 : 128) - prefix;
        if (hostBits > 20) {
            problems.push(
                `${key("serviceCidr")}: ${serviceCidr} is too large; kube-apiserver allows at most 2^20 Service addresses (a /12 for IPv4, a /108 for IPv6)`,
            );
        }
    }
    if (given.sshPrivateKey === undefined && given.sshPrivateKeyPath === undefined) {
        problems.push(
            `${key("sshPrivateKey")}: missing; set the SSH key with pulumi config set --secret ${key("sshPrivateKey")} < ~/.ssh/id_ed25519, ` +
                `or its path with pulumi config set ${key("sshPrivateKeyPath")} ~/.ssh/id_ed25519`,
        );
    }
    if (c.certEarlyRenewalHours !== undefined && c.certValidityHours !== undefined && c.certEarlyRenewalHours >= c.certValidityHours) {
        problems.push(
            `${key("certEarlyRenewalHours")}: ${c.certEarlyRenewalHours} h is not shorter than ${key("certValidityHours")} ${c.certValidityHours} h; certificates would be renewed on every run`,
        );
    }
    return problems;
}

// ---- security flags and secrets in extraArgs ------------------------------------------------------------

/** The active masters whose name and address are valid. */
function validMembers(c: PartialConfig): Member[] {
    return (c.masters ?? []).flatMap((m) =>
        m?.name !== undefined && m.address !== undefined && m.gone === false ? [{ name: m.name, address: m.address }] : [],
    );
}

/** The flags of every service on each valid active master, before extraArgs (only the security flags are read). */
function builtInFlags(c: PartialConfig): { name: string; flags: Record<Component, Flags> }[] {
    const members = validMembers(c);
    return members.map((self) => ({
        name: self.name,
        flags: masterFlags({
            self,
            members,
            serviceCidr: c.serviceCidr ?? "",
            clusterCidr: c.clusterCidr ?? "",
            nodeCidrMaskSize: c.nodeCidrMaskSize ?? 0,
            clusterDomain: c.clusterDomain ?? "",
            clusterName: c.clusterName ?? "",
        }),
    }));
}

const flagOf = (flags: Flags, flag: string) => (flags[flag] === undefined ? undefined : flagText(flags[flag]));

/** How a message says what the library sets a flag to, from its value on each master. */
function ownValue(own: { name: string; value?: string }[]): string {
    if (own.every((o) => o.value === undefined)) return "which the library does not set";
    if (new Set(own.map((o) => o.value)).size === 1) return `which the library sets to '${own[0].value}'`;
    return `which the library sets per master, e.g. to '${own[0].value}' on ${own[0].name}`;
}

/**
 * extraArgs that change a security flag: a problem unless allowSecurityOverrides names the flag, else a warning.
 * A value equal to the library's own on every master changes nothing and passes. Runs when the opt-in list and
 * at least one master are valid.
 */
export function securityOverrides(c: PartialConfig): { problems: string[]; warnings: string[] } {
    const problems: string[] = [];
    const warnings: string[] = [];
    const allowed = c.allowSecurityOverrides;
    const builtIn = builtInFlags(c);
    if (allowed === undefined || builtIn.length === 0) return { problems, warnings };
    const optedIn = new Set(allowed.flatMap((a) => (a === undefined ? [] : [a.replace(".--", ".")])));
    for (const component of components) {
        for (const [k, v] of Object.entries(c[component]?.extraArgs ?? {})) {
            const flag = flagName(k);
            if (v === undefined || !securityFlags[component].includes(flag)) continue;
            const own = builtIn.map(({ name, flags }) => ({ name, value: flagOf(flags[component], flag) }));
            if (own.every((o) => o.value === v)) continue;
            const argPath = [component, "extraArgs", k];
            const what = `${key(...argPath)}: ${show(v)} overrides a security flag of ${serviceNames[component]}, ${ownValue(own)}`;
            if (optedIn.has(`${component}.${flag}`)) {
                warnings.push(`${what}; allowed by ${key("allowSecurityOverrides")}`);
                continue;
            }
            problems.push(
                `${what}; remove it (${rmCommand(argPath)}), or accept the risk by naming it in ${key("allowSecurityOverrides")}: ` +
                    setCommand(["allowSecurityOverrides", allowed.length], `${component}.${flag}`),
            );
        }
    }
    return { problems, warnings };
}

/** Entries of allowSecurityOverrides that name no security flag (a typo, or a flag extraArgs may set anyway). */
export function unguardedOptIns(c: PartialConfig): string[] {
    return (c.allowSecurityOverrides ?? []).flatMap((a, i) => {
        if (a === undefined) return [];
        const component = a.slice(0, a.indexOf(".")) as Component;
        const flag = flagName(a.slice(component.length + 1));
        const guarded = securityFlags[component];
        if (guarded.includes(flag)) return [];
        const guess = closestKey(flag, guarded);
        const fix = guess ? `did you mean ${component}.${guess}?` : "extraArgs may set it without opting in; remove it";
        return [`${key("allowSecurityOverrides", i)}: '${a}' is not a security flag of ${serviceNames[component]}; ${fix}`];
    });
}

/** Services whose config holds a secret: extraArgs would put it into the unit, in plain text. */
export function secretProblems(secretKeys: readonly string[]): string[] {
    return components
        .filter((c) => secretKeys.includes(c))
        .map(
            (c) =>
                `${key(c)}: holds a secret (set with --secret); extraArgs values are written into the systemd unit, readable to anyone ` +
                `who can read the unit, and shown in the preview; keep secrets in files on the masters, pass the file's path as the flag ` +
                `value, and set ${key(c)} without --secret`,
        );
}

/** How etcdRestoreFrom names an object in the upload bucket: `bucket:<key>`. */
export const bucketRestorePrefix = "bucket:";

/**
 * The upload target's rules: a restore from the bucket needs the bucket, and `bucket:newest` is never a restore (it
 * would pick a newer snapshot on every run, rolling the cluster back each time) but asks which key to set. Warnings:
 * the bucket's credentials and the encryption key set in plain text (`fromStack`: the config came from the stack).
 */
export function uploadRules(
    c: PartialConfig,
    secretKeys: readonly string[],
    fromStack: boolean,
): { problems: string[]; warnings: string[] } {
    const problems: string[] = [];
    const warnings: string[] = [];
    const upload = c.etcdSnapshots?.upload;
    const from = c.etcdRestoreFrom;
    if (from?.startsWith(bucketRestorePrefix)) {
        const object = from.slice(bucketRestorePrefix.length);
        if (c.etcdSnapshots && !upload)
            problems.push(
                `${key("etcdRestoreFrom")}: '${from}' names an object in the snapshot bucket, but ${key("etcdSnapshots", "upload")} is not set; ` +
                    `give the bucket's endpoint, bucket, credentials and encryptionKey there (the same as when the snapshot was uploaded)`,
            );
        else if (!object)
            problems.push(`${key("etcdRestoreFrom")}: '${from}' names no object; give bucket:<key>, e.g. from 'k8scp-backup list'`);
    }
    if (upload && fromStack && !secretKeys.includes("etcdSnapshots"))
        warnings.push(
            `${key("etcdSnapshots", "upload")}: the S3 secret access key and the encryption key are in plain text in the stack's config; ` +
                `set them with pulumi config set --secret --path 'k8scp:etcdSnapshots.upload.secretAccessKey' (and .encryptionKey)`,
        );
    return { problems, warnings };
}

/**
 * A master marked `gone` leaves its credentials behind: what its disk holds stays valid, since no key or CA is rotated
 * by removing a master. One warning per gone master, for the preview.
 */
export function goneCredentialWarnings(c: PartialConfig): string[] {
    return (c.masters ?? []).flatMap((m, i) =>
        m?.gone === true && m.name
            ? [
                  `${key("masters", i)}: ${m.name} is marked gone, but its disk, wherever it is, still holds the Kubernetes CA's private key ` +
                      `(the controller manager signs with it), the service-account signing key, the Secrets encryption key and its own ` +
                      `certificates and keys (among them an etcd client with full access), all valid until they expire; anyone with that ` +
                      `disk can act as the cluster. If it may be in other hands, rotate them (README: A gone master's credentials)`,
              ]
            : [],
    );
}
