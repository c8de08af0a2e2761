# regvault daemon against a real cluster: jobs on their schedules (every 2s, so a
# test sees several runs), skipped and waiting runs, a missed run made up at start,
# SIGHUP with a good and a bad file, member supervision (a killed member restarted,
# the restart limit, an operator's restore left alone), SIGTERM during a snapshot,
# systemd's notify protocol, and the control socket's commands. Each test runs its
# own daemon with its own state_dir, store and control socket in its scratch dir.

setup_file() {
  start_cluster "$T_FILE_DIR/c"
  need_test_hooks
  export_env CFG ENDPOINTS
}

teardown_file() {
  local pid
  [ -f "$T_FILE_DIR/.daemons" ] || return 0
  while read -r pid; do kill -9 "$pid" 2>/dev/null; done <"$T_FILE_DIR/.daemons"
  return 0
}

# daemon_config [LINE...]: $T/cfg.yaml, the cluster's with this test's state_dir,
# store and control socket, no metrics endpoint, and the daemon: section's LINEs
# (indented as they go under daemon:). A job the LINEs do not schedule ("    snapshot:
# {every: 2s}") is disabled, so that no default schedule runs in the test.
daemon_config() {
  local line job jobs=() other=()
  DCFG=$T/cfg.yaml
  SOCK=$T_FILE_DIR/$(md5sum <<<"$T" | cut -c1-8).sock # a unix socket's path has 107 bytes at most
  for line in "$@"; do
    if [[ $line == "    "* ]]; then jobs+=("$line"); else other+=("$line"); fi
  done
  for job in snapshot verify compact defrag hashcheck diskcheck drill; do
    # not through a pipe: under pipefail, grep -q leaving early fails printf (SIGPIPE)
    grep -q "^    $job:" <<<"$(printf '%s\n' "${jobs[@]}")" || jobs+=("    $job: {enabled: false}")
  done
  sed -e "s|^state_dir: .*|state_dir: $T/state|" -e "s|^  url: .*/backups$|  url: $T/backups|" "$CFG" >"$DCFG"
  {
    echo "daemon:"
    echo "  control_socket: $SOCK"
    echo "  metrics_listen: \"\""
    echo "  health_interval: 1s"
    printf '%s\n' "${other[@]}"
    echo "  jobs:"
    printf '%s\n' "${jobs[@]}"
  } >>"$DCFG"
}

dv() { run "$RV_BIN" --config "$DCFG" --no-progress "$@"; }

# start_daemon [BIN]: in the background, log in $T/daemon.log; waits until it answers.
start_daemon() {
  local bin=${1:-$RV_BIN} i
  "$bin" --config "$DCFG" daemon >>"$T/daemon.log" 2>&1 &
  DPID=$!
  echo "$DPID" >>"$T_FILE_DIR/.daemons"
  trap 'kill -9 $DPID 2>/dev/null' EXIT # a failed assertion ends the test, not the daemon
  for i in $(seq 1 100); do
    "$RV_BIN" --config "$DCFG" daemon status >/dev/null 2>&1 && return 0
    kill -0 "$DPID" 2>/dev/null || fail "the daemon exited at start: $(tail -5 "$T/daemon.log")"
    sleep 0.2
  done
  fail "the daemon did not answer on its control socket: $(tail -5 "$T/daemon.log")"
}

# stop_daemon: SIGTERM; sets DRC to its exit code.
stop_daemon() {
  kill -TERM "$DPID"
  wait "$DPID"
  DRC=$?
}

# run_now ARGS...: 'regvault run', again while the scheduled run of the job is on.
run_now() {
  local i
  for i in $(seq 1 20); do
    dv run "$@"
    [[ $RC -eq 1 && $ERR == *"job is already running"* ]] || return 0
    sleep 0.3
  done
}
log_has() { grep -qF -- "$1" "$T/daemon.log"; }
log_count() { grep -cF -- "$1" "$T/daemon.log"; }
runs() { # runs JOB RESULT: how many in the history
  "$RV_BIN" --config "$DCFG" jobs --job "$1" --last 0 -o json | jq "[.[] | select(.result == \"$2\")] | length"
}
at_least() { [ "$(runs "$1" "$2")" -ge "$3" ]; }
member_pid() { cat "$(dirname "$CFG")/etcd$1.pid"; }
cluster_healthy() { "$RV_BIN" --config "$CFG" cluster up --wait 30s >/dev/null 2>&1; }

