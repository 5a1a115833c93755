# shellcheck shell=bash
# The lab's node root filesystem: package list and recipe. Sourced by scripts/lab.sh.
#
# The cache directory name is rootfs-<hash>, where <hash> covers the Debian suite and this file without
# its comment and blank lines (package list, recipe number and the customisation below), so changing the
# recipe makes the next `up` build a fresh rootfs (and, when no node runs, delete the older ones).
# Bump LAB_ROOTFS_RECIPE to force a rebuild without other changes.
# shellcheck disable=SC2034 # used by scripts/lab.sh
LAB_ROOTFS_RECIPE=1

# Everything a node needs must be here: nodes have no network access beyond the lab's /24.
# shellcheck disable=SC2034 # used by scripts/lab.sh
LAB_PACKAGES=(
  systemd systemd-sysv dbus
  openssh-server openssh-sftp-server sudo
  iproute2 iputils-ping procps psmisc less
  ca-certificates curl openssl
  haproxy
)

# Units a package enables (or systemd pulls in) that a lab node must not run: the library manages its
# own HAProxy unit; the timers want network or real disks.
LAB_DISABLE_UNITS=(
  haproxy.service
  apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer
  e2scrub_all.timer e2scrub_reap.service fstrim.timer
)

# Login prompts on the (read-only) container console fail or spin in nspawn; nobody logs in there.
LAB_MASK_UNITS=(
  console-getty.service container-getty@.service getty@.service serial-getty@.service
  getty-static.service systemd-networkd-wait-online.service
)

# lab_rootfs_customise DIR : turn a fresh debootstrap tree into the shared, read-only lower layer.
# Per-node files (hostname, hosts, SSH host key, authorised keys) go into each node's overlay upper dir.
lab_rootfs_customise() {
  local r=$1
  # Every node gets its own SSH host keys and machine id.
  rm -f "$r"/etc/ssh/ssh_host_*
  : >"$r/etc/machine-id"
  mkdir -p "$r/var/lib/dbus"
  ln -sfn /etc/machine-id "$r/var/lib/dbus/machine-id"
  : >"$r/etc/hostname"
  printf '# k8scp lab: nodes have no DNS; names are in /etc/hosts\n' >"$r/etc/resolv.conf"

  # The SSH user: passwordless sudo, key login only ('*' = no password, but not a locked account).
  chroot "$r" useradd --create-home --shell /bin/bash --user-group kube
  chroot "$r" usermod -p '*' kube
  chroot "$r" usermod -p '*' root
  printf 'kube ALL=(ALL:ALL) NOPASSWD: ALL\n' >"$r/etc/sudoers.d/k8scp-lab-kube"
  chmod 0440 "$r/etc/sudoers.d/k8scp-lab-kube"
  chroot "$r" visudo -cq

  # sshd: Debian's defaults (MaxStartups 10:30:100, MaxSessions 10, RSA, ECDSA and ed25519 host keys), as users
  # have them; only authentication is set here. Debian's sshd_config includes sshd_config.d/*.conf first, and the
  # first value wins. Authorised keys are per lab, so they live in each node's upper dir:
  # /etc/ssh/authorized_keys.d/<user>.
  mkdir -p "$r/etc/ssh/sshd_config.d" "$r/etc/ssh/authorized_keys.d"
  cat >"$r/etc/ssh/sshd_config.d/00-k8scp-lab.conf" <<'EOF'
# k8scp lab node: authentication only
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/authorized_keys.d/%u
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
EOF

  # Keep the journal small: nodes live on the real disk.
  mkdir -p "$r/etc/systemd/journald.conf.d"
  printf '[Journal]\nSystemMaxUse=64M\nRuntimeMaxUse=32M\n' >"$r/etc/systemd/journald.conf.d/k8scp-lab.conf"

  local u
  for u in "${LAB_DISABLE_UNITS[@]}"; do
    if [ -n "$(find "$r/lib/systemd/system" "$r/usr/lib/systemd/system" -maxdepth 1 -name "$u" 2>/dev/null | head -1)" ]; then
      systemctl --root="$r" --quiet disable "$u"
    fi
  done
  systemctl --root="$r" --quiet mask "${LAB_MASK_UNITS[@]}"

  # Smaller and reproducible: no package lists, caches or logs from the build.
  chroot "$r" apt-get clean
  rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/debconf/*-old "$r"/var/log/*.log "$r"/var/log/apt/*
  rm -rf "$r"/tmp/* "$r"/var/tmp/*
}
