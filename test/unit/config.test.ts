import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { createHash, createHmac, generateKeyPairSync } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { labConfig } from "./fixtures";
import {
    checkConfig,
    closestKey,
    ConfigError,
    hostKeyFromKnownHosts,
    hostKeysFromKnownHosts,
    isRsaHostKey,
    rawConfigFromPulumi,
    strongestHostKey,
    validateConfig,
} from "../../components/config";
import { renderArgs } from "../../components/render/flags";
import {
    binDirProblems,
    fingerprint,
    pinFromKnownHosts,
    privateKeyProblem,
    probeSsh,
    readPrivateKey,
    sshGreeting,
    sshHosts,
} from "../../components/host/preflight";

// PEM markers assembled at run time, so that no key-looking text is committed.
const BEGIN_OPENSSH = `-----BEGIN OPENSSH ${"PRIVATE"} KEY-----`;
const END_OPENSSH = `-----END OPENSSH ${"PRIVATE"} KEY-----`;

const base = labConfig;
type Raw = ReturnType<typeof base> & Record<string, unknown>;

function problems(raw: unknown): string[] {
    try {
        validateConfig(raw);
    } catch (e) {
        assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
        return e.problems;
    }
    assert.fail("config was accepted");
}

test("a valid config gets the runbooks' defaults", () => {
    const c = validateConfig(base());
    assert.equal(c.serviceCidr, "10.68.0.0/16");
    assert.equal(c.clusterCidr, "172.20.0.0/16");
    assert.equal(c.nodeCidrMaskSize, 24);
    assert.equal(c.clusterDomain, "cluster.local");
    assert.equal(c.loadBalancer.port, 6443);
    assert.equal(c.masters[0].sshUser, "kube");
    assert.equal(c.masters[0].sshPort, 22);
    assert.equal(c.certValidityHours, 8760);
    assert.deepEqual(c.scheduler.extraArgs, {});
    // Neither the CA key nor the break-glass kubeconfig is an output unless asked for.
    assert.equal(c.exportCaKey, false);
    assert.equal(c.exportSuperAdminKubeconfig, false);
});

