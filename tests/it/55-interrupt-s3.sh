# SIGINT and SIGTERM while bytes move to or from S3 (a real Ceph RGW, slowed by
# tests/tools/faultproxy.py), while S3 does not answer at all, and while the member
# streaming a snapshot has stopped sending: the command ends within seconds, says it
# was interrupted, exits 1, and leaves nothing behind: no object, no unfinished
# multipart upload, no staging, the cluster as it was.

setup_file() {
  start_rgw
  start_fault_proxy
  start_cluster "$T_FILE_DIR/c"
  # about 18 MB of values that do not compress well: artifacts of several 8 MiB
  # parts, and a stream longer than what the transport buffers
  head -c 13500000 /dev/urandom | base64 -w 100000 >"$T_FILE_DIR/values"
  i=0
  while read -r v; do ectl put "k$i" "$v" >/dev/null; i=$((i + 1)); done <"$T_FILE_DIR/values"
  ectl put hello world >/dev/null
  printf '%s\n' "$S3_SECRET_KEY" >"$T_FILE_DIR/secret"
  chmod 600 "$T_FILE_DIR/secret"
  BASE_CFG=$CFG
  export_env CFG ENDPOINTS BASE_CFG
  need_test_hooks # RV_TEST_SIGSTOP_AT
}

teardown_file() {
  stop_fault_proxy
  stop_rgw
}

# s3cfg PREFIX [ENDPOINT [TIMEOUT_S]]: CFG becomes a copy of the cluster's config
# with store.url s3://bucket/PREFIX
s3cfg() {
  local prefix=$1 ep=${2:-$S3_ENDPOINT} to=${3:-300}
  CFG=$T/regvault.yaml
  sed "s|^  url: .*|  url: s3://$S3_BUCKET/$prefix\n  s3:\n    endpoint: $ep\n    access_key_id: $S3_ACCESS_KEY\n    secret_access_key_file: $T_FILE_DIR/secret\n    timeout_s: $to|" \
    "$BASE_CFG" >"$CFG"
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL
}
awss3() {
  AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY AWS_DEFAULT_REGION=$S3_REGION \
    aws --endpoint-url "$S3_ENDPOINT" "$@"
}
uploads() {
  awss3 s3api list-multipart-uploads --bucket "$S3_BUCKET" --prefix "$1" --output json | jq -r '.Uploads // [] | .[].Key'
}
objects() {
  awss3 s3api list-objects-v2 --bucket "$S3_BUCKET" --prefix "$1" --output json | jq -r '.Contents // [] | .[].Key'
}
plan() { printf '%s\n' "$@" >"$PROXY_DIR/plan"; : >"$PROXY_DIR/log"; }
proxied() { grep -q -- "$1" "$PROXY_DIR/log"; }

# start_bg ARGS...: regvault (the hooks build) in the background, stdout and
# stderr in $T/out and $T/err; BG is its pid.
start_bg() {
  "$RV_HOOKS_BIN" --config "$CFG" --no-progress "$@" >"$T/out" 2>"$T/err" &
  BG=$!
}
# wait_a_minute_for CMD...: until CMD succeeds (at most 60 s)
wait_a_minute_for() {
  local i
  for i in $(seq 1 600); do "$@" && return 0; sleep 0.1; done
  return 1
}
# stop_bg SIG: send SIG to the background regvault and wait for it to end, at
# most 10 s (a generous bound: it is meant to end within about a second);
# sets RC and ERR.
stop_bg() {
  local i
  kill -0 "$BG" 2>/dev/null || { wait "$BG"; fail "regvault ended (exit $?) before SIG$1 was sent: $(cat "$T/err")"; }
  kill -"$1" "$BG"
  for i in $(seq 1 100); do
    kill -0 "$BG" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$BG" 2>/dev/null; then
    kill -9 "$BG"
    wait "$BG"
    fail "regvault still ran 10 s after SIG$1: $(cat "$T/err")"
  fi
  wait "$BG"
  RC=$?
  ERR=$(cat "$T/err")
  echo "stderr after SIG$1: $ERR"
}

# Part 1 is held at the proxy, so the save is still uploading when the signal
# comes; everything uploaded is removed with the multipart upload.
interrupt_upload() { # interrupt_upload SIG PREFIX
  s3cfg "$2" "$PROXY"
  plan "delay PUT partNumber=1& 60"
  mkdir -p "$T/tmp"
  TMPDIR=$T/tmp start_bg snapshot save
  wait_a_minute_for proxied "partNumber=1&" || fail "part 1 was never sent"
  sleep 1
  stop_bg "$1"
  plan
  assert_rc 1
  assert_err_contains "was interrupted; nothing was published"
  [ "$(grep -c . <<<"$ERR")" -eq 1 ] || fail "more than one line on stderr: $ERR"
  assert_eq "$(objects "$2/")" "" "objects"
  assert_eq "$(uploads "$2/")" "" "unfinished uploads"
  assert_eq "$(ls -A "$T/tmp")" "" "local files left"
  rv snapshot list
  assert_ok
  assert_out_contains "no snapshots in"
  rv snapshot save
  assert_ok
}

test_sigint_during_an_upload_leaves_nothing_in_s3() {
  interrupt_upload INT up-int
}

