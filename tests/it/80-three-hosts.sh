# Three hosts in network namespaces (tests/netns-lib.sh): one etcd member and one
# regvault daemon on each, the agents talking mutual TLS over a bridge. Every
# daemon's agent answers from any host; an agent whose certificate is from another
# CA is refused, and a host whose link is cut is unreachable within the deadline,
# both named; the daemons elect one leader, and another within the TTL when the
# leader's daemon is killed; a member killed is restarted by its own host's daemon only;
# daemon status on any host shows every host and where each job last ran.

source "$RV_ROOT/tests/three-hosts-lib.sh"

setup_file() {
  netns_available || { echo "no network namespaces here (root and ip netns needed)"; return 1; }
  export_env NETNS_PREFIX
  netns_setup 3
  make_certs "$T_FILE_DIR/pki" 3
  for i in 1 2 3; do mkdir -p "$T_FILE_DIR/h$i"; host_config "$i"; done
  for i in 1 2 3; do start_daemon "$i" & done
  wait
  for i in 1 2 3; do [ -s "$T_FILE_DIR/d$i.pid" ] && kill -0 "$(cat "$T_FILE_DIR/d$i.pid")"; done
  # the daemons start their own members; wait for the cluster
  wait_for 40 all_healthy_from 1 || { echo "the cluster did not come up: $ERR"; tail -5 "$T_FILE_DIR"/daemon*.log; return 1; }
}

teardown_file() {
  netns_teardown
}

test_every_agent_answers_from_every_host() {
  local i
  for i in 1 2 3; do
    on "$i" cluster status -o json
    assert_ok
    assert_eq "$(json_get '[.[] | select(.agent.reachable)] | length')" 3 "agents reachable from host $i"
    assert_eq "$(json_get '.[2].agent.address')" "$NETNS_SUBNET.3:9480" "etcd3's agent address"
    assert_eq "$(json_get '.[1].agent.running')" true "etcd2 running, as its host says"
    [ "$(json_get '.[0].agent.disk_free_bytes')" -gt 0 ] || fail "no disk free from host 1's agent"
  done
  on 2 cluster status
  assert_ok
  assert_out_contains "HOST"
  [[ $OUT != *unreachable* ]] || fail "a host shows unreachable: $OUT"
}

test_one_leader_seen_by_all() {
  local l1 l2 l3
  wait_for 10 eval '[ "$(leader_seen_by 1)" != null ] && [ -n "$(leader_seen_by 1)" ]' || fail "no leader"
  l1=$(leader_seen_by 1)
  wait_for 5 eval '[ "$(leader_seen_by 2)" = "$l1" ] && [ "$(leader_seen_by 3)" = "$l1" ]' ||
    fail "the daemons disagree on the leader: $l1 $(leader_seen_by 2) $(leader_seen_by 3)"
  l2=$(leader_seen_by 2); l3=$(leader_seen_by 3)
  assert_eq "$l2" "$l1" "the leader host 2 sees"
  assert_eq "$l3" "$l1" "the leader host 3 sees"
  [[ $l1 == etcd[123] ]] || fail "leader is '$l1'"
}

