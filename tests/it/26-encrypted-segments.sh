# Continuous backup with store.encryption (issue 17 for segments): the recorder, on
# a host with only the public key, writes every segment in the age format
# (.rvseg.zst.age, no plaintext in the store), Debian's age opens one into the
# documented body, list and verify work without the identity (names and holes
# only, saying so) and with it (every segment read), a flipped byte and a wrong
# identity fail verify with a sentence, a segment cut half way is not published,
# and a passphrase is refused for continuous backup.

setup_file() {
  command -v age >/dev/null && command -v age-keygen >/dev/null || skip "age is not installed (apt-get install age)"
  start_cluster "$T_FILE_DIR/c"
  need_test_hooks
  KEY=$T_FILE_DIR/key.txt
  age-keygen -o "$KEY" 2>/dev/null
  chmod 600 "$KEY"
  RCP=$(age-keygen -y "$KEY")
  OTHER=$T_FILE_DIR/other.txt
  age-keygen -o "$OTHER" 2>/dev/null
  chmod 600 "$OTHER"
  export_env CFG ENDPOINTS KEY RCP OTHER
}

source "$RV_ROOT/tests/continuous-lib.sh"

# enc_cfg OUT LINES...: this test's config (its own store and state) with LINES
# under store: (after url:).
enc_cfg() {
  local out=$1; shift
  sed -e "s|^state_dir: .*|state_dir: $T/state|" -e "s|^  url: .*/backups$|  url: $T/backups|" "$CFG" |
    awk -v extra="$(printf '%s\n' "$@")" '{print} /^  url: /{print extra}' >"$out"
}

# cont_config: $PUB (recipients only, the recorder's), $ID (the identity too),
# $WRONG (another identity); the daemon section in $PUB.
cont_config() {
  PUB=$T/pub.yaml ID=$T/id.yaml WRONG=$T/wrong.yaml
  enc_cfg "$PUB" "  encryption:" "    recipients: [\"$RCP\"]"
  enc_cfg "$ID" "  encryption:" "    recipients: [\"$RCP\"]" "    identity_file: $KEY"
  enc_cfg "$WRONG" "  encryption:" "    recipients: [\"$RCP\"]" "    identity_file: $OTHER"
  recorder_section "$PUB"
}

start_daemon() { start_recorder "$PUB" "$@"; }

put_n() { # put_n N PREFIX: N puts of secret values, each acknowledged revision in $T/acked
  local i
  for i in $(seq 1 "$1"); do
    ectl put "$2$i" "TOPSECRET-$2$i" -w json | jq -r .header.revision >>"$T/acked"
  done
}



