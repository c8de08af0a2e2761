# Packages: the .deb (debhelper) and the .rpm (rpmbuild) are built from source, hold
# the binary, units, configuration, user, man pages and completion, declare their
# dependencies, pass lintian, and the .deb installs, upgrades and purges cleanly on
# this machine. Also the units (verify, hardening), the man pages (every option and
# key, no groff warning), the bash completion and the alert rules.

# Versions of the two .deb builds the upgrade test goes between.
DEB_V1=0.1.0+test1
DEB_V2=0.1.0+test2

setup_file() {
  make -s -C "$RV_ROOT" all man >/dev/null
  mkdir -p "$T_FILE_DIR/pkg"
  # The rpm beside the debs (each takes minutes on a busy machine).
  local rpm_pid=
  if command -v rpmbuild >/dev/null; then
    bash "$RV_ROOT/packaging/rpm/build.sh" "$RV_ROOT/build/pkg" 0.0.0test >"$T_FILE_DIR/pkg/rpm-path" &
    rpm_pid=$!
  fi
  # build/pkg keeps the copy of the tree the .deb builds compile in: the second
  # version, and the next run, recompile only what changed.
  DEB_BUILD_OPTIONS=nocheck bash "$RV_ROOT/packaging/deb/build.sh" "$RV_ROOT/build/pkg" "$DEB_V1" >/dev/null
  DEB_BUILD_OPTIONS=nocheck bash "$RV_ROOT/packaging/deb/build.sh" "$RV_ROOT/build/pkg" "$DEB_V2" >/dev/null
  mv "$RV_ROOT"/build/pkg/regvault_"$DEB_V1"_*.deb "$RV_ROOT"/build/pkg/regvault_"$DEB_V2"_*.deb "$T_FILE_DIR/pkg/"
  if [ -n "$rpm_pid" ]; then
    wait "$rpm_pid"
    cp "$(cat "$T_FILE_DIR/pkg/rpm-path")" "$T_FILE_DIR/pkg/"
  fi
}

deb_file() { ls "$T_FILE_DIR"/pkg/regvault_"${1:-$DEB_V2}"_*.deb; }

UNITS=(regvault.service regvault-snapshot.service regvault-snapshot.timer regvault-drill.service
  regvault-drill.timer regvault-defrag.service regvault-defrag.timer regvault-etcd@.service)

test_deb_has_binary_units_config_and_dependencies() {
  local deb u
  deb=$(deb_file) || fail "no .deb was built (see build/pkg/dpkg-buildpackage.log)"
  run dpkg-deb -c "$deb"
  assert_ok
  for u in "${UNITS[@]}"; do assert_out_contains "./usr/lib/systemd/system/$u"; done
  for f in ./usr/bin/regvault ./usr/lib/sysusers.d/regvault.conf ./usr/lib/tmpfiles.d/regvault.conf \
    ./usr/share/man/man1/regvault.1.gz ./usr/share/man/man5/regvault.yaml.5.gz \
    ./usr/share/bash-completion/completions/regvault ./usr/share/doc/regvault/copyright \
    ./usr/share/doc/regvault/runbooks/restore.md; do
    assert_out_contains "$f"
  done
  grep -q -- '-rw-r----- root/root .* ./etc/regvault/regvault.yaml$' <<<"$OUT" ||
    fail "the configuration is not shipped 0640: $(grep regvault.yaml <<<"$OUT")"
  run dpkg-deb -f "$deb" Depends
  assert_out_contains "libgrpc29"   # from ${shlibs:Depends}
  assert_out_contains "libjansson4"
  assert_out_contains "etcd-client"
  run dpkg-deb -f "$deb" Recommends
  assert_out_contains "etcd-server"
  run dpkg-deb -I "$deb" conffiles
  assert_eq "$OUT" "/etc/regvault/regvault.yaml" "the conffiles"
  run dpkg-deb -I "$deb" postinst
  assert_out_contains "systemd-sysusers"
  assert_out_contains "dpkg-statoverride --update --add root regvault 0640"
  # units are enabled again only if they were enabled before (was-enabled), never started
  [[ $OUT != *"deb-systemd-invoke start"* ]] || fail "postinst starts a unit"
  [ "$(grep -c 'deb-systemd-helper enable' <<<"$OUT")" -eq "$(grep -c 'was-enabled' <<<"$OUT")" ] ||
    fail "postinst enables a unit that was not enabled before"
}

