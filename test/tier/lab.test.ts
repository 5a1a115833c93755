// Checks the local lab (scripts/lab.sh) for real: `up 3` boots three masters and the load-balancer host as
// systemd-nspawn containers with systemd as PID 1, reachable over SSH as kube with passwordless sudo and pinned
// host keys; `up` is idempotent and scales; `down` leaves nothing behind; host keys survive down/up and every up
// starts from a clean writable layer. Needs root (skipped otherwise). Ends with the lab down.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const repo = path.resolve(__dirname, "..", "..");
const labScript = path.join(repo, "scripts", "lab.sh");
const labDir = path.join(process.env.K8SCP_CACHE ?? path.join(os.homedir(), ".cache", "pulumi-k8s-control-plane"), "lab");
const labJsonPath = path.join(labDir, "lab.json");
const runDir = "/run/k8scp-lab";
const dataDir = "/var/lib/k8scp-lab";
const allNodes = ["n1", "n2", "n3", "n4", "n5", "lb"];
const testUnit = "k8scp-lab-test.service";

const skip = process.platform !== "linux" ? "Linux only" : process.getuid?.() !== 0 ? "the lab needs root" : false;

// The first `up` may build the rootfs (debootstrap: about 1.5 min on 2 busy cores); later ones take seconds.
const UP_TIMEOUT = 900_000;
const STEP_TIMEOUT = 120_000;

interface LabNode {
    name: string;
    address: string;
    role: "master" | "lb";
    hostKey: string;
}

interface LabJson {
    nodes: LabNode[];
    sshUser: string;
    sshKeyPath: string;
    knownHostsFile: string;
    controllerNamespace: string;
}

interface Result {
    status: number | null;
    stdout: string;
    stderr: string;
}

function run(cmd: string, args: string[], timeoutMs = 60_000): Result {
    const r = childProcess.spawnSync(cmd, args, {
        cwd: repo,
        encoding: "utf8",
        timeout: timeoutMs,
        killSignal: "SIGTERM",
        stdio: ["ignore", "pipe", "pipe"],
    });
    if (r.error) throw new Error(`${cmd} ${args.join(" ")}: ${r.error.message}\n${r.stdout ?? ""}${r.stderr ?? ""}`);
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `bash scripts/lab.sh ARGS...` and returns its stdout; fails the test on a non-zero exit. */
function lab(args: string[], timeoutMs = STEP_TIMEOUT): string {
    const r = run("bash", [labScript, ...args], timeoutMs);
    assert.equal(r.status, 0, `lab.sh ${args.join(" ")} exited ${r.status}:\n${r.stdout}${r.stderr}`);
    return r.stdout;
}

/** Runs a remote shell command on a node (1-based master index or "lb") as kube, via `lab.sh ssh`. */
function onNode(node: string, command: string, timeoutMs = 30_000): string {
    return lab(["ssh", node, command], timeoutMs).trim();
}

function readLab(): LabJson {
    return JSON.parse(fs.readFileSync(labJsonPath, "utf8")) as LabJson;
}

function nodeArg(n: LabNode): string {
    return n.role === "lb" ? "lb" : n.name.slice(1);
}

/** The node's systemd-nspawn processes as "pid@starttime" (found in /proc): changes only if the node restarts. */
function nspawnOf(name: string): string[] {
    const found: string[] = [];
    for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
        try {
            if (fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== "systemd-nspawn") continue;
            const args = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
            if (!args.includes(`--machine=${name}`) || !args.some((a) => a.startsWith(`--directory=${runDir}/`))) continue;
            const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
            found.push(`${pid}@${stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]}`);
        } catch {
            // the process exited meanwhile
        }
    }
    return found;
}

