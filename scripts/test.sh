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
# shellcheck source=scripts/env.sh
source scripts/env.sh
# The npm packages on first use: npm ci run by the project's Node (scripts/env.sh), which their engines ask for.
[ -x node_modules/.bin/node ] || k8scp_npm_ci
start=$SECONDS
k8scp_toolchain_ensure
if [ "${1:-}" = upgrade ]; then bash scripts/toolchain.sh kubernetes-previous >&2; fi
# The S3 server: the lab's (test/e2e/bucket.test.ts) and k8scp-backup's Go tests (test/tier/plugin.test.ts) run against
# it (an extra: about 2-3 min the first time, 3 s after).
if [ "${1:-}" != upgrade ]; then bash scripts/toolchain.sh versitygw >&2; fi
echo "[test] toolchain ready in $((SECONDS - start)) s: $K8SCP_TOOLCHAIN_DIR"

# ShellCheck: the unit tests check every script the library renders with it (test/unit/scripts.test.ts) and fail
# without it. Debian's shellcheck package, installed here when missing: each apt step bounded, 3 tries.
ensure_shellcheck() {
  command -v shellcheck >/dev/null 2>&1 && return 0
  local -a sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo -n)
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "[test] shellcheck is missing and there is no apt-get to install it: install ShellCheck (Debian package shellcheck)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  local try
  for try in 1 2 3; do
    echo "[test] shellcheck is missing: fetching Debian's shellcheck package (apt-get update, apt-get install shellcheck; try $try of 3)"
    if timeout 300 "${sudo[@]}" apt-get update -q </dev/null && timeout 300 "${sudo[@]}" apt-get install -y -q shellcheck </dev/null &&
      command -v shellcheck >/dev/null 2>&1; then
      echo "[test] installed $(shellcheck --version | sed -n 's/^version: /shellcheck /p')"
      return 0
    fi
    [ "$try" -lt 3 ] && sleep $((try * 10))
  done
  echo "[test] could not install shellcheck (Debian package shellcheck) after 3 tries; the unit tests need it: apt-get install shellcheck" >&2
  exit 1
}
ensure_shellcheck
echo "[test] typecheck"; tsc --noEmit
echo "[test] lint"; eslint .
echo "[test] format"; prettier --check . >/dev/null
export TS_NODE_TRANSPILE_ONLY=1
files=(test/unit/*.test.ts test/tier/*.test.ts test/e2e/*.test.ts)
if [ "${1:-}" = upgrade ]; then files=(test/upgrade/*.test.ts); fi
exec node --require ts-node/register --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
