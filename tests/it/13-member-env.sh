# What a member regvault starts inherits from it: nothing of systemd's notify
# socket (etcd would tell systemd READY=1 on the daemon's behalf), none of its
# descriptors, none of its ignored signals; the rest of its environment, yes.
# regvault runs here as under systemd: NOTIFY_SOCKET set (to a socket this test
# listens on) and SIGHUP ignored, as nohup leaves it.

setup_file() {
  NOTIFY_DIR=$T_FILE_DIR/notify
  mkdir -p "$NOTIFY_DIR"
  python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[1] + ".ready", "w").close()
while True:
    with open(sys.argv[2], "ab") as f:
        f.write(s.recv(4096) + b"\n")
' "$NOTIFY_DIR/sock" "$NOTIFY_DIR/got" >/dev/null 2>&1 &
  echo $! >"$NOTIFY_DIR/pid"
  for _ in $(seq 1 50); do [ -e "$NOTIFY_DIR/sock.ready" ] && break; sleep 0.1; done
  [ -e "$NOTIFY_DIR/sock.ready" ] || { echo "the notify listener did not start"; return 1; }
  touch "$NOTIFY_DIR/got"
  trap '' HUP
  NOTIFY_SOCKET=$NOTIFY_DIR/sock RV_TEST_PASSED_ON=yes start_cluster "$T_FILE_DIR/c"
  export_env CFG ENDPOINTS NOTIFY_DIR
}

teardown_file() {
  [ -f "${NOTIFY_DIR:-/nonexistent}/pid" ] && kill "$(cat "$NOTIFY_DIR/pid")" 2>/dev/null
  return 0
}

pid_of() { cat "$(dirname "$CFG")/etcd$1.pid"; }
member_env() { tr '\0' '\n' <"/proc/$1/environ"; }

test_members_get_no_notify_socket_but_the_rest_of_the_environment() {
  local i pid
  for i in 1 2 3; do
    pid=$(pid_of "$i")
    [ -r "/proc/$pid/environ" ] || fail "member etcd$i (pid $pid) is not running"
    member_env "$pid" | grep -q '^NOTIFY_SOCKET=' && fail "member etcd$i was given NOTIFY_SOCKET"
    member_env "$pid" | grep -qx 'RV_TEST_PASSED_ON=yes' || fail "member etcd$i lacks the rest of regvault's environment"
  done
  # and no member told the socket anything (READY=1 would have confused systemd)
  assert_eq "$(cat "$NOTIFY_DIR/got")" "" "what the notify socket received"
}

test_members_hold_only_their_own_descriptors() {
  local i pid fd target inode path others port
  for i in 1 2 3; do
    pid=$(pid_of "$i")
    assert_eq "$(readlink "/proc/$pid/fd/0")" /dev/null "stdin of etcd$i"
    assert_eq "$(readlink "/proc/$pid/fd/1")" "$(dirname "$CFG")/etcd$i.log" "stdout of etcd$i"
    assert_eq "$(readlink "/proc/$pid/fd/2")" "$(dirname "$CFG")/etcd$i.log" "stderr of etcd$i"
    for fd in /proc/"$pid"/fd/*; do
      [ "${fd##*/}" -le 2 ] && continue
      target=$(readlink "$fd") || continue
      case $target in
        "$(dirname "$CFG")/etcd$i/"*) ;;  # its data dir: db, WAL, lock
        anon_inode:*) ;;                  # epoll, eventfd
        pipe:*) # the Go runtime's own pipe has both ends here; one end alone came from elsewhere
          [ "$(ls -l /proc/"$pid"/fd/ | grep -cF "$target")" -eq 2 ] || fail "etcd$i holds one end of $target (fd ${fd##*/})" ;;
        socket:*) # TCP (checked below), or a unix socket of its own: unnamed or
          # autobound (etcd's journald probe); a named one came from elsewhere
          inode=${target#socket:[}; inode=${inode%]}
          awk '{print $10}' /proc/net/tcp /proc/net/tcp6 | grep -qx "$inode" && continue
          path=$(awk -v i="$inode" '$7 == i {print $8}' /proc/net/unix)
          [[ -z $path || $path =~ ^@[0-9a-f]{5}$ ]] ||
            fail "etcd$i holds fd ${fd##*/} -> $target ${path:-(not TCP)}, which is not its own" ;;
        *) fail "etcd$i holds fd ${fd##*/} -> $target, which is not its own" ;;
      esac
    done
    # no TCP connection to another member's client port (regvault's client)
    for others in 1 2 3; do
      [ "$others" = "$i" ] && continue
      port=$(cut -d, -f"$others" <<<"$ENDPOINTS"); port=${port##*:}
      grep -q "pid=$pid," < <(ss -Htnp state established "dport = :$port" 2>/dev/null) &&
        fail "etcd$i holds a connection to the client port of etcd$others"
    done
  done
  return 0
}

test_members_do_not_inherit_ignored_signals() {
  local i pid ign
  for i in 1 2 3; do
    pid=$(pid_of "$i")
    ign=$(awk '/^SigIgn:/ {print $2}' "/proc/$pid/status")
    # SIGHUP is bit 0: ignored by the regvault that started it, default in etcd
    [ $((16#$ign & 1)) -eq 0 ] || fail "etcd$i ignores SIGHUP (SigIgn $ign)"
  done
  return 0
}