/** Every trace of the lab on this machine, found independently of lab.sh. */
function leftovers(): string[] {
    const left: string[] = [];
    for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
        try {
            const comm = fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
            const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
            if (comm === "systemd-nspawn" && cmdline.some((a) => a.startsWith(`--directory=${runDir}/`)))
                left.push(`nspawn process ${pid}`);
        } catch {
            // the process exited meanwhile
        }
    }
    if (fs.existsSync("/run/netns")) {
        for (const ns of fs.readdirSync("/run/netns").filter((n) => n.startsWith("k8scp-"))) left.push(`network namespace ${ns}`);
    }
    for (const line of fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
        const f = line.split(" ");
        const sep = f.indexOf("-");
        if (f.length < 5 || sep < 0) continue;
        const [mountPoint, fsType, source] = [f[4], f[sep + 1], f[sep + 2]];
        const under = (d: string) => mountPoint === d || mountPoint.startsWith(`${d}/`);
        if (under(runDir) || under(dataDir) || (fsType === "overlay" && source.startsWith("k8scp-lab-"))) left.push(`mount ${mountPoint}`);
    }
    for (const h of fs.readdirSync("/sys/fs/cgroup")) {
        if (fs.existsSync(`/sys/fs/cgroup/${h}/k8scp-lab`)) left.push(`cgroup /sys/fs/cgroup/${h}/k8scp-lab`);
    }
    for (const n of allNodes) {
        if (fs.existsSync(`${dataDir}/${n}`)) left.push(`node data ${dataDir}/${n}`);
        if (fs.existsSync(`/run/systemd/nspawn/propagate/${n}`)) left.push(`/run/systemd/nspawn/propagate/${n}`);
    }
    if (fs.existsSync(runDir)) left.push(`runtime dir ${runDir}`);
    return left;
}

let firstHostKeys: Record<string, string> = {};

after(() => {
    // Leave the machine clean even when a test failed half-way.
    if (!skip) run("bash", [labScript, "down"], STEP_TIMEOUT);
});

test("up 3: lab.json lists three masters and the load balancer, with host keys", { skip, timeout: UP_TIMEOUT }, () => {
    lab(["up", "3"], UP_TIMEOUT);
    const l = readLab();
    assert.deepEqual(
        l.nodes.map((n) => [n.name, n.address, n.role]),
        [
            ["n1", "10.213.0.11", "master"],
            ["n2", "10.213.0.12", "master"],
            ["n3", "10.213.0.13", "master"],
            ["lb", "10.213.0.10", "lb"],
        ],
    );
    for (const n of l.nodes) assert.match(n.hostKey, /^ssh-ed25519 AAAA[A-Za-z0-9+/=]+$/, `${n.name} hostKey`);
    assert.equal(new Set(l.nodes.map((n) => n.hostKey)).size, l.nodes.length, "every node has its own host key");
    assert.equal(l.sshUser, "kube");
    assert.equal(l.controllerNamespace, "k8scp-ctl");
    assert.ok(fs.existsSync(l.sshKeyPath) && fs.existsSync(`${l.sshKeyPath}.pub`), `SSH key ${l.sshKeyPath}`);
    assert.equal(fs.statSync(l.sshKeyPath).mode & 0o077, 0, "the private key is not readable by others");
    firstHostKeys = Object.fromEntries(l.nodes.map((n) => [n.name, n.hostKey]));
});

test("every node runs systemd as PID 1 and kube has passwordless sudo", { skip, timeout: STEP_TIMEOUT }, () => {
    const ids: string[] = [];
    for (const n of readLab().nodes) {
        const out = onNode(
            nodeArg(n),
            "cat /proc/1/comm; id -un; sudo -n id -u; hostname; systemctl is-system-running || true; cat /etc/machine-id",
        ).split("\n");
        assert.equal(out.length, 6, `${n.name}: ${out.join(" | ")}`);
        const [pid1, user, sudoUid, hostname, state, machineId] = out;
        assert.equal(pid1, "systemd", `${n.name}: PID 1`);
        assert.equal(user, "kube", `${n.name}: SSH user`);
        assert.equal(sudoUid, "0", `${n.name}: sudo -n`);
        assert.equal(hostname, n.name, `${n.name}: hostname`);
        assert.match(state, /^(running|degraded)$/, `${n.name}: system state`);
        assert.match(machineId, /^[0-9a-f]{32}$/, `${n.name}: machine id`);
        ids.push(machineId);
    }
    assert.equal(new Set(ids).size, ids.length, "machine ids differ between nodes");
});

