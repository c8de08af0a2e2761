# Retention by whole chains (issue 16): snapshot prune keeps or removes a full
# artifact together with the continuous-backup segments of its chain. A dry run and
# its JSON name the segments with their base; a real prune removes a chain's
# segments with it and leaves those of a chain a rule keeps (keep_last, tagged)
# untouched; segments whose base is gone are removed; a prune killed between
# segments leaves a base with a shorter chain and no hole, never a segment without
# its base; segments are never foreign objects.

setup_file() {
  start_cluster "$T_FILE_DIR/c"
  need_test_hooks
  export_env CFG ENDPOINTS
}

source "$RV_ROOT/tests/continuous-lib.sh"

ret_config() { # DCFG: this test's store and state, keep_last 1, the recorder on
  DCFG=$T/cfg.yaml
  sed -e "s|^state_dir: .*|state_dir: $T/state|" -e "s|^  url: .*/backups$|  url: $T/backups|" "$CFG" >"$DCFG"
  sed -i "s#^store:#snapshot:\n  retention:\n    keep_last: 1\nstore:#" "$DCFG"
  recorder_section "$DCFG"
}

r() { run "$RV_BIN" --config "$DCFG" --no-progress "$@"; }

put_n() { # put_n N PREFIX; the last acknowledged revision in $LAST
  local i
  for i in $(seq 1 "$1"); do
    LAST=$(ectl put "$2$i" "v-$2$i" -w json | jq -r .header.revision)
  done
}


segs_of() { ls "$T/backups" | grep -cF "$1.seg-r" || true; }

# chain [--tag T] PREFIX: save a full artifact, record some writes onto its chain
# with the daemon, stop it; the chain's name in $CH
chain() {
  local tag=()
  [ "$1" = --tag ] && { tag=(--tag "$2"); shift 2; }
  r -o json snapshot save "${tag[@]}"
  assert_ok
  local art; art=$(json_get .name)
  CH=${art%.tar.zst}
  local base; base=$(json_get .revision)
  "$RV_BIN" --config "$DCFG" daemon >>"$T/daemon.log" 2>&1 &
  local pid=$!
  echo "$pid" >>"$T_FILE_DIR/.daemons"
  local i
  for i in 1 2 3; do # a few segments
    put_n 4 "$1/$i/"
    local n=150
    while [ "$(reach "$CH" "$base")" -lt "$LAST" ]; do
      n=$((n - 1)); [ "$n" -gt 0 ] || fail "chain $CH reaches $(reach "$CH" "$base"), not $LAST: $(tail -3 "$T/daemon.log")"
      sleep 0.2
    done
  done
  kill -TERM "$pid"; wait "$pid" 2>/dev/null
  [ "$(segs_of "$CH")" -ge 1 ] || fail "no segment for $CH"
}

# three chains: A tagged (kept by the tag), B (removed), C (the newest, keep_last)
three_chains() {
  ret_config
  chain --tag keepme /a; A=$CH; NA=$(segs_of "$A")
  chain /b; B=$CH; NB=$(segs_of "$B")
  chain /c; C=$CH; NC=$(segs_of "$C")
}

