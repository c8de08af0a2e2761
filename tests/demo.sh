#!/usr/bin/env bash
# make demo: a local three-member cluster under build/demo, some registry data, a
# snapshot into a local store, then status and the list of snapshots. Run it again
# and it reuses the same cluster (cluster up is idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RV=$ROOT/build/regvault
DEMO=$ROOT/build/demo
CFG=$DEMO/regvault.yaml
mkdir -p "$DEMO"

# Ports below the kernel's range for outgoing connections, not in use, not reused.
free_port() {
  local p low
  low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  while :; do
    p=$((10000 + RANDOM % (low - 10000)))
    grep -qx "$p" "$DEMO/.ports" 2>/dev/null && continue
    [ -n "$(ss -Htan "sport = :$p" 2>/dev/null)" ] && continue
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
    echo "$p" >>"$DEMO/.ports"; echo "$p"; return
  done
}

if [ ! -f "$CFG" ]; then
  {
    echo "# regvault demo: three etcd members on this host, snapshots in $DEMO/backups"
    echo "cluster:"
    echo "  name: registry"
    echo "  token: registry-demo"
    echo "  members:"
    for i in 1 2 3; do
      echo "    - name: etcd$i"
      echo "      client_url: http://127.0.0.1:$(free_port)"
      echo "      peer_url: http://127.0.0.1:$(free_port)"
      echo "      data_dir: $DEMO/etcd$i"
    done
    echo "store:"
    echo "  url: $DEMO/backups"
    echo "snapshot:"
    echo "  retention: { keep_last: 5, keep_daily: 7 }"
    echo "state_dir: $DEMO/state"
  } >"$CFG"
fi

# Commands in bold on a terminal only, and never under NO_COLOR (no-color.org).
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD= PLAIN=; fi
step() { printf '\n%s$ %s%s\n' "$BOLD" "$*" "$PLAIN"; }
rv() { step "regvault --config $CFG $*"; "$RV" --config "$CFG" "$@"; }

rv cluster up
ENDPOINTS=$(sed -n 's/^ *client_url: //p' "$CFG" | paste -sd, -)
step "etcdctl put some registry data (manifests, heartbeats on a lease, gateway map)"
for i in $(seq 1 20); do
  ETCDCTL_API=3 etcdctl --endpoints="$ENDPOINTS" put "/registry/manifests/svc-$i" "{\"service\":\"svc-$i\",\"version\":$i}" >/dev/null
done
LEASE=$(ETCDCTL_API=3 etcdctl --endpoints="$ENDPOINTS" lease grant 30 | awk '{print $2}')
ETCDCTL_API=3 etcdctl --endpoints="$ENDPOINTS" put --lease="$LEASE" /registry/heartbeats/svc-1 alive >/dev/null
ETCDCTL_API=3 etcdctl --endpoints="$ENDPOINTS" put /registry/gateways/alice gw-eu-1 >/dev/null
echo "22 keys written"
rv snapshot save --tag demo
rv snapshot list
rv snapshot verify latest
rv cluster status

cat <<MSG

The demo cluster keeps running. Try:
  $RV --config $CFG cluster status -o json
  $RV --config $CFG maint hashcheck
  $RV --config $CFG drill --from latest
Stop it with:
  $RV --config $CFG cluster down
To follow the README's first session, say once:
  export PATH=$ROOT/build:\$PATH REGVAULT_CONFIG=$CFG
MSG
