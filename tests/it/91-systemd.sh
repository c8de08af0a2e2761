# The units under a real systemd: systemd 252 booted as PID 1 of its own PID, mount,
# UTS, IPC and cgroup namespaces (its cgroup a child of ours in the v2 hierarchy, the
# v1 hierarchies not mounted for it, so its processes stay where this machine put
# them), with a private /run holding the units and an empty default target: nothing
# of this machine's own units starts. The network is shared: the members listen on
# loopback ports as in every other test. Skipped where that cannot boot (not root, no
# cgroup v2, no systemd).
#
# systemd's own boot (sysinit.target: tmpfiles, which would empty this machine's
# shared /tmp, sysctl, udev, utmp, the journal...) must not run in there: every unit
# the machine's .wants/ directories name and the boot targets are masked, the units
# under test get DefaultDependencies=no, /tmp, /var/tmp, /var/log and /var/lib/systemd
# are private tmpfs mounts, and each test checks that no other unit ran.
#
# The units run build/regvault (the packaged build, not the sanitizer one) with their
# hardening as shipped; a drop-in gives them the test's configuration
# (REGVAULT_CONFIG), the user nobody instead of regvault (this machine has no such
# user, and the test adds none), and the test's directory instead of
# /var/lib/regvault as the one they may write.

RV_PLAIN=$RV_ROOT/build/regvault

setup_file() {
  make -s -C "$RV_ROOT" all >/dev/null
  boot_systemd || { echo "$SD_SKIP" >"$T_FILE_DIR/skip"; return 0; }
  install_units
  export_env SD_PID SD_CG
}

teardown_file() {
  [ -n "${SD_PID:-}" ] && kill -9 "$SD_PID" 2>/dev/null
  for _ in $(seq 50); do [ -n "${SD_PID:-}" ] && [ -e "/proc/$SD_PID" ] || break; sleep 0.1; done
  [ -n "${SD_CG:-}" ] && [ -d "$SD_CG" ] && find "$SD_CG" -depth -type d -exec rmdir {} + 2>/dev/null
  return 0
}

# boot_systemd: sets SD_PID (systemd, as this namespace sees it) and SD_CG, or SD_SKIP.
boot_systemd() {
  local v2 i
  SD_SKIP=
  [ "$(id -u)" -eq 0 ] || { SD_SKIP="booting systemd needs root"; return 1; }
  [ -x /lib/systemd/systemd ] && command -v unshare >/dev/null || { SD_SKIP="no systemd or unshare"; return 1; }
  for v2 in /sys/fs/cgroup/unified /sys/fs/cgroup; do
    [ "$(stat -fc %T "$v2" 2>/dev/null)" = cgroup2fs ] && break
    v2=
  done
  [ -n "$v2" ] || { SD_SKIP="no cgroup v2 hierarchy"; return 1; }
  SD_CG=$v2/regvault-test-$$
  mkdir "$SD_CG" || { SD_SKIP="cannot make a cgroup in $v2"; return 1; }
  # Nothing of this machine's boot may run in there: systemd's own boot units
  # (sysinit.target's tmpfiles would empty the shared /tmp, sysctl, udev, utmp...)
  # and everything any .wants/ directory names are masked, the targets that pull
  # them too (a unit that Requires= one then fails instead of doing harm), and the
  # directories they write are private tmpfs mounts besides.
  masked_units >"$T_FILE_DIR/masked"
  cat >"$T_FILE_DIR/boot-inner.sh" <<'EOF'
set -e
mount --make-rprivate /
umount -R /sys/fs/cgroup
mount -t cgroup2 cgroup2 /sys/fs/cgroup
for d in /run /tmp /var/tmp /var/log /var/lib/systemd; do mount -t tmpfs -o mode=0755 tmpfs "$d"; done
chmod 1777 /tmp /var/tmp
mkdir -p /run/systemd/system
while read -r u; do ln -sf /dev/null "/run/systemd/system/$u"; done <"$1"
printf '[Unit]\nDescription=regvault test target\nDefaultDependencies=no\n' >/run/systemd/system/rvtest.target
export container=regvault-test
exec /lib/systemd/systemd --system --unit=rvtest.target
EOF
  # into the new cgroup first: the cgroup namespace is rooted where unshare runs
  sh -c 'echo $$ >"$1/cgroup.procs" && exec unshare --pid --fork --mount --mount-proc --uts --ipc --cgroup sh "$2" "$3"' \
    _ "$SD_CG" "$T_FILE_DIR/boot-inner.sh" "$T_FILE_DIR/masked" >"$T_FILE_DIR/systemd.out" 2>&1 </dev/null &
  for i in $(seq 100); do
    SD_PID=$(pgrep -f -- '--system --unit=rvtest.target' | while read -r p; do
      grep -qx "0::/regvault-test-$$\(/.*\)\{0,1\}" "/proc/$p/cgroup" 2>/dev/null && echo "$p"; done | head -1)
    [ -n "$SD_PID" ] && [ "$(ns systemctl is-system-running 2>/dev/null)" = running ] && return 0
    sleep 0.2
  done
  SD_SKIP="systemd did not boot in a namespace: $(tail -3 "$T_FILE_DIR/systemd.out" | tr '\n' ' ')"
  [ -n "$SD_PID" ] && kill -9 "$SD_PID"
  return 1
}

