# regvault maint diskcheck (no cluster needed) and perfcheck (a real cluster): sane
# numbers, bad arguments refused, nothing left behind, also when interrupted.

setup_file() {
  start_cluster "$T_FILE_DIR/c" || return 1
  export_env CFG ENDPOINTS
}

# First: nothing has compacted this cluster yet.
test_hashcheck_shows_a_never_compacted_member_as_dash() {
  ectl put /hash/a 1 >/dev/null
  rv maint hashcheck
  assert_ok
  assert_eq "$(awk 'NR > 2 && $1 ~ /^etcd/ {print $3}' <<<"$OUT" | sort -u)" - "COMPACT REV of never-compacted members"
  assert_out_not_contains " -1 "
  rv -o json maint hashcheck
  assert_ok
  # JSON keeps etcd's integer: -1 means never compacted.
  assert_eq "$(json_get '[.members[].compact_revision] | unique | join(",")')" -1
  assert_eq "$(json_get .complete)" true
}

test_diskcheck_reports_sane_numbers_and_leaves_no_file() {
  mkdir -p "$T/disk"
  run "$RV_BIN" -o json maint diskcheck --dir "$T/disk" --size 2MiB --threshold 10s
  assert_ok
  assert_eq "$(json_get .writes)" 911 "writes of 2300 bytes in 2 MiB"
  assert_eq "$(json_get .pass)" true
  assert_eq "$(json_get .threshold_us)" 10000000
  assert_eq "$(json_get '.min_us <= .p50_us and .p50_us <= .p90_us and .p90_us <= .p99_us and .p99_us <= .p999_us and .p999_us <= .max_us')" true "ordered percentiles"
  assert_eq "$(json_get '.min_us > 0 and .iops > 0')" true "positive latency and IOPS"
  assert_eq "$(json_get '.results | length')" 1
  assert_eq "$(ls -A "$T/disk" | wc -l)" 0 "files left in the directory"
  run "$RV_BIN" maint diskcheck --dir "$T/disk" --size 100KiB --block-size 4KiB --threshold 10s
  assert_ok
  assert_out_contains "25 writes of 4096 bytes"
  assert_out_contains "PASS"
}

test_diskcheck_fails_when_p99_is_over_the_threshold() {
  mkdir -p "$T/disk"
  run "$RV_BIN" -o json maint diskcheck --dir "$T/disk" --size 200KiB --threshold 1us
  assert_rc 1
  assert_eq "$(json_get .pass)" false
  assert_err_contains "too slow for etcd"
}

test_diskcheck_defaults_to_the_members_data_dir_filesystem() {
  write_cluster_config "$T/cfg"
  run "$RV_BIN" --config "$CFG" -o json maint diskcheck --size 200KiB --threshold 10s
  assert_ok
  assert_eq "$(json_get '.results | length')" 1 "filesystems tested"
  assert_eq "$(json_get .members)" etcd1,etcd2,etcd3
  assert_eq "$(json_get .dir)" "$T/cfg"
}

test_diskcheck_rejects_bad_arguments() {
  mkdir -p "$T/disk"
  run "$RV_BIN" maint diskcheck --dir "$T/disk" --size lots
  assert_rc 2
  assert_err_contains "--size takes a size"
  run "$RV_BIN" maint diskcheck --dir "$T/disk" --block-size 0
  assert_rc 2
  run "$RV_BIN" maint diskcheck --dir "$T/disk" --threshold 10
  assert_rc 2
  assert_err_contains "with a unit"
  run "$RV_BIN" maint diskcheck --dir "$T/disk" --size 1000 --block-size 2300
  assert_rc 2
  assert_err_contains "at least one block"
  run "$RV_BIN" maint diskcheck --dir "$T/missing"
  assert_rc 2
  assert_err_contains "$T/missing: No such file or directory"
  touch "$T/file"
  run "$RV_BIN" maint diskcheck --dir "$T/file"
  assert_rc 2
  assert_err_contains "not a directory"
  assert_eq "$(ls -A "$T/disk" | wc -l)" 0 "files left"
}

test_diskcheck_refuses_a_dir_it_cannot_write() {
  command -v setpriv >/dev/null || skip "setpriv is not installed"
  mkdir -p "$T/ro"
  chmod 555 "$T/ro"
  chmod o+rx "$T" "$T_FILE_DIR" 2>/dev/null
  run setpriv --reuid=65534 --regid=65534 --clear-groups "$RV_BIN" maint diskcheck --dir "$T/ro"
  [[ $ERR == *"error while loading"* || $ERR == *"Permission denied"*"$RV_BIN"* ]] && skip "nobody cannot run $RV_BIN"
  assert_rc 2
  assert_err_contains "cannot write a test file in $T/ro: Permission denied"
}

