# regvault restore: the whole cluster from one snapshot, proved with HashKV; refusals
# before anything stops; rollback when a member cannot start; a restore killed with
# SIGKILL and finished or undone on the next run; cleanup.

# Ports picked at random may still be taken by the time etcd binds them: start again
# on fresh ports rather than fail.

# The killed and interrupted restores below need the test hooks.
setup_file() {
  need_test_hooks
}

# Every key and value a member holds, read from that member alone.
member_dump() { # member_dump CLIENT_URL
  etcdctl --endpoints="$1" --consistency=s --command-timeout=10s get --prefix "" 
}
member_url() { echo "$ENDPOINTS" | cut -d, -f"$1"; }
pid_of() { cat "$T/c/etcd$1.pid" 2>/dev/null; }
pids() { echo "$(pid_of 1) $(pid_of 2) $(pid_of 3)"; }
hashkv() { # hashkv CLIENT_URL REV
  etcdctl --endpoints="$1" -w json endpoint hashkv --rev="$2" | jq -r '.[0].HashKV.hash'
}
peer_port() { grep -A2 "name: etcd$1\$" "$CFG" | sed -n 's/.*peer_url: http:\/\/127.0.0.1:\([0-9]*\).*/\1/p'; }

# A cluster with known data, a snapshot of it, then later writes: /k/later added,
# /k/a overwritten, /k/b deleted. SNAPDUMP is what every member must hold after a
# restore; LATERDUMP what it holds now.
setup_data() {
  start_cluster "$T/c" || fail "cluster up failed"
  local i
  for i in $(seq 1 20); do ectl put "/k/$i" "value-$i" >/dev/null || fail "put"; done
  ectl put /k/a alpha >/dev/null; ectl put /k/b beta >/dev/null
  rv snapshot save
  assert_ok
  SNAPREV=$(ectl -w json get /k/a | jq -r .header.revision)
  SNAPDUMP=$(ectl get --prefix "")
  ectl put /k/later new >/dev/null; ectl put /k/a changed >/dev/null; ectl del /k/b >/dev/null
  LATERDUMP=$(ectl get --prefix "")
  [ "$SNAPDUMP" != "$LATERDUMP" ] || fail "later writes changed nothing"
}

assert_members_hold() { # assert_members_hold DUMP WHAT
  local i got
  for i in 1 2 3; do
    got=$(member_dump "$(member_url $i)")
    [ "$got" == "$1" ] || fail "member etcd$i does not hold $2: $(diff <(echo "$1") <(echo "$got") | head -5)"
  done
}

test_restore_replaces_the_data_of_every_member() {
  setup_data
  rv -o json restore --from latest --yes --force
  assert_ok
  assert_eq "$(json_get .result)" restored result
  assert_eq "$(json_get .revision)" "$SNAPREV" "restored revision"
  assert_eq "$(json_get .snapshot_revision)" "$SNAPREV" "snapshot revision"
  for ph in fetch verify restore stop start check total; do
    [ "$(json_get ".phases.$ph")" != null ] || fail "phase $ph missing from the JSON"
  done
  assert_members_hold "$SNAPDUMP" "the snapshot's data"
  [ -z "$(ectl get /k/later)" ] || fail "a later write survived the restore"
  # Same HashKV on all three at the snapshot's revision.
  local h1 h2 h3
  h1=$(hashkv "$(member_url 1)" "$SNAPREV"); h2=$(hashkv "$(member_url 2)" "$SNAPREV"); h3=$(hashkv "$(member_url 3)" "$SNAPREV")
  [ -n "$h1" ] && [ "$h1" == "$h2" ] && [ "$h2" == "$h3" ] || fail "HashKV differs: $h1 $h2 $h3"
  # A new cluster token, the old data kept beside each data dir, the staging gone.
  assert_out_contains "-restore-"
  for i in 1 2 3; do
    ls -d "$T/c/etcd$i.before-restore-"* >/dev/null 2>&1 || fail "old data dir of etcd$i not kept"
    assert_file "$T/c/etcd$i.before-restore-"*/member/wal
  done
  assert_no_file "$T/c/.regvault-restore-staging"
  assert_no_file "$T/c/state/restore-journal.json"
  # The restored cluster takes writes.
  ectl put /k/after-restore yes >/dev/null || fail "restored cluster refuses writes"
  # cleanup removes the kept dirs (and nothing else).
  rv restore --cleanup --yes
  assert_ok
  assert_out_contains "removed $T/c/etcd1.before-restore-"
  ! ls -d "$T/c/"*.before-restore-* >/dev/null 2>&1 || fail "cleanup left old data dirs"
  assert_file "$T/c/etcd1/member"
  [ "$(ectl get /k/after-restore --print-value-only)" == yes ] || fail "cleanup touched the live data"
}