test_commands_that_need_the_daemon_say_when_none_answers() {
  daemon_config
  dv daemon status
  assert_rc 1
  assert_eq "$ERR" "regvault: no regvault daemon answers on $SOCK; start it with 'systemctl start regvault' or run 'regvault daemon'" "stderr"
  dv run snapshot
  assert_rc 1
  assert_err_contains "no regvault daemon answers on $SOCK"
  dv run frobnicate
  assert_rc 2
  assert_err_contains "'frobnicate' is not a job"
  dv jobs
  assert_ok
  assert_out_contains "no runs recorded yet"
  dv jobs --last many
  assert_rc 2
  assert_err_contains "--last takes a number of runs"
  dv run
  assert_rc 2
  assert_err_contains "name the JOB to run"
  dv daemon frobnicate
  assert_rc 2
  assert_err_contains "unknown subcommand 'frobnicate'"
  dv daemon --help
  assert_ok
  assert_out_contains "SIGHUP reloads the configuration"
}

test_scheduled_runs_status_run_and_a_second_daemon() {
  daemon_config "    snapshot: {every: 2s}" "    hashcheck: {every: 2s}"
  start_daemon
  wait_for 40 at_least snapshot success 3 || fail "fewer than 3 scheduled snapshots: $(tail -5 "$T/daemon.log")"
  at_least hashcheck success 2 || fail "fewer than 2 scheduled hashchecks"
  log_has "job snapshot finished: success in" || fail "no log line for a finished snapshot"
  dv daemon status -o json
  assert_ok
  assert_eq "$(json_get '.jobs[] | select(.job == "snapshot") | .last_run.result')" success "the snapshot's last result"
  [ "$(json_get '.jobs[] | select(.job == "snapshot") | .next_run')" != null ] || fail "no next run: $OUT"
  assert_eq "$(json_get '[.supervision.members[] | select(.supervision == "running")] | length')" 3 "members running"
  assert_eq "$(json_get '.jobs[] | select(.job == "defrag") | .enabled')" false "defrag enabled"
  dv daemon status
  assert_ok
  assert_out_contains "every 2.0 s"
  run_now hashcheck -o json
  assert_ok
  assert_eq "$(json_get .result)" success "the run's result"
  assert_eq "$(json_get .report.consistent)" true "the hashcheck report's consistent"
  run_now snapshot
  assert_ok
  assert_out_contains "job snapshot: success in"
  assert_out_contains "saved "
  dv run compact --no-wait
  assert_ok
  assert_out_contains "job compact started"
  dv jobs --job snapshot --last 2 -o json
  assert_ok
  assert_eq "$(json_get 'length')" 2 "runs listed with --last 2"
  dv jobs --job snapshot --last 0 -o json
  assert_eq "$(json_get '[.[] | select(.result == "success")][0].report.save.name | test("^registry-")')" true \
    "a snapshot run's report"
  # A second daemon on the same socket is refused; the first goes on.
  run timeout 20 "$RV_BIN" --config "$DCFG" daemon
  assert_rc 1
  assert_err_contains "another regvault daemon answers on $SOCK"
  dv daemon status
  assert_ok
  stop_daemon
  assert_eq "$DRC" 0 "the daemon's exit code after SIGTERM"
  assert_no_file "$SOCK"
  log_has "regvault daemon stopped" || fail "no log line for the stop"
  # A daemon killed outright leaves its socket; the next one replaces it.
  start_daemon
  kill -9 "$DPID"
  wait "$DPID" 2>/dev/null
  assert_file "$SOCK"
  start_daemon
  log_has "replaced the stale control socket $SOCK" || fail "the stale socket was not replaced"
  stop_daemon
  assert_eq "$DRC" 0 "exit code"
}

