# Metrics: --metrics-textfile of the one-shot commands against a real cluster (the
# file passes `promtool check metrics`, its values are what the command did, its
# counters count across runs), and the HTTP endpoint the daemon serves, driven by
# build/metrics-tool in a poll() loop (a silent client does not hold up the next).

# the sanitizer build of the tool beside the regvault under test, when that is the one tested
if [[ $RV_BIN == */asan/* ]]; then MT=$(dirname "$RV_BIN")/metrics-tool; else MT=$RV_ROOT/build/metrics-tool; fi

setup_file() {
  if [[ $MT == */asan/* ]]; then make -s -C "$RV_ROOT" SAN=1 build/asan/metrics-tool >/dev/null
  else make -s -C "$RV_ROOT" build/metrics-tool >/dev/null; fi
  start_cluster "$T_FILE_DIR/c" || return 1
  local i
  for i in $(seq 1 50); do ectl put "/m/$i" "value-$i" >/dev/null; done
  export_env CFG ENDPOINTS
}

need_promtool() { command -v promtool >/dev/null || skip "no promtool (Debian package prometheus)"; }

# promtool_ok FILE: the text lints clean: no output, exit 0.
promtool_ok() {
  local out rc
  out=$(promtool check metrics <"$1" 2>&1)
  rc=$?
  [ $rc -eq 0 ] && [ -z "$out" ] || fail "promtool check metrics on $1: exit $rc: $out"
}

# prom FILE SERIES: the value of one series, SERIES written exactly as in the file.
prom() { awk -v s="$1" 'substr($0, 1, length(s) + 1) == s " " {print $2}' "$2"; }
pv() { prom "$2" "$1"; } # pv FILE SERIES
# approx A B [TOLERANCE]: two numbers within TOLERANCE (0.001) of each other
approx() { awk -v a="$1" -v b="$2" -v t="${3:-0.001}" 'BEGIN {d = a - b; if (d < 0) d = -d; exit !(a != "" && b != "" && d <= t)}'; }

test_snapshot_save_textfile_matches_the_artifact() {
  need_promtool
  local f=$T/prom/snapshot.prom
  mkdir -p "$T/prom"
  rv --metrics-textfile "$f" -o json snapshot save
  assert_ok
  local name; name=$(json_get .name)
  promtool_ok "$f"
  assert_eq "$(stat -c %a "$f")" 644 "mode of the textfile"
  assert_eq "$(ls -A "$T/prom")" snapshot.prom "files beside it (no temporary left)"
  rv -o json snapshot list
  assert_ok
  local sel=".[] | select(.name == \"$name\")"
  assert_eq "$(pv "$f" regvault_snapshot_last_revision)" "$(json_get "$sel | .revision")" revision
  assert_eq "$(pv "$f" regvault_snapshot_last_size_bytes)" "$(json_get "$sel | .size")" "artifact size"
  assert_eq "$(pv "$f" regvault_snapshot_last_db_size_bytes)" "$(json_get "$sel | .db_size")" "db size"
  assert_eq "$(pv "$f" 'regvault_job_runs_total{job_name="snapshot",result="success"}')" 1 successes
  assert_eq "$(pv "$f" 'regvault_job_runs_total{job_name="snapshot",result="failure"}')" 0 failures
  assert_eq "$(pv "$f" 'regvault_job_runs_total{job_name="snapshot",result="cancelled"}')" 0 cancelled
  assert_eq "$(pv "$f" 'regvault_job_running{job_name="snapshot"}')" 0 running
  local started ended now; started=$(pv "$f" 'regvault_job_last_run_timestamp_seconds{job_name="snapshot"}')
  ended=$(pv "$f" 'regvault_job_last_success_timestamp_seconds{job_name="snapshot"}')
  now=$(date +%s)
  awk -v s="$started" -v e="$ended" -v n="$now" 'BEGIN {exit !(s > n - 120 && s <= e && e <= n + 1)}' ||
    fail "timestamps: started $started, ended $ended, now $now"
  approx "$(pv "$f" 'regvault_job_duration_seconds{job_name="snapshot"}')" "$(awk -v s="$started" -v e="$ended" 'BEGIN {print e - s}')" 0.002 ||
    fail "duration is not the end minus the start"
  # Only what the command touched: no other job, no daemon-only families.
  assert_eq "$(grep -v "^#" "$f" | grep -c "job_name=\"snapshot\"")" 8 "job series (4 gauges, 4 results)"
  ! grep -q 'regvault_build_info\|regvault_member_\|regvault_drill_\|regvault_job_next_run' "$f" || fail "families the command did not touch: $(cat "$f")"
  # A second save counts on; the revision is the new artifact's.
  ectl put /m/more x >/dev/null
  rv --metrics-textfile "$f" -o json snapshot save
  assert_ok
  promtool_ok "$f"
  assert_eq "$(pv "$f" 'regvault_job_runs_total{job_name="snapshot",result="success"}')" 2 "successes after two saves"
  assert_eq "$(pv "$f" regvault_snapshot_last_revision)" "$(json_get .revision)" "revision of the second save"
}

test_a_failure_counts_and_keeps_the_last_success() {
  need_promtool
  local f=$T/verify.prom
  rv --metrics-textfile "$f" snapshot verify latest
  assert_ok
  local ok_at; ok_at=$(pv "$f" 'regvault_job_last_success_timestamp_seconds{job_name="verify"}')
  [ "$ok_at" != 0 ] || fail "no last success after a good verify"
  rv --metrics-textfile "$f" snapshot verify no-such-artifact
  assert_rc 1
  promtool_ok "$f"
  assert_eq "$(pv "$f" 'regvault_job_runs_total{job_name="verify",result="success"}')" 1 successes
  assert_eq "$(pv "$f" 'regvault_job_runs_total{job_name="verify",result="failure"}')" 1 failures
  assert_eq "$(pv "$f" 'regvault_job_last_success_timestamp_seconds{job_name="verify"}')" "$ok_at" "last success after a failure"
  # A configuration error is a failed run too, and keeps its exit code.
  echo "nonsense: [" >"$T/bad.yaml"
  run "$RV_BIN" --config "$T/bad.yaml" --metrics-textfile "$f" snapshot verify latest
  assert_rc 2
  assert_eq "$(pv "$f" 'regvault_job_runs_total{job_name="verify",result="failure"}')" 2 "failures after a bad configuration"
}

test_prune_counts_the_artifacts_it_keeps() {
  need_promtool
  local s=$T/store f=$T/prune.prom
  rv snapshot save --store "$s"
  assert_ok
  rv snapshot save --store "$s"
  assert_ok
  rv snapshot save --store "$s"
  assert_ok
  cp "$CFG" "$T/cfg.yaml"
  sed -i "s#^store:#snapshot:\n  retention:\n    keep_last: 2\nstore:#" "$T/cfg.yaml"
  run "$RV_BIN" --config "$T/cfg.yaml" --no-progress --metrics-textfile "$f" snapshot prune --dry-run --store "$s"
  assert_ok
  assert_eq "$(pv "$f" regvault_store_artifacts)" 3 "artifacts after a dry run"
  run "$RV_BIN" --config "$T/cfg.yaml" --no-progress --metrics-textfile "$f" snapshot prune --store "$s"
  assert_ok
  promtool_ok "$f"
  rv -o json snapshot list --store "$s"
  assert_eq "$(pv "$f" regvault_store_artifacts)" "$(json_get length)" "artifacts after pruning"
  assert_eq "$(pv "$f" regvault_store_artifacts)" 2
  assert_eq "$(pv "$f" 'regvault_job_runs_total{job_name="prune",result="success"}')" 2 successes
}

test_maint_commands_write_their_job_and_results() {
  need_promtool
  local d=$T/prom
  mkdir -p "$d" "$T/disk"
  rv --metrics-textfile "$d/compact.prom" maint compact --keep-revisions 5
  assert_ok
  rv --metrics-textfile "$d/defrag.prom" maint defrag --rule true
  assert_ok
  rv --metrics-textfile "$d/hashcheck.prom" -o json maint hashcheck
  assert_ok
  assert_eq "$(json_get .consistent)" true
  rv --metrics-textfile "$d/diskcheck.prom" -o json maint diskcheck --dir "$T/disk" --size 200KiB --threshold 10s
  assert_ok
  local p99_us; p99_us=$(json_get .p99_us)
  local job
  for job in compact defrag hashcheck diskcheck; do
    promtool_ok "$d/$job.prom"
    assert_eq "$(pv "$d/$job.prom" "regvault_job_runs_total{job_name=\"$job\",result=\"success\"}")" 1 "$job successes"
  done
  assert_eq "$(pv "$d/hashcheck.prom" regvault_hashcheck_consistent)" 1 consistent
  approx "$(pv "$d/diskcheck.prom" "regvault_diskcheck_fdatasync_p99_seconds{dir=\"$T/disk\"}")" \
    "$(awk -v u="$p99_us" 'BEGIN {print u / 1e6}')" 0.000002 || fail "p99 is not the command's ($p99_us us): $(cat "$d/diskcheck.prom")"
  # Every file names its own job only, so node_exporter can read them side by side.
  cat "$d"/*.prom >"$T/all.prom"
  assert_eq "$(grep -c '^regvault_build_info' "$T/all.prom")" 0 "build_info in textfiles"
  assert_eq "$(grep -v '^#' "$T/all.prom" | sort | uniq -d | wc -l)" 0 "series repeated across the files"
}

test_an_interrupted_run_counts_as_cancelled() {
  local f=$T/disk.prom
  mkdir -p "$T/disk"
  "$RV_BIN" --metrics-textfile "$f" maint diskcheck --dir "$T/disk" --size 4GiB --threshold 10s >"$T/out" 2>&1 &
  local pid=$!
  sleep 1
  kill -INT $pid
  wait $pid
  local rc=$?
  [ $rc -ne 0 ] || fail "an interrupted diskcheck exited 0"
  assert_eq "$(pv "$f" 'regvault_job_runs_total{job_name="diskcheck",result="cancelled"}')" 1 cancelled
  assert_eq "$(pv "$f" 'regvault_job_runs_total{job_name="diskcheck",result="failure"}')" 0 failures
  assert_eq "$(pv "$f" 'regvault_job_running{job_name="diskcheck"}')" 0 running
}

test_drill_writes_its_result() {
  need_promtool
  local f=$T/drill.prom
  rv snapshot save
  assert_ok
  mkdir -p "$T/tmp"
  TMPDIR=$T/tmp rv --metrics-textfile "$f" -o json drill
  assert_ok
  promtool_ok "$f"
  assert_eq "$(pv "$f" regvault_drill_last_result)" 1 "result of a passed drill"
  approx "$(pv "$f" regvault_drill_recovery_time_seconds)" "$(json_get .recovery_time_s)" 0.001 ||
    fail "recovery time is not the drill's $(json_get .recovery_time_s)"
  approx "$(pv "$f" regvault_drill_recovery_point_seconds)" "$(json_get .recovery_point_s)" 0.001 ||
    fail "recovery point is not the drill's $(json_get .recovery_point_s)"
  assert_eq "$(pv "$f" 'regvault_job_runs_total{job_name="drill",result="success"}')" 1 successes
}

test_textfile_usage_and_write_errors() {
  rv --metrics-textfile "$T/x.prom" cluster status
  assert_rc 2
  assert_err_contains "--metrics-textfile applies to snapshot save"
  assert_no_file "$T/x.prom"
  rv --metrics-textfile
  assert_rc 2
  rv --metrics-textfile "$T/x.prom" snapshot save --help
  assert_ok
  assert_no_file "$T/x.prom"
  # The work is done; the file cannot be written: exit 1, naming it.
  rv --metrics-textfile "$T/no/such/dir/x.prom" snapshot verify latest
  assert_rc 1
  assert_err_contains "$T/no/such/dir/x.prom"
}

# start_tool ARGS...: build/metrics-tool in the background; sets TOOL_PID and PORT.
start_tool() {
  "$MT" "$@" >"$T/tool.out" 2>"$T/tool.err" &
  TOOL_PID=$!
  local i
  for i in $(seq 1 50); do
    PORT=$(awk '/^listening/ {print $2}' "$T/tool.out")
    [ -n "$PORT" ] && return 0
    kill -0 $TOOL_PID 2>/dev/null || fail "metrics-tool exited: $(cat "$T/tool.err")"
    sleep 0.1
  done
  fail "metrics-tool did not listen"
}

test_http_endpoint_answers_and_a_silent_client_does_not_block_it() {
  need_promtool
  start_tool 127.0.0.1:0
  local url=http://127.0.0.1:$PORT
  run curl -s -m 5 -D "$T/head" -o "$T/scrape.prom" "$url/metrics"
  assert_ok
  grep -qi '^HTTP/1.1 200' "$T/head" || fail "status: $(head -1 "$T/head")"
  grep -qi '^Content-Type: text/plain; version=0.0.4' "$T/head" || fail "content type: $(cat "$T/head")"
  promtool_ok "$T/scrape.prom"
  assert_eq "$(pv "$T/scrape.prom" "regvault_build_info{version=\"$("$RV_BIN" --version | cut -d' ' -f2)\"}")" 1 build_info
  assert_eq "$(pv "$T/scrape.prom" 'regvault_job_runs_total{job_name="snapshot",result="skipped"}')" 0 "a result never seen"
  assert_eq "$(pv "$T/scrape.prom" 'regvault_member_up{member="etcd1"}')" NaN "a member never asked"
  grep -qF 'regvault_diskcheck_fdatasync_p99_seconds{dir="/var/lib/\"etcd\"\\data\n2"} NaN' "$T/scrape.prom" ||
    fail "dir label not escaped: $(grep diskcheck "$T/scrape.prom")"
  run curl -s -m 5 "$url/healthz"
  assert_ok
  assert_eq "$OUT" ok healthz
  assert_eq "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$url/nope")" 404 "unknown path"
  assert_eq "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST "$url/metrics")" 405 "POST"
  assert_eq "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -I "$url/metrics")" 200 "HEAD"
  assert_eq "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$url/metrics?x=1")" 200 "with a query"
  assert_eq "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 6000 /dev/zero | tr '\0' a)" "$url/metrics")" \
    431 "a request over the limit"
  # A client that connects and never sends: dropped after a second, and the next
  # request, queued behind it, is answered.
  exec 3<>"/dev/tcp/127.0.0.1/$PORT"
  sleep 0.2
  local t0=$SECONDS
  run curl -s -m 5 "$url/healthz"
  assert_ok
  assert_eq "$OUT" ok "healthz behind a silent client"
  [ $((SECONDS - t0)) -le 3 ] || fail "the request behind a silent client took $((SECONDS - t0)) s"
  exec 3>&-
  awk '/^served/ {if ($2 > 1500) bad = 1} END {exit bad}' "$T/tool.out" || fail "one exchange took over 1.5 s: $(cat "$T/tool.out")"
  grep -q '^served 9[0-9][0-9]$\|^served 1[0-4][0-9][0-9]$' "$T/tool.out" || fail "the silent client was not held for its second: $(cat "$T/tool.out")"
  kill $TOOL_PID
  wait $TOOL_PID 2>/dev/null
  # An unhealthy daemon says so.
  start_tool 127.0.0.1:0 --unhealthy
  assert_eq "$(curl -s -m 5 -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")" 503 "healthz when unhealthy"
  kill $TOOL_PID
  wait $TOOL_PID 2>/dev/null
  return 0
}

test_http_listen_addresses_and_errors() {
  start_tool :0
  assert_eq "$(curl -s -m 5 "http://127.0.0.1:$PORT/healthz")" ok "IPv4 on :PORT"
  if ip -6 addr show lo 2>/dev/null | grep -q '::1'; then
    assert_eq "$(curl -s -m 5 "http://[::1]:$PORT/healthz")" ok "IPv6 on :PORT"
  fi
  # The port taken: one sentence naming it.
  run "$MT" "127.0.0.1:$PORT" --max 0
  assert_rc 2
  assert_err_contains "cannot serve metrics on 127.0.0.1:$PORT: the port is in use"
  kill $TOOL_PID
  wait $TOOL_PID 2>/dev/null
  run "$MT" "localhost" --max 0
  assert_rc 2
  assert_err_contains "the metrics listen address 'localhost' is not valid"
  if ip -6 addr show lo 2>/dev/null | grep -q '::1'; then
    start_tool "[::1]:0"
    assert_eq "$(curl -s -m 5 "http://[::1]:$PORT/healthz")" ok "on [::1]"
    kill $TOOL_PID
    wait $TOOL_PID 2>/dev/null
  fi
  return 0
}
