# lib.sh - what integration tests share: running regvault, assertions, and fixtures
# (a configuration for three members on free loopback ports). Sourced by harness.sh.
#
# In a test (each test_* runs in its own subshell with $T its scratch directory):
#   rv ARGS...            run regvault with $CFG; sets RC, OUT (stdout), ERR (stderr)
#   run CMD...            the same for any command
#   assert_rc N           assert_ok (= assert_rc 0)
#   assert_out_contains S / assert_err_contains S / assert_out_not_contains S
#   assert_eq GOT WANT [WHAT]   assert_file F / assert_no_file F
#   json_get EXPR         jq -r EXPR on $OUT
#   skip WHY              mark the test skipped (exit 77)

RV_ROOT=${RV_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
RV_BIN=${RV_BIN:-$RV_ROOT/build/regvault}
T_FILE_DIR=$RV_ROOT/build/test-tmp/${TEST_FILE_NAME:-adhoc}
rm -rf "$T_FILE_DIR"
mkdir -p "$T_FILE_DIR"
export ETCDCTL_API=3

fail() { echo "ASSERT $*"; exit 1; }
skip() { echo "$*"; exit 77; }

run() {
  "$@" >"$T_FILE_DIR/.out" 2>"$T_FILE_DIR/.err"
  RC=$?
  OUT=$(cat "$T_FILE_DIR/.out")
  ERR=$(cat "$T_FILE_DIR/.err")
  { echo "\$ $*"; echo "$OUT" | head -50; echo "$ERR" | head -30 | sed 's/^/stderr: /'; echo "exit $RC"; } >&2
  return 0
}

rv() { run "$RV_BIN" --config "$CFG" --no-progress "$@"; }

# The test hooks (RV_TEST_CRASH_AT, RV_TEST_SIGNAL_AT, RV_TEST_SIGSTOP_AT, RV_TEST_PAUSE_AT, REGVAULT_S3_MAX_ATTEMPTS,
# REGVAULT_S3_CLEANUP_AGE_S) are compiled into the test builds only (-DRV_TEST_HOOKS:
# make SAN=1, TSAN=1 or HOOKS=1). A test file that sets them calls need_test_hooks in
# its setup_file, then runs regvault with rv_hooked: RV_BIN when it has the hooks (the
# sanitizer builds do), else build/hooks/regvault, built then.
has_test_hooks() { grep -qa RV_TEST_CRASH_AT "$1"; }
need_test_hooks() {
  RV_HOOKS_BIN=$RV_BIN
  if ! has_test_hooks "$RV_BIN"; then
    make -s -C "$RV_ROOT" HOOKS=1 all >/dev/null
    RV_HOOKS_BIN=$RV_ROOT/build/hooks/regvault
  fi
  export_env RV_HOOKS_BIN
}
rv_hooked() { run "${RV_HOOKS_BIN:?need_test_hooks was not called}" --config "$CFG" --no-progress "$@"; }

assert_rc() { [ "$RC" -eq "$1" ] || fail "exit code $RC, expected $1 (stderr: ${ERR:0:300})"; }
assert_ok() { assert_rc 0; }
assert_out_contains() { [[ $OUT == *"$1"* ]] || fail "stdout does not contain '$1': ${OUT:0:300}"; }
assert_out_not_contains() { [[ $OUT != *"$1"* ]] || fail "stdout contains '$1': ${OUT:0:300}"; }
assert_err_contains() { [[ $ERR == *"$1"* ]] || fail "stderr does not contain '$1': ${ERR:0:300}"; }
assert_eq() { [ "$1" == "$2" ] || fail "${3:-value} is '$1', expected '$2'"; }
assert_file() { [ -e "$1" ] || fail "$1 does not exist"; }
assert_no_file() { [ ! -e "$1" ] || fail "$1 exists"; }
json_get() { jq -r "$1" <<<"$OUT"; }

# A TCP port on 127.0.0.1 that nothing uses, chosen at random below the kernel's
# range for outgoing connections (which would otherwise take "free" ports from
# under us), and never the same twice in one test file (recorded in a file, since
# this runs in $(...) subshells). Files run side by side take ports of their own
# slot only (RV_TEST_SLOT of RV_TEST_SLOTS, from tests/run).
free_port() {
  local p low
  low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  touch "$T_FILE_DIR/.ports"
  while :; do
    p=$((10000 + RANDOM % (low - 10000)))
    # files running side by side (tests/run) each keep to their slot's ports
    [ "${RV_TEST_SLOTS:-1}" -gt 1 ] && [ $((p % RV_TEST_SLOTS)) -ne "${RV_TEST_SLOT:-0}" ] && continue
    grep -qx "$p" "$T_FILE_DIR/.ports" && continue
    [ -n "$(ss -Htan "sport = :$p" 2>/dev/null)" ] && continue
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
    echo "$p" >>"$T_FILE_DIR/.ports"
    echo "$p"
    return
  done
}

# write_cluster_config DIR [NAME]: a configuration for three members on free
# loopback ports, data dirs under DIR, a local store in DIR/backups. Sets and exports
# CFG and ENDPOINTS (comma-separated client URLs). Extra YAML may be appended to $CFG.
write_cluster_config() {
  local dir=$1 name=${2:-registry} i cp pp
  mkdir -p "$dir"
  CFG=$dir/regvault.yaml
  ENDPOINTS=
  {
    echo "cluster:"
    echo "  name: $name"
    echo "  token: $name-test-$$"
    echo "  members:"
    for i in 1 2 3; do
      cp=$(free_port); pp=$(free_port)
      echo "    - name: etcd$i"
      echo "      client_url: http://127.0.0.1:$cp"
      echo "      peer_url: http://127.0.0.1:$pp"
      echo "      data_dir: $dir/etcd$i"
      ENDPOINTS="${ENDPOINTS:+$ENDPOINTS,}http://127.0.0.1:$cp"
    done
    echo "  etcd:"
    echo "    heartbeat_interval_ms: 100"
    echo "    election_timeout_ms: 1000"
    echo "store:"
    echo "  url: $dir/backups"
    echo "state_dir: $dir/state"
  } >"$CFG"
  export CFG ENDPOINTS
}

# Save variables from setup_file for the tests: export_env NAME...
export_env() {
  local v
  for v in "$@"; do printf 'export %s=%q\n' "$v" "${!v}" >>"$T_FILE_DIR/env"; done
}

# start_cluster DIR [SED_EXPR]: a configuration (edited by SED_EXPR when given) and
# `regvault cluster up`. A port chosen free can still be taken before etcd binds it,
# so a failed start is tried again on fresh ports (the failed attempt's directory is
# moved aside, not deleted, for the log).
start_cluster() {
  local dir=$1 expr=${2:-} attempt
  for attempt in 1 2 3; do
    write_cluster_config "$dir"
    if [ -n "$expr" ]; then sed -i "$expr" "$CFG"; fi
    echo "$CFG" >>"$T_FILE_DIR/.clusters"
    "$RV_BIN" --config "$CFG" --no-progress cluster up && return 0
    "$RV_BIN" --config "$CFG" cluster down >/dev/null 2>&1
    mv "$dir" "$dir.failed-$attempt"
  done
  echo "cluster up failed 3 times"
  return 1
}

# hold_job_lock STATE_DIR JOB [HOLDER]: hold a job's lock alone, as the daemon does
# (flock(1) on STATE_DIR/locks/JOB.lock), with the record regvault writes naming
# HOLDER (none when HOLDER is ""). Sets HELD_BY (the holder's pid); release_job_lock
# ends it.
hold_job_lock() {
  local lock=$1/locks/$2.lock who=${3-regvault daemon} i
  mkdir -p "$1/locks"
  : >"$lock"
  flock -o "$lock" sleep 300 &
  HELD_BY=$!
  trap release_job_lock EXIT # a failed assertion ends the test's subshell
  for i in $(seq 1 100); do flock -n "$lock" true 2>/dev/null || break; sleep 0.05; done
  [ -n "$who" ] && printf '%-255s\n' "$HELD_BY $(date +%s) $who" >"$lock"
  return 0
}
release_job_lock() {
  local c
  for c in $(pgrep -P "$HELD_BY"); do kill "$c"; done
  wait "$HELD_BY" 2>/dev/null
  return 0
}

# wait_for SECONDS CMD...: until CMD succeeds (every 0.1 s), at most SECONDS
wait_for() {
  local n=$(($1 * 10))
  shift
  while [ "$n" -gt 0 ]; do
    "$@" && return 0
    sleep 0.1
    n=$((n - 1))
  done
  return 1
}

ectl() { etcdctl --endpoints="$ENDPOINTS" --dial-timeout=3s --command-timeout=10s "$@"; }
# ectl_bg ARGS... >FILE: etcdctl in the background, its own pid in BG_PID (`ectl ... &`
# would put a subshell there, and killing that leaves etcdctl running past the test)
ectl_bg() { etcdctl --endpoints="$ENDPOINTS" --dial-timeout=3s --command-timeout=10s "$@" & BG_PID=$!; }

# Called when a test file ends: stop every cluster it started, kill stray etcds
# whose data dirs live under this file's scratch directory.
rv_kill_leftovers() {
  local c pid
  if [ -f "$T_FILE_DIR/.clusters" ]; then
    while read -r c; do "$RV_BIN" --config "$c" cluster down >/dev/null 2>&1 || true; done <"$T_FILE_DIR/.clusters"
  fi
  # etcd, and an RGW or fault proxy a failed setup could not hand to teardown_file
  for pid in $(pgrep -x etcd 2>/dev/null) $(pgrep -x radosgw 2>/dev/null) $(pgrep -x ceph-osd 2>/dev/null) \
    $(pgrep -x ceph-mon 2>/dev/null) $(pgrep -f faultproxy.py 2>/dev/null); do
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$T_FILE_DIR/" && kill -9 "$pid" 2>/dev/null
  done
  return 0
}

# ---- S3 (Ceph RGW) fixtures ----

# start_rgw (in setup_file): a real S3 server for this test file on free ports, its
# data under $T_FILE_DIR/rgw. Sets and saves for the tests RGW_DIR, S3_ENDPOINT,
# S3_ACCESS_KEY, S3_SECRET_KEY, S3_BUCKET, S3_REGION. stop_rgw in teardown_file.
start_rgw() {
  local osd
  RGW_DIR=$T_FILE_DIR/rgw
  osd=$(free_port)
  seq "$osd" $((osd + 30)) >>"$T_FILE_DIR/.ports" # the OSD binds in this range: keep it for itself
  RGW_PORT=$(free_port) RGW_MON_PORT=$(free_port) RGW_OSD_PORT_MIN=$osd RGW_OSD_PORT_MAX=$((osd + 30)) \
    bash "$RV_ROOT/tests/s3-rgw/start-rgw.sh" "$RGW_DIR" >/dev/null
  # shellcheck disable=SC1091
  source "$RGW_DIR/s3.env"
  export_env RGW_DIR S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY S3_BUCKET S3_REGION
}

stop_rgw() {
  [ -n "${RGW_DIR:-}" ] && [ -d "$RGW_DIR" ] && bash "$RV_ROOT/tests/s3-rgw/stop-rgw.sh" "$RGW_DIR" --purge
  return 0
}

# start_fault_proxy (after start_rgw): tests/tools/faultproxy.py in front of the S3
# server. Sets and saves PROXY (its URL) and PROXY_DIR (its plan and log).
start_fault_proxy() {
  PROXY_DIR=$T_FILE_DIR/proxy
  mkdir -p "$PROXY_DIR"
  python3 "$RV_ROOT/tests/tools/faultproxy.py" "$PROXY_DIR/port" "${S3_ENDPOINT##*:}" "$PROXY_DIR/plan" \
    "$PROXY_DIR/log" >"$PROXY_DIR/out" 2>&1 &
  echo $! >"$PROXY_DIR/pid"
  for _ in $(seq 1 50); do [ -s "$PROXY_DIR/port" ] && break; sleep 0.1; done
  PROXY=http://127.0.0.1:$(cat "$PROXY_DIR/port")
  export_env PROXY_DIR PROXY
}

# most_at_once REGEX: the most requests matching REGEX that overlapped at the
# proxy by more than 0.1 s (a request that ends as the next begins is not two)
most_at_once() {
  python3 - "$1" "$PROXY_DIR/log.times" <<'PY'
import re, sys
ev = []
for line in open(sys.argv[2]):
    what, start, end = line.rsplit(" ", 2)
    if re.search(sys.argv[1], what) and float(end) - float(start) > 0.1:
        ev += [(float(start), 1), (float(end) - 0.1, -1)]
most = cur = 0
for _, d in sorted(ev):
    cur += d
    most = max(most, cur)
print(most)
PY
}
stop_fault_proxy() {
  [ -f "${PROXY_DIR:-/nonexistent}/pid" ] && kill "$(cat "$PROXY_DIR/pid")" 2>/dev/null
  return 0
}
