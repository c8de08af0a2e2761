# SIGINT and SIGTERM as the user sends them (Ctrl-C, systemctl stop): the command
# stops at its next safe point, says it was interrupted, exits 1, and leaves no
# more than a killed one would: nothing published half, staging and scratch
# removed, the cluster as it was (or, past a restore's stop, restored or rolled
# back, never in between). Phases are hit exactly with RV_TEST_SIGNAL_AT (test
# builds); the defrag is signalled from outside, as an operator would.

setup_file() {
  start_cluster "$T_FILE_DIR/c"
  local i
  for i in $(seq 1 50); do ectl put "/k/$i" "value-$i" >/dev/null; done
  "$RV_BIN" --config "$CFG" --no-progress snapshot save --tag base >/dev/null
  need_test_hooks
  export_env CFG ENDPOINTS
}

member_url() { cut -d, -f"$1" <<<"$ENDPOINTS"; }
pid_of() { cat "$(dirname "$CFG")/etcd$1.pid"; }
pids() { echo "$(pid_of 1) $(pid_of 2) $(pid_of 3)"; }
store_dir() { echo "$(dirname "$CFG")/backups"; }

test_sigterm_during_a_local_save_publishes_nothing() {
  local before after
  before=$(ls -A "$(store_dir)")
  RV_TEST_SIGNAL_AT=snapshot-streaming rv_hooked snapshot save --tag cut
  assert_rc 1
  assert_err_contains "was interrupted; nothing was published"
  [ "$(grep -c . <<<"$ERR")" -eq 1 ] || fail "more than one line on stderr: $ERR"
  after=$(ls -A "$(store_dir)")
  assert_eq "$after" "$before" "the store's files after an interrupted save"
  rv snapshot save --tag after-cut
  assert_ok
}

test_sigterm_before_the_stop_changes_nothing_and_removes_staging() {
  local phase before dir
  dir=$(dirname "$CFG")
  ectl put /k/live yes >/dev/null
  before=$(pids)
  for phase in fetched verified staged; do
    RV_TEST_SIGNAL_AT=$phase rv_hooked restore --from latest --yes --force
    assert_rc 1
    assert_err_contains "the restore was interrupted"
    assert_err_contains "nothing was stopped or changed"
    assert_eq "$(pids)" "$before" "member pids after an interrupt at $phase"
    assert_no_file "$dir/.regvault-restore-staging"
    assert_no_file "$dir/state/restore-journal.json"
    [ -z "$(ls -d "$dir"/etcd1.before-restore-* 2>/dev/null)" ] || fail "a data dir was moved aside at $phase"
    assert_eq "$(ectl get /k/live --print-value-only)" yes "the live data after an interrupt at $phase"
  done
}

# Past the stop a signal is held: the restore ends restored, and says so.
test_sigterm_after_the_stop_is_held_until_the_restore_is_over() {
  RV_TEST_SIGNAL_AT=starting rv_hooked restore --from latest --yes --force
  assert_ok
  assert_err_contains "signal 15 arrived during the restore; it was held until the restore finished or rolled back"
  assert_no_file "$(dirname "$CFG")/state/restore-journal.json"
  [ "$(ectl get /k/1 --print-value-only)" = value-1 ] || fail "the restored cluster lacks the snapshot's data"
  rv restore --cleanup --yes
}

test_sigint_during_a_drill_leaves_no_report_and_no_scratch() {
  local drills reports
  drills=$(dirname "$CFG")/state/drills
  reports=$(ls -A "$drills" 2>/dev/null | wc -l)
  mkdir -p "$T/tmp"
  TMPDIR=$T/tmp RV_TEST_SIGNAL_AT=drill-fetched rv_hooked drill --from latest
  assert_rc 1
  assert_err_contains "the drill was interrupted"
  assert_eq "$(ls -A "$drills" 2>/dev/null | wc -l)" "$reports" "drill reports after an interrupted drill"
  [ -z "$(ls -A "$T/tmp")" ] || fail "the scratch cluster was left: $(ls -A "$T/tmp")"
  ! pgrep -f -- "$T/tmp/" >/dev/null || fail "an etcd of the scratch cluster still runs"
}

# Ctrl-C while the drill waits for its scratch cluster to become healthy (members
# that never answer: an "etcd" that only sleeps): the wait ends at once, the fake
# members are stopped and the scratch removed, no report.
test_sigint_while_the_drill_waits_for_its_scratch_cluster() {
  local drills reports pid rc
  drills=$(dirname "$CFG")/state/drills
  reports=$(ls -A "$drills" 2>/dev/null | wc -l)
  mkdir -p "$T/tmp" "$T/bin"
  # named etcd, with the members' flags: regvault takes it for a member it can stop
  printf '#!/bin/bash\nexec -a etcd bash -c "while :; do sleep 0.2; done" etcd "$@"\n' >"$T/bin/etcd"
  chmod +x "$T/bin/etcd"
  ln -s "$(command -v etcdctl)" "$T/bin/etcdctl"
  sed "s|^  etcd:\$|  etcd:\\n    binary: $T/bin/etcd|" "$CFG" >"$T/cfg.yaml"
  TMPDIR=$T/tmp "$RV_BIN" --config "$T/cfg.yaml" --no-progress drill --from latest >"$T/out" 2>"$T/err" &
  pid=$!
  # all three exec'd into their fake etcd (a wrapper not yet exec'd is no member)
  for _ in $(seq 1 600); do
    [ "$(pgrep -c -f -- "^etcd -c while.*$T/tmp/")" -eq 3 ] && break
    sleep 0.1
  done
  assert_eq "$(pgrep -c -f -- "^etcd -c while.*$T/tmp/")" 3 "fake members running"
  kill -INT "$pid"
  wait "$pid"
  rc=$?
  assert_eq "$rc" 1 "exit code"
  grep -q "the drill was interrupted while its scratch cluster was starting" "$T/err" || fail "stderr: $(cat "$T/err")"
  assert_eq "$(ls -A "$drills" 2>/dev/null | wc -l)" "$reports" "drill reports after an interrupted drill"
  [ -z "$(ls -A "$T/tmp")" ] || fail "the scratch cluster was left: $(ls -A "$T/tmp")"
  ! pgrep -f -- "$T/tmp/" >/dev/null || fail "a member of the scratch cluster still runs"
}

# An operator's Ctrl-C during a rolling defrag: the member in hand is finished, the
# pause is cut short, the rest are left as they were.
test_sigint_during_a_defrag_stops_between_members() {
  local start pid rc
  start=$SECONDS
  "$RV_BIN" --config "$CFG" --no-progress maint defrag --rule true --pause 30s >"$T/out" 2>"$T/err" &
  pid=$!
  sleep 3 # the first member is done by then, and the pause has begun
  kill -INT "$pid"
  wait "$pid"
  rc=$?
  assert_eq "$rc" 1 "exit code"
  [ $((SECONDS - start)) -lt 15 ] || fail "the interrupted defrag took $((SECONDS - start)) s"
  grep -q "maint defrag was interrupted after 1 of 3 members" "$T/err" || fail "stderr: $(cat "$T/err")"
}
