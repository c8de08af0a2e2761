#!/usr/bin/env bash
# bench/s3-latency.sh [SIZE_MB] [DELAY_S...] - store.s3.parts_in_flight against an
# S3 endpoint that answers late, as a distant one does: regvault snapshot save and
# snapshot fetch through tests/tools/faultproxy.py, which holds every request
# DELAY_S seconds (default 0 and 0.05) before passing it on to Ceph RGW, with 1,
# 2 and 4 parts (upload) and ranges (download) in flight. RUNS (default 3) runs
# each, medians printed as a table for bench/RESULTS.md. The proxy opens a new
# connection to RGW per request, a cost every row pays alike.
set -euo pipefail
cd "$(dirname "$0")/.."
RV_ROOT=$PWD
RV_BIN=${RV_BIN:-$RV_ROOT/build/regvault}
RUNS=${RUNS:-3}
MB=${1:-150}
shift || true
DELAYS=("${@:-0 0.05}")
# shellcheck disable=SC2206
DELAYS=(${DELAYS[*]})
TEST_FILE_NAME=bench-s3-latency
# shellcheck source=../tests/lib.sh
source "$RV_ROOT/tests/lib.sh"
W=$T_FILE_DIR

cleanup() {
  "$RV_BIN" --config "$W/c/regvault.yaml" cluster down >/dev/null 2>&1 || true
  stop_fault_proxy
  stop_rgw >/dev/null 2>&1 || true
}
trap cleanup EXIT
make -s -C "$RV_ROOT" >/dev/null
start_rgw
start_fault_proxy
start_cluster "$W/c" >/dev/null
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY AWS_DEFAULT_REGION=$S3_REGION
for ((i = 0; i < MB * 2; i++)); do
  { head -c 196608 /dev/urandom | base64 -w0; head -c 262144 /dev/zero | tr '\0' 'a'; } >"$W/v"
  ectl put "bench/$i" <"$W/v" >/dev/null
done
db=$(ectl endpoint status -w json | jq '.[0].Status.dbSize')

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>"$W/err" || { cat "$W/err" >&2; return 1; }; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
config() { # config N: the store through the proxy with N parts in flight
  sed "s|^  url: .*|  url: s3://$S3_BUCKET/lat\n  s3:\n    endpoint: $PROXY\n    parts_in_flight: $1|" "$CFG" >"$W/n$1.yaml"
}

echo "db $((db / 1000000)) MB, $RUNS runs each, medians"
echo
echo "| added latency per request | parts/ranges in flight | snapshot save | snapshot fetch |"
echo "|---|---|---|---|"
for d in "${DELAYS[@]}"; do
  for n in 1 2 4; do
    config "$n"
    printf 'delay * * %s x*\n' "$d" >"$PROXY_DIR/plan"
    st=() ft=()
    for ((r = 0; r < RUNS; r++)); do
      st+=("$(secs "$RV_BIN" --config "$W/n$n.yaml" --no-progress snapshot save)")
      name=$("$RV_BIN" --config "$W/n$n.yaml" -o json snapshot list | jq -r '.[0].name')
      rm -f "$W/fetched.db"
      ft+=("$(secs "$RV_BIN" --config "$W/n$n.yaml" --no-progress snapshot fetch "$name" "$W/fetched.db")")
    done
    printf '| %s s | %s | %.2f s | %.2f s |\n' "$d" "$n" "$(printf '%s\n' "${st[@]}" | median)" \
      "$(printf '%s\n' "${ft[@]}" | median)"
  done
done