// Each mutation of a valid config, and exactly the lines a user gets for it.
const cases: [string, (c: Raw) => void, string[]][] = [
    [
        "invalid master IP",
        (c) => (c.masters[1].address = "10.213.0.300"),
        ["k8scp:masters[1].address: '10.213.0.300' is not an IP address; use one like 10.213.0.11"],
    ],
    [
        "invalid VIP",
        (c) => (c.loadBalancer.address = "vip"),
        ["k8scp:loadBalancer.address: 'vip' is not an IP address; use one like 10.213.0.11"],
    ],
    [
        "invalid CIDR",
        (c) => (c.serviceCidr = "10.68.0.0/33"),
        ["k8scp:serviceCidr: '10.68.0.0/33' is not a CIDR; use one like 10.68.0.0/16"],
    ],
    [
        "CIDR with host bits",
        (c) => (c.clusterCidr = "172.20.0.1/16"),
        ["k8scp:clusterCidr: '172.20.0.1/16' has host bits set; use the network address 172.20.0.0/16"],
    ],
    [
        "overlapping CIDRs",
        (c) => (c.clusterCidr = "10.68.128.0/17"),
        [
            "k8scp:serviceCidr: 10.68.0.0/16 overlaps k8scp:clusterCidr 10.68.128.0/17; Service IPs and Pod IPs need disjoint ranges (e.g. 10.68.0.0/16 and 172.20.0.0/16)",
        ],
    ],
    [
        "service CIDR containing the hosts",
        (c) => (c.serviceCidr = "10.213.0.0/16"),
        [
            "k8scp:serviceCidr: 10.213.0.0/16 contains k8scp:masters[0].address 10.213.0.11; pick a range that does not include host addresses",
            "k8scp:serviceCidr: 10.213.0.0/16 contains k8scp:masters[1].address 10.213.0.12; pick a range that does not include host addresses",
            "k8scp:serviceCidr: 10.213.0.0/16 contains k8scp:masters[2].address 10.213.0.13; pick a range that does not include host addresses",
            "k8scp:serviceCidr: 10.213.0.0/16 contains the VIP 10.213.0.10; pick a range that does not include it",
        ],
    ],
    [
        "a Service range larger than 2^20",
        (c) => (c.serviceCidr = "10.64.0.0/10"),
        [
            "k8scp:serviceCidr: 10.64.0.0/10 is too large; kube-apiserver allows at most 2^20 Service addresses (a /12 for IPv4, a /108 for IPv6)",
        ],
    ],
    [
        "duplicate names",
        (c) => (c.masters[2].name = "n1"),
        ["k8scp:masters[2].name: 'n1' is also used by k8scp:masters[0]; every master needs its own name"],
    ],
    [
        "duplicate addresses",
        (c) => (c.masters[2].address = "10.213.0.12"),
        ["k8scp:masters[2].address: '10.213.0.12' is also used by k8scp:masters[1]; every master needs its own address"],
    ],
    [
        "even master count",
        (c) => c.masters.pop(),
        [
            "k8scp:masters: 2 masters tolerate 0 failed member(s), the same as 1; use an odd count (3 or 5), or set k8scp:allowEvenMasters: true to accept it",
        ],
    ],
    [
        "zero masters",
        (c) => c.masters.splice(0),
        ["k8scp:masters: needs at least one master; use 3 or 5 for a highly available control plane"],
    ],
    [
        "VIP equal to a master",
        (c) => (c.loadBalancer.address = "10.213.0.12"),
        ["k8scp:loadBalancer.address: the VIP 10.213.0.12 equals k8scp:masters[1].address; give the load balancer its own address"],
    ],
    [
        "load balancer named like a master",
        (c) => ((c.loadBalancer as Record<string, unknown>).name = "n2"),
        ["k8scp:loadBalancer.name: 'n2' is also a master name; choose another"],
    ],
    [
        "missing SSH key",
        (c) => delete (c as Record<string, unknown>).sshPrivateKeyPath,
        [
            "k8scp:sshPrivateKey: missing; set the SSH key with pulumi config set --secret k8scp:sshPrivateKey < ~/.ssh/id_ed25519, or its path with pulumi config set k8scp:sshPrivateKeyPath ~/.ssh/id_ed25519",
        ],
    ],
    [
        "missing version",
        (c) => delete (c as Record<string, unknown>).kubernetesVersion,
        ["k8scp:kubernetesVersion: missing; e.g. pulumi config set k8scp:kubernetesVersion 1.34.4"],
    ],
    [
        "a release too old for the anonymous health-path config",
        (c) => (c.kubernetesVersion = "1.31.9"),
        [
            "k8scp:kubernetesVersion: '1.31.9' is older than 1.32, the first release whose AuthenticationConfiguration limits anonymous requests to the health paths; use 1.32 or later",
        ],
    ],
    [
        "missing master address",
        (c) => delete (c.masters[1] as Record<string, unknown>).address,
        ["k8scp:masters[1].address: missing; e.g. pulumi config set --path 'k8scp:masters[1].address' 10.213.0.11"],
    ],
    ["unknown key", (c) => (c.mastrs = []), ["k8scp:mastrs: unknown key; did you mean k8scp:masters?"]],
    [
        "bad master name",
        (c) => (c.masters[0].name = "Master_1"),
        ["k8scp:masters[0].name: 'Master_1' is not a DNS label; use lower-case letters, digits and '-', e.g. n1"],
    ],
    [
        "node mask not longer than cluster prefix",
        (c) => (c.nodeCidrMaskSize = 16),
        ["k8scp:nodeCidrMaskSize: 16 must be longer than the prefix of k8scp:clusterCidr (/16), e.g. 24 for a /16"],
    ],
    ["node mask out of range", (c) => (c.nodeCidrMaskSize = 40), ["k8scp:nodeCidrMaskSize: 40 must be at most 30, e.g. 24"]],
    [
        "bad host key",
        (c) => ((c.masters[0] as Record<string, unknown>).hostKey = "AAAA"),
        [
            "k8scp:masters[0].hostKey: 'AAAA' is not an SSH public host key line like 'ssh-ed25519 AAAA...' (ssh-keyscan -t ed25519 HOST prints it)",
        ],
    ],
    [
        "renewal window not shorter than validity",
        (c) => ((c.certValidityHours = 2), (c.certEarlyRenewalHours = 2)),
        ["k8scp:certEarlyRenewalHours: 2 h is not shorter than k8scp:certValidityHours 2 h; certificates would be renewed on every run"],
    ],
    [
        "an unknown key algorithm",
        (c) => (c.keyAlgorithm = "RSA-1024"),
        ["k8scp:keyAlgorithm: 'RSA-1024' is not a key algorithm; use one of ECDSA-P256, ECDSA-P384, RSA-2048, RSA-3072, RSA-4096"],
    ],
    [
        "an IPv6 master address",
        (c) => (c.masters[1].address = "fd00::12"),
        ["k8scp:masters[1].address: 'fd00::12' is an IPv6 address: IPv6 is not supported yet; use an IPv4 address like 10.213.0.11"],
    ],
    [
        "an IPv6 VIP",
        (c) => (c.loadBalancer.address = "fd00::10"),
        ["k8scp:loadBalancer.address: 'fd00::10' is an IPv6 address: IPv6 is not supported yet; use an IPv4 address like 10.213.0.11"],
    ],
    [
        "an extraArgs key that is not a flag name",
        (c) => (c.apiserver = { extraArgs: { "--V=3": "3", "max requests": "10" } }),
        [
            "k8scp:apiserver.extraArgs.--V=3: the key is not a flag name (lower-case letters, digits and '-'); use the name alone, e.g. v or --v, and put the value in the value",
            "k8scp:apiserver.extraArgs.max requests: the key is not a flag name (lower-case letters, digits and '-'); use the name alone, e.g. v or --v, and put the value in the value",
        ],
    ],
    [
        "an extraArgs value with a newline",
        (c) => (c.scheduler = { extraArgs: { "log-file": "/var/log/x\nExecStartPre=/bin/sh -c id", v: "2\r" } }),
        [
            "k8scp:scheduler.extraArgs.log-file: '/var/log/x...' contains a control character (a newline, carriage return, NUL or the like); each flag is one line of the systemd unit, and a broken unit would stop the rolling update with a master down; give the value on one line",
            "k8scp:scheduler.extraArgs.v: '2\r' contains a control character (a newline, carriage return, NUL or the like); each flag is one line of the systemd unit, and a broken unit would stop the rolling update with a master down; give the value on one line",
        ],
    ],
    [
        "a security flag changed without opting in",
        (c) => (c.apiserver = { extraArgs: { "anonymous-auth": true, "--authorization-mode": "AlwaysAllow", v: 4 } }),
        [
            "k8scp:apiserver.extraArgs.anonymous-auth: 'true' overrides a security flag of kube-apiserver, which the library does not set; remove it (pulumi config rm --path k8scp:apiserver.extraArgs.anonymous-auth), or accept the risk by naming it in k8scp:allowSecurityOverrides: pulumi config set --path 'k8scp:allowSecurityOverrides[0]' apiserver.anonymous-auth",
            "k8scp:apiserver.extraArgs.--authorization-mode: 'AlwaysAllow' overrides a security flag of kube-apiserver, which the library sets to 'Node,RBAC'; remove it (pulumi config rm --path k8scp:apiserver.extraArgs.--authorization-mode), or accept the risk by naming it in k8scp:allowSecurityOverrides: pulumi config set --path 'k8scp:allowSecurityOverrides[0]' apiserver.authorization-mode",
        ],
    ],
    [
        "a per-master security flag changed, with another flag opted in",
        (c) => ((c.controllerManager = { extraArgs: { "bind-address": "0.0.0.0" } }), (c.allowSecurityOverrides = ["etcd.auto-tls"])),
        [
            "k8scp:controllerManager.extraArgs.bind-address: '0.0.0.0' overrides a security flag of kube-controller-manager, which the library sets per master, e.g. to '10.213.0.11' on n1; remove it (pulumi config rm --path k8scp:controllerManager.extraArgs.bind-address), or accept the risk by naming it in k8scp:allowSecurityOverrides: pulumi config set --path 'k8scp:allowSecurityOverrides[1]' controllerManager.bind-address",
        ],
    ],
    [
        "an opt-in that names no security flag, or is not a service and flag",
        (c) => (c.allowSecurityOverrides = ["apiserver.anonymus-auth", "scheduler.v", "kube-apiserver.profiling", 3]),
        [
            "k8scp:allowSecurityOverrides[2]: 'kube-apiserver.profiling' is not a service and flag like apiserver.anonymous-auth (the service is one of etcd, apiserver, controllerManager, scheduler)",
            "k8scp:allowSecurityOverrides[3]: expected a string, got the number 3; set it as a string: pulumi config set --path --type string 'k8scp:allowSecurityOverrides[3]' 3",
            "k8scp:allowSecurityOverrides[0]: 'apiserver.anonymus-auth' is not a security flag of kube-apiserver; did you mean apiserver.anonymous-auth?",
            "k8scp:allowSecurityOverrides[1]: 'scheduler.v' is not a security flag of kube-scheduler; extraArgs may set it without opting in; remove it",
        ],
    ],
    [
        "the TLS suites, the TLS version and the admission config changed without opting in (CIS 1.2.9, 1.2.29)",
        (c) => (
            (c.apiserver = {
                extraArgs: {
                    "tls-cipher-suites": "TLS_RSA_WITH_AES_128_CBC_SHA",
                    "tls-min-version": "VersionTLS10",
                    "admission-control-config-file": "/tmp/a.yaml",
                },
            }),
            (c.etcd = { extraArgs: { "cipher-suites": "TLS_RSA_WITH_AES_128_CBC_SHA" } })
        ),
        [
            "k8scp:etcd.extraArgs.cipher-suites: 'TLS_RSA_WITH_AES_128_CBC_SHA' overrides a security flag of etcd, which the library sets to 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256'; remove it (pulumi config rm --path k8scp:etcd.extraArgs.cipher-suites), or accept the risk by naming it in k8scp:allowSecurityOverrides: pulumi config set --path 'k8scp:allowSecurityOverrides[0]' etcd.cipher-suites",
            "k8scp:apiserver.extraArgs.tls-cipher-suites: 'TLS_RSA_WITH_AES_128_CBC_SHA' overrides a security flag of kube-apiserver, which the library sets to 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256'; remove it (pulumi config rm --path k8scp:apiserver.extraArgs.tls-cipher-suites), or accept the risk by naming it in k8scp:allowSecurityOverrides: pulumi config set --path 'k8scp:allowSecurityOverrides[0]' apiserver.tls-cipher-suites",
            "k8scp:apiserver.extraArgs.tls-min-version: 'VersionTLS10' overrides a security flag of kube-apiserver, which the library sets to 'VersionTLS12'; remove it (pulumi config rm --path k8scp:apiserver.extraArgs.tls-min-version), or accept the risk by naming it in k8scp:allowSecurityOverrides: pulumi config set --path 'k8scp:allowSecurityOverrides[0]' apiserver.tls-min-version",
            "k8scp:apiserver.extraArgs.admission-control-config-file: '/tmp/a.yaml' overrides a security flag of kube-apiserver, which the library sets to '/etc/kubernetes/kube-apiserver/admission-config.yaml'; remove it (pulumi config rm --path k8scp:apiserver.extraArgs.admission-control-config-file), or accept the risk by naming it in k8scp:allowSecurityOverrides: pulumi config set --path 'k8scp:allowSecurityOverrides[0]' apiserver.admission-control-config-file",
        ],
    ],
    [
        "a managed load balancer on a privileged port (HAProxy runs without capabilities)",
        (c) => ((c.loadBalancer as Record<string, unknown>).port = 443),
        [
            "k8scp:loadBalancer.port: 443 is a privileged port; the load balancer's HAProxy runs as an unprivileged user without capabilities; use a port of 1024 or above, e.g. 6443 (or manage: false for a load balancer of your own)",
        ],
    ],
    [
        "an opt-in list that is not a list",
        (c) => (c.allowSecurityOverrides = "apiserver.profiling"),
        [
            "k8scp:allowSecurityOverrides: expected a list, got the string 'apiserver.profiling'; remove it (pulumi config rm k8scp:allowSecurityOverrides), then e.g. pulumi config set --path 'k8scp:allowSecurityOverrides[0]' apiserver.anonymous-auth",
        ],
    ],
];