test_packaged_binary_runs() {
  dpkg-deb -x "$(deb_file)" "$T/root"
  run "$T/root/usr/bin/regvault" --version
  assert_ok
  assert_out_contains "regvault "
  # the distribution's hardening flags reached the build (dpkg-buildflags, hardening=+all)
  run readelf -d "$T/root/usr/bin/regvault"
  assert_out_contains "BIND_NOW"
  run readelf -sW "$T/root/usr/bin/regvault" # -W: names not cut short
  assert_out_contains "_chk@"
}

test_lintian_is_clean() {
  command -v lintian >/dev/null || skip "lintian is not installed"
  run lintian --info "$(deb_file)"
  echo "lintian: $OUT $ERR" >&2
  ! grep -E '^[EW]: ' <<<"$OUT" || fail "lintian complains: $(grep -E '^[EW]: ' <<<"$OUT" | head -5)"
}

test_units_run_the_packaged_binary() {
  local u
  for u in "$RV_ROOT"/packaging/systemd/*.service; do
    grep -q '^ExecStart=/usr/bin/regvault ' "$u" || fail "$u does not run /usr/bin/regvault"
    grep -q '^User=regvault$' "$u" || fail "$u does not run as regvault"
    grep -q '^Documentation=man:regvault(1)' "$u" || fail "$u has no Documentation=man:regvault(1)"
    [ "$(basename "$u")" = regvault.service ] && continue # the daemon: no timer
    [ "$(basename "$u")" = regvault-etcd@.service ] && continue # the member template: no timer
    timer=${u%.service}.timer
    [ -f "$timer" ] || fail "$u has no timer"
    ! grep -q '^\[Install\]' "$u" || fail "$u has an [Install] section (its timer is what gets enabled)"
  done
}

# The units as systemd itself reads them, with the built man pages for Documentation=.
units_for_verify() { # DIR: the units, running the built binary (none is installed here)
  local u
  for u in "$RV_ROOT"/packaging/systemd/*; do
    sed "s#/usr/bin/regvault#$RV_BIN#g" "$u" >"$1/$(basename "$u")"
  done
}

test_units_pass_systemd_analyze_verify() {
  command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
  mkdir -p "$T/units"
  units_for_verify "$T/units"
  MANPATH=$RV_ROOT/build/man run systemd-analyze verify "$T"/units/*
  assert_ok
  [ -z "$ERR$OUT" ] || fail "systemd-analyze verify complained: $ERR$OUT"
}

# exposure UNIT_FILE: the overall exposure systemd-analyze security gives it
exposure() {
  systemd-analyze security --offline=yes --threshold=100 "$1" 2>&1 |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'
}

# Every service scores at most 2.0, and what docs/reference/install.md says it scores.
test_services_are_hardened_as_documented() {
  command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
  mkdir -p "$T/units"
  units_for_verify "$T/units"
  local u name score documented
  for u in "$T"/units/*.service; do
    name=$(basename "$u")
    score=$(exposure "$u")
    [ -n "$score" ] || fail "no exposure score for $name"
    awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "exposure of $name is $score, above 2.0"
    documented=$(sed -n "s/^| \`$name\` | \([0-9.]*\) .*/\1/p" "$RV_ROOT/docs/reference/install.md")
    assert_eq "$score" "$documented" "the exposure of $name (docs/reference/install.md says '$documented')"
  done
  grep -q '^Type=notify' "$RV_ROOT/packaging/systemd/regvault.service" || fail "the daemon unit is not Type=notify"
  grep -q '^KillMode=process' "$RV_ROOT/packaging/systemd/regvault.service" || fail "KillMode=process is gone: a restart would kill the members"
}

