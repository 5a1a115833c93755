set -eu
owner=$(sudo -n cat /var/lib/k8scp/master 2>/dev/null || true)
if [ -n "$owner" ] && [ "$owner" != 'n1' ]; then
  echo "[k8scp] $(hostname): this host is master $owner, not n1: keep its name in the config (a rename is not done in place)" >&2
  exit 1
fi
sudo -n install -d -m 0755 -o root -g root /var/lib/k8scp
sudo -n install -d -m 0700 -o 'kube' '/var/lib/k8scp/staging'
echo 'n1' | sudo -n tee /var/lib/k8scp/master >/dev/null
