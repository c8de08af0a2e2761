# cluster up|down|status against a real three-member etcd cluster on free loopback
# ports: health and leadership, idempotence, a member killed and brought back,
# members that cannot start.


setup_file() {
  start_cluster "$T_FILE_DIR/c"
  export_env CFG ENDPOINTS
}

# client URL of member N (1-based) of $CFG
member_url() { cut -d, -f"$1" <<<"$ENDPOINTS"; }
pid_of() { cat "$(dirname "$CFG")/etcd$1.pid"; }

test_status_shows_one_leader_and_three_healthy_members() {
  rv -o json cluster status
  assert_ok
  assert_eq "$(json_get 'length')" 3 "rows"
  assert_eq "$(json_get '[.[] | select(.healthy == true)] | length')" 3 "healthy members"
  assert_eq "$(json_get '[.[] | select(.is_leader == true)] | length')" 1 "leaders"
  assert_eq "$(json_get '[.[].name] | join(",")')" "etcd1,etcd2,etcd3" "names"
  assert_eq "$(json_get '[.[].endpoint] | join(",")')" "$ENDPOINTS" "endpoints"
  # every field of the issue, with its type
  assert_eq "$(json_get '[.[] | (.id | test("^[0-9a-f]+$")) and (.version | type == "string")
      and (.db_size | type == "number") and (.db_size_in_use | type == "number")
      and (.raft_term | type == "number") and (.raft_index | type == "number")
      and (.alarms | type == "array") and (.is_leader | type == "boolean")] | all')" true "field types"
  # the ids are the members' ids as etcd lists them (hex, as etcdctl prints them)
  local want
  want=$(ectl member list | awk -F', ' '{print $3 "=" $1}' | sort | paste -sd' ')
  assert_eq "$(json_get '[.[] | .name + "=" + .id] | sort | join(" ")')" "$want" "member ids"
  # and every other command prints them the same way (etcdctl's: no leading zeros)
  rv -o json maint alarms
  assert_ok
  assert_eq "$(json_get '[.members[] | .name + "=" + .id] | sort | join(" ")')" "$want" "member ids in maint alarms"
  rv maint alarms
  assert_ok
  assert_eq "$(awk '/^etcd/ {print $1 "=" $2}' <<<"$OUT" | sort | paste -sd' ')" "$want" "member ids in the alarms table"

  rv cluster status
  assert_ok
  for col in NAME ENDPOINT ID VERSION "DB SIZE" "IN USE" LEADER "RAFT TERM" "RAFT INDEX" ALARMS HEALTHY; do
    assert_out_contains "$col"
  done
  # LEADER is the 8th field between '|' (1 is empty); one data row says true
  assert_eq "$(grep '^| etcd' <<<"$OUT" | awk -F'|' '{gsub(/ /, "", $8); print $8}' | grep -c true)" 1 "leader rows"
  assert_eq "$(grep '^| etcd' <<<"$OUT" | awk -F'|' '{gsub(/ /, "", $12); print $12}' | grep -c true)" 3 "healthy rows"
}

test_up_again_changes_nothing() {
  local before after
  before="$(pid_of 1) $(pid_of 2) $(pid_of 3)"
  rv cluster up
  assert_ok
  assert_out_contains "already running"
  assert_out_not_contains "started"
  after="$(pid_of 1) $(pid_of 2) $(pid_of 3)"
  assert_eq "$after" "$before" "pids after a second up"
}

