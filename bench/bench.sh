#!/usr/bin/env bash
# `npm run bench`: the toolchain's environment (scripts/env.sh), then bench/run.ts (see its header).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/node ] || npm ci
# shellcheck source=scripts/env.sh
source scripts/env.sh
k8scp_toolchain_ensure
TS_NODE_TRANSPILE_ONLY=1 node --require ts-node/register bench/run.ts "$@"
# results.json in the repo's own style, so that `npm run lint` (prettier --check) stays green.
out="${BENCH_OUT:-bench}"
[ ! -f "$out/results.json" ] || prettier --log-level warn --write "$out/results.json" || true
