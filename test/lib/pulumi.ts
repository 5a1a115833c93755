// The real Pulumi CLI for the tests: run in the lab's controller namespace (the only place that reaches the
// hosts), with the toolchain's environment, a throwaway file:// backend and a stack config file of the test's own.
import assert from "node:assert/strict";
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

    private exec(args: string[], timeoutMs: number): Promise<Result> {
        const withConfig = ["up", "preview", "destroy", "refresh", "config"].includes(args[0]);
        // As the README recommends: the default (8) lets binary copies hold every slot while file steps wait.
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
        return this.lab.inCtl(path.join(this.env.K8SCP_TOOLCHAIN_DIR!, "bin", "pulumi"), full, {
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
