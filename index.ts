// The program: one control plane from the stack's config. Every check, probe and plan is the library's
// (components/controlPlane.ts); see the README for the config keys.
import { ControlPlane, stackConfig } from "./components";

export = async () => {
    const cp = await ControlPlane.create("k8s", { config: stackConfig() });
    return {
        endpoint: cp.endpoint,
        kubernetesVersion: cp.kubernetesVersion,
        masters: cp.mastersRunning,
        /** The newest etcd snapshot on each master when this run started; `sudo k8scp-etcd-snapshot list` on a master lists all. */
        etcdSnapshots: cp.etcdSnapshots,
        /** The last upload of each master to the snapshot bucket (etcdSnapshots.upload); `k8scp-backup list` lists all. */
        etcdSnapshotsUploaded: cp.etcdSnapshotsUploaded,
        kubernetesCaCertPem: cp.kubernetesCaCertPem,
        etcdCaCertPem: cp.etcdCaCertPem,
        adminKubeconfig: cp.adminKubeconfig,
        // Opt-in (k8scp:exportCaKey, k8scp:exportSuperAdminKubeconfig): absent from the outputs unless set.
        ...(cp.kubernetesCaKeyPem ? { kubernetesCaKeyPem: cp.kubernetesCaKeyPem } : {}),
        ...(cp.superAdminKubeconfig ? { superAdminKubeconfig: cp.superAdminKubeconfig } : {}),
        certificates: cp.certificates,
    };
};
