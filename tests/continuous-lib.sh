# continuous-lib.sh - the recorder fixture of the continuous-backup tests (26, 27,
# 57, 58-surgical-point, 59), sourced by each: a daemon section with continuous backup on and every
# job off, daemons started in the background, and all of them killed at the end.

# recorder_section FILE: append to FILE a daemon section with the recorder on
# (flush 200ms; segments merged only with MERGE_WINDOWS, e.g. "[2s, 4s]": a test that
# counts or damages them must not see them merged meanwhile), members not supervised,
# every job off; SOCK is its socket.
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
    merge_windows: ${MERGE_WINDOWS:-[]}
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

# A cluster of the test's own with the recorder configured (flush 200ms), a base
# artifact of it (BASE, its revision), and the daemon recording.
setup_recording() {
  start_cluster "$T/c" || fail "cluster up failed"
  recorder_section "$CFG"
  ectl put /seed/1 one >/dev/null || fail "put"
  if [ -n "${BASE_LEASE_TTL:-}" ]; then # a key on a lease in the base, renewed until the test stops it
    BASE_LEASE=$(ectl lease grant "$BASE_LEASE_TTL" | awk '{print $2}')
    ectl put --lease="$BASE_LEASE" /leased/k v >/dev/null || fail "put with a lease"
    ectl_bg lease keep-alive "$BASE_LEASE" >/dev/null 2>&1
    KEEPALIVE_PID=$BG_PID
    echo "$KEEPALIVE_PID" >>"$T_FILE_DIR/.daemons"
  fi
  rv snapshot save
  assert_ok
  local art
  art=$(ls "$T/c/backups" | grep '\.tar\.zst$' | head -1)
  CHAIN=${art%.tar.zst}
  BASE=${CHAIN##*-r}
  start_recorder "$CFG"
}

stop_recording() { # wait until the segments reach revision $1, then stop the daemon (unless $2)
  local n=150
  while [ "$(reach)" -lt "$1" ]; do
    n=$((n - 1)); [ "$n" -gt 0 ] || fail "segments reach $(reach), not $1: $(tail -5 "$T/daemon.log")"
    sleep 0.2
  done
  [ -n "${2:-}" ] && return 0
  kill -TERM "$DPID"; wait "$DPID" 2>/dev/null
  return 0
}

rev_now() { ectl get /seed/1 -w json | jq -r .header.revision; }
# reach [CHAIN BASE [DIR]]: the highest revision the segments of chain CHAIN (default
# $CHAIN, whose base is at revision BASE, default $BASE) in DIR (default $T/c/backups,
# else $T/backups) cover without a hole
reach() {
  local chain=${1:-$CHAIN} at=${2:-$BASE} dir=${3:-$T/c/backups} f l
  [ -d "$dir" ] || dir=$T/backups
  while read -r f l; do
    f=$((10#$f)); l=$((10#$l))
    [ "$f" -le $((at + 1)) ] || break
    [ "$l" -gt "$at" ] && at=$l
  done < <(ls "$dir" | grep -F "$chain.seg-r" | sed -E 's/.*\.seg-r([0-9]{20})-r([0-9]{20})-.*/\1 \2/' | sort)
  echo "$at"
}

wait_reach() { # wait_reach CHAIN BASE REV: until the chain's segments reach REV (30 s at most)
  local n=150
  while [ "$(reach "$1" "$2")" -lt "$3" ]; do
    n=$((n - 1)); [ "$n" -gt 0 ] || fail "segments reach $(reach "$1" "$2"), not $3: $(tail -5 "$T/daemon.log")"
    sleep 0.2
  done
}

teardown_file() {
  local pid
  [ -f "$T_FILE_DIR/.daemons" ] || return 0
  while read -r pid; do kill -9 "$pid" 2>/dev/null; done <"$T_FILE_DIR/.daemons"
  return 0
}
