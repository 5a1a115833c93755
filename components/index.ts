// The package entry: components and their Args types, plus the pure helpers they are built from.
// Importing it runs nothing; the program is ../index.ts, which shows the whole use.
export { PrivateCA, PrivateCAArgs } from "./privateCA";
export { ClientCert, ClientCertArgs, SigningCA } from "./clientCert";
export { Kubeconfig, KubeconfigArgs } from "./kubeconfig";
export { ControlPlaneService, ControlPlaneServiceArgs, ServiceFileArgs, Connection } from "./controlPlaneService";
export { MasterNode, MasterNodeArgs, ClusterPki } from "./masterNode";
export { ApiServerLoadBalancer, ApiServerLoadBalancerArgs } from "./apiServerLoadBalancer";
export { ControlPlane, ControlPlaneArgs, ControlPlaneConfig, CertificateExpiry, stackConfig } from "./controlPlane";
export { assessHosts, Assessment, AssessOptions } from "./lib/assess";
export { planFromProbe, ProbePlan } from "./lib/plan";
export { validateConfig, checkConfig, ConfigError, ClusterConfig, ClusterConfigInput, PartialConfig, CONFIG_NAMESPACE } from "./lib/config";
export * as flags from "./lib/flags";
export * as pki from "./lib/pki";
export { renderKubeconfig, parseKubeconfig } from "./lib/kubeconfig";
export { renderUnit } from "./lib/systemd";
