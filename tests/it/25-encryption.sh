# Encrypted artifacts (store.encryption, the age format) against a real three-member
# cluster: a host with only the public key saves, lists and prunes; verify without
# and with the identity; Debian's age opens what regvault wrote and regvault what
# age wrote; restore and drill decrypt; a missing or wrong identity, an identity
# file others may read, and a damaged artifact are refused before any member stops.

# enc_config OUT LINES...: $CFG with these lines under store: (after url:).
enc_config() {
  local out=$1; shift
  awk -v extra="$(printf '%s\n' "$@")" '{print} /^  url: /{print extra}' "${CFG_PLAIN:-$CFG}" >"$out"
}

setup_file() {
  command -v age >/dev/null && command -v age-keygen >/dev/null || skip "age is not installed (apt-get install age)"
  CLUSTER_DIR=$T_FILE_DIR/cluster
  start_cluster "$CLUSTER_DIR"
  for i in $(seq 1 30); do ectl put "/registry/secrets/s$i" "TOPSECRET-token-$i-plaintext" >/dev/null; done
  for i in 1 2 3 4; do head -c 1000000 /dev/urandom | ectl put "/registry/blobs/b$i" >/dev/null; done
  ectl get --prefix /registry/secrets >"$T_FILE_DIR/keys.expected"
  KEY=$T_FILE_DIR/key.txt
  age-keygen -o "$KEY" 2>/dev/null
  chmod 600 "$KEY"
  RCP=$(age-keygen -y "$KEY")
  CFG_PLAIN=$CFG
  # the backup host: the public key only
  CFG_PUB=$T_FILE_DIR/pub.yaml
  enc_config "$CFG_PUB" "  encryption:" "    recipients: [\"$RCP\"]"
  # the restore host: the identity too
  CFG_ID=$T_FILE_DIR/id.yaml
  enc_config "$CFG_ID" "  encryption:" "    recipients: [\"$RCP\"]" "    identity_file: $KEY"
  CFG=$CFG_PUB
  "$RV_BIN" --config "$CFG_PUB" --no-progress snapshot save --tag base >/dev/null
  ART=$(ls "$CLUSTER_DIR/backups" | grep 'base.tar.zst.age$')
  export_env CLUSTER_DIR CFG CFG_PLAIN CFG_PUB CFG_ID ENDPOINTS KEY RCP ART
}

