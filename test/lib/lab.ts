// Shared by the tests that run on the lab (scripts/lab.sh): processes with timeouts, SSH to the lab hosts from
// the controller namespace, step timing, and polling with a deadline.
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Member } from "../../components/render/flags";

export const repo = path.resolve(__dirname, "..", "..");
/** The releases package.json pins (`toolchain`: kubernetes, kubernetesPrevious, etcd, pulumi, debian). */
export const toolchainPins = (): Record<string, string> =>
    (JSON.parse(fs.readFileSync(path.join(repo, "package.json"), "utf8")) as { toolchain: Record<string, string> }).toolchain;
export const labScript = path.join(repo, "scripts", "lab.sh");
export const cacheDir = process.env.K8SCP_CACHE ?? path.join(os.homedir(), ".cache", "pulumi-k8s-control-plane");
export const labDir = path.join(cacheDir, "lab");
/** Where lab.sh puts the nodes' cgroups: the unified hierarchy of a hybrid host, or the root of a cgroup v2-only one. */
export const labCgroupRoots = ["/sys/fs/cgroup/unified/k8scp-lab", "/sys/fs/cgroup/k8scp-lab"];

export interface Result {
    status: number | null;
    stdout: string;
    stderr: string;
}
export interface RunOptions {
    input?: string;
    timeoutMs?: number;
    env?: NodeJS.ProcessEnv;
    cwd?: string;
}