for (const [name, mutate, expected] of cases) {
    test(`rejects ${name}: the key, what is wrong, the fix`, () => {
        const c = base() as Raw;
        mutate(c);
        assert.deepEqual(problems(c), expected);
    });
}

test("snapshot directories: only a dedicated, normalised path two levels deep or more", () => {
    const dirProblem = (dir: string) => checkConfig({ ...base(), etcdSnapshots: { dir } }).problems;
    const use = "use a dedicated directory such as /var/lib/etcd-snapshots";
    const refused: [string, string][] = [
        ["/", `is a system directory and holds /etc/kubernetes, which Pulumi manages; ${use}`],
        ["/home", `is a system directory; ${use}`],
        ["/var/lib", `is a system directory and holds /var/lib/etcd, which Pulumi manages; ${use}`],
        ["/usr/local", `is a system directory; ${use}`],
        ["/var/log", `is a system directory and holds /var/log/kubernetes, which Pulumi manages; ${use}`],
        ["/etc/../var/lib/etcd", `is not a normalised path (it has a '.' or '..' part, '//' or a trailing '/'); ${use}`],
        ["/var/lib/./etcd-snapshots", `is not a normalised path (it has a '.' or '..' part, '//' or a trailing '/'); ${use}`],
        ["/var//lib/etcd-snapshots", `is not a normalised path (it has a '.' or '..' part, '//' or a trailing '/'); ${use}`],
        ["/var/lib/etcd-snapshots/", `is not a normalised path (it has a '.' or '..' part, '//' or a trailing '/'); ${use}`],
        ["/var/lib/etcd", `is inside a directory Pulumi manages (/var/lib/etcd); ${use}`],
        ["/etc/kubernetes/snapshots", `is inside a directory Pulumi manages (/etc/kubernetes); ${use}`],
        ["/var/lib/k8scp", `is inside a directory Pulumi manages (/var/lib/k8scp); ${use}`],
        ["/tmp/etcd", `is under /tmp, temporary space, private to each sandboxed service; ${use}`],
        ["/var/tmp/etcd", `is under /var/tmp, temporary space, private to each sandboxed service; ${use}`],
        ["/run/etcd", `is under /run, a runtime file system, emptied at boot; ${use}`],
        ["/proc/1", `is under /proc, a kernel file system; ${use}`],
        ["/dev/shm", `is under /dev, a kernel file system; ${use}`],
        ["/usr/local/etcd", `is under /usr, part of the operating system, read-only to the sandboxed snapshot service; ${use}`],
        ["/lib64/etcd", `is under /lib64, part of the operating system, read-only to the sandboxed snapshot service; ${use}`],
        ["/home/kube", `is under /home, home directories, hidden from the sandboxed snapshot service; ${use}`],
        ["/root/etcd", `is under /root, home directories, hidden from the sandboxed snapshot service; ${use}`],
        ["/etc/ssh", `is under /etc, meant for configuration, not data; ${use}`],
        ["/backup", `is a top-level directory; ${use}, two levels deep or more`],
        ["var/lib/etcd-snapshots", "is not an absolute path like /var/lib/etcd-snapshots"],
    ];
    for (const [dir, why] of refused) assert.deepEqual(dirProblem(dir), [`k8scp:etcdSnapshots.dir: '${dir}' ${why}`], dir);
    for (const dir of ["/var/lib/etcd-snapshots", "/srv/etcd-snapshots", "/backup/etcd", "/var/backups/etcd", "/opt/etcd/snapshots"])
        assert.deepEqual(dirProblem(dir), [], dir);
});

