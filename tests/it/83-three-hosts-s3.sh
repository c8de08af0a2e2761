# The restore across hosts (issue 15) from an S3 store: every host fetches the
# artifact from the store itself, with its own store.url and credentials, and checks
# it against the sha256 the coordinator read from the artifact's manifest; nothing
# is streamed. The S3 server (a real Ceph RGW, tests/s3-rgw) runs in a fifth network
# namespace on the test bridge ($NETNS_SUBNET.10): reachable from the host namespaces
# only, never from the machine's own. The rest of the fixture is 81's (one member and
# one daemon per host namespace, agents on mutual TLS). Cases: a full restore from
# host 2 where every host fetched from S3; one host cut from RGW only during the
# prepare (refused, the host named, nothing stopped); the artifact's bytes in S3 not
# those its manifest names (refused, host, artifact and both digests named, nothing
# stopped); --dry-run asking every host whether it reaches the store; a coordinator
# on another store (--store) refused by the hosts; --from-file still streamed to
# every host.

source "$RV_ROOT/tests/three-hosts-lib.sh"

S3_OCTET=10
S3_PORT=7480
S3_PREFIX=three

# Every host's store: the same bucket and prefix, its own copy of the secret (0600).
host_store() {
  printf '%s\n' "$S3_SECRET_KEY" >"$T_FILE_DIR/h$1/s3-secret"
  chmod 600 "$T_FILE_DIR/h$1/s3-secret"
  echo "store:"
  echo "  url: s3://$S3_BUCKET/$S3_PREFIX"
  echo "  s3:"
  echo "    endpoint: $S3_ENDPOINT"
  echo "    region: $S3_REGION"
  echo "    access_key_id: $S3_ACCESS_KEY"
  echo "    secret_access_key_file: $T_FILE_DIR/h$1/s3-secret"
  echo "    timeout_s: 10"
}

# Run by restore_hosts_up once the namespaces exist: RGW inside a namespace of its
# own on the bridge, its S3 endpoint bound to that namespace's address only.
restore_hosts_network() {
  local b
  for b in ceph-mon ceph-osd radosgw; do
    command -v "$b" >/dev/null || { echo "no $b here (tests/s3-rgw needs Ceph RGW)"; return 1; }
  done
  netns_add s3 "$S3_OCTET"
  RGW_DIR=$T_FILE_DIR/rgw
  export_env RGW_DIR
  ip netns exec "$NS_s3" env RGW_BIND="$NETNS_SUBNET.$S3_OCTET" RGW_PORT=$S3_PORT \
    bash "$RV_ROOT/tests/s3-rgw/start-rgw.sh" "$RGW_DIR" >/dev/null || return 1
  # shellcheck disable=SC1091
  source "$RGW_DIR/s3.env"
  export_env S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY S3_BUCKET S3_REGION
  mkdir -p "$T_FILE_DIR/h1" "$T_FILE_DIR/h2" "$T_FILE_DIR/h3"
}

setup_file() {
  restore_hosts_up || return 1
  ectl_on 1 put /t/a before >/dev/null
  on 2 -o json snapshot save
  [ "$RC" = 0 ] || { echo "snapshot save on host 2: $ERR"; return 1; }
  SNAP=$(jq -r .name <<<"$OUT")
  export_env SNAP
}

teardown_file() {
  [ -n "${RGW_DIR:-}" ] && [ -d "$RGW_DIR" ] && bash "$RV_ROOT/tests/s3-rgw/stop-rgw.sh" "$RGW_DIR" --purge >/dev/null 2>&1
  netns_teardown
}

member_pids() { cat "$T_FILE_DIR"/h*/etcd*.pid; }
on_hooked() { local i=$1; shift; run ip netns exec "${NETNS_PREFIX}h$i" "$RV_HOOKS_BIN" --config "$T_FILE_DIR/cfg$i.yaml" --no-progress "$@"; }
locks_taken() { local i; for i in 1 2 3; do [ -e "$T_FILE_DIR/h$i/state/coordinator-lock.json" ] || return 1; done; }
# s3 METHOD KEY [FILE]: a signed request to RGW from host 2 (GET into FILE, PUT from it)
s3() {
  local url="$S3_ENDPOINT/$S3_BUCKET/$S3_PREFIX/$2"
  local -a a=(curl -sf --max-time 30 --aws-sigv4 "aws:amz:$S3_REGION:s3" -u "$S3_ACCESS_KEY:$S3_SECRET_KEY"
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
  case $1 in
  GET) on_host 2 "${a[@]}" -o "$3" "$url" ;;
  PUT) on_host 2 "${a[@]}" -T "$3" "$url" >/dev/null ;;
  esac
}
nothing_left() {
  local i
  for i in 1 2 3; do
    assert_no_file "$T_FILE_DIR/h$i/state/member-restore-journal.json"
    assert_no_file "$T_FILE_DIR/h$i/.regvault-restore-staging/etcd$i"
    assert_no_file "$T_FILE_DIR/h$i/.regvault-restore-staging/received-etcd$i.db"
  done
}

