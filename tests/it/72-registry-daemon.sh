# The registry services inside regvault daemon, against a real cluster with etcdctl
# as the reader: the sync writes the manifests and follows the directory (inotify),
# the heartbeats keep every Service-type capability's health key; a clean stop
# revokes the leases at once, a SIGKILL leaves them to expire after the TTL, and a
# restart or a restore under the daemon brings them back within an interval.

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

P=/chora/capabilities

# manifest NAME [service|pattern] [CHECK]: $T/caps/NAME.yaml
manifest() {
  mkdir -p "$T/caps"
  {
    echo "version: 1.2.0"
    echo "metadata:"
    echo "  title: $1"
    echo "dependencies:"
    echo "  - chora.base.core >=1.0.0 <2.0.0"
    if [ "${2:-service}" = service ]; then
      echo "chora_service:"
      [ -n "${3:-}" ] && printf '  health_check:\n    command: [%s]\n    timeout: 2s\n' "$3"
    fi
  } >"$T/caps/$1.yaml.tmp"
  mv "$T/caps/$1.yaml.tmp" "$T/caps/$1.yaml"
}

# reg_config [LINE...]: $T/cfg.yaml with a registry: section (heartbeats every 1s
# under a 3 s TTL, so that expiry is quick to see), no jobs, its own socket.
reg_config() {
  DCFG=$T/cfg.yaml
  SOCK=$T_FILE_DIR/$(md5sum <<<"$T" | cut -c1-8).sock
  sed -e "s|^state_dir: .*|state_dir: $T/state|" -e "s|^  url: .*/backups$|  url: $T/backups|" "$CFG" >"$DCFG"
  {
    echo "daemon:"
    echo "  control_socket: $SOCK"
    echo "  metrics_listen: \"${METRICS_LISTEN:-}\""
    echo "  health_interval: 1s"
    echo "  jobs:"
    for job in snapshot verify compact defrag hashcheck diskcheck drill; do echo "    $job: {enabled: false}"; done
    echo "registry:"
    echo "  manifests_dir: $T/caps"
    echo "  sync: {interval: 60s, debounce: 200ms}"
    echo "  heartbeat: {ttl: 3s, interval: 1s}"
    printf '%s\n' "$@"
  } >>"$DCFG"
}

dv() { run "$RV_BIN" --config "$DCFG" --no-progress "$@"; }

start_daemon() {
  local i
  "$RV_BIN" --config "$DCFG" daemon >>"$T/daemon.log" 2>&1 &
  DPID=$!
  echo "$DPID" >>"$T_FILE_DIR/.daemons"
  trap 'kill -9 $DPID 2>/dev/null' EXIT
  for i in $(seq 1 100); do
    "$RV_BIN" --config "$DCFG" daemon status >/dev/null 2>&1 && return 0
    kill -0 "$DPID" 2>/dev/null || fail "the daemon exited at start: $(tail -5 "$T/daemon.log")"
    sleep 0.2
  done
  fail "the daemon did not answer: $(tail -5 "$T/daemon.log")"
}


value() { ectl get "$1" --print-value-only; }
has_key() { [ -n "$(ectl get "$@" --keys-only)" ]; }
no_key() { [ -z "$(ectl get "$@" --keys-only)" ]; }
health_field() { value "$P/$1/health" | jq -r ".$2"; }
count_over() { local c; c=$(health_field "$1" heartbeat_count 2>/dev/null); [ -n "$c" ] && [ "$c" != null ] && [ "$c" -gt "$2" ]; }
status_is() { [ "$(health_field "$1" status 2>/dev/null)" = "$2" ]; }

