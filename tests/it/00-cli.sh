# The command line itself: help, version, usage errors, exit codes.

test_version() {
  run "$RV_BIN" --version
  assert_ok
  assert_out_contains "regvault "
}

test_help_lists_commands() {
  run "$RV_BIN" --help
  assert_ok
  assert_out_contains "cluster up|down|status"
  assert_out_contains "snapshot save"
}

test_unknown_command_is_usage_error() {
  run "$RV_BIN" frobnicate
  assert_rc 2
  assert_err_contains "unknown command 'frobnicate'"
}

test_bad_output_format_is_usage_error() {
  run "$RV_BIN" -o yaml cluster status
  assert_rc 2
  assert_err_contains "-o takes table or json"
}