test_table_output_reports_phases() {
  setup_data
  rv restore --from latest --yes --force
  assert_ok
  assert_out_contains "every member at revision $SNAPREV with HashKV"
  for ph in fetch verify restore stop start check total; do assert_out_contains "  $ph "; done
  assert_out_contains "regvault restore --cleanup"
}

test_refusals_before_anything_changes() {
  setup_data
  local before; before=$(pids)
  # A healthy, serving cluster needs --force; the message says what would be lost.
  rv restore --from latest --yes
  assert_rc 1
  assert_err_contains "healthy and serving at revision"
  assert_err_contains "(revision $SNAPREV)"
  assert_err_contains "--force"
  # Its JSON reports the cluster as the preflight saw it and no old data dir, since
  # none was moved aside; so does a refusal of an unknown artifact.
  local rev; rev=$(ectl -w json get /k/a | jq -r .header.revision)
  rv -o json restore --from latest --yes
  assert_rc 1
  assert_eq "$(json_get .result)" refused result
  assert_eq "$(json_get .cluster_serving_before)" true cluster_serving_before
  assert_eq "$(json_get .cluster_revision_before)" "$rev" cluster_revision_before
  assert_eq "$(json_get '[.members[].old_data_dir] | map(select(. != null)) | length')" 0 "old_data_dir set"
  assert_eq "$(json_get '.members | length')" 3 members
  rv -o json restore --from no-such-artifact --yes --force
  assert_rc 1
  assert_eq "$(json_get .cluster_serving_before)" true "cluster_serving_before (unknown artifact)"
  assert_eq "$(json_get '[.members[].old_data_dir] | map(select(. != null)) | length')" 0 "old_data_dir set (unknown artifact)"
  # No terminal and no --yes: refuse (usage).
  rv restore --from latest --force </dev/null
  assert_rc 2
  assert_err_contains "--yes"
  # --dry-run shows the plan, verifies, changes nothing.
  rv -o json restore --from latest --dry-run
  assert_ok
  assert_eq "$(json_get .result)" planned result
  [[ $(json_get '.members[0].old_data_dir') == "$T/c/etcd1.before-restore-"* ]] ||
    fail "a dry run's old_data_dir is not where the plan keeps it: $(json_get '.members[0].old_data_dir')"
  rv restore --from latest --dry-run
  assert_ok
  assert_out_contains "Restore plan"
  assert_out_contains "$T/c/etcd1.before-restore-"
  assert_out_contains "nothing was changed"
  # Unknown artifact, bad option, both --from and --cleanup.
  rv restore --from no-such-artifact --yes --force
  assert_rc 1
  rv restore --from latest --bogus
  assert_rc 2
  rv restore --from latest --cleanup
  assert_rc 2
  rv restore
  assert_rc 2
  assert_eq "$(pids)" "$before" "member pids"
  ! ls -d "$T/c/"*.before-restore-* >/dev/null 2>&1 || fail "a refused restore moved data dirs"
  [ "$(ectl get --prefix '')" == "$LATERDUMP" ] || fail "a refused restore changed the data"
}

test_corrupted_artifact_is_refused_before_any_member_stops() {
  setup_data
  local art size before
  art=$(ls "$T/c/backups/"*.tar.zst | head -1)
  size=$(stat -c %s "$art")
  printf '\xde\xad\xbe\xef' | dd of="$art" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
  before=$(pids)
  rv restore --from latest --yes --force
  assert_rc 1
  assert_err_contains "corrupt"
  assert_eq "$(pids)" "$before" "member pids after a refused artifact"
  assert_no_file "$T/c/.regvault-restore-staging"
  ! ls -d "$T/c/"*.before-restore-* >/dev/null 2>&1 || fail "data dirs were moved"
  assert_no_file "$T/c/state/restore-journal.json"
  [ "$(ectl get --prefix '')" == "$LATERDUMP" ] || fail "the data changed"
}

