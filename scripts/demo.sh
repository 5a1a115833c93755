#!/usr/bin/env bash
# The main job: toolchain (built on first use), the local lab, then the real `pulumi up` of the dev stack,
# and a short report. `npm run demo -- --down` destroys the stack and the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/node ] || npm ci
# shellcheck source=scripts/env.sh
source scripts/env.sh
k8scp_toolchain_ensure

# The Pulumi CLI, its Node.js language host and the provider plugins must all be in the toolchain.
missing=$(node -e '
  const m = require(process.argv[1]);
  const need = ["pulumi", "pulumi-language-nodejs", "pulumi-resource-command", "pulumi-resource-tls", "pulumi-resource-random"];
  const comps = m.components || m;
  const bad = need.filter((n) => !comps[n] || comps[n].status !== "built").map((n) => `${n}: ${(comps[n] && comps[n].reason) || "missing"}`);
  console.log(bad.join("\n"));
' "$K8SCP_TOOLCHAIN_DIR/manifest.json")
if [ -n "$missing" ]; then
  echo "[demo] cannot run pulumi: these parts of the toolchain could not be built on this machine:" >&2
  echo "$missing" | sed 's/^/[demo]   /' >&2
  echo "[demo] see README.md, 'Status on machines without the Pulumi modules'" >&2
  exit 2
fi

ctl() { bash scripts/lab.sh exec "$@"; }
if [ "${1:-}" = "--down" ]; then
  if bash scripts/lab.sh status >/dev/null 2>&1; then ctl pulumi destroy --stack dev --yes --non-interactive || true; fi
  bash scripts/lab.sh down
  exit 0
fi

bash scripts/lab.sh up 3
ctl pulumi stack select dev --create --non-interactive
ctl pulumi up --stack dev --yes --non-interactive --skip-preview
kc="$K8SCP_REPO/.state/admin.kubeconfig"
umask 077
ctl pulumi stack output adminKubeconfig --show-secrets --stack dev >"$kc"
echo
echo "[demo] endpoint:   $(ctl pulumi stack output endpoint --stack dev)"
for lease in kube-scheduler kube-controller-manager; do
  echo "[demo] leader of $lease: $(ctl kubectl --kubeconfig "$kc" -n kube-system get lease "$lease" -o jsonpath='{.spec.holderIdentity}')"
done
echo "[demo] certificates, soonest expiry first:"
ctl pulumi stack output certificates --json --stack dev | node -e 'for (const c of JSON.parse(require("fs").readFileSync(0, "utf8"))) console.log(`[demo]   ${c.notAfter}  ${c.name}`)'
echo "[demo] admin kubeconfig: $kc (secret, 0600)"
echo "[demo] try:  npm run lab -- exec kubectl --kubeconfig $kc get --raw='/readyz?verbose'"
