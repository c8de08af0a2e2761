# The coordinated restore across hosts (issue 15) when more than one thing happens
# at once: two coordinators on two hosts (the second is refused by the hosts'
# coordinator lock before anything is stopped). The fixture is 81's: one member and
# one daemon per host namespace, agents on mutual TLS, each host's store a local
# directory of its own.

source "$RV_ROOT/tests/three-hosts-lib.sh"

ectl_on() { local i=$1; shift; on_host "$i" env ETCDCTL_API=3 etcdctl --endpoints="http://$NETNS_SUBNET.$i:2379" --dial-timeout=3s --command-timeout=10s "$@"; }
on_hooked() { local i=$1; shift; run ip netns exec "${NETNS_PREFIX}h$i" "$RV_HOOKS_BIN" --config "$T_FILE_DIR/cfg$i.yaml" --no-progress "$@"; }
member_pids() { cat "$T_FILE_DIR"/h*/etcd*.pid; }
locks_taken() { local i; for i in 1 2 3; do [ -e "$T_FILE_DIR/h$i/state/coordinator-lock.json" ] || return 1; done; }

setup_file() {
  netns_available || { echo "no network namespaces here (root and ip netns needed)"; return 1; }
  export_env NETNS_PREFIX
  netns_setup 3
  make_certs "$T_FILE_DIR/pki" 3
  need_test_hooks
  for i in 1 2 3; do mkdir -p "$T_FILE_DIR/h$i"; host_config "$i"; done
  for i in 1 2 3; do start_daemon "$i" & done
  wait
  for i in 1 2 3; do [ -s "$T_FILE_DIR/d$i.pid" ] && kill -0 "$(cat "$T_FILE_DIR/d$i.pid")"; done
  wait_for 40 all_healthy_from 1 || { echo "the cluster did not come up: $ERR"; tail -5 "$T_FILE_DIR"/daemon*.log; return 1; }
  ectl_on 1 put /t/base snapshot >/dev/null
  for i in 1 2; do on "$i" snapshot save; [ "$RC" = 0 ] || { echo "snapshot on host $i: $ERR"; return 1; }; done
}

teardown_file() {
  netns_teardown
}

# The first coordinator (host 2) holds every host's lock and waits before its
# prepare; the second (host 1) is refused at its first host, naming the first.
test_a_second_coordinator_is_refused_while_another_restores() {
  local before pid rc
  before=$(member_pids)
  RV_TEST_PAUSE_AT=coordinator-preparing:6000 ip netns exec "${NETNS_PREFIX}h2" "$RV_HOOKS_BIN" \
    --config "$T_FILE_DIR/cfg2.yaml" --no-progress restore --from latest --yes --force >"$T_FILE_DIR/first.out" 2>"$T_FILE_DIR/first.err" &
  pid=$!
  wait_for 30 locks_taken || fail "the first coordinator did not take the hosts' locks: $(cat "$T_FILE_DIR/first.err")"
  on 1 restore --from latest --yes --force
  assert_rc 1
  assert_err_contains "restore refused before anything changed"
  assert_err_contains "another coordinated restore, the restore coordinated from etcd2's host"
  [ "$(grep -c . <<<"$ERR")" -eq 1 ] || fail "more than one line on stderr: $ERR"
  assert_eq "$(member_pids)" "$before" "the members' pids while the first coordinator waits"
  wait "$pid"
  rc=$?
  assert_eq "$rc" 0 "the first coordinator's exit code ($(cat "$T_FILE_DIR/first.err"))"
  grep -q "Restored" "$T_FILE_DIR/first.out" || fail "the first restore: $(cat "$T_FILE_DIR/first.out")"
  for i in 1 2 3; do assert_no_file "$T_FILE_DIR/h$i/state/coordinator-lock.json"; done
  wait_for 20 all_healthy_from 1 || fail "the restored cluster is not healthy: $ERR"
  # the lock is free again: a restore from host 1 now goes through
  on 1 restore --from latest --yes --force
  assert_ok
}