test_member_that_cannot_start_rolls_back() {
  setup_data
  # etcd3 goes down and something else takes its peer port: its restored copy
  # cannot start.
  local pid3 port lpid
  pid3=$(pid_of 3)
  kill "$pid3"; while kill -0 "$pid3" 2>/dev/null; do sleep 0.1; done
  port=$(peer_port 3)
  python3 -c "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', $port)); s.listen(1); open('$T/listening','w').close(); time.sleep(600)" &
  lpid=$!
  while [ ! -e "$T/listening" ]; do sleep 0.05; done
  rv restore --from latest --yes --force --timeout 20s
  kill "$lpid"; wait "$lpid" 2>/dev/null
  assert_rc 1
  assert_err_contains "failed while starting"
  assert_err_contains "etcd3"
  assert_err_contains "rolled back"
  assert_err_contains "healthy again"
  # The old data dirs are back, the restored ones kept aside, nothing deleted.
  for i in 1 2 3; do
    ls -d "$T/c/etcd$i.failed-restore-"* >/dev/null 2>&1 || fail "restored dir of etcd$i not kept aside"
  done
  ! ls -d "$T/c/"*.before-restore-* >/dev/null 2>&1 || fail "old data dirs were not put back"
  assert_no_file "$T/c/state/restore-journal.json"
  assert_no_file "$T/c/.regvault-restore-staging"
  # The two members that ran serve the data from before the restore, later writes included.
  [ "$(ectl get --prefix '')" == "$LATERDUMP" ] || fail "the data after the rollback is not the data before"
  # With its port free, etcd3 joins again with its old data: all three hold it.
  rv cluster up
  assert_ok
  assert_members_hold "$LATERDUMP" "the data from before the restore"
}

test_killed_restore_leaves_a_message_and_rollback_undoes_it() {
  setup_data
  # Killed right after the members stopped, before any data dir moved.
  RV_TEST_CRASH_AT=swapping rv_hooked restore --from latest --yes --force
  assert_rc 137
  assert_file "$T/c/state/restore-journal.json"
  assert_file "$T/c/etcd1/member/wal"
  ! ls -d "$T/c/"*.before-restore-* >/dev/null 2>&1 || fail "data dirs moved before the swap"
  # The next run refuses and says how to finish or undo; so does cleanup.
  rv restore --from latest --yes --force
  assert_rc 1
  assert_err_contains "interrupted at step 'swapping'"
  assert_err_contains "regvault restore --rollback"
  assert_err_contains "regvault restore --resume"
  rv restore --cleanup --yes
  assert_rc 1
  assert_err_contains "--rollback"
  rv restore --rollback
  assert_ok
  assert_out_contains "healthy again"
  assert_no_file "$T/c/state/restore-journal.json"
  assert_members_hold "$LATERDUMP" "the data from before the restore"
  rv restore --rollback
  assert_rc 1
  assert_err_contains "no interrupted restore"
}

test_killed_after_the_swap_rollback_puts_the_old_dirs_back() {
  setup_data
  # Killed after the data dirs were swapped, before the start.
  RV_TEST_CRASH_AT=starting rv_hooked restore --from latest --yes --force
  assert_rc 137
  for i in 1 2 3; do
    ls -d "$T/c/etcd$i.before-restore-"* >/dev/null 2>&1 || fail "old data dir of etcd$i is not kept"
  done
  rv cluster status
  rv restore --from latest --yes --force
  assert_rc 1
  assert_err_contains "interrupted at step 'starting'"
  rv -o json restore --rollback
  assert_ok
  assert_eq "$(json_get .result)" rolled-back result
  ! ls -d "$T/c/"*.before-restore-* >/dev/null 2>&1 || fail "old data dirs were not put back"
  assert_members_hold "$LATERDUMP" "the data from before the restore"
}

test_killed_restore_can_be_resumed() {
  setup_data
  RV_TEST_CRASH_AT=starting rv_hooked restore --from latest --yes --force
  assert_rc 137
  rv restore --resume
  assert_ok
  assert_out_contains "revision $SNAPREV"
  assert_no_file "$T/c/state/restore-journal.json"
  assert_members_hold "$SNAPDUMP" "the snapshot's data"
}

test_restore_from_an_etcdctl_snapshot_file() {
  setup_data
  etcdctl --endpoints="$(member_url 1)" snapshot save "$T/plain.db" >/dev/null 2>&1 || fail "etcdctl snapshot save"
  local rev; rev=$(ectl -w json get /k/a | jq -r .header.revision)
  ectl put /k/even-later x >/dev/null
  rv restore --from-file "$T/plain.db" --yes --force
  assert_ok
  assert_out_contains "revision $rev"
  assert_members_hold "$LATERDUMP" "the file's data"
  # A file that is not a snapshot is refused before anything stops.
  head -c 5000 /dev/urandom >"$T/junk.db"
  local before; before=$(pids)
  rv restore --from-file "$T/junk.db" --yes --force
  assert_rc 1
  assert_eq "$(pids)" "$before" "member pids"
}