# daemon status on a follower's host: every host's row from its agent, the leader
# marked, and a cluster-wide job's last run from the leader's host, where it ran.
test_daemon_status_shows_every_host_and_where_jobs_ran() {
  local l f i
  wait_for 10 eval 'l=$(leader_seen_by 1); [ -n "$l" ] && [ "$l" != null ]' || fail "no leader"
  l=$(leader_seen_by 1)
  f=$(( ${l#etcd} % 3 + 1 ))
  # a hashcheck run now, on the leader's host
  on "${l#etcd}" run hashcheck
  assert_ok
  on "$f" -o json daemon status
  assert_ok
  assert_eq "$(json_get '.hosts | length')" 3 "hosts in daemon status"
  assert_eq "$(json_get '[.hosts[] | select(.agent.reachable)] | length')" 3 "hosts whose agent answered"
  assert_eq "$(json_get '[.hosts[] | select(.leader)] | .[0].member')" "$l" "the host marked leader"
  assert_eq "$(json_get '[.hosts[] | select(.this_host)] | .[0].member')" "etcd$f" "the host marked as this one"
  assert_eq "$(json_get '.jobs[] | select(.job == "hashcheck") | .last_run.member')" "$l" "where hashcheck last ran"
  on "$f" daemon status
  assert_ok
  assert_out_contains "LEADER"
  assert_out_contains "(ran on $l's host)"
}

test_agent_with_a_certificate_from_another_ca_is_refused() {
  local pid
  pid=$(cat "$T_FILE_DIR/d3.pid")
  kill "$pid"; wait_for 10 eval '! kill -0 '"$pid"' 2>/dev/null' || fail "daemon 3 did not stop"
  host_config 3 other3
  start_daemon 3 || fail "daemon 3 with the other CA's certificate did not start"
  on 1 cluster status -o json
  assert_rc 1
  assert_eq "$(json_get '.[2].agent.reachable')" false "host 3 reachable with the other CA's certificate"
  assert_err_contains "host $NETNS_SUBNET.3 (agent $NETNS_SUBNET.3:9480, member etcd3) cannot be reached with mutual TLS"
  assert_eq "$(json_get '.[0].agent.reachable')" true "host 1 reachable"
  # and the other way: a caller with the other CA's certificate is refused by every agent
  host_config 1 other1
  on 1 cluster status -o json
  assert_rc 1
  assert_eq "$(json_get '[.[] | select(.agent.reachable)] | length')" 0 "agents that answered a caller of the other CA"
  host_config 1
  pid=$(cat "$T_FILE_DIR/d3.pid")
  kill "$pid"; wait_for 10 eval '! kill -0 '"$pid"' 2>/dev/null'
  host_config 3
  start_daemon 3 || fail "daemon 3 did not start again"
  on 1 cluster status -o json
  assert_eq "$(json_get '.[2].agent.reachable')" true "host 3 reachable again"
}

# A SIGHUP with another certificate (keys rotated): the agent serves with the new
# one at once, without a restart of the daemon; and back.
test_a_reload_restarts_the_agent_with_new_certificates() {
  local pid
  pid=$(cat "$T_FILE_DIR/d3.pid")
  host_config 3 other3
  kill -HUP "$pid"
  wait_for 10 eval 'on 1 cluster status -o json; [ "$(json_get ".[2].agent.reachable")" = false ]' ||
    fail "host 3 still answers with the old certificate after the reload"
  grep -q "agent: restarted with the new configuration" "$T_FILE_DIR/daemon3.log" || fail "no restart of the agent logged"
  host_config 3
  kill -HUP "$pid"
  wait_for 10 eval 'on 1 cluster status -o json; [ "$(json_get ".[2].agent.reachable")" = true ]' ||
    fail "host 3 unreachable after the reload back: $ERR"
  kill -0 "$pid" || fail "daemon 3 is gone"
}

test_a_host_cut_off_is_unreachable_within_the_deadline() {
  local t0 t1
  netns_cut 2
  t0=$(date +%s%N)
  on 1 cluster status -o json
  t1=$(date +%s%N)
  netns_mend 2
  assert_rc 1
  assert_eq "$(json_get '.[1].agent.reachable')" false "host 2 reachable with its link cut"
  assert_err_contains "host $NETNS_SUBNET.2 (agent $NETNS_SUBNET.2:9480, member etcd2) does not answer within 2.0 s"
  assert_eq "$(json_get '.[2].agent.reachable')" true "host 3 reachable"
  [ $(((t1 - t0) / 1000000)) -lt 9000 ] || fail "cluster status took $(((t1 - t0) / 1000000)) ms"
  wait_for 20 all_healthy_from 1 || fail "the cluster is not healthy after the link came back"
}

test_the_leader_killed_another_leads_within_the_ttl() {
  local l1 i k pid
  wait_for 10 eval 'l1=$(leader_seen_by 1); [ -n "$l1" ] && [ "$l1" != null ]' || fail "no leader"
  l1=$(leader_seen_by 1)
  k=${l1#etcd}
  pid=$(cat "$T_FILE_DIR/d$k.pid")
  kill -9 "$pid"
  i=$((k % 3 + 1))
  # the lease (3 s) must end, then the next daemon's try wins
  wait_for 8 eval 'l=$(leader_seen_by '"$i"'); [ -n "$l" ] && [ "$l" != null ] && [ "$l" != "$l1" ]' ||
    fail "no other leader within 8 s of the kill (host $i sees '$(leader_seen_by "$i")')"
  local other=$((i % 3 + 1))
  [ "$other" = "$k" ] && other=$((other % 3 + 1))
  wait_for 3 eval '[ "$(leader_seen_by '"$other"')" = "$(leader_seen_by '"$i"')" ]' ||
    fail "hosts $i and $other disagree on the new leader"
  start_daemon "$k" || fail "daemon $k did not start again"
}

test_a_member_killed_is_restarted_by_its_own_hosts_daemon_only() {
  local pid new
  pid=$(cat "$T_FILE_DIR/h2/etcd2.pid")
  kill -0 "$pid" || fail "etcd2 (pid $pid) is not running"
  kill -9 "$pid"
  wait_for 20 eval 'new=$(cat "$T_FILE_DIR/h2/etcd2.pid" 2>/dev/null); [ -n "$new" ] && [ "$new" != '"$pid"' ] && kill -0 "$new" 2>/dev/null' ||
    fail "etcd2 was not restarted: $(tail -3 "$T_FILE_DIR/daemon2.log")"
  # the pid file is written just before the exec, the daemon's line just after the spawn
  wait_for 5 grep -q "restarted member etcd2" "$T_FILE_DIR/daemon2.log" || fail "host 2's daemon did not restart it: $(tail -3 "$T_FILE_DIR/daemon2.log")"
  ! grep -qE "member etcd2 .*died|start(ed|ing) member etcd2|member etcd2 is not running" "$T_FILE_DIR/daemon1.log" "$T_FILE_DIR/daemon3.log" ||
    fail "another host's daemon acted on etcd2: $(grep -hE "etcd2 .*died|member etcd2" "$T_FILE_DIR/daemon1.log" "$T_FILE_DIR/daemon3.log" | head -3)"
  wait_for 20 all_healthy_from 3 || fail "the cluster is not healthy after the restart"
}

# cluster up from one host when a member on another cannot start: the error quotes
# that member's own log on its host, through the agent. (One that starts and dies
# later is explained the same way, from MemberLogTail.) A cluster down through the
# agents is not fought by the hosts' own daemons.
test_cluster_up_quotes_the_log_of_a_member_that_fails_on_another_host() {
  local holder
  on 1 cluster down
  assert_ok
  # etcd2's client port taken on host 2: its etcd exits at once
  ip netns exec "${NETNS_PREFIX}h2" python3 -c 'import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((sys.argv[1], 2379)); s.listen(); time.sleep(60)' "$NETNS_SUBNET.2" &
  holder=$!
  sleep 0.5
  on 1 cluster up --wait 6s
  kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
  assert_rc 1
  # the start fails on host 2 and its agent answers with the member's own log there
  assert_err_contains "member etcd2"
  assert_err_contains "$T_FILE_DIR/h2/etcd2.log"
  assert_err_contains "bind: address already in use"
  on 1 cluster up --wait 30s
  assert_ok
  wait_for 20 all_healthy_from 3 || fail "the cluster is not healthy after the second cluster up"
}