# Every unit the machine's unit directories pull in through .wants/ or .requires/,
# systemd's boot units, and the targets that would pull them: masked in there.
masked_units() {
  local d
  for d in /etc/systemd/system /run/systemd/system /lib/systemd/system /usr/lib/systemd/system; do
    find "$d" -mindepth 2 -maxdepth 2 \( -path '*.wants/*' -o -path '*.requires/*' \) -printf '%f\n' 2>/dev/null
  done | grep -v '^regvault' | sort -u
  printf '%s\n' sysinit.target basic.target local-fs.target local-fs-pre.target remote-fs.target swap.target \
    cryptsetup.target sockets.target paths.target timers.target network.target network-online.target \
    network-pre.target time-set.target time-sync.target getty.target multi-user.target graphical.target \
    systemd-tmpfiles-setup.service systemd-tmpfiles-setup-dev.service systemd-tmpfiles-clean.timer \
    systemd-sysctl.service systemd-sysusers.service systemd-udevd.service systemd-udev-trigger.service \
    systemd-journald.service systemd-journald.socket systemd-journald-dev-log.socket systemd-journald-audit.socket \
    systemd-journal-flush.service systemd-timesyncd.service systemd-modules-load.service systemd-random-seed.service \
    systemd-update-utmp.service systemd-binfmt.service systemd-machine-id-commit.service systemd-firstboot.service
}

# What ran in there besides the test's units: nothing may have.
foreign_units() {
  ns systemctl list-units --all --no-legend --plain --type=service,socket,timer,path,automount,swap |
    awk '$1 !~ /^regvault/ && $3 != "inactive" { print }'
}

# ns CMD...: run CMD inside systemd's namespaces (its /run, so systemctl talks to it)
ns() { nsenter -t "$SD_PID" -m -p -u -i -- "$@"; }

need_systemd() {
  [ -s "$T_FILE_DIR/skip" ] && skip "$(cat "$T_FILE_DIR/skip")"
  return 0
}

