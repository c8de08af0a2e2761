# regvault registry heartbeat and registry status against a real three-member
# cluster, etcdctl the independent reader: leases renewed (lease timetolive), count
# and timestamp advancing, failing health checks (a command, an HTTP port nothing
# listens on) turning one service unhealthy and leaving the others, manifests added,
# changed and removed while running, SIGKILL (keys gone after the TTL, seen by
# etcdctl watch) and SIGTERM (gone at once), a second writer refused, a lease
# revoked by hand granted again, a member killed and the leader moved, and the
# status command's table, JSON and exit codes. Short leases: TTL 3s, interval 1s.

TTL=3

setup_file() {
  start_cluster "$T_FILE_DIR/c"
  export_env CFG ENDPOINTS
}

teardown_file() {
  local pid
  [ -f "$T_FILE_DIR/.hbs" ] || return 0
  while read -r pid; do kill -9 "$pid" 2>/dev/null; done <"$T_FILE_DIR/.hbs"
  return 0
}

# reg_config: $T/cfg.yaml, the cluster's with a registry: section of this test's
# own: manifests in $T/caps, keys under $PREFIX.
reg_config() {
  RCFG=$T/cfg.yaml
  PREFIX=/hb/$(basename "$T")
  mkdir -p "$T/caps"
  cp "$CFG" "$RCFG"
  cat >>"$RCFG" <<EOF
registry:
  manifests_dir: $T/caps
  prefix: $PREFIX
  heartbeat:
    ttl: ${TTL}s
    interval: 1s
EOF
}

# service NS [HEALTH_CHECK_YAML]: a Service-type manifest; pattern NS: a Pattern-type one
service() {
  {
    echo "namespace: $1"
    echo "version: 1.0.0"
    echo "chora_service:"
    [ -n "${2:-}" ] && { echo "  health_check:"; echo "$2" | sed 's/^/    /'; }
  } >"$T/caps/$1.yaml.tmp"
  mv "$T/caps/$1.yaml.tmp" "$T/caps/$1.yaml"
}
pattern() { printf 'namespace: %s\nversion: 0.3.0\n' "$1" >"$T/caps/$1.yaml"; }

rr() { run "$RV_BIN" --config "$RCFG" --no-progress "$@"; }

# start_hb ARGS...: `registry heartbeat ARGS` in the background (HB_BIN: another
# build), its log $T/hb.log
start_hb() {
  "${HB_BIN:-$RV_BIN}" --config "$RCFG" -v registry heartbeat "$@" >>"$T/hb.log" 2>&1 &
  HBPID=$!
  echo "$HBPID" >>"$T_FILE_DIR/.hbs"
  trap 'kill -9 $HBPID 2>/dev/null' EXIT # a failed assertion ends the test, not the process
}
stop_hb() {
  kill -TERM "$HBPID"
  wait "$HBPID"
  HBRC=$?
}


health() { ectl get "$PREFIX/$1/health" --print-value-only; }
hfield() { health "$1" | jq -r ".$2"; }
has_health() { [ -n "$(health "$1")" ]; }
no_health() { [ -z "$(health "$1")" ]; }
status_is() { [ "$(hfield "$1" status)" = "$2" ]; }
# the lease a key is under, in hex as etcdctl lease takes it ("" when none)
lease_of() {
  local l
  l=$(ectl get "$1" -w fields | sed -n 's/^"Lease" : //p')
  [ -n "$l" ] && [ "$l" != 0 ] && printf '%x' "$l"
}
new_lease() { local l; l=$(lease_of "$1"); [ -n "$l" ] && [ "$l" != "$2" ]; }
remaining() { ectl lease timetolive "$1" | sed -n 's/.*remaining(\(-\{0,1\}[0-9]*\)s).*/\1/p'; }
claim_key() { echo "/regvault/registry/registry/heartbeat/$1"; }
has_claim() { [ -n "$(ectl get "$(claim_key "$1")" --print-value-only)" ]; }
count_ge() { [ "$(hfield "$1" heartbeat_count)" -ge "$2" ] 2>/dev/null; }
log_has() { grep -qF -- "$1" "$T/hb.log"; }