test("a security flag changed under allowSecurityOverrides is a warning; the library's own value needs no opt-in", () => {
    const c = {
        ...base(),
        apiserver: { extraArgs: { "--anonymous-auth": "true", profiling: false, "authorization-mode": "Node,RBAC", v: 4 } },
        etcd: { extraArgs: { "client-cert-auth": true } },
        allowSecurityOverrides: ["apiserver.--anonymous-auth"],
    };
    const r = checkConfig(c);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.warnings, [
        "k8scp:apiserver.extraArgs.--anonymous-auth: 'true' overrides a security flag of kube-apiserver, which the library does not set; allowed by k8scp:allowSecurityOverrides",
    ]);
    assert.deepEqual(checkConfig(base()).warnings, []);
});

test("secret extraArgs are refused: the unit would carry them in plain text", () => {
    const all = {
        "k8scp:masters": JSON.stringify(base().masters),
        "k8scp:loadBalancer": '{"address":"10.213.0.10"}',
        "k8scp:kubernetesVersion": "1.34.4",
        "k8scp:sshPrivateKey": "key text",
        "k8scp:apiserver": '{"extraArgs":{"oidc-client-secret":"s3cret"}}',
        "k8scp:scheduler": '{"extraArgs":{"v":3}}',
    };
    const secret = new Set(["k8scp:sshPrivateKey", "k8scp:apiserver"]);
    const p = checkConfig(rawConfigFromPulumi(all, (k) => secret.has(k))).problems;
    assert.deepEqual(p, [
        "k8scp:apiserver: holds a secret (set with --secret); extraArgs values are written into the systemd unit, readable to anyone who can read the unit, and shown in the preview; keep secrets in files on the masters, pass the file's path as the flag value, and set k8scp:apiserver without --secret",
    ]);
    assert.ok(!p.join("\n").includes("s3cret"), "the secret value is never printed");
    assert.deepEqual(checkConfig(rawConfigFromPulumi(all, () => false)).problems, []);
    // Outside a Pulumi run the SDK lists no secret keys.
    assert.deepEqual(checkConfig(rawConfigFromPulumi(all)).problems, []);
});

test("the values that reach the hosts are checked in the same pass as the rest", () => {
    const c = base() as Raw;
    c.masters[2].address = "fd00::13";
    c.etcdSnapshots = { dir: "/var/lib" };
    c.scheduler = { extraArgs: { "bind-address": "0.0.0.0", "log-file": "a\nb" } };
    c.serviceCidr = "10.68.0.0/33";
    assert.deepEqual(problems(c), [
        "k8scp:masters[2].address: 'fd00::13' is an IPv6 address: IPv6 is not supported yet; use an IPv4 address like 10.213.0.11",
        "k8scp:serviceCidr: '10.68.0.0/33' is not a CIDR; use one like 10.68.0.0/16",
        "k8scp:etcdSnapshots.dir: '/var/lib' is a system directory and holds /var/lib/etcd, which Pulumi manages; use a dedicated directory such as /var/lib/etcd-snapshots",
        "k8scp:scheduler.extraArgs.log-file: 'a...' contains a control character (a newline, carriage return, NUL or the like); each flag is one line of the systemd unit, and a broken unit would stop the rolling update with a master down; give the value on one line",
        "k8scp:scheduler.extraArgs.bind-address: '0.0.0.0' overrides a security flag of kube-scheduler, which the library sets per master, e.g. to '10.213.0.11' on n1; remove it (pulumi config rm --path k8scp:scheduler.extraArgs.bind-address), or accept the risk by naming it in k8scp:allowSecurityOverrides: pulumi config set --path 'k8scp:allowSecurityOverrides[0]' scheduler.bind-address",
    ]);
});

test("even masters are accepted when explicitly allowed", () => {
    const c = base();
    c.masters.pop();
    assert.equal(validateConfig({ ...c, allowEvenMasters: true }).masters.length, 2);
});

test("every problem is reported at once: field, unknown key and cross-field together", () => {
    const c = base() as Raw;
    c.masters[1].address = "10.213.0.300";
    c.masterz = "x";
    c.clusterCidr = "10.68.128.0/17";
    assert.deepEqual(problems(c), [
        "k8scp:masters[1].address: '10.213.0.300' is not an IP address; use one like 10.213.0.11",
        "k8scp:masterz: unknown key; did you mean k8scp:masters?",
        "k8scp:serviceCidr: 10.68.0.0/16 overlaps k8scp:clusterCidr 10.68.128.0/17; Service IPs and Pod IPs need disjoint ranges (e.g. 10.68.0.0/16 and 172.20.0.0/16)",
    ]);
});

