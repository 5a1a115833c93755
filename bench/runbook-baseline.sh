#!/usr/bin/env bash
# The runbooks' way, as the baseline for `npm run bench`: one plain script, every step in order, one host after
# another. openssl makes one CA and every certificate, `kubectl config` the kubeconfigs, scp copies binaries and
# files to each master, ssh writes them in place and the units, `systemctl` starts etcd on every member, then
# each kube-apiserver, kube-controller-manager and kube-scheduler master by master, each waiting for its health
# endpoint, then HAProxy on the LB host.
#
#   runbook-baseline.sh up PLAN_DIR      deploy (PLAN_DIR from bench/baselinePlan.ts: flags, paths, health checks
#                                        rendered by the library's pure renderers, so both deploy the same thing)
#   runbook-baseline.sh clean PLAN_DIR   stop, disable and remove everything it installed on every host
#
# Runs in the lab's controller namespace (bench/run.ts starts it there). Environment: SSH_KEY, KNOWN_HOSTS,
# SSH_USER (kube), BIN_DIR (etcd, etcdctl, kube-* and kubectl).
set -euo pipefail
action="$1"
plan="$(cd "$2" && pwd)"
: "${SSH_KEY:?}" "${KNOWN_HOSTS:?}" "${BIN_DIR:?}"
user="${SSH_USER:-kube}"
vip="$(cat "$plan/vip")"
sshopts=(-F /dev/null -i "$SSH_KEY" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes
  -o UserKnownHostsFile="$KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR)
services=(etcd kube-apiserver kube-controller-manager kube-scheduler)
binaries=(etcd etcdctl kube-apiserver kube-controller-manager kube-scheduler)
say() { printf '[baseline] %s (t=%s)\n' "$*" "$EPOCHREALTIME"; }
on() { local h="$1"; shift; ssh "${sshopts[@]}" "$user@$h" "$@"; }
mapfile -t masters < <(awk '{print $1":"$2}' "$plan/masters")

if [ "$action" = clean ]; then
  # Every host at once (an apiserver drains for a while on stop); the result checked per host.
  pids=()
  for m in "${masters[@]}"; do
    a="${m#*:}"
    on "$a" "sudo -n systemctl disable --now ${services[*]} >/dev/null 2>&1 || true
      for s in ${services[*]}; do sudo -n rm -f /etc/systemd/system/\$s.service; done
      sudo -n systemctl daemon-reload; sudo -n systemctl reset-failed >/dev/null 2>&1 || true
      for s in ${services[*]}; do sudo -n pkill -KILL -u \$s 2>/dev/null || true; sudo -n userdel \$s 2>/dev/null || true; done
      for b in ${binaries[*]}; do sudo -n rm -f /usr/local/bin/\$b; done
      sudo -n rm -rf /etc/kubernetes /var/lib/etcd /var/lib/k8scp /var/log/kubernetes ~/baseline" &
    pids+=($!)
  done
  on "$vip" "sudo -n systemctl disable --now k8scp-haproxy >/dev/null 2>&1 || true; sudo -n rm -f /etc/systemd/system/k8scp-haproxy.service
    sudo -n systemctl daemon-reload; sudo -n rm -rf /etc/kubernetes ~/baseline" &
  pids+=($!)
  for p in "${pids[@]}"; do wait "$p"; done
  say "cleaned"
  exit 0
fi

work="$plan/work"
rm -rf "$work" && mkdir -p "$work/pki"
cd "$work/pki"

# 1. PKI (openssl, one CA as the runbooks do)
t0=$EPOCHREALTIME
openssl genrsa -out ca-key.pem 2048 2>/dev/null
openssl req -x509 -new -key ca-key.pem -subj "/CN=kubernetes" -days 3650 -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
openssl genrsa -out sa.key 2048 2>/dev/null
openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
while IFS=$'\t' read -r name cn o usage dns ip; do
  subj="/CN=$cn"
  [ "$o" = - ] || subj="/O=$o$subj"
  case "$usage" in
    client) eku=clientAuth ;;
    server) eku=serverAuth ;;
    *) eku=serverAuth,clientAuth ;;
  esac
  san=""
  [ "$dns" = - ] || san+="$(tr , '\n' <<<"$dns" | sed 's/^/DNS:/' | paste -sd,)"
  if [ "$ip" != - ]; then [ -z "$san" ] || san+=","; san+="$(tr , '\n' <<<"$ip" | sed 's/^/IP:/' | paste -sd,)"; fi
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [ -z "$san" ] || echo "subjectAltName=$san"
  } >"$name.ext"
  openssl genrsa -out "$name-key.pem" 2048 2>/dev/null
  openssl req -new -key "$name-key.pem" -subj "$subj" -out "$name.csr"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 365 -extfile "$name.ext" -out "$name.pem" 2>/dev/null
