# A member with TLS (client certificates required) and authentication enabled,
# started by hand, reached by `cluster status` with the configured CA, client
# certificate and user; a wrong password and a password file others can read.


# openssl: a CA, a server certificate for 127.0.0.1 and a client certificate.
make_certs() {
  local d=$1
  mkdir -p "$d"
  (
    cd "$d" || exit 1
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=regvault test CA" \
      -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=etcd1" -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile server.ext -out server.crt 2>/dev/null
    # The client certificate's CN is no etcd user: access comes from the password.
    openssl req -newkey rsa:2048 -nodes -subj "/CN=regvault-client" -keyout client.key -out client.csr 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile client.ext -out client.crt 2>/dev/null
    chmod 600 ./*.key
  )
  [ -s "$d/client.crt" ] && [ -s "$d/server.crt" ]
}

tls_ectl() {
  etcdctl --endpoints="$TLS_URL" --cacert="$PKI/ca.crt" --cert="$PKI/client.crt" --key="$PKI/client.key" \
    --command-timeout=10s "$@"
}

setup_file() {
  local dir=$T_FILE_DIR/m cp pp
  PKI=$T_FILE_DIR/pki
  make_certs "$PKI"
  cp=$(free_port); pp=$(free_port)
  TLS_URL=https://127.0.0.1:$cp
  mkdir -p "$dir"
  setsid etcd --name etcd1 --data-dir "$dir/etcd1" \
    --listen-client-urls "$TLS_URL" --advertise-client-urls "$TLS_URL" \
    --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
    --initial-cluster "etcd1=http://127.0.0.1:$pp" --initial-cluster-token tls-test-$$ \
    --cert-file "$PKI/server.crt" --key-file "$PKI/server.key" --trusted-ca-file "$PKI/ca.crt" \
    --client-cert-auth </dev/null >"$dir/etcd1.log" 2>&1 &
  for _ in $(seq 100); do tls_ectl endpoint health >/dev/null 2>&1 && break; sleep 0.2; done
  tls_ectl endpoint health
  tls_ectl user add root:s3cret-root-pw
  tls_ectl auth enable
  tls_ectl --user root:s3cret-root-pw put /t/k v

  printf 's3cret-root-pw\n' >"$dir/password"
  chmod 600 "$dir/password"
  CFG=$dir/regvault.yaml
  cat >"$CFG" <<EOF
cluster:
  name: tls
  token: tls-test
  members:
    - name: etcd1
      client_url: $TLS_URL
      peer_url: http://127.0.0.1:$pp
      data_dir: $dir/etcd1
  tls:
    ca_file: $PKI/ca.crt
    cert_file: $PKI/client.crt
    key_file: $PKI/client.key
  auth:
    user: root
    password_file: $dir/password
store:
  url: $dir/backups
state_dir: $dir/state
EOF
  export_env CFG PKI TLS_URL
}

# A copy of the configuration with its own password file.
config_with_password() { # PASSWORD MODE
  local pw=$T/password
  printf '%s\n' "$1" >"$pw"
  chmod "$2" "$pw"
  sed "s|password_file: .*|password_file: $pw|" "$CFG" >"$T/regvault.yaml"
  CFG=$T/regvault.yaml
}

test_status_over_tls_with_user_and_password() {
  rv -o json cluster status
  assert_ok
  assert_eq "$(json_get 'length')" 1 "rows"
  assert_eq "$(json_get '.[0].healthy')" true "healthy"
  assert_eq "$(json_get '.[0].is_leader')" true "is_leader"
  assert_eq "$(json_get '.[0].endpoint')" "$TLS_URL" "endpoint"
  assert_eq "$(json_get '.[0].version')" "$(etcd --version | sed -n 's/^etcd Version: //p')" "version"
  rv cluster status
  assert_ok
  assert_out_contains "etcd1"
  assert_out_not_contains "s3cret"
}

test_wrong_password_is_refused_clearly() {
  config_with_password not-the-password 600
  rv -o json cluster status
  assert_rc 1
  assert_err_contains "etcd1"
  [[ ${OUT,,}${ERR,,} == *auth* || ${OUT,,}${ERR,,} == *password* ]] ||
    fail "no word of authentication in: ${ERR:0:300}"
  assert_out_not_contains "not-the-password"
  [[ $ERR != *not-the-password* ]] || fail "the password reached stderr"
}

test_password_file_readable_by_others_is_a_configuration_error() {
  config_with_password s3cret-root-pw 644
  rv cluster status
  assert_rc 2
  assert_err_contains "chmod 600"
  [[ $ERR != *s3cret* ]] || fail "the password reached stderr"
}

test_without_client_certificate_the_member_refuses() {
  sed '/cert_file:/d; /key_file:/d' "$CFG" >"$T/regvault.yaml"
  CFG=$T/regvault.yaml
  rv -o json cluster status
  assert_rc 1
  assert_eq "$(json_get '.[0].healthy')" false "healthy"
  assert_err_contains "etcd1"
}

test_plaintext_client_cannot_reach_a_tls_member() {
  sed '/tls:/,/key_file:/d' "$CFG" >"$T/regvault.yaml"
  CFG=$T/regvault.yaml
  rv -o json cluster status
  assert_rc 1
  assert_eq "$(json_get '.[0].healthy')" false "healthy"
}

test_up_finds_the_member_started_by_hand_and_down_leaves_it() {
  rv cluster up
  assert_ok
  assert_out_contains "already running"
  assert_no_file "$T_FILE_DIR/m/etcd1.pid"
  rv cluster down
  assert_ok
  assert_out_contains "not started by regvault"
  rv -o json cluster status
  assert_ok
  assert_eq "$(json_get '.[0].healthy')" true "healthy after down"
}

test_up_with_a_wrong_password_fails_naming_the_member() {
  config_with_password not-the-password 600
  rv cluster up
  assert_rc 1
  assert_err_contains "member etcd1"
  assert_err_contains "authentication failed"
}

# The streams and Txn go over the same TLS channel with the same login
# (build/etcd-tool drives the etcd client, tests/tools/etcd_tool.c).
test_streams_and_txn_over_tls_with_user_and_password() {
  make -s -C "$RV_ROOT" build/etcd-tool >/dev/null || fail "cannot build build/etcd-tool"
  local et=$RV_ROOT/build/etcd-tool id
  export ETCD_ENDPOINTS=$TLS_URL ETCD_CA_FILE=$PKI/ca.crt ETCD_CERT_FILE=$PKI/client.crt \
    ETCD_KEY_FILE=$PKI/client.key ETCD_USER=root ETCD_PASSWORD_FILE=$T_FILE_DIR/m/password
  run "$et" txn --if "value /t/k = v" --then "put /t/txn yes" --then "get /t/ prefix count"
  assert_ok
  assert_out_contains "succeeded true"
  run "$et" watch /t/ --prefix --rev 1 --events 2
  assert_ok
  assert_out_contains "PUT /t/k=v"
  assert_out_contains "PUT /t/txn=yes"
  run "$et" lease grant 30
  assert_ok
  id=$(sed -n 's/^id=\([0-9a-f]*\) .*/\1/p' <<<"$OUT")
  run "$et" keepalive --lease "$id" --rounds 2 --interval 100
  assert_ok
  assert_eq "$(grep -c "^ka id=$id ttl=30" <<<"$OUT")" 2 "renewals"
}