test("cross-field checks run as far as the fields they read are valid", () => {
    const c = base() as Raw;
    c.masters[0].address = "nope"; // invalid: left out of the address checks, not out of the name checks
    c.masters[2].name = "n2";
    c.loadBalancer.address = "10.213.0.13";
    c.clusterCidr = "bad"; // invalid: no overlap check, but serviceCidr's own checks still run
    c.serviceCidr = "10.213.0.0/24";
    c.certValidityHours = "x" as unknown as number; // invalid: no renewal-window check
    assert.deepEqual(problems(c), [
        "k8scp:masters[0].address: 'nope' is not an IP address; use one like 10.213.0.11",
        "k8scp:masters[2].name: 'n2' is also used by k8scp:masters[1]; every master needs its own name",
        "k8scp:loadBalancer.address: the VIP 10.213.0.13 equals k8scp:masters[2].address; give the load balancer its own address",
        "k8scp:serviceCidr: 10.213.0.0/24 contains k8scp:masters[1].address 10.213.0.12; pick a range that does not include host addresses",
        "k8scp:serviceCidr: 10.213.0.0/24 contains k8scp:masters[2].address 10.213.0.13; pick a range that does not include host addresses",
        "k8scp:serviceCidr: 10.213.0.0/24 contains the VIP 10.213.0.13; pick a range that does not include it",
        "k8scp:clusterCidr: 'bad' is not a CIDR; use one like 10.68.0.0/16",
        "k8scp:certValidityHours: expected a whole number, got the string 'x'; e.g. pulumi config set k8scp:certValidityHours 8760",
    ]);
});

test("scalars set with --path: numbers and booleans are flag values, rendered as text", () => {
    const c = validateConfig({
        ...base(),
        scheduler: { extraArgs: { v: 3, profiling: false, "bind-address": "0.0.0.0" } },
        allowSecurityOverrides: ["scheduler.bind-address"],
    });
    assert.deepEqual(c.scheduler.extraArgs, { v: "3", profiling: "false", "bind-address": "0.0.0.0" });
    const args = renderArgs({ v: 2 }, c.scheduler.extraArgs);
    assert.ok(args.includes("--v=3") && args.includes("--profiling=false"), args.join(" "));
});

test("scalars where a number or boolean is natural: digit strings and 'true'/'false' count", () => {
    const c = validateConfig({
        ...base(),
        loadBalancer: { address: "10.213.0.10", port: "6443", manage: "false" },
        nodeCidrMaskSize: "25",
    });
    assert.equal(c.loadBalancer.port, 6443);
    assert.equal(c.loadBalancer.manage, false);
    assert.equal(c.nodeCidrMaskSize, 25);
});

test("a value of the wrong type is named with its type, never 'required'", () => {
    const c = base() as Raw;
    (c.masters[0] as Record<string, unknown>).name = 1;
    (c.masters[1] as Record<string, unknown>).sshPort = "ssh";
    c.preflight = "yes";
    c.scheduler = { extraArgs: { v: { level: 3 } } };
    c.etcd = "x";
    assert.deepEqual(problems(c), [
        "k8scp:masters[0].name: expected a string, got the number 1; set it as a string: pulumi config set --path --type string 'k8scp:masters[0].name' 1",
        "k8scp:masters[1].sshPort: expected a whole number, got the string 'ssh'; e.g. pulumi config set --path 'k8scp:masters[1].sshPort' 22",
        "k8scp:preflight: expected true or false, got the string 'yes'; e.g. pulumi config set k8scp:preflight false",
        "k8scp:etcd: expected a map, got the string 'x'; remove it (pulumi config rm k8scp:etcd), then e.g. pulumi config set --path k8scp:etcd.extraArgs.v 2",
        "k8scp:scheduler.extraArgs.v: expected a string, number or boolean, got a map; e.g. pulumi config set --path k8scp:scheduler.extraArgs.v 2",
    ]);
    for (const p of problems(c)) assert.doesNotMatch(p, /required|missing/);
    const pasted = base() as Raw;
    pasted.clusterDomain = `${BEGIN_OPENSSH}\nb3BlbnNzaC1rZXktdjEAAAAA\n${END_OPENSSH}\n`;
    assert.deepEqual(problems(pasted), [`k8scp:clusterDomain: '${BEGIN_OPENSSH}...' is not a DNS domain like cluster.local`]);
});

test("unknown keys: named as unknown, with the closest known key, whatever their value, never 'k8scp::'", () => {
    const c = base() as Raw;
    c.masterz = { any: ["shape"] };
    c.kubeScheduler = 1;
    c.whatever = "x";
    (c.loadBalancer as Record<string, unknown>).adress = "10.213.0.10";
    (c.masters[1] as Record<string, unknown>).ip = "10.213.0.12";
    c["scheduler.extraArgs.v"] = "3";
    c["masters[0].sshPort"] = "2222";
    const p = problems(c);
    assert.deepEqual(p, [
        "k8scp:masters[1].ip: unknown key; the keys of k8scp:masters[1] are name, address, sshUser, sshPort, hostKey, gone",
        "k8scp:masters[0].sshPort: unknown key (set without --path, so 'masters[0].sshPort' is one key); remove it (pulumi config rm 'k8scp:masters[0].sshPort') and set the value inside k8scp:masters: pulumi config set --path 'k8scp:masters[0].sshPort' 2222",
        "k8scp:masterz: unknown key; did you mean k8scp:masters?",
        "k8scp:loadBalancer.adress: unknown key; did you mean k8scp:loadBalancer.address?",
        "k8scp:scheduler.extraArgs.v: unknown key (set without --path, so 'scheduler.extraArgs.v' is one key); remove it (pulumi config rm k8scp:scheduler.extraArgs.v) and set the value inside k8scp:scheduler: pulumi config set --path k8scp:scheduler.extraArgs.v 3",
        "k8scp:kubeScheduler: unknown key; did you mean k8scp:scheduler?",
        "k8scp:whatever: unknown key; remove it (pulumi config rm k8scp:whatever) or use a key from the README's config reference",
    ]);
    for (const line of p) assert.doesNotMatch(line, /k8scp::/);
});

test("closest known key", () => {
    const known = ["masters", "loadBalancer", "scheduler", "controllerManager", "kubernetesVersion", "etcdVersion"];
    assert.equal(closestKey("masterz", known), "masters");
    assert.equal(closestKey("master", known), "masters");
    assert.equal(closestKey("loadbalancer", known), "loadBalancer");
    assert.equal(closestKey("controller-manager", known), "controllerManager");
    assert.equal(closestKey("kube-scheduler", known), "scheduler");
    assert.equal(closestKey("kubernetesVersoin", known), "kubernetesVersion");
    assert.equal(closestKey("zzz", known), undefined);
});

test("the error is Pulumi's RunError: the CLI prints its message alone, one problem a line", () => {
    const e = new ConfigError(["k8scp:a: bad; fix it", "k8scp:b: worse; fix that"]);
    assert.ok(pulumi.RunError.isInstance(e));
    assert.equal(
        e.message,
        "k8scp: 2 problems, found before anything was changed:\n  - k8scp:a: bad; fix it\n  - k8scp:b: worse; fix that",
    );
    assert.equal(new ConfigError(["k8scp:a: bad"]).message, "k8scp: 1 problem, found before anything was changed:\n  - k8scp:a: bad");
});

