# The runbooks (docs/runbooks/*.md) as an operator follows them, so that they cannot
# rot. Every ```sh block whose first line is "# runbook-test" runs, command by command
# (a line ending in "\" continues on the next), in one bash per runbook, in the order
# of the page, against a real three-member cluster laid out as the packaged
# configuration: data dirs, store and state_dir under one directory that stands for
# /var/lib/regvault, with $REGVAULT_CONFIG naming its configuration and `regvault` in
# PATH. The page's paths and the packaged example's URLs are replaced by the test's.
# Each command must exit 0, or one of the codes its "# exit N" / "# exit N|M" comment
# gives. A block that cannot run on one machine starts "# runbook-test: not run:
# REASON" (root, systemctl, a package install, S3); a ```sh block with neither line
# fails the test. Before some runbooks the test makes the trouble they are for: a
# NOSPACE alarm (the cluster's quota is 16 MiB), a member lost with its data dir, TLS
# certificates about to be rotated, a mistaken del --prefix recorded by continuous
# backup.

RUNBOOKS=(install backups drill restore upgrade disk-check nospace replace-member rotate-keys three-hosts encrypted-backups
  point-in-time)

source "$RV_ROOT/tests/continuous-lib.sh" # recorder_section, start_recorder, reach; kills the recorder at the end

setup_file() {
  ROOT=$T_FILE_DIR/root # /var/lib/regvault
  start_cluster "$ROOT" 's/^  etcd:$/  etcd:\n    quota_backend_bytes: 16MiB/; s|^state_dir: .*|state_dir: '"$ROOT"'|' || return 1
  grep -q "quota_backend_bytes: 16MiB" "$CFG" || { echo "cannot set the quota in $CFG"; return 1; }
  mkdir -p "$T_FILE_DIR/bin" "$T_FILE_DIR/etc/tls" "$T_FILE_DIR/node-exporter"
  ln -sf "$RV_BIN" "$T_FILE_DIR/bin/regvault"
  make_substitutions >"$T_FILE_DIR/subst.sed"
  export_env CFG ENDPOINTS ROOT
}

# The page's paths and URLs as the test has them, as a sed script. The configuration
# first, then the rest of /etc/regvault (the TLS files the test makes).
make_substitutions() {
  local i ex_c=(2379 22379 32379) ex_p=(2380 22380 32380) c p
  echo "s#/etc/regvault/regvault.yaml#$CFG#g"
  echo "s#/etc/regvault/#$T_FILE_DIR/etc/#g"
  echo "s#/var/lib/regvault#$ROOT#g"
  echo "s#/var/lib/prometheus/node-exporter#$T_FILE_DIR/node-exporter#g"
  for i in 0 1 2; do
    c=$(sed -n 's/^ *client_url: //p' "$CFG" | sed -n "$((i + 1))p")
    p=$(sed -n 's/^ *peer_url: //p' "$CFG" | sed -n "$((i + 1))p")
    echo "s#http://127\\.0\\.0\\.1:${ex_c[i]}\\b#$c#g"
    echo "s#http://127\\.0\\.0\\.1:${ex_p[i]}\\b#$p#g"
  done
}

