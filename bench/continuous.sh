#!/usr/bin/env bash
# bench/continuous.sh [RATE] [SECONDS] [SIZE] - continuous backup under a steady
# writer: build/put-tool makes RATE puts a second (default 1000) of SIZE-byte values
# (default 1024) for SECONDS (default 60) into a local three-member cluster while
# `regvault daemon` records (daemon.continuous, flush 1s, every job off). Reports the
# recorder's lag (regvault_continuous_lag_seconds sampled every 0.2 s: median, 99th
# percentile, max), the daemon's CPU (% of one core over the run) and peak RSS, the
# segments' bytes (and per hour at that rate), then the restore to the latest point
# (events replayed, replay rate, total time) beside the restore of the base artifact
# alone. BASE_MB=N first fills the cluster with about N MB (64 KiB values) so that the
# base is that large: the restore's RTO with segments beside the base alone;
# REPLAY_DIR=DIR restores with --replay-dir DIR (tmpfs: /dev/shm). Appends a
# table to bench/RESULTS.md with the command line; removes its scratch directory.
#   bash bench/continuous.sh 1000 60
#   BASE_MB=1024 bash bench/continuous.sh 1000 300
set -euo pipefail
cd "$(dirname "$0")/.."
RV_ROOT=$PWD
RV_BIN=${RV_BIN:-$RV_ROOT/build/regvault}
RATE=${1:-1000}
SECONDS_RUN=${2:-60}
SIZE=${3:-1024}
BASE_MB=${BASE_MB:-0}
REPLAY_DIR=${REPLAY_DIR:-} # restore --replay-dir (e.g. /dev/shm)
MERGE_WINDOWS=${MERGE_WINDOWS:-} # daemon.continuous.merge_windows (default [5m, 1h])
export RV_ROOT TEST_FILE_NAME=bench-continuous ETCDCTL_API=3
# shellcheck source=../tests/lib.sh
source "$RV_ROOT/tests/lib.sh" # free_port, write_cluster_config, start_cluster, ectl
W=$T_FILE_DIR
[ -x "$RV_BIN" ] || { echo "build regvault first (make)"; exit 2; }
make -s build/put-tool

