// Analysis of a `pulumi up --json` engine-event stream whose lines were stamped on arrival (epoch seconds with
// microseconds, a tab, the JSON event): the engine's own `timestamp` has whole seconds only.
import * as fs from "node:fs";

export interface Span {
    urn: string;
    name: string;
    type: string;
    op: string;
    category: Category;
    start: number;
    end: number;
    /** For a service command: when its script reported the endpoint healthy (`healthy at URL (t=epoch)`). */
    healthyAt?: number;
    failed?: boolean;
}

export type Category = "certificates" | "copies" | "host prep" | "files" | "services" | "etcd quorum wait" | "load balancer" | "other";
export const CATEGORIES: Category[] = [
    "certificates",
    "copies",
    "host prep",
    "files",
    "services",
    "etcd quorum wait",
    "load balancer",
    "other",
];

export function categorize(type: string, name: string): Category {
    if (type.startsWith("tls:") || type.startsWith("random:")) return "certificates";
    if (type === "command:remote:CopyToRemote") return "copies";
    if (type !== "command:remote:Command") return "other";
    if (/(^|-)lb\b|haproxy|load-?balancer/.test(name)) return "load balancer";
    if (name.endsWith("-host")) return "host prep";
    if (name.endsWith("-files")) return "files";
    if (name.endsWith("etcd-cluster-healthy")) return "etcd quorum wait";
    return "services";
}

interface Meta {
    op: string;
    urn: string;
    type: string;
    new?: { custom?: boolean; outputs?: Record<string, unknown> };
    old?: { custom?: boolean };
}

export interface EventSummary {
    /** First and last event stamps (the CLI's run, minus process start-up before the first event). */
    first: number;
    last: number;
    /** Stamp of the first resource step of a custom resource (program start-up, plugins, preflight before it). */
    firstStep?: number;
    spans: Span[];
}

/** Parses a stamped event stream into one span per custom resource step (create/update/delete/replace). */
export function parseStamped(file: string): EventSummary {
    const lines = fs.readFileSync(file, "utf8").split("\n").filter(Boolean);
    const open = new Map<string, Span>();
    const spans: Span[] = [];
    let first = Infinity;
    let last = 0;
    for (const line of lines) {
        const tab = line.indexOf("\t");
        const t = Number(line.slice(0, tab));
        let ev: Record<string, { metadata?: Meta }>;
        try {
            ev = JSON.parse(line.slice(tab + 1)) as Record<string, { metadata?: Meta }>;
        } catch {
            continue;
        }
        first = Math.min(first, t);
        last = Math.max(last, t);
        const pre = ev.resourcePreEvent?.metadata;
        const out = ev.resOutputsEvent?.metadata;
        const failed = ev.resOpFailedEvent?.metadata;
        const m = pre ?? out ?? failed;
        if (!m || m.op === "same" || m.op === "read") continue;
        const custom = (m.new ?? m.old)?.custom === true;
        if (!custom) continue;
        const name = m.urn.slice(m.urn.lastIndexOf("::") + 2);
        const key = `${m.urn}#${m.op}`;
        if (pre) {
            open.set(key, { urn: m.urn, name, type: m.type, op: m.op, category: categorize(m.type, name), start: t, end: t });
        } else {
            const s = open.get(key);
            if (!s) continue;
            open.delete(key);
            s.end = t;
            s.failed = !!failed;
            const stderr = String(m.new?.outputs?.stderr ?? "");
            const h = /healthy at \S+ \(t=([\d.]+)\)/.exec(stderr);
            if (h) s.healthyAt = Number(h[1]);
            spans.push(s);
        }
    }
    const steps = spans.map((s) => s.start);
    return { first, last, firstStep: steps.length ? Math.min(...steps) : undefined, spans };
}

/** Length of the union of intervals (wall time during which at least one ran). */
export function unionLength(iv: [number, number][]): number {
    const s = [...iv].sort((a, b) => a[0] - b[0]);
    let total = 0;
    let cs = -Infinity;
    let ce = -Infinity;
    for (const [a, b] of s) {
        if (a > ce) {
            if (ce > cs) total += ce - cs;
            cs = a;
            ce = b;
        } else ce = Math.max(ce, b);
    }
    if (ce > cs) total += ce - cs;
    return total;
}

export interface CategoryFigures {
    count: number;
    /** Sum of the steps' durations (resource-seconds). */
    sum: number;
    /** Wall time during which at least one step of the category ran. */
    wall: number;
    /**
     * Wall time attributed to the category alone: each instant of the run goes to the category of the step
     * running then that started last (the innermost, most recent work), so the figures add up to the span.
     */
    exclusive: number;
    longest: { name: string; seconds: number };
}

/** Per-category figures, plus the time before the first step and the gaps no step covered. */
export function byCategory(sum: EventSummary): { categories: Record<string, CategoryFigures>; startup: number; idle: number } {
    const cats: Record<string, CategoryFigures> = {};
    for (const c of CATEGORIES) cats[c] = { count: 0, sum: 0, wall: 0, exclusive: 0, longest: { name: "", seconds: 0 } };
    for (const c of CATEGORIES) {
        const xs = sum.spans.filter((s) => s.category === c);
        cats[c].count = xs.length;
        cats[c].sum = xs.reduce((a, s) => a + (s.end - s.start), 0);
        cats[c].wall = unionLength(xs.map((s) => [s.start, s.end]));
        for (const s of xs) if (s.end - s.start > cats[c].longest.seconds) cats[c].longest = { name: s.name, seconds: s.end - s.start };
    }
    // Exclusive attribution on a 10 ms grid.
    const start = sum.firstStep ?? sum.first;
    let idle = 0;
    const dt = 0.01;
    for (let t = start; t < sum.last; t += dt) {
        let best: Span | undefined;
        for (const s of sum.spans) if (s.start <= t && t < s.end && (!best || s.start > best.start)) best = s;
        if (best) cats[best.category].exclusive += dt;
        else idle += dt;
    }
    for (const c of CATEGORIES) if (cats[c].count === 0) delete cats[c];
    return { categories: cats, startup: start - sum.first, idle };
}