test_killed_member_is_down_others_serve_and_up_brings_it_back() {
  local victim others i
  rv -o json cluster status
  assert_ok
  # a follower, so that the other two keep their leader
  victim=$(json_get '[.[] | select(.is_leader == false)][0].name')
  victim=${victim#etcd}
  others=
  for i in 1 2 3; do [ "$i" = "$victim" ] || others+="${others:+,}$(member_url "$i")"; done
  kill -9 "$(pid_of "$victim")"

  rv -o json cluster status
  assert_rc 1
  assert_eq "$(json_get ".[$((victim - 1))].healthy")" false "healthy of the killed member"
  assert_eq "$(json_get ".[$((victim - 1))].error")" "not running (start it with 'regvault cluster up')" "error"
  assert_eq "$(json_get '[.[] | select(.healthy == true)] | length')" 2 "healthy members"
  assert_err_contains "etcd$victim"

  rv cluster status
  assert_rc 1
  assert_out_contains "not running"

  # the other two still serve reads and writes
  run etcdctl --endpoints="$others" --command-timeout=10s put /t/while-down "v$victim"
  assert_ok
  run etcdctl --endpoints="$others" --command-timeout=10s get --print-value-only /t/while-down
  assert_ok
  assert_eq "$OUT" "v$victim" "value read from the other two"

  rv cluster up
  assert_ok
  assert_out_contains "started"
  rv -o json cluster status
  assert_ok
  assert_eq "$(json_get '[.[] | select(.healthy == true)] | length')" 3 "healthy members after up"
  assert_eq "$(json_get '[.[] | select(.is_leader == true)] | length')" 1 "leaders after up"
  # it caught up with what was written while it was down
  run etcdctl --endpoints="$(member_url "$victim")" --command-timeout=10s get --print-value-only /t/while-down
  assert_ok
  assert_eq "$OUT" "v$victim" "value read from the member brought back"
}

test_down_stops_all_and_is_idempotent_and_up_keeps_data() {
  local dir i pids
  dir=$(dirname "$CFG")
  pids="$(pid_of 1) $(pid_of 2) $(pid_of 3)"
  run ectl put /t/kept yes
  assert_ok

  rv cluster down
  assert_ok
  assert_out_contains "stopped"
  for i in 1 2 3; do assert_no_file "$dir/etcd$i.pid"; assert_file "$dir/etcd$i/member"; done
  for p in $pids; do
    if [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -q etcd; then fail "etcd pid $p still runs"; fi
  done
  rv cluster down
  assert_ok
  assert_out_contains "not running"
  rv -o json cluster status
  assert_rc 1
  assert_eq "$(json_get '[.[] | select(.healthy == false and .error != null)] | length')" 3 "members down"
  # with every member down, one sentence that names them once and says what to run
  local cmd
  for cmd in "snapshot save" "maint defrag" "maint compact" "maint alarms" "maint hashcheck"; do
    rv $cmd
    assert_rc 1
    assert_eq "$(wc -l <<<"$ERR")" 1 "lines on stderr from $cmd"
    assert_err_contains "(etcd1, etcd2, etcd3)"
    assert_err_contains "start them with 'regvault cluster up'"
    assert_eq "$(grep -o 'etcd2' <<<"$ERR" | wc -l)" 1 "times $cmd names etcd2"
  done

  # the same data dirs come back as the same cluster
  rv cluster up
  assert_ok
  run ectl get --print-value-only /t/kept
  assert_ok
  assert_eq "$OUT" yes "key written before down"
  rv cluster down
  assert_ok
}

# A second configuration in the test's own directory, cleaned up at the end.
own_cluster() {
  write_cluster_config "$T/c" "$1"
  echo "$CFG" >>"$T_FILE_DIR/.clusters"
}

test_member_whose_port_is_taken_fails_with_its_log() {
  local port srv
  own_cluster taken
  port=$(member_url 2)
  port=${port##*:}
  python3 -m http.server --bind 127.0.0.1 "$port" >/dev/null 2>&1 &
  srv=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  rv cluster up
  kill "$srv"
  assert_rc 1
  assert_err_contains "member etcd2"
  assert_err_contains "last lines of $T/c/etcd2.log"
  assert_err_contains "address already in use"
  grep -q '^    .*address already in use' <<<"$ERR" || fail "the member's log is not quoted line by line: ${ERR:0:300}"
  rv cluster down
  assert_ok
}

test_bad_etcd_binary_fails_naming_the_member() {
  own_cluster badbin
  sed -i 's|^  etcd:$|  etcd:\n    binary: /nonexistent/bin/etcd|' "$CFG"
  rv cluster up
  assert_rc 1
  assert_err_contains "member etcd1"
  assert_err_contains "/nonexistent/bin/etcd"
  assert_err_contains "last lines of $T/c/etcd1.log"
  assert_no_file "$T/c/etcd1.pid"
}

test_etcd_that_exits_at_once_fails_with_its_log() {
  own_cluster exits
  mkdir -p "$T/bin"
  printf '#!/bin/sh\necho "fake etcd: refusing to start (%s)" >&2\nexit 3\n' '$*' >"$T/bin/etcd"
  chmod +x "$T/bin/etcd"
  sed -i "s|^  etcd:\$|  etcd:\n    binary: $T/bin/etcd|" "$CFG"
  rv cluster up
  assert_rc 1
  assert_err_contains "exited while starting"
  assert_err_contains "fake etcd: refusing to start"
  assert_err_contains "--name=etcd"
}

test_usage_errors() {
  rv cluster
  assert_rc 2
  rv cluster frobnicate
  assert_rc 2
  assert_err_contains "unknown subcommand 'frobnicate'"
  rv cluster up --wait soon
  assert_rc 2
  assert_err_contains "--wait takes a duration"
  rv cluster down --bogus
  assert_rc 2
  rv cluster status extra
  assert_rc 2
  run "$RV_BIN" --config "$T/none.yaml" cluster status
  assert_rc 2
}

test_help_explains_each_command() {
  run "$RV_BIN" cluster --help
  assert_ok
  assert_out_contains "up"
  for sub in up down status; do
    run "$RV_BIN" cluster "$sub" --help
    assert_ok
    assert_out_contains "usage: regvault"
    assert_out_contains "Exit codes"
  done
  run "$RV_BIN" cluster up --help
  assert_out_contains "--wait"
  run "$RV_BIN" cluster down --help
  assert_out_contains "--timeout"
  run "$RV_BIN" cluster status --help
  assert_out_contains "db_size_in_use"
}

# A fake systemctl/journalctl in $T/bin: `start U` runs $T/units/U.sh in the
# background, `stop U` kills it, `show --property=MainPID --value U` prints its pid;
# every call is logged to $T/units/calls.
fake_systemd() {
  mkdir -p "$T/bin" "$T/units"
  cat >"$T/bin/systemctl" <<EOS
#!/bin/bash
U=$T/units
echo "\$*" >>"\$U/calls"
verb=\$1; unit=\${@: -1}
alive() { [ -f "\$U/\$unit.pid" ] && kill -0 "\$(cat "\$U/\$unit.pid")" 2>/dev/null; }
case \$verb in
  start)
    [ -x "\$U/\$unit.sh" ] || { echo "Failed to start \$unit: Unit \$unit not found." >&2; exit 5; }
    alive && exit 0
    setsid "\$U/\$unit.sh" </dev/null >>"\$U/\$unit.journal" 2>&1 &
    echo \$! >"\$U/\$unit.pid" ;;
  stop)
    alive && kill "\$(cat "\$U/\$unit.pid")"
    for _ in \$(seq 100); do alive || break; sleep 0.1; done
    rm -f "\$U/\$unit.pid" ;;
  show)
    if alive; then cat "\$U/\$unit.pid"; else echo 0; fi ;;
esac
EOS
  cat >"$T/bin/journalctl" <<EOS
#!/bin/bash
unit=\${@: -1}
tail -n 15 "$T/units/\$unit.journal" 2>/dev/null
EOS
  chmod +x "$T/bin/systemctl" "$T/bin/journalctl"
}

