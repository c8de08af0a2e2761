# Continuous backup's recorder (daemon.continuous): segments in the store that cover
# every acknowledged write from the base artifact's revision + 1 without a hole, the
# events readable in the documented format (zstd, then keys in the clear), a daemon
# killed with SIGKILL resuming from the last persisted revision, and a segment cut in
# the middle of its upload leaving nothing published. (The restore to a point is not
# there yet; issue 16.)

setup_file() {
  start_cluster "$T_FILE_DIR/c"
  need_test_hooks
  export_env CFG ENDPOINTS
}

source "$RV_ROOT/tests/continuous-lib.sh"

cont_config() {
  DCFG=$T/cfg.yaml
  sed -e "s|^state_dir: .*|state_dir: $T/state|" -e "s|^  url: .*/backups$|  url: $T/backups|" "$CFG" >"$DCFG"
  recorder_section "$DCFG"
}

start_daemon() { start_recorder "$DCFG" "$@"; }

# put N PREFIX: N puts, each acknowledged revision in $T/acked
put_n() {
  local i
  for i in $(seq 1 "$1"); do
    ectl put "$2$i" "value-$2$i" -w json | jq -r .header.revision >>"$T/acked"
  done
}



test_segments_cover_every_acknowledged_write_across_a_sigkill() {
  cont_config
  run "$RV_BIN" --config "$DCFG" --no-progress snapshot save
  assert_ok
  local art chain base
  art=$(ls "$T/backups" | grep '\.tar\.zst$' | head -1)
  chain=${art%.tar.zst}
  base=${chain##*-r}
  start_daemon
  put_n 40 /a/
  wait_reach "$chain" "$base" "$(tail -1 "$T/acked")"
  grep -q "recording chain $chain" "$T/daemon.log" || fail "no 'recording chain' in the log"
  # the events are there in the documented format: the body names the keys
  local seg
  seg=$(ls "$T/backups" | grep -F "$chain.seg-r" | head -1)
  zstd -dc "$T/backups/$seg" >"$T/body" || fail "zstd -d failed on $seg"
  assert_eq "$(head -c 7 "$T/body")" RVSEG1 "the start of segment $seg"
  grep -aq "value-/a/1" "$T/body" || fail "segment $seg does not hold value-/a/1"
  # snapshot list does not call segments foreign
  run "$RV_BIN" --config "$DCFG" --no-progress -o json snapshot list
  assert_ok
  assert_eq "$(json_get 'length')" 1 "artifacts listed"

  kill -9 "$DPID"; wait "$DPID" 2>/dev/null
  put_n 30 /b/ # written while no recorder runs
  start_daemon
  put_n 30 /c/
  wait_reach "$chain" "$base" "$(tail -1 "$T/acked")"
  # into a file first: under pipefail, grep -q leaving early would fail zstd with SIGPIPE
  zstd -dc "$T/backups/"*"$chain.seg-r"* >"$T/bodies" || fail "zstd -d failed on the segments"
  grep -aq "value-/b/17" "$T/bodies" || fail "a write made while the daemon was down is missing"
  kill -TERM "$DPID"; wait "$DPID" 2>/dev/null
  true
}

test_a_segment_cut_half_way_is_not_published_and_recording_goes_on() {
  cont_config
  run "$RV_BIN" --config "$DCFG" --no-progress snapshot save
  assert_ok
  local art chain base
  art=$(ls "$T/backups" | grep '\.tar\.zst$' | head -1)
  chain=${art%.tar.zst}
  base=${chain##*-r}
  RV_TEST_CRASH_AT=segment-half start_daemon "$RV_HOOKS_BIN"
  put_n 5 /k/
  local n=100
  while kill -0 "$DPID" 2>/dev/null; do n=$((n - 1)); [ "$n" -gt 0 ] || fail "the hooked daemon did not stop half way"; sleep 0.2; done
  [ -z "$(ls "$T/backups" | grep -F '.seg-r')" ] || fail "a segment was published: $(ls "$T/backups")"
  start_daemon
  put_n 5 /l/
  wait_reach "$chain" "$base" "$(tail -1 "$T/acked")"
  kill -TERM "$DPID"; wait "$DPID" 2>/dev/null
  true
}

test_list_and_verify_show_the_chain_and_catch_a_damaged_segment_and_compaction_waits() {
  cont_config
  run "$RV_BIN" --config "$DCFG" --no-progress snapshot save
  assert_ok
  local art chain base last
  art=$(ls "$T/backups" | grep '\.tar\.zst$' | head -1)
  chain=${art%.tar.zst}
  base=${chain##*-r}
  start_daemon
  put_n 20 /v/
  last=$(tail -1 "$T/acked")
  wait_reach "$chain" "$base" "$last"
  run "$RV_BIN" --config "$DCFG" --no-progress -o json snapshot list
  assert_ok
  assert_eq "$(json_get 'type')" array "snapshot list -o json"
  [ "$(json_get '.[0].chain_reach_revision')" -ge "$last" ] || fail "chain_reach_revision $(json_get '.[0].chain_reach_revision') < $last"
  run "$RV_BIN" --config "$DCFG" --no-progress snapshot list
  assert_ok
  assert_out_contains "chain $chain:"
  # compaction never passes the last persisted revision + 1 while the recorder runs
  kill -STOP "$DPID"
  put_n 5 /w/ # not recorded while the daemon is stopped
  run "$RV_BIN" --config "$DCFG" --no-progress -o json maint compact --keep-revisions 0
  assert_ok
  [ "$(json_get .revision)" -le $(($(reach "$chain" "$base") + 1)) ] ||
    fail "compacted to $(json_get .revision), past the persisted $(reach "$chain" "$base")"
  kill -CONT "$DPID"
  wait_reach "$chain" "$base" "$(tail -1 "$T/acked")"
  kill -TERM "$DPID"; wait "$DPID" 2>/dev/null

  run "$RV_BIN" --config "$DCFG" --no-progress snapshot verify --all
  assert_ok
  assert_out_contains "ok  chain of $art"
  # one byte of one segment flipped: verify names it and fails
  local seg size
  seg=$(ls "$T/backups" | grep -F "$chain.seg-r" | head -1)
  size=$(stat -c %s "$T/backups/$seg")
  printf '\xff' | dd of="$T/backups/$seg" bs=1 seek=$((size / 2)) conv=notrunc status=none
  run "$RV_BIN" --config "$DCFG" --no-progress snapshot verify --all
  assert_rc 1
  assert_err_contains "$seg"
  assert_err_contains "damaged"
}

test_a_revision_compacted_before_it_was_recorded_starts_a_new_chain() {
  cont_config
  run "$RV_BIN" --config "$DCFG" --no-progress snapshot save
  assert_ok
  put_n 10 /g/
  ectl compact "$(tail -1 "$T/acked")" >/dev/null || fail "etcdctl compact failed"
  start_daemon
  local n=150
  until [ "$(ls "$T/backups" | grep -c 'continuous\.tar\.zst$')" -ge 1 ]; do
    n=$((n - 1)); [ "$n" -gt 0 ] || fail "no new chain's artifact: $(tail -5 "$T/daemon.log")"; sleep 0.2
  done
  grep -q "continuous backup has a gap" "$T/daemon.log" || fail "the gap is not in the log"
  put_n 5 /h/
  local art chain
  art=$(ls "$T/backups" | grep 'continuous\.tar\.zst$' | head -1)
  chain=${art%.tar.zst}
  n=${chain%-continuous}
  wait_reach "$chain" "${n##*-r}" "$(tail -1 "$T/acked")"
  kill -TERM "$DPID"; wait "$DPID" 2>/dev/null
  true
}
