// The real Pulumi CLI for the tests: run in the lab's controller namespace (the only place that reaches the
// hosts), with the toolchain's environment, a throwaway file:// backend and a stack config file of the test's own.
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { Lab, Result, fileBackendDir } from "./lab";

/** The names of the commands `preview --diff` or `up --diff` output lists as updated, sorted. */
export const updatedCommands = (out: string) =>
    [...out.matchAll(/~ command:remote:Command: \(update\)\s*\n\s*\[id=[^\]]*\]\s*\n\s*\[urn=[^\]]*::([^\]]+)\]/g)].map((m) => m[1]).sort();

export class PulumiCli {
    constructor(
        readonly lab: Lab,
        readonly env: NodeJS.ProcessEnv,
        /** Directory of the program (its Pulumi.yaml). */
        readonly programDir: string,
        readonly stack: string,
        /**
         * The stack's config file, outside the source tree: commands that take config get `--config-file` with it,
         * and what `stack init` writes beside Pulumi.yaml (the passphrase's salt) is moved into it.
         */
        readonly configFile: string,
    ) {
        if (!fs.existsSync(configFile)) fs.writeFileSync(configFile, "config: {}\n");
    }

    async run(args: string[], timeoutMs = 600_000): Promise<Result> {
        const r = await this.exec(args, timeoutMs);
        const written = path.join(this.programDir, `Pulumi.${this.stack}.yaml`);
        if (args[0] === "stack" && args[1] === "init" && fs.existsSync(written)) {
            const doc = (YAML.parse(fs.readFileSync(this.configFile, "utf8")) ?? {}) as Record<string, unknown>;
            Object.assign(doc, YAML.parse(fs.readFileSync(written, "utf8")) as Record<string, unknown>);
            fs.writeFileSync(this.configFile, YAML.stringify(doc));
            fs.rmSync(written);
        }
        return r;
    }

    /**
     * Starts a command in a process group of its own (the CLI, its language host, the program and the plugins), to be
     * interrupted as a user would: `signal("SIGINT")` is Ctrl-C in a terminal, `signal("SIGKILL")` a crash.
     */
    start(args: string[], timeoutMs = 1_800_000): { done: Promise<Result>; signal: (s: NodeJS.Signals) => void; stdout: () => string } {
        const { cmd, full } = this.command(args);
        const p = childProcess.spawn("ip", ["netns", "exec", this.lab.json.controllerNamespace, cmd, ...full], {
            cwd: this.programDir,
            env: this.env,
            detached: true,
            stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        // The CLI starts the language host and each plugin in a process group of its own, so Ctrl-C in a terminal
        // reaches the CLI's group only (the CLI cancels the rest); a crash is everything killed at once.
        const signal = (s: NodeJS.Signals) => {
            const pids = s === "SIGKILL" ? [p.pid!, ...descendants(p.pid!)] : [p.pid!];
            for (const pid of pids) {
                try {
                    process.kill(s === "SIGKILL" ? pid : -pid, s);
                } catch {
                    // already gone
                }
            }
        };
        const done = new Promise<Result>((resolve) => {
            const timer = setTimeout(() => signal("SIGKILL"), timeoutMs);
            p.on("close", (status, sig) => {
                clearTimeout(timer);
                resolve({ status: status ?? (sig ? 128 : null), stdout, stderr });
            });
        });
        return { done, signal, stdout: () => stdout };
    }

    private command(args: string[]): { cmd: string; full: string[] } {
        // As the README recommends for --parallel: the default (8) lets binary copies hold every slot while file steps wait.
        const withConfig = ["up", "preview", "destroy", "refresh", "config"].includes(args[0]);
        const parallel = ["up", "preview", "destroy"].includes(args[0]) && !args.includes("--parallel") ? ["--parallel", "32"] : [];
        const full = [
            "--non-interactive",
            "-C",
            this.programDir,
            ...args,
            ...parallel,
            "--stack",
            this.stack,
            ...(withConfig ? ["--config-file", this.configFile] : []),
        ];
        return { cmd: path.join(this.env.K8SCP_TOOLCHAIN_DIR!, "bin", "pulumi"), full };
    }

    private exec(args: string[], timeoutMs: number): Promise<Result> {
        const { cmd, full } = this.command(args);
        return this.lab.inCtl(cmd, full, {
            env: this.env,
            timeoutMs,
            cwd: this.programDir,
        });
    }

    async ok(args: string[], timeoutMs = 600_000): Promise<string> {
        const r = await this.run(args, timeoutMs);
        assert.equal(r.status, 0, `pulumi ${args.join(" ")} exited ${r.status}:\n${r.stdout}${r.stderr}`);
        return r.stdout + r.stderr;
    }

    async outputs(): Promise<Record<string, unknown>> {
        const r = await this.run(["stack", "output", "--json", "--show-secrets"], 60_000);
        assert.equal(r.status, 0, r.stderr);
        return JSON.parse(r.stdout) as Record<string, unknown>;
    }

    /** The stack's state as `pulumi stack export` prints it, and the state files of the backend. */
    async stateTexts(): Promise<string[]> {
        const exported = await this.ok(["stack", "export"], 60_000);
        const backend = fileBackendDir(this.env.PULUMI_BACKEND_URL!);
        const files: string[] = [];
        const walk = (d: string) => {
            for (const e of fs.readdirSync(d, { withFileTypes: true })) {
                const p = path.join(d, e.name);
                if (e.isDirectory()) walk(p);
                else if (/\.json$/.test(e.name)) files.push(fs.readFileSync(p, "utf8"));
            }
        };
        walk(backend);
        return [exported, ...files];
    }
}

/** Every process below `pid` (from /proc), children before their children. */
function descendants(pid: number): number[] {
    const children = new Map<number, number[]>();
    for (const d of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(d)) continue;
        try {
            const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
            const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
            children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
        } catch {
            // gone meanwhile
        }
    }
    const out: number[] = [];
    for (let queue = [pid]; queue.length; ) {
        const next = children.get(queue.shift()!) ?? [];
        out.push(...next);
        queue.push(...next);
    }
    return out;
}
