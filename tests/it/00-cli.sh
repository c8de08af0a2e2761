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
  assert_eq "$ERR" "regvault: 'frobnicate' is not a command. See 'regvault --help'." "stderr"
  assert_eq "$OUT" "" "stdout"
}

test_mistyped_command_gets_a_suggestion() {
  local typed want
  for typed in snapshto:snapshot clustr:cluster restroe:restore mant:maint dril:drill snapshots:snapshot; do
    run "$RV_BIN" "${typed%%:*}" list
    assert_rc 2
    want="regvault: '${typed%%:*}' is not a command; did you mean '${typed#*:}'? See 'regvault --help'."
    assert_eq "$ERR" "$want" "stderr for ${typed%%:*}"
  done
  run "$RV_BIN" --frobnicate cluster status
  assert_rc 2
  assert_eq "$(wc -l <<<"$ERR")" 1 "lines for an unknown global option"
  assert_err_contains "unknown option '--frobnicate'"
}

# An option without its value says so, in every command group, and names the option.
test_option_missing_its_value_says_so() {
  local c
  for c in "restore --from" "drill --from" "snapshot save --tag" "maint compact --revision" "cluster up --wait" \
    "snapshot list --store" "restore --timeout"; do
    run "$RV_BIN" --config /nonexistent $c
    assert_rc 2
    assert_err_contains "option ${c##* } needs a value"
  done
  run "$RV_BIN" --config /nonexistent restore --frm x
  assert_rc 2
  assert_err_contains "unknown option '--frm'"
  run "$RV_BIN" --config /nonexistent snapshot save --dry-run=1
  assert_rc 2
  [[ $ERR != *"needs a value"* ]] || fail "a value given to a flag is not a missing value: $ERR"
}

test_bad_output_format_is_usage_error() {
  run "$RV_BIN" -o yaml cluster status
  assert_rc 2
  assert_err_contains "-o takes table or json"
}

# Under systemd (stderr is the stream $JOURNAL_STREAM names) lines carry journald's
# priority; anywhere else they are plain.
test_journal_priorities_only_on_the_journal_stream() {
  local err=$T/stderr
  : >"$err"
  JOURNAL_STREAM=$(stat -c '%d:%i' "$err") "$RV_BIN" --config /nonexistent cluster status 2>>"$err"
  assert_eq "$(head -c 13 "$err")" "<3>regvault: " "the start of an error line on the journal stream"
  : >"$err.other"
  JOURNAL_STREAM=$(stat -c '%d:%i' "$err") "$RV_BIN" --config /nonexistent cluster status 2>"$err.other"
  assert_eq "$(head -c 10 "$err.other")" "regvault: " "the start of an error line elsewhere"
}
