// The CIS Kubernetes Benchmark items the library meets (README: CIS Kubernetes Benchmark), checked on what it renders,
// and the e2e suite's evaluator (test/lib/cis.ts) on a fixture built from those renderers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import {
    Component,
    encryptionConfigPath,
    flagName,
    kubeconfigPath,
    masterFlags,
    paths,
    renderArgs,
    securityFlags,
    serviceNames,
    tlsCipherSuites,
} from "../../components/render/flags";
import { eventRateLimits, renderAdmissionConfig, renderEncryptionConfig } from "../../components/render/policy";
import { masterServiceSpecs } from "../../components/render/services";
import { renderServiceScript, unitFileMode } from "../../components/render/scripts";
import { CisObservation, cisItems, cisProbeScript, evaluateCis, parseCisObservation, strongCipherSuites } from "../lib/cis";
import { labMasterSettings } from "./fixtures";

const input = labMasterSettings();
const pair = (id: string) => ({ certPem: `CERT ${id}`, privateKeyPem: `KEY ${id}` });
const specs = () =>
    masterServiceSpecs<string>({
        ...input,
        pem: {
            etcdCA: "CERT etcd-ca",
            kubernetesCA: pair("kubernetes-ca"),
            frontProxyCA: "CERT front-proxy-ca",
            serviceAccount: { publicKeyPem: "PUB sa", privateKeyPem: "KEY sa" },
            encryptionConfig: renderEncryptionConfig("a2V5"),
            etcdServer: pair("etcd-server"),
            etcdPeer: pair("etcd-peer"),
            etcdClient: pair("etcd-client"),
            apiserver: pair("apiserver"),
            kubeletClient: pair("kubelet-client"),
            frontProxyClient: pair("front-proxy-client"),
        },
        kubeconfigs: { controllerManager: "KUBECONFIG cm", scheduler: "KUBECONFIG sched" },
    });
const flagsOf = (c: Component) => Object.fromEntries(renderArgs(masterFlags(input)[c]).map((a) => /^--([^=]+)=(.*)$/.exec(a)!.slice(1, 3)));

test("API server: strong TLS 1.2 suites only, TLS 1.2 or later, DenyServiceExternalIPs and EventRateLimit (CIS 1.2.3, 1.2.9, 1.2.29)", () => {
    const f = flagsOf("apiserver");
    assert.equal(f["tls-min-version"], "VersionTLS12");
    const suites = f["tls-cipher-suites"].split(",");
    assert.ok(suites.length >= 4);
    for (const s of suites) assert.match(s, /^TLS_ECDHE_(ECDSA|RSA)_WITH_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$/, s);
    const plugins = f["enable-admission-plugins"].split(",");
    for (const p of ["DenyServiceExternalIPs", "EventRateLimit", "NodeRestriction"]) assert.ok(plugins.includes(p), p);
    assert.equal(f["admission-control-config-file"], "/etc/kubernetes/kube-apiserver/admission-config.yaml");
    // The file is written with the apiserver's other files.
    const file = specs().apiserver.files.find((x) => x.path === f["admission-control-config-file"]);
    assert.ok(file, "the admission config is one of the apiserver's files");
    assert.equal(file.content, renderAdmissionConfig());
});

test("etcd offers the same suites; the controller manager keeps a terminated-Pod threshold (CIS 1.3.1)", () => {
    assert.equal(flagsOf("etcd")["cipher-suites"], tlsCipherSuites.join(","));
    assert.equal(flagsOf("controllerManager")["terminated-pod-gc-threshold"], "12500");
    for (const c of ["controllerManager", "scheduler"] as const) assert.equal(flagsOf(c)["tls-cipher-suites"], tlsCipherSuites.join(","));
    for (const s of tlsCipherSuites) assert.ok(strongCipherSuites.includes(s), `${s} is one the benchmark accepts`);
});

