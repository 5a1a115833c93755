// CPU used during a deploy: by the whole machine (/proc/stat) and by each lab host (the cgroup lab.sh gives every
// node; its usage counts processes that have exited too). The rest is the controller's: the Pulumi CLI, the program,
// the plugins, ssh and the baseline's openssl. On the lab a cold deploy keeps the cores busy, so its time follows
// its CPU (bench/experiments/cpu-accounting).
import * as fs from "node:fs";
import { labCgroupRoots } from "../test/lib/lab";

export interface CpuReading {
    /** Busy CPU seconds of the machine since boot. */
    total: number;
    /** CPU seconds of each lab node's cgroup, by node name (absent when not readable). */
    hosts: Record<string, number>;
}

export interface CpuUsed {
    total: number;
    /** All lab hosts together, or undefined when a node's cgroup was not readable at both ends. */
    hosts?: number;
    /** total − hosts. */
    controller?: number;
    /** CPU of the control plane's units on the hosts (readUnits), when read. */
    units?: Record<string, number>;
}

/** Linux reports /proc/stat in USER_HZ ticks, 100 per second on every architecture it exports them for. */
const USER_HZ = 100;

/** Busy seconds from /proc/stat's first line: user, nice, system, irq, softirq, steal (guest is inside user). */
export function parseProcStat(text: string): number {
    const line = text.split("\n").find((l) => /^cpu\s/.test(l));
    if (!line) throw new Error("/proc/stat has no aggregate cpu line");
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    if (v.length < 8 || v.some((x) => !Number.isFinite(x))) throw new Error(`/proc/stat: unexpected cpu line: ${line}`);
    const [user, nice, system, , , irq, softirq, steal] = v;
    return (user + nice + system + irq + softirq + steal) / USER_HZ;
}

/** Seconds from a cgroup v2 `cpu.stat` (`usage_usec N`), or undefined without that line. */
export function parseCgroupUsage(text: string): number | undefined {
    const m = /^usage_usec (\d+)$/m.exec(text);
    return m ? Number(m[1]) / 1e6 : undefined;
}

/** Seconds of the cgroup at `rel` under a node's cgroup (e.g. `n1`), from the first root that has it, or undefined. */
function cgroupSeconds(rel: string): number | undefined {
    for (const root of labCgroupRoots) {
        const f = `${root}/${rel}/cpu.stat`;
        const s = fs.existsSync(f) ? parseCgroupUsage(fs.readFileSync(f, "utf8")) : undefined;
        if (s !== undefined) return s;
    }
    return undefined;
}

export function readCpu(nodes: string[]): CpuReading {
    const hosts: Record<string, number> = {};
    for (const n of nodes) {
        const s = cgroupSeconds(n);
        if (s !== undefined) hosts[n] = s;
    }
    return { total: parseProcStat(fs.readFileSync("/proc/stat", "utf8")), hosts };
}

/**
 * CPU seconds of each named systemd unit, summed over the nodes that run it (the node's systemd, its "payload", runs
 * every unit in system.slice). A unit's cgroup lives from its start to its stop, so on hosts that were fresh before a
 * deploy this is what the unit used during the deploy (a restarted unit counts only since its last start). Units
 * running nowhere are left out.
 */
export function readUnits(nodes: string[], units: string[]): Record<string, number> {
    const out: Record<string, number> = {};
    for (const u of units)
        for (const n of nodes) {
            const s = cgroupSeconds(`${n}/payload/system.slice/${u}.service`);
            if (s !== undefined) out[u] = (out[u] ?? 0) + s;
        }
    return out;
}

/** What was used between two readings of the same nodes. */
export function cpuUsed(before: CpuReading, after: CpuReading, nodes: string[]): CpuUsed {
    const total = after.total - before.total;
    if (!nodes.every((n) => n in before.hosts && n in after.hosts)) return { total };
    const hosts = nodes.reduce((s, n) => s + after.hosts[n] - before.hosts[n], 0);
    return { total, hosts, controller: total - hosts };
}
