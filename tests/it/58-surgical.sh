# regvault restore --prefix and snapshot diff: one prefix put back into the live
# cluster through guarded transactions, nothing outside it written; the diff between
# artifacts and live, checked against what was written. One cluster for the file;
# each test works under a prefix of its own.

setup_file() {
  need_test_hooks
  mkdir -p "$T_FILE_DIR/c/manifests"
  start_cluster "$T_FILE_DIR/c" || return 1
  { echo "registry:"; echo "  manifests_dir: $T_FILE_DIR/c/manifests"; echo "  prefix: /chora/capabilities"; } >>"$CFG"
  export_env CFG ENDPOINTS
}
teardown_file() { "$RV_BIN" --config "$CFG" cluster down; }

one_url() { echo "$ENDPOINTS" | cut -d, -f1; }
# key<TAB>value<TAB>mod_revision of every key under $1 ("" for all), in key order
dump() {
  ectl get --prefix "$1" -w json | jq -r '.kvs // [] | .[] | [(.key|@base64d), (.value|@base64d), .mod_revision] | @tsv'
}
dump_outside() { # every key not under $1, with its mod revision
  dump "" | awk -F'\t' -v p="$1" 'index($1, p) != 1'
}
fill() { # fill PREFIX N
  local i
  for i in $(seq 1 "$2"); do echo "put $1k$i value-$i"; done | sed 's/^put //' |
    while read -r k v; do ectl put "$k" "$v" >/dev/null || return 1; done
}

test_undo_del_prefix_while_a_writer_writes_elsewhere() {
  local P=/undo/cfg/ i
  fill $P 60 || fail "put"
  ectl put /undo/cfgX sibling >/dev/null; ectl put /undo/other keep >/dev/null
  rv snapshot save; assert_ok
  local want; want=$(dump $P | cut -f1,2)
  ectl del --prefix $P >/dev/null
  [ -z "$(dump $P)" ] || fail "the del --prefix left keys"
  # a client keeps writing outside the prefix the whole time
  ( i=0; while [ ! -e "$T/stop" ]; do i=$((i + 1)); ectl put "/busy/w$i" "$i" >/dev/null && echo "$i" >"$T/written"; done ) &
  local writer=$!
  while [ ! -s "$T/written" ]; do sleep 0.05; done
  local before; before=$(dump_outside $P | grep -v '^/busy/')
  rv -o json restore --prefix $P --yes
  touch "$T/stop"; wait $writer
  assert_ok
  assert_eq "$(json_get .result)" restored result
  assert_eq "$(json_get .put)" 60 "keys put"
  assert_eq "$(json_get .deleted)" 0 "keys deleted"
  assert_eq "$(json_get .conflicts)" 0 conflicts
  assert_eq "$(json_get .source.source)" artifact source
  local first last; first=$(json_get .revision_range.first); last=$(json_get .revision_range.last)
  [ "$first" -gt 0 ] && [ "$last" -ge "$first" ] || fail "revision range $first..$last"
  assert_eq "$(dump $P | cut -f1,2)" "$want" "the keys under $P"
  # key by key outside the prefix: the same as before, or the writer's own
  assert_eq "$(dump_outside $P | grep -v '^/busy/')" "$before" "the keys outside $P"
  local n; n=$(cat "$T/written")
  assert_eq "$(dump /busy/ | wc -l)" "$n" "keys the writer wrote"
  dump /busy/ | awk -F'\t' '{ if ("/busy/w" $2 != $1) { print "bad " $0; exit 1 } }' || fail "a writer key changed"
  # nothing outside the prefix has a revision the restore wrote
  dump_outside $P | awk -F'\t' -v f="$first" -v l="$last" '$3 >= f && $3 <= l { print; bad = 1 } END { exit bad }' ||
    fail "a key outside $P was written at a revision of the restore"
  # the restored keys carry those revisions
  dump $P | awk -F'\t' -v f="$first" -v l="$last" '$3 < f || $3 > l { bad = 1 } END { exit bad }' ||
    fail "a key under $P was not written by the restore"
}

