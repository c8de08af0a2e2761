# The coordinated restore across hosts (issue 15) beyond 81's cases: two
# coordinators on two hosts (the second is refused by the hosts' coordinator lock
# before anything is stopped); SIGTERM to the coordinator before the commit (nothing
# stopped, every host cleaned up) and from it on (held); its JSON; --dry-run asking
# every host; --resume from another host after the coordinator was killed in the
# commit. The fixture is 81's: one member and one daemon per host namespace, agents
# on mutual TLS, each host's store a local directory of its own.

source "$RV_ROOT/tests/three-hosts-lib.sh"

on_hooked() { local i=$1; shift; run ip netns exec "${NETNS_PREFIX}h$i" "$RV_HOOKS_BIN" --config "$T_FILE_DIR/cfg$i.yaml" --no-progress "$@"; }
member_pids() { cat "$T_FILE_DIR"/h*/etcd*.pid; }
locks_taken() { local i; for i in 1 2 3; do [ -e "$T_FILE_DIR/h$i/state/coordinator-lock.json" ] || return 1; done; }

setup_file() {
  restore_hosts_up || return 1
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

# Nothing of a restore left on any host: no step journal, no lock, no staged data
# dir or received snapshot, no coordinator journal on host 2.
nothing_left() {
  local i
  for i in 1 2 3; do
    assert_no_file "$T_FILE_DIR/h$i/state/member-restore-journal.json"
    assert_no_file "$T_FILE_DIR/h$i/state/coordinator-lock.json"
    assert_no_file "$T_FILE_DIR/h$i/.regvault-restore-staging/etcd$i"
    assert_no_file "$T_FILE_DIR/h$i/.regvault-restore-staging/received-etcd$i.db"
  done
  assert_no_file "$T_FILE_DIR/h2/state/coordinated-restore.json"
}

# SIGTERM to the coordinator before the commit (the hosts not yet prepared, and all
# prepared): exit 1 as the one-host restore's, nothing stopped, the hosts cleaned up.
test_sigterm_before_the_commit_stops_nothing_and_cleans_every_host_up() {
  local point before
  before=$(member_pids)
  for point in coordinator-preparing coordinator-prepared; do
    RV_TEST_SIGNAL_AT=$point on_hooked 2 restore --from latest --yes --force
    assert_rc 1
    assert_err_contains "the restore was interrupted"
    assert_err_contains "nothing was stopped or changed"
    assert_eq "$(member_pids)" "$before" "the members' pids after an interrupt at $point"
    nothing_left
  done
}

# From the commit on the signal is held: the restore ends restored and says so. Its
# JSON has the one-host report's top-level fields (report_restore_json) and "hosts".
test_sigterm_from_the_commit_on_is_held_and_the_json_is_the_one_host_report_with_hosts() {
  local keys
  RV_TEST_SIGNAL_AT=coordinator-committing on_hooked 2 -o json restore --from latest --yes --force
  assert_ok
  assert_err_contains "signal 15 arrived during the restore; it was held until the restore finished or rolled back"
  keys=$(jq -c 'keys_unsorted' <<<"$OUT")
  assert_eq "$keys" '["result","artifact","store","snapshot_revision","cluster_revision_before","cluster_serving_before","token","revision","revision_now","hashkv","phases","point","members","error","rollback","hosts"]' "the report's keys"
  assert_eq "$(json_get .result)" restored "result"
  assert_eq "$(json_get '[.hosts[] | select(.phase == "done" and .error == null and .old_data_dir != null)] | length')" 3 "hosts done"
  assert_eq "$(json_get '[.members[] | select(.old_data_dir != null)] | length')" 3 "members with their old data dir kept"
  assert_eq "$(json_get '.hosts | map(.member) | join(",")')" etcd1,etcd2,etcd3 "the hosts' members"
  nothing_left
}

# --dry-run asks every host whether it could prepare; nothing is sent or changed.
test_a_dry_run_asks_every_host_and_changes_nothing() {
  local before i
  wait_for 20 all_healthy_from 2 || fail "the cluster is not healthy: $ERR"
  before=$(member_pids)
  on 2 restore --from latest --dry-run
  assert_ok
  assert_out_contains "every host could prepare. Dry run: nothing was changed."
  for i in 1 2 3; do
    grep -q "^  etcd$i .* present .* yes$" <<<"$OUT" || fail "no row saying host $i could prepare: $OUT"
  done
  on 2 -o json restore --from latest --dry-run
  assert_ok
  assert_eq "$(json_get .result)" planned "result"
  assert_eq "$(json_get '[.hosts[] | select(.could_prepare and .has_data and .etcd_binary != null and .need_bytes > 0)] | length')" 3 "hosts that could prepare"
  assert_eq "$(member_pids)" "$before" "the members' pids after a dry run"
  nothing_left
}

# A host that could not prepare (another restore journaled there): exit 1, naming it.
test_a_dry_run_names_the_host_that_could_not_prepare() {
  local j=$T_FILE_DIR/h3/state/member-restore-journal.json
  echo '{"phase": "prepared", "stamp": "20260101T000000Z", "artifact": "other", "member": "etcd3"}' >"$j"
  on 2 restore --from latest --dry-run
  rm -f "$j"
  assert_rc 1
  assert_err_contains "could not go ahead: member etcd3's host (agent $NETNS_SUBNET.3:9480): member etcd3 is at step 'prepared' of another restore"
  assert_out_contains "no: member etcd3 is at step"
  [ "$(grep -c 'could not go ahead' <<<"$ERR")" -eq 1 ] || fail "the sentence is not said once: $ERR"
}

# The coordinator killed once the commit began (the members quarantined on the
# restored data): --resume from another host, once the dead coordinator's lock has
# lapsed, finishes the restore.
test_resume_from_another_host_after_the_coordinator_was_killed_in_the_commit() {
  local i
  ectl_on 1 put /t/after-snapshot gone >/dev/null || fail "put failed"
  RV_TEST_CRASH_AT=coordinator-checking on_hooked 2 restore --from latest --yes --force
  [ "$RC" -ne 0 ] || fail "the coordinator was not killed"
  on 1 restore --resume
  assert_ok
  assert_out_contains "Restored"
  wait_for 20 all_healthy_from 1 || fail "the restored cluster is not healthy: $ERR"
  for i in 1 2 3; do
    assert_eq "$(ectl_on "$i" get /t/base --print-value-only)" snapshot "/t/base on etcd$i"
    assert_eq "$(ectl_on "$i" get /t/after-snapshot --print-value-only)" "" "/t/after-snapshot on etcd$i"
  done
  # the killed coordinator's own journal stays on its host (as in 81)
  rm -f "$T_FILE_DIR/h2/state/coordinated-restore.json"
  nothing_left
}
