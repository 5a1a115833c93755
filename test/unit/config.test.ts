import { test } from "node:test";
import assert from "node:assert/strict";
import { labConfig } from "./fixtures";
import { ConfigError, hostKeyFromKnownHosts, rawConfigFromPulumi, validateConfig } from "../../components/lib/config";

const base = labConfig;

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
});

const cases: [string, (c: ReturnType<typeof base> & Record<string, unknown>) => void, RegExp][] = [
    ["invalid master IP", (c) => (c.masters[1].address = "10.213.0.300"), /k8scp:masters\[1\]\.address: is not a valid IP address/],
    ["invalid VIP", (c) => (c.loadBalancer.address = "vip"), /k8scp:loadBalancer\.address: is not a valid IP/],
    ["invalid CIDR", (c) => (c.serviceCidr = "10.68.0.0/33"), /k8scp:serviceCidr: is not a valid CIDR/],
    ["CIDR with host bits", (c) => (c.clusterCidr = "172.20.0.1/16"), /k8scp:clusterCidr: .*network address is 172\.20\.0\.0\/16/],
    [
        "overlapping CIDRs",
        (c) => (c.clusterCidr = "10.68.128.0/17"),
        /k8scp:serviceCidr: 10\.68\.0\.0\/16 overlaps k8scp:clusterCidr 10\.68\.128\.0\/17/,
    ],
    [
        "service CIDR containing masters",
        (c) => (c.serviceCidr = "10.213.0.0/16"),
        /k8scp:serviceCidr: 10\.213\.0\.0\/16 contains k8scp:masters\[0\]\.address/,
    ],
    ["duplicate names", (c) => (c.masters[2].name = "n1"), /k8scp:masters\[2\]\.name: 'n1' is also used by k8scp:masters\[0\]/],
    [
        "duplicate addresses",
        (c) => (c.masters[2].address = "10.213.0.12"),
        /k8scp:masters\[2\]\.address: '10\.213\.0\.12' is also used by k8scp:masters\[1\]/,
    ],
    [
        "even master count",
        (c) => c.masters.pop(),
        /k8scp:masters: 2 masters tolerate 0 failed member\(s\), the same as 1; use an odd count .*k8scp:allowEvenMasters: true/,
    ],
    ["zero masters", (c) => c.masters.splice(0), /k8scp:masters: needs at least one master/],
    [
        "VIP equal to a master",
        (c) => (c.loadBalancer.address = "10.213.0.12"),
        /k8scp:loadBalancer\.address: the VIP 10\.213\.0\.12 equals k8scp:masters\[1\]\.address/,
    ],
    [
        "missing SSH key",
        (c) => delete (c as Record<string, unknown>).sshPrivateKeyPath,
        /k8scp:sshPrivateKey: missing SSH key; set it with 'pulumi config set --secret/,
    ],
    ["missing version", (c) => delete (c as Record<string, unknown>).kubernetesVersion, /k8scp:kubernetesVersion: required/],
    ["unknown key", (c) => (c.mastrs = []), /unknown key\(s\) 'mastrs'/],
    ["bad master name", (c) => (c.masters[0].name = "Master_1"), /k8scp:masters\[0\]\.name: must be a DNS label/],
    [
        "node mask not longer than cluster prefix",
        (c) => (c.nodeCidrMaskSize = 16),
        /k8scp:nodeCidrMaskSize: 16 must be longer than the prefix/,
    ],
    [
        "bad host key",
        (c) => ((c.masters[0] as Record<string, unknown>).hostKey = "AAAA"),
        /k8scp:masters\[0\]\.hostKey: must be an SSH public host key/,
    ],
    [
        "renewal window not shorter than validity",
        (c) => ((c.certValidityHours = 2), (c.certEarlyRenewalHours = 2)),
        /k8scp:certEarlyRenewalHours: 2 h is not shorter/,
    ],
];

for (const [name, mutate, expected] of cases) {
    test(`rejects ${name} with the key and the fix`, () => {
        const c = base() as ReturnType<typeof base> & Record<string, unknown>;
        mutate(c);
        const p = problems(c);
        assert.ok(
            p.some((m) => expected.test(m)),
            `no problem matched ${expected}:\n${p.join("\n")}`,
        );
    });
}

test("even masters are accepted when explicitly allowed", () => {
    const c = base();
    c.masters.pop();
    assert.equal(validateConfig({ ...c, allowEvenMasters: true }).masters.length, 2);
});

test("every problem is reported at once", () => {
    const c = base() as ReturnType<typeof base> & Record<string, unknown>;
    c.masters[2].name = "n1";
    c.clusterCidr = "10.68.0.0/16";
    assert.equal(problems(c).length, 2);
});

test("stack config strings become typed values", () => {
    const raw = rawConfigFromPulumi({
        "k8scp:masters": JSON.stringify(base().masters),
        "k8scp:loadBalancer": '{"address":"10.213.0.10"}',
        "k8scp:kubernetesVersion": "1.34.4",
        "k8scp:nodeCidrMaskSize": "25",
        "k8scp:sshPrivateKeyPath": "/k",
        "other:thing": "ignored",
    });
    const c = validateConfig(raw);
    assert.equal(c.nodeCidrMaskSize, 25);
    assert.equal(c.masters.length, 3);
    assert.throws(() => rawConfigFromPulumi({ "k8scp:masters": "[oops" }), /k8scp:masters: '\[oops' is not valid/);
});

test("host keys are read from known_hosts, ed25519 first", () => {
    const kh = [
        "10.213.0.11 ssh-rsa AAAArsa",
        "10.213.0.11 ssh-ed25519 AAAAed",
        "[10.213.0.12]:2222 ssh-ed25519 AAAAport",
        "# 10.213.0.13 ssh-ed25519 AAAAcomment",
    ].join("\n");
    assert.equal(hostKeyFromKnownHosts(kh, "10.213.0.11"), "ssh-ed25519 AAAAed");
    assert.equal(hostKeyFromKnownHosts(kh, "10.213.0.12", 2222), "ssh-ed25519 AAAAport");
    assert.equal(hostKeyFromKnownHosts(kh, "10.213.0.12"), undefined);
    assert.equal(hostKeyFromKnownHosts(kh, "10.213.0.13"), undefined);
});