DPID=
cleanup() {
  [ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null
  "$RV_BIN" --config "$W/c/regvault.yaml" cluster down >/dev/null 2>&1 || true
  rm -rf "$W" # gigabytes of data dirs, kept aside by each restore
}
trap cleanup EXIT

rm -rf "$W/c"
start_cluster "$W/c" >/dev/null
MPORT=$(free_port)
cat >>"$CFG" <<EOC
daemon:
  control_socket: $W/d.sock
  metrics_listen: 127.0.0.1:$MPORT
  supervise_members: false
  continuous:
    enabled: true
${MERGE_WINDOWS:+    merge_windows: $MERGE_WINDOWS}
  jobs:
$(for j in snapshot verify compact defrag hashcheck diskcheck drill; do echo "    $j: {enabled: false}"; done)
EOC
if [ "$BASE_MB" -gt 0 ]; then # 200 puts/s of 64 KiB
  "$RV_ROOT/build/put-tool" "$ENDPOINTS" 200 65536 $((BASE_MB * 1000000 / 65536 / 200 + 1)) 8 >/dev/null
fi
"$RV_BIN" --config "$CFG" --no-progress snapshot save >/dev/null
"$RV_BIN" --config "$CFG" daemon >"$W/daemon.log" 2>&1 &
DPID=$!
for _ in $(seq 100); do grep -q "recording chain" "$W/daemon.log" && break; sleep 0.1; done
grep -q "recording chain" "$W/daemon.log" || { echo "the recorder did not start: $(tail -3 "$W/daemon.log")"; exit 1; }

ticks() { awk '{print $14 + $15}' "/proc/$DPID/stat"; }
metric() { curl -s "http://127.0.0.1:$MPORT/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
hz=$(getconf CLK_TCK)
c0=$(ticks)
: >"$W/lag"
"$RV_ROOT/build/put-tool" "$ENDPOINTS" "$RATE" "$SIZE" "$SECONDS_RUN" >"$W/put.out" &
PUT=$!
while kill -0 "$PUT" 2>/dev/null; do
  metric regvault_continuous_lag_seconds >>"$W/lag"
  awk '/VmRSS/ {print $2}' "/proc/$DPID/status" >>"$W/rss"
  sleep 0.2
done
wait "$PUT"
c1=$(ticks)
read -r puts put_rate last_rev put_failed <"$W/put.out"
for _ in $(seq 100); do
  [ "$(metric regvault_continuous_persisted_revision | cut -d. -f1)" -ge "$last_rev" ] && break
  sleep 0.1
done
persisted=$(metric regvault_continuous_persisted_revision | cut -d. -f1)
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$DPID/status")
kill -TERM "$DPID"; wait "$DPID" 2>/dev/null || true
DPID=
cpu_pct=$(echo "scale=1; 100 * ($c1 - $c0) / $hz / $SECONDS_RUN" | bc)
pct() { sort -g "$W/lag" | awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p); if (i<1) i=1; if (i>NR) i=NR; print a[i]}'; }
lag_med=$(pct 0.5); lag_p99=$(pct 0.99); lag_max=$(pct 1.0)
seg_bytes=$(find "$W/c/backups" -name '*.rvseg.zst' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
seg_n=$(find "$W/c/backups" -name '*.rvseg.zst' | wc -l)
per_hour=$(echo "$seg_bytes * 3600 / $SECONDS_RUN / 1000000" | bc)

t0=$(date +%s.%N)
"$RV_BIN" --config "$CFG" --no-progress -o json restore --to-latest ${REPLAY_DIR:+--replay-dir "$REPLAY_DIR"} --yes --force >"$W/pit.json"
t1=$(date +%s.%N)
pit_s=$(echo "$t1 - $t0" | bc)
"$RV_BIN" --config "$CFG" --no-progress restore --cleanup --yes >/dev/null
t0=$(date +%s.%N)
"$RV_BIN" --config "$CFG" --no-progress -o json restore --from latest --yes --force >"$W/base.json"
t1=$(date +%s.%N)
base_s=$(echo "$t1 - $t0" | bc)
"$RV_BIN" --config "$CFG" --no-progress restore --cleanup --yes >/dev/null
events=$(jq .point.events_replayed "$W/pit.json")
replay_rate=$(jq '.point.replay_events_per_second | floor' "$W/pit.json")
point=$(jq .point.revision "$W/pit.json")

ENV_SHOWN=
[ "$BASE_MB" -gt 0 ] && ENV_SHOWN="BASE_MB=$BASE_MB "
[ -n "$REPLAY_DIR" ] && ENV_SHOWN="${ENV_SHOWN}REPLAY_DIR=$REPLAY_DIR "
[ -n "$MERGE_WINDOWS" ] && ENV_SHOWN="${ENV_SHOWN}MERGE_WINDOWS='$MERGE_WINDOWS' "
{
  echo
  echo "## continuous backup: $RATE puts/s of $SIZE B for $SECONDS_RUN s ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "\`${ENV_SHOWN}bash bench/continuous.sh $RATE $SECONDS_RUN $SIZE\` on $(nproc) cores, etcd $(etcd --version | awk '/etcd Version/{print $3}'),"
  echo "three members on loopback; the writer (build/put-tool, 16 threads), the cluster and the daemon share the cores."
  echo
  echo "| figure | value | target |"
  echo "|---|---|---|"
  echo "| puts acknowledged | $puts ($put_rate/s, $put_failed failed) | |"
  echo "| recorder lag, median / p99 / max | ${lag_med} / ${lag_p99} / ${lag_max} s | p99 <= 1 s |"
  echo "| daemon CPU over the run | ${cpu_pct} % of a core | <= 10 % |"
  echo "| daemon peak RSS | $((rss_kb / 1024)) MB | <= 32 MB |"
  echo "| daemon RSS at 1/4, 1/2, 3/4 and the end of the run | $(awk '{a[NR]=$1} END {for (q=1; q<=4; q++) printf "%s%d", (q>1?" / ":""), a[int(NR*q/4)]/1024; print " MB"}' "$W/rss") | |"
  echo "| segments | $seg_n, $((seg_bytes / 1000000)) MB ($per_hour MB per hour at this rate) | |"
  echo "| last acknowledged / persisted revision | $last_rev / $persisted | |"
  echo "| restore --to-latest | ${pit_s} s, $events events replayed at $replay_rate events/s to revision $point | |"
  echo "| restore --from latest (the base alone) | ${base_s} s | |"
  if [ "$BASE_MB" -gt 0 ]; then
    echo "| base artifact | $(du -m "$W/c/backups/$(jq -r .artifact "$W/base.json")" | cut -f1) MB (compressed) | |"
  fi
} >"$W/results.md"
cat "$W/results.md"
cat "$W/results.md" >>bench/RESULTS.md