install_units() {
  local u d
  mkdir -p "$T_FILE_DIR/units"
  for u in "$RV_ROOT"/packaging/systemd/*; do
    sed "s#/usr/bin/regvault#$RV_PLAIN#g" "$u" >"$T_FILE_DIR/units/$(basename "$u")"
  done
  ns sh -c "cp '$T_FILE_DIR'/units/* /run/systemd/system/"
  for u in "$RV_ROOT"/packaging/systemd/*.timer; do
    d=/run/systemd/system/$(basename "$u").d
    ns mkdir -p "$d"
    printf '[Unit]\nDefaultDependencies=no\n' | ns sh -c "cat >'$d/test.conf'"
  done
  for u in "$RV_ROOT"/packaging/systemd/*.service; do
    d=/run/systemd/system/$(basename "$u").d
    ns mkdir -p "$d"
    ns sh -c "cat >'$d/test.conf'" <<EOF
# not sysinit.target and basic.target, which are masked in there
[Unit]
DefaultDependencies=no
[Service]
User=nobody
Group=nogroup
Environment=REGVAULT_CONFIG=$T_FILE_DIR/regvault.yaml
StateDirectory=
ReadWritePaths=
ReadWritePaths=$T_FILE_DIR
# the journal is masked in there: what the units print goes to a file the tests show
StandardOutput=append:$T_FILE_DIR/units.log
StandardError=append:$T_FILE_DIR/units.log
EOF
  done
  ns systemctl daemon-reload
}

# The configuration the units read ($T_FILE_DIR/regvault.yaml), its directories
# nobody's. SED edits it.
unit_config() {
  local sedx=${1:-}
  write_cluster_config "$T_FILE_DIR/c$$-$RANDOM"
  [ -n "$sedx" ] && sed -i "$sedx" "$CFG"
  mkdir -p "$(dirname "$CFG")/backups" "$(dirname "$CFG")/state"
  chown -R nobody:nogroup "$(dirname "$CFG")"
  cp "$CFG" "$T_FILE_DIR/regvault.yaml"
  CFG=$T_FILE_DIR/regvault.yaml
}

# etcdctl on the members of $CFG
ectl_cfg() {
  etcdctl --endpoints="$(sed -n 's/^ *client_url: //p' "$CFG" | paste -sd, -)" --dial-timeout=3s --command-timeout=10s "$@"
}

# as systemd's namespace sees it
main_pid() { ns systemctl show -p MainPID --value "$1"; }

test_member_units_form_a_cluster_restart_a_killed_member_and_stop() {
  need_systemd
  local i pid pid2 u
  unit_config 's/^\( *\)- name: \(etcd[123]\)$/&\n\1  control: systemd\n\1  unit: regvault-etcd@\2.service/'
  grep -c 'unit: regvault-etcd@etcd' "$CFG" | grep -qx 3 || fail "the configuration has no member units: $(cat "$CFG")"
  run ns "$RV_PLAIN" --config "$CFG" --no-progress cluster up --wait 60s
  assert_ok
  for i in 1 2 3; do
    u=regvault-etcd@etcd$i.service
    assert_eq "$(ns systemctl is-active "$u")" active "the state of $u"
    pid=$(main_pid "$u")
    # the unit's main process is etcd itself (member exec), with the printed command line, as the unit's user
    run ns "$RV_PLAIN" --config "$CFG" member exec --print "etcd$i"
    assert_eq "$(ns sh -c "tr '\\0' '\\n' </proc/$pid/cmdline")" "$OUT" "the command line of $u"
    assert_eq "$(ns ps -o user= -p "$pid")" nobody "the user of $u"
  done
  run "$RV_PLAIN" --config "$CFG" -o json cluster status
  assert_ok
  assert_eq "$(json_get '[.[] | select(.healthy)] | length')" 3 "healthy members"
  # Type=notify: active only after READY=1, which etcd sent
  run ns systemctl show -p Type --value regvault-etcd@etcd1.service
  assert_eq "$OUT" notify "the type of the member unit"

  # Restart=on-failure: a member killed outright comes back
  pid=$(main_pid regvault-etcd@etcd2.service)
  ns kill -9 "$pid"
  for i in $(seq 150); do
    pid2=$(main_pid regvault-etcd@etcd2.service)
    [ "$pid2" != 0 ] && [ "$pid2" != "$pid" ] && [ "$(ns systemctl is-active regvault-etcd@etcd2.service)" = active ] && break
    sleep 0.1
  done
  [ "$pid2" != 0 ] && [ "$pid2" != "$pid" ] || fail "systemd did not restart the killed etcd2 ($pid)"
  run "$RV_PLAIN" --config "$CFG" -o json cluster status
  assert_ok

  # a restore through the units, as root: the restored data dirs get the units' user
  ectl_cfg put /t/before-snapshot yes >/dev/null || fail "cannot write to the unit members"
  run ns "$RV_PLAIN" --config "$CFG" --no-progress snapshot save
  assert_ok
  ectl_cfg put /t/after-snapshot yes >/dev/null
  run ns "$RV_PLAIN" --config "$CFG" --no-progress restore --from latest --yes --force
  assert_ok
  assert_eq "$(ectl_cfg get /t/before-snapshot --print-value-only)" yes "a key from before the snapshot"
  assert_eq "$(ectl_cfg get /t/after-snapshot --print-value-only)" "" "a key written after the snapshot"
  for i in 1 2 3; do
    assert_eq "$(ns systemctl is-active "regvault-etcd@etcd$i.service")" active "the state of etcd$i after the restore"
    assert_eq "$(stat -c %U "$(sed -n 's/^ *data_dir: //p' "$CFG" | sed -n "${i}p")")" nobody \
      "the owner of the restored data dir of etcd$i"
  done

  run ns "$RV_PLAIN" --config "$CFG" --no-progress cluster down
  assert_ok
  for i in 1 2 3; do
    assert_eq "$(ns systemctl is-active "regvault-etcd@etcd$i.service")" inactive "the state of etcd$i after cluster down"
  done
  assert_eq "$(foreign_units)" "" "the units that ran besides regvault's"
}

# The daemon unit: Type=notify (active once it said READY=1), reload, and a restart
# or a stop that leaves the members it started running (KillMode=process).
test_daemon_unit_restarts_without_touching_its_members() {
  need_systemd
  local port i before after
  port=$(free_port)
  unit_config
  cat >>"$CFG" <<EOF
daemon:
  metrics_listen: 127.0.0.1:$port
  health_interval: 1s
  jobs:
    snapshot: {enabled: false}
    verify: {enabled: false}
    compact: {enabled: false}
    defrag: {enabled: false}
    hashcheck: {every: 1h}
    diskcheck: {enabled: false}
    drill: {enabled: false}
EOF
  trap 'ns systemctl stop regvault.service; ns "$RV_PLAIN" --config "$CFG" cluster down >/dev/null 2>&1' EXIT
  run ns systemctl start regvault.service
  [ "$RC" -eq 0 ] || echo "what the units printed: $(tail -5 "$T_FILE_DIR/units.log")" >&2
  assert_ok
  assert_eq "$(ns systemctl is-active regvault.service)" active "the daemon unit"
  run ns "$RV_PLAIN" --config "$CFG" daemon status
  assert_ok
  run curl -sf "http://127.0.0.1:$port/healthz"
  assert_ok
  # its members: started by the daemon, as nobody, in the unit's cgroup
  for i in 1 2 3; do
    for _ in $(seq 100); do [ -s "$(dirname "$(sed -n 's/^ *data_dir: //p' "$CFG" | head -1)")/etcd$i.pid" ] && break; sleep 0.1; done
  done
  before=$(member_pids)
  [ "$(wc -w <<<"$before")" -eq 3 ] || fail "the daemon did not start three members: $before"

  run ns systemctl reload regvault.service
  assert_ok
  run ns systemctl restart regvault.service
  assert_ok
  assert_eq "$(ns systemctl is-active regvault.service)" active "the daemon unit after a restart"
  after=$(member_pids)
  assert_eq "$after" "$before" "the members' pids after the daemon's restart"
  run ns systemctl stop regvault.service
  assert_ok
  after=$(member_pids)
  assert_eq "$after" "$before" "the members' pids after the daemon's stop"
  run "$RV_PLAIN" --config "$CFG" cluster status
  assert_ok

  # a job's oneshot service, as its timer starts it: a snapshot into the store
  run ns systemctl start regvault-snapshot.service
  assert_ok
  assert_eq "$(ns systemctl show -p Result --value regvault-snapshot.service)" success "the snapshot service's result"
  ls "$(dirname "$(sed -n 's/^ *data_dir: //p' "$CFG" | head -1)")"/backups/registry-*.tar.zst >/dev/null 2>&1 ||
    fail "the snapshot service wrote no artifact"
  run ns systemctl start regvault-defrag.service
  assert_ok
  run ns systemctl start regvault-snapshot.timer
  assert_ok
  assert_eq "$(ns systemctl is-active regvault-snapshot.timer)" active "the snapshot timer"
  ns systemctl stop regvault-snapshot.timer
  assert_eq "$(foreign_units)" "" "the units that ran besides regvault's"
}

# the pids (in systemd's namespace) of the members, from their pid files, each alive
member_pids() {
  local d f p out=
  d=$(dirname "$(sed -n 's/^ *data_dir: //p' "$CFG" | head -1)")
  for f in "$d"/etcd1.pid "$d"/etcd2.pid "$d"/etcd3.pid; do
    p=$(cat "$f" 2>/dev/null) || continue
    ns test -d "/proc/$p" && out="$out $p"
  done
  echo $out
}
