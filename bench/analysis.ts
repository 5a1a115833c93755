// A cold run's figures from its stamped events, the services' start times and the CPU readings.
import { serviceNames } from "../components/render/flags";
import { SERVICES } from "../test/lib/cluster";
import { Lab } from "../test/lib/lab";
import { CpuReading, CpuUsed, cpuUsed, readCpu, readUnits } from "./cpu";
import { Span, byCategory, parseStamped } from "./events";
import { ColdRun, Variant } from "./figures";

const serviceOfSpan = (name: string): [string, string] | undefined => {
    const m = /^k8s-(n\d+)-(etcd|apiserver|controller-manager|scheduler)$/.exec(name);
    if (!m) return undefined;
    const svc = {
        etcd: serviceNames.etcd,
        apiserver: serviceNames.apiserver,
        "controller-manager": serviceNames.controllerManager,
        scheduler: serviceNames.scheduler,
    }[m[2] as "etcd"];
    return [m[1], svc];
};

export function analyse(file: string, seconds: number, masters: number, starts: Record<string, number>, t0: number, v: Variant): ColdRun {
    const ev = parseStamped(file);
    const b = byCategory(ev);
    const phases = { beforeStart: 0, healthWait: 0, afterHealthy: 0 };
    const services = ev.spans.filter((s) => s.category === "services");
    const rel = (x: number | undefined) => (x === undefined ? null : Math.round((x - t0) * 100) / 100);
    const timeline = [...ev.spans]
        .filter((s) => s.category !== "certificates")
        .sort((a, b) => a.start - b.start)
        .map((s): ColdRun["timeline"][number] => {
            const k = serviceOfSpan(s.name);
            return [s.name, rel(s.start)!, rel(k ? starts[`${k[0]}/${k[1]}`] : undefined), rel(s.healthyAt), rel(s.end)!];
        });
    for (const s of services) {
        const k = serviceOfSpan(s.name);
        const started = k ? starts[`${k[0]}/${k[1]}`] : undefined;
        if (started === undefined || s.healthyAt === undefined || !(started >= s.start - 1)) continue;
        phases.beforeStart += Math.max(0, started - s.start);
        phases.healthWait += Math.max(0, s.healthyAt - Math.max(started, s.start));
        phases.afterHealthy += Math.max(0, s.end - s.healthyAt);
    }
    const apis = services.filter((s: Span) => /-apiserver$/.test(s.name));
    const chain = apis.length ? Math.max(...apis.map((s) => s.end)) - Math.min(...apis.map((s) => s.start)) : 0;
    const pick = (f: "exclusive" | "sum" | "wall") => Object.fromEntries(Object.entries(b.categories).map(([k, v]) => [k, v[f]]));
    return {
        masters,
        ...v,
        seconds,
        cliStartup: ev.first - t0,
        programStartup: b.startup,
        exclusive: pick("exclusive"),
        sum: pick("sum"),
        wall: pick("wall"),
        idle: b.idle,
        servicePhases: phases,
        apiserverChain: chain,
        resources: ev.spans.length,
        timeline,
    };
}

/** The lab's nodes, whose cgroups hold the hosts' CPU. */
export const labNodes = (lab: Lab) => [...lab.masters.map((m) => m.name), "lb"];
/** The units whose CPU is read on the hosts after a cold deploy: the control plane and the load balancer. */
export const HOST_UNITS = [...SERVICES, "k8scp-haproxy"];
/** The window's CPU, and what the control plane's units used of the hosts' share (the hosts were fresh before). */
export const deployCpu = (before: CpuReading, nodes: string[]): CpuUsed => ({
    ...cpuUsed(before, readCpu(nodes), nodes),
    units: readUnits(nodes, HOST_UNITS),
});
export const describeCpu = (c: CpuUsed) =>
    `CPU ${c.total.toFixed(1)} s` + (c.hosts !== undefined ? ` (hosts ${c.hosts.toFixed(1)}, controller ${c.controller!.toFixed(1)})` : "");