test("stack config strings become typed values; a value that is not JSON stays a string for the schema to name", () => {
    const raw = rawConfigFromPulumi({
        "k8scp:masters": JSON.stringify(base().masters),
        "k8scp:loadBalancer": '{"address":"10.213.0.10"}',
        "k8scp:kubernetesVersion": "1.34.4",
        "k8scp:nodeCidrMaskSize": "25",
        "k8scp:sshPrivateKeyPath": "/k",
        "k8scp:scheduler": '{"extraArgs":{"v":3}}',
        "other:thing": "ignored",
    });
    const c = validateConfig(raw);
    assert.equal(c.nodeCidrMaskSize, 25);
    assert.equal(c.masters.length, 3);
    assert.equal(c.scheduler.extraArgs.v, "3");
    assert.deepEqual(rawConfigFromPulumi({ "k8scp:masters": "[oops", "k8scp:masterz": "x" }), { masters: "[oops", masterz: "x" });
    const { problems: p } = checkConfig({ ...base(), masters: "[oops" });
    assert.equal(
        p[0],
        "k8scp:masters: expected a list, got the string '[oops'; remove it (pulumi config rm k8scp:masters), then e.g. pulumi config set --path 'k8scp:masters[0].name' n1 and pulumi config set --path 'k8scp:masters[0].address' 10.213.0.11",
    );
});

test("host keys are read from known_hosts, ed25519 first, plain or hashed", () => {
    const hashed = (host: string) => {
        const salt = Buffer.from("0123456789abcdefghij");
        return `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(host).digest("base64")}`;
    };
    const kh = [
        "10.213.0.11 ssh-rsa AAAArsa",
        "10.213.0.11 ssh-ed25519 AAAAed",
        "[10.213.0.12]:2222 ssh-ed25519 AAAAport",
        "# 10.213.0.13 ssh-ed25519 AAAAcomment",
        `${hashed("10.213.0.14")} ssh-ed25519 AAAAhashed`,
        "@revoked 10.213.0.15 ssh-ed25519 AAAArevoked",
    ].join("\n");
    assert.equal(hostKeyFromKnownHosts(kh, "10.213.0.11"), "ssh-ed25519 AAAAed");
    assert.equal(hostKeyFromKnownHosts(kh, "10.213.0.12", 2222), "ssh-ed25519 AAAAport");
    assert.equal(hostKeyFromKnownHosts(kh, "10.213.0.12"), undefined);
    assert.equal(hostKeyFromKnownHosts(kh, "10.213.0.13"), undefined);
    assert.equal(hostKeyFromKnownHosts(kh, "10.213.0.14"), "ssh-ed25519 AAAAhashed");
    assert.equal(hostKeyFromKnownHosts(kh, "10.213.0.15"), undefined);
});

test("known_hosts with several keys for a host: the strongest is pinned (ed25519, then ECDSA, then RSA)", () => {
    const kh = [
        "10.213.0.11 ssh-rsa AAAArsa",
        "10.213.0.11 ecdsa-sha2-nistp256 AAAAp256",
        "10.213.0.11 ssh-ed25519 AAAAed",
        "10.213.0.12 ssh-rsa AAAArsa2",
        "10.213.0.12 ecdsa-sha2-nistp256 AAAAp256",
        "10.213.0.12 ecdsa-sha2-nistp384 AAAAp384",
        "10.213.0.13 ssh-dss AAAAdss",
        "10.213.0.13 ssh-rsa AAAArsa3",
        "10.213.0.14 ssh-rsa AAAAfirst",
        "10.213.0.14 ssh-rsa AAAAsecond",
    ].join("\n");
    assert.equal(hostKeyFromKnownHosts(kh, "10.213.0.11"), "ssh-ed25519 AAAAed");
    assert.equal(hostKeyFromKnownHosts(kh, "10.213.0.12"), "ecdsa-sha2-nistp384 AAAAp384");
    assert.equal(hostKeyFromKnownHosts(kh, "10.213.0.13"), "ssh-rsa AAAArsa3");
    assert.equal(hostKeyFromKnownHosts(kh, "10.213.0.14"), "ssh-rsa AAAAfirst");
    assert.deepEqual(hostKeysFromKnownHosts(kh, "10.213.0.12"), [
        "ssh-rsa AAAArsa2",
        "ecdsa-sha2-nistp256 AAAAp256",
        "ecdsa-sha2-nistp384 AAAAp384",
    ]);
    assert.equal(strongestHostKey([]), undefined);
    assert.equal(strongestHostKey(["ssh-rsa A", "ecdsa-sha2-nistp521 B", "ecdsa-sha2-nistp256 C"]), "ecdsa-sha2-nistp521 B");
    assert.ok(isRsaHostKey("ssh-rsa AAAA x@y") && !isRsaHostKey("ssh-ed25519 AAAA"));
});

// ---- preflight: files, binaries and hosts, before anything runs on a host --------------------------------

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "k8scp-unit-"));

/** An OpenSSH private key container (only its header matters here), unencrypted or not. */
function opensshKey(cipher: string): string {
    const str = (s: string) => {
        const b = Buffer.alloc(4 + s.length);
        b.writeUInt32BE(s.length);
        b.write(s, 4, "latin1");
        return b;
    };
    const body = Buffer.concat([Buffer.from("openssh-key-v1\0", "latin1"), str(cipher), str(cipher === "none" ? "none" : "bcrypt")]);
    return `${BEGIN_OPENSSH}\n${body.toString("base64")}\n${END_OPENSSH}\n`;
}

test("SSH private key text: usable, public, passphrase-protected, garbage", () => {
    const pem = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    assert.equal(privateKeyProblem(pem), undefined);
    assert.equal(privateKeyProblem(opensshKey("none")), undefined);
    assert.equal(
        privateKeyProblem(opensshKey("aes256-ctr")),
        "is protected by a passphrase, which the deployment cannot type; use a key without one",
    );
    assert.equal(privateKeyProblem("ssh-ed25519 AAAAC3Nza kube@host"), "is a public key, not the private key");
    assert.equal(privateKeyProblem("hello"), `is not an SSH private key (one starts with ${BEGIN_OPENSSH})`);
});

