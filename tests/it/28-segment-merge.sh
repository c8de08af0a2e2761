# Segments merged as they age (issue 16): with daemon.continuous.merge_windows [2s, 4s]
# the recorder's small segments are merged into one per closed window, then the small
# ones deleted; the chain still verifies, every revision's keys read back from the
# merged segments as the cluster had them, the chain's index names the settled ones,
# and a small segment put back beside the merged one that covers it (a pass cut short before its deletes) is removed by the
# next pass. A config with windows that do not nest is refused.

source "$RV_ROOT/tests/continuous-lib.sh"

n_segments() { ls "$T/c/backups" | grep -cF "$CHAIN.seg-r" || true; }
# key<TAB>value under /m/ as of revision $1 (the live cluster before compaction)
at_rev() { ectl get --prefix /m/ --rev "$1" -w json | jq -r '.kvs // [] | .[] | [(.key|@base64d), (.value|@base64d)] | @tsv'; }

test_small_segments_are_merged_per_window_and_still_restore_every_revision() {
  MERGE_WINDOWS="[2s, 4s]" setup_recording
  # about 12 s of writes, a few a second: one small segment per flush
  local i r_mid
  for i in $(seq 1 60); do
    ectl put "/m/k$((i % 7))" "v$i" >/dev/null || fail "put"
    [ "$i" = 30 ] && r_mid=$(rev_now)
    [ "$i" = 10 ] && { mkdir -p "$T/saved"; cp "$T/c/backups/$CHAIN".seg-r* "$T/saved/"; }
    sleep 0.2
  done
  local r_end before
  r_end=$(rev_now)
  before=$(ls "$T/saved" | wc -l)
  [ "$before" -ge 5 ] || fail "only $before segments after 2 s of writes"
  # the last window closes 4 s + 2.4 s after the last write; a pass runs every second
  local n=0
  while ! grep -q "continuous backup: merged" "$T/daemon.log" || [ "$(n_segments)" -gt 8 ]; do
    n=$((n + 1)); [ "$n" -lt 120 ] || fail "segments not merged: $(n_segments) left; $(tail -5 "$T/daemon.log")"
    sleep 0.2
  done
  sleep 7 # every window closed and merged
  local after; after=$(n_segments)
  [ "$after" -le 6 ] || fail "$after segments after merging 12 s of them in 4 s windows"
  [ "$(reach)" -ge "$r_end" ] || fail "the merged chain reaches $(reach), not $r_end"
  # the chain's index names its settled segments, each in the store with its size
  local idx=$T/c/backups/$CHAIN.rvidx name size lines
  assert_file "$idx"
  assert_eq "$(head -1 "$idx")" "RVIDX1 $CHAIN" "the index's first line"
  lines=$(tail -n +2 "$idx" | grep -c . || true)
  [ "$lines" -ge 1 ] || fail "the index names no segment: $(cat "$idx")"
  while read -r name size; do
    assert_file "$T/c/backups/$name"
    assert_eq "$(stat -c %s "$T/c/backups/$name")" "$size" "the size the index gives $name"
  done < <(tail -n +2 "$idx")
  rv snapshot list
  assert_out_not_contains "rvidx"
  rv snapshot verify --all
  assert_ok
  # every key as of a revision in the middle and at the end, read from the merged segments
  rv -o json snapshot diff "rev:$r_mid" live --prefix /m/
  assert_ok
  assert_eq "$(json_get .a.revision)" "$r_mid" "the point read"
  assert_eq "$(json_get .a.keys)" "$(at_rev "$r_mid" | grep -c .)" "keys at revision $r_mid"
  # each key's value at r_mid: from the changes (differing from live) or live itself
  local key val want
  while IFS=$'\t' read -r key want; do
    val=$(jq -r --arg k "$key" '[.changes[] | select(.key == $k) | .a.value][0] // empty' <<<"$OUT")
    [ -n "$val" ] || val=$(ectl get "$key" --print-value-only)
    assert_eq "$val" "$want" "$key at revision $r_mid"
  done < <(at_rev "$r_mid")
  rv -o json snapshot diff rev:latest live --prefix /m/
  assert_ok
  assert_eq "$(json_get .counts.added + .counts.removed + .counts.changed)" 0 "differences between the latest point and live"
  # a small segment back beside the merged one (a pass cut short before its deletes):
  # the next pass finds it covered and removes it; the chain still verifies
  local small f
  for f in $(ls "$T/saved"); do [ -e "$T/c/backups/$f" ] || { small=$f; break; }; done # one merged away
  [ -n "$small" ] || fail "none of the early segments was merged away: $(ls "$T/c/backups")"
  cp "$T/saved/$small" "$T/c/backups/"
  n=0
  while [ -e "$T/c/backups/$small" ]; do
    n=$((n + 1)); [ "$n" -lt 50 ] || fail "the covered segment $small stayed: $(tail -3 "$T/daemon.log")"
    sleep 0.2
  done
  grep -q "were covered by another" "$T/daemon.log" || fail "no pass said it removed a covered segment"
  rv snapshot verify --all
  assert_ok
  kill -TERM "$DPID"; wait "$DPID" 2>/dev/null
  return 0
}

test_merge_windows_that_do_not_nest_are_refused() {
  write_cluster_config "$T/c"
  { echo "daemon:"; echo "  continuous:"; echo "    merge_windows: [5m, 7m]"; } >>"$CFG"
  rv cluster status
  assert_rc 2
  assert_err_contains "merge_windows[1] must be a whole multiple of the window before it"
  sed -i 's/\[5m, 7m\]/[5m, 1h, 2h, 4h, 8h]/' "$CFG"
  rv cluster status
  assert_rc 2
  assert_err_contains "at most 4"
  sed -i 's/\[5m, 1h, 2h, 4h, 8h\]/[]/' "$CFG"
  rv -o json cluster status
  [ "$RC" -ne 2 ] || fail "merge_windows: [] refused: $ERR"
}
