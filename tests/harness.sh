#!/usr/bin/env bash
# harness.sh FILE - runs one integration test file: setup_file (if any), every
# test_* function in its own subshell (an assertion that fails ends that test only),
# then teardown_file. Prints "PASS <file>/<test>" or "FAIL <file>/<test>: why".
set -uo pipefail
FILE=$1
TEST_FILE_NAME=$(basename "$FILE" .sh)
export TEST_FILE_NAME
source "$(dirname "$0")/lib.sh"
source "$FILE"

TESTS=$(declare -F | awk '{print $3}' | grep '^test_' || true)
# Keep the order the file defines them in.
TESTS=$(for t in $TESTS; do echo "$(grep -n "^$t *()" "$FILE" | cut -d: -f1) $t"; done | sort -n | awk '{print $2}')

trap 'declare -F teardown_file >/dev/null && teardown_file >/dev/null 2>&1; rv_kill_leftovers' EXIT
if declare -F setup_file >/dev/null; then
  # Not in an if: bash ignores set -e inside a condition, and a failed step must stop setup.
  (set -e; setup_file) >"$T_FILE_DIR/setup.log" 2>&1
  setup_rc=$?
  if [ $setup_rc -ne 0 ]; then
    echo "setup_file failed:"; tail -30 "$T_FILE_DIR/setup.log"
    for t in $TESTS; do echo "FAIL $TEST_FILE_NAME/${t#test_}: setup_file failed"; done
    # so teardown_file (at exit) knows what setup started before it failed
    [ -f "$T_FILE_DIR/env" ] && source "$T_FILE_DIR/env"
    exit 1
  fi
  # setup_file may export variables for the tests through this file.
  [ -f "$T_FILE_DIR/env" ] && source "$T_FILE_DIR/env"
fi

for t in $TESTS; do
  name=${t#test_}
  T=$T_FILE_DIR/$name
  mkdir -p "$T"
  export T
  start=$SECONDS
  ( "$t" ) >"$T/log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then
    echo "PASS $TEST_FILE_NAME/$name ($((SECONDS - start)) s)"
  elif [ $rc -eq 77 ]; then
    echo "SKIP $TEST_FILE_NAME/$name: $(tail -1 "$T/log")"
  else
    echo "FAIL $TEST_FILE_NAME/$name: $(grep -m1 '^ASSERT' "$T/log" | cut -c8- || tail -1 "$T/log")"
    sed 's/^/    | /' "$T/log" | tail -40
  fi
done