test_the_daemon_syncs_and_heartbeats_and_follows_the_directory() {
  manifest rd.svc.one service true
  manifest rd.svc.two service false
  manifest rd.pat.three pattern
  reg_config
  start_daemon
  wait_for 20 has_key "$P/rd.pat.three/version" || fail "the pattern's keys never appeared: $(tail -5 "$T/daemon.log")"
  assert_eq "$(value $P/rd.svc.one/type)" service "rd.svc.one's type"
  assert_eq "$(value $P/rd.pat.three/type)" pattern "rd.pat.three's type"
  assert_eq "$(value $P/rd.svc.one/version)" 1.2.0 "the version"
  assert_eq "$(value $P/rd.svc.one/dependencies | jq -c .)" '[{"namespace":"chora.base.core","range":">=1.0.0 <2.0.0"}]' "the dependencies"
  wait_for 10 count_over rd.svc.one 2 || fail "rd.svc.one's heartbeat count did not pass 2: $(value $P/rd.svc.one/health)"
  status_is rd.svc.one healthy || fail "rd.svc.one is not healthy: $(value $P/rd.svc.one/health)"
  wait_for 5 status_is rd.svc.two unhealthy || fail "rd.svc.two (check 'false') is not unhealthy: $(value $P/rd.svc.two/health)"
  no_key "$P/rd.pat.three/health" || fail "a Pattern-type capability has a health key"
  local lease
  # -w fields: the lease id as etcd sent it (jq would round a 64-bit id)
  lease=$(ectl get "$P/rd.svc.one/health" -w fields | awk '/^"Lease"/ {print $3}')
  [ -n "$lease" ] && [ "$lease" != 0 ] || fail "the health key is not under a lease"
  ectl lease timetolive "$(printf '%x' "$lease")" | grep -q "granted with TTL(3s)" || fail "the lease's TTL is not 3s"

  # added and removed without a restart: the directory is watched
  manifest rd.svc.four service
  wait_for 10 has_key "$P/rd.svc.four/health" || fail "a manifest added was not picked up with its heartbeat"
  rm "$T/caps/rd.svc.one.yaml"
  wait_for 10 no_key "$P/rd.svc.one/" --prefix || fail "a removed capability's keys stayed: $(ectl get $P/rd.svc.one/ --prefix --keys-only)"

  dv daemon status -o json
  assert_ok
  assert_eq "$(json_get '.registry.sync.result')" success "the last sync's result"
  assert_eq "$(json_get '[.registry.heartbeats[] | select(.status == "healthy")] | length')" 1 "healthy heartbeats (rd.svc.four)"
  assert_eq "$(json_get '[.registry.heartbeats[] | select(.status == "unhealthy")] | length')" 1 "unhealthy heartbeats (rd.svc.two)"

  # a clean stop revokes the leases: the health keys are gone when it has exited
  kill -TERM "$DPID"
  wait "$DPID"
  assert_eq "$?" 0 "the daemon's exit code"
  no_key "$P/rd.svc.four/health" || fail "a health key stayed after a clean stop"
  has_key "$P/rd.svc.four/version" || fail "a clean stop removed the capability's keys"
}

test_after_sigkill_health_keys_expire_and_come_back_after_a_restart() {
  manifest rk.svc.one service
  reg_config
  start_daemon
  wait_for 20 has_key "$P/rk.svc.one/health" || fail "no health key: $(tail -5 "$T/daemon.log")"
  ectl_bg watch "$P/rk.svc.one/health" >"$T/watch.out" 2>&1
  local wpid=$BG_PID t0
  sleep 0.5
  kill -9 "$DPID"
  wait "$DPID" 2>/dev/null
  t0=$(date +%s)
  wait_for 10 grep -q DELETE "$T/watch.out" || fail "no DELETE within TTL + 7 s: $(cat "$T/watch.out")"
  kill "$wpid" 2>/dev/null
  [ $(($(date +%s) - t0)) -ge 1 ] || fail "the key went at once after SIGKILL (leases should only expire)"
  start_daemon
  wait_for 8 has_key "$P/rk.svc.one/health" || fail "the health key did not come back after the restart"
  kill -TERM "$DPID"
  wait "$DPID"
}

# An operator's restore stops every member and brings back an older db: the
# heartbeats go on by themselves once the cluster is back.
test_heartbeats_are_back_after_a_restore_under_the_daemon() {
  manifest rr.svc.one service
  reg_config
  start_daemon
  wait_for 20 has_key "$P/rr.svc.one/health" || fail "no health key"
  dv snapshot save --tag before-restore
  assert_ok
  dv restore --from latest --yes --force
  assert_ok
  local c0
  c0=$(health_field rr.svc.one heartbeat_count 2>/dev/null || echo 0)
  wait_for 10 count_over rr.svc.one "${c0:-0}" || fail "no heartbeat after the restore: $(value $P/rr.svc.one/health); $(tail -5 "$T/daemon.log")"
  kill -TERM "$DPID"
  wait "$DPID"
}

test_metrics_have_the_registry_families() {
  command -v promtool >/dev/null || skip "no promtool (Debian package prometheus)"
  local port
  port=$(free_port)
  manifest rm.svc.one service
  manifest rm.pat.two pattern
  METRICS_LISTEN=127.0.0.1:$port reg_config
  start_daemon
  wait_for 20 has_key "$P/rm.svc.one/health" || fail "no health key"
  sleep 1.5
  curl -sf "http://127.0.0.1:$port/metrics" >"$T/metrics.txt" || fail "no /metrics"
  local out
  out=$(promtool check metrics <"$T/metrics.txt" 2>&1) || fail "promtool check metrics: $out"
  [ -z "$out" ] || fail "promtool check metrics says: $out"
  grep -q '^regvault_registry_capabilities{type="service"} 1$' "$T/metrics.txt" || fail "capabilities by type: $(grep registry_cap "$T/metrics.txt")"
  grep -q '^regvault_registry_services{status="healthy"} 1$' "$T/metrics.txt" || fail "services by status: $(grep registry_services "$T/metrics.txt")"
  grep -q '^regvault_registry_sync_changes_total{action="create"} 2$' "$T/metrics.txt" || fail "changes: $(grep changes_total "$T/metrics.txt")"
  awk '/^regvault_registry_lease_renewals_total/ {exit !($2 > 0)}' "$T/metrics.txt" || fail "no renewals counted"
  awk '/^regvault_registry_sync_last_success_timestamp_seconds/ {exit !($2 > 0)}' "$T/metrics.txt" || fail "no sync success time"
  kill -TERM "$DPID"
  wait "$DPID"
}