flip_byte() { # flip_byte FILE OFFSET
  local b
  b=$(dd if="$1" bs=1 skip="$2" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
  printf "$(printf '\\%03o' $((b ^ 4)))" | dd of="$1" bs=1 seek="$2" count=1 conv=notrunc 2>/dev/null
}

copy_store() { # copy_store DIR: a store of its own with the base artifact and its sidecar
  mkdir -p "$1"
  cp "$CLUSTER_DIR/backups/$ART" "$CLUSTER_DIR/backups/${ART%.tar.zst.age}.manifest.json" "$1/"
}

test_saved_artifact_is_age_with_no_plaintext() {
  local f=$CLUSTER_DIR/backups/$ART
  assert_eq "$(head -1 "$f")" "age-encryption.org/v1" "first line"
  assert_eq "$(sed -n 2p "$f" | cut -c1-10)" "-> X25519 " "stanza"
  grep -q TOPSECRET < <(strings "$f") && fail "the artifact holds plaintext"
  grep -q '"cluster_name"' < <(strings "$f") && fail "the artifact holds a plain manifest"
  # no zstd frame magic where the payload starts would be
  tar --zstd -tf "$f" >/dev/null 2>&1 && fail "tar opens the encrypted artifact"
  # the sidecar is readable without the key, and holds no secret
  local side=$CLUSTER_DIR/backups/${ART%.tar.zst.age}.manifest.json
  assert_eq "$(jq -r .tag "$side")" base "sidecar tag"
  [ "$(jq -r .artifact_size "$side")" = "$(stat -c %s "$f")" ] || fail "sidecar artifact_size"
  grep -q TOPSECRET "$side" && fail "the sidecar holds a secret"
  grep -qi 'secret-key' "$side" && fail "the sidecar names a key"
  ! ls "$CLUSTER_DIR/backups" | grep -v -e '\.tar\.zst\.age$' -e '\.manifest\.json$' | grep -q . ||
    fail "something else in the store: $(ls "$CLUSTER_DIR/backups")"
}

test_list_and_prune_with_the_public_key_only() {
  rv -o json snapshot list
  assert_ok
  assert_eq "$(json_get "[.[] | select(.name == \"$ART\")][0].tag")" base "listed tag"
  assert_eq "$(json_get "[.[] | select(.name == \"$ART\")][0].foreign")" false "foreign"
  rv -o json snapshot prune --dry-run
  assert_ok
  assert_out_contains "$ART"
}

test_verify_without_identity_checks_the_file_hash() {
  rv snapshot verify "$ART"
  assert_ok
  rv snapshot verify "${ART%.tar.zst.age}"
  assert_ok
  copy_store "$T/s"
  flip_byte "$T/s/$ART" 5000
  rv snapshot verify "$ART" --store "$T/s"
  assert_rc 1
  assert_err_contains "damaged"
}

test_verify_with_identity_reads_end_to_end() {
  CFG=$CFG_ID
  rv snapshot verify "$ART"
  assert_ok
  copy_store "$T/s"
  local size; size=$(stat -c %s "$T/s/$ART")
  flip_byte "$T/s/$ART" $((size / 2))
  rv snapshot verify "$ART" --store "$T/s"
  assert_rc 1
  assert_err_contains "damaged"
  copy_store "$T/h"
  flip_byte "$T/h/$ART" 40 # in the header
  rm "$T/h/${ART%.tar.zst.age}.manifest.json"
  rv snapshot verify "$ART" --store "$T/h"
  assert_rc 1
  [[ $ERR == *damaged* || $ERR == *"not made for this key"* ]] || fail "verify said: $ERR"
}

test_age_opens_the_artifact_and_etcdctl_restores_it() {
  cd "$T"
  age -d -i "$KEY" "$CLUSTER_DIR/backups/$ART" | tar --zstd -x || fail "age -d | tar failed"
  assert_file manifest.json
  assert_file snapshot.db
  assert_eq "$(jq -r .tag manifest.json)" base "manifest tag"
  run etcdctl snapshot restore snapshot.db --data-dir "$T/plain-restore"
  assert_ok
}

test_regvault_reads_what_age_encrypted() {
  CFG=$CFG_PLAIN
  rv -o json snapshot save --store "$T/plain" --tag plain
  assert_ok
  local name; name=$(json_get .name)
  mkdir -p "$T/s"
  age -r "$RCP" -o "$T/s/$name.age" "$T/plain/$name" || fail "age -r failed"
  CFG=$CFG_ID
  rv snapshot verify "$name.age" --store "$T/s"
  assert_ok
  rv snapshot fetch "$name.age" "$T/db" --store "$T/s"
  assert_ok
  [ $(($(stat -c %s "$T/db") % 512)) -eq 32 ] || fail "fetched file has no 32-byte trailer"
}

test_identity_from_regvault_keygen_works_in_age() {
  rv keygen "$T/rv-key"
  assert_ok
  local r=$OUT
  [[ $r == age1* ]] || fail "keygen printed '$r'"
  assert_eq "$(stat -c %a "$T/rv-key")" 600 "identity file mode"
  assert_eq "$(age-keygen -y "$T/rv-key")" "$r" "age-keygen -y of the identity"
  rv keygen "$T/rv-key"
  assert_rc 1
  assert_err_contains "exists already"
  enc_config "$T/c.yaml" "  encryption:" "    recipients: [\"$r\"]"
  CFG=$T/c.yaml
  rv -o json snapshot save --store "$T/s"
  assert_ok
  local name; name=$(json_get .name)
  age -d -i "$T/rv-key" "$T/s/$name" | tar --zstd -t >"$T/list" || fail "age -d failed"
  grep -q snapshot.db "$T/list" || fail "no snapshot.db"
}

test_recipients_file_and_two_recipients() {
  local k2=$T/k2 r2
  age-keygen -o "$k2" 2>/dev/null
  r2=$(age-keygen -y "$k2")
  printf '# backup keys\n%s\n\n%s\n' "$RCP" "$r2" >"$T/rcpts"
  enc_config "$T/c.yaml" "  encryption:" "    recipients_file: $T/rcpts"
  CFG=$T/c.yaml
  rv -o json snapshot save --store "$T/s"
  assert_ok
  local name; name=$(json_get .name)
  age -d -i "$k2" "$T/s/$name" | tar --zstd -t >/dev/null || fail "the second recipient cannot open it"
  age -d -i "$KEY" "$T/s/$name" | tar --zstd -t >/dev/null || fail "the first recipient cannot open it"
}

data_dir_state() { # what a restore would change: the members' data dirs
  local i
  for i in 1 2 3; do stat -c '%i %Y' "$CLUSTER_DIR/etcd$i" "$CLUSTER_DIR/etcd$i/member"; done
}

members_all_up() {
  etcdctl --endpoints="$ENDPOINTS" --dial-timeout=3s endpoint health >/dev/null 2>&1
}

test_missing_or_wrong_identity_is_refused_before_anything_stops() {
  local before; before=$(data_dir_state)
  CFG=$CFG_PUB
  rv restore --from "$ART" --yes --force
  assert_rc 1
  assert_err_contains "no identity is configured"
  assert_err_contains "before any member was stopped"
  members_all_up || fail "a member stopped"
  assert_eq "$(data_dir_state)" "$before" "data dirs"
  # a wrong identity
  age-keygen -o "$T/other" 2>/dev/null; chmod 600 "$T/other"
  enc_config "$T/wrong.yaml" "  encryption:" "    identity_file: $T/other"
  CFG=$T/wrong.yaml
  rv restore --from "$ART" --yes --force
  assert_rc 1
  assert_err_contains "not made for this key"
  members_all_up || fail "a member stopped"
  assert_eq "$(data_dir_state)" "$before" "data dirs"
  rv snapshot fetch "$ART" "$T/db"
  assert_rc 1
  assert_err_contains "not made for this key"
  assert_no_file "$T/db"
  rv drill --from "$ART"
  assert_rc 1
  # an identity file others may read
  cp "$KEY" "$T/open-key"; chmod 644 "$T/open-key"
  enc_config "$T/open.yaml" "  encryption:" "    identity_file: $T/open-key"
  CFG=$T/open.yaml
  rv restore --from "$ART" --yes --force
  [ "$RC" -ne 0 ] || fail "a 0644 identity file was accepted"
  assert_err_contains "chmod 600"
  members_all_up || fail "a member stopped"
  assert_eq "$(data_dir_state)" "$before" "data dirs"
}

test_damaged_artifact_is_refused_before_restore_stops_anything() {
  local before; before=$(data_dir_state)
  copy_store "$T/s"
  local size; size=$(stat -c %s "$T/s/$ART")
  flip_byte "$T/s/$ART" $((size - 100))
  CFG=$CFG_ID
  rv restore --from "$ART" --store "$T/s" --yes --force
  assert_rc 1
  assert_err_contains "damaged"
  members_all_up || fail "a member stopped"
  assert_eq "$(data_dir_state)" "$before" "data dirs"
}

test_passphrase_mode() {
  printf 'correct horse battery staple\n' >"$T/pass"; chmod 600 "$T/pass"
  enc_config "$T/p.yaml" "  encryption:" "    passphrase_file: $T/pass"
  CFG=$T/p.yaml
  rv -o json snapshot save --store "$T/s"
  assert_ok
  local name; name=$(json_get .name)
  assert_eq "$(sed -n 2p "$T/s/$name" | cut -c1-10)" "-> scrypt " "stanza"
  rv snapshot verify "$name" --store "$T/s"
  assert_ok
  rv snapshot fetch "$name" "$T/db" --store "$T/s"
  assert_ok
  printf 'wrong\n' >"$T/pass2"; chmod 600 "$T/pass2"
  enc_config "$T/p2.yaml" "  encryption:" "    passphrase_file: $T/pass2"
  CFG=$T/p2.yaml
  rv snapshot verify "$name" --store "$T/s"
  assert_rc 1
  assert_err_contains "passphrase"
  # alone only
  enc_config "$T/p3.yaml" "  encryption:" "    passphrase_file: $T/pass" "    recipients: [\"$RCP\"]"
  CFG=$T/p3.yaml
  rv snapshot list
  assert_rc 2
  assert_err_contains "passphrase_file goes alone"
}

# age_tty PASSPHRASE AGE_ARGS...: run age with a terminal, as its passphrase
# prompts need (age reads a passphrase from /dev/tty only), typing PASSPHRASE at
# each prompt. Exit code: age's.
age_tty() {
  python3 - "$@" <<'PY'
import os, pty, select, sys
pw = sys.argv[1].encode() + b"\n"
pid, fd = pty.fork()
if pid == 0:
    os.execvp("age", ["age"] + sys.argv[2:])
seen, answered = b"", 0
while True:
    r, _, _ = select.select([fd], [], [], 120)  # not a timed assertion: only so a hung age cannot hang the suite
    if not r:
        os.kill(pid, 9)
        break
    try:
        data = os.read(fd, 4096)
    except OSError:  # EIO: age closed the terminal, it is done
        break
    if not data:
        break
    seen += data
    # "Enter passphrase...: ", "Confirm passphrase: "
    while seen.count(b"passphrase") > answered and seen.rstrip().endswith(b":"):
        os.write(fd, pw)
        answered += 1
_, status = os.waitpid(pid, 0)
sys.stderr.write(seen.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
PY
}

# Interop of the passphrase mode with Debian's age -p (scrypt, work factor 18 both ways).
test_passphrase_interop_with_age_p() {
  local pass='correct horse battery staple'
  printf '%s\n' "$pass" >"$T/pass"; chmod 600 "$T/pass"
  enc_config "$T/p.yaml" "  encryption:" "    passphrase_file: $T/pass"
  # regvault encrypts, age -d decrypts with the passphrase typed at its prompt
  CFG=$T/p.yaml
  rv -o json snapshot save --store "$T/s" --tag pp
  assert_ok
  local name; name=$(json_get .name)
  age_tty "$pass" -d -o "$T/from-age.tar.zst" "$T/s/$name" 2>"$T/age.err" || fail "age -d failed: $(cat "$T/age.err")"
  tar --zstd -xf "$T/from-age.tar.zst" -C "$T" snapshot.db manifest.json || fail "tar cannot open what age decrypted"
  assert_eq "$(jq -r .tag "$T/manifest.json")" pp "manifest tag"
  run etcdctl snapshot restore "$T/snapshot.db" --data-dir "$T/pp-restore"
  assert_ok
  age_tty "wrong horse" -d -o "$T/wrong.tar.zst" "$T/s/$name" 2>"$T/age.err" && fail "age -d took a wrong passphrase"
  # age -p encrypts a plain artifact, regvault verifies and fetches it with the passphrase
  CFG=$CFG_PLAIN
  rv -o json snapshot save --store "$T/plain" --tag plain
  assert_ok
  local plain; plain=$(json_get .name)
  mkdir -p "$T/a"
  age_tty "$pass" -p -o "$T/a/$plain.age" "$T/plain/$plain" 2>"$T/age.err" || fail "age -p failed: $(cat "$T/age.err")"
  assert_eq "$(sed -n 2p "$T/a/$plain.age" | cut -d' ' -f2,4)" "scrypt 18" "age -p stanza and work factor"
  CFG=$T/p.yaml
  rv snapshot verify "$plain.age" --store "$T/a"
  assert_ok
  rv snapshot fetch "$plain.age" "$T/db-from-age" --store "$T/a"
  assert_ok
  (cd "$T" && mkdir x && tar --zstd -xf "plain/$plain" -C x snapshot.db) || fail "tar of the plain artifact"
  cmp "$T/db-from-age" "$T/x/snapshot.db" || fail "fetched db differs from the plain artifact's"
  printf 'wrong horse\n' >"$T/pass2"; chmod 600 "$T/pass2"
  enc_config "$T/p2.yaml" "  encryption:" "    passphrase_file: $T/pass2"
  CFG=$T/p2.yaml
  rv snapshot verify "$plain.age" --store "$T/a"
  assert_rc 1
  assert_err_contains "passphrase"
}

test_restore_and_drill_with_the_identity() {
  CFG=$CFG_ID
  rv drill --from "$ART"
  assert_ok
  assert_out_contains PASS
  ectl put /registry/secrets/after-save later >/dev/null
  rv restore --from "$ART" --yes --force
  assert_ok
  ectl get --prefix /registry/secrets >"$T/keys.after"
  grep -q after-save "$T/keys.after" && fail "the key written after the save survived the restore"
  diff -q "$T_FILE_DIR/keys.expected" "$T/keys.after" >/dev/null || fail "restored keys differ"
}

test_a_flipped_byte_anywhere_fails_with_a_sentence() {
  CFG=$CFG_ID
  local size off; size=$(stat -c %s "$CLUSTER_DIR/backups/$ART")
  for off in 0 12 30 60 100 $((size / 3)) $((size - 17)) $((size - 1)); do
    rm -rf "$T/s"; copy_store "$T/s"
    rm "$T/s/${ART%.tar.zst.age}.manifest.json" # the decryption itself must notice
    flip_byte "$T/s/$ART" "$off"
    rv snapshot verify "$ART" --store "$T/s"
    assert_rc 1
    [[ $ERR == *damaged* || $ERR == *"not made for this key"* ]] || fail "byte $off: verify said: $ERR"
  done
}
