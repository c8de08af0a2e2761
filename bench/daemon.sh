#!/usr/bin/env bash
# bench/daemon.sh [IDLE_S] [RUNS] - what the daemon costs while it owns a cluster.
#   1. Idle: `regvault daemon` with the default jobs supervises a local three-member
#      cluster it started itself. Once the runs it makes at start (every job has
#      never succeeded) are over, its RSS and its CPU time (utime + stime from
#      /proc/PID/stat, so the load of the machine does not count) are read over
#      IDLE_S seconds (default 300). Targets: RSS <= 16 MB, CPU < 0.1 % of a core.
#   2. Growth: snapshot and hashcheck every 1s; RSS after 10 runs and after RUNS
#      runs (default 200, counted in jobs.jsonl). Target: no more than 2 MB more.
# Only the daemon's own process is measured, not the etcd members. Appends the
# results, with the command line, to bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
CMDLINE="bench/daemon.sh $*"
IDLE_S=${1:-300}
RUNS=${2:-200}
RV=${RV_BIN:-$PWD/build/regvault}
[ -x "$RV" ] || { echo "$RV is missing: run make"; exit 2; }
W=$PWD/build/test-tmp/bench-daemon
rm -rf "$W"
mkdir -p "$W"
source tests/lib.sh # free_port, write_cluster_config
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

DPID=
cleanup() {
  [ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
  [ -n "${CFG:-}" ] && "$RV" --config "$CFG" cluster down >/dev/null 2>&1
  return 0
}
trap cleanup EXIT

write_cluster_config "$W/c" bench
BASE=$(cat "$CFG")
SOCK=$W/rv.sock
MPORT=$(free_port)

start_daemon() { # JOBS_YAML: the daemon's jobs: lines ("" for the defaults)
  { echo "$BASE"
    echo "daemon:"
    echo "  control_socket: $SOCK"
    echo "  metrics_listen: 127.0.0.1:$MPORT"
    [ -n "$1" ] && { echo "  jobs:"; echo "$1"; }
  } >"$CFG"
  "$RV" --config "$CFG" daemon >>"$W/daemon.log" 2>&1 &
  DPID=$!
  for _ in $(seq 1 300); do
    "$RV" --config "$CFG" daemon status >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "the daemon did not answer: $(tail -5 "$W/daemon.log")"
  exit 1
}
stop_daemon() { kill -TERM "$DPID"; wait "$DPID" || true; DPID=; }

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$DPID/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$DPID/stat"; }
runs() { [ -f "$W/c/state/jobs.jsonl" ] && wc -l <"$W/c/state/jobs.jsonl" || echo 0; }
running() { "$RV" --config "$CFG" -o json daemon status | jq '[.jobs[] | select(.running_since != null)] | length'; }

# 1. Idle with the default jobs, after the runs made at start.
start_daemon ""
for _ in $(seq 1 600); do
  [ "$(running)" = 0 ] && [ "$(runs)" -ge 7 ] && break
  sleep 1
done
start_runs=$(runs)
hz=$(getconf CLK_TCK)
t0=$(cpu_ticks)
sleep "$IDLE_S"
t1=$(cpu_ticks)
idle_rss=$(rss_kb)
# Where it is: anonymous memory (heap, stacks) against file pages (library code);
# the daemon hands back the library pages idle does not use, except those another
# process maps too, so how many others map libgrpc matters.
idle_anon=$(awk '/^Anonymous:/ {print $2}' "/proc/$DPID/smaps_rollup")
idle_pss=$(awk '/^Pss:/ {print $2}' "/proc/$DPID/smaps_rollup")
grpc_others=$(grep -l libgrpc /proc/[0-9]*/maps 2>/dev/null | grep -vc "^/proc/$DPID/maps$" || true)
idle_cpu=$(echo "($t1 - $t0) * 100 / $hz / $IDLE_S" | bc -l)
idle_runs=$(( $(runs) - start_runs ))
curl -fsS "http://127.0.0.1:$MPORT/metrics" >"$W/metrics.txt"
stop_daemon

# 2. Growth over many runs.
rm -f "$W/c/state/jobs.jsonl"*
start_daemon "    snapshot: {every: 1s}
    hashcheck: {every: 1s}
    verify: {enabled: false}
    compact: {enabled: false}
    defrag: {enabled: false}
    diskcheck: {enabled: false}
    drill: {enabled: false}"
while [ "$(runs)" -lt 10 ]; do sleep 0.5; done
rss10=$(rss_kb)
while [ "$(runs)" -lt "$RUNS" ]; do sleep 1; done
rssN=$(rss_kb)
stop_daemon
growth_kb=$((rssN - rss10))

ok_rss=$([ "$idle_rss" -le 16384 ] && echo yes || echo no)
ok_cpu=$(echo "$idle_cpu < 0.1" | bc -l | sed 's/1/yes/; s/0/no/')
ok_growth=$([ "$growth_kb" -le 2048 ] && echo yes || echo no)
{
  echo
  echo "## daemon: idle cost and growth per run ($(date -u +%Y-%m-%d))"
  echo
  echo "\`$CMDLINE\` on $(nproc) cores, load before $LOAD_BEFORE, binary $RV, etcd $(etcd --version | awk '/etcd Version/{print $3}')."
  echo
  echo "| measure | value | target | met |"
  echo "|---|---|---|---|"
  echo "| RSS idle, default jobs, after the runs at start | $((idle_rss / 1024)) MB ($idle_rss kB; PSS $idle_pss kB, anonymous $idle_anon kB; $grpc_others other processes mapped libgrpc) | <= 16 MB | $ok_rss |"
  printf '| CPU idle over %s s (%s runs in that time) | %.4f %% of a core | < 0.1 %% | %s |\n' "$IDLE_S" "$idle_runs" "$idle_cpu" "$ok_cpu"
  echo "| RSS after 10 runs / after $RUNS runs (snapshot + hashcheck every 1s) | $rss10 kB / $rssN kB (+$growth_kb kB) | <= +2048 kB | $ok_growth |"
} | tee -a bench/RESULTS.md
