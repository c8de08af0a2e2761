# regvault maint compact / defrag / hashcheck / alarms on a real three-member cluster:
# what the user sees (exit codes, messages, JSON) and what the members say themselves
# (etcdctl endpoint status, their logs).

setup_file() {
  start_cluster "$T_FILE_DIR/c" || return 1
  export_env CFG ENDPOINTS
}

# Per endpoint, from the member itself: "<endpoint> <member_id hex> <leader?> <dbSize> <dbSizeInUse>"
member_status() {
  ectl endpoint status -w json | jq -r '.[] | "\(.Endpoint) \(.Status.header.member_id) \(.Status.leader == .Status.header.member_id) \(.Status.dbSize) \(.Status.dbSizeInUse // 0)"'
}

# The name of the member that says it is the leader.
leader_name() {
  local ep i=0 e
  ep=$(member_status | awk '$3 == "true" {print $1}')
  for e in ${ENDPOINTS//,/ }; do
    i=$((i + 1))
    [ "$e" == "$ep" ] && echo "etcd$i"
  done
}

db_size_of() { member_status | awk -v ep="$1" '$1 == ep {print $4}'; }

# Fill the db with about N x 100 kB, then delete all but a few keys.
fill_and_delete() {
  local n=$1 i
  head -c 75000 /dev/urandom | base64 -w0 >"$T/value"
  for i in $(seq 1 "$n"); do ectl put "/fill/$i" <"$T/value" >/dev/null || fail "put $i failed"; done
  ectl del --prefix /fill/ >/dev/null
  ectl put /fill/keep "kept" >/dev/null
}

# The time (epoch seconds) a member's log says its last defragmentation finished.
defrag_finished_in_log() {
  python3 - "$1" <<'EOF'
import json, re, sys, datetime
last = None
for line in open(sys.argv[1], errors="replace"):
    if "finished defragment" not in line:
        continue
    m = re.match(r"(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d(\.\d+)?)", line)
    if not m and line.startswith("{"):
        m = re.match(r"(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d(\.\d+)?)", json.loads(line).get("ts", ""))
    if m:
        last = datetime.datetime.fromisoformat(m.group(1) + " " + m.group(2)).timestamp()
print(last if last is not None else "none")
EOF
}

test_rule_that_does_not_parse_exits_2_before_touching_anything() {
  local before after
  before=$(member_status | awk '{print $1, $4}')
  rv maint defrag --rule 'dbSizeFree > 200MiB &&'
  assert_rc 2
  assert_err_contains "does not parse at position 23"
  assert_err_contains "^"
  rv maint defrag --rule 'dbSize > 200XB'
  assert_rc 2
  assert_err_contains "unknown unit 'XB'"
  rv maint defrag --rule 'dbSizeFree'
  assert_rc 2
  assert_err_contains "not a condition"
  # Nothing was touched: no member logged a defragmentation, sizes unchanged.
  for i in 1 2 3; do
    [ "$(defrag_finished_in_log "$T_FILE_DIR/c/etcd$i.log")" == none ] || fail "etcd$i was defragmented"
  done
  after=$(member_status | awk '{print $1, $4}')
  assert_eq "$after" "$before" "member sizes"
  # A bad default rule in the configuration is a configuration error, also exit 2.
  cp "$CFG" "$T/bad.yaml"
  printf 'maint:\n  defrag_rule: "dbQuotaUsage >> 1"\n' >>"$T/bad.yaml"
  run "$RV_BIN" --config "$T/bad.yaml" maint defrag
  assert_rc 2
  assert_err_contains "line $(grep -n defrag_rule "$T/bad.yaml" | cut -d: -f1): maint.defrag_rule is not a valid rule"
  assert_err_contains "position"
}

test_bad_arguments_are_usage_errors() {
  rv maint compact --revision abc
  assert_rc 2
  assert_err_contains "--revision takes a revision"
  rv maint compact --revision 5 --keep-revisions 3
  assert_rc 2
  assert_err_contains "not both"
  rv maint defrag --pause soon
  assert_rc 2
  assert_err_contains "--pause takes a duration"
  rv maint defrag --frobnicate
  assert_rc 2
  assert_err_contains "unknown option '--frobnicate'"
  rv maint defrag --rule
  assert_rc 2
  assert_err_contains "needs a value"
  rv maint hashcheck extra
  assert_rc 2
  assert_err_contains "unexpected argument 'extra'"
  rv maint frobnicate
  assert_rc 2
  assert_err_contains "unknown subcommand 'frobnicate'"
  rv maint
  assert_rc 2
  rv maint defrag --help
  assert_ok
  assert_out_contains "--move-leader"
  rv maint --help
  assert_ok
  assert_out_contains "recover-space"
}

test_compaction_and_defrag_shrink_a_filled_then_deleted_db() {
  local ep1 size_before size_after
  fill_and_delete 200
  ep1=${ENDPOINTS%%,*}
  size_before=$(db_size_of "$ep1")
  [ "$size_before" -gt 15000000 ] || fail "the db did not grow: $size_before"

  rv -o json maint compact --keep-revisions 0
  assert_ok
  [ "$(json_get .revision)" -ge 200 ] || fail "compacted to $(json_get .revision)"
  assert_eq "$(json_get .already_compacted)" false
  [ "$(json_get '.members[0].db_size_after')" -gt 0 ] || fail "no size after compaction"
  local compacted_to
  compacted_to=$(json_get .revision)
  # The members dropped the history before it (their own answer to an old read).
  run etcdctl --endpoints="$ENDPOINTS" get /fill/1 --rev=5
  assert_rc 1
  assert_err_contains "compacted"

  # Again at the same revision: already compacted is not an error.
  rv maint compact --revision "$compacted_to"
  assert_ok
  assert_out_contains "already compacted"

  rv -o json maint defrag --rule 'dbSize > 1MiB'
  assert_ok
  assert_eq "$(json_get '[.members[].outcome] | unique | join(",")')" defragmented
  assert_eq "$(json_get .defragmented)" 3
  for i in 0 1 2; do
    [ "$(json_get ".members[$i].db_size_after")" -lt $(( $(json_get ".members[$i].db_size_before") / 4 )) ] ||
      fail "member $i did not shrink: $(json_get ".members[$i]")"
  done
  # The members say so themselves.
  size_after=$(db_size_of "$ep1")
  [ "$size_after" -lt $((size_before / 4)) ] || fail "etcd1 reports dbSize $size_after (was $size_before)"
  assert_eq "$(ectl get /fill/keep --print-value-only)" kept "the kept key"

  # Now the rule is false everywhere: every member is skipped.
  rv maint defrag --rule 'dbSizeFree > 1MiB'
  assert_ok
  assert_out_contains "skipped"
  assert_out_not_contains "defragmented"
}

test_defrag_goes_leader_last_by_the_members_own_status_and_logs() {
  local leader last t_leader t
  leader=$(leader_name)
  [ -n "$leader" ] || fail "no member says it is the leader"
  rv -o json maint defrag --rule true
  assert_ok
  assert_eq "$(json_get '.members[-1].name')" "$leader" "the last member defragmented"
  assert_eq "$(json_get '.members[-1].leader')" true
  assert_eq "$(json_get '[.members[] | select(.leader)] | length')" 1 "members marked leader"
  assert_eq "$(json_get .leader_before)" "$leader"
  # One at a time: each started after the previous one finished.
  assert_eq "$(json_get '[.members[0].finished <= .members[1].started, .members[1].finished <= .members[2].started] | all')" true \
    "members defragmented one at a time"
  # The members' own logs: the leader finished its defragmentation last.
  t_leader=$(defrag_finished_in_log "$T_FILE_DIR/c/$leader.log")
  [ "$t_leader" != none ] || fail "$leader's log shows no defragmentation"
  for i in 1 2 3; do
    [ "etcd$i" == "$leader" ] && continue
    t=$(defrag_finished_in_log "$T_FILE_DIR/c/etcd$i.log")
    [ "$t" != none ] || fail "etcd$i's log shows no defragmentation"
    python3 -c "import sys; sys.exit(0 if $t <= $t_leader else 1)" || fail "etcd$i finished at $t, after the leader $leader ($t_leader)"
  done
  # The leader did not change.
  assert_eq "$(leader_name)" "$leader" "the leader after defrag"
}

test_move_leader_hands_leadership_to_a_defragmented_follower() {
  local leader now
  leader=$(leader_name)
  rv -o json maint defrag --rule true --move-leader --pause 100ms
  assert_ok
  now=$(leader_name)
  [ "$now" != "$leader" ] || fail "$leader is still the leader"
  assert_eq "$(json_get .leader_moved_to)" "$now" "leader_moved_to"
  assert_eq "$(json_get '.members[-1].name')" "$leader" "the old leader went last"
  # The new leader was defragmented before it took over.
  assert_eq "$(json_get "[.members[] | select(.name == \"$now\") | .outcome][0]")" defragmented
}

test_dry_run_changes_nothing() {
  local before after
  fill_and_delete 40
  rv maint compact --keep-revisions 0
  assert_ok
  before=$(member_status | awk '{print $1, $4}')
  rv -o json maint defrag --dry-run --rule 'dbSize > 1MiB'
  assert_ok
  assert_eq "$(json_get .dry_run)" true
  assert_eq "$(json_get '[.members[].outcome] | unique | join(",")')" would-defragment
  assert_eq "$(json_get .rule)" 'dbSize > 1MiB'
  assert_eq "$(json_get .rule_from)" --rule
  # The table says it was a dry run, and by which rule.
  rv maint defrag --dry-run --rule 'dbSize > 1MiB'
  assert_ok
  assert_out_contains 'Dry run, nothing was changed: 3 of 3 members would be defragmented by the rule "dbSize > 1MiB" (from --rule).'
  rv maint defrag --dry-run
  assert_ok
  assert_out_contains 'Dry run, nothing was changed:'
  assert_out_contains 'by the rule "dbQuotaUsage > 0.8 || dbSizeFree > 200MiB" (from maint.defrag_rule).'
  rv -o json maint defrag --dry-run
  assert_eq "$(json_get .rule_from)" maint.defrag_rule
  after=$(member_status | awk '{print $1, $4}')
  assert_eq "$after" "$before" "member sizes after --dry-run"
}

test_continuous_writer_sees_no_failed_writes_during_defrag() {
  local wpid ok failed
  fill_and_delete 120
  # A client with endpoint failover, writing as fast as it can through the whole run.
  (
    i=0; ok=0; failed=0
    while [ ! -f "$T/stop" ]; do
      i=$((i + 1))
      if etcdctl --endpoints="$ENDPOINTS" --command-timeout=15s put "/writer/$((i % 50))" "v$i" >/dev/null 2>>"$T/writer.err"; then
        ok=$((ok + 1))
      else
        failed=$((failed + 1))
      fi
    done
    echo "$ok $failed" >"$T/writer.result"
  ) &
  wpid=$!
  sleep 1
  # Leader defragmented in place, then with leadership handed over first.
  rv -o json maint defrag --rule true
  local rc1=$RC n1
  n1=$(json_get .defragmented)
  fill_and_delete 60
  rv -o json maint defrag --rule true --move-leader
  local rc2=$RC
  sleep 1
  touch "$T/stop"
  wait "$wpid"
  RC=$rc1
  assert_ok
  assert_eq "$n1" 3 "members defragmented in place"
  RC=$rc2
  assert_ok
  assert_eq "$(json_get .defragmented)" 3
  read -r ok failed <"$T/writer.result"
  [ "$ok" -gt 5 ] || fail "the writer made only $ok writes"
  assert_eq "$failed" 0 "failed writes (of $((ok + failed)); $(head -3 "$T/writer.err"))"
}

test_defrag_failure_stops_and_says_where_each_member_is() {
  fill_and_delete 60
  # A deadline no Defragment meets: the first member fails.
  rv -o json maint defrag --rule true --timeout 1ms
  assert_rc 1
  assert_err_contains "defragmenting $(json_get '.members[0].name') failed"
  assert_err_contains "members left: $(json_get '.members[0].name') failed, $(json_get '.members[1].name') not-reached, $(json_get '.members[2].name') not-reached"
  assert_eq "$(json_get '[.members[].outcome] | join(",")')" failed,not-reached,not-reached
  assert_eq "$(json_get '.members[2].leader')" true "the leader is still last"
  assert_eq "$(json_get .failed)" 1
  # --continue-on-error goes on to the others, and still exits 1.
  rv -o json maint defrag --rule true --timeout 1ms --continue-on-error
  assert_rc 1
  assert_eq "$(json_get '[.members[].outcome] | join(",")')" failed,failed,failed
  # The cluster is fine afterwards.
  rv maint defrag --rule true
  assert_ok
}

test_hashcheck_passes_on_a_healthy_cluster() {
  ectl put /hash/a 1 >/dev/null
  rv maint hashcheck
  assert_ok
  assert_out_contains "Every member has the same data"
  rv -o json maint hashcheck
  assert_ok
  assert_eq "$(json_get .consistent)" true
  assert_eq "$(json_get '[.members[].hash] | unique | length')" 1 "distinct hashes"
  assert_eq "$(json_get '[.members[].agrees] | all')" true
  # Right after compacting to the current revision it still works.
  rv maint compact --keep-revisions 0
  assert_ok
  rv -o json maint hashcheck
  assert_ok
  assert_eq "$(json_get .consistent)" true
}

test_alarms_lists_every_member() {
  rv maint alarms
  assert_ok
  assert_out_contains "No alarms"
  rv -o json maint alarms
  assert_ok
  assert_eq "$(json_get '[.members[].name] | join(",")')" etcd1,etcd2,etcd3
  assert_eq "$(json_get '[.members[].alarms[]] | length')" 0
}

test_compact_to_a_future_revision_fails() {
  rv maint compact --revision 99999999
  assert_rc 1
  assert_err_contains "only at revision"
}

# Last: it stops a member.
test_defrag_refuses_when_a_member_is_down() {
  local pid before
  pid=$(cat "$T_FILE_DIR/c/etcd2.pid" 2>/dev/null) || skip "no pid file for etcd2"
  kill -STOP "$pid"
  before=$(defrag_finished_in_log "$T_FILE_DIR/c/etcd1.log")
  rv maint defrag --rule true
  kill -CONT "$pid"
  assert_rc 1
  assert_err_contains "etcd2"
  assert_err_contains "nothing was changed"
  assert_eq "$(defrag_finished_in_log "$T_FILE_DIR/c/etcd1.log")" "$before" "etcd1's last defragmentation"
}

# Last too: it kills a member (and starts it again).
test_hashcheck_with_a_member_down_compares_the_others() {
  local pid start
  trap 'rv cluster up >/dev/null 2>&1' EXIT
  ectl put /hash/down 1 >/dev/null
  pid=$(cat "$T_FILE_DIR/c/etcd3.pid" 2>/dev/null) || skip "no pid file for etcd3"
  kill -9 "$pid"
  start=$SECONDS
  rv maint hashcheck
  assert_rc 1
  [ $((SECONDS - start)) -le 15 ] || fail "hashcheck took $((SECONDS - start)) s with a member down"
  assert_err_contains "etcd3 did not answer"
  assert_err_contains "(etcd1, etcd2) agree"
  [[ $ERR != *corruption* ]] || fail "a member down is called corruption: $ERR"
  assert_out_not_contains "DISAGREES"
  assert_eq "$(grep -c ' agrees$' <<<"$OUT")" 2 "rows that agree"
  grep -q '^etcd3 .* no answer$' <<<"$OUT" || fail "etcd3's row: $OUT"
  rv -o json maint hashcheck
  assert_rc 1
  assert_eq "$(json_get .consistent)" true
  assert_eq "$(json_get .complete)" false
  assert_eq "$(json_get '[.members[] | "\(.name)=\(.agrees)"] | join(",")')" etcd1=true,etcd2=true,etcd3=false
  assert_eq "$(json_get '.members[2].hash')" null
  assert_eq "$(json_get '.members[0].hash == .members[1].hash')" true
  # A member that hangs (stopped, not dead) is given a bounded time, not the call's whole deadline many times.
  rv cluster up
  assert_ok
  pid=$(cat "$T_FILE_DIR/c/etcd2.pid")
  kill -STOP "$pid"
  start=$SECONDS
  rv -o json maint hashcheck
  kill -CONT "$pid"
  assert_rc 1
  [ $((SECONDS - start)) -le 15 ] || fail "hashcheck took $((SECONDS - start)) s with a member hanging"
  assert_eq "$(json_get .consistent),$(json_get .complete)" true,false
  assert_err_contains "etcd2 did not answer"
  # Back to complete once every member answers.
  rv -o json maint hashcheck
  assert_ok
  assert_eq "$(json_get .consistent),$(json_get .complete)" true,true
}

# A maintenance job the daemon runs is refused to the one-shot command (exit 1, who
# holds it); a defrag dry run changes nothing and still looks; other jobs are free.
test_maint_commands_refused_while_their_job_is_held() {
  local state job
  state=$(sed -n 's/^state_dir: //p' "$CFG")
  for job in compact defrag hashcheck diskcheck; do
    hold_job_lock "$state" "$job"
    rv maint "$job"
    assert_rc 1
    assert_err_contains "regvault: job $job is already running in regvault daemon (pid $HELD_BY, since "
    [ "$job" = defrag ] && { rv maint defrag --dry-run; assert_ok; }
    [ "$job" = hashcheck ] && { rv maint compact; assert_ok; }
    # diskcheck of a directory of one's own is not the job
    [ "$job" = diskcheck ] && { rv maint diskcheck --dir "$T" --size 1MiB; [ "$RC" -ne 1 ] || assert_err_contains "too slow"; }
    release_job_lock
  done
  rv maint hashcheck
  assert_ok
}
