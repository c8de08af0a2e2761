#!/usr/bin/env bash
# bench/snapshot.sh [SIZES_MB] [RUNS] - regvault snapshot save against
# `etcdctl snapshot save`, `etcdctl snapshot save && zstd -3` and the bare stream
# (build/stream-tool: the same member's Snapshot read through regvault's client and
# thrown away, the floor under any save), on a local three-member cluster filled
# with half-compressible values (each 1 MiB value is half random bytes, half zeros).
# Runs alternate between the four, each after a sync (so no run waits behind the
# previous one's writeback), medians and ratios are reported, with peak RSS from
# /usr/bin/time. Results are appended to bench/RESULTS.md with the command line.
#   bash bench/snapshot.sh "300 1000" 5
# PROFILE=1 also records, for the last size, where one save's time goes: `perf stat`
# (task clock, context switches) of regvault and of the source etcd over the save,
# and `perf record -g` of regvault, its time by thread and library in $T_FILE_DIR/perf-report.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${1:-300}
RUNS=${2:-3}
RV_BIN=${RV_BIN:-$PWD/build/regvault}
export RV_ROOT=$PWD TEST_FILE_NAME=bench-snapshot ETCDCTL_API=3
source tests/lib.sh # free_port, write_cluster_config (scratch dir: build/test-tmp/bench-snapshot)
[ -x "$RV_BIN" ] || { echo "build regvault first (make)"; exit 2; }
STREAM_BIN=$PWD/build/stream-tool
make -s build/stream-tool
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)"; exit 2; }

W=$T_FILE_DIR
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

field() { awk -v n="etcd$1" -v k="$2:" '$2=="name:"{cur=$3} $1==k && cur==n{print $2}' "$CFG"; }

start_cluster_by_hand() {
  local ic="" i cu pu
  for i in 1 2 3; do ic="${ic:+$ic,}etcd$i=$(field $i peer_url)"; done
  for i in 1 2 3; do
    cu=$(field $i client_url); pu=$(field $i peer_url)
    etcd --name "etcd$i" --data-dir "$W/c/etcd$i" --listen-client-urls "$cu" --advertise-client-urls "$cu" \
      --listen-peer-urls "$pu" --initial-advertise-peer-urls "$pu" --initial-cluster "$ic" \
      --initial-cluster-token "bench-$$" --initial-cluster-state new --quota-backend-bytes 4294967296 \
      >"$W/c/etcd$i.log" 2>&1 &
    PIDS+=($!)
  done
  for _ in $(seq 1 100); do
    etcdctl --endpoints="$ENDPOINTS" --dial-timeout=1s endpoint health >/dev/null 2>&1 && return 0
    sleep 0.3
  done
  echo "cluster did not start"; exit 1
}

db_bytes() { etcdctl --endpoints="$SRC_EP" endpoint status -w json | jq '.[0].Status.dbSize'; }

fill_to() { # MB (10^6 bytes) of db on the source member
  local i=${FILLED:-0} j
  while [ "$(db_bytes)" -lt $(($1 * 1000000)) ]; do
    for j in $(seq 1 10); do
      { head -c 524288 /dev/urandom; head -c 524288 /dev/zero; } | etcdctl --endpoints="$ENDPOINTS" put "/bench/v$i" >/dev/null
      i=$((i + 1))
    done
  done
  FILLED=$i
}

# time_it OUTFILE CMD...: appends "seconds maxrss_kb" (the largest RSS of the
# command's processes; for a pipeline, the sum of the two steps' peaks is not taken:
# the steps run one after the other)
time_it() {
  local out=$1; shift
  sync # every run starts with no other run's writeback queued on the disk (not timed)
  /usr/bin/time -f "%e %M" -o "$W/t" "$@" >/dev/null 2>&1 || { echo "failed: $*"; cat "$W/t"; exit 1; }
  tail -1 "$W/t" >>"$out"
}

