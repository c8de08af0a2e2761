# The daemons' leader election through etcd: two daemons of one cluster (as on two
# hosts; here two members' daemons on one machine, each with daemon.member), one
# leader at a time; only the leader runs the cluster-wide jobs; a clean stop hands
# over at once, a SIGKILL within the TTL, and a new leader does not run again at
# once what the last one has just run; etcdctl reads the leader key.

setup_file() {
  start_cluster "$T_FILE_DIR/c"
  export_env CFG ENDPOINTS
}

teardown_file() {
  local pid
  [ -f "$T_FILE_DIR/.daemons" ] || return 0
  while read -r pid; do kill -9 "$pid" 2>/dev/null; done <"$T_FILE_DIR/.daemons"
  return 0
}

# leader_config N MEMBER: $T/cfgN.yaml, daemon N's own state, store and socket; only
# daemon 1 supervises the members; snapshots every 2s (cluster-wide), no diskcheck.
leader_config() {
  local n=$1 sock
  sock=$T_FILE_DIR/$(md5sum <<<"$T$n" | cut -c1-8).sock
  sed -e "s|^state_dir: .*|state_dir: $T/state$n|" -e "s|^  url: .*/backups$|  url: $T/backups|" "$CFG" >"$T/cfg$n.yaml"
  {
    echo "daemon:"
    echo "  member: $2"
    echo "  leader_ttl: 3s"
    echo "  control_socket: $sock"
    echo "  metrics_listen: \"\""
    echo "  supervise_members: $([ "$n" = 1 ] && echo true || echo false)"
    echo "  jobs:"
    echo "    snapshot: {every: 2s}"
    for job in verify compact defrag hashcheck diskcheck drill; do echo "    $job: {enabled: false}"; done
  } >>"$T/cfg$n.yaml"
}

start_d() { # start_d N: daemon N in the background, PID in D<N>
  local n=$1 i pid
  "$RV_BIN" --config "$T/cfg$n.yaml" daemon >>"$T/daemon$n.log" 2>&1 &
  pid=$!
  eval "D$n=$pid"
  echo "$pid" >>"$T_FILE_DIR/.daemons"
  echo "$pid" >>"$T/.pids"
  trap 'kill -9 $(cat "$T/.pids") 2>/dev/null' EXIT # a failed assertion ends the test and its daemons
  for i in $(seq 1 100); do
    "$RV_BIN" --config "$T/cfg$n.yaml" daemon status >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || fail "daemon $n exited at start: $(tail -5 "$T/daemon$n.log")"
    sleep 0.2
  done
  fail "daemon $n did not answer: $(tail -5 "$T/daemon$n.log")"
}

leader_of() { "$RV_BIN" --config "$T/cfg$1.yaml" -o json daemon status 2>/dev/null | jq -r '.leader'; }
leader_is() { [ "$(leader_of "$1")" = "$2" ]; }
leader_key() { ectl get /regvault/registry/leader --print-value-only; }
snapshots_in() { grep -c '"job":"snapshot"' "$T/state$1/jobs.jsonl" 2>/dev/null || echo 0; }
snapshots_over() { [ "$(snapshots_in "$1")" -gt "$2" ]; }


test_one_leader_runs_the_jobs_and_hands_over() {
  leader_config 1 etcd1
  leader_config 2 etcd2
  start_d 1
  wait_for 10 leader_is 1 etcd1 || fail "daemon 1 did not become the leader: $(tail -5 "$T/daemon1.log")"
  start_d 2
  wait_for 5 leader_is 2 etcd1 || fail "daemon 2 does not see etcd1 as the leader: $(leader_of 2)"
  assert_eq "$(leader_key)" etcd1 "the leader key"
  sleep 5
  [ "$(snapshots_in 1)" -ge 2 ] || fail "the leader ran fewer than 2 snapshots: $(snapshots_in 1)"
  assert_eq "$(snapshots_in 2)" 0 "snapshots run by the daemon that does not lead"
  run "$RV_BIN" --config "$T/cfg2.yaml" --no-progress run snapshot
  assert_rc 1
  assert_err_contains "the snapshot job runs on the leader, the daemon of member etcd1"
  run "$RV_BIN" --config "$T/cfg2.yaml" --no-progress -o json daemon status
  assert_eq "$(json_get .is_leader)" false "daemon 2's is_leader"
  assert_eq "$(json_get .member)" etcd2 "daemon 2's member"

  # a clean stop resigns: daemon 2 leads at once
  kill -TERM "$D1"
  wait "$D1"
  local t0=$SECONDS
  wait_for 3 leader_is 2 etcd2 || fail "daemon 2 did not lead within 3 s of a clean stop: $(leader_of 2); $(tail -3 "$T/daemon2.log")"
  assert_eq "$(leader_key)" etcd2 "the leader key after the handover"
  local before
  before=$(snapshots_in 2)
  wait_for 10 snapshots_over 2 "$before" || fail "the new leader ran no snapshot"

  # SIGKILL: daemon 1 (started again) takes over within the TTL (3 s) and a few seconds
  start_d 1
  kill -9 "$D2"
  wait "$D2" 2>/dev/null
  t0=$SECONDS
  wait_for 10 leader_is 1 etcd1 || fail "daemon 1 did not take over after a SIGKILL: $(leader_of 1); $(tail -3 "$T/daemon1.log")"
  [ $((SECONDS - t0)) -le 8 ] || fail "the takeover took $((SECONDS - t0)) s, more than the TTL and 5 s"
  kill -TERM "$D1"
  wait "$D1"
  assert_eq "$?" 0 "daemon 1's exit code"
  [ -z "$(leader_key)" ] || fail "the leader key stayed after the last daemon stopped: $(leader_key)"
}

