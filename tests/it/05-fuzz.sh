# The libFuzzer targets of tests/fuzz (the parsers of what others write: the
# configuration, the defrag rule, manifests and sidecars, capability manifests and
# SemVer ranges, artifacts, bbolt files,
# S3's XML answers, etcd's protobuf answers, its stream and Txn answers), each run FUZZ_CHECK_SECONDS (4) on a
# copy of its corpus under ASan and UBSan, after its saved crashes. A crash fails
# the test with the report's first lines; `make fuzz` runs them longer.

FUZZ_CHECK_SECONDS=${FUZZ_CHECK_SECONDS:-4}

setup_file() {
  command -v "${FUZZ_CC:-clang-14}" >/dev/null || return 0 # the tests skip
  # Not from make's jobserver: this may run under `make check`.
  env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s -C "$RV_ROOT" -j2 fuzz-build >/dev/null
}

fuzz() {
  command -v "${FUZZ_CC:-clang-14}" >/dev/null ||
    skip "${FUZZ_CC:-clang-14} is not installed (bash packaging/deps.sh installs it with libclang-rt-14-dev)"
  bash "$RV_ROOT/tests/fuzz/run-one.sh" "$RV_ROOT/build/fuzz" "$1" "$FUZZ_CHECK_SECONDS" "$T/work" ||
    fail "$(head -1 "$T/log") $(grep -a -m1 -E 'ERROR: |runtime error:|deadly signal' "$T/log")"
}

test_config() { fuzz config; }
test_rule() { fuzz rule; }
test_manifest() { fuzz manifest; }
test_capability_manifest() { fuzz capability_manifest; }
test_artifact() { fuzz artifact; }
test_age() { fuzz age; }
test_boltdb() { fuzz boltdb; }
test_s3_xml() { fuzz s3_xml; }
test_etcd_pb() { fuzz etcd_pb; }
test_etcd_stream() { fuzz etcd_stream; }

test_every_target_has_a_test_and_a_corpus() {
  local f name missing=""
  for f in "$RV_ROOT"/tests/fuzz/fuzz_*.c; do
    name=$(basename "$f" .c); name=${name#fuzz_}
    grep -q "^test_$name()" "$RV_ROOT/tests/it/05-fuzz.sh" || missing+="test_$name "
    [ -n "$(ls "$RV_ROOT/tests/fuzz/corpus/$name" 2>/dev/null)" ] || missing+="corpus/$name "
  done
  [ -z "$missing" ] || fail "missing: $missing"
}