test_diskcheck_interrupted_removes_its_file() {
  local pid
  mkdir -p "$T/disk"
  "$RV_BIN" maint diskcheck --dir "$T/disk" --size 400MiB --threshold 10s >"$T/out" 2>"$T/err" &
  pid=$!
  sleep 1
  kill -TERM "$pid"
  wait "$pid"
  RC=$? ERR=$(cat "$T/err")
  assert_rc 1
  assert_err_contains "interrupted"
  assert_eq "$(ls -A "$T/disk" | wc -l)" 0 "files left"
}

perf_keys() { ectl get --prefix /regvault/perfcheck/ --keys-only | grep -c . ; }

test_perfcheck_small_load_reports_sane_numbers_and_cleans_up() {
  rv -o json maint perfcheck --load s --duration 5s
  # PASS or FAIL depends on the machine; the numbers must be coherent either way.
  [ "$RC" -eq 0 ] || [ "$RC" -eq 1 ] || fail "exit code $RC"
  assert_eq "$(json_get .pass)" "$([ "$RC" -eq 0 ] && echo true || echo false)" "pass vs exit code"
  assert_eq "$(json_get .load)" s
  assert_eq "$(json_get .target_rate)" 150
  assert_eq "$(json_get .clients)" 50
  assert_eq "$(json_get '.requests > 0 and .requests <= 750')" true "puts issued in 5 s at 150/s: $(json_get .requests)"
  assert_eq "$(json_get .errors)" 0
  assert_eq "$(json_get .deleted)" "$(json_get .requests)" "keys deleted"
  assert_eq "$(json_get '.p50_ms > 0 and .p50_ms <= .p95_ms and .p95_ms <= .p99_ms and .p99_ms <= .max_ms')" true "ordered latencies"
  assert_eq "$(json_get '.throughput > 0 and .throughput <= 200')" true "throughput $(json_get .throughput)"
  assert_eq "$(json_get '.checks | keys | join(",")')" errors,slowest,stddev,throughput
  assert_eq "$(perf_keys)" 0 "keys left under the prefix"
}

test_perfcheck_refuses_a_prefix_that_holds_keys() {
  ectl put /regvault/perfcheck/someone-elses x >/dev/null
  rv maint perfcheck --duration 2s
  assert_rc 1
  assert_err_contains "already holds 1 keys"
  assert_err_contains "etcdctl del --prefix /regvault/perfcheck/"
  assert_eq "$(ectl get /regvault/perfcheck/someone-elses --print-value-only)" x "the key found there"
  ectl del /regvault/perfcheck/someone-elses >/dev/null
}

test_perfcheck_rejects_bad_arguments() {
  rv maint perfcheck --load xxl
  assert_rc 2
  assert_err_contains "--load takes s, m, l or xl"
  rv maint perfcheck --duration 0s
  assert_rc 2
  rv maint perfcheck --duration soon
  assert_rc 2
  assert_err_contains "--duration takes a duration"
}

test_perfcheck_deletes_its_keys_when_interrupted() {
  local pid sig
  for sig in INT TERM; do
    "$RV_BIN" --config "$CFG" -o json maint perfcheck --duration 60s >"$T/out" 2>"$T/err" &
    pid=$!
    sleep 2
    kill -"$sig" "$pid"
    wait "$pid"
    RC=$? ERR=$(cat "$T/err") OUT=$(cat "$T/out")
    assert_rc 1
    assert_err_contains "interrupted"
    assert_eq "$(json_get .interrupted)" true
    [ "$(json_get .deleted)" -gt 0 ] || fail "SIG$sig: nothing was written before the signal"
    assert_eq "$(perf_keys)" 0 "keys left after SIG$sig"
  done
}

# valgrind stays clean on the maint commands (normal build, as 95-valgrind does).
test_maint_commands_are_valgrind_clean() {
  command -v valgrind >/dev/null || skip "valgrind is not installed"
  [ -x "$RV_ROOT/build/regvault" ] || skip "no normal build"
  local vg=(valgrind -q --error-exitcode=9 --leak-check=full --show-leak-kinds=definite
    --errors-for-leak-kinds=definite --suppressions="$RV_ROOT/tests/valgrind.supp"
    "$RV_ROOT/build/regvault" --config "$CFG" --no-progress -o json)
  ectl put /vg/a 1 >/dev/null
  run "${vg[@]}" maint alarms
  assert_ok
  run "${vg[@]}" maint compact --keep-revisions 0
  assert_ok
  run "${vg[@]}" maint defrag --rule 'dbSize > 0' --move-leader
  assert_ok
  run "${vg[@]}" maint hashcheck
  assert_ok
  run "${vg[@]}" maint recover-space
  assert_ok
  run "${vg[@]}" maint diskcheck --dir "$T" --size 100KiB --threshold 10s
  assert_ok
  run "${vg[@]}" maint perfcheck --duration 2s
  [ "$RC" -eq 0 ] || [ "$RC" -eq 1 ] || fail "perfcheck under valgrind: exit $RC (${ERR:0:300})"
  [ "$(json_get .deleted)" -gt 0 ] || fail "perfcheck wrote nothing"
  run "${vg[@]}" maint defrag --rule 'dbSize >'
  assert_rc 2
}