# A daemon restarted on the host of the leader it replaces does not wait out the
# dead one's lease: that pid is gone, its lease is revoked.
test_a_restarted_daemon_takes_over_its_dead_predecessors_lease_at_once() {
  leader_config 1 etcd1
  sed -i 's/leader_ttl: 3s/leader_ttl: 60s/' "$T/cfg1.yaml"
  start_d 1
  wait_for 10 leader_is 1 etcd1 || fail "no leader"
  kill -9 "$D1"
  wait "$D1" 2>/dev/null
  local t0=$SECONDS
  start_d 1
  wait_for 10 leader_is 1 etcd1 || fail "the restarted daemon did not lead within 10 s (the lease is 60 s)"
  grep -q "its lease is revoked rather than waited out" "$T/daemon1.log" || fail "no log line for the revoked lease"
  kill -TERM "$D1"
  wait "$D1"
}

# No job runs twice across a handover: with hourly snapshots the leader runs the
# first one at once (none had succeeded); killed, the daemon that takes over reads
# that run from etcd and schedules the next an hour after it, instead of running
# another at once.
test_a_new_leader_does_not_run_again_what_the_last_one_just_ran() {
  leader_config 1 etcd1
  leader_config 2 etcd2
  sed -i 's/snapshot: {every: 2s}/snapshot: {every: 1h}/' "$T/cfg1.yaml" "$T/cfg2.yaml"
  start_d 1
  wait_for 10 leader_is 1 etcd1 || fail "daemon 1 did not lead"
  wait_for 15 snapshots_over 1 0 || fail "the leader did not run the first snapshot: $(tail -3 "$T/daemon1.log")"
  start_d 2
  wait_for 5 leader_is 2 etcd1 || fail "daemon 2 does not see etcd1 lead"
  local before
  before=$(ls "$T/backups" | grep -c '\.tar\.zst$')
  assert_eq "$before" 1 "artifacts after the first leader's run"
  kill -9 "$D1"
  wait "$D1" 2>/dev/null
  wait_for 10 leader_is 2 etcd2 || fail "daemon 2 did not take over: $(tail -3 "$T/daemon2.log")"
  sleep 3
  assert_eq "$(snapshots_in 2)" 0 "snapshots the new leader ran at once"
  assert_eq "$(ls "$T/backups" | grep -c '\.tar\.zst$')" 1 "artifacts after the handover"
  run "$RV_BIN" --config "$T/cfg2.yaml" --no-progress -o json daemon status
  assert_ok
  local next last
  next=$(json_get '.jobs[] | select(.job == "snapshot") | .next_run')
  last=$(ectl get /regvault/registry/jobs/snapshot --print-value-only | jq -r .finished_at)
  [ "$next" != null ] || fail "no next snapshot scheduled on the new leader"
  [ $(( $(date -d "$next" +%s) - $(date -d "$last" +%s) )) -ge 3500 ] ||
    fail "the next snapshot ($next) is not about an hour after the last leader's ($last)"
  sed -n '/this daemon (member etcd2) is the leader/,$p' "$T/daemon2.log" | grep -q "running it now" &&
    fail "the new leader ran the snapshot at once: $(tail -3 "$T/daemon2.log")"
  kill -TERM "$D2"
  wait "$D2"
}
