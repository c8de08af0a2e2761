# Configuration errors as the user sees them: regvault with a bad config prints one
# message naming the file, the key and its line, and exits 2. No cluster needed.

# check_config CFGFILE: run a command that loads the config first.
check_config() {
  run "$RV_BIN" --config "$1" --no-progress cluster status
  [[ $ERR == *"not implemented yet"* ]] && skip "cluster status does not load the config yet"
  return 0
}

# A good three-member config in $T, then a copy with one line changed.
good_config() { write_cluster_config "$T" >/dev/null; }

test_missing_file_names_it_and_how_it_was_chosen() {
  check_config "$T/none.yaml"
  assert_rc 2
  assert_err_contains "cannot read config $T/none.yaml (given with --config): No such file or directory"
  REGVAULT_CONFIG=$T/env.yaml run "$RV_BIN" --no-progress cluster status
  [[ $ERR == *"not implemented yet"* ]] && skip "cluster status does not load the config yet"
  assert_rc 2
  assert_err_contains "cannot read config $T/env.yaml (from \$REGVAULT_CONFIG)"
}

test_unknown_key_names_path_and_line() {
  good_config
  local line
  line=$(grep -n 'data_dir:' "$CFG" | sed -n 2p | cut -d: -f1)   # the second member's
  sed -i "${line}s/data_dir:/dataa_dir:/" "$CFG"
  check_config "$CFG"
  assert_rc 2
  assert_err_contains "regvault: config $CFG line $line: unknown key cluster.members[1].dataa_dir"
  assert_eq "$(grep -c . <<<"$ERR")" 1 "lines on stderr"
}

test_wrong_type_names_key_and_line() {
  good_config
  local line
  line=$(grep -n 'heartbeat_interval_ms:' "$CFG" | cut -d: -f1)
  sed -i 's/heartbeat_interval_ms: 100/heartbeat_interval_ms: fast/' "$CFG"
  check_config "$CFG"
  assert_rc 2
  assert_err_contains "line $line: cluster.etcd.heartbeat_interval_ms must be an integer, not 'fast'"
}

test_yaml_syntax_error() {
  printf 'cluster:\n  name: [a\n' >"$T/bad.yaml"
  check_config "$T/bad.yaml"
  assert_rc 2
  assert_err_contains "config $T/bad.yaml line 3: YAML syntax error: did not find expected ',' or ']'"
}

test_empty_file() {
  : >"$T/empty.yaml"
  check_config "$T/empty.yaml"
  assert_rc 2
  assert_err_contains "config $T/empty.yaml is empty"
}

test_unknown_section_and_duplicate_key() {
  good_config
  echo "backups: {}" >>"$CFG"
  check_config "$CFG"
  assert_rc 2
  assert_err_contains "unknown key backups"
  good_config
  echo "state_dir: /elsewhere" >>"$CFG"
  check_config "$CFG"
  assert_rc 2
  assert_err_contains "duplicate key state_dir"
}

test_password_file_readable_by_others_is_refused() {
  good_config
  printf 'pa55-w0rd-xyz\n' >"$T/pw"
  chmod 644 "$T/pw"
  sed -i "/^store:/i\\  auth:\\n    user: root\\n    password_file: $T/pw" "$CFG"
  check_config "$CFG"
  assert_rc 2
  assert_err_contains "(cluster.auth.password_file): password file $T/pw is readable by other users"
  assert_err_contains "chmod 600 $T/pw"
  [[ $ERR$OUT != *pa55-w0rd-xyz* ]] || fail "the password was printed"
}

test_inline_s3_secret_in_public_file_is_refused() {
  good_config
  sed -i '/^  url:/a\  s3:\n    secret_access_key: sk-inline-xyz' "$CFG"
  chmod 644 "$CFG"
  check_config "$CFG"
  assert_rc 2
  assert_err_contains "store.s3.secret_access_key is written inline but this file is readable by other users"
  [[ $ERR$OUT != *sk-inline-xyz* ]] || fail "the secret was printed"
}

test_good_config_is_not_a_config_error() {
  good_config
  check_config "$CFG"
  [ "$RC" -ne 2 ] || fail "exit 2 for a good config: ${ERR:0:300}"
  [[ $ERR != *"config $CFG"* ]] || fail "a config message for a good config: ${ERR:0:300}"
}

# Problems with the store's settings are configuration errors too: exit 2, before
# anything is contacted.
test_store_configuration_problems_are_exit_2() {
  good_config
  sed -i 's|^  url: .*|  url: ftp://backups.example/registry|' "$CFG"
  run "$RV_BIN" --config "$CFG" snapshot list
  assert_rc 2
  assert_err_contains "has a scheme regvault does not know"
  good_config
  sed -i 's|^  url: .*|  url: s3://registry-backups/etcd|' "$CFG"
  run env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "$RV_BIN" --config "$CFG" snapshot list
  assert_rc 2
  assert_err_contains "has no credentials"
  good_config
  run "$RV_BIN" --config "$CFG" snapshot list --store gopher://x/y
  assert_rc 2
  assert_err_contains "has a scheme regvault does not know"
}

