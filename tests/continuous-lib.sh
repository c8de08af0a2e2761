# continuous-lib.sh - the recorder fixture of the continuous-backup tests (26, 27,
# 57, 59), sourced by each: a daemon section with continuous backup on and every
# job off, daemons started in the background, and all of them killed at the end.

# recorder_section FILE: append to FILE a daemon section with the recorder on
# (flush 200ms), members not supervised, every job off; SOCK is its socket.
recorder_section() {
  SOCK=$T_FILE_DIR/$(md5sum <<<"$T" | cut -c1-8).sock # a unix socket's path has 107 bytes at most
  cat >>"$1" <<EOC
daemon:
  control_socket: $SOCK
  metrics_listen: ""
  supervise_members: false
  continuous:
    enabled: true
    flush: 200ms
  jobs:
$(for j in snapshot verify compact defrag hashcheck diskcheck drill; do echo "    $j: {enabled: false}"; done)
EOC
}

# start_recorder CONFIG [BIN]: regvault daemon in the background, its log in
# $T/daemon.log, its pid in DPID (killed when the test ends, and by teardown_file).
start_recorder() {
  "${2:-$RV_BIN}" --config "$1" daemon >>"$T/daemon.log" 2>&1 &
  DPID=$!
  echo "$DPID" >>"$T_FILE_DIR/.daemons"
  trap 'kill -9 $DPID 2>/dev/null' EXIT
}

teardown_file() {
  local pid
  [ -f "$T_FILE_DIR/.daemons" ] || return 0
  while read -r pid; do kill -9 "$pid" 2>/dev/null; done <"$T_FILE_DIR/.daemons"
  return 0
}
