# `regvault member exec NAME`, what regvault-etcd@.service runs: it becomes the
# member's etcd (same pid) with exactly the command line `cluster up` starts it with,
# and that etcd is a working member that tells systemd READY=1 through NOTIFY_SOCKET
# once it is in a quorum.

setup_file() {
  start_cluster "$T_FILE_DIR/c"
  export_env CFG ENDPOINTS
}

cmdline_of() { tr '\0' '\n' <"/proc/$1/cmdline"; }
# a zombie (our child, not waited for) is gone too
alive() { [ -e "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
member_endpoint() { sed -n 's/^ *client_url: //p' "$CFG" | sed -n "${1}p"; }

test_print_is_the_command_line_cluster_up_started() {
  local i pid
  for i in 1 2 3; do
    pid=$(cat "$(dirname "$CFG")/etcd$i.pid")
    [ -r "/proc/$pid/cmdline" ] || fail "member etcd$i (pid $pid) is not running"
    rv member exec --print "etcd$i"
    assert_ok
    assert_eq "$OUT" "$(cmdline_of "$pid")" "the printed command line of etcd$i against /proc/$pid/cmdline"
  done
  # -o json: the same arguments as an array
  rv -o json member exec --print etcd2
  assert_ok
  assert_eq "$(json_get '.[]')" "$(cmdline_of "$(cat "$(dirname "$CFG")/etcd2.pid")")" "the JSON command line"
  assert_eq "$(json_get '.[1]')" "--name=etcd2" "the second argument"
  # --dry-run is the same
  rv member exec --dry-run etcd3
  assert_ok
  assert_out_contains "--name=etcd3"
}

test_print_relative_data_dir_is_made_absolute() {
  # as cluster up does: relative to where regvault runs
  sed "s#data_dir: $(dirname "$CFG")/#data_dir: rel/#" "$CFG" >"$T/regvault.yaml"
  (cd "$T" && run "$RV_BIN" --config "$T/regvault.yaml" member exec --print etcd1 && echo "$OUT" >"$T/argv")
  grep -qx -- "--data-dir=$T/rel/etcd1" "$T/argv" || fail "no absolute data dir in: $(cat "$T/argv")"
}

test_exec_refuses_a_member_that_runs() {
  rv member exec etcd1
  assert_rc 1
  assert_err_contains "member etcd1 already runs on this host"
}

test_unknown_member_and_usage() {
  rv member exec etcd9
  assert_rc 2
  assert_err_contains "no member 'etcd9' in the configuration (members: etcd1, etcd2, etcd3)"
  rv member exec
  assert_rc 2
  rv member exec --print etcd1 etcd2
  assert_rc 2
  rv member frob
  assert_rc 2
  run "$RV_BIN" member exec --help
  assert_ok
  assert_out_contains "regvault-etcd@.service"
  # a binary that is not there: exit 1, naming the key
  sed 's#^  etcd:#  etcd:\n    binary: /nonexistent/etcd#' "$CFG" >"$T/regvault.yaml"
  run "$RV_BIN" --config "$T/regvault.yaml" member exec --print etcd1
  assert_rc 1
  assert_err_contains "cluster.etcd.binary"
}

# One member of the stopped cluster through member exec (as its unit would run it),
# the other two through cluster up: the cluster forms, the exec'd member is healthy,
# it is the very process regvault was (exec, same pid), it keeps NOTIFY_SOCKET and
# says READY=1 there, and SIGTERM stops it (no signal left blocked or ignored).
test_exec_runs_a_working_member() {
  local pid i ep
  rv cluster down
  assert_ok
  rv member exec --print etcd1
  assert_ok
  echo "$OUT" >"$T/printed"
  python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[1] + ".ready", "w").close()
while True:
    d = s.recv(4096)
    with open(sys.argv[2], "ab") as f:
        f.write(d + b"\n")
' "$T/notify.sock" "$T/notified" >/dev/null 2>&1 &
  local listener=$!
  trap 'kill $listener 2>/dev/null' EXIT
  for _ in $(seq 50); do [ -e "$T/notify.sock.ready" ] && break; sleep 0.1; done
  touch "$T/notified"
  (trap '' HUP TERM; NOTIFY_SOCKET=$T/notify.sock exec "$RV_BIN" --config "$CFG" member exec etcd1 >"$T/etcd1.out" 2>&1) &
  pid=$!
  # alone it has no quorum: running, not ready
  sleep 1.5
  alive "$pid" || fail "member exec ended: $(tail -5 "$T/etcd1.out")"
  assert_eq "$(cat "$T/notified")" "" "what etcd1 notified before it had a quorum"
  assert_eq "$(cmdline_of "$pid")" "$(cat "$T/printed")" "the command line of the exec'd member (pid $pid)"
  # cluster up finds etcd1 running (no pid file: by its data dir) and starts the others
  rv cluster up
  assert_ok
  assert_out_contains "already running (pid $pid)"
  ep=$(member_endpoint 1)
  run etcdctl --endpoints="$ep" endpoint health
  assert_ok
  assert_err_contains "is healthy"
  ectl put /t/member-exec yes >/dev/null
  run etcdctl --endpoints="$ep" get /t/member-exec --print-value-only
  assert_eq "$OUT" yes "a key read through the exec'd member"
  for i in $(seq 50); do grep -q READY=1 "$T/notified" && break; sleep 0.1; done
  grep -qx READY=1 "$T/notified" || fail "etcd did not notify READY=1: $(cat "$T/notified")"
  # SIGTERM (which the shell above ignored) reaches etcd at its default: it stops
  # etcd stops gracefully: as leader it first hands leadership over (up to its
  # request timeout, ~7 s) and then drains its gRPC server (up to ~5 s more), so
  # a loaded machine needs more than 10 s; a member that ignored SIGTERM never ends
  kill -TERM "$pid"
  for i in $(seq 300); do alive "$pid" || break; sleep 0.1; done
  ! alive "$pid" || fail "the exec'd member ignored SIGTERM (still running 30 s later; state $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null), last output: $(tail -3 "$T/etcd1.out"))"
  rv cluster up
  assert_ok
}
