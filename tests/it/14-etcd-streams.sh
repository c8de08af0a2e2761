# The etcd client as a long-running process uses it (etcd/etcd.h), against a real
# three-member cluster, driven by build/etcd-tool (tests/tools/etcd_tool.c): Txn,
# Watch and LeaseKeepAlive streams, a member killed under open streams, memory over
# many calls on one client (and valgrind), two threads on one client (TSan).

# the sanitizer build beside the regvault under test, when that is the one tested
if [[ $RV_BIN == */asan/* ]]; then ET=$(dirname "$RV_BIN")/etcd-tool; else ET=$RV_ROOT/build/etcd-tool; fi

setup_file() {
  # the normal build too: the memory and valgrind tests need it
  make -s -C "$RV_ROOT" build/etcd-tool >/dev/null
  if [[ $ET == */asan/* ]]; then make -s -C "$RV_ROOT" SAN=1 build/asan/etcd-tool >/dev/null; fi
  start_cluster "$T_FILE_DIR/c"
  export_env CFG ENDPOINTS
}

et() { ETCD_ENDPOINTS=$ENDPOINTS run "$ET" "$@"; }
member_url() { cut -d, -f"$1" <<<"$ENDPOINTS"; }
pid_of() { cat "$(dirname "$CFG")/etcd$1.pid"; }
# the cluster's revision now
revision() { ectl get /none -w json | jq -r .header.revision; }
# a key's mod_revision, version, create_revision
kv_field() { ectl get "$1" -w json | jq -r ".kvs[0].$2"; }

test_txn_compares_every_target_with_every_operator() {
  local mod create ver c want
  ectl put /txn/a 1 >/dev/null
  ectl put /txn/a 2 >/dev/null
  mod=$(kv_field /txn/a mod_revision); create=$(kv_field /txn/a create_revision); ver=$(kv_field /txn/a version)
  assert_eq "$ver" 2 "version of /txn/a"
  # compare => whether it holds
  while read -r c want; do
    et txn --if "${c//_/ }" --then "get /txn/a"
    assert_ok
    assert_eq "$(sed -n 's/^succeeded //p' <<<"$OUT")" "$want" "succeeded of '$c'"
  done <<EOF
value_/txn/a_=_2 true
value_/txn/a_=_1 false
value_/txn/a_!=_1 true
value_/txn/a_>_1 true
value_/txn/a_<_1 false
version_/txn/a_=_$ver true
version_/txn/a_!=_$ver false
version_/txn/a_>_1 true
version_/txn/a_<_2 false
create_/txn/a_=_$create true
create_/txn/a_<_$create false
create_/txn/a_>_$((create - 1)) true
create_/txn/a_!=_0 true
mod_/txn/a_=_$mod true
mod_/txn/a_>_$mod false
mod_/txn/a_<_$((mod + 1)) true
mod_/txn/a_!=_$mod false
version_/txn/missing_=_0 true
EOF
  # every compare must hold
  et txn --if "value /txn/a = 2" --if "version /txn/a = 1" --then "get /txn/a"
  assert_ok
  assert_out_contains "succeeded false"
}

test_txn_runs_the_branch_and_answers_each_op() {
  local rev
  ectl put /txn/b/1 one >/dev/null
  ectl put /txn/b/2 two >/dev/null
  et txn --if "value /txn/b/1 = one" --then "put /txn/b/1 uno prev" --then "get /txn/b/ prefix" \
    --then "del /txn/b/2 prev" --else "put /txn/b/1 never"
  assert_ok
  assert_out_contains "succeeded true"
  rev=$(sed -n 's/^revision //p' <<<"$OUT")
  assert_eq "$(revision)" "$rev" "revision of the txn"
  assert_eq "$(grep '^resp 0 ' <<<"$OUT")" "resp 0 put revision=$rev prev=/txn/b/1=one" "put answer"
  assert_eq "$(grep '^resp 1 ' <<<"$OUT")" "resp 1 range revision=$rev count=2 kvs=/txn/b/1=uno,/txn/b/2=two" "range answer"
  assert_eq "$(grep '^resp 2 ' <<<"$OUT")" "resp 2 delete revision=$rev deleted=1 prev=/txn/b/2=two" "delete answer"
  assert_eq "$(ectl get --print-value-only /txn/b/1)" uno "value after the txn"

  # the failure branch: a delete without prev_kv, a count
  et txn --if "value /txn/b/1 = one" --then "put /txn/b/1 never" --else "del /txn/b/ prefix" --else "get /txn/b/ prefix count"
  assert_ok
  assert_out_contains "succeeded false"
  assert_out_contains "resp 0 delete revision=$((rev + 1)) deleted=1"
  assert_out_not_contains "prev="
  assert_out_contains "resp 1 range revision=$((rev + 1)) count=0"
  assert_eq "$(ectl get --prefix /txn/b/ | wc -l)" 0 "keys left under /txn/b/"
}

test_txn_etcd_refuses_is_one_sentence() {
  et txn --then "put /txn/dup 1" --then "put /txn/dup 2"
  assert_rc 1
  assert_out_contains "error EINVAL: Txn on etcd member at"
  assert_out_contains "duplicate key given in txn request"
}

test_watch_prefix_from_a_revision_with_prev_kv() {
  local rev
  rev=$(revision)
  ectl put /w1/a 1 >/dev/null
  ectl put /w1/a 2 >/dev/null
  ectl put /w1b 'not under the prefix' >/dev/null
  ectl del /w1/a >/dev/null
  et watch /w1/ --prefix --rev $((rev + 1)) --prev-kv --events 3
  assert_ok
  assert_out_contains "created ep="
  assert_eq "$(grep -v '^created' <<<"$OUT" | cut -d' ' -f1,2 | paste -sd' ')" \
    "PUT /w1/a=1 PUT /w1/a=2 DELETE /w1/a" "events"
  assert_out_contains "PUT /w1/a=1 mod=$((rev + 1)) ver=1"
  assert_out_contains "PUT /w1/a=2 mod=$((rev + 2)) ver=2 prev=/w1/a=1"
  assert_out_contains "DELETE /w1/a mod=$((rev + 4)) ver=0 prev=/w1/a=2"
  assert_out_not_contains "/w1b"

  # without prev_kv: none; one key only: the other is not seen
  et watch /w1/a --rev $((rev + 1)) --events 3
  assert_ok
  assert_out_not_contains "prev="
  assert_eq "$(grep -c '/w1/a' <<<"$OUT")" 3 "events on /w1/a"
}

test_watch_sees_what_is_written_after_it_opens() {
  et watch "" --all --events 2 --after-open "ETCDCTL_API=3 etcdctl --endpoints=$ENDPOINTS put /w2/x new >/dev/null;
    ETCDCTL_API=3 etcdctl --endpoints=$ENDPOINTS put /other-tree/y also >/dev/null"
  assert_ok
  assert_out_contains "PUT /w2/x=new"
  assert_out_contains "PUT /other-tree/y=also"
}

test_watch_progress_request_answers_the_revision() {
  local rev
  ectl put /w3/k v >/dev/null
  rev=$(revision)
  et watch /w3/ --prefix --request-progress --events 0
  assert_ok
  assert_out_contains "progress revision=$rev"
  # progress_notify is accepted (etcd sends those every 10 minutes when idle)
  et watch /w3/ --prefix --progress-notify --request-progress --events 0
  assert_ok
  assert_out_contains "progress revision=$rev"
}

test_watch_from_a_compacted_revision_is_erange_with_the_compact_revision() {
  local rev
  ectl put /w4/k 1 >/dev/null
  ectl put /w4/k 2 >/dev/null
  rev=$(revision)
  ectl compact "$rev" >/dev/null
  et watch /w4/k --rev 2 --events 1
  assert_rc 1
  assert_out_contains "compact_revision $rev"
  assert_out_contains "error ERANGE: Watch on etcd member at"
  assert_out_contains "compacted"
  # from the compact revision on, it works
  et watch /w4/k --rev "$rev" --events 1
  assert_ok
  assert_out_contains "PUT /w4/k=2 mod=$rev"
}

test_watch_read_times_out_and_stops_on_the_cancel_token() {
  et watch /w5/quiet --events 1 --timeout 300
  assert_rc 1
  assert_out_contains "error EAGAIN: nothing within 300 ms"
  et watch /w5/quiet --events 1 --timeout 60000 --cancel-after 300
  assert_rc 1
  assert_out_contains "error EINTR: reading the Watch stream on etcd member at"
  assert_out_contains "was cancelled"
}

lease_id() { sed -n 's/^id=\([0-9a-f]*\) .*/\1/p' <<<"$OUT"; }

test_one_keepalive_stream_renews_many_leases_and_says_when_one_is_gone() {
  local a b gone
  et lease grant 30; assert_ok; a=$(lease_id)
  et lease grant 40; assert_ok; b=$(lease_id)
  et lease grant 50; assert_ok; gone=$(lease_id)
  et lease revoke "$gone"
  assert_ok
  et keepalive --lease "$a" --lease "$b" --lease "$gone" --rounds 3 --interval 200
  assert_ok
  assert_out_contains "opened ep="
  assert_eq "$(grep -c "^ka id=$a ttl=30$" <<<"$OUT")" 3 "renewals of $a"
  assert_eq "$(grep -c "^ka id=$b ttl=40$" <<<"$OUT")" 3 "renewals of $b"
  assert_eq "$(grep -c "^gone id=$gone$" <<<"$OUT")" 3 "answers for the revoked lease"
  # etcdctl sees the leases alive
  run ectl lease timetolive "$a"
  assert_ok
  assert_out_contains "granted with TTL(30s)"
}

test_lease_time_to_live_grant_revoke() {
  local id
  et lease grant 60
  assert_ok
  id=$(lease_id)
  assert_out_contains "ttl=60"
  et lease ttl "$id"
  assert_ok
  assert_out_contains "granted=60"
  et lease keepalive-once "$id"
  assert_ok
  assert_out_contains "ttl=60"
  et lease revoke "$id"
  assert_ok
  et lease ttl "$id"
  assert_rc 1
  assert_out_contains "error ENOENT: lease $id does not exist (it expired or was revoked)"
  run ectl lease timetolive "$id"
  assert_out_contains "already expired"
}

# A follower is killed while a Watch and a KeepAlive stream are open on it: each
# read fails (not a timeout), and a new stream on another member works, from the
# same client in the same process.
test_member_killed_under_open_streams_fails_them_and_others_serve() {
  local victim ep rev id other
  rv -o json cluster status
  assert_ok
  victim=$(json_get '[.[] | select(.is_leader == false)][0].name')
  victim=${victim#etcd}
  ep=$((victim - 1))
  other=$(((ep + 1) % 3))
  rev=$(revision)
  et watch /kill/k --ep "$ep" --rev $((rev + 1)) --events 2 --timeout 20000 --reopen-on "$other" \
    --after-open "ETCDCTL_API=3 etcdctl --endpoints=$ENDPOINTS put /kill/k before >/dev/null; kill -9 $(pid_of "$victim");
      ETCDCTL_API=3 etcdctl --endpoints=$ENDPOINTS put /kill/k after >/dev/null"
  assert_ok
  assert_out_contains "created ep=$ep"
  assert_out_contains "error EHOSTUNREACH: Watch on etcd member at $(member_url "$victim") failed"
  assert_out_not_contains "EAGAIN"
  assert_out_contains "reopened ep=$other"
  assert_eq "$(grep '^PUT' <<<"$OUT" | cut -d' ' -f2 | paste -sd' ')" "/kill/k=before /kill/k=after" "events"

  rv cluster up
  assert_ok
  et lease grant 60
  id=$(lease_id)
  et keepalive --ep "$ep" --lease "$id" --rounds 3 --interval 200 --timeout 20000 --reopen-on "$other" \
    --after-first "kill -9 $(pid_of "$victim")"
  assert_ok
  assert_out_contains "opened ep=$ep"
  assert_out_contains "error EHOSTUNREACH: LeaseKeepAlive on etcd member at $(member_url "$victim") failed"
  assert_out_contains "reopened ep=$other"
  assert_eq "$(grep -c "^ka id=$id ttl=60" <<<"$OUT")" 3 "renewals (one before, two after)"

  # a stream asked of any member while one is down opens on another
  et watch /kill/k --ep -1 --request-progress --events 0
  assert_ok
  assert_out_not_contains "created ep=$ep"
  rv cluster up
  assert_ok
}

# A member that stops answering without closing its connections (SIGSTOP: no
# RST, as with a cut cable): the client's keepalive pings find it, and the read
# fails instead of waiting out its own 60 s.
test_member_that_goes_silent_fails_the_watch_read() {
  local victim ep
  rv -o json cluster status
  assert_ok
  victim=$(json_get '[.[] | select(.is_leader == false)][0].name')
  victim=${victim#etcd}
  ep=$((victim - 1))
  et watch /silent/k --ep "$ep" --events 1 --timeout 60000 --after-open "kill -STOP $(pid_of "$victim")"
  kill -CONT "$(pid_of "$victim")"
  assert_rc 1
  assert_out_contains "created ep=$ep"
  assert_out_contains "error EHOSTUNREACH: Watch on etcd member at $(member_url "$victim") failed"
  assert_out_not_contains "EAGAIN"
}

# some data, so that each snapshot is a real stream of many messages
fill_db() {
  local i
  head -c 30000 /dev/urandom | base64 -w0 >"$T/val"
  for i in $(seq 1 40); do ectl put "/soak/k$i" <"$T/val" >/dev/null || fail "cannot put /soak/k$i"; done
}

# The normal build: ASan's quarantine holds freed memory back on purpose.
test_one_client_many_calls_keeps_memory_flat() {
  local growth
  fill_db
  ETCD_ENDPOINTS=$ENDPOINTS run "$RV_ROOT/build/etcd-tool" soak 1000 100 100
  assert_ok
  assert_out_contains "done status=1000 snapshots=100 streams=100"
  growth=$(sed -n 's/^growth_kb //p' <<<"$OUT")
  [ -n "$growth" ] || fail "no growth_kb line: $OUT"
  [ "$growth" -lt 2048 ] || fail "RSS grew by $growth KiB over 990 Status calls, 90 snapshots and 90 streams (bound 2048)"
}

VG=(valgrind -q --error-exitcode=9 --leak-check=full --show-leak-kinds=definite
    --errors-for-leak-kinds=definite --suppressions="$RV_ROOT/tests/valgrind.supp")

test_streams_txn_and_many_calls_are_valgrind_clean() {
  command -v valgrind >/dev/null || skip "valgrind is not installed"
  local vt=$RV_ROOT/build/etcd-tool id rev
  rev=$(revision)
  ETCD_ENDPOINTS=$ENDPOINTS run "${VG[@]}" "$vt" soak 100 5 20
  assert_ok
  assert_out_contains "done status=100 snapshots=5 streams=20"
  ETCD_ENDPOINTS=$ENDPOINTS run "${VG[@]}" "$vt" txn --if "version /vg/t = 0" --then "put /vg/t 1 prev" \
    --then "get /vg/ prefix" --else "del /vg/ prefix prev"
  assert_ok
  ETCD_ENDPOINTS=$ENDPOINTS run "${VG[@]}" "$vt" watch /vg/ --prefix --rev $((rev + 1)) --prev-kv --events 1
  assert_ok
  ETCD_ENDPOINTS=$ENDPOINTS run "${VG[@]}" "$vt" watch /vg/none --events 1 --cancel-after 300
  assert_rc 1
  assert_out_contains "EINTR"
  et lease grant 30
  id=$(lease_id)
  ETCD_ENDPOINTS=$ENDPOINTS run "${VG[@]}" "$vt" keepalive --lease "$id" --lease 1 --rounds 2 --interval 100
  assert_ok
  assert_out_contains "gone id=1"
}

test_two_threads_share_one_client_under_threadsanitizer() {
  make -s -C "$RV_ROOT" TSAN=1 build/tsan/etcd-tool >/dev/null 2>&1 || skip "no ThreadSanitizer build here"
  export TSAN_OPTIONS="halt_on_error=1 exitcode=66 report_thread_leaks=0 suppressions=$RV_ROOT/tests/tsan.supp"
  ETCD_ENDPOINTS=$ENDPOINTS run "$RV_ROOT/build/tsan/etcd-tool" threads 20
  assert_ok
  assert_out_contains "thread 0 ok rounds=20"
  assert_out_contains "thread 1 ok rounds=20"
}
