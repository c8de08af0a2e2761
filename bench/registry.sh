#!/usr/bin/env bash
# bench/registry.sh [N] [HEARTBEAT_S] - the registry services at scale.
#   1. Sync: N Service-type manifests (default 1000) written by `regvault registry
#      sync` into a fresh three-member cluster: time of the first pass and of an
#      unchanged pass, and the revisions each wrote (the cluster's revision before
#      and after, from etcdctl).
#   2. Heartbeats: `regvault daemon` keeps the N health keys (TTL 30s, every 10s,
#      the guides' settings) for HEARTBEAT_S seconds (default 300) after they are all
#      up: its RSS and CPU time (utime + stime from /proc, so the machine's load
#      does not count). Targets: RSS <= 24 MB, CPU <= 2 % of a core; beside the
#      guides' Python service, 8 MB and 0.5 % of a core per service.
# Only regvault's process is measured, not the etcd members. Appends the results,
# with the command line, to bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
CMDLINE="bench/registry.sh $*"
N=${1:-1000}
HB_S=${2:-300}
RV=${RV_BIN:-$PWD/build/regvault}
[ -x "$RV" ] || { echo "$RV is missing: run make"; exit 2; }
W=$PWD/build/test-tmp/bench-registry
rm -rf "$W"
mkdir -p "$W/caps"
source tests/lib.sh # free_port, write_cluster_config, start helpers
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

DPID=
cleanup() {
  [ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
  [ -n "${CFG:-}" ] && "$RV" --config "$CFG" cluster down >/dev/null 2>&1
  return 0
}
trap cleanup EXIT

write_cluster_config "$W/c" bench
"$RV" --config "$CFG" cluster up --wait 60s >/dev/null
for i in $(seq -w 1 "$N"); do
  printf 'version: 1.0.%d\nmetadata:\n  title: service %s\n  creator: bench\ndependencies:\n  - chora.base.core >=1.0.0\nchora_service: {}\n' \
    "$((10#$i))" "$i" >"$W/caps/bench.svc.s$i.yaml"
done
SOCK=$W/rv.sock
{ cat "$CFG"
  echo "daemon:"
  echo "  control_socket: $SOCK"
  echo "  metrics_listen: \"\""
  echo "  jobs:"
  for job in snapshot verify compact defrag hashcheck diskcheck drill; do echo "    $job: {enabled: false}"; done
  echo "registry:"
  echo "  manifests_dir: $W/caps"
  echo "  sync: {max_deletes: 10}"
  echo "  heartbeat: {ttl: 30s, interval: 10s}"
} >"$W/cfg.yaml"
CFG=$W/cfg.yaml
ENDPOINTS=$(grep -o 'http://127.0.0.1:[0-9]*' "$CFG" | awk 'NR % 2 == 1' | paste -sd, -)
rev() { etcdctl --endpoints="$ENDPOINTS" endpoint status -w json | jq '.[0].Status.header.revision'; }
now() { date +%s.%N; }

r0=$(rev); t0=$(now)
"$RV" --config "$CFG" -o json registry sync >"$W/sync1.json"
t1=$(now); r1=$(rev)
"$RV" --config "$CFG" -o json registry sync >"$W/sync2.json"
t2=$(now); r2=$(rev)
first_s=$(echo "$t1 - $t0" | bc -l); again_s=$(echo "$t2 - $t1" | bc -l)
created=$(jq '.counts.create' "$W/sync1.json" 2>/dev/null || echo "?")

"$RV" --config "$CFG" daemon >>"$W/daemon.log" 2>&1 &
DPID=$!
healthy() { "$RV" --config "$CFG" -o json daemon status 2>/dev/null | jq '[.registry.heartbeats[]? | select(.status == "healthy")] | length'; }
up_t0=$(now)
for _ in $(seq 1 600); do
  [ "$(healthy)" = "$N" ] && break
  sleep 1
done
up_s=$(echo "$(now) - $up_t0" | bc -l)
hz=$(getconf CLK_TCK)
c0=$(awk '{print $14 + $15}' "/proc/$DPID/stat")
sleep "$HB_S"
c1=$(awk '{print $14 + $15}' "/proc/$DPID/stat")
rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$DPID/status")
cpu=$(echo "($c1 - $c0) * 100 / $hz / $HB_S" | bc -l)
n_healthy=$(healthy)
lost=$("$RV" --config "$CFG" -o json daemon status | jq '.registry.heartbeat_totals.leases_lost')
kill -TERM "$DPID"; wait "$DPID" || true; DPID=

ok_rss=$([ "$rss" -le 24576 ] && echo yes || echo no)
ok_cpu=$(echo "$cpu <= 2" | bc -l | sed 's/1/yes/; s/0/no/')
{
  echo
  echo "## registry services: $N Service-type manifests ($(date -u +%Y-%m-%d))"
  echo
  echo "\`$CMDLINE\` on $(nproc) cores, load before $LOAD_BEFORE, binary $RV, etcd $(etcd --version | awk '/etcd Version/{print $3}')."
  echo
  echo "| measure | value | target / field | met |"
  echo "|---|---|---|---|"
  printf '| first sync of %s manifests (%s created) | %.2f s, %s revisions (one Txn per capability) | one pass | %s |\n' "$N" "$created" "$first_s" "$((r1 - r0))" "$([ "$created" = "$N" ] && echo yes || echo no)"
  printf '| unchanged pass | %.2f s, %s revisions | 0 revisions | %s |\n' "$again_s" "$((r2 - r1))" "$([ $((r2 - r1)) = 0 ] && echo yes || echo no)"
  printf '| all %s heartbeats healthy after the daemon started | %.1f s | | |\n' "$N" "$up_s"
  echo "| daemon RSS keeping $N heartbeats (TTL 30s, every 10s) | $((rss / 1024)) MB ($rss kB) | <= 24 MB; guides: 8 MB x $N | $ok_rss |"
  printf '| daemon CPU over %s s | %.3f %% of a core | <= 2 %%; guides: 0.5 %% x %s | %s |\n' "$HB_S" "$cpu" "$N" "$ok_cpu"
  echo "| healthy at the end / leases lost | $n_healthy / $lost | $N / 0 | $([ "$n_healthy" = "$N" ] && [ "$lost" = 0 ] && echo yes || echo no) |"
} | tee -a bench/RESULTS.md
