# regvault drill: an artifact restored into a scratch cluster, checked and torn down,
# with a report under <state_dir>/drills; the configured members are never touched.

# Ports picked at random may still be taken by the time etcd binds them: start again
# on fresh ports rather than fail.

pids() { echo "$(cat "$T/c/etcd1.pid") $(cat "$T/c/etcd2.pid") $(cat "$T/c/etcd3.pid")"; }

setup_data() {
  start_cluster "$T/c" || fail "cluster up failed"
  local i
  for i in $(seq 1 150); do ectl put "/d/$i" "value-$i" >/dev/null || fail "put"; done
  rv snapshot save
  assert_ok
  KEYS=$(ectl get --prefix "" --keys-only -w json | jq -r .count)
  SNAPREV=$(ectl -w json get /d/1 | jq -r .header.revision)
  ectl put /d/later x >/dev/null
}

# No etcd of a drill may outlive it.
assert_no_scratch_left() {
  local pid
  for pid in $(pgrep -x etcd); do
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "regvault-drill-" &&
      tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$T/" && fail "a scratch etcd still runs: pid $pid"
  done
  ! ls -d "$T/tmp/regvault-drill-"* >/dev/null 2>&1 || fail "the scratch directory was left behind"
  return 0
}

test_drill_passes_on_a_good_artifact() {
  setup_data
  mkdir -p "$T/tmp"
  local before; before=$(pids)
  TMPDIR=$T/tmp rv -o json drill
  assert_ok
  assert_eq "$(json_get .result)" pass result
  assert_eq "$(json_get .passed)" true passed
  assert_eq "$(json_get .key_count)" "$KEYS" "key count"
  assert_eq "$(json_get .revision)" "$SNAPREV" revision
  assert_eq "$(json_get .snapshot_revision)" "$SNAPREV" "snapshot revision"
  assert_eq "$(json_get .sample_keys_read)" 100 "sample keys read"
  [ "$(json_get .recovery_time_s)" != null ] || fail "no recovery time"
  [ "$(json_get .recovery_point_s)" != null ] || fail "no recovery point"
  [ "$(json_get .hashkv)" != null ] || fail "no HashKV"
  assert_eq "$(json_get '.reasons | length')" 0 reasons
  # The report on disk is the same object.
  local report; report=$(json_get .report)
  assert_file "$report"
  [[ $report == "$T/c/state/drills/drill-"*.json ]] || fail "report not under state_dir/drills: $report"
  assert_eq "$(jq -r .key_count "$report")" "$KEYS" "key count in the report"
  assert_eq "$(jq -r .result "$report")" pass "result in the report"
  # The configured members were not touched.
  assert_eq "$(pids)" "$before" "member pids"
  [ "$(ectl get /d/later --print-value-only)" == x ] || fail "the configured cluster lost a write"
  assert_no_scratch_left
  # Table output.
  TMPDIR=$T/tmp rv drill --from latest --sample 10
  assert_ok
  assert_out_contains "Drill PASS"
  assert_out_contains "recovery time"
  assert_out_contains "keys             $KEYS (10 read"
  assert_eq "$(ls "$T/c/state/drills/" | wc -l)" 2 "reports written"
}

test_drill_fails_on_a_corrupted_artifact() {
  setup_data
  mkdir -p "$T/tmp"
  local art size
  art=$(ls "$T/c/backups/"*.tar.zst | head -1)
  size=$(stat -c %s "$art")
  printf '\xde\xad\xbe\xef' | dd of="$art" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
  TMPDIR=$T/tmp rv -o json drill --from "$(basename "$art")"
  assert_rc 1
  assert_eq "$(json_get .result)" fail result
  [[ "$(json_get '.reasons[0]')" == *corrupt* ]] || fail "reason does not say corrupt: $(json_get '.reasons[0]')"
  assert_err_contains "drill of"
  assert_file "$(json_get .report)"
  assert_eq "$(jq -r .passed "$(json_get .report)")" false "passed in the report"
  assert_no_scratch_left
}

test_drill_from_an_etcdctl_snapshot_file() {
  setup_data
  mkdir -p "$T/tmp"
  etcdctl --endpoints="$(echo "$ENDPOINTS" | cut -d, -f1)" snapshot save "$T/plain.db" >/dev/null 2>&1 || fail "etcdctl snapshot save"
  TMPDIR=$T/tmp rv -o json drill --from-file "$T/plain.db"
  assert_ok
  assert_eq "$(json_get .key_count)" $((KEYS + 1)) "key count"
  # Not a snapshot at all.
  head -c 10000 /dev/urandom >"$T/junk.db"
  TMPDIR=$T/tmp rv drill --from-file "$T/junk.db"
  assert_rc 1
  assert_out_contains "Drill FAIL"
  assert_no_scratch_left
}

test_drill_refused_while_the_drill_job_is_held() {
  write_cluster_config "$T/c"
  mkdir -p "$T/c/backups"
  hold_job_lock "$T/c/state" drill
  rv drill
  assert_rc 1
  assert_err_contains "regvault: job drill is already running in regvault daemon (pid $HELD_BY, since "
  assert_no_file "$T/c/state/drills"
  release_job_lock
}