test("the new security flags are security flags: extraArgs cannot change them without allowSecurityOverrides", () => {
    for (const f of ["tls-cipher-suites", "tls-min-version", "admission-control-config-file", "enable-admission-plugins"])
        assert.ok(securityFlags.apiserver.includes(f), `apiserver ${f}`);
    assert.ok(securityFlags.etcd.includes("cipher-suites"));
    for (const c of ["controllerManager", "scheduler"] as const)
        for (const f of ["tls-cipher-suites", "tls-min-version"]) assert.ok(securityFlags[c].includes(f), `${c} ${f}`);
    // Every flag the library sets that names TLS, ciphers or admission is guarded.
    for (const c of Object.keys(serviceNames) as Component[])
        for (const f of Object.keys(masterFlags(input)[c]).map(flagName))
            if (/tls|cipher|admission/.test(f)) assert.ok(securityFlags[c].includes(f), `${c} ${f} is guarded`);
});

test("the AdmissionConfiguration holds EventRateLimit's limits for the server, namespaces and users", () => {
    const doc = parse(renderAdmissionConfig()) as {
        apiVersion: string;
        kind: string;
        plugins: { name: string; configuration: { apiVersion: string; kind: string; limits: { type: string }[] } }[];
    };
    assert.equal(doc.apiVersion, "apiserver.config.k8s.io/v1");
    assert.equal(doc.kind, "AdmissionConfiguration");
    assert.deepEqual(
        doc.plugins.map((p) => p.name),
        ["EventRateLimit"],
    );
    assert.equal(doc.plugins[0].configuration.apiVersion, "eventratelimit.admission.k8s.io/v1alpha1");
    assert.deepEqual(doc.plugins[0].configuration.limits, eventRateLimits);
    assert.deepEqual(
        eventRateLimits.map((l) => l.type),
        ["Server", "Namespace", "User"],
    );
});

test("certificates, keys and kubeconfigs are 0600 (CIS 1.1.15, 1.1.17, 1.1.20, 1.1.21); units 0600 root (CIS 1.1.1-1.1.8)", () => {
    for (const s of Object.values(specs()))
        for (const f of s.files) {
            if (f.path.includes("/pki/") || f.path.endsWith("/kubeconfig")) assert.equal(f.mode, "0600", f.path);
        }
    assert.equal(unitFileMode, "0600");
    const script = renderServiceScript({
        name: "kube-scheduler",
        user: "kube-scheduler",
        unit: "[Unit]\n",
        binaries: [],
        files: [],
        health: { url: "https://10.0.0.1:10259/healthz" },
    });
    assert.match(script, /^put_file '\/etc\/systemd\/system\/kube-scheduler\.service' 0600 'root' text <<'K8SCP_TEXT'$/m);
});

/** What a master of the reference config has when the library's scripts ran: the fixture of the evaluator. */
function referenceObservation(): CisObservation {
    const flags: CisObservation["flags"] = {};
    const all = masterFlags(input);
    for (const [c, unit] of Object.entries(serviceNames))
        flags[unit] = Object.fromEntries(renderArgs(all[c as Component]).map((a) => /^--([^=]+)=(.*)$/.exec(a)!.slice(1, 3)));
    const files: CisObservation["files"] = {};
    for (const s of Object.values(specs())) {
        for (const f of s.files) files[f.path] = { mode: f.mode.replace(/^0/, ""), owner: `${s.service}:${s.service}` };
        files[`/etc/systemd/system/${s.service}.service`] = { mode: unitFileMode.replace(/^0/, ""), owner: "root:root" };
        for (const d of s.dataDirs ?? []) files[d] = { mode: "700", owner: `${s.service}:${s.service}` };
    }
    const provider = Object.keys(
        (parse(renderEncryptionConfig("a2V5")) as { resources: { providers: object[] }[] }).resources[0].providers[0],
    )[0];
    return {
        flags,
        files,
        sums: { "/etc/kubernetes/etcd/pki/etcd-ca.pem": "aa", "/etc/kubernetes/kube-apiserver/pki/ca.pem": "bb" },
        encryptionProvider: provider,
    };
}

