// Shared test data: the lab's three masters and VIP.
export const labMasters = () => [
    { name: "n1", address: "10.213.0.11" },
    { name: "n2", address: "10.213.0.12" },
    { name: "n3", address: "10.213.0.13" },
];

/** A minimal valid raw stack config for the lab. */
export const labConfig = () => ({
    masters: labMasters(),
    loadBalancer: { address: "10.213.0.10" },
    kubernetesVersion: "1.34.4",
    sshPrivateKeyPath: "/tmp/key",
});
