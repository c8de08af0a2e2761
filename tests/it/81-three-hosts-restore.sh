# The restore coordinated across hosts (issue 15), in network namespaces
# (tests/netns-lib.sh): one member and one daemon per host, the agents on mutual
# TLS. The store is a local directory on the coordinator's host, so the coordinator
# streams the snapshot to every agent (RGW reachable only over the test network is
# not set up here). Cases: a full restore driven from host 2; a host cut off before
# the prepare (refused, nothing stopped, the host named); a host cut off during the
# commit (every host rolled back, the old cluster healthy with its writes); the
# coordinator killed mid-commit and --rollback run from another host; a restore to a
# point, replayed on the coordinator and restored on every host.

source "$RV_ROOT/tests/three-hosts-lib.sh"

setup_file() {
  restore_hosts_up || return 1
}

teardown_file() {
  netns_teardown
}

test_a_restore_driven_from_host_2_restores_every_host() {
  local i v
  ectl_on 1 put /t/a before >/dev/null || fail "put failed"
  on 2 snapshot save
  assert_ok
  ectl_on 1 put /t/a after >/dev/null || fail "put failed"
  ectl_on 3 put /t/b after >/dev/null || fail "put failed"
  on 2 restore --from latest --yes --force
  assert_ok
  assert_out_contains "Restored"
  assert_out_contains "on every host"
  wait_for 20 all_healthy_from 2 || fail "the restored cluster is not healthy: $ERR"
  for i in 1 2 3; do
    v=$(ectl_on "$i" get /t/a --print-value-only) || fail "get from etcd$i failed"
    assert_eq "$v" before "/t/a on etcd$i"
    v=$(ectl_on "$i" get /t/b --print-value-only)
    assert_eq "$v" "" "/t/b (written after the snapshot) on etcd$i"
    assert_file "$T_FILE_DIR/h$i/etcd$i.before-restore-$(ls "$T_FILE_DIR/h$i" | sed -n 's/^etcd[0-9]*\.before-restore-//p' | head -1)"
    assert_no_file "$T_FILE_DIR/h$i/state/member-restore-journal.json"
  done
  on 2 -o json maint hashcheck
  assert_ok
}

test_a_host_cut_off_before_the_prepare_refuses_the_restore() {
  local pids_before pids_after
  pids_before=$(cat "$T_FILE_DIR"/h*/etcd*.pid)
  netns_cut 3
  on 2 restore --from latest --yes --force
  netns_mend 3
  assert_rc 1
  assert_err_contains "restore refused before anything changed"
  assert_err_contains "host $NETNS_SUBNET.3"
  pids_after=$(cat "$T_FILE_DIR"/h*/etcd*.pid)
  assert_eq "$pids_after" "$pids_before" "the members' pids (none was stopped)"
  wait_for 20 all_healthy_from 1 || fail "the cluster is not healthy after the link came back"
}

on_hooked() { local i=$1; shift; run ip netns exec "${NETNS_PREFIX}h$i" "$RV_HOOKS_BIN" --config "$T_FILE_DIR/cfg$i.yaml" --no-progress "$@"; }

test_the_coordinator_killed_mid_commit_is_rolled_back_from_another_host() {
  local i v
  ectl_on 1 put /t/kill kept >/dev/null || fail "put failed"
  RV_TEST_CRASH_AT=coordinator-checking on_hooked 2 restore --from latest --yes --force
  [ "$RC" -ne 0 ] || fail "the coordinator was not killed"
  for i in 1 2 3; do
    assert_file "$T_FILE_DIR/h$i/state/member-restore-journal.json"
  done
  on 1 restore --rollback
  assert_ok
  assert_out_contains "Rolled back"
  wait_for 20 all_healthy_from 1 || fail "the old cluster is not healthy after the rollback: $ERR"
  for i in 1 2 3; do
    v=$(ectl_on "$i" get /t/kill --print-value-only)
    assert_eq "$v" kept "/t/kill (written before the restore) on etcd$i"
    assert_no_file "$T_FILE_DIR/h$i/state/member-restore-journal.json"
  done
  rm -f "$T_FILE_DIR/h2/state/coordinated-restore.json"
}

