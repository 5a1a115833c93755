# shellcheck shell=bash
# The host: the packages the lab needs, the Debian mirror apt uses, the shared rootfs build (its package
# list and recipe are in scripts/lab/rootfs.sh).
# Sourced by scripts/lab.sh: functions only, no top-level code; the settings they use are lab.sh's.

# --- host tools --------------------------------------------------------------------------------------

ensure_host_tools() {
  local -A need=([systemd-nspawn]=systemd-container [debootstrap]=debootstrap [ip]=iproute2 [ssh]=openssh-client
    [ssh-keygen]=openssh-client [ssh-keyscan]=openssh-client [setsid]=util-linux [flock]=util-linux [chroot]=coreutils)
  local -A pkgs=()
  local c
  for c in "${!need[@]}"; do command -v "$c" >/dev/null 2>&1 || pkgs[${need[$c]}]=1; done
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || pkgs[debian-archive-keyring]=1
  [ ${#pkgs[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing host packages (${!pkgs[*]}) and no apt-get to install them"
  log "installing host packages: ${!pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q "${!pkgs[@]}" </dev/null; then
    apt-get update -q </dev/null
    apt-get install -y -q "${!pkgs[@]}" </dev/null
  fi
}

# --- Debian mirror (the one apt uses) ---------------------------------------------------------------

# apt_sources : "URI SUITE" for every enabled `deb` entry in apt's sources (one-line and deb822 formats).
apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ } if (i < NF) print $i, $(i + 1) }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '
      function flush(   n, m, i, j, u, s) {
        if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no") {
          n = split(uris, u, /[ \t]+/); m = split(suites, s, /[ \t]+/)
          for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) if (u[i] != "" && s[j] != "") print u[i], s[j]
        }
        types = uris = suites = enabled = last = ""
      }
      /^#/ { next }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]/ { if (last == "uris") uris = uris " " $0; else if (last == "suites") suites = suites " " $0; else if (last == "types") types = types " " $0; next }
      {
        key = tolower($1); sub(/:.*$/, "", key); val = $0; sub(/^[^:]*:[ \t]*/, "", val); last = ""
        if (key == "types") { types = val; last = "types" }
        else if (key == "uris") { uris = val; last = "uris" }
        else if (key == "suites") { suites = val; last = "suites" }
        else if (key == "enabled") enabled = tolower(val)
      }
      END { flush() }' "$f"
  done
}

debian_mirror() {
  if [ -n "${K8SCP_DEBIAN_MIRROR:-}" ]; then
    echo "$K8SCP_DEBIAN_MIRROR"
    return
  fi
  local uri suite
  # A source apt already uses for this suite, else any plain Debian archive (path ending in /debian).
  while read -r uri suite; do
    # shellcheck disable=SC2153 # SUITE is set by scripts/lab.sh
    if [ "$suite" = "$SUITE" ] && [[ $uri == http://* || $uri == https://* ]]; then
      echo "${uri%/}"
      return
    fi
  done < <(apt_sources)
  while read -r uri suite; do
    if [[ $uri =~ ^https?://.*/debian/?$ && $suite != *-* && $suite != */* ]]; then
      echo "${uri%/}"
      return
    fi
  done < <(apt_sources)
  die "no Debian mirror found in /etc/apt/sources.list{,.d/*}; set K8SCP_DEBIAN_MIRROR"
}

# --- rootfs ------------------------------------------------------------------------------------------

# unmount_under DIR : unmount everything mounted at or below DIR, deepest first.
unmount_under() {
  local m
  awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
}

ensure_rootfs() {
  if [ -d "$ROOTFS" ]; then
    log "rootfs: cached $ROOTFS"
    return
  fi
  local t stale mirror
  t=$(now)
  for stale in "$LAB_DIR"/rootfs-*.tmp.*; do
    [ -d "$stale" ] || continue
    log "removing an interrupted rootfs build: $stale"
    unmount_under "$stale"
    rm -rf --one-file-system "$stale"
  done
  mirror=$(debian_mirror)
  if [ -z "${http_proxy:-}" ]; then
    local APT_PROXY=""
    eval "$(apt-config shell APT_PROXY Acquire::http::Proxy 2>/dev/null || true)"
    if [ -n "$APT_PROXY" ]; then export http_proxy="$APT_PROXY"; fi
  fi
  local includes
  includes=$(
    IFS=,
    echo "${LAB_PACKAGES[*]}"
  )
  log "rootfs: building $SUITE (minbase + $includes) from $mirror (log: $LAB_DIR/logs/rootfs-build.log)"
  BUILD_TMP=$(mktemp -d "$ROOTFS.tmp.XXXXXX")
  chmod 0755 "$BUILD_TMP"
  local blog="$LAB_DIR/logs/rootfs-build.log"
  # In its own process group, waited for with `wait`, so that a signal to this script stops the build at once.
  setsid debootstrap --variant=minbase --components=main --include="$includes" "$SUITE" "$BUILD_TMP" "$mirror" >"$blog" 2>&1 </dev/null 9>&- &
  BUILD_PID=$!
  local rc=0
  wait "$BUILD_PID" || rc=$?
  BUILD_PID=""
  if [ $rc -ne 0 ]; then
    tail -n 30 "$blog" >&2
    die "debootstrap failed (full log: $blog)"
  fi
  unmount_under "$BUILD_TMP"
  log "rootfs: debootstrap done in $(since "$t"); customising"
  if ! (lab_rootfs_customise "$BUILD_TMP") >>"$blog" 2>&1 </dev/null; then
    tail -n 30 "$blog" >&2
    die "rootfs customisation failed (full log: $blog)"
  fi
  unmount_under "$BUILD_TMP"
  printf 'suite=%s\nrecipe=%s\nhash=%s\nmirror=%s\npackages=%s\nbuilt=%s\n' "$SUITE" "$LAB_ROOTFS_RECIPE" "$ROOTFS_HASH" \
    "$mirror" "$includes" "$(date -u +%FT%TZ)" >"$BUILD_TMP/etc/k8scp-lab-rootfs"
  mv -T "$BUILD_TMP" "$ROOTFS"
  BUILD_TMP=""
  log "rootfs: built in $(since "$t"), $(du -sh --one-file-system "$ROOTFS" | cut -f1): $ROOTFS"
  # Older recipes' trees are only in use while their nodes run.
  if [ -z "$(present_nodes)" ]; then
    for stale in "$LAB_DIR"/rootfs-*; do
      [ "$stale" = "$ROOTFS" ] || [[ $stale == *.tmp.* ]] || [ ! -d "$stale" ] && continue
      log "removing the rootfs of an older recipe: $stale"
      rm -rf --one-file-system "$stale"
    done
  fi
}
