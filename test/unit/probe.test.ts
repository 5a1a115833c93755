// The VIP probe's lines, as the end-to-end tests and the bench read them: a failure says what curl saw and when.
import { test } from "node:test";
import assert from "node:assert/strict";
import { describeProbe, parseProbeLines } from "../lib/cluster";

test("probe lines: codes counted, each failure with curl's reason, its duration and when it happened", () => {
    const r = parseProbeLines(
        [
            "200 0 0.012 1700000000.000000",
            "000 28 2.001 1700000002.500000",
            "200 0 0.010 1700000003.000000",
            "000 56 0.030 1700000004.250000",
            "429 0 0.004 1700000005.000000",
            "",
        ].join("\n"),
    );
    assert.equal(r.total, 5);
    assert.equal(r.failed, 3);
    assert.deepEqual(r.codes, { "200": 2, "000": 2, "429": 1 });
    assert.deepEqual(r.failures, [
        "HTTP 000, curl exit 28 (timeout), 2.00 s, at 2.5 s (22:13:22.500 UTC)",
        "HTTP 000, curl exit 56 (connection reset), 0.03 s, at 4.3 s (22:13:24.250 UTC)",
        "HTTP 429, 0.00 s, at 5.0 s (22:13:25.000 UTC)",
    ]);
    assert.equal(describeProbe(r).split("\n").length, 4);
    assert.match(describeProbe(r), /^\{.*"000":2.*\}\n {2}HTTP 000, curl exit 28/);
    assert.deepEqual(parseProbeLines(""), { total: 0, failed: 0, codes: {}, failures: [] });
});