test_drill_usage_and_empty_store() {
  write_cluster_config "$T/c"
  rv drill --from a --from-file b
  assert_rc 2
  rv drill --sample 0
  assert_rc 2
  rv drill --bogus
  assert_rc 2
  rv drill extra
  assert_rc 2
  mkdir -p "$T/c/backups"
  # A name or file that is not there is refused: one sentence, no failed report.
  rv drill --from no-such-artifact
  assert_rc 1
  assert_err_contains "drill refused, no report written: "
  assert_err_contains "no-such-artifact"
  assert_out_not_contains "Drill FAIL"
  rv -o json drill --from no-such-artifact
  assert_rc 1
  assert_eq "$OUT" "" "stdout"
  rv drill --from-file "$T/no-such.db"
  assert_rc 1
  assert_err_contains "$T/no-such.db"
  assert_no_file "$T/c/state/drills"
  # An empty store is a failed drill, with its report.
  rv drill
  assert_rc 1
  assert_out_contains "Drill FAIL"
  assert_eq "$(ls "$T/c/state/drills" | wc -l)" 1 "reports written"
}

# The etcds of a scratch cluster, by their data dirs under $T/tmp.
scratch_etcds() {
  local pid
  for pid in $(pgrep -x etcd); do
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--data-dir=$T/tmp/regvault-drill-" && echo "$pid"
  done
  return 0
}
no_scratch_etcd() { [ -z "$(scratch_etcds)" ]; }

test_a_drill_killed_outright_leaves_no_scratch_member_running() {
  need_test_hooks
  setup_data
  mkdir -p "$T/tmp"
  # SIGKILL once the scratch cluster is up and healthy.
  RV_TEST_CRASH_AT=drill-started TMPDIR=$T/tmp rv_hooked drill
  assert_rc 137
  local i
  for i in $(seq 1 25); do no_scratch_etcd && break; sleep 0.2; done
  no_scratch_etcd || fail "scratch etcds outlived their drill: $(scratch_etcds)"
  ls -d "$T/tmp/regvault-drill-"* >/dev/null 2>&1 || fail "no leftover to clean up (the kill came too late?)"
  local left; left=$(ls -d "$T/tmp/regvault-drill-"*)
  assert_file "$left/regvault-drill.owner"
  # A directory that is not a drill's (no owner file) is never touched.
  mkdir -p "$T/tmp/regvault-drill-notmine/drill1"
  # The next drill removes the leftover, then passes.
  TMPDIR=$T/tmp rv drill
  assert_ok
  assert_out_contains "Drill PASS"
  assert_err_contains "removed the scratch cluster an interrupted drill left under $left"
  assert_no_file "$left"
  assert_file "$T/tmp/regvault-drill-notmine/drill1"
  rm -rf "$T/tmp/regvault-drill-notmine"
  assert_no_scratch_left
  # A leftover whose members still run (a drill of an older regvault, or one whose
  # kill raced the members' start) has them stopped first.
  RV_TEST_PAUSE_AT=drill-started:60000 TMPDIR=$T/tmp "$RV_HOOKS_BIN" --config "$CFG" --no-progress drill >"$T/paused.log" 2>&1 &
  local dpid=$!
  for i in $(seq 1 150); do [ -n "$(scratch_etcds)" ] && [ "$(scratch_etcds | wc -l)" -eq 3 ] && break; sleep 0.2; done
  [ "$(scratch_etcds | wc -l)" -eq 3 ] || fail "the paused drill's scratch cluster did not start"
  left=$(ls -d "$T/tmp/regvault-drill-"*)
  local members; members=$(scratch_etcds)
  # Make its owner look gone: another pid in the owner file.
  echo "1 1" >"$left/regvault-drill.owner"
  TMPDIR=$T/tmp rv drill
  assert_ok
  assert_err_contains "removed the scratch cluster an interrupted drill left under $left"
  for i in $members; do ! kill -0 "$i" 2>/dev/null || [ "$(awk '{print $3}' /proc/$i/stat)" == Z ] || fail "member $i of the leftover still runs"; done
  kill -9 "$dpid" 2>/dev/null
  wait "$dpid" 2>/dev/null
  for i in $(seq 1 25); do no_scratch_etcd && break; sleep 0.2; done
  no_scratch_etcd || fail "scratch etcds outlived their drill: $(scratch_etcds)"
  rm -rf "$T/tmp/regvault-drill-"*
}

test_drill_is_valgrind_clean() {
  command -v valgrind >/dev/null || skip "valgrind is not installed"
  make -s -C "$RV_ROOT" all >/dev/null
  setup_data
  mkdir -p "$T/tmp"
  TMPDIR=$T/tmp run valgrind -q --error-exitcode=9 --leak-check=full --show-leak-kinds=definite \
    --errors-for-leak-kinds=definite --child-silent-after-fork=yes \
    --suppressions="$RV_ROOT/tests/valgrind.supp" "$RV_ROOT/build/regvault" --config "$CFG" --no-progress drill
  assert_ok
  assert_out_contains "Drill PASS"
  assert_no_scratch_left
}
