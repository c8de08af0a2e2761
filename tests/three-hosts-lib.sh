# three-hosts-lib.sh - the fixture of the three-host tests (80-three-hosts,
# 81-three-hosts-restore): one member and one daemon per host namespace
# (netns-lib.sh), the configuration each host has, and the helpers to act on a host.

source "$RV_ROOT/tests/netns-lib.sh"

# host_store I: host I's store section: a local directory of its own. A test file
# whose hosts share another store (83: S3) defines its own after sourcing this.
host_store() {
  echo "store:"
  echo "  url: $T_FILE_DIR/h$1/backups"
}

# host_config I [CERT]: host I's configuration (the same cluster for all; its own
# state, socket and certificate, CERT hI by default).
host_config() {
  local i=$1 cert=${2:-h$1} j
  {
    echo "cluster:"
    echo "  name: three"
    echo "  token: three-test-$$"
    echo "  members:"
    for j in 1 2 3; do
      echo "    - name: etcd$j"
      echo "      client_url: http://$NETNS_SUBNET.$j:2379"
      echo "      peer_url: http://$NETNS_SUBNET.$j:2380"
      echo "      data_dir: $T_FILE_DIR/h$j/etcd$j"
      echo "      agent: $NETNS_SUBNET.$j:9480"
    done
    echo "  etcd:"
    echo "    heartbeat_interval_ms: 100"
    echo "    election_timeout_ms: 1000"
    host_store "$i"
    echo "state_dir: $T_FILE_DIR/h$i/state"
    echo "agent:"
    echo "  ca_file: $T_FILE_DIR/pki/ca.pem"
    echo "  cert_file: $T_FILE_DIR/pki/$cert.pem"
    echo "  key_file: $T_FILE_DIR/pki/$cert.key"
    echo "  timeout: 2s"
    echo "daemon:"
    echo "  leader_ttl: 3s"
    echo "  health_interval: 1s"
    echo "  control_socket: $T_FILE_DIR/h$i/d.sock"
    echo "  metrics_listen: \"\""
    echo "  jobs:"
    for job in snapshot verify compact defrag hashcheck diskcheck drill; do echo "    $job: {enabled: false}"; done
  } >"$T_FILE_DIR/cfg$i.yaml"
}

# start_daemon I: host I's daemon in its namespace; its pid in $T_FILE_DIR/dI.pid.
start_daemon() {
  local i=$1 k
  # ip netns exec execs the daemon: $! is the daemon's pid
  ip netns exec "${NETNS_PREFIX}h$i" "$RV_BIN" --config "$T_FILE_DIR/cfg$i.yaml" daemon >>"$T_FILE_DIR/daemon$i.log" 2>&1 &
  echo $! >"$T_FILE_DIR/d$i.pid"
  for k in $(seq 1 50); do
    on_host "$i" "$RV_BIN" --config "$T_FILE_DIR/cfg$i.yaml" daemon status >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "daemon $i does not answer: $(tail -5 "$T_FILE_DIR/daemon$i.log")"
  return 1
}

on() { local i=$1; shift; run ip netns exec "${NETNS_PREFIX}h$i" "$RV_BIN" --config "$T_FILE_DIR/cfg$i.yaml" --no-progress "$@"; }

leader_seen_by() { on_host "$1" "$RV_BIN" --config "$T_FILE_DIR/cfg$1.yaml" -o json daemon status 2>/dev/null | jq -r '.leader'; }


all_healthy_from() { on "$1" cluster status -o json && [ "$(jq '[.[] | select(.healthy)] | length' <<<"$OUT")" = 3 ]; }

ectl_on() { local i=$1; shift; on_host "$i" env ETCDCTL_API=3 etcdctl --endpoints="http://$NETNS_SUBNET.$i:2379" --dial-timeout=3s --command-timeout=10s "$@"; }

# restore_hosts_up: the restore tests' fixture (81, 82, 83): three host namespaces, the
# agents' certificates, a daemon and its member in each, the cluster healthy. A test
# file may define restore_hosts_network, run once the namespaces are there and before
# the configurations are written (83 starts its S3 server on the test network so).
restore_hosts_up() {
  local i
  netns_available || { echo "no network namespaces here (root and ip netns needed)"; return 1; }
  export_env NETNS_PREFIX
  netns_setup 3
  if declare -F restore_hosts_network >/dev/null; then restore_hosts_network || return 1; fi
  make_certs "$T_FILE_DIR/pki" 3
  need_test_hooks
  for i in 1 2 3; do mkdir -p "$T_FILE_DIR/h$i"; host_config "$i"; done
  for i in 1 2 3; do start_daemon "$i" & done
  wait
  for i in 1 2 3; do [ -s "$T_FILE_DIR/d$i.pid" ] && kill -0 "$(cat "$T_FILE_DIR/d$i.pid")"; done
  wait_for 40 all_healthy_from 1 || { echo "the cluster did not come up: $ERR"; tail -5 "$T_FILE_DIR"/daemon*.log; return 1; }
}