test_changed_value_put_back_and_diffs() {
  local P=/diff/app/
  fill $P 10 || fail "put"
  ectl put /diff/app/big "$(head -c 300 /dev/zero | tr '\0' x)" >/dev/null
  rv snapshot save --tag diff-a; assert_ok
  local A; A=$(json_get .name 2>/dev/null); rv -o json snapshot list; A=$(json_get '.[0].name // .artifacts[0].name')
  ectl put ${P}k2 changed >/dev/null
  ectl del ${P}k3 >/dev/null
  ectl put ${P}new fresh >/dev/null
  ectl put /diff/elsewhere x >/dev/null
  rv snapshot save --tag diff-b; assert_ok
  # two artifacts
  rv -o json snapshot diff "${A%.tar.zst}" latest --prefix $P
  assert_ok
  assert_eq "$(json_get .counts.added),$(json_get .counts.removed),$(json_get .counts.changed),$(json_get .counts.unchanged)" \
    "1,1,1,9" "added,removed,changed,unchanged"
  assert_eq "$(json_get '[.changes[] | .key + "=" + .change] | join(" ")')" \
    "${P}k2=changed ${P}k3=removed ${P}new=added" "changes"
  assert_eq "$(json_get '.changes[0].a.value + ">" + .changes[0].b.value')" "value-2>changed" "k2's values"
  assert_eq "$(json_get '.changes[2].b.size')" 5 "new's size"
  assert_eq "$(json_get '.changes[2].a')" null "new on side a"
  assert_eq "$(json_get .a.source),$(json_get .b.source)" "artifact,artifact" sources
  # an artifact against live, as a table; the long value is shortened
  ectl put /diff/app/big "$(head -c 300 /dev/zero | tr '\0' y)" >/dev/null
  rv snapshot diff "$A" live --prefix $P
  assert_ok
  assert_out_contains "1 added, 1 removed, 2 changed, 8 unchanged"
  assert_out_contains "... (300 bytes)"
  # put back: the changed value, the deleted key; the new one deleted
  rv -o json restore --prefix $P --from "$A" --yes
  assert_ok
  assert_eq "$(json_get .put),$(json_get .deleted)" "3,1" "put,deleted"
  assert_eq "$(ectl get ${P}k2 --print-value-only)" value-2 "k2"
  assert_eq "$(ectl get ${P}k3 --print-value-only)" value-3 "k3"
  assert_eq "$(ectl get ${P}new --print-value-only)" "" "new"
  assert_eq "$(ectl get /diff/elsewhere --print-value-only)" x "a key outside the prefix"
  rv -o json snapshot diff "$A" live --prefix $P
  assert_eq "$(json_get '.changes | length')" 0 "differences left"
  # --no-delete keeps a key the snapshot lacks
  ectl put ${P}new2 keep >/dev/null; ectl del ${P}k4 >/dev/null
  rv -o json restore --prefix $P --from "$A" --yes --no-delete
  assert_ok
  assert_eq "$(json_get .skipped_keys[0].key),$(json_get .skipped_keys[0].reason)" "${P}new2,no-delete" skipped
  assert_eq "$(ectl get ${P}new2 --print-value-only)" keep new2
  assert_eq "$(ectl get ${P}k4 --print-value-only)" value-4 k4
}

test_dry_run_changes_nothing() {
  local P=/dry/
  fill $P 5 || fail put
  rv snapshot save; assert_ok
  ectl del --prefix $P >/dev/null
  local rev; rev=$(ectl -w json get /x | jq .header.revision)
  rv restore --prefix $P --dry-run
  assert_ok
  assert_out_contains "Dry run: would restore under $P"
  assert_out_contains "5 put, 0 deleted"
  assert_eq "$(ectl -w json get /x | jq .header.revision)" "$rev" "the cluster's revision"
}

