# NOSPACE on a real cluster with a tiny quota (16 MiB): defrag and compact still run,
# recover-space refuses to disarm while the members are still too full, and then
# makes the cluster writable again.

setup_file() {
  start_cluster "$T_FILE_DIR/c" 's/^  etcd:$/  etcd:\n    quota_backend_bytes: 16MiB/' || return 1
  grep -q "quota_backend_bytes: 16MiB" "$CFG" || { echo "cannot set the quota in $CFG"; return 1; }
  export_env CFG ENDPOINTS
}

# Overwrite a few keys with 100 kB values until etcd refuses: the history fills the
# quota, as it does in production when compaction falls behind.
fill_until_nospace() {
  local i
  head -c 75000 /dev/urandom | base64 -w0 >"$T/value"
  for i in $(seq 1 400); do
    if ! etcdctl --endpoints="$ENDPOINTS" put "/hist/$((i % 10))" <"$T/value" >/dev/null 2>"$T/put.err"; then
      grep -q "database space exceeded" "$T/put.err" || fail "put $i failed: $(tail -1 "$T/put.err")"
      return 0
    fi
  done
  fail "400 puts of 100 kB did not fill a 16 MiB quota"
}

# The member that refused the put raises the alarm through raft: the others list it
# a moment later (seen on a loaded machine), so look for a few seconds.
nospace_raised() {
  local i
  for i in $(seq 1 25); do
    ectl alarm list | grep -q NOSPACE && return 0
    sleep 0.2
  done
  return 1
}
# nospace_cleared: the alarm is gone from the list (within a few seconds).
nospace_cleared() {
  local i
  for i in $(seq 1 25); do
    ectl alarm list | grep -q NOSPACE || return 0
    sleep 0.2
  done
  return 1
}

test_alarms_name_nospace_and_defrag_runs_under_it() {
  fill_until_nospace
  nospace_raised || fail "no NOSPACE alarm after filling the quota"
  rv maint alarms
  assert_ok
  assert_out_contains "NOSPACE"
  rv -o json maint alarms
  assert_ok
  assert_eq "$(json_get '[.members[].alarms[]] | unique | join(",")')" NOSPACE
  # NOSPACE does not stop compaction and defragmentation: they are its cure.
  rv maint compact --keep-revisions 0
  assert_ok
  rv -o json maint defrag --rule true
  assert_ok
  assert_eq "$(json_get .defragmented)" 3
  # Defragmentation alone does not disarm.
  nospace_raised || fail "defrag disarmed NOSPACE"
  # alarms --disarm does, as etcdctl alarm disarm would.
  rv -o json maint alarms --disarm
  assert_ok
  [ "$(json_get .disarmed)" -ge 1 ] || fail "disarmed $(json_get .disarmed) alarms"
  assert_eq "$(json_get '[.members[].alarms[]] | length')" 0 "alarms left"
  nospace_cleared || fail "NOSPACE is still raised after --disarm"
  return 0
}

test_recover_space_keeps_nospace_armed_while_members_are_too_full() {
  fill_until_nospace
  cp "$CFG" "$T/strict.yaml"
  printf 'maint:\n  disarm_threshold: 0.01\n' >>"$T/strict.yaml"
  run "$RV_BIN" --config "$T/strict.yaml" --no-progress -o json maint recover-space
  assert_rc 1
  assert_err_contains "NOSPACE stays armed"
  assert_err_contains "quota_backend_bytes"
  assert_eq "$(json_get '[.steps[] | .result] | join(",")')" ok,ok,ok,failed,not-run
  assert_eq "$(json_get .ok)" false
  nospace_raised || fail "NOSPACE was disarmed although the members are above the limit"
}

test_recover_space_makes_the_cluster_writable_again() {
  fill_until_nospace
  run etcdctl --endpoints="$ENDPOINTS" put /after x
  assert_rc 1
  rv -o json maint recover-space
  assert_ok
  assert_eq "$(json_get '[.steps[] | .step] | join(",")')" alarms,compact,defrag,disarm,write
  assert_eq "$(json_get '[.steps[] | .result] | unique | join(",")')" ok
  assert_eq "$(json_get .nospace_before)" true
  assert_eq "$(json_get .disarmed)" true
  assert_eq "$(json_get .quota_bytes)" 16777216
  # The members agree: no alarm, writable, every db below the limit.
  nospace_cleared || fail "NOSPACE is still raised"
  run etcdctl --endpoints="$ENDPOINTS" put /after x
  assert_ok
  for s in $(ectl endpoint status -w json | jq -r '.[].Status.dbSize'); do
    [ "$s" -lt 15099494 ] || fail "a member's db is still $s bytes"
  done
  # The test write left nothing behind.
  assert_eq "$(ectl get --prefix /regvault/maint/ --keys-only | wc -l)" 0 "keys under /regvault/maint/"
  # Run again on a healthy cluster: nothing to disarm, still fine.
  rv maint recover-space
  assert_ok
  assert_out_contains "no NOSPACE alarm"
  assert_out_contains "accepts writes again"
}