test("SSH key file: missing, a directory, a public key, usable; the secret value is never printed", () => {
    const d = tmp();
    try {
        const k = (p: string) => readPrivateKey({ sshPrivateKeyPath: p }).problems;
        assert.deepEqual(k(path.join(d, "nope")), [
            `k8scp:sshPrivateKeyPath: ${d}/nope does not exist; create a key (ssh-keygen -t ed25519) or fix the path`,
        ]);
        assert.deepEqual(k(d), [`k8scp:sshPrivateKeyPath: ${d} is a directory; give the path of the private key file in it`]);
        fs.writeFileSync(path.join(d, "id.pub"), "ssh-ed25519 AAAAC3Nza kube@host\n");
        assert.deepEqual(k(path.join(d, "id.pub")), [
            `k8scp:sshPrivateKeyPath: ${d}/id.pub is a public key, not the private key; give the private key (the same path without .pub)`,
        ]);
        fs.writeFileSync(path.join(d, "id"), opensshKey("none"));
        assert.deepEqual(readPrivateKey({ sshPrivateKeyPath: path.join(d, "id") }), { text: opensshKey("none"), problems: [] });
        assert.deepEqual(readPrivateKey({ sshPrivateKeyPath: opensshKey("none") }).problems, [
            "k8scp:sshPrivateKeyPath: holds a key, not a path; remove it (pulumi config rm k8scp:sshPrivateKeyPath) and set the key as a secret: pulumi config set --secret k8scp:sshPrivateKey < ~/.ssh/id_ed25519",
        ]);
        const secret = "not-a-key-but-secret";
        const p = readPrivateKey({ sshPrivateKey: secret }).problems;
        assert.deepEqual(p, [
            `k8scp:sshPrivateKey: the value is not an SSH private key (one starts with ${BEGIN_OPENSSH}); set it from the private key file: pulumi config set --secret k8scp:sshPrivateKey < ~/.ssh/id_ed25519`,
        ]);
    } finally {
        fs.rmSync(d, { recursive: true, force: true });
    }
});

test("binDir: not set, missing binaries, another version", async () => {
    const d = tmp();
    try {
        const fake = (name: string, out: string) => fs.writeFileSync(path.join(d, name), `#!/bin/sh\necho '${out}'\n`, { mode: 0o755 });
        assert.deepEqual(await binDirProblems(undefined, {}), [
            "k8scp:binDir: not set; point it at the directory with etcd, etcdctl, etcdutl, kube-apiserver, kube-controller-manager, kube-scheduler (npm run toolchain builds them and prints the directory): pulumi config set k8scp:binDir DIR",
        ]);
        assert.deepEqual(await binDirProblems(path.join(d, "nope"), {}), [
            `k8scp:binDir: ${d}/nope does not exist; fix the path, or build the binaries (npm run toolchain builds them and prints the directory)`,
        ]);
        fake("etcd", "etcd Version: 3.5.35");
        fake("kube-apiserver", "Kubernetes v1.34.4");
        assert.deepEqual(await binDirProblems(d, { kubernetes: "1.34.4" }), [
            `k8scp:binDir: ${d} has no etcdctl, etcdutl, kube-controller-manager, kube-scheduler; put them there (npm run toolchain builds them and prints the directory) or fix the path`,
        ]);
        fake("etcdctl", "etcdctl version: 3.5.35");
        fake("etcdutl", "etcdutl version: 3.5.35");
        fake("kube-controller-manager", "Kubernetes v1.34.4");
        fake("kube-scheduler", "Kubernetes v1.34.4");
        assert.deepEqual(await binDirProblems(d, { kubernetes: "1.34.4", etcd: "3.5.35" }), []);
        assert.deepEqual(await binDirProblems(d, { kubernetes: "1.35.0", etcd: "3.6.0" }), [
            `k8scp:kubernetesVersion: 1.35.0, but kube-apiserver, kube-controller-manager, kube-scheduler in ${d} are v1.34.4; put Kubernetes v1.35.0 binaries in k8scp:binDir, or set k8scp:kubernetesVersion to 1.34.4`,
            `k8scp:etcdVersion: 3.6.0, but etcd in ${d} is 3.5.35; put etcd v3.6.0 binaries in k8scp:binDir, or set k8scp:etcdVersion to 3.5.35`,
        ]);
    } finally {
        fs.rmSync(d, { recursive: true, force: true });
    }
});

test("known_hosts: a missing file, a host it lacks; found keys pin the hosts", () => {
    const d = tmp();
    try {
        const hosts = () => sshHosts(checkConfig(base()).partial);
        assert.deepEqual(pinFromKnownHosts(hosts(), path.join(d, "nope")), [
            `k8scp:knownHostsFile: ${d}/nope does not exist; create it (ssh-keyscan -t ed25519 HOST >> ${d}/nope) or remove the key (pulumi config rm k8scp:knownHostsFile)`,
        ]);
        const kh = path.join(d, "known_hosts");
        fs.writeFileSync(kh, "10.213.0.11,n1 ssh-ed25519 AAAA1\n10.213.0.12 ssh-ed25519 AAAA2\n10.213.0.10 ssh-ed25519 AAAAlb\n");
        const h = hosts();
        assert.deepEqual(pinFromKnownHosts(h, kh), [
            `k8scp:knownHostsFile: ${kh} has no host key for n3 (10.213.0.13:22); add it (ssh-keyscan -t ed25519 10.213.0.13 >> ${kh}) or set k8scp:masters[2].hostKey`,
        ]);
        assert.deepEqual(
            h.map((x) => [x.key, x.hostKey, x.pinnedBy]),
            [
                ["k8scp:masters[0]", "ssh-ed25519 AAAA1", "knownHostsFile"],
                ["k8scp:masters[1]", "ssh-ed25519 AAAA2", "knownHostsFile"],
                ["k8scp:masters[2]", undefined, undefined],
                ["k8scp:loadBalancer", "ssh-ed25519 AAAAlb", "knownHostsFile"],
            ],
        );
    } finally {
        fs.rmSync(d, { recursive: true, force: true });
    }
});

test("hosts with an invalid field are left out of the host checks; an external load balancer too", () => {
    const c = base() as Raw;
    c.masters[1].address = "bad";
    assert.deepEqual(
        sshHosts(checkConfig(c).partial).map((h) => h.name),
        ["n1", "n3", "lb"],
    );
    c.loadBalancer = { address: "10.213.0.10", manage: false } as Raw["loadBalancer"];
    assert.deepEqual(
        sshHosts(checkConfig(c).partial).map((h) => h.name),
        ["n1", "n3"],
    );
});