# A client writes under the prefix between the restore's read and its Txn: the test
# build stops regvault there (RV_TEST_SIGSTOP_AT on its own pid), the test writes,
# then lets it go on.
restore_paused() { # restore_paused KEY VALUE ARGS...
  local key=$1 value=$2 pid i; shift 2
  ( exec env RV_TEST_SIGSTOP_AT=prefix-restore-write:$BASHPID "$RV_HOOKS_BIN" --config "$CFG" --no-progress \
      "$@" >"$T/out" 2>"$T/err" ) &
  pid=$!
  for i in $(seq 1 600); do
    [ "$(awk '{print $3}' /proc/$pid/stat 2>/dev/null)" = T ] && break
    sleep 0.1
  done
  [ "$(awk '{print $3}' /proc/$pid/stat 2>/dev/null)" = T ] || fail "regvault did not reach the write"
  ectl put "$key" "$value" >/dev/null
  kill -CONT $pid
  wait $pid; RC=$?
  OUT=$(cat "$T/out"); ERR=$(cat "$T/err")
}

test_conflict_when_a_client_writes_during_the_restore() {
  local P=/conflict/
  fill $P 20 || fail put
  rv snapshot save; assert_ok
  ectl del --prefix $P >/dev/null
  ectl put ${P}k5 before >/dev/null
  restore_paused ${P}k5 client-wrote -o json restore --prefix $P --yes
  assert_rc 1
  assert_err_contains "changed by a client during the restore"
  assert_eq "$(json_get .conflicts)" 1 conflicts
  assert_eq "$(json_get .conflict_keys[0].key)" ${P}k5 "conflict key"
  assert_eq "$(json_get .conflict_keys[0].overwritten)" false overwritten
  assert_eq "$(json_get .put)" 19 "keys put"
  assert_eq "$(ectl get ${P}k5 --print-value-only)" client-wrote "the client's write"
  assert_eq "$(ectl get ${P}k6 --print-value-only)" value-6 "another key"
  # with --overwrite-conflicts the snapshot's value wins, and the conflict is listed
  restore_paused ${P}k5 again -o json restore --prefix $P --yes --overwrite-conflicts
  assert_ok
  assert_eq "$(json_get .conflict_keys[0].overwritten)" true overwritten
  assert_eq "$(ectl get ${P}k5 --print-value-only)" value-5 "k5"
}

test_lease_keys_skipped_unless_kept() {
  local P=/lease/ L
  L=$(ectl lease grant 600 | awk '{print $2}')
  ectl put ${P}plain p >/dev/null; ectl put --lease="$L" ${P}hb alive >/dev/null
  rv snapshot save; assert_ok
  ectl lease revoke "$L" >/dev/null
  ectl del ${P}plain >/dev/null
  rv -o json restore --prefix $P --yes
  assert_ok
  assert_eq "$(json_get .skipped_keys[0].key),$(json_get .skipped_keys[0].reason)" "${P}hb,lease" skipped
  assert_eq "$(ectl get ${P}hb --print-value-only)" "" "the lease key"
  rv -o json restore --prefix $P --yes --keep-lease-keys
  assert_ok
  assert_eq "$(ectl get ${P}hb -w json | jq -r '.kvs[0].lease // 0')" 0 "the lease key's lease"
  assert_eq "$(ectl get ${P}hb --print-value-only)" alive "the lease key"
}

test_refusals() {
  rv restore --prefix "" --yes; assert_rc 2; assert_err_contains "full restore"
  rv restore --prefix / --yes; assert_rc 2; assert_err_contains "full restore"
  rv restore --prefix /chora/cap --yes; assert_rc 2; assert_err_contains "does not end with '/'"
  rv restore --prefix /a/ --to-revision 5 --from latest --yes; assert_rc 2; assert_err_contains "exclude each other"
  rv restore --prefix /a/ --to-time yesterday --yes; assert_rc 2; assert_err_contains "RFC 3339"
  rv restore --prefix /a/ --force --yes; assert_rc 2; assert_err_contains "--force is for full restores"
  rv restore --prefix /a/ </dev/null; assert_rc 2; assert_err_contains "add --yes"
  rv snapshot diff rev:five live; assert_rc 2; assert_err_contains "takes a revision"
  rv snapshot diff latest; assert_rc 2
  rv restore --prefix /a/ --from no-such-artifact --yes; assert_rc 1; assert_err_contains "no-such-artifact"
  # under registry.prefix: warned, GitOps owns it
  rv snapshot save; assert_ok
  # a point needs continuous backup, which this store does not hold: refused, nothing written
  rv restore --prefix /a/ --to-revision 5 --yes; assert_rc 1; assert_err_contains "holds no continuous backup"
  rv restore --prefix /a/ --to-time 2026-12-01T00:00:00Z --yes; assert_rc 1
  assert_err_contains "holds no continuous backup"
  rv snapshot diff rev:5 live; assert_rc 1; assert_err_contains "holds no continuous backup"
  rv restore --prefix /chora/capabilities/x/ --dry-run
  assert_ok
  assert_err_contains "GitOps sync"
  assert_err_contains "registry.sync.enabled: false"
  rv restore --prefix /chor --exact-prefix --dry-run
  assert_ok
  assert_err_contains "GitOps sync"
  # a damaged plain db
  head -c 20000 /dev/urandom >"$T/bad.db"
  rv restore --prefix /a/ --from-file "$T/bad.db" --yes
  assert_rc 1
  assert_err_contains "no valid bbolt meta page"
}

