# Restoring to a point (issue 16): restore --to-revision R equal to the original's
# Range at R (values, versions, create and mod revisions, leases), --to-time T to the
# last revision recorded at or before T, a mistaken del --prefix of 200 keys undone,
# refusals before anything stops (a damaged segment, a point past the chain's reach or
# before its base), a restore killed during its replay (in a private etcd, before
# anything stops) leaving the cluster as it was, one killed after the stop resumed,
# drill --to-revision,
# and --to-latest after every member was SIGKILLed with its data dir removed while a
# writer made 300 puts a second.

setup_file() {
  need_test_hooks
}

source "$RV_ROOT/tests/continuous-lib.sh"

# Every key as the original (or the restored cluster) has it: key, value, version,
# create and mod revision, lease. dump [REV]
dump() {
  ectl get --prefix "" -w json ${1:+--rev "$1"} |
    jq -c '[.kvs[]? | {key, value, version, create_revision, mod_revision, lease}]'
}

test_to_revision_time_and_an_undone_del_prefix_equal_the_original() {
  setup_recording
  local i lease r1 r2 r3 r4 t_ms
  for i in $(seq 1 10); do ectl put "/p/$i" "v$i" >/dev/null || fail "put"; done
  r1=$(rev_now)
  ectl put /p/1 again >/dev/null; ectl put /p/1 thrice >/dev/null # version 3
  ectl del /p/2 >/dev/null; ectl put /p/2 reborn >/dev/null     # create_revision anew
  lease=$(ectl lease grant 600 | awk '{print $2}')
  ectl put --lease="$lease" /l/held by-lease >/dev/null || fail "put with a lease"
  r2=$(rev_now)
  sleep 1.2
  t_ms=$(date +%s%3N)
  sleep 1.2
  ectl put /p/after-t x >/dev/null
  # a second base: the recorder begins a new chain from it, so r3 and r4 are in another
  # chain than r1, r2 and the time
  local chain1=$CHAIN art2 c
  stop_recording "$(rev_now)" keep-running
  rv snapshot save
  assert_ok
  art2=$(ls "$T/c/backups" | grep '\.tar\.zst$' | grep -v "^$CHAIN.tar.zst" | head -1)
  CHAIN=${art2%.tar.zst}; BASE=${CHAIN##*-r}
  for i in $(seq 1 200); do ectl put "/d/$i" "d$i" >/dev/null || fail "put"; done
  r3=$(rev_now)
  ectl del --prefix /d/ >/dev/null || fail "del --prefix"
  r4=$(rev_now)
  assert_eq "$r4" $((r3 + 1)) "the del --prefix of 200 keys as one revision"
  local d1 d2 d3 dt rt
  d1=$(dump "$r1"); d2=$(dump "$r2"); d3=$(dump "$r3")
  rt=$(ectl get /p/after-t -w json | jq -r '.kvs[0].mod_revision')
  dt=$(dump $((rt - 1)))
  stop_recording "$r4"

  for r in "$r1" "$r2" "$r3"; do
    rv -o json restore --to-revision "$r" --yes --force
    assert_ok
    assert_eq "$(json_get .point.revision)" "$r" "point reached"
    if [ "$r" == "$r3" ]; then c=$CHAIN; else c=$chain1; fi
    assert_eq "$(json_get .point.chain)" "$c" "the chain that reaches $r"
    assert_eq "$(json_get .revision)" "$r" "restored revision"
    [ "$(json_get .point.events_replayed)" -ge 1 ] || fail "no events replayed to $r"
    assert_eq "$(rev_now)" "$r" "the cluster's revision after restoring to $r"
    case $r in
      "$r1") assert_eq "$(dump)" "$d1" "keys at $r1" ;;
      "$r2") assert_eq "$(dump)" "$d2" "keys at $r2" ;;
      "$r3") assert_eq "$(dump)" "$d3" "keys at $r3 (before the del --prefix)" ;;
    esac
  done
  assert_eq "$(ectl get --prefix /d/ --keys-only | grep -c /d/)" 200 "keys the del --prefix removed, back"
  # the key on a lease granted after the base: under the same lease id again
  ectl lease timetolive "$lease" | grep -q "remaining" || fail "lease $lease is not in the restored cluster"

  local when
  when=$(date -u -d "@$((t_ms / 1000))" +%Y-%m-%dT%H:%M:%S).$(printf %03d $((t_ms % 1000)))Z
  rv -o json restore --to-time "$when" --yes --force
  assert_ok
  assert_eq "$(json_get .point.revision)" $((rt - 1)) "--to-time $when: the last revision at or before it"
  assert_eq "$(dump)" "$dt" "keys at the time"
  rv restore --to-revision "$r2" --bump-revision 50 --yes --force
  assert_ok
  assert_out_contains "restart them or have them list again"
  assert_eq "$(rev_now)" $((r2 + 50)) "revision after --bump-revision 50"
  assert_eq "$(dump)" "$d2" "keys at $r2 with a bumped revision"
}