# The member template runs `regvault member exec %i` (the flags come from the
# configuration), as a notify unit (etcd sends READY=1), restarted on failure, and no
# maintainer script of either package restarts or stops a member.
test_member_template_unit() {
  local u=$RV_ROOT/packaging/systemd/regvault-etcd@.service
  grep -qx 'ExecStart=/usr/bin/regvault --no-progress member exec %i' "$u" || fail "the template does not run member exec %i"
  grep -qx 'Type=notify' "$u" || fail "the template is not Type=notify"
  grep -qx 'Restart=on-failure' "$u" || fail "the template has no Restart=on-failure"
  grep -qx 'ReadWritePaths=/var/lib/regvault' "$u" || fail "the template cannot write the data dirs"
  ! grep -q -- '--data-dir\|--initial-cluster' "$u" || fail "the template holds a copy of etcd's flags"
  # the unit name the configuration reference tells to use
  grep -q 'unit: regvault-etcd@etcd3.service' "$RV_ROOT/docs/reference/config.md" ||
    fail "config.md does not show unit: regvault-etcd@NAME.service"
  run dpkg-deb -I "$(deb_file)" postinst
  [[ $OUT != *"regvault-etcd@"* ]] || fail "postinst handles the member template"
  run dpkg-deb -I "$(deb_file)" prerm
  [[ $OUT != *"regvault-etcd@"* ]] || fail "prerm handles the member template"
  if command -v rpm >/dev/null; then
    run rpm -qp --scripts "$(ls "$T_FILE_DIR"/pkg/regvault-0.0.0test-1*.rpm)"
    [[ $OUT != *"regvault-etcd@"* ]] || fail "an rpm scriptlet handles the member template"
  fi
}

test_example_config_loads() {
  CFG=$RV_ROOT/packaging/regvault.yaml.example
  # status against members that do not run: a failed operation (1), not a config error (2)
  rv cluster status
  [ "$RC" -ne 2 ] || fail "the example configuration does not load: $ERR"
}

# ---- install, upgrade, purge (as root; the machine is left as found) ----

# Paths outside dpkg's and apt's own bookkeeping, to compare before and after.
fs_snapshot() {
  find /etc /usr /var/lib /var/cache/regvault /run/regvault -xdev \
    \( -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/lib/systemd/deb-systemd-helper-masked \
    -o -path /var/lib/ucf -o -path /etc/ld.so.cache -o -path /var/cache/ldconfig \) -prune -o -print 2>/dev/null | sort
}

test_deb_installs_upgrades_and_purges() {
  [ "$(id -u)" -eq 0 ] || skip "installing a package needs root"
  dpkg-query -W -f='${Status}' regvault 2>/dev/null | grep -q "installed" && skip "regvault is installed on this machine: not touching it"
  exec 9>/tmp/regvault-install-test.lock
  flock -w 600 9 || fail "another install test holds /tmp/regvault-install-test.lock"
  local cfg=/etc/regvault/regvault.yaml u
  # global, not local: the EXIT trap runs after the function has returned
  RV_HAD_USER=false
  getent passwd regvault >/dev/null && RV_HAD_USER=true
  fs_snapshot >"$T/before"
  # however this test ends: no package, and no user it created
  trap 'dpkg --purge regvault >/dev/null 2>&1; [ "$RV_HAD_USER" = true ] || { userdel regvault 2>/dev/null; groupdel regvault 2>/dev/null; }; true' EXIT

  run dpkg -i "$(deb_file "$DEB_V1")"
  assert_ok
  run /usr/bin/regvault --version
  assert_ok
  getent passwd regvault >/dev/null || fail "the install did not create the user regvault"
  assert_eq "$(stat -c '%U:%G %a' "$cfg")" "root:regvault 640" "owner and mode of $cfg"
  assert_eq "$(stat -c '%U:%G %a' /var/lib/regvault)" "regvault:regvault 750" "owner and mode of /var/lib/regvault"

  # every installed unit as systemd reads it; Documentation= are the installed man pages
  run systemd-analyze verify /usr/lib/systemd/system/regvault*
  assert_ok
  [ -z "$ERR$OUT" ] || fail "systemd-analyze verify complained about the installed units: $ERR$OUT"
  run man -w regvault.yaml
  assert_ok
  for u in /usr/lib/systemd/system/regvault*.service; do
    awk -v s="$(exposure "$u")" 'BEGIN { exit !(s != "" && s <= 2.0) }' || fail "installed $u scores $(exposure "$u")"
  done
  # nothing enabled or started: no wants/ link, and deb-systemd-helper agrees
  [ -z "$(find /etc/systemd/system -name 'regvault*' 2>/dev/null)" ] ||
    fail "the install enabled units: $(find /etc/systemd/system -name 'regvault*')"
  for u in "${UNITS[@]}"; do
    ! deb-systemd-helper --quiet is-enabled "$u" || fail "$u is enabled after the install"
  done

  # the shipped configuration loads: members not running is exit 1, not 2 (the config);
  # also for the user regvault, through the group
  run /usr/bin/regvault --no-progress cluster status
  assert_rc 1
  run runuser -u regvault -- /usr/bin/regvault --no-progress cluster status
  assert_rc 1
  run runuser -u nobody -- /usr/bin/regvault --no-progress cluster status
  assert_rc 2 # others cannot read it

  # an upgrade keeps an edited conffile (and its group)
  echo "# edited by tests/it/90-packaging.sh" >>"$cfg"
  run dpkg -i --force-confold "$(deb_file "$DEB_V2")" </dev/null
  assert_ok
  assert_eq "$(dpkg-query -W -f='${Version}' regvault)" "$DEB_V2" "the installed version"
  grep -q "^# edited by tests/it/90-packaging.sh" "$cfg" || fail "the upgrade replaced the edited $cfg"
  assert_eq "$(stat -c '%U:%G %a' "$cfg")" "root:regvault 640" "owner and mode of $cfg after the upgrade"

  # purge: nothing left but the system user (Debian policy keeps it)
  run dpkg --purge regvault
  assert_ok
  fs_snapshot >"$T/after"
  # the backups systemd-sysusers made of the user database go with the user
  comm -13 "$T/before" "$T/after" | grep -vxE '/etc/(passwd|group|shadow|gshadow)-' >"$T/left"
  [ ! -s "$T/left" ] || fail "the purge left: $(head -20 "$T/left" | tr '\n' ' ')"
  [ -z "$(dpkg-statoverride --list "$cfg")" ] || fail "the purge left the statoverride of $cfg"
  getent passwd regvault >/dev/null || fail "the purge removed the user regvault (policy keeps it)"
}

