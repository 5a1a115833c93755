#!/usr/bin/env bash
# The whole test suite: type check, lint and format check, then one run of Node's test runner over the unit,
# tier (toolchain, lab, real binaries on the lab) and end-to-end tests, so its summary is the last thing printed.
# Builds the toolchain on first use (cached outside the clone).
#
#   bash scripts/test.sh            the suite (npm test, CI)
#   bash scripts/test.sh upgrade    the rolling-upgrade test only (npm run test:upgrade): builds the previous
#                                   Kubernetes release first (toolchain/extra/kubernetes-previous, ~20 min once)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/node ] || npm ci
# shellcheck source=scripts/env.sh
source scripts/env.sh
start=$SECONDS
k8scp_toolchain_ensure
if [ "${1:-}" = upgrade ]; then bash scripts/toolchain.sh kubernetes-previous >&2; fi
echo "[test] toolchain ready in $((SECONDS - start)) s: $K8SCP_TOOLCHAIN_DIR"
echo "[test] typecheck"; tsc --noEmit
echo "[test] lint"; eslint .
echo "[test] format"; prettier --check . >/dev/null
export TS_NODE_TRANSPILE_ONLY=1
files=(test/unit/*.test.ts test/tier/*.test.ts test/e2e/*.test.ts)
if [ "${1:-}" = upgrade ]; then files=(test/upgrade/*.test.ts); fi
exec node --require ts-node/register --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
