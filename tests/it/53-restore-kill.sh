# regvault restore killed with SIGKILL at random moments over its whole run: after
# each kill, the step the messages name (run the restore again, --resume or
# --rollback) works without any cleanup by hand, and the cluster ends healthy with
# either the old data or the snapshot's, every member agreeing (HashKV), and every
# old data dir either live or kept aside.
#
# RV_KILL_ROUNDS sets the number of kills (default 10, about a minute and a half):
#   RV_KILL_ROUNDS=40 bash tests/run 53-restore-kill

member_url() { echo "$ENDPOINTS" | cut -d, -f"$1"; }
member_dump() { etcdctl --endpoints="$1" --consistency=s --command-timeout=10s get --prefix ""; }
hashkv() { # hashkv CLIENT_URL REV
  etcdctl --endpoints="$1" --command-timeout=10s -w json endpoint hashkv --rev="$2" | jq -r '.[0].HashKV.hash'
}
now() { date +%s.%N; }

# Every member healthy, holding DUMP on its own, the same HashKV on all three.
assert_cluster_holds() { # assert_cluster_holds DUMP WHAT
  local i got rev h hashes=()
  for i in 1 2 3; do
    etcdctl --endpoints="$(member_url $i)" --command-timeout=10s endpoint health >/dev/null 2>&1 ||
      fail "member etcd$i is not healthy ($2)"
    got=$(member_dump "$(member_url $i)")
    [ "$got" == "$1" ] || fail "member etcd$i does not hold $2: $(diff <(echo "$1") <(echo "$got") | head -5)"
  done
  rev=$(ectl -w json get /k/a | jq -r .header.revision)
  for i in 1 2 3; do
    h=$(hashkv "$(member_url $i)" "$rev")
    [ -n "$h" ] || fail "no HashKV from etcd$i"
    hashes+=("$h")
  done
  [ "${hashes[0]}" == "${hashes[1]}" ] && [ "${hashes[1]}" == "${hashes[2]}" ] ||
    fail "HashKV at revision $rev differs ($2): ${hashes[*]}"
}

# The data dir a member had before the round (its inode: the restore only renames)
# is the live one or kept aside; nothing was deleted.
assert_old_dirs_kept() { # assert_old_dirs_kept INODE1 INODE2 INODE3
  local i d found inodes=("$@")
  for i in 1 2 3; do
    assert_file "$T/c/etcd$i/member/wal"
    found=
    for d in "$T/c/etcd$i" "$T/c/etcd$i".before-restore-* "$T/c/etcd$i".failed-restore-*; do
      [ -d "$d" ] && [ "$(stat -c %i "$d")" == "${inodes[$((i - 1))]}" ] && found=$d
    done
    [ -n "$found" ] || fail "the data dir etcd$i had before the kill is gone: $(ls "$T/c")"
  done
}

# A db of about 5 MB: the restore's own phase (etcdctl snapshot restore) is a good
# part of the run, so the random kills land in it too.
fill_db() {
  local i
  head -c 100000 /dev/zero | tr '\0' x >"$T/value"
  for i in $(seq 1 50); do ectl put "/big/$i" <"$T/value" >/dev/null || fail "put"; done
}

