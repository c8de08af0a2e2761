# The maint commands on a three-member cluster with authentication enabled: every
# call carries the root user's token (Defragment, HashKV, MoveLeader and alarms are
# admin calls in etcd).

setup_file() {
  start_cluster "$T_FILE_DIR/c" || return 1
  ectl user add root:maint-root-pw >/dev/null
  ectl auth enable >/dev/null
  printf 'maint-root-pw\n' >"$T_FILE_DIR/c/password"
  chmod 600 "$T_FILE_DIR/c/password"
  sed -i "s|^cluster:\$|cluster:\n  auth:\n    user: root\n    password_file: $T_FILE_DIR/c/password|" "$CFG"
  grep -q "password_file" "$CFG" || { echo "cannot add auth to $CFG"; return 1; }
  export_env CFG ENDPOINTS
}

actl() { ectl --user root:maint-root-pw "$@"; }

test_maint_works_with_authentication() {
  actl put /auth/a 1 >/dev/null
  rv maint alarms
  assert_ok
  rv -o json maint compact --keep-revisions 0
  assert_ok
  rv -o json maint defrag --rule true --move-leader
  assert_ok
  assert_eq "$(json_get .defragmented)" 3
  [ -n "$(json_get .leader_moved_to)" ] || fail "leadership was not moved"
  rv -o json maint hashcheck
  assert_ok
  assert_eq "$(json_get .consistent)" true
  rv maint recover-space
  assert_ok
  rv -o json maint perfcheck --duration 2s
  [ "$RC" -eq 0 ] || [ "$RC" -eq 1 ] || fail "perfcheck: exit $RC"
  assert_eq "$(json_get .errors)" 0
  assert_eq "$(actl get --prefix /regvault/ --keys-only | grep -c .)" 0 "keys left under /regvault/"
}

test_a_wrong_password_is_refused_before_anything_changes() {
  printf 'not-the-password\n' >"$T/password"
  chmod 600 "$T/password"
  sed "s|password_file: .*|password_file: $T/password|" "$CFG" >"$T/wrong.yaml"
  run "$RV_BIN" --config "$T/wrong.yaml" --no-progress maint defrag --rule true
  assert_rc 1
  assert_err_contains "nothing was changed"
}
