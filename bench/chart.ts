// The chart: deploy-time.png with gnuplot (installed when missing; skipped with a message when it cannot be).
import * as fs from "node:fs";
import * as path from "node:path";
import { run } from "../test/lib/lab";
import { isDefault, results, stats } from "./figures";
import { OUT_DIR, SIZES, log, work } from "./settings";

export async function chart() {
    const has = await run("bash", ["-c", "command -v gnuplot"]);
    if (has.status !== 0) {
        log("gnuplot missing: apt-get install -y gnuplot-nox (at most 300 s)");
        const r = await run("bash", ["-c", "DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q gnuplot-nox"], {
            timeoutMs: 320_000,
        }).catch((e: Error) => ({ status: -1, stdout: "", stderr: e.message }));
        if (r.status !== 0) {
            log(`could not install gnuplot (exit ${r.status}); no chart, results.json and results.md are written. ${r.stderr.slice(-300)}`);
            return;
        }
    }
    const dat = path.join(work, "deploy.dat");
    const line = (n: number) => {
        const o = stats(results.cold.filter((c) => c.masters === n && isDefault(c)).map((c) => c.seconds));
        const b = stats(results.baseline.filter((c) => c.masters === n).map((c) => c.seconds));
        const f = (s: ReturnType<typeof stats>) => (s ? `${s.median} ${s.min} ${s.max}` : "NaN NaN NaN");
        return `${n} ${f(o)} ${f(b)}`;
    };
    fs.writeFileSync(dat, SIZES.map(line).join("\n") + "\n");
    const png = path.join(OUT_DIR, "deploy-time.png");
    const gp = [
        "set terminal png size 800,500",
        `set output '${png}'`,
        "set title 'Cold deploy of the control plane + LB on the lab (median, min-max)'",
        "set xlabel 'masters'",
        "set ylabel 'seconds'",
        `set xtics (${SIZES.join(",")})`,
        `set xrange [0:${Math.max(...SIZES) + 1}]`,
        "set yrange [0:*]",
        "set key bottom right",
        "set grid",
        `plot '${dat}' using 1:2:3:4 with yerrorlines lw 2 title 'pulumi up (this library)', '' using 1:5:6:7 with yerrorlines lw 2 title 'runbook baseline (bash, one host after another)'`,
    ].join("\n");
    const r = await run("gnuplot", [], { input: gp, timeoutMs: 60_000 });
    if (r.status === 0) log(`chart: ${png}`);
    else log(`gnuplot failed: ${r.stderr}`);
}