flip_byte() { # flip_byte FILE OFFSET
  local b
  b=$(dd if="$1" bs=1 skip="$2" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
  printf "$(printf '\\%03o' $((b ^ 4)))" | dd of="$1" bs=1 seek="$2" count=1 conv=notrunc 2>/dev/null
}

# save_base: a full encrypted artifact; sets ART CHAIN BASE
save_base() {
  run "$RV_BIN" --config "$PUB" --no-progress snapshot save
  assert_ok
  ART=$(ls "$T/backups" | grep '\.tar\.zst\.age$' | head -1)
  [ -n "$ART" ] || fail "no encrypted artifact: $(ls "$T/backups")"
  CHAIN=${ART%.tar.zst.age}
  BASE=${CHAIN##*-r}
}

test_segments_are_age_files_without_plaintext_that_age_opens() {
  cont_config
  save_base
  start_daemon
  put_n 30 /s/
  wait_reach "$CHAIN" "$BASE" "$(tail -1 "$T/acked")"
  grep -q "recording chain $CHAIN" "$T/daemon.log" || fail "no 'recording chain' in the log: $(tail -5 "$T/daemon.log")"
  kill -TERM "$DPID"; wait "$DPID" 2>/dev/null
  local segs seg
  segs=$(ls "$T/backups" | grep -F "$CHAIN.seg-r")
  ! grep -v '\.rvseg\.zst\.age$' <<<"$segs" | grep -q . || fail "a segment is not encrypted: $segs"
  for seg in $segs; do
    assert_eq "$(head -1 "$T/backups/$seg")" "age-encryption.org/v1" "$seg's first line"
  done
  ! grep -rqa TOPSECRET "$T/backups" || fail "plaintext in the store: $(grep -rla TOPSECRET "$T/backups")"
  ! grep -rqa TOPSECRET "$T/state" 2>/dev/null || fail "plaintext on disk: $(grep -rla TOPSECRET "$T/state")"
  # interop: age -d | zstd -d gives the documented body
  seg=$(head -1 <<<"$segs")
  age -d -i "$KEY" "$T/backups/$seg" | zstd -dc >"$T/body" || fail "age -d | zstd -d failed on $seg"
  assert_eq "$(head -c 7 "$T/body")" "RVSEG1" "the body's start"
  grep -aq "TOPSECRET-/s/1" "$T/body" || fail "the body does not hold the first value"
  # the public-key host lists the chain; segments are not foreign
  run "$RV_BIN" --config "$PUB" --no-progress -o json snapshot list
  assert_ok
  assert_eq "$(json_get 'length')" 1 "artifacts listed"
  assert_eq "$(json_get '.[0].foreign')" false "foreign"
  [ "$(json_get '.[0].chain_reach_revision')" -ge "$(tail -1 "$T/acked")" ] ||
    fail "chain_reach_revision $(json_get '.[0].chain_reach_revision') < $(tail -1 "$T/acked")"
  run "$RV_BIN" --config "$PUB" --no-progress snapshot list
  assert_ok
  assert_out_contains "chain $CHAIN:"
  [[ $ERR != *foreign* ]] || fail "list calls something foreign: $ERR"
}

test_verify_without_identity_checks_names_and_says_so_with_it_every_segment() {
  cont_config
  save_base
  start_daemon
  put_n 20 /v/
  wait_reach "$CHAIN" "$BASE" "$(tail -1 "$T/acked")"
  kill -TERM "$DPID"; wait "$DPID" 2>/dev/null
  local n_seg; n_seg=$(ls "$T/backups" | grep -cF "$CHAIN.seg-r")
  run "$RV_BIN" --config "$PUB" --no-progress snapshot verify --all
  assert_ok
  assert_out_contains "ok  chain of $ART: $n_seg segments"
  assert_out_contains "their contents were not checked"
  run "$RV_BIN" --config "$PUB" --no-progress -o json snapshot verify "$ART"
  assert_ok
  assert_eq "$(json_get .chain_segments_unchecked)" "$n_seg" "chain_segments_unchecked"
  assert_eq "$(json_get .chain_ok)" true "chain_ok"
  run "$RV_BIN" --config "$ID" --no-progress snapshot verify --all
  assert_ok
  assert_out_contains "ok  chain of $ART: $n_seg segments, every sha256"
  assert_out_not_contains "not checked"
  # the wrong identity: not made for this key
  run "$RV_BIN" --config "$WRONG" --no-progress snapshot verify --all
  assert_rc 1
  assert_err_contains "not made for this key"
  # a segment missing from the middle: a hole, seen without the identity too
  local segs mid
  segs=$(ls "$T/backups" | grep -F "$CHAIN.seg-r")
  if [ "$n_seg" -ge 3 ]; then
    mid=$(sed -n 2p <<<"$segs")
    mv "$T/backups/$mid" "$T/aside"
    run "$RV_BIN" --config "$PUB" --no-progress snapshot verify --all
    assert_rc 1
    assert_err_contains "has a hole"
    mv "$T/aside" "$T/backups/$mid"
  fi
}

test_a_flipped_byte_in_an_encrypted_segment_fails_verify() {
  cont_config
  save_base
  start_daemon
  put_n 10 /f/
  wait_reach "$CHAIN" "$BASE" "$(tail -1 "$T/acked")"
  kill -TERM "$DPID"; wait "$DPID" 2>/dev/null
  local seg size off
  seg=$(ls "$T/backups" | grep -F "$CHAIN.seg-r" | head -1)
  size=$(stat -c %s "$T/backups/$seg")
  cp "$T/backups/$seg" "$T/orig"
  for off in 30 $((size / 2)) $((size - 3)); do # the header, the payload, its tag
    cp "$T/orig" "$T/backups/$seg"
    flip_byte "$T/backups/$seg" "$off"
    run "$RV_BIN" --config "$ID" --no-progress snapshot verify --all
    assert_rc 1
    assert_err_contains "segment $seg"
    [[ $ERR == *damaged* || $ERR == *"not made for this key"* ]] || fail "byte $off: verify said: $ERR"
  done
  cp "$T/orig" "$T/backups/$seg"
  run "$RV_BIN" --config "$ID" --no-progress snapshot verify --all
  assert_ok
}

test_an_encrypted_segment_cut_half_way_is_not_published() {
  cont_config
  save_base
  RV_TEST_CRASH_AT=segment-half start_daemon "$RV_HOOKS_BIN"
  put_n 5 /k/
  local n=100
  while kill -0 "$DPID" 2>/dev/null; do n=$((n - 1)); [ "$n" -gt 0 ] || fail "the hooked daemon did not stop half way"; sleep 0.2; done
  [ -z "$(ls "$T/backups" | grep -F '.seg-r')" ] || fail "a segment was published: $(ls "$T/backups")"
  ! grep -rqa TOPSECRET "$T/backups" || fail "plaintext left in the store: $(ls -a "$T/backups")"
  start_daemon
  put_n 5 /l/
  wait_reach "$CHAIN" "$BASE" "$(tail -1 "$T/acked")"
  kill -TERM "$DPID"; wait "$DPID" 2>/dev/null
  run "$RV_BIN" --config "$ID" --no-progress snapshot verify --all
  assert_ok
  assert_out_contains "every sha256"
}

test_continuous_backup_with_a_passphrase_is_refused() {
  cont_config
  printf 'correct horse battery\n' >"$T/pass"
  chmod 600 "$T/pass"
  sed -e '/^  encryption:/,/^    recipients:/d' "$PUB" |
    awk -v p="$T/pass" '{print} /^  url: /{print "  encryption:\n    passphrase_file: " p}' >"$T/pass.yaml"
  run "$RV_BIN" --config "$T/pass.yaml" --no-progress snapshot list
  assert_rc 2
  assert_err_contains "passphrase_file"
  assert_err_contains "store.encryption.recipients"
}
