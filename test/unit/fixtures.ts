import { Assessment } from "../../components/host/assess";
// Shared test data: the lab's three masters and VIP.
export const labMasters = () => [
    { name: "n1", address: "10.213.0.11" },
    { name: "n2", address: "10.213.0.12" },
    { name: "n3", address: "10.213.0.13" },
];

/** The first master's settings, as MasterNode passes them to the renderers. */
export const labMasterSettings = () => ({
    kubernetesVersion: "1.34.4",
    self: labMasters()[0],
    members: labMasters(),
    serviceCidr: "10.68.0.0/16",
    clusterCidr: "172.20.0.0/16",
    nodeCidrMaskSize: 24,
    clusterDomain: "cluster.local",
    clusterName: "kubernetes",
});

/** A minimal valid raw stack config for the lab. */
export const labConfig = () => ({
    masters: labMasters(),
    loadBalancer: { address: "10.213.0.10" },
    kubernetesVersion: "1.34.4",
    sshPrivateKeyPath: "/tmp/key",
});

/**
 * ControlPlane's `assess` for tests with mocks: the given config and plans, as if the hosts had been read (no SSH).
 * `config`: a validated config.
 */
export const fixedAssessment = (a: Partial<Assessment> & Pick<Assessment, "config" | "binDir">) => async (): Promise<Assessment> => ({
    sshPrivateKey: "FAKE-SSH-KEY",
    etcdJoining: [],
    snapshots: {},
    uploaded: {},
    messages: { info: [], warn: [] },
    ...a,
});
