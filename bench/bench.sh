#!/usr/bin/env bash
# `npm run bench`: the toolchain's environment (scripts/env.sh), then bench/run.ts (see its header).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# The npm packages on first use: npm ci run by the project's Node (scripts/env.sh), which their engines ask for.
[ -x node_modules/.bin/node ] || k8scp_npm_ci
k8scp_toolchain_ensure
TS_NODE_TRANSPILE_ONLY=1 node --require ts-node/register bench/run.ts "$@"
# results.json in the repo's own style, so that `npm run lint` (prettier --check) stays green.
out="${BENCH_OUT:-bench}"
[ ! -f "$out/results.json" ] || prettier --log-level warn --write "$out/results.json" || true