test("nodes reach each other and the controller namespace over the bridge", { skip, timeout: STEP_TIMEOUT }, () => {
    onNode("1", "ping -c 1 -W 2 10.213.0.12");
    onNode("2", "ping -c 1 -W 2 n3");
    onNode("lb", "ping -c 1 -W 2 10.213.0.11 && ping -c 1 -W 2 10.213.0.1");
    // The controller namespace (where the Pulumi CLI runs) reaches every node's SSH port.
    for (const n of readLab().nodes) lab(["exec", "timeout", "5", "bash", "-c", `exec 3<>/dev/tcp/${n.address}/22`], 30_000);
});

test("sshd on every node runs with Debian's defaults (only authentication set)", { skip, timeout: STEP_TIMEOUT }, () => {
    for (const n of readLab().nodes) {
        const effective = onNode(nodeArg(n), "sudo -n /usr/sbin/sshd -T");
        assert.match(effective, /^maxstartups 10:30:100$/m, `${n.name}: MaxStartups`);
        assert.match(effective, /^maxsessions 10$/m, `${n.name}: MaxSessions`);
        assert.match(effective, /^passwordauthentication no$/m, `${n.name}: PasswordAuthentication`);
    }
});

test("host keys in lab.json are the keys the nodes present", { skip, timeout: STEP_TIMEOUT }, () => {
    const l = readLab();
    const known = fs.readFileSync(l.knownHostsFile, "utf8");
    for (const n of l.nodes) {
        const scan = lab(["exec", "ssh-keyscan", "-T", "5", "-t", "ed25519", n.address], 30_000)
            .split("\n")
            .filter((s) => s.startsWith(`${n.address} `))
            .map((s) => s.split(" ").slice(1, 3).join(" "));
        assert.deepEqual(scan, [n.hostKey], `${n.name}: ssh-keyscan`);
        const onDisk = onNode(nodeArg(n), "cat /etc/ssh/ssh_host_ed25519_key.pub").split(" ").slice(0, 2).join(" ");
        assert.equal(onDisk, n.hostKey, `${n.name}: /etc/ssh/ssh_host_ed25519_key.pub`);
        assert.ok(known.split("\n").includes(`${n.address},${n.name} ${n.hostKey}`), `${n.name} in ${l.knownHostsFile}`);
        // Debian's three host key types, each in known_hosts.
        const all = lab(["exec", "ssh-keyscan", "-T", "5", "-t", "rsa,ecdsa,ed25519", n.address], 30_000)
            .split("\n")
            .filter((s) => s.startsWith(`${n.address} `))
            .map((s) => s.split(" ").slice(1, 3).join(" "));
        assert.deepEqual(
            all.map((k) => k.split(" ")[0]).sort(),
            ["ecdsa-sha2-nistp256", "ssh-ed25519", "ssh-rsa"],
            `${n.name}: host key types`,
        );
        for (const k of all)
            assert.ok(known.split("\n").includes(`${n.address},${n.name} ${k}`), `${n.name}: ${k.split(" ")[0]} in known_hosts`);
    }
});

