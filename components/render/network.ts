// IP and CIDR math on top of ipaddr.js (no hand parsing).
import * as ipaddr from "ipaddr.js";

export type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** True when `s` is a plain IPv4 or IPv6 address in canonical notation (no prefix). */
export function isIp(s: string): boolean {
    return ipaddr.isValid(s) && (ipaddr.IPv4.isValidFourPartDecimal(s) || (s.includes(":") && ipaddr.IPv6.isValid(s)));
}

/** True when `s` is a plain IPv4 address in four-part decimal notation. */
export const isIpv4 = (s: string): boolean => isIp(s) && !s.includes(":");

/** Parses "a.b.c.d/n"; throws on anything else, including host bits set (10.0.0.1/8). */
export function parseCidr(s: string): Cidr {
    const [addr, prefix] = ipaddr.parseCIDR(s);
    const network = networkAddress(addr, prefix);
    if (network.toString() !== addr.toString()) {
        throw new Error(`host bits are set; the network address is ${network.toString()}/${prefix}`);
    }
    return [addr, prefix];
}

function networkAddress(addr: ipaddr.IPv4 | ipaddr.IPv6, prefix: number): ipaddr.IPv4 | ipaddr.IPv6 {
    return addr.kind() === "ipv4"
        ? ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${prefix}`)
        : ipaddr.IPv6.networkAddressFromCIDR(`${addr.toString()}/${prefix}`);
}

/** True when two CIDRs share at least one address. */
export function cidrsOverlap(a: string, b: string): boolean {
    const [aa, ap] = parseCidr(a);
    const [ba, bp] = parseCidr(b);
    if (aa.kind() !== ba.kind()) return false;
    return aa.match(ba, Math.min(ap, bp));
}

/** True when `ip` lies inside `cidr`. */
export function cidrContains(cidr: string, ip: string): boolean {
    const [net, prefix] = parseCidr(cidr);
    const addr = ipaddr.parse(ip);
    return addr.kind() === net.kind() && addr.match(net, prefix);
}

/** The n-th address of a network (n=1 is the first usable one, e.g. the `kubernetes` Service IP). */
export function nthAddress(cidr: string, n: number): string {
    const [net, prefix] = parseCidr(cidr);
    const bytes = net.toByteArray();
    let carry = n;
    for (let i = bytes.length - 1; i >= 0 && carry > 0; i--) {
        const sum = bytes[i] + carry;
        bytes[i] = sum % 256;
        carry = Math.floor(sum / 256);
    }
    const addr = ipaddr.fromByteArray(bytes);
    if (carry > 0 || !addr.match(net, prefix)) throw new Error(`${cidr} has no address number ${n}`);
    return addr.toString();
}

/** Prefix length of a CIDR. */
export function cidrPrefix(cidr: string): number {
    return parseCidr(cidr)[1];
}