median() { sort -n | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

run_rv() { rm -rf "$W/store"; time_it "$W/rv.$1" "$RV_BIN" --config "$CFG" --no-progress snapshot save --store "$W/store"; }
run_stream() { time_it "$W/st.$1" "$STREAM_BIN" "$SRC_EP"; }
run_ectl() { rm -f "$W/e.db"; time_it "$W/ectl.$1" etcdctl --endpoints="$SRC_EP" snapshot save "$W/e.db"; }
run_ectl_zstd() {
  rm -f "$W/e.db" "$W/e.db.zst"
  sync
  # two processes: time both, keep the larger peak RSS
  /usr/bin/time -f "%e %M" -o "$W/t1" etcdctl --endpoints="$SRC_EP" snapshot save "$W/e.db" >/dev/null 2>&1
  /usr/bin/time -f "%e %M" -o "$W/t2" zstd -q -3 "$W/e.db" -o "$W/e.db.zst"
  paste -d' ' <(tail -1 "$W/t1") <(tail -1 "$W/t2") | awk '{printf "%.2f %d\n", $1+$3, ($2>$4?$2:$4)}' >>"$W/ez.$1"
  ls -l "$W/e.db.zst" | awk '{print $5}' >"$W/ez.size"
}

write_cluster_config "$W/c" bench
{ echo "snapshot:"; echo "  source: etcd2"; } >>"$CFG"
start_cluster_by_hand
SRC_EP=$(field 2 client_url)
CMDLINE="bash bench/snapshot.sh \"$SIZES\" $RUNS"
{
  echo
  echo "## snapshot save, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "\`$CMDLINE\` on $(nproc) cores, etcd $(etcd --version | awk '/etcd Version/{print $3}'), source member etcd2,"
  echo "regvault $("$RV_BIN" --version | awk '{print $2}') (compression level 3). Medians of $RUNS alternated runs."
  echo
  echo "| db size | tool | time s | vs etcdctl | vs stream | peak RSS MB | artifact MB |"
  echo "|---|---|---|---|---|---|---|"
} >"$W/results.md"

for size in $SIZES; do
  echo "filling to $size MB..." >&2
  fill_to "$size"
  db=$(db_bytes)
  rm -f "$W"/rv.* "$W"/ectl.* "$W"/ez.* "$W"/st.*
  for r in $(seq 1 "$RUNS"); do
    case $((r % 4)) in
      1) run_rv "$size"; run_stream "$size"; run_ectl "$size"; run_ectl_zstd "$size" ;;
      2) run_stream "$size"; run_ectl "$size"; run_ectl_zstd "$size"; run_rv "$size" ;;
      3) run_ectl "$size"; run_ectl_zstd "$size"; run_rv "$size"; run_stream "$size" ;;
      0) run_ectl_zstd "$size"; run_rv "$size"; run_stream "$size"; run_ectl "$size" ;;
    esac
    echo "run $r: rv $(tail -1 "$W/rv.$size") stream $(tail -1 "$W/st.$size") ectl $(tail -1 "$W/ectl.$size") ectl+zstd $(tail -1 "$W/ez.$size")" >&2
  done
  rv_t=$(awk '{print $1}' "$W/rv.$size" | median); rv_m=$(awk '{print $2}' "$W/rv.$size" | median)
  e_t=$(awk '{print $1}' "$W/ectl.$size" | median); e_m=$(awk '{print $2}' "$W/ectl.$size" | median)
  z_t=$(awk '{print $1}' "$W/ez.$size" | median); z_m=$(awk '{print $2}' "$W/ez.$size" | median)
  s_t=$(awk '{print $1}' "$W/st.$size" | median); s_m=$(awk '{print $2}' "$W/st.$size" | median)
  rv_size=$(ls -l "$W"/store/*.tar.zst | awk '{print $5}')
  dbmb=$(awk -v b="$db" 'BEGIN{printf "%.0f MB", b/1e6}')
  {
    awk -v d="$dbmb" -v t="$rv_t" -v e="$e_t" -v f="$s_t" -v m="$rv_m" -v s="$rv_size" 'BEGIN{printf "| %s | regvault snapshot save | %.2f | %.2fx | %.2fx | %.1f | %.1f |\n", d, t, t/e, t/f, m/1024, s/1e6}'
    awk -v d="$dbmb" -v t="$s_t" -v e="$e_t" -v m="$s_m" 'BEGIN{printf "| %s | stream-tool (read, thrown away) | %.2f | %.2fx | 1.00x | %.1f | - |\n", d, t, t/e, m/1024}'
    awk -v d="$dbmb" -v t="$e_t" -v f="$s_t" -v m="$e_m" -v s="$db" 'BEGIN{printf "| %s | etcdctl snapshot save | %.2f | 1.00x | %.2fx | %.1f | %.1f (uncompressed) |\n", d, t, t/f, m/1024, s/1e6}'
    awk -v d="$dbmb" -v t="$z_t" -v e="$e_t" -v f="$s_t" -v m="$z_m" -v s="$(cat "$W/ez.size")" 'BEGIN{printf "| %s | etcdctl snapshot save && zstd -3 | %.2f | %.2fx | %.2fx | %.1f | %.1f |\n", d, t, t/e, t/f, m/1024, s/1e6}'
  } >>"$W/results.md"
done
if [ -n "${PROFILE:-}" ]; then
  # perf stat of the source etcd over one save, beside regvault's own
  etcd_pid=${PIDS[1]}
  rm -rf "$W/store"
  perf stat -e task-clock,context-switches,cpu-migrations -p "$etcd_pid" -o "$W/perf-etcd.txt" &
  pstat=$!
  sleep 0.2
  perf stat -e task-clock,context-switches,cpu-migrations,page-faults -o "$W/perf-rv.txt" \
    "$RV_BIN" --config "$CFG" --no-progress snapshot save --store "$W/store" >/dev/null
  kill -INT "$pstat"; wait "$pstat" 2>/dev/null || true
  rm -rf "$W/store"
  perf record -q -g -o "$W/perf.data" "$RV_BIN" --config "$CFG" --no-progress snapshot save --store "$W/store" >/dev/null 2>&1
  # by thread and library (Debian's libraries carry no symbols); awk, not head: no SIGPIPE under pipefail
  perf report -i "$W/perf.data" --no-children -s pid,dso --stdio -g none 2>/dev/null | grep '%' | awk 'NR <= 25' >"$W/perf-report.txt"
  {
    echo
    echo "PROFILE=1, one more save of the last size: regvault (perf stat):"
    echo '```'
    grep -E 'task-clock|context-switches|elapsed|user|sys' "$W/perf-rv.txt"
    echo '```'
    echo "the source etcd over the same save:"
    echo '```'
    grep -E 'task-clock|context-switches' "$W/perf-etcd.txt"
    echo '```'
    echo "\`perf report --no-children -s pid,dso\` (self time by thread and library):"
    echo '```'
    head -25 "$W/perf-report.txt"
    echo '```'
  } >>"$W/results.md"
fi
cat "$W/results.md"
[ -s bench/RESULTS.md ] || echo "# Benchmark results" >bench/RESULTS.md
cat "$W/results.md" >>bench/RESULTS.md
