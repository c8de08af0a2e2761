#!/usr/bin/env bash
# bench/s3.sh [SIZE_MB...] - regvault snapshot save straight into S3 (Ceph RGW)
# against the script it replaces: etcdctl snapshot save && zstd -3 && aws s3 cp.
#
# For each db size (default 300 1000 MB; values half random base64, half
# repetitive, so about half compressible) it starts a three-member cluster and an
# RGW on free ports under build/bench-s3/, fills the db, then alternates RUNS
# (default 3) runs of each, and prints medians, the ratio and peak RSS. Append the
# printed table to bench/RESULTS.md by hand. Needs the snapshot commands and the
# aws CLI. Everything it starts is stopped at the end.
#
# It also times build/stream-tool: the same member's Snapshot stream read through
# regvault's client and thrown away. That is the floor under any save (etcd
# computes a sha256 and frames 32 KiB messages in one goroutine); its ratio to the
# script says how much of the script's time etcd alone takes. And it times the
# same save into bench/s3sink.py, an endpoint that answers S3 and keeps nothing:
# the save with the S3 server's CPU off these two cores, as with a remote S3.
set -euo pipefail
cd "$(dirname "$0")/.."
RV_ROOT=$PWD
RV_BIN=${RV_BIN:-$RV_ROOT/build/regvault}
RUNS=${RUNS:-3}
SIZES=("${@:-300 1000}")
# shellcheck disable=SC2206
SIZES=(${SIZES[*]})
TEST_FILE_NAME=bench-s3
# shellcheck source=../tests/lib.sh
source "$RV_ROOT/tests/lib.sh" # free_port, write_cluster_config, start_cluster, ectl
W=$T_FILE_DIR
RGW_DIR=$W/rgw

cluster_down() { "$RV_BIN" --config "$W/c/regvault.yaml" cluster down >/dev/null 2>&1 || true; }
cleanup() {
  cluster_down
  [ -n "${SINK_PID:-}" ] && kill "$SINK_PID" 2>/dev/null
  bash "$RV_ROOT/tests/s3-rgw/stop-rgw.sh" "$RGW_DIR" --purge >/dev/null 2>&1 || true
}
trap cleanup EXIT

make -s -C "$RV_ROOT" >/dev/null
make -s -C "$RV_ROOT" build/stream-tool >/dev/null
osd=$(free_port)
seq "$osd" $((osd + 30)) >>"$T_FILE_DIR/.ports"
RGW_PORT=$(free_port) RGW_MON_PORT=$(free_port) RGW_OSD_PORT_MIN=$osd RGW_OSD_PORT_MAX=$((osd + 30)) \
  bash "$RV_ROOT/tests/s3-rgw/start-rgw.sh" "$RGW_DIR" >/dev/null 2>&1
# shellcheck disable=SC1091
source "$RGW_DIR/s3.env"
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY AWS_DEFAULT_REGION=$S3_REGION
python3 "$RV_ROOT/bench/s3sink.py" "$W/sink.port" &
SINK_PID=$!
for _ in $(seq 50); do [ -s "$W/sink.port" ] && break; sleep 0.1; done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# timed OUTVAR_S OUTVAR_KB CMD...: wall seconds and peak RSS (KB) of CMD
timed() {
  local _t0 _t1
  _t0=$(date +%s.%N)
  /usr/bin/time -f %M -o "$W/rss" "${@:3}" >/dev/null 2>"$W/err" || { cat "$W/err" >&2; return 1; }
  _t1=$(date +%s.%N)
  printf -v "$1" %.2f "$(echo "$_t1 - $_t0" | bc)"
  printf -v "$2" %s "$(tail -1 "$W/rss")"
}

