# restore --prefix and snapshot diff at a point of continuous backup (issues 16, 18):
# --to-revision, --to-time and --to-latest put one prefix back as the original had it
# at that point, and nothing outside it; diff rev:R / time:T / rev:latest against
# each other and live, checked against what was written; a key on a lease skipped; a
# damaged segment and a point out of reach refused before anything is written.

source "$RV_ROOT/tests/continuous-lib.sh"

# key<TAB>value of every key under $1, in key order; at revision $2 when given
kv_dump() {
  ectl get --prefix "$1" -w json ${2:+--rev "$2"} | jq -r '.kvs // [] | .[] | [(.key|@base64d), (.value|@base64d)] | @tsv'
}
outside() { kv_dump "" | grep -v "^$1"; } # every key not under $1, with its value
utc_ms() { date -u -d "@$(($1 / 1000))" +%Y-%m-%dT%H:%M:%S.$(printf %03d $(($1 % 1000)))Z; }

test_a_prefix_back_to_a_revision_a_time_and_the_latest_point() {
  setup_recording
  local P=/app/cfg/ i lease r1 r2 r3 t_ms
  for i in $(seq 1 20); do ectl put "${P}k$i" "v$i" >/dev/null || fail "put"; done
  ectl put /app/cfgX sibling >/dev/null; ectl put /other/x one >/dev/null
  r1=$(rev_now)
  sleep 1.2; t_ms=$(date +%s%3N); sleep 1.2
  ectl put "${P}k1" changed >/dev/null; ectl del "${P}k2" >/dev/null; ectl put "${P}new" fresh >/dev/null
  lease=$(ectl lease grant 600 | awk '{print $2}')
  ectl put --lease="$lease" "${P}leased" by-lease >/dev/null || fail "put with a lease"
  r2=$(rev_now)
  local want1 want2
  want1=$(kv_dump $P "$r1"); want2=$(kv_dump $P "$r2" | grep -v "^${P}leased")
  ectl del --prefix $P >/dev/null || fail "del --prefix"
  ectl put /other/y two >/dev/null
  r3=$(rev_now)
  stop_recording "$r3"

  # diffs between points, and a point against live, read from the store alone
  rv -o json snapshot diff "rev:$r1" "rev:$r2" --prefix $P
  assert_ok
  assert_eq "$(json_get .a.source)" point "side a's source"
  assert_eq "$(json_get .a.revision)" "$r1" "side a's revision"
  assert_eq "$(json_get .a.chain)" "$CHAIN" "side a's chain"
  assert_eq "$(json_get .b.revision)" "$r2" "side b's revision"
  assert_eq "$(json_get .counts.added)" 2 "added from r1 to r2 (new, leased)"
  assert_eq "$(json_get .counts.removed)" 1 "removed from r1 to r2 (k2)"
  assert_eq "$(json_get .counts.changed)" 1 "changed from r1 to r2 (k1)"
  assert_eq "$(json_get .counts.unchanged)" 18 "unchanged from r1 to r2"
  assert_eq "$(json_get '.changes[] | select(.change == "changed") | .b.value')" changed "k1's value at r2"
  rv -o json snapshot diff "time:$(utc_ms "$t_ms")" rev:latest --prefix $P
  assert_ok
  assert_eq "$(json_get .a.revision)" "$r1" "the time's revision"
  assert_eq "$(json_get .b.revision)" "$r3" "the latest point's revision"
  assert_eq "$(json_get .counts.removed)" 20 "removed by the del --prefix"
  rv snapshot diff "rev:$r2" live --prefix $P
  assert_ok
  assert_out_contains "0 added, 21 removed, 0 changed, 0 unchanged"

  # the prefix back as it was at r2 (the key on a lease skipped: its lease is gone from the point)
  local before; before=$(outside $P)
  rv -o json restore --prefix $P --to-revision "$r2" --yes
  assert_ok
  assert_eq "$(json_get .source.source)" point "source"
  assert_eq "$(json_get .source.revision)" "$r2" "source revision"
  assert_eq "$(json_get .source.chain)" "$CHAIN" "source chain"
  assert_eq "$(json_get .put)" 20 "keys put"
  assert_eq "$(json_get .skipped)" 1 "keys skipped"
  assert_eq "$(json_get '.skipped_keys[0].key')" "${P}leased" "the key on a lease"
  assert_eq "$(json_get '.skipped_keys[0].reason')" lease "why it was skipped"
  assert_eq "$(kv_dump $P)" "$want2" "the keys under $P at r2"
  assert_eq "$(outside $P)" "$before" "the keys outside $P"

  # a dry run to the time changes nothing and says what it would
  local live; live=$(kv_dump $P)
  rv -o json restore --prefix $P --to-time "$(utc_ms "$t_ms")" --dry-run
  assert_ok
  assert_eq "$(json_get .result)" planned result
  assert_eq "$(json_get .put)" 2 "puts planned (k1, k2)"
  assert_eq "$(json_get .deleted)" 1 "deletes planned (new)"
  assert_eq "$(kv_dump $P)" "$live" "the keys after the dry run"
  # the time resolves to r1: k1 and k2 put back, new deleted
  rv restore --prefix $P --to-time "$(utc_ms "$t_ms")" --yes
  assert_ok
  assert_out_contains "from revision $r1 (recorded"
  assert_out_contains "2 put, 1 deleted"
  assert_eq "$(kv_dump $P)" "$want1" "the keys under $P at the time (r1)"
  assert_eq "$(outside $P)" "$before" "the keys outside $P"

  # the latest point is after the del --prefix: every key under P deleted again
  rv -o json restore --prefix $P --to-latest --yes
  assert_ok
  assert_eq "$(json_get .source.revision)" "$r3" "the latest point"
  assert_eq "$(json_get .deleted)" 20 "keys deleted"
  assert_eq "$(kv_dump $P)" "" "the keys under $P at the latest point"
  assert_eq "$(outside $P)" "$before" "the keys outside $P"

  # refusals, before anything is written: out of reach, before the base, a damaged segment
  rv restore --prefix $P --to-revision $((r3 + 1000)) --yes
  assert_rc 1
  assert_err_contains "past the reach of chain $CHAIN"
  rv snapshot diff rev:1 live
  assert_rc 1
  assert_err_contains "before the oldest base artifact"
  local seg size rev
  rev=$(rev_now)
  seg=$(ls "$T/c/backups" | grep -F "$CHAIN.seg-r" | sort | tail -1)
  size=$(stat -c %s "$T/c/backups/$seg")
  printf '\xff' | dd of="$T/c/backups/$seg" bs=1 seek=$((size / 2)) conv=notrunc status=none
  rv restore --prefix $P --to-latest --yes
  assert_rc 1
  assert_err_contains "$seg"
  assert_eq "$(kv_dump $P)" "" "the keys under $P after the refusal"
  assert_eq "$(rev_now)" "$rev" "the cluster's revision after the refusal"
}
