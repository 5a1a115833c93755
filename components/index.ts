// The package entry: components and their Args types, plus the pure helpers they are built from.
// Importing it runs nothing; the program is ../index.ts, which shows the whole use.
export { PrivateCA, PrivateCAArgs } from "./privateCA";
export { ClientCert, ClientCertArgs, SigningCA } from "./clientCert";
export { Kubeconfig, KubeconfigArgs } from "./kubeconfig";
export { ControlPlaneService, ControlPlaneServiceArgs, ServiceFileArgs, Connection } from "./controlPlaneService";
export { MasterNode, MasterNodeArgs, ClusterPki } from "./masterNode";
export { ApiServerLoadBalancer, ApiServerLoadBalancerArgs } from "./apiServerLoadBalancer";
export { ControlPlane, ControlPlaneArgs, ControlPlaneConfig, CertificateExpiry, stackConfig } from "./controlPlane";
export { assessHosts, Assessment, AssessOptions } from "./host/assess";
export { planFromProbe, ProbePlan } from "./plan/probePlan";
export { validateConfig, checkConfig, ConfigError, ClusterConfig, ClusterConfigInput, PartialConfig, CONFIG_NAMESPACE } from "./config";
export * as flags from "./render/flags";
export * as pki from "./render/pki";
export { renderKubeconfig, parseKubeconfig } from "./render/kubeconfig";
export { renderUnit } from "./render/systemd";