echo "| db size | artifact | regvault save to S3 (median) | etcdctl + zstd -3 + aws s3 cp (median) | ratio | etcd stream alone, discarded (median) | its ratio | regvault save to a discarding endpoint (median) | its ratio | regvault peak RSS | script peak RSS (max of steps) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for mb in "${SIZES[@]}"; do
  cluster_down
  rm -rf "$W/c"
  start_cluster "$W/c" >/dev/null
  sed "s|^  url: .*|  url: s3://sink/bench\n  s3:\n    endpoint: http://127.0.0.1:$(cat "$W/sink.port")|" "$CFG" >"$W/sink.yaml"
  sed -i "s|^  url: .*|  url: s3://$S3_BUCKET/bench\n  s3:\n    endpoint: $S3_ENDPOINT|" "$CFG"
  # fill: 512 KiB values, half random base64, half repetitive
  n=$((mb * 2))
  for ((i = 0; i < n; i++)); do
    { head -c 196608 /dev/urandom | base64 -w0; head -c 262144 /dev/zero | tr '\0' 'a'; } >"$W/v"
    ectl put "bench/$i" <"$W/v" >/dev/null
  done
  db=$(ectl endpoint status -w json | jq '.[0].Status.dbSize')
  rv_t=() sh_t=() fl_t=() sk_t=() rv_kb=0 sh_kb=0 art=0
  for ((r = 0; r < RUNS; r++)); do
    timed t kb "$RV_BIN" --config "$CFG" --no-progress snapshot save
    rv_t+=("$t"); [ "$kb" -gt "$rv_kb" ] && rv_kb=$kb
    art=$(aws --endpoint-url "$S3_ENDPOINT" s3 ls "s3://$S3_BUCKET/bench/" | awk '/tar.zst$/ {print $3}' | tail -1)
    rm -f "$W/snap.db" "$W/snap.db.zst"
    t0=$(date +%s.%N) step_kb=0
    timed a kb etcdctl --endpoints="${ENDPOINTS%%,*}" snapshot save "$W/snap.db"; [ "$kb" -gt "$step_kb" ] && step_kb=$kb
    timed a kb zstd -q -3 "$W/snap.db" -o "$W/snap.db.zst"; [ "$kb" -gt "$step_kb" ] && step_kb=$kb
    timed a kb aws --endpoint-url "$S3_ENDPOINT" s3 cp "$W/snap.db.zst" "s3://$S3_BUCKET/script/snap-$r.db.zst"
    [ "$kb" -gt "$step_kb" ] && step_kb=$kb
    t1=$(date +%s.%N)
    sh_t+=("$(echo "$t1 - $t0" | bc)"); [ "$step_kb" -gt "$sh_kb" ] && sh_kb=$step_kb
    timed t kb "$RV_ROOT/build/stream-tool" "${ENDPOINTS%%,*}"
    fl_t+=("$t")
    timed t kb "$RV_BIN" --config "$W/sink.yaml" --no-progress snapshot save
    sk_t+=("$t")
  done
  rv_med=$(printf '%s\n' "${rv_t[@]}" | median)
  sh_med=$(printf '%s\n' "${sh_t[@]}" | median)
  fl_med=$(printf '%s\n' "${fl_t[@]}" | median)
  sk_med=$(printf '%s\n' "${sk_t[@]}" | median)
  printf '| %s MB | %s MB | %.2f s | %.2f s | %.2fx | %.2f s | %.2fx | %.2f s | %.2fx | %s MB | %s MB |\n' \
    "$((db / 1000000))" "$((art / 1000000))" "$rv_med" "$sh_med" "$(echo "$rv_med / $sh_med" | bc -l)" "$fl_med" \
    "$(echo "$fl_med / $sh_med" | bc -l)" "$sk_med" "$(echo "$sk_med / $sh_med" | bc -l)" "$((rv_kb / 1024))" \
    "$((sh_kb / 1024))"
  echo "  runs regvault: ${rv_t[*]}; script: ${sh_t[*]}; stream alone: ${fl_t[*]}; to the sink: ${sk_t[*]}" >&2
done
