#!/usr/bin/env bash
# bench/encryption.sh [SIZE_MB] [RUNS] - regvault snapshot save with store.encryption
# (one age X25519 recipient) against the same save unencrypted, of the same db on a
# local three-member cluster (half-compressible values, as bench/snapshot.sh).
# Runs alternate; medians, the ratio and peak RSS are appended to bench/RESULTS.md.
#   bash bench/encryption.sh 300 5
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-300}
RUNS=${2:-5}
RV_BIN=${RV_BIN:-$PWD/build/regvault}
export RV_ROOT=$PWD TEST_FILE_NAME=bench-encryption ETCDCTL_API=3
source tests/lib.sh
[ -x "$RV_BIN" ] || { echo "build regvault first (make)"; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)"; exit 2; }
W=$T_FILE_DIR
rm -rf "$W/c"
write_cluster_config "$W/c" bench
{ echo "snapshot:"; echo "  source: etcd2"; } >>"$CFG"
"$RV_BIN" --config "$CFG" --no-progress cluster up >/dev/null
trap '"$RV_BIN" --config "$CFG" cluster down >/dev/null 2>&1 || true' EXIT
SRC_EP=$(awk '$2=="name:"{cur=$3} $1=="client_url:" && cur=="etcd2"{print $2}' "$CFG")
"$RV_BIN" keygen "$W/key" >"$W/rcp" 2>/dev/null || true
[ -s "$W/rcp" ] || age-keygen -y "$W/key" >"$W/rcp"
awk -v r="$(cat "$W/rcp")" '{print} /^  url: /{print "  encryption:"; print "    recipients: [\"" r "\"]"}' "$CFG" >"$W/enc.yaml"

db_bytes() { etcdctl --endpoints="$SRC_EP" endpoint status -w json | jq '.[0].Status.dbSize'; }
i=0
while [ "$(db_bytes)" -lt $((SIZE * 1000000)) ]; do
  for _ in $(seq 1 10); do
    { head -c 524288 /dev/urandom; head -c 524288 /dev/zero; } | etcdctl --endpoints="$ENDPOINTS" put "/bench/v$i" >/dev/null
    i=$((i + 1))
  done
done
median() { sort -n | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
run() { # run plain|enc CONFIG
  rm -rf "$W/store.$1"
  /usr/bin/time -f "%e %M" -o "$W/t" "$RV_BIN" --config "$2" --no-progress snapshot save --store "$W/store.$1" >/dev/null 2>&1
  tail -1 "$W/t" >>"$W/$1.times"
}
rm -f "$W"/*.times
for r in $(seq 1 "$RUNS"); do
  if [ $((r % 2)) = 1 ]; then run plain "$CFG"; run enc "$W/enc.yaml"; else run enc "$W/enc.yaml"; run plain "$CFG"; fi
  echo "run $r: plain $(tail -1 "$W/plain.times") encrypted $(tail -1 "$W/enc.times")" >&2
done
p_t=$(awk '{print $1}' "$W/plain.times" | median); p_m=$(awk '{print $2}' "$W/plain.times" | median)
e_t=$(awk '{print $1}' "$W/enc.times" | median); e_m=$(awk '{print $2}' "$W/enc.times" | median)
p_s=$(stat -c %s "$W"/store.plain/*.tar.zst); e_s=$(stat -c %s "$W"/store.enc/*.tar.zst.age)
{
  echo
  echo "## snapshot save encrypted (age) vs plain, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "\`bash bench/encryption.sh $SIZE $RUNS\` on $(nproc) cores, db $(awk -v b="$(db_bytes)" 'BEGIN{printf "%.0f MB", b/1e6}'), one X25519 recipient,"
  echo "compression level 3. Medians of $RUNS alternated runs."
  echo
  echo "| save | time s | vs plain | peak RSS MB | artifact MB |"
  echo "|---|---|---|---|---|"
  awk -v t="$p_t" -v m="$p_m" -v s="$p_s" 'BEGIN{printf "| plain .tar.zst | %.2f | 1.00x | %.1f | %.1f |\n", t, m/1024, s/1e6}'
  awk -v t="$e_t" -v p="$p_t" -v m="$e_m" -v s="$e_s" 'BEGIN{printf "| encrypted .tar.zst.age | %.2f | %.3fx | %.1f | %.1f |\n", t, t/p, m/1024, s/1e6}'
} | tee -a bench/RESULTS.md