# RGW's anonymous answer to GET / is its bucket listing. In the machine's own
# namespace nothing has an address on the test subnet, and what answers there (a
# request may go out by the default route; some sandboxes answer any address) is not
# RGW.
test_the_s3_server_answers_on_the_test_network_only() {
  run on_host 1 curl -s --max-time 5 "$S3_ENDPOINT/"
  assert_ok
  assert_out_contains "ListAllMyBucketsResult"
  run curl -s --max-time 3 "$S3_ENDPOINT/"
  assert_out_not_contains "ListAllMyBucketsResult"
  run ip -o addr show
  assert_out_not_contains " $NETNS_SUBNET."
}

test_a_restore_from_host_2_has_every_host_fetch_from_s3() {
  local i v
  ectl_on 1 put /t/a after >/dev/null || fail "put failed"
  ectl_on 3 put /t/b after >/dev/null || fail "put failed"
  on 2 -o json restore --from "$SNAP" --yes --force
  assert_ok
  assert_eq "$(json_get .result)" restored result
  assert_eq "$(json_get '[.hosts[] | select(.artifact_source == "store")] | length')" 3 "hosts that fetched from the store"
  assert_eq "$(json_get '[.hosts[] | select(.artifact_bytes > 0 and .artifact_seconds >= 0)] | length')" 3 \
    "hosts with artifact_bytes and artifact_seconds"
  # the keys operators' scripts read are all still there
  for k in member agent phase old_data_dir error; do
    assert_eq "$(json_get "[.hosts[] | has(\"$k\")] | all")" true "hosts[].$k"
  done
  for i in 1 2 3; do
    grep -q "fetched $SNAP from the store" "$T_FILE_DIR/daemon$i.log" || fail "host $i's daemon did not fetch it itself"
  done
  # the coordinator streamed nothing: no agent received a chunk
  for i in 1 2 3; do
    [ "$(grep -c "fetching it from s3://$S3_BUCKET/$S3_PREFIX" "$T_FILE_DIR/daemon$i.log")" -ge 1 ] ||
      fail "host $i's agent was not asked to fetch from the store"
  done
  wait_for 20 all_healthy_from 2 || fail "the restored cluster is not healthy: $ERR"
  for i in 1 2 3; do
    v=$(ectl_on "$i" get /t/a --print-value-only) || fail "get from etcd$i failed"
    assert_eq "$v" before "/t/a on etcd$i"
    v=$(ectl_on "$i" get /t/b --print-value-only)
    assert_eq "$v" "" "/t/b (written after the snapshot) on etcd$i"
  done
  nothing_left
  on 2 -o json maint hashcheck
  assert_ok
  on 1 restore --from "$SNAP" --yes --force
  assert_ok
  assert_out_contains "fetched the artifact from the store"
}

# Host 3 loses its route to RGW while the coordinator waits before the prepare (its
# locks taken, the manifest read): the prepare fails on host 3 only.
test_a_host_cut_from_s3_during_the_prepare_refuses_the_restore() {
  local before
  need_test_hooks
  wait_for 20 all_healthy_from 1 || fail "the cluster is not healthy before: $ERR"
  before=$(member_pids)
  rm -f "$T/cut"
  (
    wait_for 30 locks_taken && ip netns exec "${NETNS_PREFIX}h3" ip route add prohibit "$NETNS_SUBNET.$S3_OCTET" &&
      touch "$T/cut"
  ) &
  RV_TEST_PAUSE_AT=coordinator-preparing:3000 on_hooked 2 restore --from "$SNAP" --yes --force
  wait
  ip netns exec "${NETNS_PREFIX}h3" ip route del prohibit "$NETNS_SUBNET.$S3_OCTET" 2>/dev/null
  assert_file "$T/cut"
  assert_rc 1
  assert_err_contains "restore refused before any member was stopped"
  assert_err_contains "host $NETNS_SUBNET.3"
  assert_err_contains "member etcd3's host cannot fetch artifact $SNAP from its store s3://$S3_BUCKET/$S3_PREFIX"
  assert_err_contains "or restore from a snapshot file on the coordinator"
  assert_eq "$(member_pids)" "$before" "the members' pids (none was stopped)"
  nothing_left
  wait_for 20 all_healthy_from 1 || fail "the cluster is not healthy after: $ERR"
}

# --dry-run from S3: every host is asked whether it could fetch the artifact from its
# own store; one cut from RGW could not, and says why. Nothing changes either way.
test_a_dry_run_asks_every_host_whether_it_reaches_the_store() {
  local before
  before=$(member_pids)
  on 2 restore --dry-run --from "$SNAP"
  assert_ok
  assert_out_contains "every host could prepare"
  ip netns exec "${NETNS_PREFIX}h1" ip route add prohibit "$NETNS_SUBNET.$S3_OCTET"
  on 2 -o json restore --dry-run --from "$SNAP"
  ip netns exec "${NETNS_PREFIX}h1" ip route del prohibit "$NETNS_SUBNET.$S3_OCTET"
  assert_rc 1
  assert_eq "$(json_get '.hosts[0].could_prepare')" false "etcd1 could prepare"
  assert_eq "$(json_get '[.hosts[1:][] | .could_prepare] | all')" true "etcd2 and etcd3 could prepare"
  [[ $(json_get '.hosts[0].error') == *"member etcd1's host cannot read artifact $SNAP in its store s3://$S3_BUCKET/$S3_PREFIX"* ]] ||
    fail "etcd1's reason: $(json_get '.hosts[0].error')"
  assert_eq "$(member_pids)" "$before" "the members' pids"
  nothing_left
}

# The artifact's object holds other bytes (a later snapshot's) than its manifest
# names: every host's copy fails the sha256 the coordinator named.
test_an_artifact_whose_bytes_are_not_its_manifests_is_refused() {
  local before other named
  ectl_on 1 put /t/other x >/dev/null || fail "put failed"
  on 2 -o json snapshot save
  assert_ok
  other=$(json_get .name)
  named=$(on_host 2 "$RV_BIN" --config "$T_FILE_DIR/cfg2.yaml" -o json snapshot list | jq -r ".[] | select(.name == \"$SNAP\") | .sha256")
  [ ${#named} = 64 ] || fail "no sha256 listed for $SNAP: $named"
  s3 GET "$SNAP" "$T/orig" || fail "cannot read $SNAP from RGW"
  s3 GET "$other" "$T/other" || fail "cannot read $other from RGW"
  s3 PUT "$SNAP" "$T/other" || fail "cannot replace $SNAP in RGW"
  before=$(member_pids)
  on 2 restore --from "$SNAP" --yes --force
  s3 PUT "$SNAP" "$T/orig" || fail "cannot put $SNAP back"
  assert_rc 1
  assert_err_contains "restore refused before any member was stopped"
  assert_err_contains "artifact $SNAP fetched from s3://$S3_BUCKET/$S3_PREFIX on member etcd"
  assert_err_contains "not the $named the coordinator named"
  assert_err_contains "nothing was stopped"
  [[ $ERR == *"host $NETNS_SUBNET."* ]] || fail "no host named: $ERR"
  assert_eq "$(member_pids)" "$before" "the members' pids (none was stopped)"
  nothing_left
  wait_for 20 all_healthy_from 1 || fail "the cluster is not healthy after: $ERR"
}

# The coordinator restores from another S3 store (--store) than the hosts' store.url:
# every host refuses to fetch from a store its configuration does not name.
test_a_store_the_hosts_do_not_have_is_refused_by_every_host() {
  local before other
  on 2 -o json snapshot save --store "s3://$S3_BUCKET/elsewhere"
  assert_ok
  other=$(json_get .name)
  before=$(member_pids)
  on 2 restore --store "s3://$S3_BUCKET/elsewhere" --from "$other" --yes --force
  assert_rc 1
  assert_err_contains "restore refused before any member was stopped"
  assert_err_contains "the coordinator restores from s3://$S3_BUCKET/elsewhere but member etcd"
  assert_err_contains "has store.url s3://$S3_BUCKET/$S3_PREFIX"
  assert_eq "$(member_pids)" "$before" "the members' pids"
  nothing_left
}

# --from-file: the coordinator still streams the db to every host.
test_a_restore_from_a_file_is_streamed_to_every_host() {
  on_host 2 env ETCDCTL_API=3 etcdctl --endpoints="http://$NETNS_SUBNET.2:2379" snapshot save "$T/plain.db" >/dev/null ||
    fail "etcdctl snapshot save failed"
  on 2 -o json restore --from-file "$T/plain.db" --yes --force
  assert_ok
  assert_eq "$(json_get '[.hosts[] | select(.artifact_source == "streamed")] | length')" 3 "hosts sent the db"
  wait_for 20 all_healthy_from 2 || fail "the restored cluster is not healthy: $ERR"
}