test_restore_of_a_cluster_that_is_down() {
  setup_data
  rv cluster down
  assert_ok
  # Not serving: no --force needed.
  rv restore --from latest --yes
  assert_ok
  assert_members_hold "$SNAPDUMP" "the snapshot's data"
}

test_restore_is_valgrind_clean() {
  command -v valgrind >/dev/null || skip "valgrind is not installed"
  make -s -C "$RV_ROOT" all >/dev/null
  setup_data
  local vg=(valgrind -q --error-exitcode=9 --leak-check=full --show-leak-kinds=definite
            --errors-for-leak-kinds=definite --child-silent-after-fork=yes
            --suppressions="$RV_ROOT/tests/valgrind.supp")
  run "${vg[@]}" "$RV_ROOT/build/regvault" --config "$CFG" --no-progress restore --from latest --yes --force
  assert_ok
  assert_members_hold "$SNAPDUMP" "the snapshot's data"
  RV_TEST_CRASH_AT=starting rv_hooked restore --from latest --yes --force
  run "${vg[@]}" "$RV_ROOT/build/regvault" --config "$CFG" --no-progress restore --rollback
  assert_ok
}

test_sigterm_during_the_restore_waits_for_its_end() {
  setup_data
  # SIGTERM right after the members stopped: the restore goes on to the end.
  RV_TEST_SIGNAL_AT=swapping rv_hooked restore --from latest --yes --force
  assert_ok
  assert_err_contains "signal 15 arrived during the restore"
  assert_no_file "$T/c/state/restore-journal.json"
  assert_members_hold "$SNAPDUMP" "the snapshot's data"
}

test_confirmation_on_a_terminal() {
  setup_data
  local before; before=$(pids)
  # A terminal (script(1) gives regvault one): the plan, then a question.
  run script -qec "$RV_BIN --config $CFG --no-progress restore --from latest --force" /dev/null < <(printf 'no\n')
  assert_rc 1
  assert_out_contains "Restore plan"
  assert_out_contains "Type 'yes' to restore"
  assert_out_contains "cancelled; nothing was changed"
  assert_eq "$(pids)" "$before" "member pids"
  run script -qec "$RV_BIN --config $CFG --no-progress restore --from latest --force" /dev/null < <(printf 'yes\n')
  assert_ok
  assert_out_contains "every member at revision $SNAPREV"
  assert_members_hold "$SNAPDUMP" "the snapshot's data"
}

test_client_writes_after_the_start_do_not_fail_the_check() {
  setup_data
  # Interrupted once the restored members run; a client writes before the check.
  RV_TEST_CRASH_AT=checking rv_hooked restore --from latest --yes --force
  assert_rc 137
  ectl put /k/client-after-start yes >/dev/null || fail "the restored cluster takes no writes"
  rv -o json restore --resume
  assert_ok
  # The proof is HashKV at the snapshot's revision; the cluster is past it.
  assert_eq "$(json_get .revision)" "$SNAPREV" "restored revision"
  [ "$(json_get .revision_now)" -gt "$SNAPREV" ] || fail "revision_now $(json_get .revision_now) is not past $SNAPREV"
  [ "$(ectl get /k/client-after-start --print-value-only)" == yes ] || fail "the client's write is gone"
}

test_restore_tool_failure_stops_nothing() {
  setup_data
  # The etcd tools beside cluster.etcd.binary come first: a broken etcdctl there.
  mkdir -p "$T/bin"
  printf '#!/bin/sh\nexec /usr/bin/etcd "$@"\n' >"$T/bin/etcd"
  printf '#!/bin/sh\necho "Error: simulated restore failure" >&2\nexit 3\n' >"$T/bin/etcdctl"
  chmod +x "$T/bin/etcd" "$T/bin/etcdctl"
  sed -i "s|^  etcd:\$|  etcd:\\n    binary: $T/bin/etcd|" "$CFG"
  local before; before=$(pids)
  rv restore --from latest --yes --force
  assert_rc 1
  assert_err_contains "etcdctl snapshot restore for member etcd"
  assert_err_contains "simulated restore failure"
  assert_err_contains "nothing was stopped or changed"
  assert_eq "$(pids)" "$before" "member pids"
  ! ls -d "$T/c/"*.before-restore-* >/dev/null 2>&1 || fail "data dirs were moved"
  assert_no_file "$T/c/state/restore-journal.json"
  [ "$(ectl get --prefix '')" == "$LATERDUMP" ] || fail "the data changed"
}