# A drill takes longer than its 2 s interval: the next run is skipped; a snapshot
# due meanwhile waits (exclusive jobs never overlap), and a run asked for while the
# drill runs is refused.
test_slow_drill_skips_a_run_and_exclusive_jobs_take_turns() {
  daemon_config "    drill: {every: 2s}" "    snapshot: {every: 2s}"
  dv snapshot save
  assert_ok
  # Slower than its interval on any machine: 3 s at the drill's fetched point.
  RV_TEST_PAUSE_AT=drill-fetched:3000 start_daemon
  wait_for 60 at_least drill skipped 1 || fail "no skipped drill: $(tail -5 "$T/daemon.log")"
  dv jobs --job drill --last 0 -o json
  assert_out_contains "was still running when the next one came due"
  wait_for 30 log_has "job snapshot waits for the drill job to finish" || fail "no snapshot waited for the drill"
  wait_for 60 at_least drill success 2 || fail "fewer than 2 drills passed"
  wait_for 30 at_least snapshot success 2 || fail "fewer than 2 snapshots"
  local try
  for try in 1 2 3 4 5; do # the drill may end between the look and the ask
    wait_for 30 bash -c "'$RV_BIN' --config '$DCFG' daemon status -o json | jq -e '.jobs[] | select(.job == \"drill\") | .state == \"running\"' >/dev/null" ||
      fail "the drill was never seen running"
    dv run drill
    [ "$RC" -eq 1 ] && break
  done
  assert_rc 1
  assert_err_contains "the drill job is already running"
  stop_daemon
  assert_eq "$DRC" 0 "exit code"
  # Runs of exclusive jobs (not the skipped ones, which never started) never overlap.
  dv jobs --last 0 -o json
  jq -r '.[] | select(.result != "skipped") | select(.job == "drill" or .job == "snapshot") | "\(.started_at) \(.finished_at) \(.job)"' <<<"$OUT" >"$T/runs"
  python3 - "$T/state/jobs.jsonl" <<'PY' || fail "exclusive runs overlapped"
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
runs = sorted((r["start_ms"], r["end_ms"], r["job"]) for r in runs
              if r["job"] in ("drill", "snapshot") and r["result"] != "skipped")
for a, b in zip(runs, runs[1:]):
    if b[0] < a[1]:
        sys.exit("%s overlaps %s" % (a, b))
PY
}

test_a_run_missed_while_down_is_made_once_at_start() {
  daemon_config "    verify: {every: 2s}"
  start_daemon
  wait_for 30 at_least verify success 1 || fail "no verify run"
  stop_daemon
  sleep 3 # longer than the interval: a run is missed
  local before
  before=$(runs verify success)
  start_daemon
  wait_for 30 log_has "job verify: a run was missed while the daemon was down" || fail "the missed run was not noticed"
  wait_for 30 at_least verify success $((before + 1)) || fail "the missed run was not made"
  stop_daemon
  assert_eq "$(log_count "a run was missed while the daemon was down")" 1 "missed-run lines over two starts"
}