test_a_host_cut_off_during_the_commit_rolls_every_host_back() {
  local i v
  ectl_on 1 put /t/cut kept >/dev/null || fail "put failed"
  # the coordinator waits at the commit; the link of host 3 goes down then, and comes
  # back only after the commit to it has failed (its deadline is agent.timeout + 40 s)
  (
    for k in $(seq 1 300); do [ -e "$T_FILE_DIR/h2/state/coordinated-restore.json" ] && break; sleep 0.1; done
    netns_cut 3
    sleep 50
    netns_mend 3
  ) &
  RV_TEST_PAUSE_AT=coordinator-committing:2000 on_hooked 2 restore --from latest --yes --force --timeout 90s
  wait
  assert_rc 1
  assert_err_contains "host $NETNS_SUBNET.3"
  assert_err_contains "rolled back"
  wait_for 20 all_healthy_from 1 || fail "the old cluster is not healthy after the rollback: $ERR"
  for i in 1 2 3; do
    v=$(ectl_on "$i" get /t/cut --print-value-only)
    assert_eq "$v" kept "/t/cut (written before the restore) on etcd$i"
    assert_no_file "$T_FILE_DIR/h$i/state/member-restore-journal.json"
  done
}

# A restore to a point across hosts: the coordinator replays the chain's events into
# a private etcd of its own and every host restores the replayed db, streamed as a
# --from-file one. The chain is recorded into a store of its own on host 2 by a
# daemon of its own (continuous backup from a base saved first; another cluster
# name, so its election is its own, and no agents: it only reads the members).
test_a_restore_to_a_point_is_replayed_on_the_coordinator_and_restored_on_every_host() {
  local rec=$T/rec.yaml i r v last
  sed -e 's/^  name: three$/  name: three-rec/' -e '/^      agent: /d' -e '/^agent:/,/^  timeout:/d' \
    -e "s|h2/d.sock|h2/rec.sock|" -e "s|h2/state|h2/rec-state|" -e "s|h2/backups|h2/rec-backups|" \
    -e '/^daemon:/a\  supervise_members: false\n  continuous:\n    enabled: true' "$T_FILE_DIR/cfg2.yaml" >"$rec"
  run ip netns exec "${NETNS_PREFIX}h2" "$RV_BIN" --config "$rec" --no-progress snapshot save
  assert_ok
  ip netns exec "${NETNS_PREFIX}h2" "$RV_BIN" --config "$rec" daemon >"$T/rec.log" 2>&1 &
  local rpid=$!
  wait_for 30 grep -q "recording chain" "$T/rec.log" || { kill -9 $rpid; fail "the recorder did not start: $(tail -5 "$T/rec.log")"; }
  for i in $(seq 1 20); do ectl_on 1 put /p/k "v$i" >/dev/null || fail "put failed"; done
  ectl_on 3 put /p/other x >/dev/null || fail "put failed"
  r=$(ectl_on 1 get /p/k -w json | jq -r .header.revision)
  ectl_on 1 put /p/k after >/dev/null || fail "put failed"
  ectl_on 1 del /p/other >/dev/null || fail "del failed"
  # the segments reach past r: the last revision in the newest segment's name
  reached() {
    last=$(ls "$T_FILE_DIR/h2/rec-backups" | sed -n 's/.*\.seg-r[0-9]*-r0*\([0-9]*\)-.*/\1/p' | sort -n | tail -1)
    [ -n "$last" ] && [ "$last" -gt "$r" ]
  }
  wait_for 20 reached || { kill -9 $rpid; fail "the segments do not reach past $r: $(ls "$T_FILE_DIR/h2/rec-backups")"; }
  kill -TERM $rpid
  wait $rpid
  on 2 -o json restore --store "$T_FILE_DIR/h2/rec-backups" --to-revision "$r" --yes --force
  assert_ok
  assert_eq "$(json_get .point.revision)" "$r" "the point's revision"
  [ "$(json_get .point.events_replayed)" -ge 21 ] || fail "fewer events replayed than written: $(json_get .point)"
  assert_eq "$(json_get .revision)" "$r" "the restored revision on every host"
  wait_for 20 all_healthy_from 1 || fail "the restored cluster is not healthy: $ERR"
  for i in 1 2 3; do
    v=$(ectl_on "$i" get /p/k --print-value-only)
    assert_eq "$v" v20 "/p/k on etcd$i"
    v=$(ectl_on "$i" get /p/other --print-value-only)
    assert_eq "$v" x "/p/other (deleted after the point) on etcd$i"
  done
  assert_no_file "$T_FILE_DIR/h2/state/point-restore"
  # the text form says the point; a dry run resolves it and asks the hosts
  on 2 restore --store "$T_FILE_DIR/h2/rec-backups" --to-revision "$r" --dry-run
  assert_ok
}