test_heartbeats_renew_and_their_count_and_timestamp_advance() {
  local l r1 r2 c1 c2 t1 t2 v
  reg_config
  service hb.plain
  service hb.checked 'command: ["true"]'
  pattern hb.pattern
  start_hb --auto-discover
  wait_for 10 has_health hb.plain || fail "no health key for hb.plain: $(tail -5 "$T/hb.log")"
  wait_for 10 has_health hb.checked || fail "no health key for hb.checked: $(tail -5 "$T/hb.log")"
  v=$(health hb.plain)
  assert_eq "$(jq -r .status <<<"$v")" healthy "hb.plain's status"
  assert_eq "$(jq -r .namespace <<<"$v")" hb.plain "hb.plain's namespace"
  assert_eq "$(jq -r 'keys_unsorted | join(",")' <<<"$v")" "status,timestamp,namespace,heartbeat_count" "the keys"
  [[ $(jq -r .timestamp <<<"$v") =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] ||
    fail "not an RFC 3339 UTC timestamp: $v"
  assert_eq "$(hfield hb.checked status)" healthy "hb.checked's status"
  no_health hb.pattern || fail "a Pattern-type capability got a health key"
  # the lease: TTL 3s, renewed (its remaining time never runs down)
  l=$(lease_of "$PREFIX/hb.plain/health")
  [ -n "$l" ] || fail "the health key is under no lease"
  ectl lease timetolive "$l" | grep -q "TTL(${TTL}s)" || fail "lease $l: $(ectl lease timetolive "$l")"
  c1=$(hfield hb.plain heartbeat_count); t1=$(hfield hb.plain timestamp)
  r1=$(remaining "$l")
  sleep 4 # longer than the TTL: only renewals keep it
  r2=$(remaining "$l")
  [ "${r1:--1}" -ge 1 ] && [ "${r2:--1}" -ge 1 ] || fail "lease $l not renewed: remaining $r1 s, then $r2 s"
  assert_eq "$(lease_of "$PREFIX/hb.plain/health")" "$l" "the lease after 4 s"
  c2=$(hfield hb.plain heartbeat_count); t2=$(hfield hb.plain timestamp)
  [ "$c2" -ge $((c1 + 3)) ] || fail "heartbeat_count went from $c1 to $c2 in 4 s"
  [[ $t2 > $t1 ]] || fail "the timestamp did not advance: $t1, then $t2"
  # the claim: under the same lease, naming this process
  v=$(ectl get "$(claim_key hb.plain)" --print-value-only)
  assert_eq "$(jq -r .pid <<<"$v")" "$HBPID" "the claim's pid"
  [[ $(jq -r .owner <<<"$v") == "regvault registry heartbeat on "*"(pid $HBPID)" ]] || fail "the claim: $v"
  assert_eq "$(jq -r .host <<<"$v")" "$(hostname)" "the claim's host"
  assert_eq "$(lease_of "$(claim_key hb.plain)")" "$l" "the claim's lease"
  log_has "heartbeat of hb.plain: lease $l granted (ttl 3 s)" || fail "no log line for the lease: $(cat "$T/hb.log")"
  # SIGTERM: every lease revoked, the keys gone at once
  stop_hb
  assert_eq "$HBRC" 0 "the exit code after SIGTERM"
  no_health hb.plain || fail "hb.plain's health key is still there after SIGTERM"
  no_health hb.checked || fail "hb.checked's health key is still there after SIGTERM"
  assert_eq "$(ectl get "$(claim_key hb.plain)" --print-value-only)" "" "the claim after SIGTERM"
  ectl lease timetolive "$l" | grep -q "already expired" || fail "lease $l still lives: $(ectl lease timetolive "$l")"
  log_has "heartbeats stopped: 2 leases revoked" || fail "no log line for the stop: $(tail -3 "$T/hb.log")"
}

test_a_failing_check_turns_one_service_unhealthy_and_leaves_the_others() {
  local closed web
  reg_config
  closed=$(free_port)
  web=$(free_port)
  mkdir -p "$T/www"
  echo ok >"$T/www/health"
  (cd "$T/www" && exec python3 -m http.server --bind 127.0.0.1 "$web" >/dev/null 2>&1) &
  local webpid=$!
  echo "$webpid" >>"$T_FILE_DIR/.hbs"
  wait_for 10 curl -sf "http://127.0.0.1:$web/health" -o /dev/null || fail "the test's web server did not start"
  service chk.fine
  service chk.web "http: http://127.0.0.1:$web/health"
  service chk.cmd 'command: ["false"]'
  service chk.http "$(printf 'http: http://127.0.0.1:%s/health\ntimeout: 1s' "$closed")"
  start_hb --auto-discover --interval 1 --ttl 3
  wait_for 10 status_is chk.cmd unhealthy || fail "chk.cmd is not unhealthy: $(health chk.cmd)"
  wait_for 10 status_is chk.http unhealthy || fail "chk.http is not unhealthy: $(health chk.http)"
  assert_eq "$(hfield chk.cmd detail)" "exit 1" "chk.cmd's detail"
  [[ $(hfield chk.http detail) == *"connect"* ]] || fail "chk.http's detail: $(health chk.http)"
  assert_eq "$(hfield chk.fine status)" healthy "chk.fine, beside them"
  assert_eq "$(hfield chk.web status)" healthy "chk.web (HTTP 200)"
  [ "$(hfield chk.fine detail)" = null ] || fail "a healthy key has a detail: $(health chk.fine)"
  log_has "heartbeat of chk.cmd: unhealthy: exit 1" || fail "no log line for the unhealthy one: $(cat "$T/hb.log")"
  # the others' heartbeats go on
  local c1
  c1=$(hfield chk.fine heartbeat_count)
  wait_for 5 count_ge chk.fine $((c1 + 2)) || fail "chk.fine stopped while the others fail"
  # a web page answering 404 is unhealthy too
  rm "$T/www/health"
  wait_for 10 status_is chk.web unhealthy || fail "chk.web still $(health chk.web) after a 404"
  assert_eq "$(hfield chk.web detail)" "HTTP 404" "chk.web's detail"
  # the manifests change under the running process: fixed, added, removed
  service chk.cmd 'command: ["true"]'
  service chk.new
  rm "$T/caps/chk.http.yaml"
  wait_for 10 status_is chk.cmd healthy || fail "chk.cmd did not become healthy: $(health chk.cmd)"
  wait_for 10 has_health chk.new || fail "the added chk.new has no heartbeat: $(tail -5 "$T/hb.log")"
  wait_for 10 no_health chk.http || fail "the removed chk.http still has its key"
  log_has "heartbeat of chk.cmd: healthy again" || fail "no log line for healthy again"
  log_has "heartbeat of chk.http: stopped, lease" || fail "no log line for the removed one"
  stop_hb
  assert_eq "$HBRC" 0 "the exit code"
  kill "$webpid"
}

test_sigkill_leaves_the_keys_until_the_ttl_runs_out() {
  local start took
  reg_config
  service kill.me
  start_hb --namespace kill.me
  wait_for 10 has_health kill.me || fail "no health key: $(tail -5 "$T/hb.log")"
  ectl_bg watch "$PREFIX/kill.me/health" >"$T/watch.out" 2>&1
  local wpid=$BG_PID
  echo "$wpid" >>"$T_FILE_DIR/.hbs"
  sleep 0.5
  kill -9 "$HBPID"
  start=$(date +%s.%N)
  wait "$HBPID" 2>/dev/null
  has_health kill.me || fail "the key went at once after SIGKILL (it should live until the TTL)"
  wait_for $((TTL + 4)) grep -q '^DELETE' "$T/watch.out" || fail "no DELETE within $((TTL + 4)) s: $(cat "$T/watch.out")"
  took=$(echo "$(date +%s.%N) - $start" | bc)
  echo "DELETE after $took s"
  (($(echo "$took <= $TTL + 3" | bc))) || fail "the key lived $took s after SIGKILL (TTL $TTL s)"
  kill "$wpid" 2>/dev/null
  assert_eq "$(ectl get "$(claim_key kill.me)" --print-value-only)" "" "the claim after the TTL"
  # a new process takes it at once
  start_hb --namespace kill.me
  wait_for 5 has_health kill.me || fail "not back after a restart: $(tail -5 "$T/hb.log")"
  # killed again and restarted before the TTL ran out: the dead process's claim (same
  # host, no such pid) is taken over at once, its lease revoked
  local old
  old=$(lease_of "$PREFIX/kill.me/health")
  kill -9 "$HBPID"
  wait "$HBPID" 2>/dev/null
  start_hb --namespace kill.me
  wait_for 3 new_lease "$PREFIX/kill.me/health" "$old" ||
    fail "the restarted process did not take the key over: $(tail -5 "$T/hb.log")"
  log_has "heartbeat of kill.me: taking over the claim of regvault registry heartbeat on" ||
    fail "no log line for the take-over: $(tail -5 "$T/hb.log")"
  ectl lease timetolive "$old" | grep -q "already expired" || fail "the dead process's lease $old still lives"
  stop_hb
  assert_eq "$HBRC" 0 "the exit code"
}

test_a_second_heartbeat_for_the_same_namespace_is_refused() {
  local c1
  reg_config
  service dup.one
  service dup.two
  start_hb --namespace dup.one
  wait_for 10 has_health dup.one || fail "no health key: $(tail -5 "$T/hb.log")"
  rr registry heartbeat --namespace dup.two --namespace dup.one
  assert_rc 1
  assert_err_contains "the heartbeat of dup.one is kept by regvault registry heartbeat on $(hostname) (pid $HBPID)"
  assert_err_contains "not starting a second writer"
  no_health dup.two || fail "the refused process wrote dup.two"
  assert_eq "$(jq -r .pid <<<"$(ectl get "$(claim_key dup.one)" --print-value-only)")" "$HBPID" "the claim's pid"
  c1=$(hfield dup.one heartbeat_count)
  wait_for 5 count_ge dup.one $((c1 + 2)) || fail "the first one stopped"
  stop_hb
  assert_eq "$HBRC" 0 "the first one's exit code"
}

test_a_lease_revoked_by_hand_is_granted_again_within_one_interval() {
  local l l2 c1
  reg_config
  service rev.one
  service rev.two
  start_hb --auto-discover
  wait_for 10 has_health rev.one || fail "no health key: $(tail -5 "$T/hb.log")"
  wait_for 10 has_health rev.two || fail "no health key for rev.two"
  l=$(lease_of "$PREFIX/rev.one/health")
  c1=$(hfield rev.one heartbeat_count)
  ectl lease revoke "$l" >/dev/null
  no_health rev.one || fail "etcd kept the key of a revoked lease"
  wait_for 2 has_health rev.one || fail "not back within about one interval (1 s): $(tail -5 "$T/hb.log")"
  l2=$(lease_of "$PREFIX/rev.one/health")
  [ -n "$l2" ] && [ "$l2" != "$l" ] || fail "the key came back under lease '$l2' (was $l)"
  [ "$(hfield rev.one heartbeat_count)" -gt "$c1" ] || fail "the count went back: $(health rev.one)"
  assert_eq "$(lease_of "$(claim_key rev.one)")" "$l2" "the claim's new lease"
  # told by the keep-alive's answer or by the heartbeat's Txn, whichever came first
  grep -qE "heartbeat of rev.one: lease $l (or its claim )?is gone \(expired.*; granting a new one" "$T/hb.log" ||
    fail "no log line for the lost lease: $(cat "$T/hb.log")"
  log_has "heartbeat of rev.one: lease $l2 granted again" || fail "no log line for the new lease"
  # the other one never noticed
  assert_eq "$(grep -c 'rev.two: lease' "$T/hb.log")" 1 "rev.two's lease lines"
  # a claim key deleted by hand (its lease lives on): taken again, the old lease revoked
  ectl del "$(claim_key rev.two)" >/dev/null
  wait_for 3 has_claim rev.two || fail "the claim was not made again"
  wait_for 3 has_health rev.two || fail "rev.two lost its key"
  stop_hb
}

test_a_member_killed_and_the_leader_moved_while_heartbeating() {
  local i c1 leader_ep target_id st victim
  reg_config
  for i in 1 2 3; do service mv.s$i; done
  start_hb --auto-discover
  for i in 1 2 3; do wait_for 10 has_health mv.s$i || fail "no health key for mv.s$i"; done
  ectl_bg watch --prefix "$PREFIX/" >"$T/watch.out" 2>&1
  local wpid=$BG_PID
  echo "$wpid" >>"$T_FILE_DIR/.hbs"
  # the first member (where the client starts) killed: the stream moves on
  local leases
  leases=$(for i in 1 2 3; do lease_of "$PREFIX/mv.s$i/health"; done)
  victim=1
  kill -9 "$(cat "$(dirname "$CFG")/etcd$victim.pid")"
  c1=$(hfield mv.s1 heartbeat_count)
  sleep $((TTL + 2))
  for i in 1 2 3; do has_health mv.s$i || fail "mv.s$i lost its key with a member down: $(tail -5 "$T/hb.log")"; done
  # (the first calls after the kill wait for the dead member's connection, then an
  # election: a few seconds in which writes stall while the keep-alives go on)
  wait_for 5 count_ge mv.s1 $((c1 + 2)) ||
    fail "mv.s1 was not renewed with a member down: count $c1, then $(hfield mv.s1 heartbeat_count)"
  assert_eq "$(for i in 1 2 3; do lease_of "$PREFIX/mv.s$i/health"; done)" "$leases" "the leases (none lost)"
  # the leader moved to the other living member
  # (the simple format: ids in hex, which JSON's numbers would round)
  st=$(ectl endpoint status 2>/dev/null)
  leader_ep=$(awk -F', ' '$5 == "true" {print $1}' <<<"$st" | head -1)
  target_id=$(awk -F', ' '$5 == "false" {print $2}' <<<"$st" | head -1)
  [ -n "$leader_ep" ] && [ -n "$target_id" ] || fail "no leader or no other member: $st"
  etcdctl --endpoints="$leader_ep" move-leader "$target_id" || fail "move-leader failed"
  c1=$(hfield mv.s2 heartbeat_count)
  sleep $((TTL + 2))
  for i in 1 2 3; do has_health mv.s$i || fail "mv.s$i lost its key after the leader moved: $(tail -5 "$T/hb.log")"; done
  wait_for 5 count_ge mv.s2 $((c1 + 2)) ||
    fail "mv.s2 was not renewed after the leader moved: count $c1, then $(hfield mv.s2 heartbeat_count)"
  assert_eq "$(for i in 1 2 3; do lease_of "$PREFIX/mv.s$i/health"; done)" "$leases" "the leases after the move"
  ! grep -q '^DELETE' "$T/watch.out" || fail "a health key was deleted meanwhile: $(grep -A1 '^DELETE' "$T/watch.out")"
  kill "$wpid" 2>/dev/null
  stop_hb
  assert_eq "$HBRC" 0 "the exit code"
  for i in 1 2 3; do no_health mv.s$i || fail "mv.s$i's key is left after SIGTERM"; done
  "$RV_BIN" --config "$CFG" --no-progress cluster up >/dev/null 2>&1 || fail "the killed member did not come back"
}

test_registry_status_exit_codes_and_json() {
  reg_config
  service st.up 'command: ["true"]'
  service st.missing
  pattern st.pat
  rr registry status
  assert_rc 1
  assert_out_contains "NAMESPACE"
  start_hb --namespace st.up
  wait_for 10 has_health st.up || fail "no health key: $(tail -5 "$T/hb.log")"
  rr -o json registry status
  assert_rc 1 # st.missing has no heartbeat
  assert_eq "$(json_get .ok)" false "ok"
  assert_eq "$(json_get '.capabilities | map(.namespace) | join(",")')" "st.missing,st.pat,st.up" "the rows"
  assert_eq "$(json_get '.capabilities[] | select(.namespace == "st.missing") | .health')" missing "st.missing's health"
  assert_eq "$(json_get '.capabilities[] | select(.namespace == "st.pat") | .type')" pattern "st.pat's type"
  assert_eq "$(json_get '.capabilities[] | select(.namespace == "st.pat") | .health')" "-" "st.pat's health"
  assert_eq "$(json_get '.capabilities[] | select(.namespace == "st.up") | .health')" healthy "st.up's health"
  assert_eq "$(json_get '.capabilities[] | select(.namespace == "st.up") | .version')" 1.0.0 "st.up's version"
  [ "$(json_get '.capabilities[] | select(.namespace == "st.up") | .lease_ttl_s')" -le $TTL ] || fail "lease_ttl_s: $OUT"
  [ "$(json_get '.capabilities[] | select(.namespace == "st.up") | .heartbeat_count')" -ge 1 ] || fail "count: $OUT"
  [ "$(json_get '.capabilities[] | select(.namespace == "st.up") | .heartbeat_age_s | . < 3')" = true ] || fail "age: $OUT"
  [[ $(json_get '.capabilities[] | select(.namespace == "st.up") | .kept_by') == *"(pid $HBPID)" ]] || fail "kept_by: $OUT"
  # every Service-type capability healthy: exit 0; keys in etcd without a manifest are rows too
  rm "$T/caps/st.missing.yaml"
  ectl put "$PREFIX/st.other/type" pattern >/dev/null
  ectl put "$PREFIX/st.other/version" 2.1.0 >/dev/null
  rr registry status
  assert_ok
  assert_out_contains "st.other"
  grep -E '^st\.up +service +1\.0\.0 +healthy ' <<<"$OUT" >/dev/null || fail "the st.up row: $OUT"
  rr -o json registry status
  assert_ok
  assert_eq "$(json_get '.capabilities[] | select(.namespace == "st.other") | [.in_manifests, .in_etcd, .version] | join(",")')" \
    "false,true,2.1.0" "st.other"
  # an unhealthy service: exit 1
  service st.up 'command: ["false"]'
  stop_hb
  start_hb --namespace st.up
  wait_for 10 status_is st.up unhealthy || fail "st.up not unhealthy: $(health st.up)"
  rr -o json registry status
  assert_rc 1
  assert_eq "$(json_get '.capabilities[] | select(.namespace == "st.up") | .detail')" "exit 1" "the detail"
  # stopped: the heartbeat is missing
  stop_hb
  rr registry status
  assert_rc 1
  grep -E '^st\.up +service +1\.0\.0 +missing ' <<<"$OUT" >/dev/null || fail "the st.up row after the stop: $OUT"
}

# The run loop, the etcd workers, the check threads and the command's own thread
# through every path that hands a target from one to another: targets added,
# removed and changed, checks failing and passing, a lease revoked by hand, the stop.
test_no_data_race_under_threadsanitizer() {
  local i l closed
  make -s -C "$RV_ROOT" TSAN=1 build/tsan/regvault >/dev/null 2>&1 || skip "no ThreadSanitizer build here"
  export TSAN_OPTIONS="halt_on_error=1 exitcode=66 report_thread_leaks=0 suppressions=$RV_ROOT/tests/tsan.supp"
  HB_BIN=$RV_ROOT/build/tsan/regvault
  reg_config
  closed=$(free_port)
  for i in 1 2 3 4; do service ts.plain$i; done
  for i in 1 2 3; do service ts.ok$i 'command: ["true"]'; done
  service ts.bad 'command: ["false"]'
  service ts.http "$(printf 'http: http://127.0.0.1:%s/\ntimeout: 1s' "$closed")"
  start_hb --auto-discover
  for i in 1 2 3 4; do wait_for 20 has_health ts.plain$i || fail "no key for ts.plain$i: $(tail -5 "$T/hb.log")"; done
  wait_for 20 status_is ts.http unhealthy || fail "ts.http: $(health ts.http)"
  rm "$T/caps/ts.plain4.yaml"
  service ts.new1
  service ts.bad 'command: ["true"]'
  l=$(lease_of "$PREFIX/ts.plain1/health")
  ectl lease revoke "$l" >/dev/null
  wait_for 20 new_lease "$PREFIX/ts.plain1/health" "$l" || fail "ts.plain1 not granted again: $(tail -5 "$T/hb.log")"
  wait_for 20 has_health ts.new1 || fail "ts.new1 did not start"
  wait_for 20 status_is ts.bad healthy || fail "ts.bad: $(health ts.bad)"
  wait_for 20 no_health ts.plain4 || fail "ts.plain4 was not stopped"
  run "$HB_BIN" --config "$RCFG" registry status
  [ "$RC" -eq 1 ] || fail "registry status under TSan: exit $RC: $ERR"
  stop_hb
  ! grep -q "ThreadSanitizer" "$T/hb.log" || fail "$(grep -m1 -A12 'WARNING: ThreadSanitizer' "$T/hb.log")"
  assert_eq "$HBRC" 0 "the exit code under TSan"
  no_health ts.plain1 || fail "keys left after the stop"
}

test_options_and_usage_errors() {
  reg_config
  rr registry heartbeat
  assert_rc 2
  assert_err_contains "name the capabilities to heartbeat with --namespace NS, or --auto-discover"
  rr registry heartbeat --namespace a.b --ttl 2.5s
  assert_rc 2
  assert_err_contains "--ttl takes whole seconds"
  rr registry heartbeat --namespace a.b --interval 5 --ttl 3
  assert_rc 2
  assert_err_contains "must be shorter than --ttl"
  rr registry heartbeat --namespace Not/A.Namespace
  assert_rc 2
  assert_err_contains "--namespace takes a capability namespace"
  rr registry heartbeat --namespace a.b --interval soon
  assert_rc 2
  assert_err_contains "--interval takes a duration"
  rr registry heartbeat --auto-discover --capabilities "$T/empty"
  assert_rc 1
  assert_err_contains "no Service-type capability in $T/empty"
  rr registry heartbeat --help
  assert_ok
  assert_out_contains "--auto-discover"
  rr registry status --help
  assert_ok
  assert_out_contains "heartbeat_age_s"
  rr registry status extra
  assert_rc 2
}
