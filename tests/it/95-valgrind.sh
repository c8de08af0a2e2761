# valgrind stays clean: the real commands, on the normal (non-sanitizer) build,
# against a real cluster: no invalid reads or writes, no definite leaks.

VG=(valgrind -q --error-exitcode=9 --leak-check=full --show-leak-kinds=definite
    --errors-for-leak-kinds=definite --child-silent-after-fork=yes
    --suppressions="$RV_ROOT/tests/valgrind.supp")

setup_file() {
  command -v valgrind >/dev/null || return 0
  make -s -C "$RV_ROOT" all >/dev/null
  start_cluster "$T_FILE_DIR/c"
  export_env CFG ENDPOINTS
}

vg() { run "${VG[@]}" "$RV_ROOT/build/regvault" --config "$CFG" --no-progress "$@"; }

test_cluster_status_is_valgrind_clean() {
  command -v valgrind >/dev/null || skip "valgrind is not installed"
  vg cluster status -o json
  assert_ok
}

test_cluster_up_when_running_is_valgrind_clean() {
  command -v valgrind >/dev/null || skip "valgrind is not installed"
  vg cluster up
  assert_ok
}

test_snapshot_save_list_verify_are_valgrind_clean() {
  command -v valgrind >/dev/null || skip "valgrind is not installed"
  ectl put /vg/a 1 >/dev/null
  vg snapshot save
  [[ $ERR == *"not implemented yet"* ]] && skip "snapshot save is not implemented yet"
  assert_ok
  vg snapshot list -o json
  assert_ok
  vg snapshot verify latest
  assert_ok
}
