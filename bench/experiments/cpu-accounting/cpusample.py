#!/usr/bin/env python3
# Samples CPU every 0.5 s: total (/proc/stat), each lab node's cgroup (unified cpu.stat), and per-process (comm, group).
# Writes JSON lines to argv[1]; stops when argv[2] (a file) exists.
import os, sys, time, json
out, stop = sys.argv[1], sys.argv[2]
HZ = os.sysconf("SC_CLK_TCK")
CG = "/sys/fs/cgroup/unified/k8scp-lab"
grp = {}
best = {}
first = {}
loop0 = True
f = open(out, "w")
def total():
    with open("/proc/stat") as s:
        p = s.readline().split()[1:]
    v = list(map(int, p))
    return (sum(v) - v[3] - v[4]) / HZ
while not os.path.exists(stop):
    t = time.time()
    nodes = {}
    if os.path.isdir(CG):
        for n in os.listdir(CG):
            try:
                for line in open(f"{CG}/{n}/cpu.stat"):
                    if line.startswith("usage_usec"):
                        nodes[n] = int(line.split()[1]) / 1e6
            except OSError:
                pass
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            st = open(f"/proc/{pid}/stat").read()
            comm = st[st.index("(") + 1 : st.rindex(")")]
            rest = st[st.rindex(")") + 2 :].split()
            cpu = (int(rest[11]) + int(rest[12])) / HZ
            start = rest[19]
            key = (pid, start)
            if key not in grp:
                g = "ctl"
                for line in open(f"/proc/{pid}/cgroup"):
                    if line.startswith("0::") and "k8scp-lab/" in line:
                        g = line.split("k8scp-lab/")[1].split("/")[0]
                grp[key] = (g, comm)
            if loop0: first[key] = cpu
            best[key] = max(best.get(key, 0), cpu)
        except (OSError, ValueError, IndexError):
            pass
    loop0 = False
    per = {}
    for key, cpu in best.items():
        g, comm = grp[key]
        k = ("ctl" if g == "ctl" else "host") + "/" + comm
        per[k] = round(per.get(k, 0) + cpu - first.get(key, 0), 2)
    f.write(json.dumps({"t": t, "total": total(), "nodes": nodes, "per": per}) + "\n")
    f.flush()
    time.sleep(max(0, 0.5 - (time.time() - t)))
agg = {}
for key, cpu in best.items():
    cpu -= first.get(key, 0)
    g, comm = grp[key]
    agg[f"{g}/{comm}"] = agg.get(f"{g}/{comm}", 0) + cpu
f.write(json.dumps({"procs": dict(sorted(agg.items(), key=lambda kv: -kv[1]))}) + "\n")
f.close()