test_bad_defrag_rule_is_refused_by_every_command() {
  good_config
  local line cmd
  printf 'maint:\n  compact_keep_revisions: 100\n  defrag_rule: "dbSizeFree > 200XB"\n' >>"$CFG"
  line=$(grep -n 'defrag_rule:' "$CFG" | cut -d: -f1)
  for cmd in "cluster status" "snapshot list" "maint hashcheck" "maint defrag --dry-run --rule true"; do
    # shellcheck disable=SC2086
    run "$RV_BIN" --config "$CFG" --no-progress $cmd
    assert_rc 2
    assert_err_contains "regvault: config $CFG line $line: maint.defrag_rule is not a valid rule: the defrag rule \"dbSizeFree > 200XB\" does not parse at position 17: unknown unit 'XB'"
  done
}

test_defrag_rule_takes_the_size_units_of_the_file() {
  good_config
  printf 'maint:\n  defrag_rule: "dbSizeFree > 200MB || dbSize > 1.5GiB"\n' >>"$CFG"
  check_config "$CFG"
  [ "$RC" -ne 2 ] || fail "exit 2 for a rule in MB: ${ERR:0:300}"
  [[ $ERR != *"config $CFG"* ]] || fail "a config message for a rule in MB: ${ERR:0:300}"
}

# The daemon section: schedules and durations are checked like every other key, with
# the line in the message; a good one is no error for any command.
test_daemon_section_errors_name_key_and_line() {
  local line
  good_config
  printf 'daemon:\n  health_interval: 5 seconds\n' >>"$CFG"
  line=$(grep -n 'health_interval:' "$CFG" | cut -d: -f1)
  check_config "$CFG"
  assert_rc 2
  assert_err_contains "regvault: config $CFG line $line: daemon.health_interval must be a duration like 500ms, 5s, 2m or 1h, not '5 seconds'"

  good_config
  printf 'daemon:\n  jobs:\n    defrag:\n      cron: "30 25 * * *"\n' >>"$CFG"
  line=$(grep -n 'cron:' "$CFG" | cut -d: -f1)
  check_config "$CFG"
  assert_rc 2
  assert_err_contains "line $line: daemon.jobs.defrag.cron is not a valid schedule: cron expression '30 25 * * *': the hour field '25' is out of range 0-23"

  good_config
  printf 'daemon:\n  jobs:\n    backup:\n      every: 1h\n' >>"$CFG"
  line=$(grep -n 'backup:' "$CFG" | cut -d: -f1)
  check_config "$CFG"
  assert_rc 2
  assert_err_contains "line $line: unknown key daemon.jobs.backup"

  good_config
  printf 'daemon:\n  jobs:\n    snapshot:\n      cron: "0 * * * *"\n      every: 30m\n' >>"$CFG"
  line=$(grep -n 'every:' "$CFG" | cut -d: -f1)
  check_config "$CFG"
  assert_rc 2
  assert_err_contains "line $line: daemon.jobs.snapshot.cron and daemon.jobs.snapshot.every exclude each other; keep one"

  good_config
  printf 'daemon:\n  jobs:\n    verify:\n      timeout: 10m\n' >>"$CFG"
  line=$(grep -n 'verify:' "$CFG" | cut -d: -f1)
  check_config "$CFG"
  assert_rc 2
  assert_err_contains "line $line: daemon.jobs.verify needs a schedule: cron: (like \"0 * * * *\") or every: (like 5m), or enabled: false"
  assert_eq "$(grep -c . <<<"$ERR")" 1 "lines on stderr"
}

test_daemon_section_good_is_not_a_config_error() {
  good_config
  cat >>"$CFG" <<'YAML'
daemon:
  jitter: 30s
  metrics_listen: ""
  jobs:
    snapshot: {cron: "*/30 * * * *"}
    hashcheck: {every: 1m, timeout: 30s}
    drill: {enabled: false}
    defrag: {cron: "@weekly", jitter: 0}
YAML
  check_config "$CFG"
  [ "$RC" -ne 2 ] || fail "exit 2 for a good daemon section: ${ERR:0:300}"
  [[ $ERR != *"config $CFG"* ]] || fail "a config message for a good daemon section: ${ERR:0:300}"
}

