# Packages: the .deb and .rpm hold the binary, the systemd timers and the example
# configuration, declare their dependencies, and the packaged binary runs.

setup_file() {
  make -s -C "$RV_ROOT" all >/dev/null
  bash "$RV_ROOT/packaging/deb/build.sh" "$RV_ROOT/build" "$T_FILE_DIR/pkg" 0.0.0-test >/dev/null
  bash "$RV_ROOT/packaging/rpm/build.sh" "$RV_ROOT/build" "$T_FILE_DIR/pkg" 0.0.0test >/dev/null
}

test_deb_has_binary_units_and_dependencies() {
  local deb
  deb=$(ls "$T_FILE_DIR"/pkg/regvault_0.0.0-test_*.deb)
  run dpkg-deb -c "$deb"
  assert_ok
  assert_out_contains "./usr/bin/regvault"
  assert_out_contains "./lib/systemd/system/regvault-snapshot.timer"
  assert_out_contains "./lib/systemd/system/regvault-drill.timer"
  assert_out_contains "./etc/regvault/regvault.yaml.example"
  run dpkg-deb -f "$deb" Depends
  assert_out_contains "libgrpc29"
  assert_out_contains "etcd-client"
}

test_packaged_binary_runs() {
  local deb
  deb=$(ls "$T_FILE_DIR"/pkg/regvault_0.0.0-test_*.deb)
  dpkg-deb -x "$deb" "$T/root"
  run "$T/root/usr/bin/regvault" --version
  assert_ok
  assert_out_contains "regvault "
}

test_units_run_the_packaged_binary() {
  local u
  for u in "$RV_ROOT"/packaging/systemd/*.service; do
    grep -q '^ExecStart=/usr/bin/regvault ' "$u" || fail "$u does not run /usr/bin/regvault"
    [ "$(basename "$u")" = regvault.service ] && continue # the daemon: no timer
    timer=${u%.service}.timer
    [ -f "$timer" ] || fail "$u has no timer"
  done
}

# The units as systemd itself reads them: verify accepts every unit, and the daemon's
# hardening scores what docs/reference/daemon.md says (systemd-analyze security).
units_for_verify() { # DIR: the units, running the built binary (none is installed here)
  local u
  for u in "$RV_ROOT"/packaging/systemd/*; do
    sed "s#/usr/bin/regvault#$RV_BIN#g; s#^Documentation=.*#Documentation=file:///usr/share/doc/regvault/README.md#" \
      "$u" >"$1/$(basename "$u")"
  done
}

test_units_pass_systemd_analyze_verify() {
  command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
  mkdir -p "$T/units"
  units_for_verify "$T/units"
  run systemd-analyze verify "$T"/units/*
  assert_ok
  [ -z "$ERR$OUT" ] || fail "systemd-analyze verify complained: $ERR$OUT"
}

test_daemon_unit_is_hardened() {
  command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
  mkdir -p "$T/units"
  units_for_verify "$T/units"
  run systemd-analyze security --offline=yes --threshold=20 "$T/units/regvault.service"
  assert_ok
  local score
  score=$(printf '%s\n' "$OUT" | sed -n 's/.*Overall exposure level for regvault.service: \([0-9.]*\).*/\1/p')
  [ -n "$score" ] || fail "no exposure score in: $OUT"
  awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "exposure $score is above 2.0 (docs say 1.2)"
  grep -q '^Type=notify' "$RV_ROOT/packaging/systemd/regvault.service" || fail "the daemon unit is not Type=notify"
  grep -q '^KillMode=process' "$RV_ROOT/packaging/systemd/regvault.service" || fail "KillMode=process is gone: a restart would kill the members"
}

test_example_config_loads() {
  CFG=$RV_ROOT/packaging/regvault.yaml.example
  # status against members that do not run: a failed operation (1), not a config error (2)
  rv cluster status
  [ "$RC" -ne 2 ] || fail "the example configuration does not load: $ERR"
}

test_rpm_has_binary_and_units() {
  command -v rpm >/dev/null || skip "rpm is not installed"
  run rpm -qpl "$T_FILE_DIR"/pkg/regvault-0.0.0test-1.*.rpm
  assert_ok
  assert_out_contains "/usr/bin/regvault"
  assert_out_contains "/lib/systemd/system/regvault-snapshot.timer"
}

# The test hooks (-DRV_TEST_HOOKS) are in the test builds only: neither build/regvault
# nor the binary packaged names any of their variables; the ASan build, which the tests
# run, names every one.
test_hooks_only_in_test_builds() {
  local hooks=(RV_TEST_CRASH_AT RV_TEST_SIGNAL_AT REGVAULT_S3_MAX_ATTEMPTS REGVAULT_S3_CLEANUP_AGE_S) h deb
  make -s -C "$RV_ROOT" SAN=1 all >/dev/null || fail "cannot build build/asan/regvault"
  deb=$(ls "$T_FILE_DIR"/pkg/regvault_0.0.0-test_*.deb)
  dpkg-deb -x "$deb" "$T/root"
  strings -a "$RV_ROOT/build/regvault" >"$T/normal"
  strings -a "$T/root/usr/bin/regvault" >"$T/packaged"
  strings -a "$RV_ROOT/build/asan/regvault" >"$T/asan"
  for h in "${hooks[@]}"; do
    ! grep -q "$h" "$T/normal" || fail "build/regvault has the test hook $h"
    ! grep -q "$h" "$T/packaged" || fail "the packaged regvault has the test hook $h"
    grep -q "$h" "$T/asan" || fail "build/asan/regvault lacks the test hook $h"
  done
  ! grep -q 'RV_TEST_' "$T/normal" || fail "build/regvault names an RV_TEST_ variable"
}