done <"$plan/certs.tsv"
# kubeconfigs (kubectl config, embedded certs), controller-manager and scheduler talk to their own apiserver
kc() { # file server user cert key
  local k="$BIN_DIR/kubectl" f="$1"
  "$k" config set-cluster kubernetes --certificate-authority=ca.pem --embed-certs=true --server="$2" --kubeconfig="$f" >/dev/null
  "$k" config set-credentials "$3" --client-certificate="$4" --client-key="$5" --embed-certs=true --kubeconfig="$f" >/dev/null
  "$k" config set-context default --cluster=kubernetes --user="$3" --kubeconfig="$f" >/dev/null
  "$k" config use-context default --kubeconfig="$f" >/dev/null
}
kc admin.kubeconfig "https://$vip:6443" admin admin.pem admin-key.pem
for m in "${masters[@]}"; do
  n="${m%%:*}" a="${m#*:}"
  kc "$n-controller-manager.kubeconfig" "https://$a:6443" system:kube-controller-manager "$n-controller-manager.pem" "$n-controller-manager-key.pem"
  kc "$n-scheduler.kubeconfig" "https://$a:6443" system:kube-scheduler "$n-scheduler.pem" "$n-scheduler-key.pem"
done
say "pki and kubeconfigs done in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s"

# 2. Copy binaries and files to each master, one after another, and put them in place
t0=$EPOCHREALTIME
for m in "${masters[@]}"; do
  n="${m%%:*}" a="${m#*:}"
  b="$work/bundle-$n"
  mkdir -p "$b/files" "$b/units"
  while IFS=$'\t' read -r svc dst mode src; do
    [ "$mode" = dir ] && continue
    case "$src" in literal/*) cp "$plan/$src" "$b/files/$(basename "$dst").$svc" ;; *) cp "$work/pki/$src" "$b/files/$(basename "$dst").$svc" ;; esac
  done <"$plan/$n/files.tsv"
  cp "$plan/$n/files.tsv" "$b/"
  cp "$plan/$n/units/"*.service "$b/units/"
  on "$a" "rm -rf ~/baseline && mkdir -p ~/baseline"
  scp -q "${sshopts[@]}" "${binaries[@]/#/$BIN_DIR/}" "$user@$a:baseline/"
  scp -q -r "${sshopts[@]}" "$b/files" "$b/units" "$b/files.tsv" "$user@$a:baseline/"
  on "$a" 'set -e; cd ~/baseline
    for s in etcd kube-apiserver kube-controller-manager kube-scheduler; do
      id -u $s >/dev/null 2>&1 || sudo -n useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin $s
    done
    for b in etcd etcdctl kube-apiserver kube-controller-manager kube-scheduler; do sudo -n install -m 0755 $b /usr/local/bin/$b; done
    sudo -n install -d -m 0755 /etc/kubernetes
    while IFS=$(printf "\t") read -r svc dst mode src; do
      if [ "$mode" = dir ]; then sudo -n install -d -m 0700 -o $svc -g $svc "$dst"; continue; fi
      sudo -n install -d -m 0700 -o $svc -g $svc /etc/kubernetes/$svc "$(dirname "$dst")"
      sudo -n install -m "$mode" -o $svc -g $svc "files/$(basename "$dst").$svc" "$dst"
    done <files.tsv
    sudo -n install -m 0644 units/*.service /etc/systemd/system/
    sudo -n systemctl daemon-reload
    sudo -n systemctl enable etcd kube-apiserver kube-controller-manager kube-scheduler >/dev/null 2>&1'
  say "$n: binaries and files copied and in place"
done
say "copies done in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s"

# 3. Start: etcd on every member (they only become healthy together), then each service master by master
t0=$EPOCHREALTIME
health() { awk -F'\t' -v s="$1" '$1 == s { print $2 }' "$plan/$2/services.tsv"; }
for m in "${masters[@]}"; do on "${m#*:}" "sudo -n systemctl start --no-block etcd"; done
for m in "${masters[@]}"; do
  n="${m%%:*}" a="${m#*:}"
  on "$a" "for i in \$(seq 180); do sudo -n $(health etcd "$n") 2>/dev/null && exit 0; sleep 1; done; exit 1"
  say "$n: etcd healthy"
done
for s in kube-apiserver kube-controller-manager kube-scheduler; do
  for m in "${masters[@]}"; do
    n="${m%%:*}" a="${m#*:}"
    on "$a" "sudo -n systemctl start $s && for i in \$(seq 180); do sudo -n $(health "$s" "$n") 2>/dev/null && exit 0; sleep 1; done; exit 1"
    say "$n: $s healthy"
  done
done
say "services started in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s"

# 4. The load balancer
t0=$EPOCHREALTIME
on "$vip" "rm -rf ~/baseline && mkdir -p ~/baseline"
scp -q "${sshopts[@]}" "$plan/lb/haproxy.cfg" "$plan/lb/k8scp-haproxy.service" "$user@$vip:baseline/"
on "$vip" 'set -e; sudo -n install -d -m 0755 /etc/kubernetes/k8scp-haproxy
  sudo -n install -m 0644 ~/baseline/haproxy.cfg /etc/kubernetes/k8scp-haproxy/haproxy.cfg
  sudo -n haproxy -c -q -f /etc/kubernetes/k8scp-haproxy/haproxy.cfg
  sudo -n install -m 0644 ~/baseline/k8scp-haproxy.service /etc/systemd/system/
  sudo -n systemctl daemon-reload && sudo -n systemctl enable --now k8scp-haproxy >/dev/null 2>&1
  for i in $(seq 30); do timeout 3 bash -c "</dev/tcp/127.0.0.1/6443" 2>/dev/null && exit 0; sleep 1; done; exit 1'
say "load balancer up in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s"
"$BIN_DIR/kubectl" --kubeconfig "$work/pki/admin.kubeconfig" --request-timeout=10s get --raw=/readyz >/dev/null
say "readyz via the VIP: ok"
