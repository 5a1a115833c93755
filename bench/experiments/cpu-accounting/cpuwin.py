# cpuwin.py SAMPLES.jsonl BENCH-START (the work dir name's time, e.g. 2026-11-24T01-11-04-621Z) NAME:FROM:TO ...
# CPU seconds in each window (seconds after the bench start, from its log's "total" times): all, per lab node
# (cgroup), the controller (the rest), and the processes seen by cpusample.py (comm names; exits under 0.5 s are missed).
import json, sys, datetime
path, t0s = sys.argv[1], sys.argv[2]
t0 = datetime.datetime.strptime(t0s, "%Y-%m-%dT%H-%M-%S-%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
rows = [json.loads(l) for l in open(path) if l.startswith('{"t"')]
def at(t):
    return min(rows, key=lambda r: abs(r["t"] - t))
for w in sys.argv[3:]:
    name, a, b = w.split(":")
    r0, r1 = at(t0 + float(a)), at(t0 + float(b))
    wall = r1["t"] - r0["t"]
    tot = r1["total"] - r0["total"]
    nodes = {n: r1["nodes"].get(n, 0) - r0["nodes"].get(n, 0) for n in r1["nodes"]}
    ns = sum(v for v in nodes.values() if v > 0)
    print(f"{name}: wall {wall:.1f}s cpu {tot:.1f}s (util {tot/wall/2*100:.0f}%) hosts {ns:.1f} ctl {tot-ns:.1f} | " + " ".join(f"{n}={v:.1f}" for n, v in sorted(nodes.items()) if v > 0))
    keys = set(r1.get("per", {})) | set(r0.get("per", {}))
    d = sorted(((k, r1.get("per", {}).get(k, 0) - r0.get("per", {}).get(k, 0)) for k in keys), key=lambda kv: -kv[1])
    print("   " + ", ".join(f"{k}={v:.1f}" for k, v in d[:28] if v >= 0.3))
