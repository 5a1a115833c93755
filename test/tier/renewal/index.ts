// Two certificates from the library's PrivateCA and ClientCert, and a kubeconfig that embeds one: `due` is inside
// its renewal window from the start (valid 2 h, renewed 2 h before expiry), `fresh` is not (valid 3 h, renewed 1 h
// before). A routine run must re-issue `due` (and rewrite the kubeconfig) and leave `fresh` and the CA alone.
import { ClientCert } from "../../../components/clientCert";
import { Kubeconfig } from "../../../components/kubeconfig";
import { PrivateCA } from "../../../components/privateCA";

const ca = new PrivateCA("ca", { commonName: "renewal-ca", validityHours: 24, earlyRenewalHours: 0 });
const due = new ClientCert("due", { ca, commonName: "due", validityHours: 2, earlyRenewalHours: 2 });
const fresh = new ClientCert("fresh", { ca, commonName: "fresh", validityHours: 3, earlyRenewalHours: 1 });
const kubeconfig = new Kubeconfig("due", {
    server: "https://10.213.0.10:6443",
    caCertPem: ca.certPem,
    userName: "due",
    clientCertPem: due.certPem,
    clientKeyPem: due.privateKeyPem,
});

export const caNotAfter = ca.notAfter;
export const dueCert = due.certPem;
export const freshCert = fresh.certPem;
export const kubeconfigContent = kubeconfig.content;