test_restore_killed_while_its_tools_run_does_not_break_the_next() {
  start_cluster "$T/c" || fail "cluster up failed"
  fill_db
  ectl put /k/a alpha >/dev/null
  rv snapshot save
  assert_ok
  local snapdump; snapdump=$(ectl get --prefix "")
  ectl put /k/a changed >/dev/null
  # The etcd tools beside cluster.etcd.binary come first: an etcdctl that says when
  # it starts and takes a second to begin (as on a large db).
  mkdir -p "$T/bin"
  printf '#!/bin/sh\nexec /usr/bin/etcd "$@"\n' >"$T/bin/etcd"
  printf '#!/bin/sh\ntouch %s/tool-started\nsleep 1\nexec /usr/bin/etcdctl "$@"\n' "$T" >"$T/bin/etcdctl"
  chmod +x "$T/bin/etcd" "$T/bin/etcdctl"
  sed -i "s|^  etcd:\$|  etcd:\\n    binary: $T/bin/etcd|" "$CFG"
  "$RV_BIN" --config "$CFG" --no-progress restore --from latest --yes --force >"$T/kill.out" 2>"$T/kill.err" &
  local pid=$!
  while [ ! -e "$T/tool-started" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.02; done
  assert_file "$T/tool-started"
  kill -9 "$pid"
  wait "$pid"
  # Killed before it stopped anything: the cluster still serves the old data, and
  # the next restore removes the staging left behind and goes on.
  [ "$(ectl get /k/a --print-value-only)" == changed ] || fail "the killed restore changed the data"
  assert_no_file "$T/c/state/restore-journal.json"
  rv restore --from latest --yes --force
  assert_ok
  assert_err_contains "removing $T/c/.regvault-restore-staging"
  assert_cluster_holds "$snapdump" "the snapshot's data"
  assert_no_file "$T/c/.regvault-restore-staging"
}

# kill_at DELAY WHAT ARGS...: regvault ARGS, killed with SIGKILL after DELAY seconds
# (unless it ended before); sets rc.
kill_at() {
  local delay=$1 what=$2 pid n
  shift 2
  n=$((${n_kill:-0} + 1)); n_kill=$n
  "$RV_BIN" --config "$CFG" --no-progress "$@" >"$T/kill-$n.out" 2>"$T/kill-$n.err" &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null
  wait "$pid"
  rc=$?
  echo "$what: '$*' killed after $delay s (exit $rc): $(tail -1 "$T/kill-$n.err")"
}

# settle ROUND KILL_STEP: what an operator does after a kill: run the restore again;
# when it says the last one was interrupted, finish it (odd rounds) or undo it (even
# rounds), and with KILL_STEP 1 kill that step too at a random moment and start over.
# Sets STATE to the data the cluster should now hold: snapshot or old.
settle() {
  local i=$1 kill_step=$2 step
  rv restore --from latest --yes --force
  if [ "$RC" -eq 0 ]; then
    STATE=snapshot
    return
  fi
  [[ $ERR == *"was interrupted at step"* ]] || fail "round $i: the restore after the kill failed: $ERR"
  step=--rollback
  [ $((i % 2)) -eq 1 ] && [[ $ERR == *"regvault restore --resume"* ]] && step=--resume
  if [ "$kill_step" -eq 1 ]; then
    kill_at "$(echo "scale=3; $span * $RANDOM / 32768" | bc)" "round $i" restore "$step"
    settle "$i" 0
    return
  fi
  rv restore "$step"
  assert_ok
  STATE=snapshot
  [ "$step" == --rollback ] && STATE=old
  return 0
}

test_restore_killed_as_it_starts_a_member_is_finished_or_undone() {
  need_test_hooks
  start_cluster "$T/c" || fail "cluster up failed"
  ectl put /k/a alpha >/dev/null
  rv snapshot save
  assert_ok
  local snapdump; snapdump=$(ectl get --prefix "")
  ectl put /k/a changed >/dev/null
  local old; old=$(ectl get --prefix "")
  # Killed after forking the first restored member, before its pid file: no etcd
  # may run that nothing records (stop would not touch it, the rollback would
  # refuse to move its data dir).
  RV_TEST_CRASH_AT=member-forked rv_hooked restore --from latest --yes --force
  assert_rc 137
  # The next restore names the two ways out (also within the second the killed one
  # moved the old dirs aside in, when its plan's names are taken).
  rv restore --from latest --yes --force
  assert_rc 1
  assert_err_contains "interrupted at step 'starting'"
  assert_err_contains "'regvault restore --resume'"
  rv restore --rollback
  assert_ok
  assert_cluster_holds "$old" "the data from before the restore"
  RV_TEST_CRASH_AT=member-forked rv_hooked restore --from latest --yes --force
  assert_rc 137
  rv restore --resume
  assert_ok
  assert_cluster_holds "$snapdump" "the snapshot's data"
  ! pgrep -f -- "$T/c/etcd[0-9].failed-restore-" >/dev/null || fail "an etcd runs on a data dir moved aside"
}

test_restore_killed_at_random_moments_recovers_every_time() {
  local rounds=${RV_KILL_ROUNDS:-10} i t0 span delay rc old state inodes
  start_cluster "$T/c" || fail "cluster up failed"
  fill_db
  for i in $(seq 1 20); do ectl put "/k/$i" "value-$i" >/dev/null || fail "put"; done
  ectl put /k/a alpha >/dev/null
  rv snapshot save
  assert_ok
  local snapdump; snapdump=$(ectl get --prefix "")

  # One whole restore, timed: the kills are spread over this span.
  ectl put /k/a changed >/dev/null
  t0=$(now)
  rv restore --from latest --yes --force
  assert_ok
  span=$(echo "$(now) - $t0" | bc)
  echo "a whole restore takes $span s; $rounds kills spread over it"
  assert_cluster_holds "$snapdump" "the snapshot's data"
  rv restore --cleanup --yes
  assert_ok

  for i in $(seq 1 "$rounds"); do
    # Data that differs from the snapshot's, so the two outcomes can be told apart.
    ectl put /k/a "round-$i" >/dev/null || fail "round $i: the cluster takes no writes"
    old=$(ectl get --prefix "")
    inodes=("$(stat -c %i "$T/c/etcd1")" "$(stat -c %i "$T/c/etcd2")" "$(stat -c %i "$T/c/etcd3")")
    # Round i kills in the i-th slice of the span, somewhere at random.
    delay=$(echo "scale=3; $span * ($i - 1 + $RANDOM / 32768) / $rounds" | bc)
    kill_at "$delay" "round $i" restore --from latest --yes --force
    STATE=snapshot
    # Every other round that needs --resume or --rollback kills that too, once.
    [ "$rc" -ne 0 ] && settle "$i" $(((i / 2) % 2))
    state=$STATE
    if [ "$state" == old ]; then
      assert_cluster_holds "$old" "the data from before round $i"
    else
      assert_cluster_holds "$snapdump" "the snapshot's data after round $i"
    fi
    assert_old_dirs_kept "${inodes[@]}"
    assert_no_file "$T/c/state/restore-journal.json"
    assert_no_file "$T/c/.regvault-restore-staging"
    echo "round $i: ends with the $state data"
    rv restore --cleanup --yes
    assert_ok
  done
}