/** Runs a command (never through a shell) with a timeout; stdin from `input`. */
export function run(cmd: string, args: string[], o: RunOptions = {}): Promise<Result> {
    const timeoutMs = o.timeoutMs ?? 60_000;
    return new Promise((resolve, reject) => {
        const p = childProcess.spawn(cmd, args, { cwd: o.cwd ?? repo, env: o.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        const timer = setTimeout(() => {
            p.kill("SIGKILL");
            reject(new Error(`timed out after ${timeoutMs} ms: ${cmd} ${args.join(" ").slice(0, 300)}\n${stdout}${stderr}`));
        }, timeoutMs);
        p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        p.on("error", (e) => {
            clearTimeout(timer);
            reject(e);
        });
        p.on("close", (status) => {
            clearTimeout(timer);
            resolve({ status, stdout, stderr });
        });
        p.stdin.on("error", () => undefined);
        p.stdin.end(o.input ?? "");
    });
}

/** Like `run`, and fails the test (with the command's output) on a non-zero exit. */
export async function ok(cmd: string, args: string[], o: RunOptions = {}): Promise<string> {
    const r = await run(cmd, args, o);
    assert.equal(r.status, 0, `${cmd} ${args.join(" ").slice(0, 400)} exited ${r.status}:\n${r.stdout}${r.stderr}`);
    return r.stdout;
}

/** The environment scripts/env.sh sets up (toolchain PATH, private PULUMI_HOME, offline settings), or undefined. */
export function toolchainEnv(): NodeJS.ProcessEnv | undefined {
    const r = childProcess.spawnSync("bash", ["-c", "source scripts/env.sh >/dev/null && env -0"], {
        cwd: repo,
        encoding: "utf8",
        timeout: 30_000,
    });
    if (r.status !== 0) return undefined;
    const env: NodeJS.ProcessEnv = {};
    for (const kv of r.stdout.split("\0")) {
        const i = kv.indexOf("=");
        if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    return env.K8SCP_TOOLCHAIN_DIR ? env : undefined;
}

/**
 * A local `file://` state backend in `dir`, as scripts/env.sh makes the project's: `metadata=skip` spares go-cloud's
 * MD5 of every state file it writes and of its `.bak` copy (about 15 % of the CLI's CPU in a cold 5-master deploy).
 */
export const fileBackend = (dir: string) => `file://${dir}?metadata=skip`;
/** The directory of a `fileBackend` URL. */
export const fileBackendDir = (url: string) => url.replace(/^file:\/\//, "").replace(/\?.*$/, "");

/** The toolchain directory scripts/env.sh computes, or undefined when it cannot. */
export const toolchainDir = (): string | undefined => toolchainEnv()?.K8SCP_TOOLCHAIN_DIR;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `f` once a second until it returns a value; fails naming `what` (and the last error) after the deadline. */
export async function until<T>(what: string, timeoutMs: number, f: () => Promise<T | undefined>, intervalMs = 1000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
        try {
            const v = await f();
            if (v !== undefined) return v;
        } catch (e) {
            last = e;
        }
        if (Date.now() > deadline)
            throw new Error(`${what}: not reached within ${timeoutMs} ms${last ? `; last error: ${String(last)}` : ""}`);
        await sleep(intervalMs);
    }
}

/** A step logger: prints each step's name, its duration and the running total, prefixed with `[prefix]`. */
export function stepper(prefix: string) {
    const t0 = Date.now();
    const secs = (ms: number) => (ms / 1000).toFixed(1);
    return async function step<T>(name: string, f: () => Promise<T>): Promise<T> {
        const s = Date.now();
        console.log(`[${prefix}] ${name} ...`);
        try {
            const v = await f();
            console.log(`[${prefix}] ${name}: ${secs(Date.now() - s)} s (total ${secs(Date.now() - t0)} s)`);
            return v;
        } catch (e) {
            console.log(`[${prefix}] ${name}: FAILED after ${secs(Date.now() - s)} s`);
            throw e;
        }
    };
}

interface LabJson {
    nodes: { name: string; address: string; role: "master" | "lb" }[];
    sshUser: string;
    sshKeyPath: string;
    knownHostsFile: string;
    controllerNamespace: string;
}

/** The running lab as lab.json describes it, with SSH to its hosts from the controller namespace. */
export class Lab {
    readonly json: LabJson;
    readonly masters: Member[];
    readonly vip: string;

    constructor() {
        this.json = JSON.parse(fs.readFileSync(path.join(labDir, "lab.json"), "utf8")) as LabJson;
        this.masters = this.json.nodes.filter((n) => n.role === "master").map((n) => ({ name: n.name, address: n.address }));
        const lb = this.json.nodes.find((n) => n.role === "lb");
        assert.ok(lb, "lab.json has no lb node");
        this.vip = lb.address;
    }

    static async up(masters: number): Promise<Lab> {
        await ok("bash", [labScript, "up", String(masters)], { timeoutMs: 900_000 });
        return new Lab();
    }

    static async down(): Promise<Result> {
        return run("bash", [labScript, "down"], { timeoutMs: 180_000 }).catch((e: Error) => ({
            status: -1,
            stdout: "",
            stderr: e.message,
        }));
    }

    get sshUser() {
        return this.json.sshUser;
    }

    sshOpts(): string[] {
        const o = {
            IdentitiesOnly: "yes",
            BatchMode: "yes",
            StrictHostKeyChecking: "yes",
            UserKnownHostsFile: this.json.knownHostsFile,
            GlobalKnownHostsFile: "/dev/null",
            ConnectTimeout: "5",
            LogLevel: "ERROR",
        };
        return ["-F", "/dev/null", "-i", this.json.sshKeyPath, ...Object.entries(o).flatMap(([k, v]) => ["-o", `${k}=${v}`])];
    }

    /** In the controller network namespace, where 10.213.0.0/24 is reachable. */
    inCtl(cmd: string, args: string[], o: RunOptions = {}): Promise<Result> {
        return run("ip", ["netns", "exec", this.json.controllerNamespace, cmd, ...args], o);
    }

    ssh(address: string, remote: string, o: RunOptions = {}): Promise<Result> {
        return this.inCtl("ssh", [...this.sshOpts(), `${this.sshUser}@${address}`, remote], o);
    }

    async sshOk(address: string, remote: string, o: RunOptions = {}): Promise<string> {
        const r = await this.ssh(address, remote, o);
        assert.equal(r.status, 0, `ssh ${address} ${remote.slice(0, 300)} exited ${r.status}:\n${r.stdout}${r.stderr}`);
        return r.stdout;
    }

    /** Copies local files to a directory on a host (scp from the controller namespace). */
    scp(files: string[], address: string, remoteDir: string): Promise<string> {
        return ok(
            "ip",
            [
                "netns",
                "exec",
                this.json.controllerNamespace,
                "scp",
                "-q",
                ...this.sshOpts(),
                ...files,
                `${this.sshUser}@${address}:${remoteDir}/`,
            ],
            {
                timeoutMs: 300_000,
            },
        );
    }
}
