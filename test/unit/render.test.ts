import { test } from "node:test";
import assert from "node:assert/strict";
import {
    apiserverFlags,
    controllerManagerFlags,
    etcdFlags,
    renderArgs,
    schedulerFlags,
    tlsCipherSuites,
} from "../../components/render/flags";
import { renderHaproxyConfig } from "../../components/render/haproxy";
import { parseKubeconfig, renderKubeconfig } from "../../components/render/kubeconfig";
import { cidrsOverlap, nthAddress } from "../../components/render/network";
import { apiserverSans, defaultKeyAlgorithm, etcdMemberSans, kubernetesServiceIp, privateKeyArgs } from "../../components/render/pki";
import { healthCommand, renderFilesScript, renderServiceScript, serviceDirs } from "../../components/render/scripts";
import { labMasters } from "./fixtures";
import { quoteExecWord, renderUnit } from "../../components/render/systemd";

const members = labMasters();
const flag = (args: string[], name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

test("etcd flags: https peer and client URLs; the initial cluster is not a flag (the join step writes it)", () => {
    const a = renderArgs(etcdFlags({ self: members[1], clusterName: "kubernetes" }));
    assert.equal(flag(a, "name"), "n2");
    assert.equal(flag(a, "listen-client-urls"), "https://10.213.0.12:2379,https://127.0.0.1:2379");
    assert.equal(flag(a, "initial-advertise-peer-urls"), "https://10.213.0.12:2380");
    assert.equal(flag(a, "initial-cluster"), undefined);
    assert.equal(flag(a, "initial-cluster-token"), "kubernetes-etcd");
    assert.equal(flag(a, "client-cert-auth"), "true");
    assert.equal(flag(a, "peer-client-cert-auth"), "true");
    assert.equal(flag(a, "initial-cluster-state"), undefined);
});

test("apiserver flags: etcd over https, RBAC, service range, audit, apiserver count", () => {
    const a = renderArgs(
        apiserverFlags({
            address: "10.213.0.11",
            etcdMembers: members,
            serviceCidr: "10.68.0.0/16",
            clusterDomain: "cluster.local",
            apiserverCount: 3,
        }),
    );
    assert.equal(flag(a, "etcd-servers"), "https://10.213.0.11:2379,https://10.213.0.12:2379,https://10.213.0.13:2379");
    assert.equal(flag(a, "authorization-mode"), "Node,RBAC");
    assert.equal(flag(a, "service-cluster-ip-range"), "10.68.0.0/16");
    assert.equal(flag(a, "apiserver-count"), "3");
    assert.equal(flag(a, "endpoint-reconciler-type"), "lease");
    assert.match(flag(a, "enable-admission-plugins") ?? "", /(^|,)ServiceAccount(,|$)/);
    assert.equal(flag(a, "service-account-issuer"), "https://kubernetes.default.svc.cluster.local");
    assert.equal(flag(a, "audit-log-path"), "/var/log/kubernetes/kube-apiserver/audit.log");
    assert.equal(flag(a, "client-ca-file"), "/etc/kubernetes/kube-apiserver/pki/ca.pem");
    assert.deepEqual([...a].sort(), a, "flags are sorted so the unit text is stable");
});

test("controller-manager and scheduler flags as the runbooks set them", () => {
    const cm = renderArgs(
        controllerManagerFlags({
            address: "10.213.0.11",
            clusterCidr: "172.20.0.0/16",
            nodeCidrMaskSize: 24,
            clusterName: "kubernetes",
            serviceCidr: "10.68.0.0/16",
        }),
    );
    for (const [k, v] of Object.entries({
        "allocate-node-cidrs": "true",
        "cluster-cidr": "172.20.0.0/16",
        "node-cidr-mask-size": "24",
        "cluster-name": "kubernetes",
        "service-cluster-ip-range": "10.68.0.0/16",
        "use-service-account-credentials": "true",
        "leader-elect": "true",
        "cluster-signing-key-file": "/etc/kubernetes/kube-controller-manager/pki/ca-key.pem",
    })) {
        assert.equal(flag(cm, k), v, k);
    }
    const s = renderArgs(schedulerFlags({ address: "10.213.0.12" }));
    assert.equal(flag(s, "bind-address"), "10.213.0.12");
    assert.equal(flag(s, "leader-elect"), "true");
    assert.equal(flag(s, "kubeconfig"), flag(s, "authentication-kubeconfig"));
    assert.equal(flag(s, "kubeconfig"), flag(s, "authorization-kubeconfig"));
});

test("extraArgs override and add flags", () => {
    const a = renderArgs(schedulerFlags({ address: "10.0.0.1" }), { v: "4", "--profiling": "false" });
    assert.equal(flag(a, "v"), "4");
    assert.equal(flag(a, "profiling"), "false");
    assert.equal(a.filter((x) => x.startsWith("--v=")).length, 1);
});

test("units restart always, every 5 s, with a file limit and etcd ordering", () => {
    const u = renderUnit({
        description: "d",
        exec: "/usr/local/bin/kube-apiserver",
        args: ["--a=1", "--b=x y"],
        user: "kube-apiserver",
        type: "notify",
        after: ["etcd.service"],
        wants: ["etcd.service"],
    });
    assert.match(u, /^Restart=always$/m);
    assert.match(u, /^RestartSec=5$/m);
    assert.match(u, /^LimitNOFILE=65536$/m);
    assert.match(u, /^After=network-online.target etcd.service$/m);
    assert.match(u, /^Wants=network-online.target etcd.service$/m);
    assert.match(u, /^User=kube-apiserver$/m);
    assert.match(u, /^Type=notify$/m);
    assert.match(u, /"--b=x y"/);
    assert.match(u, /^WantedBy=multi-user.target$/m);
    assert.equal(quoteExecWord("100%"), "100%%");
    assert.equal(quoteExecWord('a"b c'), '"a\\"b c"');
    assert.equal(quoteExecWord("--a=b,c"), "--a=b,c");
});

test("ExecStart words: $ and % escaped for systemd, quoted with escapes when they hold spaces or quotes", () => {
    const args = renderArgs(schedulerFlags({ address: "10.213.0.12" }), { "log-file": '$HOME/%h "x" y', v: "3" });
    const unit = renderUnit({ description: "d", exec: "/usr/local/bin/kube-scheduler", args });
    const exec = unit.slice(unit.indexOf("ExecStart=") + "ExecStart=".length, unit.indexOf("\nRestart=")).split(" \\\n  ");
    const kc = "/etc/kubernetes/kube-scheduler/kubeconfig";
    assert.deepEqual(exec, [
        "/usr/local/bin/kube-scheduler",
        `--authentication-kubeconfig=${kc}`,
        `--authorization-kubeconfig=${kc}`,
        "--bind-address=10.213.0.12",
        `--kubeconfig=${kc}`,
        "--leader-elect=true",
        String.raw`"--log-file=$$HOME/%%h \"x\" y"`,
        "--profiling=false",
        "--secure-port=10259",
        `--tls-cipher-suites=${tlsCipherSuites.join(",")}`,
        "--tls-min-version=VersionTLS12",
        "--v=3",
    ]);
    assert.equal(quoteExecWord("--a=$x"), "--a=$$x");
    assert.equal(quoteExecWord("--a=b\\c"), String.raw`"--a=b\\c"`);
    assert.equal(quoteExecWord("--a=b\tc"), String.raw`"--a=b\x09c"`);
    assert.equal(quoteExecWord("--a="), "--a=");
    assert.equal(quoteExecWord(""), '""');
    // What systemd reads back (specifiers, then words with quotes and C escapes, then $$) is the word given.
    for (const w of ['--a=$HOME/%h "x" y', "--b=a'b;c", "--c=\\\\d\\", "--d=${X} $Y %% $$", ";", "--e=\u00e9 \n"])
        assert.equal(systemdReadsBack(quoteExecWord(w)), w, w);
});

/** A model of how systemd parses one ExecStart word: `%%`, then one word with quotes and C escapes, then `$$`. */
function systemdReadsBack(text: string): string {
    const s = text.replace(/%(.)/g, (_, c: string) => (c === "%" ? "%" : `<specifier ${c}>`));
    let out = "";
    let quoted = false;
    for (let i = 0; i < s.length; i++) {
        const c = s[i];
        if (c === '"') quoted = !quoted;
        else if (c === "\\") {
            const e = s[++i];
            if (e === "x") out += String.fromCharCode(parseInt(s.slice(i + 1, (i += 2) + 1), 16));
            else if (e === "u") out += String.fromCharCode(parseInt(s.slice(i + 1, (i += 4) + 1), 16));
            else out += e;
        } else if (!quoted && /\s/.test(c)) throw new Error(`word ends at ${i} in ${text}`);
        else out += c;
    }
    assert.ok(!quoted, `unterminated quote in ${text}`);
    return out.replace(/\$(.)/g, (_, c: string) => (c === "$" ? "$" : `<variable ${c}>`));
}

test("kubeconfig embeds CA, cert and key and parses back", () => {
    const spec = {
        clusterName: "kubernetes",
        server: "https://10.213.0.10:6443",
        caCertPem: "CA\n",
        userName: "admin",
        clientCertPem: "CERT\n",
        clientKeyPem: "KEY\n",
    };
    const text = renderKubeconfig(spec);
    const k = parseKubeconfig(text);
    assert.deepEqual(k, {
        ...spec,
        contextName: "default",
    });
    assert.doesNotMatch(text, /KEY\n/, "the key is base64 inside the YAML");
    assert.match(text, /^current-context: default$/m);
});

test("apiserver SANs cover the VIP, every master, loopback, the kubernetes Service IP and names", () => {
    const s = apiserverSans({
        vip: "10.213.0.10",
        masterAddresses: members.map((m) => m.address),
        masterNames: ["n1", "n2", "n3"],
        serviceCidr: "10.68.0.0/16",
        clusterDomain: "cluster.local",
    });
    assert.deepEqual(s.ipAddresses, ["10.213.0.10", "10.213.0.11", "10.213.0.12", "10.213.0.13", "127.0.0.1", "10.68.0.1"]);
    for (const n of ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"])
        assert.ok(s.dnsNames.includes(n), n);
    assert.equal(kubernetesServiceIp("10.96.0.0/12"), "10.96.0.1");
    assert.deepEqual(etcdMemberSans(members[0]), { dnsNames: ["n1", "localhost"], ipAddresses: ["10.213.0.11", "127.0.0.1"] });
});

test("key algorithms: the TLS provider's arguments of each", () => {
    assert.deepEqual(privateKeyArgs("ECDSA-P256"), { algorithm: "ECDSA", ecdsaCurve: "P256" });
    assert.deepEqual(privateKeyArgs("ECDSA-P384"), { algorithm: "ECDSA", ecdsaCurve: "P384" });
    assert.deepEqual(privateKeyArgs("RSA-2048"), { algorithm: "RSA", rsaBits: 2048 });
    assert.deepEqual(privateKeyArgs("RSA-4096"), { algorithm: "RSA", rsaBits: 4096 });
    assert.equal(defaultKeyAlgorithm, "ECDSA-P256");
});

test("CIDR math", () => {
    assert.equal(nthAddress("10.68.0.0/16", 1), "10.68.0.1");
    assert.equal(nthAddress("10.0.0.0/24", 256 - 1), "10.0.0.255");
    assert.throws(() => nthAddress("10.0.0.0/24", 256));
    assert.ok(cidrsOverlap("10.0.0.0/8", "10.1.0.0/16"));
    assert.ok(!cidrsOverlap("10.0.0.0/16", "10.1.0.0/16"));
});

test("service script: key material only as base64, modes, owner, health gate, delete removes everything", () => {
    const pem = (edge: string) => `-----${edge} RSA ${"PRIVATE"} KEY-----`; // a fake key, assembled so no key text is committed
    const secret = `${pem("BEGIN")}\nSECRETSECRET\n${pem("END")}\n`;
    const script = renderServiceScript({
        name: "kube-scheduler",
        user: "kube-scheduler",
        unit: "[Unit]\n",
        binaries: [{ name: "kube-scheduler", sha256: "ab".repeat(32) }],
        files: [
            { path: "/etc/kubernetes/kube-scheduler/kubeconfig", content: secret, mode: "0600" },
            { path: "/etc/kubernetes/kube-scheduler/pki/ca.pem", content: "CA" },
        ],
        health: { url: "https://10.0.0.1:10259/healthz" },
    });
    assert.ok(!script.includes("SECRETSECRET"), "no plaintext key in the script");
    assert.ok(script.includes(Buffer.from(secret).toString("base64").slice(0, 40)));
    assert.match(script, /put_file '\/etc\/kubernetes\/kube-scheduler\/kubeconfig' 0600 'kube-scheduler'/);
    assert.match(script, /put_file '\/etc\/kubernetes\/kube-scheduler\/pki\/ca.pem' 0644 'kube-scheduler'/);
    assert.match(script, /useradd --system/);
    assert.match(script, /systemctl restart "\$svc.service"/);
    assert.match(script, /curl -fsS --max-time 3 -o \/dev\/null --insecure https:\/\/10.0.0.1:10259\/healthz/);
    assert.match(script, /rm -rf '\/etc\/kubernetes\/kube-scheduler'/);
    assert.match(script, /userdel "\$user"/);
    assert.match(script, /rmdir --ignore-fail-on-non-empty '\/etc\/kubernetes' '\/var\/log\/kubernetes'/);
    assert.doesNotMatch(script, /set -x|tee /);
    assert.deepEqual(serviceDirs([{ path: "/etc/kubernetes/a/pki/x", content: "" }]), ["/etc/kubernetes/a", "/etc/kubernetes/a/pki"]);
    assert.equal(healthCommand({ url: "tcp://127.0.0.1:6443" }), `timeout 3 bash -c '</dev/tcp/127.0.0.1/6443'`);
});

test("split service: the files script owns user, files and data dirs; the service script reads as plain text", () => {
    const pem = (edge: string) => `-----${edge} EC ${"PRIVATE"} KEY-----`;
    const secret = `${pem("BEGIN")}\nSECRETSECRET\n${pem("END")}\n`;
    const files = renderFilesScript({
        name: "etcd",
        user: "etcd",
        files: [{ path: "/etc/kubernetes/etcd/pki/etcd-server-key.pem", content: secret, mode: "0600" }],
        dataDirs: ["/var/lib/etcd"],
    });
    assert.ok(!files.includes("SECRETSECRET"), "no plaintext key in the files script");
    assert.match(files, /put_file '\/etc\/kubernetes\/etcd\/pki\/etcd-server-key.pem' 0600 'etcd' <<'K8SCP_EOF'/);
    assert.match(files, /useradd --system/);
    assert.match(files, /install -d -m 0700 -o "\$user" -g "\$user" '\/var\/lib\/etcd'/);
    assert.doesNotMatch(files, /systemctl (restart|start|enable)/, "writing files never (re)starts the service");
    assert.match(files, /rm -rf '\/var\/lib\/etcd'/);
    assert.match(files, /userdel "\$user"/);

    const unit = "[Service]\nExecStart=/usr/local/bin/etcd \\\n  --name=n1\n";
    const service = renderServiceScript({
        name: "etcd",
        user: "etcd",
        unit,
        binaries: [{ name: "etcd", sha256: "cd".repeat(32) }],
        files: [],
        ownsUser: false,
        filesRevision: "ef".repeat(32),
        health: { url: "https://10.0.0.1:2379/health" },
    });
    assert.ok(service.includes(`<<'K8SCP_TEXT'\n${unit}K8SCP_TEXT`), "the unit is in the script as plain text");
    assert.match(service, new RegExp(`^# files revision: ${"ef".repeat(32)}$`, "m"));
    assert.doesNotMatch(service, /useradd|userdel|rm -rf/, "the service script leaves user and files to the files script");
    assert.match(service, /systemctl restart "\$svc.service"/);
    // A unit whose text could end the heredoc falls back to base64.
    const odd = renderServiceScript({
        name: "x",
        user: "root",
        unit: "K8SCP_TEXT\n",
        binaries: [],
        files: [],
        health: { url: "tcp://127.0.0.1:1" },
    });
    assert.doesNotMatch(odd, /<<'K8SCP_TEXT'/);
});

test("HAProxy sends TCP to every apiserver, checked on /readyz", () => {
    const cfg = renderHaproxyConfig({ port: 6443, backends: members });
    assert.match(cfg, /bind \*:6443/);
    assert.match(cfg, /option httpchk GET \/readyz/);
    for (const m of members) assert.match(cfg, new RegExp(`server ${m.name} ${m.address.replace(/\./g, "\\.")}:6443 check check-ssl`));
    // A draining API server is marked down while it still serves: its sessions must not be killed then.
    assert.doesNotMatch(cfg, /shutdown-sessions/);
});