test_sigterm_during_an_upload_leaves_nothing_in_s3() {
  interrupt_upload TERM up-term
}

# A server that accepts connections and never answers: requests wait (timeout_s
# is 300 s here), and the signal ends the wait.
test_sigint_while_s3_does_not_answer() {
  python3 - "$T/hang.port" <<'PY' &
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
open(sys.argv[1] + ".tmp", "w").write("%d\n" % s.getsockname()[1])
__import__("os").replace(sys.argv[1] + ".tmp", sys.argv[1])
held = []
while True:
    held.append(s.accept()[0])
PY
  local hang=$!
  wait_a_minute_for test -s "$T/hang.port" || fail "the silent server did not start"
  s3cfg silent "http://127.0.0.1:$(cat "$T/hang.port")"
  start_bg snapshot save
  sleep 3
  stop_bg INT
  kill "$hang"
  assert_rc 1
  assert_err_contains "interrupted"
  assert_err_contains "nothing was published"
}

# Nothing listens: every request fails at once and is retried after a back-off;
# the signal ends the back-off.
test_sigint_while_retrying_an_unreachable_s3() {
  s3cfg down "http://127.0.0.1:$(free_port)" 5
  start_bg snapshot save
  sleep 3
  stop_bg INT
  assert_rc 1
  assert_err_contains "interrupted"
  assert_err_contains "nothing was published"
  rv snapshot list
  assert_rc 1
  assert_err_contains "unreachable"
}

# The source member is stopped (SIGSTOP) once its stream has begun: no byte comes,
# no error either, and the signal still ends the save.
test_sigint_while_the_member_stopped_sending() {
  local pid store before
  CFG=$T/regvault.yaml
  cp "$BASE_CFG" "$CFG"
  printf 'snapshot:\n  source: etcd1\n' >>"$CFG"
  pid=$(cat "$(dirname "$BASE_CFG")/etcd1.pid")
  store=$(dirname "$BASE_CFG")/backups
  mkdir -p "$store"
  before=$(ls -A "$store")
  trap 'kill -CONT $pid' EXIT # whatever happens, the member goes on after the test
  RV_TEST_SIGSTOP_AT=snapshot-streaming:$pid start_bg snapshot save --tag stalled
  wait_a_minute_for grep -q '^[0-9]* ([^)]*) T' "/proc/$pid/stat" || fail "etcd1 was never stopped"
  sleep 2
  stop_bg INT
  kill -CONT "$pid"
  assert_rc 1
  assert_err_contains "snapshot save from member etcd1 was interrupted; nothing was published"
  [ "$(grep -c . <<<"$ERR")" -eq 1 ] || fail "more than one line on stderr: $ERR"
  assert_eq "$(ls -A "$store")" "$before" "the store's files after the interrupted save"
  # Stopped past its election timeout, etcd1 has no leader for a moment after it goes on
  # (the next test's save would find no quorum at all): wait until every member answers.
  wait_a_minute_for ectl endpoint health >/dev/null 2>&1 || fail "the cluster was not healthy again after etcd1 went on"
  rv snapshot save --tag after-stall
  assert_ok
}

# The restore is reading its artifact from S3 (held at the proxy) when the signal
# comes: nothing is stopped, the staging is removed.
test_sigint_during_a_restore_fetch_changes_nothing() {
  local dir pids
  dir=$(dirname "$BASE_CFG")
  s3cfg restore "$PROXY"
  plan
  rv snapshot save --tag to-restore
  assert_ok
  ectl put /live yes >/dev/null
  pids=$(cat "$dir"/etcd*.pid)
  plan "delay GET .tar.zst 60 x*"
  start_bg restore --from latest --yes --force
  wait_a_minute_for proxied "GET .*tar.zst" || fail "the artifact was never read"
  sleep 1
  stop_bg INT
  plan
  assert_rc 1
  assert_err_contains "the restore was interrupted during the fetch; nothing was stopped or changed"
  assert_eq "$(cat "$dir"/etcd*.pid)" "$pids" "member pids"
  assert_no_file "$dir/.regvault-restore-staging"
  assert_no_file "$dir/state/restore-journal.json"
  [ -z "$(ls -d "$dir"/etcd1.before-restore-* 2>/dev/null)" ] || fail "a data dir was moved aside"
  assert_eq "$(ectl get /live --print-value-only)" yes "the live data"
}

# The drill's fetch, the same way: no report, no scratch cluster left.
test_sigint_during_a_drill_fetch_leaves_no_report() {
  local drills reports
  drills=$(dirname "$BASE_CFG")/state/drills
  s3cfg drill "$PROXY"
  plan
  rv snapshot save --tag to-drill
  assert_ok
  reports=$(ls -A "$drills" 2>/dev/null | wc -l)
  mkdir -p "$T/tmp"
  plan "delay GET .tar.zst 60 x*"
  TMPDIR=$T/tmp start_bg drill --from latest
  wait_a_minute_for proxied "GET .*tar.zst" || fail "the artifact was never read"
  sleep 1
  stop_bg INT
  plan
  assert_rc 1
  assert_err_contains "the drill was interrupted during the fetch"
  assert_eq "$(ls -A "$drills" 2>/dev/null | wc -l)" "$reports" "drill reports"
  assert_eq "$(ls -A "$T/tmp")" "" "scratch left"
}
