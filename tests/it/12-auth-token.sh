# Authentication tokens expire (etcd's simple tokens after --auth-token-ttl seconds
# without use): a long command must log in again and go on, not fail half way.
# Also exercises cluster.etcd.extra_args, which passes the TTL to the members.

setup_file() {
  start_cluster "$T_FILE_DIR/c" 's|^  etcd:$|  etcd:\n    extra_args: ["--auth-token-ttl=1"]|'
  grep -q -- "--auth-token-ttl=1" "$CFG"
  ectl user add root:token-test-pw >/dev/null
  ectl auth enable >/dev/null
  printf 'token-test-pw\n' >"$T_FILE_DIR/c/password"
  chmod 600 "$T_FILE_DIR/c/password"
  sed -i "s|^cluster:\$|cluster:\n  auth:\n    user: root\n    password_file: $T_FILE_DIR/c/password|" "$CFG"
  export_env CFG ENDPOINTS
}

test_members_run_with_the_extra_args() {
  local pid
  for pid in $(pgrep -x etcd); do
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$T_FILE_DIR/c/" || continue
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "--auth-token-ttl=1" || fail "member $pid lacks --auth-token-ttl=1"
  done
}

test_expired_token_is_renewed_mid_command() {
  # defrag waits 2 s between members: longer than the token lives
  rv -v -o json maint defrag --rule true --pause 2s
  assert_ok
  assert_eq "$(json_get .defragmented)" 3
  assert_err_contains "logging in again"
}

test_status_after_the_token_expired() {
  rv cluster status
  assert_ok
  sleep 2
  rv -o json cluster status
  assert_ok
  assert_eq "$(json_get '[.[] | select(.healthy)] | length')" 3
}

# A Watch opened after the token expired: etcd cancels the create ("invalid auth
# token"), the client logs in again and opens it; the keep-alive stream goes on.
test_streams_open_after_the_token_expired() {
  make -s -C "$RV_ROOT" build/etcd-tool >/dev/null || fail "cannot build build/etcd-tool"
  ETCD_ENDPOINTS=$ENDPOINTS ETCD_USER=root ETCD_PASSWORD_FILE=$T_FILE_DIR/c/password \
    run "$RV_ROOT/build/etcd-tool" idle-then-streams 2500
  assert_ok
  assert_out_contains "watch progress revision="
  assert_out_contains "ka id="
}
