#!/usr/bin/env bash
# The main job: the toolchain (built on first use), the local lab (3 masters + the LB host), the real
# `pulumi up` of index.ts with Pulumi.dev.yaml, then a short report.
#
#   npm run demo              deploy (or converge) and report
#   npm run demo -- --down    destroy the stack and take the lab down
#
# State lives in .state/backend (a local file:// backend); the admin kubeconfig in .state/admin.kubeconfig.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# The npm packages on first use: npm ci run by the project's Node (scripts/env.sh), which their engines ask for.
[ -x node_modules/.bin/node ] || k8scp_npm_ci
say() { printf '[demo] %s\n' "$*"; }
ctl() { bash scripts/lab.sh exec "$@"; }
stack=dev

if [ "${1:-}" = "--down" ]; then
  if bash scripts/lab.sh status >/dev/null 2>&1 && [ -x "$K8SCP_TOOLCHAIN_DIR/bin/pulumi" ]; then
    ctl pulumi destroy --stack "$stack" --yes --non-interactive --skip-preview
    # --preserve-config: Pulumi.dev.yaml is the project's file; the stack goes, its config stays.
    ctl pulumi stack rm --stack "$stack" --yes --non-interactive --preserve-config
  fi
  bash scripts/lab.sh down
  rm -f .state/admin.kubeconfig
  exit 0
fi

t0=$SECONDS
k8scp_toolchain_ensure
say "toolchain ready ($((SECONDS - t0)) s): $K8SCP_TOOLCHAIN_DIR"
bash scripts/lab.sh up 3
ctl pulumi stack select "$stack" --create --non-interactive
t1=$SECONDS
ctl pulumi up --stack "$stack" --yes --non-interactive --skip-preview --parallel 32
say "pulumi up took $((SECONDS - t1)) s"

kc="$K8SCP_REPO/.state/admin.kubeconfig"
(umask 077 && ctl pulumi stack output adminKubeconfig --show-secrets --stack "$stack" >"$kc")
echo
say "endpoint (VIP):     $(ctl pulumi stack output endpoint --stack "$stack")"
say "server version:     $(ctl kubectl --kubeconfig "$kc" version -o json | node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).serverVersion.gitVersion)')"
say "readyz via the VIP: $(ctl kubectl --kubeconfig "$kc" get --raw=/readyz)"
for lease in kube-scheduler kube-controller-manager; do
  say "leader of $lease: $(ctl kubectl --kubeconfig "$kc" -n kube-system get lease "$lease" -o jsonpath='{.spec.holderIdentity}')"
done
say "certificates, soonest expiry first:"
ctl pulumi stack output certificates --json --stack "$stack" |
  node -e 'for (const c of JSON.parse(require("fs").readFileSync(0, "utf8"))) console.log(`[demo]   ${c.notAfter}  ${c.name}`)'
say "admin kubeconfig:   $kc (secret, 0600)"
say "try:                npm run lab -- exec kubectl --kubeconfig $kc get --raw='/readyz?verbose'"
say "tear down:          npm run demo -- --down"