test_sighup_reloads_a_good_file_and_keeps_the_old_for_a_bad_one() {
  daemon_config "    snapshot: {every: 1h}"
  start_daemon
  daemon_config "    snapshot: {every: 1h}" "    hashcheck: {every: 1s}"
  kill -HUP "$DPID"
  wait_for 20 log_has "reloaded the configuration from $DCFG" || fail "no reload logged"
  wait_for 30 at_least hashcheck success 2 || fail "the reloaded schedule did not run"
  # A file that does not validate: the message the CLI prints, logged; the old one stays.
  cp "$DCFG" "$T/good.yaml"
  echo "bogus_key: 1" >>"$DCFG"
  dv daemon status
  local msg=${ERR#regvault: }
  [ -n "$msg" ] && [ "$RC" -eq 2 ] || fail "the CLI did not refuse the bad file: $ERR"
  kill -HUP "$DPID"
  wait_for 20 log_has "the configuration was not reloaded, the daemon keeps the one it has: $msg" ||
    fail "the bad file's message was not logged: $(tail -3 "$T/daemon.log")"
  cp "$T/good.yaml" "$DCFG"
  local n
  n=$(runs hashcheck success)
  wait_for 20 at_least hashcheck success $((n + 1)) || fail "the old configuration's jobs stopped"
  dv daemon status -o json
  assert_ok
  stop_daemon
  assert_eq "$DRC" 0 "exit code"
}

test_a_killed_member_is_restarted() {
  daemon_config
  start_daemon
  local old
  old=$(member_pid 2)
  kill -9 "$old"
  wait_for 30 log_has "member etcd2 (pid $old) died; restarting it in" || fail "the death was not noticed: $(tail -3 "$T/daemon.log")"
  wait_for 30 log_has "restarted member etcd2" || fail "etcd2 was not restarted"
  wait_for 30 bash -c "'$RV_BIN' --config '$DCFG' daemon status -o json | jq -e '.supervision.members[1] | .supervision == \"running\" and .healthy' >/dev/null" ||
    fail "etcd2 is not running and healthy again"
  [ "$(member_pid 2)" != "$old" ] || fail "etcd2 has its old pid"
  stop_daemon
  assert_eq "$DRC" 0 "exit code"
  cluster_healthy || fail "the cluster is not healthy after the test"
}

test_the_restart_limit_stops_the_restarts_and_says_why() {
  daemon_config "  restart_limit: 2"
  start_daemon
  local dir
  dir=$(dirname "$CFG")
  kill -9 "$(member_pid 3)"
  mv "$dir/etcd3" "$dir/etcd3.aside"
  echo "not a directory" >"$dir/etcd3" # etcd cannot start on it
  wait_for 60 log_has "member etcd3 was restarted 2 times within 10 minutes and still does not stay up" ||
    fail "the limit was not reached: $(tail -5 "$T/daemon.log")"
  assert_eq "$(log_count "restarted member etcd3")" 2 "restarts logged"
  dv daemon status -o json
  assert_eq "$(json_get '.supervision.members[2].supervision')" gave-up "etcd3's supervision"
  [[ $(json_get '.supervision.members[2].reason') == *"etcd3.log"* ]] || fail "the reason names no log: $OUT"
  dv daemon status
  assert_out_contains "gave-up"
  # The operator fixes it and starts it; the daemon takes it back.
  rm "$dir/etcd3"
  mv "$dir/etcd3.aside" "$dir/etcd3"
  cluster_healthy || fail "the cluster did not come back"
  wait_for 20 log_has "member etcd3 runs again" || fail "etcd3 was not taken back"
  stop_daemon
  assert_eq "$DRC" 0 "exit code"
}

# The operator's restore stops and swaps every member: the daemon keeps its hands
# off while the restore holds its lock, then supervises again.
test_an_operators_restore_is_left_alone() {
  daemon_config
  ectl put /daemon/restore before >/dev/null
  dv snapshot save --tag before-restore
  assert_ok
  start_daemon
  ectl put /daemon/restore after >/dev/null
  # The restore holds its lock for 3 s more than it needs (at "staged", before it
  # stops anything), so the daemon's 1 s health round surely sees it.
  RV_TEST_PAUSE_AT=staged:3000 dv restore --from latest --yes --force
  assert_ok
  assert_eq "$(ectl get /daemon/restore --print-value-only)" before "the restored value"
  wait_for 20 log_has "member supervision resumed" || fail "supervision did not resume: $(tail -5 "$T/daemon.log")"
  log_has "member supervision paused: a restore, rollback or cleanup holds the restore lock" ||
    fail "supervision did not pause for the restore"
  ! log_has "restarted member" || fail "the daemon restarted a member during the restore: $(grep restarted "$T/daemon.log")"
  ! log_has "died" || fail "the daemon saw a death during the restore"
  dv daemon status -o json
  assert_eq "$(json_get '[.supervision.members[] | select(.supervision == "running")] | length')" 3 "members running after"
  stop_daemon
  assert_eq "$DRC" 0 "exit code"
  dv restore --cleanup --yes
}

test_sigterm_during_a_snapshot_publishes_nothing_and_exits_0() {
  daemon_config "    snapshot: {every: 1s}"
  mkdir -p "$T/backups"
  RV_TEST_SIGNAL_AT=snapshot-streaming RV_TEST_SIGNAL_PAUSE_MS=2000 "$RV_HOOKS_BIN" --config "$DCFG" daemon >"$T/daemon.log" 2>&1 &
  DPID=$!
  echo "$DPID" >>"$T_FILE_DIR/.daemons"
  wait_for 60 bash -c "! kill -0 $DPID 2>/dev/null" || fail "the daemon did not stop"
  wait "$DPID"
  assert_eq "$?" 0 "the daemon's exit code"
  log_has "stopping on signal 15" || fail "no stop logged: $(tail -5 "$T/daemon.log")"
  log_has "job snapshot finished: cancelled" || fail "the snapshot was not cancelled"
  log_has "nothing was published" || fail "the cancelled save does not say what it left"
  assert_eq "$(ls -A "$T/backups")" "" "the store after a cancelled snapshot"
  assert_eq "$(runs snapshot cancelled)" 1 "cancelled runs in the history"
}

# The daemon's /metrics (daemon.metrics_listen): promtool finds nothing to say, every
# job has its series from the start, and the values are what the jobs did.
test_metrics_endpoint_serves_what_the_jobs_did() {
  command -v promtool >/dev/null || skip "no promtool (Debian package prometheus)"
  command -v curl >/dev/null || skip "no curl"
  local port out rev listed
  daemon_config "    snapshot: {every: 2s}" "    hashcheck: {every: 2s}"
  port=$(free_port)
  sed -i "s|^  metrics_listen: .*|  metrics_listen: 127.0.0.1:$port|" "$DCFG"
  start_daemon
  wait_for 60 at_least snapshot success 1 || fail "no snapshot: $(tail -5 "$T/daemon.log")"
  wait_for 60 at_least hashcheck success 1 || fail "no hashcheck: $(tail -5 "$T/daemon.log")"
  sleep 2 # a health round after the jobs, for the members' series
  curl -fsS "http://127.0.0.1:$port/metrics" >"$T/metrics.txt" || fail "GET /metrics failed"
  out=$(promtool check metrics <"$T/metrics.txt" 2>&1) || fail "promtool check metrics: $out"
  [ -z "$out" ] || fail "promtool check metrics says: $out"
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || fail "GET /healthz is not 200"
  for job in snapshot verify compact defrag hashcheck diskcheck drill; do
    grep -q "^regvault_job_runs_total{job_name=\"$job\",result=\"success\"} " "$T/metrics.txt" ||
      fail "no runs_total series for $job"
  done
  value() { awk -v m="$1" '$1 == m {print $2}' "$T/metrics.txt"; }
  [ "$(value 'regvault_job_runs_total{job_name="snapshot",result="success"}')" -ge 1 ] ||
    fail "snapshot successes: $(value 'regvault_job_runs_total{job_name="snapshot",result="success"}')"
  assert_eq "$(value regvault_hashcheck_consistent)" 1 "regvault_hashcheck_consistent"
  assert_eq "$(value 'regvault_member_up{member="etcd1"}')" 1 "regvault_member_up of etcd1"
  assert_eq "$(value 'regvault_drill_last_result')" NaN "the drill that never ran"
  rev=$(value regvault_snapshot_last_revision)
  dv snapshot list -o json
  assert_ok
  listed=$(jq -r '.[0].revision' <<<"$OUT")
  assert_eq "$rev" "$listed" "the last snapshot's revision"
  stop_daemon
  assert_eq "$DRC" 0 "exit code"
}

test_the_notify_protocol() {
  daemon_config "    hashcheck: {every: 1s}"
  python3 - "$T/notify.sock" "$T/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    while True:
        msg = s.recv(4096).decode()
        out.write(msg.replace("\n", " | ") + "\n")
        out.flush()
PY
  local listener=$! old
  wait_for 10 test -S "$T/notify.sock" || fail "no listener"
  # A member the daemon starts must not inherit NOTIFY_SOCKET (etcd would send READY=1).
  old=$(member_pid 1)
  kill -9 "$old"
  wait_for 10 bash -c "! kill -0 $old 2>/dev/null"
  NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=400000 start_daemon
  wait_for 30 grep -q "READY=1" "$T/notify.log" || fail "no READY=1: $(cat "$T/notify.log")"
  wait_for 10 grep -q "WATCHDOG=1" "$T/notify.log" || fail "no WATCHDOG=1"
  wait_for 20 grep -q "STATUS=.*hashcheck success" "$T/notify.log" || fail "no STATUS= with a job's result: $(tail -3 "$T/notify.log")"
  [ "$(member_pid 1)" != "$old" ] || fail "etcd1 was not started"
  ! tr '\0' '\n' <"/proc/$(member_pid 1)/environ" | grep -q '^NOTIFY_SOCKET=' || fail "etcd1 has NOTIFY_SOCKET"
  kill -HUP "$DPID"
  wait_for 10 grep -q "RELOADING=1 | MONOTONIC_USEC=" "$T/notify.log" || fail "no RELOADING=1"
  stop_daemon
  assert_eq "$DRC" 0 "exit code"
  grep -q "STOPPING=1" "$T/notify.log" || fail "no STOPPING=1"
  kill "$listener"
  cluster_healthy || fail "the cluster is not healthy after the test"
}

# Another regvault (a timer's one-shot command) holds the job's lock: the daemon's
# run is skipped, naming the holder.
test_a_run_whose_lock_another_regvault_holds_is_skipped_naming_it() {
  daemon_config
  start_daemon
  hold_job_lock "$T/state" hashcheck "regvault snapshot save" # tests/lib.sh
  trap 'release_job_lock; kill -9 $DPID 2>/dev/null' EXIT
  dv run hashcheck
  assert_rc 1
  assert_err_contains "the hashcheck run was skipped"
  assert_err_contains "regvault snapshot save"
  release_job_lock
  dv run hashcheck
  assert_ok
  assert_eq "$(runs hashcheck skipped)" 1 "skipped runs in the history"
  stop_daemon
  assert_eq "$DRC" 0 "exit code"
}

# The etcds of a drill's scratch cluster under $T/tmp (the daemon's TMPDIR).
scratch_etcds() {
  local pid
  for pid in $(pgrep -x etcd); do
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--data-dir=$T/tmp/regvault-drill-" && echo "$pid"
  done
  return 0
}
no_scratch_etcd() { [ -z "$(scratch_etcds)" ]; }
three_scratch_etcds() { [ "$(scratch_etcds | wc -l)" -eq 3 ]; }

# A daemon killed outright during a drill: its scratch members die with it, and the
# next daemon removes what the drill left.
test_a_daemon_killed_during_a_drill_leaves_no_scratch_member() {
  daemon_config "    drill: {every: 1h}"
  mkdir -p "$T/tmp" "$T/backups"
  dv snapshot save
  assert_ok
  TMPDIR=$T/tmp RV_TEST_PAUSE_AT=drill-started:60000 start_daemon "$RV_HOOKS_BIN"
  dv run drill --no-wait # unless the run missed at start is on already
  wait_for 60 three_scratch_etcds || fail "the drill's scratch cluster did not start: $(tail -5 "$T/daemon.log")"
  kill -9 "$DPID"
  wait "$DPID" 2>/dev/null
  wait_for 5 no_scratch_etcd || fail "scratch etcds outlived the daemon: $(scratch_etcds)"
  local left
  left=$(ls -d "$T/tmp/regvault-drill-"*) || fail "no leftover scratch directory"
  TMPDIR=$T/tmp start_daemon
  wait_for 10 log_has "removed the scratch cluster an interrupted drill left under $left" ||
    fail "the leftover was not removed: $(tail -5 "$T/daemon.log")"
  assert_no_file "$left"
  run_now drill -o json
  assert_ok
  assert_eq "$(json_get .result)" success "the next drill"
  stop_daemon
  assert_eq "$DRC" 0 "exit code"
  no_scratch_etcd || fail "a scratch etcd still runs"
  assert_eq "$(ls -A "$T/tmp")" "" "the scratch parent after the drill"
}

# One-shot commands (what the systemd timers run) write the same history, so
# `regvault jobs` lists them and the daemon counts a timer's success as the last one.
test_one_shot_runs_are_in_the_job_history() {
  daemon_config "    verify: {every: 1h}"
  mkdir -p "$T/backups"
  dv -o json snapshot save
  assert_ok
  local saved; saved=$(json_get .name)
  dv snapshot prune
  assert_ok
  dv snapshot verify latest
  assert_ok
  dv maint compact
  assert_ok
  dv -o json maint hashcheck
  assert_ok
  assert_eq "$(json_get .consistent)" true "hashcheck's own output"
  dv maint defrag --dry-run # a dry run is no run
  assert_ok
  dv jobs -o json --last 0
  assert_ok
  assert_eq "$(json_get '[.[].job] | join(",")')" "snapshot,snapshot,verify,compact,hashcheck" "the jobs recorded"
  assert_eq "$(json_get '[.[].result] | unique | join(",")')" success "their results"
  assert_eq "$(json_get '.[0].report.save.name')" "$saved" "the save's report"
  [ "$(json_get '.[1].report.prune')" != null ] || fail "the prune's report: $OUT"
  assert_eq "$(json_get '.[4].report.consistent')" true "the hashcheck's report"
  dv jobs
  assert_ok
  assert_out_contains "hashcheck"
  # A failed one-shot run, with its sentence.
  dv snapshot verify no-such-artifact
  assert_rc 1
  dv jobs --job verify -o json --last 1
  assert_eq "$(json_get '.[0].result')" failure "the failed verify"
  [ "$(json_get '.[0].error')" != null ] || fail "no error sentence: $OUT"
  # A timer's verify succeeded a moment ago: the daemon makes no missed run at start.
  dv snapshot verify latest
  assert_ok
  start_daemon
  sleep 2
  log_has "job verify: a run was missed" && fail "the one-shot verify was not counted"
  stop_daemon
  assert_eq "$DRC" 0 "exit code"
}

# SIGHUP with a new daemon.control_socket and daemon.metrics_listen: the new ones
# are bound, the old closed; one that cannot be bound keeps the old.
test_sighup_rebinds_the_control_socket_and_the_metrics_listener() {
  command -v curl >/dev/null || skip "no curl"
  local p1 p2 busy old_sock new_sock
  daemon_config "    snapshot: {every: 1h}"
  old_sock=$SOCK
  new_sock=$T_FILE_DIR/$(md5sum <<<"$T-2" | cut -c1-8).sock
  p1=$(free_port)
  sed -i "s|^  metrics_listen: .*|  metrics_listen: 127.0.0.1:$p1|" "$DCFG"
  start_daemon
  wait_for 20 curl -fsS "http://127.0.0.1:$p1/metrics" -o /dev/null || fail "no metrics on $p1"
  p2=$(free_port)
  sed -i -e "s|^  metrics_listen: .*|  metrics_listen: 127.0.0.1:$p2|" -e "s|^  control_socket: .*|  control_socket: $new_sock|" "$DCFG"
  kill -HUP "$DPID"
  wait_for 20 log_has "the control socket moved from $old_sock to $new_sock" || fail "no move logged: $(tail -3 "$T/daemon.log")"
  SOCK=$new_sock
  dv daemon status
  assert_ok
  assert_no_file "$old_sock"
  wait_for 10 curl -fsS "http://127.0.0.1:$p2/metrics" -o /dev/null || fail "no metrics on the new port $p2"
  ! curl -fsS "http://127.0.0.1:$p1/metrics" -o /dev/null 2>&1 || fail "the old metrics port $p1 still answers"
  # Taken already: the old ones stay, and the log says why.
  python3 -c "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', $p1)); s.listen(1); open('$T/busy.ready','w').close(); time.sleep(60)" &
  busy=$!
  wait_for 10 test -e "$T/busy.ready" || fail "the blocker did not start"
  local notasock=$T_FILE_DIR/$(md5sum <<<"$T-3" | cut -c1-8).d # short, as a socket's path must be
  mkdir -p "$notasock"
  sed -i -e "s|^  metrics_listen: .*|  metrics_listen: 127.0.0.1:$p1|" -e "s|^  control_socket: .*|  control_socket: $notasock|" "$DCFG"
  kill -HUP "$DPID"
  wait_for 20 log_has "the daemon keeps listening on $new_sock" || fail "the refused socket is not logged: $(tail -3 "$T/daemon.log")"
  wait_for 20 log_has "the daemon keeps its metrics on http://127.0.0.1:$p2" || fail "the refused port is not logged: $(tail -3 "$T/daemon.log")"
  kill "$busy" 2>/dev/null
  wait "$busy" 2>/dev/null
  sed -i "s|^  control_socket: .*|  control_socket: $new_sock|" "$DCFG" # for dv, without a reload
  dv daemon status
  assert_ok
  curl -fsS "http://127.0.0.1:$p2/metrics" -o /dev/null || fail "the kept metrics port $p2 no longer answers"
  # Empty: metrics off.
  sed -i -e "s|^  metrics_listen: .*|  metrics_listen: \"\"|" -e "s|^  control_socket: .*|  control_socket: $new_sock|" "$DCFG"
  kill -HUP "$DPID"
  wait_for 20 log_has "no more metrics on http://" || fail "metrics were not turned off"
  ! curl -fsS "http://127.0.0.1:$p2/metrics" -o /dev/null 2>&1 || fail "the metrics port $p2 still answers"
  stop_daemon
  assert_eq "$DRC" 0 "exit code"
  assert_no_file "$new_sock"
}

# A job that does not end when cancelled (3 s where nothing looks at the cancel) past
# daemon.stop_timeout: the daemon still exits 0 within it, and publishes nothing.
test_sigterm_exits_0_within_the_stop_timeout() {
  daemon_config "    snapshot: {every: 1h}" "  stop_timeout: 2s"
  mkdir -p "$T/backups"
  RV_TEST_PAUSE_AT=snapshot-streaming:8000 start_daemon "$RV_HOOKS_BIN"
  wait_for 30 bash -c "'$RV_BIN' --config '$DCFG' daemon status -o json | jq -e '.jobs[] | select(.job == \"snapshot\") | .state == \"running\"' >/dev/null" ||
    fail "the snapshot was never seen running"
  sleep 0.5
  local t0 t1
  t0=$(date +%s%N)
  kill -TERM "$DPID"
  wait "$DPID"
  DRC=$?
  t1=$(date +%s%N)
  assert_eq "$DRC" 0 "the daemon's exit code"
  [ $(((t1 - t0) / 1000000)) -lt 4000 ] || fail "the daemon took $(((t1 - t0) / 1000000)) ms to stop, over its 2 s stop_timeout"
  log_has "job snapshot still ran, cancelled, when daemon.stop_timeout ended" || fail "no log line: $(tail -5 "$T/daemon.log")"
  # Nothing published (a writer's hidden temporary file may stay; the next save
  # removes it, as it does a killed writer's).
  assert_eq "$(ls "$T/backups")" "" "the store after the stop"
  assert_no_file "$SOCK"
}

# timeout: a run over it is cancelled and recorded a failure that says so; cron: the
# next run is the next time the expression gives (here the next minute).
test_a_job_over_its_timeout_fails_and_a_cron_job_is_scheduled() {
  daemon_config "    snapshot: {every: 1h, timeout: 1s}" "    hashcheck: {cron: \"* * * * *\"}" \
    "    compact: {cron: \"@daily\"}"
  mkdir -p "$T/backups"
  RV_TEST_PAUSE_AT=snapshot-streaming:3000 start_daemon "$RV_HOOKS_BIN"
  wait_for 30 at_least snapshot failure 1 || fail "no failed snapshot: $(tail -5 "$T/daemon.log")"
  dv jobs --job snapshot -o json --last 1
  assert_eq "$(json_get '.[0].result')" failure "the result of a run over its timeout"
  [[ "$(json_get '.[0].error')" == "the run did not finish within its timeout of 1.0 s and was cancelled: "* ]] ||
    fail "the error does not say it timed out: $(json_get '.[0].error')"
  log_has "job snapshot: over its timeout; cancelling it" || fail "no timeout logged"
  assert_eq "$(ls "$T/backups" | grep -c tar)" 0 "artifacts of the cancelled run"
  # cron
  local now next a b
  dv daemon status -o json
  assert_ok
  next=$(json_get '.jobs[] | select(.job == "hashcheck") | .next_run')
  now=$(date +%s)
  a=$(date -u -d "@$(((now / 60 + 1) * 60))" +%Y-%m-%dT%H:%M:%SZ)
  b=$(date -u -d "@$(((now / 60) * 60))" +%Y-%m-%dT%H:%M:%SZ) # the status was asked a moment before a minute's turn
  [ "$next" == "$a" ] || [ "$next" == "$b" ] || fail "hashcheck's next run is $next, not the next minute $a"
  assert_eq "$(json_get '.jobs[] | select(.job == "hashcheck") | .schedule')" "* * * * *" "the cron schedule"
  next=$(json_get '.jobs[] | select(.job == "compact") | .next_run')
  assert_eq "$next" "$(date -u -d "$(date -d tomorrow +%Y-%m-%d) 00:00" +%Y-%m-%dT%H:%M:%SZ)" "@daily's next run (local midnight)"
  stop_daemon
  assert_eq "$DRC" 0 "exit code"
}