# The registry section: manifests_dir is required once the section is there, the
# prefix is a key prefix, and the heartbeat interval must be shorter than the TTL.
test_registry_section_errors_name_key_and_line() {
  local line
  good_config
  cp "$CFG" "$T/base.yaml"
  printf 'registry:\n  prefix: /chora/capabilities\n' >>"$CFG"
  line=$(grep -n '^registry:' "$CFG" | cut -d: -f1)
  check_config "$CFG"
  assert_rc 2
  assert_err_contains "line $((line + 1)): registry.manifests_dir is required in a registry: section"

  cp "$T/base.yaml" "$CFG"
  printf 'registry:\n  manifests_dir: %s\n  heartbeat:\n    ttl: 10s\n    interval: 10s\n' "$T" >>"$CFG"
  check_config "$CFG"
  assert_rc 2
  assert_err_contains "registry.heartbeat.interval (10000 ms) must be shorter than registry.heartbeat.ttl (10000 ms)"

  cp "$T/base.yaml" "$CFG"
  printf 'registry:\n  manifests_dir: %s\n  sync:\n    max_delete: 3\n' "$T" >>"$CFG"
  line=$(grep -n 'max_delete:' "$CFG" | cut -d: -f1)
  check_config "$CFG"
  assert_rc 2
  assert_err_contains "line $line: unknown key registry.sync.max_delete"

  cp "$T/base.yaml" "$CFG"
  printf 'registry:\n  manifests_dir: %s\n  prefix: /chora/capabilities/\n  sync:\n    interval: 30s\n    git:\n      remote: origin\n' "$T" >>"$CFG"
  check_config "$CFG"
  [[ $ERR != *"config $CFG"* ]] || fail "a good registry section refused: ${ERR:0:300}"
}

# The agent: section and the members' agent: addresses (docs/reference/agent.md):
# host:port values, mutual TLS unless insecure: true, a key file only its owner reads.
test_agent_section_errors_name_key_and_line() {
  local line
  good_config
  cp "$CFG" "$T/base.yaml"
  line=$(grep -n 'data_dir:' "$CFG" | sed -n 1p | cut -d: -f1)
  sed -i "${line}a\\      agent: 10.0.0.1" "$CFG"
  check_config "$CFG"
  assert_rc 2
  assert_err_contains "config $CFG line $((line + 1)): cluster.members[0].agent must be host:port like 10.0.0.1:9480, not '10.0.0.1'"

  cp "$T/base.yaml" "$CFG"
  sed -i "${line}a\\      agent: 10.0.0.1:9480" "$CFG"
  check_config "$CFG"
  assert_rc 2
  assert_err_contains "line $((line + 1)): cluster.members[0].agent needs an agent: section with ca_file, cert_file and key_file (or insecure: true for plain text)"

  cp "$T/base.yaml" "$CFG"
  printf 'agent:\n  listen: 9480\n' >>"$CFG"
  line=$(grep -n 'listen:' "$CFG" | cut -d: -f1)
  check_config "$CFG"
  assert_rc 2
  assert_err_contains "line $line: agent.listen must be host:port like :9480 or 10.0.0.1:9480, not '9480'"

  cp "$T/base.yaml" "$CFG"
  printf 'agent:\n  ca_file: %s/ca.pem\n  cert_file: %s/c.pem\n' "$T" "$T" >>"$CFG"
  line=$(grep -n '^agent:' "$CFG" | cut -d: -f1)
  check_config "$CFG"
  assert_rc 2
  assert_err_contains "line $((line + 1)): missing required key agent.key_file (agents talk mutual TLS; insecure: true for plain text)"

  cp "$T/base.yaml" "$CFG"
  printf 'agent:\n  insecure: true\n  ca_file: %s/ca.pem\n' "$T" >>"$CFG"
  check_config "$CFG"
  assert_rc 2
  assert_err_contains "agent.insecure: true and agent.ca_file, cert_file, key_file exclude each other; keep one"

  cp "$T/base.yaml" "$CFG"
  printf 'agent:\n  insecur: true\n' >>"$CFG"
  line=$(grep -n 'insecur:' "$CFG" | cut -d: -f1)
  check_config "$CFG"
  assert_rc 2
  assert_err_contains "line $line: unknown key agent.insecur"
  assert_eq "$(grep -c . <<<"$ERR")" 1 "lines on stderr"
}

test_agent_key_file_readable_by_others_is_refused() {
  local line
  good_config
  printf 'x\n' >"$T/ca.pem"; printf 'x\n' >"$T/c.pem"; printf 'KEY-xyz\n' >"$T/k.pem"
  chmod 644 "$T/k.pem"
  printf 'agent:\n  ca_file: %s/ca.pem\n  cert_file: %s/c.pem\n  key_file: %s/k.pem\n' "$T" "$T" "$T" >>"$CFG"
  line=$(grep -n 'key_file:' "$CFG" | cut -d: -f1)
  check_config "$CFG"
  assert_rc 2
  assert_err_contains "config $CFG line $line (agent.key_file): agent key file $T/k.pem is readable by other users"
  [[ $ERR$OUT != *KEY-xyz* ]] || fail "the key was printed"

  chmod 600 "$T/k.pem"
  check_config "$CFG"
  [[ $ERR != *"config $CFG"* ]] || fail "a good agent section refused: ${ERR:0:300}"
}
