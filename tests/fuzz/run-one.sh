#!/usr/bin/env bash
# run-one.sh BUILD_DIR NAME SECONDS [WORK_DIR] - runs the libFuzzer target
# BUILD_DIR/fuzz_NAME: first once over every input saved in tests/fuzz/regressions/NAME
# (crashes found before, which must stay fixed), then SECONDS of fuzzing on a copy of
# tests/fuzz/corpus/NAME (the tree's corpus is never changed). Exit 0 when nothing
# crashed; else 1, with the crash's first report lines and where the input was saved.
# The last line is the run's figures: "NAME: N runs in S s (E exec/s), corpus C".
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$1 NAME=$2 SECONDS_=$3
WORK=${4:-$ROOT/build/fuzz/work/$NAME}
BIN=$BUILD/fuzz_$NAME
[ -x "$BIN" ] || { echo "$BIN is not built (make fuzz-build)"; exit 1; }
rm -rf "$WORK"
mkdir -p "$WORK/corpus" "$WORK/crashes"
cp "$ROOT/tests/fuzz/corpus/$NAME/." "$WORK/corpus/" -r
# Stop at the first error, with a stack; leaks count as crashes (libFuzzer's -detect_leaks).
export ASAN_OPTIONS=abort_on_error=0:detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

report() { # report LOG: the crash's first lines
  { grep -a -m1 -B2 -A12 -E '^==[0-9]+==ERROR|runtime error:|^==[0-9]+== ERROR: libFuzzer|deadly signal|SUMMARY:' "$1" | head -20
    grep -a -E 'Test unit written to' "$1" | head -1; } | awk '!seen[$0]++'
}

if [ -d "$ROOT/tests/fuzz/regressions/$NAME" ]; then
  for f in "$ROOT/tests/fuzz/regressions/$NAME"/*; do
    [ -f "$f" ] || continue
    if ! "$BIN" -runs=1 "$f" </dev/null >"$WORK/regression.log" 2>&1; then
      echo "fuzz_$NAME crashes again on the saved input $f:"
      report "$WORK/regression.log"
      exit 1
    fi
  done
fi

"$BIN" -max_total_time="$SECONDS_" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$WORK/crashes/" "$WORK/corpus" </dev/null >"$WORK/fuzz.log" 2>&1
rc=$?
runs=$(grep -a -m1 'stat::number_of_executed_units' "$WORK/fuzz.log" | awk '{print $2}')
speed=$(grep -a -m1 'stat::average_exec_per_sec' "$WORK/fuzz.log" | awk '{print $2}')
if [ $rc -ne 0 ]; then
  echo "fuzz_$NAME crashed (exit $rc) after ${runs:-?} runs; the input is in $WORK/crashes/:"
  report "$WORK/fuzz.log"
  exit 1
fi
echo "$NAME: ${runs:-?} runs in $SECONDS_ s (${speed:-?} exec/s), corpus $(ls "$WORK/corpus" | wc -l) inputs"
