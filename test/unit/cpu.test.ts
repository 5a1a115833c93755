// The bench's CPU accounting: /proc/stat and cgroup v2 cpu.stat parsed, the hosts' share split from the controller's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpuUsed, parseCgroupUsage, parseProcStat } from "../../bench/cpu";

test("cpu accounting: busy seconds from /proc/stat, a cgroup's usage, and the split of a window", () => {
    const stat = "cpu  1000 20 300 90000 50 7 3 10 0 0\ncpu0 500 10 150 45000 25 3 1 5 0 0\nintr 1 2 3\n";
    // user + nice + system + irq + softirq + steal = 1340 ticks; idle and iowait are not busy.
    assert.equal(parseProcStat(stat), 13.4);
    assert.throws(() => parseProcStat("intr 1 2 3\n"), /no aggregate cpu line/);
    assert.throws(() => parseProcStat("cpu  1 2 x 4 5 6 7 8\n"), /unexpected cpu line/);
    assert.equal(parseCgroupUsage("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n"), 2.5);
    assert.equal(parseCgroupUsage("nr_periods 0\n"), undefined);

    const before = { total: 100, hosts: { n1: 10, lb: 1 } };
    const after = { total: 160, hosts: { n1: 45, lb: 2 } };
    assert.deepEqual(cpuUsed(before, after, ["n1", "lb"]), { total: 60, hosts: 36, controller: 24 });
    // A node whose cgroup could not be read at one end: only the total is known.
    assert.deepEqual(cpuUsed(before, { total: 160, hosts: { n1: 45 } }, ["n1", "lb"]), { total: 60 });
});