test_refusals_before_anything_stops_a_killed_replay_rolls_back_and_drill_proves_a_point() {
  setup_recording
  local i r pids
  for i in $(seq 1 30); do ectl put "/q/$i" "v$i" >/dev/null || fail "put"; sleep 0.03; done
  r=$(rev_now)
  stop_recording "$r"
  # the drill also runs under valgrind when it is there: reading, replaying, freeing
  local vg=()
  command -v valgrind >/dev/null && vg=(valgrind -q --error-exitcode=9 --leak-check=full --show-leak-kinds=definite
    --errors-for-leak-kinds=definite --child-silent-after-fork=yes --suppressions="$RV_ROOT/tests/valgrind.supp")
  # (valgrind runs the build without sanitizers; an ASan binary cannot run under it)
  local bin=$RV_BIN
  [ ${#vg[@]} -gt 0 ] && bin=$RV_ROOT/build/regvault
  run "${vg[@]}" "$bin" --config "$CFG" --no-progress -o json drill --to-revision $((r - 5))
  assert_ok
  assert_eq "$(json_get .passed)" true "drill passed"
  assert_eq "$(json_get .point.revision)" $((r - 5)) "drill's point"
  assert_eq "$(json_get .revision)" $((r - 5)) "drill's revision"

  pids=$(cat "$T"/c/etcd*.pid)
  rv restore --to-revision $((r + 1000)) --yes --force
  assert_rc 1
  assert_err_contains "past the reach of chain $CHAIN"
  rv restore --to-revision 1 --yes --force
  assert_rc 1
  assert_err_contains "before the oldest base artifact"
  # a killed replay: it runs in a private etcd before anything stops, so the cluster
  # serves as it did and that etcd dies with the restore (the daemon's own writes on
  # its way out came after the segments: take the revision now)
  local before
  before=$(rev_now)
  RV_TEST_CRASH_AT=replayed-revision rv_hooked restore --to-revision "$r" --yes --force
  [ "$RC" -ne 0 ] || fail "the hooked restore was not killed"
  assert_eq "$(cat "$T"/c/etcd*.pid)" "$pids" "member pids after the killed replay"
  assert_eq "$(rev_now)" "$before" "the cluster's revision after the killed replay"
  wait_for 5 eval '! pgrep -f "$T/c/.regvault-restore-staging/regvault-replay" >/dev/null' ||
    fail "the replay's private etcd outlived the restore: $(pgrep -af regvault-replay)"
  # killed after the stop: the staged data dirs are the point's, --resume finishes it
  RV_TEST_CRASH_AT=swapping rv_hooked restore --to-revision "$r" --yes --force
  [ "$RC" -ne 0 ] || fail "the hooked restore was not killed while swapping"
  rv -o json restore --resume
  assert_ok
  assert_eq "$(json_get .revision)" "$r" "the resumed restore's revision"
  pids=$(cat "$T"/c/etcd*.pid)

  # a segment gone from the middle: a hole, refused before anything stops
  local seg size
  seg=$(ls "$T/c/backups" | grep -F "$CHAIN.seg-r" | sort | sed -n 3p)
  mv "$T/c/backups/$seg" "$T/$seg"
  rv restore --to-latest --yes --force
  assert_rc 1
  assert_err_contains "has a hole"
  assert_eq "$(cat "$T"/c/etcd*.pid)" "$pids" "member pids after the refusal"
  mv "$T/$seg" "$T/c/backups/$seg"

  # one byte of a segment the point needs flipped: refused naming it, nothing stopped
  seg=$(ls "$T/c/backups" | grep -F "$CHAIN.seg-r" | sort | tail -1)
  size=$(stat -c %s "$T/c/backups/$seg")
  printf '\xff' | dd of="$T/c/backups/$seg" bs=1 seek=$((size / 2)) conv=notrunc status=none
  rv restore --to-latest --yes --force
  assert_rc 1
  assert_err_contains "$seg"
  assert_err_contains "before any member was stopped"
  assert_eq "$(cat "$T"/c/etcd*.pid)" "$pids" "member pids after the refusal"
  ectl endpoint health >/dev/null 2>&1 || fail "the cluster does not serve after the refusal"
}

test_to_latest_after_every_member_was_killed_and_its_data_removed() {
  setup_recording
  [ -x "$RV_ROOT/build/put-tool" ] || fail "build/put-tool is missing (make build/put-tool)"
  # a steady writer: 300 puts a second for 12 s, each acknowledged put logged with its
  # revision and the time (put-tool writes the log when it ends, after the kill)
  PUT_TOOL_ACKS=$T/acked "$RV_ROOT/build/put-tool" "$ENDPOINTS" 300 256 12 8 >"$T/put-tool.out" 2>&1 &
  local wpid=$! kill_ms i
  sleep 6
  kill_ms=$(date +%s%3N)
  for i in 1 2 3; do kill -9 "$(cat "$T/c/etcd$i.pid")"; done
  wait "$wpid" || fail "put-tool failed: $(cat "$T/put-tool.out")"
  sleep 1
  kill -TERM "$DPID"; wait "$DPID" 2>/dev/null
  rm -rf "$T"/c/etcd1 "$T"/c/etcd2 "$T"/c/etcd3
  local want
  awk -v k="$kill_ms" '$3 < k - 1000 {print $1, $2}' "$T/acked" | sort >"$T/want"
  want=$(wc -l <"$T/want")
  [ "$want" -ge 1000 ] || fail "only $want writes acknowledged more than 1 s before the kill (put-tool: $(cat "$T/put-tool.out"))"
  rv -o json restore --to-latest --yes
  assert_ok
  assert_eq "$(json_get .result)" restored result
  # every such write is there, at the very revision its put was acknowledged with
  local missing
  ectl get --prefix /w/ -w json | jq -r '.kvs[]? | "\(.key | @base64d) \(.mod_revision)"' | sort >"$T/have"
  missing=$(comm -23 "$T/want" "$T/have" | head -3)
  [ -z "$missing" ] || fail "acknowledged writes missing or not at their revision after --to-latest ($(wc -l <"$T/have") keys): $missing"
  echo "# $want writes acknowledged > 1 s before the kill, all kept; replayed $(json_get .point.events_replayed) events at $(json_get .point.replay_events_per_second) events/s"
}

test_a_base_lease_does_not_expire_during_a_slow_replay() {
  BASE_LEASE_TTL=3 setup_recording
  local i r
  for i in $(seq 1 20); do ectl put "/s/$i" "v$i" >/dev/null || fail "put"; done
  r=$(rev_now)
  stop_recording "$r"
  kill "$KEEPALIVE_PID"
  # each revision replayed 250 ms apart: the replay takes longer than the lease's 3 s,
  # and an expiry would delete /leased/k at a revision of its own (the Txn after it
  # would then not make its original revision, and the restore would roll back)
  RV_TEST_PAUSE_AT=replayed-revision:250 rv_hooked -o json restore --to-revision "$r" --yes --force
  assert_ok
  assert_eq "$(json_get .point.revision)" "$r" "point reached"
  assert_eq "$(json_get .revision)" "$r" "restored revision"
  [ "$(json_get .point.leases_kept)" -ge 1 ] || fail "the base's lease was not kept alive: $(json_get .point)"
  [ "$(json_get '.point.replay_seconds | floor')" -ge 4 ] || fail "the replay was not slower than the lease's TTL"
}

# A restore while the daemon records: the restored cluster's next revisions are a
# new history, so the recorder must not go on with the old chain (a later restore
# would replay the old history and then the new one). It starts a new chain.
test_a_restore_under_a_recording_daemon_starts_a_new_chain() {
  setup_recording
  local i old_reach n
  for i in $(seq 1 20); do ectl put "/r/$i" "v$i" >/dev/null || fail "put"; done
  stop_recording "$(rev_now)" keep-running
  old_reach=$(reach)
  rv restore --from "$CHAIN.tar.zst" --yes --force
  assert_ok
  n=150
  until grep -q "it was restored; a full snapshot starts a new chain" "$T/daemon.log"; do
    n=$((n - 1)); [ "$n" -gt 0 ] || fail "the recorder did not see the restore: $(tail -5 "$T/daemon.log")"
    sleep 0.2
  done
  n=150
  until [ "$(ls "$T/c/backups" | grep -c '\.tar\.zst$')" -ge 2 ]; do
    n=$((n - 1)); [ "$n" -gt 0 ] || fail "no new chain's base: $(ls "$T/c/backups")"
    sleep 0.2
  done
  for i in $(seq 1 30); do ectl put "/after/$i" x >/dev/null || fail "put after the restore"; done
  sleep 1
  kill -TERM "$DPID"; wait "$DPID" 2>/dev/null
  assert_eq "$(reach)" "$old_reach" "the old chain's reach after the restore"
  local last
  last=$(ls "$T/c/backups" | grep -F "$CHAIN.seg-r" | sed -E 's/.*-r([0-9]{20})-t.*/\1/' | sort | tail -1)
  [ "$((10#$last))" -le "$old_reach" ] || fail "the old chain got a segment up to $((10#$last)) after the restore"
  [ -n "$(ls "$T/c/backups" | grep '\.seg-r' | grep -vF "$CHAIN.seg-r")" ] || fail "the new chain has no segment"
}

# Two recorders that wrote the same revisions (a leader handover, a resumed daemon):
# a copy that agrees is taken once; one whose events differ means the chain is not
# one history, refused before anything stops.
test_overlapping_segments_must_agree() {
  setup_recording
  local i r seg copy pids
  for i in $(seq 1 5); do ectl put "/o/$i" "ORIGINAL-$i" >/dev/null || fail "put"; done
  r=$(rev_now)
  stop_recording "$r"
  seg=$(ls "$T/c/backups" | grep -F "$CHAIN.seg-r" | while read -r s; do
    grep -qa ORIGINAL-3 < <(zstd -dc "$T/c/backups/$s") && echo "$s"; done | head -1)
  [ -n "$seg" ] || fail "no segment holds the put of /o/3"
  copy=${seg%-*.rvseg.zst}-etcd9.rvseg.zst
  python3 "$RV_ROOT/tests/tools/segment_rewrite.py" "$T/c/backups/$seg" "$T/c/backups/$copy"
  rv -o json restore --to-revision "$r" --yes --force
  assert_ok
  assert_eq "$(ectl get /o/3 --print-value-only)" ORIGINAL-3 "the value after a restore with an agreeing copy"
  python3 "$RV_ROOT/tests/tools/segment_rewrite.py" "$T/c/backups/$seg" "$T/c/backups/$copy" ORIGINAL-3 TAMPERED-3
  pids=$(cat "$T"/c/etcd*.pid)
  rv restore --to-revision "$r" --yes --force
  assert_rc 1
  assert_err_contains "is not one history: segment $copy (written by etcd9)"
  assert_err_contains "before any member was stopped"
  assert_eq "$(cat "$T"/c/etcd*.pid)" "$pids" "member pids after the refusal"
}

# A replay Txn that times out may or may not have been made: the cluster's revision
# says which, and the one sent again is guarded, so that no revision is made twice.
# The faults are made up in the test build: a Txn never sent, and one made whose
# answer was lost. Either way the result is the original.
test_a_replay_txn_that_timed_out_is_never_made_twice() {
  setup_recording
  local i r want fault
  for i in $(seq 1 30); do ectl put "/x/$((i % 7))" "v$i" >/dev/null || fail "put"; done
  ectl del /x/3 >/dev/null; ectl put /x/3 again >/dev/null
  r=$(rev_now)
  want=$(dump "$r")
  stop_recording "$r"
  for fault in replay-txn-unsent replay-txn-answer-lost; do
    RV_TEST_FAIL_AT=$fault rv_hooked -o json restore --to-revision "$r" --yes --force
    assert_ok
    assert_eq "$(json_get .revision)" "$r" "restored revision after $fault"
    assert_eq "$(dump)" "$want" "every key after $fault"
    if [ $fault = replay-txn-unsent ]; then
      assert_eq "$(json_get .point.txns_resent)" 1 "Txns sent again after $fault"
    else
      assert_eq "$(json_get .point.txns_resent)" 0 "Txns sent again after $fault (it was made)"
    fi
  done
}