# ---- man pages ----

test_man_pages_render_without_warnings() {
  local page
  for page in "$RV_ROOT"/build/man/man1/regvault.1 "$RV_ROOT"/build/man/man5/regvault.yaml.5; do
    run groff -ww -z -man "$page"
    assert_ok
    [ -z "$OUT$ERR" ] || fail "groff warns about $(basename "$page"): $ERR"
    run env MANWIDTH=80 man --warnings -l "$page"
    assert_ok
    [ -z "$ERR" ] || fail "man warns about $(basename "$page"): $ERR"
  done
}

# The man pages hold every reference page (the README's), every option of every
# command's --help, and every configuration key.
test_man_pages_are_complete() {
  local page cmd subs sub opt key roff subl
  for page in "$RV_ROOT"/docs/reference/*.md; do
    grep -qx "@include reference/$(basename "$page")" "$RV_ROOT"/docs/man/*.md ||
      fail "docs/reference/$(basename "$page") is in no man page (add an @include line to docs/man/regvault.1.md)"
  done
  # roff writes - as \-
  roff=$(sed 's/\\-/-/g' "$RV_ROOT/build/man/man1/regvault.1")
  while read -r cmd subs; do
    subl=(${subs//|/ })
    [ ${#subl[@]} -eq 0 ] && subl=("") # a command without subcommands
    for sub in "${subl[@]}"; do
      for opt in $("$RV_BIN" $cmd ${sub:+$sub} --help 2>/dev/null | grep -E '^usage:|^ +regvault |^ +\[|^ +-' |
        grep -oE -- '--[a-z][a-z-]*' | sort -u); do
        grep -qF -- "$opt" <<<"$roff" || fail "regvault.1 does not mention $opt of 'regvault $cmd $sub'"
      done
    done
    grep -qF "$cmd" <<<"$roff" || fail "regvault.1 does not mention the command $cmd"
  done < <("$RV_BIN" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) \[\{0,1\}\([a-z][a-z|-]*\)\{0,1\}.*/\1 \2/p')
  for opt in $("$RV_BIN" --help | sed -n '/^Global options/,/^$/p' | grep -oE -- '--[a-z][a-z-]*'); do
    grep -qF -- "$opt" <<<"$roff" || fail "regvault.1 does not mention the global option $opt"
  done
  roff=$(sed 's/\\-/-/g' "$RV_ROOT/build/man/man5/regvault.yaml.5")
  for key in $(sed -n 's/^| `\([][a-z_.]*\)` |.*/\1/p' "$RV_ROOT/docs/reference/config.md"); do
    grep -qF -- "$key" <<<"$roff" || fail "regvault.yaml.5 does not describe $key"
  done
}