test("SSH port probe on loopback: an SSH greeting (read), another server, a closed port", async () => {
    const serve = (greeting: string) =>
        new Promise<net.Server>((resolve) => {
            const s = net.createServer((sock) => sock.end(greeting));
            s.listen(0, "127.0.0.1", () => resolve(s));
        });
    const ssh = await serve("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");
    const http = await serve("HTTP/1.1 400 Bad Request\r\n\r\n");
    const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;
    try {
        assert.equal(await probeSsh("127.0.0.1", portOf(ssh), 2000), undefined);
        assert.equal(await probeSsh("127.0.0.1", portOf(http), 2000), "it answers, but not as an SSH server");
        assert.equal(await sshGreeting("127.0.0.1", portOf(ssh), 2000), "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3");
        assert.equal(await sshGreeting("127.0.0.1", portOf(http), 2000), undefined);
        const closed = portOf(http);
        await new Promise((r) => http.close(r));
        assert.equal(await probeSsh("127.0.0.1", closed, 2000), "connection refused");
    } finally {
        ssh.close();
    }
});

test("host key fingerprints read like ssh-keygen -l", () => {
    const blob = Buffer.from("some key blob");
    const key = `ssh-ed25519 ${blob.toString("base64")}`;
    assert.equal(fingerprint(key), `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`);
});

// An identity in age's format (bech32 charset), for the schema; the bucket tests make real ones with k8scp-backup.
const ageIdentity = `AGE-SECRET-KEY-1${"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L".repeat(2).slice(0, 58)}`;
const upload = (over: Record<string, unknown> = {}) => ({
    endpoint: "http://10.213.0.10:7070",
    bucket: "k8scp-snapshots",
    accessKeyId: "k8scplab",
    secretAccessKey: "not-a-real-secret",
    encryptionKey: ageIdentity,
    ...over,
});

test("snapshot upload: a valid target gets its defaults; each bad field is named with its fix", () => {
    const c = validateConfig({ ...base(), etcdSnapshots: { upload: upload() } });
    assert.equal(c.etcdSnapshots.upload?.region, "us-east-1");
    assert.equal(c.etcdSnapshots.upload?.prefix, undefined, "the prefix defaults to the clusterName later");
    assert.equal(c.etcdSnapshots.interval, "1h", "the other snapshot settings keep their defaults");
    const p = problems({
        ...base(),
        etcdSnapshots: {
            upload: upload({
                endpoint: "s3.example.com/bucket",
                bucket: "B",
                prefix: "/lead",
                encryptionKey: "not-a-key",
                secretAccessKey: "",
            }),
        },
    });
    assert.equal(p.length, 5, p.join("\n"));
    assert.match(p.join("\n"), /k8scp:etcdSnapshots\.upload\.endpoint: .*is not an S3 endpoint like https:\/\/s3\.example\.com/);
    assert.match(p.join("\n"), /k8scp:etcdSnapshots\.upload\.bucket: .*is not an S3 bucket name/);
    assert.match(p.join("\n"), /k8scp:etcdSnapshots\.upload\.prefix: .*no leading or trailing/);
    assert.match(p.join("\n"), /k8scp:etcdSnapshots\.upload\.encryptionKey: .*k8scp-backup keygen/);
    assert.match(p.join("\n"), /k8scp:etcdSnapshots\.upload\.secretAccessKey: .*--secret --path/);
    assert.ok(!p.join("\n").includes("not-a-key"), "a secret field's value is never printed");
    assert.deepEqual(
        problems({ ...base(), etcdSnapshots: { upload: upload({ sessionToken: "x" }) } }).length,
        1,
        "unknown keys are refused",
    );
});

test("restore from the bucket: needs the upload target and an object; plain-text credentials are a warning from the stack", () => {
    const noBucket = problems({ ...base(), etcdRestoreFrom: "bucket:kubernetes/n1/etcd-n1-20261207T000000Z.db.age" });
    assert.match(
        noBucket.join("\n"),
        /k8scp:etcdRestoreFrom: .*names an object in the snapshot bucket, but k8scp:etcdSnapshots\.upload is not set/,
    );
    assert.match(problems({ ...base(), etcdSnapshots: { upload: upload() }, etcdRestoreFrom: "bucket:" }).join("\n"), /names no object/);
    assert.doesNotThrow(() => validateConfig({ ...base(), etcdSnapshots: { upload: upload() }, etcdRestoreFrom: "bucket:x/n1/a.db.age" }));

    const all = {
        "k8scp:masters": JSON.stringify(base().masters),
        "k8scp:loadBalancer": '{"address":"10.213.0.10"}',
        "k8scp:kubernetesVersion": "1.34.4",
        "k8scp:sshPrivateKey": "key text",
        "k8scp:etcdSnapshots": JSON.stringify({ upload: upload() }),
    };
    const plain = checkConfig(rawConfigFromPulumi(all, () => false));
    assert.deepEqual(plain.problems, []);
    assert.match(
        plain.warnings.join("\n"),
        /k8scp:etcdSnapshots\.upload: the S3 secret access key and the encryption key are in plain text/,
    );
    assert.ok(!plain.warnings.join("\n").includes("not-a-real-secret"));
    const secret = checkConfig(rawConfigFromPulumi(all, (k) => k === "k8scp:etcdSnapshots"));
    assert.deepEqual(secret.warnings, [], "set with --secret --path: no warning");
    assert.deepEqual(
        checkConfig({ ...base(), etcdSnapshots: { upload: upload() } }).warnings,
        [],
        "a config made in code is not the stack's",
    );
});

test("a master marked gone: the preview warns that its disk still holds the CA key, the service-account and encryption keys", () => {
    const masters = base().masters.map((m, i) => (i === 2 ? { ...m, gone: true } : m));
    const w = checkConfig({ ...base(), masters }).warnings;
    assert.equal(w.length, 1, w.join("\n"));
    assert.match(w[0], /^k8scp:masters\[2\]: n3 is marked gone, but its disk, wherever it is, still holds the Kubernetes CA's private key/);
    assert.match(w[0], /service-account signing key, the Secrets encryption key/);
    assert.deepEqual(checkConfig(base()).warnings, [], "no warning without a gone master");
});
