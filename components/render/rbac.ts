// The ClusterRoleBindings that give the library's own identities their rights (instead of `system:masters`), and the
// script that creates them through the API server with the break-glass super-admin certificate. Pure.
import { createHash } from "node:crypto";
import { identities } from "./pki";
import { shellQuote } from "./scripts";

export interface GroupBinding {
    /** The ClusterRoleBinding's name. */
    name: string;
    clusterRole: string;
    group: string;
}

/** The admin kubeconfig's group gets cluster-admin; the API server's kubelet client the kubelet API (logs, exec, ...). */
export const clusterRoleBindings: GroupBinding[] = [
    { name: "k8scp:cluster-admins", clusterRole: "cluster-admin", group: identities.admin.organization },
    {
        name: "k8scp:apiserver-kubelet-client",
        clusterRole: "system:kubelet-api-admin",
        group: identities.apiserverKubeletClient.organization,
    },
];

/** The annotation that carries the sha256 of a binding's roleRef and subjects: equal means nothing to write. */
export const specAnnotation = "k8scp.io/spec-sha256";

/** A ClusterRoleBinding object as JSON (one line), and the sha256 of what it grants. */
export function clusterRoleBindingJson(b: GroupBinding): { json: string; sum: string } {
    const rbac = "rbac.authorization.k8s.io";
    const spec = {
        roleRef: { apiGroup: rbac, kind: "ClusterRole", name: b.clusterRole },
        subjects: [{ apiGroup: rbac, kind: "Group", name: b.group }],
    };
    const sum = createHash("sha256").update(JSON.stringify(spec)).digest("hex");
    const obj = {
        apiVersion: `${rbac}/v1`,
        kind: "ClusterRoleBinding",
        metadata: { name: b.name, labels: { "app.kubernetes.io/managed-by": "k8scp" }, annotations: { [specAnnotation]: sum } },
        ...spec,
    };
    return { json: JSON.stringify(obj), sum };
}

const q = shellQuote;
const b64 = (s: string) =>
    Buffer.from(s, "utf8")
        .toString("base64")
        .replace(/(.{76})/g, "$1\n");

/**
 * Creates or updates the bindings through one API server (`sudo -n bash -s -- create|update`, the script on a secret
 * stdin: it carries the super-admin's key). Each binding is read first and left alone when its annotation says it
 * grants what it should, so a re-run writes nothing; one that differs is replaced (PUT, or DELETE and POST when its
 * roleRef, which cannot change in place, differs). The super-admin's certificate and key exist only in a root-only
 * directory in /run (tmpfs) while the script runs. Uses curl (already needed by every health check), not kubectl,
 * which the masters do not get.
 */
export function renderRbacBootstrapScript(a: {
    apiserverUrl: string;
    caFile: string;
    superAdmin: { certPem: string; privateKeyPem: string };
    bindings?: GroupBinding[];
    /** A line for the script that changes when it must run again (e.g. after a restore from a snapshot). */
    note?: string;
}): string {
    const bindings = (a.bindings ?? clusterRoleBindings).map((b) => ({ b, ...clusterRoleBindingJson(b) }));
    return `#!/bin/bash
# k8scp: ClusterRoleBindings of the library's identities (managed by Pulumi)
${a.note ? `# ${a.note}\n` : ""}set -euo pipefail
umask 077
say() { echo "[k8scp] rbac@$(hostname): $*" >&2; }
dir=$(mktemp -d /run/k8scp-rbac.XXXXXX)
trap 'rm -rf "$dir"' EXIT
base64 -d >"$dir/cert.pem" <<'K8SCP_EOF'
${b64(a.superAdmin.certPem)}
K8SCP_EOF
base64 -d >"$dir/key.pem" <<'K8SCP_EOF'
${b64(a.superAdmin.privateKeyPem)}
K8SCP_EOF
api=${q(a.apiserverUrl)}
crb=/apis/rbac.authorization.k8s.io/v1/clusterrolebindings
# call METHOD PATH [BODY-FILE]: prints the HTTP status (000: no answer), the response body in $dir/out
call() {
  local args=(-sS --max-time 10 -o "$dir/out" -w '%{http_code}' --cacert ${q(a.caFile)} --cert "$dir/cert.pem" --key "$dir/key.pem" -X "$1")
  if [ $# -gt 2 ]; then args+=(-H 'Content-Type: application/json' --data-binary "@$3"); fi
  curl "\${args[@]}" "$api$2" 2>/dev/null || true
}
# ensure NAME SHA256, the object's JSON on stdin
ensure() {
  local name=$1 sum=$2 code tries=0
  cat >"$dir/body.json"
  until code=$(call GET "$crb/$name"); [ "$code" = 200 ] || [ "$code" = 404 ]; do
    tries=$((tries + 1))
    if [ $tries -ge 60 ]; then say "ClusterRoleBinding $name: GET answered $code: $(head -c 300 "$dir/out" 2>/dev/null)"; return 1; fi
    sleep 1
  done
  if [ "$code" = 200 ]; then
    if grep -qF "\\"${specAnnotation}\\":\\"$sum\\"" "$dir/out"; then say "ClusterRoleBinding $name: unchanged"; return 0; fi
    code=$(call PUT "$crb/$name" "$dir/body.json")
    if [ "$code" = 422 ]; then # its roleRef differs, which cannot change in place
      code=$(call DELETE "$crb/$name")
      [ "$code" = 200 ] && code=$(call POST "$crb" "$dir/body.json")
    fi
  else
    code=$(call POST "$crb" "$dir/body.json")
  fi
  case $code in
    200 | 201) say "ClusterRoleBinding $name: written" ;;
    *) say "ClusterRoleBinding $name: the API server answered $code: $(head -c 300 "$dir/out" 2>/dev/null)"; return 1 ;;
  esac
}
${bindings
    .map(
        ({ b, json, sum }) => `# ${b.group} -> ClusterRole ${b.clusterRole}
ensure ${q(b.name)} ${sum} <<'K8SCP_JSON'
${json}
K8SCP_JSON`,
    )
    .join("\n")}
`;
}