test_a_dry_run_names_the_segments_with_their_base_and_removes_nothing() {
  three_chains
  local before; before=$(ls "$T/backups" | sort)
  r -o json snapshot prune --dry-run
  assert_ok
  assert_eq "$(json_get "[.[] | select(.name == \"$B.tar.zst\")][0].keep")" false "B keep"
  assert_eq "$(json_get "[.[] | select(.name == \"$B.tar.zst\")][0].segments")" "$NB" "B segments"
  assert_eq "$(json_get "[.[] | select(.name == \"$B.tar.zst\")][0].removed")" false "B removed (dry run)"
  [ "$(json_get "[.[] | select(.name == \"$B.tar.zst\")][0].segment_bytes")" -gt 0 ] || fail "B segment_bytes"
  assert_eq "$(json_get "[.[] | select(.name == \"$A.tar.zst\")][0].keep")" true "A keep"
  assert_eq "$(json_get "[.[] | select(.name == \"$A.tar.zst\")][0].segments")" "$NA" "A segments"
  assert_eq "$(json_get "[.[] | select(.name == \"$C.tar.zst\")][0].segments")" "$NC" "C segments"
  assert_eq "$(json_get 'length')" 3 "decisions (segments are not artifacts of their own)"
  r snapshot prune --dry-run
  assert_ok
  assert_out_contains "(+ $NB segments to revision"
  assert_out_contains "with $NB segments of their chains (dry run)"
  assert_eq "$(ls "$T/backups" | sort)" "$before" "the store after a dry run"
  # segments are not foreign in list
  r -o json snapshot list
  assert_ok
  assert_eq "$(json_get 'length')" 3 "artifacts listed"
  assert_eq "$(json_get '[.[] | select(.foreign)] | length')" 0 "foreign objects"
}

test_prune_removes_a_chain_whole_and_keeps_the_kept_chains_whole() {
  three_chains
  r -o json snapshot prune
  assert_ok
  assert_eq "$(json_get "[.[] | select(.name == \"$B.tar.zst\")][0].removed")" true "B removed"
  assert_no_file "$T/backups/$B.tar.zst"
  assert_eq "$(segs_of "$B")" 0 "B's segments left"
  assert_eq "$(segs_of "$A")" "$NA" "A's segments (kept by its tag)"
  assert_eq "$(segs_of "$C")" "$NC" "C's segments (kept by keep_last)"
  assert_file "$T/backups/$A.tar.zst"
  assert_file "$T/backups/$C.tar.zst"
  r snapshot verify --all
  assert_ok
  assert_out_contains "ok  chain of $A.tar.zst: $NA segments"
  assert_out_contains "ok  chain of $C.tar.zst: $NC segments"
  # a prune again changes nothing
  local before; before=$(ls "$T/backups" | sort)
  r snapshot prune
  assert_ok
  assert_eq "$(ls "$T/backups" | sort)" "$before" "the store after a second prune"
}

test_segments_whose_base_is_gone_are_removed() {
  ret_config
  chain /o; local O=$CH NO
  NO=$(segs_of "$O")
  # a chain whose base is not in the store: as if the recorder had published one
  # more segment after a prune removed it
  local seg gone="orphan-20261201T000000.000Z-r1"
  seg=$(ls "$T/backups" | grep -F "$O.seg-r" | head -1)
  cp "$T/backups/$seg" "$T/backups/$gone${seg#"$O"}"
  r -o json snapshot prune --dry-run
  assert_ok
  assert_eq "$(json_get "[.[] | select(.name == \"$gone\")][0].base_missing")" true "base_missing"
  assert_eq "$(json_get "[.[] | select(.name == \"$gone\")][0].keep")" false "keep"
  assert_eq "$(json_get "[.[] | select(.name == \"$gone\")][0].segments")" 1 "segments"
  assert_eq "$(segs_of "$gone")" 1 "orphan segments after the dry run"
  r snapshot prune
  assert_ok
  assert_out_contains "segments whose base artifact is no longer in the store"
  assert_eq "$(segs_of "$gone")" 0 "orphan segments after the prune"
  assert_eq "$(segs_of "$O")" "$NO" "the kept chain's segments"
  assert_file "$T/backups/$O.tar.zst"
}

test_a_prune_killed_between_segments_leaves_no_segment_without_its_base() {
  three_chains
  [ "$NB" -ge 2 ] || fail "chain B has only $NB segment; the test needs two"
  run env RV_TEST_CRASH_AT=prune-segment "$RV_HOOKS_BIN" --config "$DCFG" --no-progress snapshot prune
  [ "$RC" -ne 0 ] || fail "the hooked prune did not stop"
  # the newest segment went first: the base is there with a chain that has no hole
  assert_file "$T/backups/$B.tar.zst"
  assert_eq "$(segs_of "$B")" $((NB - 1)) "B's segments after the kill"
  r snapshot verify "$B.tar.zst"
  assert_ok
  assert_out_contains "ok  chain of $B.tar.zst: $((NB - 1)) segments"
  r snapshot prune
  assert_ok
  assert_no_file "$T/backups/$B.tar.zst"
  assert_eq "$(segs_of "$B")" 0 "B's segments after the second prune"
  assert_eq "$(segs_of "$A")" "$NA" "A's segments"
}