test_from_an_etcdctl_snapshot_file() {
  local P=/file/
  fill $P 4 || fail put
  etcdctl --endpoints="$(one_url)" snapshot save "$T/s.db" >/dev/null || fail "etcdctl snapshot save"
  ectl del --prefix $P >/dev/null
  rv -o json restore --prefix $P --from-file "$T/s.db" --yes
  assert_ok
  assert_eq "$(json_get .source.source),$(json_get .put)" "db-file,4" "source,put"
  assert_eq "$(dump $P | wc -l)" 4 "keys under $P"
}

test_encrypted_artifact_read_with_the_identity() {
  local P=/enc/
  rv keygen "$T/key"; assert_ok
  local rcp=$OUT
  sed "s#^  url: .*#  url: $T/store#" "$CFG" |
    awk -v extra="  encryption:\n    recipients: [\"$rcp\"]\n    identity_file: $T/key" '{print} /^  url: /{print extra}' >"$T/enc.yaml"
  sed '/identity_file/d' "$T/enc.yaml" >"$T/pub.yaml"
  fill $P 3 || fail put
  run "$RV_BIN" --config "$T/enc.yaml" --no-progress snapshot save; assert_ok
  ls "$T/store" | grep -q '\.tar\.zst\.age$' || fail "no encrypted artifact in $T/store"
  ectl del --prefix $P >/dev/null
  run "$RV_BIN" --config "$T/enc.yaml" --no-progress -o json snapshot diff latest live --prefix $P
  assert_ok
  assert_eq "$(json_get .counts.removed)" 3 "keys removed since the snapshot"
  # without the identity the artifact cannot be read: refused, nothing written
  run "$RV_BIN" --config "$T/pub.yaml" --no-progress restore --prefix $P --yes
  assert_rc 1
  assert_eq "$(dump $P | wc -l)" 0 "keys under $P"
  run "$RV_BIN" --config "$T/enc.yaml" --no-progress -o json restore --prefix $P --yes
  assert_ok
  assert_eq "$(json_get .put)" 3 "keys put"
  assert_eq "$(ectl get ${P}k2 --print-value-only)" value-2 "k2"
}

# Not beside a full restore: while one holds the restore lock (paused after its
# staging, before it stops anything), a prefix restore is refused and changes nothing.
test_refused_while_a_full_restore_runs() {
  local P=/beside/ pid i refused=
  fill $P 5 || fail put
  rv snapshot save; assert_ok
  ectl del --prefix $P >/dev/null
  RV_TEST_PAUSE_AT=staged:6000 "$RV_BIN" --config "$CFG" --no-progress restore --from latest --yes --force \
    >"$T/full.out" 2>&1 &
  pid=$!
  for i in $(seq 60); do
    rv restore --prefix $P --yes
    if [ "$RC" -ne 0 ]; then refused=1; break; fi
    ectl del --prefix $P >/dev/null # the lock was not held yet: undo, try again
    sleep 0.1
  done
  [ -n "$refused" ] || fail "the prefix restore was never refused while the full restore ran"
  assert_rc 1
  assert_err_contains "holds the restore lock"
  assert_eq "$(ectl get --prefix $P --keys-only | grep -c .)" 0 "keys under $P after the refusal"
  wait "$pid" || fail "the full restore failed: $(tail -3 "$T/full.out")"
}