# ---- bash completion ----

# complete WORDS...: COMPREPLY for the command line WORDS (the last one the cursor's)
complete_line() {
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _regvault; printf "%s\n" "${COMPREPLY[@]}"' \
    _ "$RV_ROOT/packaging/bash-completion/regvault" "$@" 2>"$T/completion.err"
}

test_bash_completion() {
  mkdir -p "$T/store"
  write_cluster_config "$T/c"
  sed -i "s#^  url: .*#  url: $T/store#" "$CFG"
  : >"$T/store/registry-20261121T215213.123Z-r75.tar.zst" # listed (as foreign), by name
  OUT=$(complete_line "$RV_BIN" "")
  for w in cluster snapshot restore drill maint; do grep -qx "$w" <<<"$OUT" || fail "no command $w in: $OUT"; done
  OUT=$(complete_line "$RV_BIN" sn)
  assert_eq "$OUT" "snapshot" "the completion of 'sn'"
  OUT=$(complete_line "$RV_BIN" --config "$CFG" snapshot "")
  assert_eq "$(echo $OUT)" "save list verify fetch delete prune diff" "the subcommands of snapshot"
  OUT=$(complete_line "$RV_BIN" cluster up --)
  grep -qx -- "--wait" <<<"$OUT" || fail "cluster up -- does not offer --wait: $OUT"
  OUT=$(complete_line "$RV_BIN" maint perfcheck --load "")
  assert_eq "$(echo $OUT)" "s m l xl" "the loads of perfcheck"
  OUT=$(complete_line "$RV_BIN" -o "")
  assert_eq "$(echo $OUT)" "table json" "the values of -o"
  OUT=$(complete_line "$RV_BIN" --config "$CFG" snapshot verify "")
  for w in registry-20261121T215213.123Z-r75.tar.zst latest --all; do
    grep -qx -- "$w" <<<"$OUT" || fail "snapshot verify does not offer $w: $OUT"
  done
  OUT=$(complete_line "$RV_BIN" --config "$CFG" restore --from reg)
  assert_eq "$OUT" "registry-20261121T215213.123Z-r75.tar.zst" "restore --from reg<TAB>"
  # after NAME, fetch wants a FILE: files, not artifacts
  OUT=$(cd "$T" && complete_line "$RV_BIN" --config "$CFG" snapshot fetch latest sto)
  assert_eq "$OUT" "store" "the FILE of snapshot fetch"
  # a configuration that does not load: no artifact, no message
  OUT=$(complete_line "$RV_BIN" --config /nonexistent snapshot verify "")
  assert_eq "$(echo $OUT)" "latest --all" "snapshot verify without a configuration"
  [ ! -s "$T/completion.err" ] || fail "the completion printed: $(cat "$T/completion.err")"
  # member exec: the subcommand, its option, and member names after it
  OUT=$(complete_line "$RV_BIN" member "")
  assert_eq "$OUT" "exec" "the subcommands of member"
  OUT=$(complete_line "$RV_BIN" member exec --p)
  assert_eq "$OUT" "--print" "member exec --p<TAB>"
  OUT=$(complete_line "$RV_BIN" --config "$CFG" member exec "")
  assert_eq "$(echo $OUT)" "etcd1 etcd2 etcd3" "the members member exec offers"
  OUT=$(complete_line "$RV_BIN" --config "$CFG" member exec --print e)
  assert_eq "$(echo $OUT)" "etcd1 etcd2 etcd3" "the members after member exec --print"
  # member names, from the configuration
  OUT=$(bash -c 'source "$1"; COMP_WORDS=(regvault --config "$2" x); COMP_CWORD=2; _regvault_members' _ \
    "$RV_ROOT/packaging/bash-completion/regvault" "$CFG")
  assert_eq "$(echo $OUT)" "etcd1 etcd2 etcd3" "the member names"
}

# ---- alerting rules ----