# runbook_blocks PAGE: one line per command of its runnable blocks, "LINE<TAB>COMMAND"
# (continuations joined); "SKIP<TAB>LINE<TAB>REASON" for a block marked not run;
# "UNMARKED<TAB>LINE" for a ```sh block with no marker.
runbook_blocks() {
  awk '
    /^```sh[ \t]*$/ && !inblock { inblock = 1; first = 1; start = NR; next }
    /^```[ \t]*$/ && inblock { inblock = 0; run = 0; next }
    inblock && first {
      first = 0
      if ($0 == "# runbook-test") { run = 1; next }
      if ($0 ~ /^# runbook-test: not run: ./) { sub(/^# runbook-test: not run: /, ""); print "SKIP\t" start "\t" $0; run = 0; next }
      print "UNMARKED\t" start; run = 0
    }
    inblock && run {
      line = $0
      if (pending == "") at = NR
      if (line ~ /\\$/) { sub(/\\$/, "", line); pending = pending line; next }
      print at "\t" pending line; pending = ""
    }
  ' "$1"
}

# run_runbook NAME: its commands as one script; fails naming the line that failed.
run_runbook() {
  local name=$1 page=$RV_ROOT/docs/runbooks/$1.md n cmd expect ran=0
  [ -f "$page" ] || fail "no runbook $page"
  runbook_blocks "$page" >"$T/blocks"
  grep -q '^UNMARKED' "$T/blocks" && fail "$name.md has a \`\`\`sh block without a runbook-test line at line $(grep -m1 '^UNMARKED' "$T/blocks" | cut -f2)"
  {
    echo "cd '$T' || exit 1"
    echo "export REGVAULT_CONFIG='$CFG' PATH='$T_FILE_DIR/bin':\$PATH"
    while IFS=$'\t' read -r n cmd; do
      [ "$n" = SKIP ] && continue
      expect=0
      if [[ $cmd =~ \#\ exit\ ([0-9|]+) ]]; then expect=${BASH_REMATCH[1]}; fi
      cmd=$(sed -f "$T_FILE_DIR/subst.sed" <<<"$cmd")
      printf 'echo %q\n' "+ [$name.md:$n] $cmd"
      printf '%s\n' "$cmd"
      printf 'rc=$?; case "|%s|" in *"|$rc|"*) ;; *) echo "FAILED %s.md line %s: exit $rc, expected %s"; exit 1 ;; esac\n' \
        "$expect" "$name" "$n" "$expect"
      ran=$((ran + 1))
    done <"$T/blocks"
  } >"$T/$name.sh"
  [ "$ran" -gt 0 ] || fail "$name.md has no command the test runs"
  echo "running $ran commands of $name.md ($(grep -c '^SKIP' "$T/blocks") blocks not run)" >&2
  timeout 300 bash "$T/$name.sh" >"$T/$name.out" 2>&1 </dev/null
  local rc=$?
  cat "$T/$name.out" >&2
  [ $rc -eq 0 ] || fail "$(grep -m1 '^FAILED' "$T/$name.out" || echo "$name.md: exit $rc"): $(tail -6 "$T/$name.out" | tr '\n' ' ' | cut -c1-600)"
  # what the runbook leaves must be a healthy cluster for the next one
  "$RV_BIN" --config "$CFG" cluster status >/dev/null 2>&1 || fail "the cluster is not healthy after $name.md"
}

test_every_runbook_is_tested_and_every_block_is_marked() {
  local page name
  for page in "$RV_ROOT"/docs/runbooks/*.md; do
    name=$(basename "$page" .md)
    [ "$name" = README ] && continue
    [[ " ${RUNBOOKS[*]} " == *" $name "* ]] || fail "docs/runbooks/$name.md is not run by tests/it/92-runbooks.sh"
    runbook_blocks "$page" >"$T/blocks"
    ! grep -q '^UNMARKED' "$T/blocks" || fail "$name.md: the \`\`\`sh block at line $(grep -m1 '^UNMARKED' "$T/blocks" | cut -f2) has no runbook-test line"
    grep -q '^[0-9]' "$T/blocks" || fail "$name.md has no command the test runs"
    grep -q "($name.md)" "$RV_ROOT/docs/runbooks/README.md" || fail "docs/runbooks/README.md does not list $name.md"
  done
}

test_install() { run_runbook install; }
test_backups() { run_runbook backups; }
test_drill() { run_runbook drill; }
test_restore() { run_runbook restore; }
test_upgrade() { run_runbook upgrade; }
test_disk_check() { run_runbook disk-check; }
test_three_hosts() { run_runbook three-hosts; }

# Fill the 16 MiB quota with history (a few keys overwritten with 75 kB values) until
# etcd refuses, and wait until every member lists the alarm.
test_nospace() {
  local i
  head -c 56000 /dev/urandom | base64 -w0 >"$T/value"
  for i in $(seq 1 600); do
    etcdctl --endpoints="$ENDPOINTS" put "/hist/$((i % 10))" <"$T/value" >/dev/null 2>"$T/put.err" && continue
    grep -q "database space exceeded" "$T/put.err" || fail "put $i failed: $(tail -1 "$T/put.err")"
    break
  done
  for i in $(seq 50); do [ "$(ectl alarm list | grep -c NOSPACE)" -ge 1 ] && break; sleep 0.2; done
  ectl alarm list | grep -q NOSPACE || fail "no NOSPACE alarm after filling the quota"
  run_runbook nospace
}

# etcd3's disk is gone: the process and its data dir.
test_replace_member() {
  local d pid
  d=$(sed -n 's/^ *data_dir: //p' "$CFG" | sed -n 3p)
  pid=$(cat "$d.pid")
  kill -9 "$pid"
  for _ in $(seq 50); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
  rm -rf "$d"
  run_runbook replace-member
  run "$RV_BIN" --config "$CFG" -o json cluster status
  assert_eq "$(json_get '[.[] | select(.healthy)] | length')" 3 "healthy members after the replacement"
}

# The TLS files the page names, in the test's /etc/regvault/tls: a CA, the certificates
# in use, and new ones from the same CA in tls/new.
test_rotate_keys() {
  local d=$T_FILE_DIR/etc/tls kind dir
  mkdir -p "$d/new"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca-key.pem" -out "$d/ca.pem" -days 400 -subj /CN=runbook-ca 2>/dev/null
  for dir in "$d" "$d/new"; do
    for kind in server client; do
      openssl req -newkey rsa:2048 -nodes -keyout "$dir/$kind-key.pem" -out "$dir/$kind.csr" -subj "/CN=$kind" 2>/dev/null
      openssl x509 -req -in "$dir/$kind.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" -CAcreateserial -days 365 \
        -extfile <(printf 'subjectAltName=IP:127.0.0.1\n') -out "$dir/$kind.pem" 2>/dev/null
    done
  done
  run_runbook rotate-keys
  cmp -s "$d/server.pem" "$d/new/server.pem" || fail "the runbook did not put the new server certificate in place"
  assert_file "$d/server.pem.old"
}

# The page's configuration step (a yaml block, done by hand) made here: the
# store encrypts for the recipients file the runbook writes, and reads with its
# identity. The configuration is put back afterwards.
test_encrypted_backups() {
  command -v age >/dev/null && command -v age-keygen >/dev/null || skip "age is not installed (apt-get install age)"
  local e=$T_FILE_DIR/etc
  cp "$CFG" "$T/regvault.yaml.plain"
  awk -v extra="  encryption:\n    recipients_file: $e/recipients.txt\n    identity_file: $e/identity.txt" \
    '{print} /^  url: /{print extra}' "$T/regvault.yaml.plain" >"$CFG"
  grep -q "identity_file: $e/identity.txt" "$CFG" || fail "cannot add store.encryption to $CFG"
  run_runbook encrypted-backups
  cp "$T/regvault.yaml.plain" "$CFG"
  assert_eq "$(stat -c %a "$e/identity.txt")" 600 "identity file mode"
  assert_eq "$(grep -c '^age1' "$e/recipients.txt")" 2 "recipients after the rotation"
  ls "$ROOT/backups" | grep -q 'rotated\.tar\.zst\.age$' || fail "no encrypted artifact after the rotation: $(ls "$ROOT/backups")"
  assert_file "$ROOT/opened/etcd-restored/member"
}

# A recorder (its own configuration beside the runbooks': the same cluster and store)
# records a chain; keys under /registry/ are put, then removed by a mistaken
# del --prefix; the page's BEFORE becomes the time between the two. After the page
# the keys are back.
test_point_in_time() {
  local rec=$T/recorder.yaml before base i
  cp "$CFG" "$rec"
  recorder_section "$rec"
  run "$RV_BIN" --config "$CFG" --no-progress snapshot save
  assert_ok
  base=$(ls "$ROOT/backups" | grep '\.tar\.zst$' | sort | tail -1)
  CHAIN=${base%.tar.zst}
  BASE=$(jq -r .revision "$ROOT/backups/$base.manifest.json" 2>/dev/null || true)
  [ -n "$BASE" ] && [ "$BASE" != null ] || BASE=$(sed -n 's/.*-r\([0-9]*\)$/\1/p' <<<"$CHAIN")
  start_recorder "$rec"
  wait_for 20 grep -q "recording chain $CHAIN" "$T/daemon.log" || fail "the recorder did not start: $(tail -3 "$T/daemon.log")"
  for i in 1 2 3 4 5; do ectl put "/registry/svc$i" "up$i" >/dev/null || fail "put"; done
  sleep 1.2
  before=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  sleep 1.2
  ectl del --prefix /registry/ >/dev/null || fail "del"
  local now
  now=$(ectl get /registry/none -w json | jq -r .header.revision)
  wait_for 30 eval '[ "$(reach "$CHAIN" "$BASE" "$ROOT/backups")" -ge "$now" ]' ||
    fail "the segments reach $(reach "$CHAIN" "$BASE" "$ROOT/backups"), not $now: $(tail -3 "$T/daemon.log")"
  kill -TERM "$DPID"
  wait "$DPID" 2>/dev/null
  echo "s#2026-12-04T10:15:00Z#$before#g" >>"$T_FILE_DIR/subst.sed"
  run_runbook point-in-time
  for i in 1 2 3 4 5; do
    assert_eq "$(ectl get "/registry/svc$i" --print-value-only)" "up$i" "/registry/svc$i after the runbook"
  done
}