test("a unit with Restart=always written over SSH comes back after its process is killed", { skip, timeout: STEP_TIMEOUT }, () => {
    const unit = "[Unit]\nDescription=k8scp lab test\n[Service]\nExecStart=/bin/sleep infinity\nRestart=always\nRestartSec=1\n";
    onNode("1", `printf '${unit}' | sudo -n tee /etc/systemd/system/${testUnit} >/dev/null && sudo -n systemctl daemon-reload`);
    onNode("1", `sudo -n systemctl enable --now ${testUnit} 2>&1`);
    const before = onNode("1", `systemctl show -p MainPID --value ${testUnit}`);
    assert.match(before, /^[1-9]\d*$/);
    onNode("1", `sudo -n kill -9 ${before}`);
    const after = onNode(
        "1",
        `for i in $(seq 1 100); do p=$(systemctl show -p MainPID --value ${testUnit}); ` +
            `if [ "$p" != 0 ] && [ "$p" != ${before} ] && systemctl is-active -q ${testUnit}; then echo $p; exit 0; fi; sleep 0.2; done; ` +
            `systemctl status ${testUnit}; exit 1`,
    );
    assert.match(after, /^[1-9]\d*$/, `restarted with a new MainPID: ${after}`);
    assert.notEqual(after, before);
    assert.equal(onNode("1", `systemctl show -p NRestarts --value ${testUnit}`), "1");
});

test("up is idempotent: up 4 adds n4 without restarting the others, up 3 stops it again", { skip, timeout: STEP_TIMEOUT }, () => {
    const kept = ["n1", "n2", "n3", "lb"];
    const marks = kept.map(nspawnOf);
    for (const [i, m] of marks.entries()) assert.equal(m.length, 1, `${kept[i]}: one nspawn process: ${m}`);
    lab(["up", "3"]);
    assert.deepEqual(kept.map(nspawnOf), marks, "up 3 on a running lab restarts nothing");
    lab(["up", "4"]);
    assert.deepEqual(
        readLab().nodes.map((n) => n.name),
        ["n1", "n2", "n3", "n4", "lb"],
    );
    assert.equal(onNode("4", "cat /proc/1/comm"), "systemd");
    onNode("4", "ping -c 1 -W 2 n1");
    assert.deepEqual(kept.map(nspawnOf), marks, "up 4 leaves n1..n3 and lb alone");
    lab(["up", "3"]);
    assert.deepEqual(
        readLab().nodes.map((n) => n.name),
        ["n1", "n2", "n3", "lb"],
    );
    assert.deepEqual(kept.map(nspawnOf), marks, "up 3 after up 4 leaves n1..n3 and lb alone");
    assert.ok(!fs.existsSync(`${dataDir}/n4`), "n4's writable layer is gone");
    assert.ok(!fs.existsSync("/run/netns/k8scp-n4"), "n4's network namespace is gone");
    assert.deepEqual(nspawnOf("n4"), [], "n4's nspawn is gone");
    const status = run("bash", [labScript, "status"]);
    assert.equal(status.status, 0, status.stdout + status.stderr);
    assert.equal(status.stdout.trim().split("\n").length, 4, status.stdout);
});

test("down stops every node and leaves nothing behind", { skip, timeout: STEP_TIMEOUT }, () => {
    lab(["down"]);
    assert.deepEqual(leftovers(), []);
    assert.ok(!fs.existsSync(labJsonPath), "lab.json is removed");
    const status = run("bash", [labScript, "status"]);
    assert.equal(status.status, 3, `status when down: ${status.stdout}${status.stderr}`);
    lab(["down"]); // a no-op when nothing runs
    assert.deepEqual(leftovers(), []);
});

test("up after down: same host keys, clean writable layer; down again leaves nothing", { skip, timeout: UP_TIMEOUT }, () => {
    lab(["up", "1"], UP_TIMEOUT);
    const l = readLab();
    assert.deepEqual(
        l.nodes.map((n) => n.name),
        ["n1", "lb"],
    );
    for (const n of l.nodes) assert.equal(n.hostKey, firstHostKeys[n.name], `${n.name}: host key kept across down/up`);
    assert.equal(onNode("1", `test -e /etc/systemd/system/${testUnit} && echo left || echo clean`), "clean");
    lab(["down"]);
    assert.deepEqual(leftovers(), []);
});