test_systemd_members_go_through_systemctl() {
  local cp pp dd
  own_cluster sysd
  fake_systemd
  # etcd3 is a systemd unit; its unit runs the same etcd regvault would
  sed -i '/name: etcd3/a\      control: systemd\n      unit: etcd3-test.service' "$CFG"
  cp=$(member_url 3); pp=$(sed -n 's/^ *peer_url: //p' "$CFG" | sed -n 3p); dd=$T/c/etcd3
  cat >"$T/units/etcd3-test.service.sh" <<EOS
#!/bin/sh
exec etcd --name etcd3 --data-dir $dd --listen-client-urls $cp --advertise-client-urls $cp \
  --listen-peer-urls $pp --initial-advertise-peer-urls $pp --initial-cluster-token sysd-test-$$ \
  --initial-cluster "$(sed -n 's/^ *- name: //p; s/^ *peer_url: //p' "$CFG" | paste -d= - - | paste -sd, -)"
EOS
  chmod +x "$T/units/etcd3-test.service.sh"
  sed -i "s|^  token: .*|  token: sysd-test-$$|" "$CFG"

  PATH=$T/bin:$PATH rv cluster up
  assert_ok
  assert_file "$T/c/etcd1.pid"
  assert_no_file "$T/c/etcd3.pid"
  grep -qx "start --no-block etcd3-test.service" "$T/units/calls" || fail "no systemctl start: $(cat "$T/units/calls")"
  PATH=$T/bin:$PATH rv -o json cluster status
  assert_ok
  assert_eq "$(json_get '[.[] | select(.healthy == true)] | length')" 3 "healthy members"

  PATH=$T/bin:$PATH rv cluster down
  assert_ok
  grep -qx "stop etcd3-test.service" "$T/units/calls" || fail "no systemctl stop: $(cat "$T/units/calls")"
  assert_no_file "$T/units/etcd3-test.service.pid"
}

test_systemd_unit_that_fails_to_start_names_the_member() {
  own_cluster sysdfail
  fake_systemd
  sed -i '/name: etcd2/a\      control: systemd\n      unit: missing.service' "$CFG"
  PATH=$T/bin:$PATH rv cluster up
  assert_rc 1
  assert_err_contains "member etcd2"
  assert_err_contains "Unit missing.service not found"
  PATH=$T/bin:$PATH rv cluster down
  assert_ok
}

test_two_ups_at_once_start_one_etcd_per_member() {
  local n
  own_cluster twice
  "$RV_BIN" --config "$CFG" --no-progress cluster up >"$T/up1.out" 2>&1 &
  rv cluster up
  wait $!
  assert_ok
  n=$(pgrep -f -- "--data-dir=$T/c/etcd" | wc -l)
  assert_eq "$n" 3 "etcd processes"
  rv cluster down
  assert_ok
}