test_prometheus_rules_pass_promtool() {
  command -v promtool >/dev/null || skip "promtool is not installed (Debian package prometheus)"
  local rules=$RV_ROOT/packaging/prometheus/regvault-rules.yml m
  run promtool check rules "$rules"
  assert_ok
  assert_out_contains "SUCCESS: 8 rules found"
  # and they fire when they should (packaging/prometheus/regvault-rules.test.yml)
  run promtool test rules "$RV_ROOT/packaging/prometheus/regvault-rules.test.yml"
  assert_ok
  for m in regvault_job_last_success_timestamp_seconds regvault_job_runs_total regvault_drill_last_result \
    regvault_hashcheck_consistent regvault_member_up node_textfile_mtime_seconds \
    regvault_registry_sync_last_success_timestamp_seconds regvault_registry_services; do
    grep -q "$m" "$rules" || fail "the rules do not use $m"
  done
}

# ---- rpm ----

test_rpm_has_the_files_of_the_deb() {
  command -v rpm >/dev/null || skip "rpm is not installed"
  local rpmf
  rpmf=$(ls "$T_FILE_DIR"/pkg/regvault-0.0.0test-1*.rpm) || fail "no .rpm was built (see build/pkg/rpmbuild.log)"
  # files, not directories; man pages compressed or not; docs and licences where each
  # distribution wants them
  run rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$rpmf"
  assert_ok
  awk '$1 !~ /^d/ {print $2}' <<<"$OUT" | sed 's/\.gz$//' | grep -v '^/usr/share/doc\|^/usr/share/licenses' |
    sort >"$T/rpm-files"
  dpkg-deb -c "$(deb_file)" | awk '$1 !~ /^d/ {print substr($6, 2)}' | sed 's/\.gz$//' |
    grep -v '^/usr/share/doc\|^/usr/share/lintian' | sort >"$T/deb-files"
  diff "$T/deb-files" "$T/rpm-files" >"$T/diff" || fail "the rpm's files differ from the deb's: $(tr '\n' ' ' <"$T/diff")"
  run rpm -qp --configfiles "$rpmf"
  assert_eq "$OUT" "/etc/regvault/regvault.yaml" "the rpm's config files"
  run rpm -qplv "$rpmf"
  grep -q -- '-rw-r----- .*root *regvault .*/etc/regvault/regvault.yaml$' <<<"$OUT" ||
    fail "the rpm's configuration is not root:regvault 0640: $(grep regvault.yaml <<<"$OUT")"
  run rpm -qp --requires "$rpmf"
  assert_out_contains "libgrpc.so"   # found by rpm's dependency generator
  assert_out_contains "etcd"
  run rpm -qp --scripts "$rpmf"
  assert_out_contains "systemd-sysusers"
  assert_out_contains "try-restart"
  # the %pre user is the sysusers.d file's
  grep -qF "$(grep '^u ' "$RV_ROOT/packaging/sysusers/regvault.conf")" "$RV_ROOT/packaging/rpm/regvault.spec" ||
    fail "the spec's %pre user differs from packaging/sysusers/regvault.conf"
}

test_rpmlint() {
  command -v rpmlint >/dev/null || skip "rpmlint is not installed"
  run rpmlint -c "$RV_ROOT/packaging/rpm/rpmlint.toml" "$RV_ROOT/packaging/rpm/regvault.spec" "$T_FILE_DIR"/pkg/regvault-0.0.0test-1*.rpm
  echo "rpmlint: $OUT" >&2
  ! grep -E ': E: ' <<<"$OUT" || fail "rpmlint finds errors: $(grep -E ': E: ' <<<"$OUT" | head -5)"
}

# The test hooks (-DRV_TEST_HOOKS) are in the test builds only: neither build/regvault
# nor the binary packaged names any of their variables; the ASan build, which the tests
# run, names every one.
test_hooks_only_in_test_builds() {
  local hooks=(RV_TEST_CRASH_AT RV_TEST_SIGNAL_AT REGVAULT_S3_MAX_ATTEMPTS REGVAULT_S3_CLEANUP_AGE_S) h
  make -s -C "$RV_ROOT" SAN=1 all >/dev/null || fail "cannot build build/asan/regvault"
  dpkg-deb -x "$(deb_file)" "$T/root"
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