test("CIS evaluator: the reference master meets every 'met' row; each deviation is reported by its item", () => {
    const o = referenceObservation();
    assert.deepEqual(evaluateCis(o), []);
    const broken = (f: (o: CisObservation) => void) => {
        const x = structuredClone(o);
        f(x);
        return evaluateCis(x).map((l) => l.split(":")[0]);
    };
    const api = serviceNames.apiserver;
    assert.deepEqual(
        broken((x) => (x.flags[api]!["enable-admission-plugins"] = "NodeRestriction,EventRateLimit")),
        ["1.2.3"],
    );
    assert.deepEqual(
        broken((x) => delete x.flags[api]!["admission-control-config-file"]),
        ["1.2.9"],
    );
    assert.deepEqual(
        broken((x) => (x.flags[api]!["tls-cipher-suites"] += ",TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA")),
        ["1.2.29"],
    );
    assert.deepEqual(
        broken((x) => (x.files["/etc/systemd/system/kube-apiserver.service"] = { mode: "644", owner: "root:root" })),
        ["1.1.1"],
    );
    assert.deepEqual(
        broken((x) => (x.files["/etc/systemd/system/etcd.service"] = { mode: "600", owner: "etcd:etcd" })),
        ["1.1.8"],
    );
    assert.deepEqual(
        broken((x) => (x.files["/etc/kubernetes/kube-apiserver/pki/ca.pem"].mode = "644")),
        ["1.1.20"],
    );
    assert.deepEqual(
        broken((x) => delete x.flags[serviceNames.controllerManager]!["terminated-pod-gc-threshold"]),
        ["1.3.1"],
    );
    assert.deepEqual(
        broken((x) => (x.sums["/etc/kubernetes/etcd/pki/etcd-ca.pem"] = x.sums["/etc/kubernetes/kube-apiserver/pki/ca.pem"])),
        ["2.7"],
    );
    assert.deepEqual(
        broken((x) => (x.encryptionProvider = "identity")),
        ["1.2.28"],
    );
    // A unit not running fails every row that reads its flags.
    assert.ok(broken((x) => delete x.flags[serviceNames.etcd]).filter((id) => id.startsWith("2.")).length === 7);
});

test("CIS probe: its output parses into flags, stats, sums and the encryption provider", () => {
    const stdout = [
        "arg kube-apiserver --profiling=false",
        "arg kube-apiserver --enable-admission-plugins=NodeRestriction,EventRateLimit",
        "arg kube-apiserver --allow-privileged",
        "ran kube-apiserver",
        "ran etcd",
        "stat 600 root:root /etc/systemd/system/kube-apiserver.service",
        "stat 700 etcd:etcd /var/lib/etcd",
        "sum 0123 /etc/kubernetes/etcd/pki/etcd-ca.pem",
        "enc secretbox",
        "",
    ].join("\n");
    assert.deepEqual(parseCisObservation(stdout), {
        flags: {
            "kube-apiserver": {
                profiling: "false",
                "enable-admission-plugins": "NodeRestriction,EventRateLimit",
                "allow-privileged": "true",
            },
            etcd: {},
        },
        files: {
            "/etc/systemd/system/kube-apiserver.service": { mode: "600", owner: "root:root" },
            "/var/lib/etcd": { mode: "700", owner: "etcd:etcd" },
        },
        sums: { "/etc/kubernetes/etcd/pki/etcd-ca.pem": "0123" },
        encryptionProvider: "secretbox",
    });
    const script = cisProbeScript();
    assert.equal(spawnSync("bash", ["-n"], { input: script }).status, 0, "bash -n");
    for (const p of [encryptionConfigPath, paths.etcdData, kubeconfigPath(serviceNames.scheduler)]) assert.ok(script.includes(p), p);
    assert.doesNotMatch(script, /cat .*encryption-config/, "the encryption key never leaves the host");
});

test("README's CIS table lists every item of the evaluator with the same status, and no other", () => {
    const readme = fs.readFileSync(path.join(__dirname, "..", "..", "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## CIS Kubernetes Benchmark"));
    assert.ok(section.length > 0 && readme.includes("## CIS Kubernetes Benchmark"), "the README has the section");
    const rows = [...section.matchAll(/^\| (\d+\.\d+(?:\.\d+)?) \| [^|]+ \| (met|not met|n\/a) \|/gm)].map((m) => `${m[1]} ${m[2]}`);
    assert.deepEqual(
        rows,
        cisItems.map((i) => `${i.id} ${i.status}`),
    );
    const ids = cisItems.map((i) => i.id);
    const range = (p: string, n: number) => Array.from({ length: n }, (_, k) => `${p}${k + 1}`);
    assert.deepEqual(ids, [...range("1.1.", 21), ...range("1.2.", 29), ...range("1.3.", 7), ...range("1.4.", 2), ...range("2.", 7)]);
});
