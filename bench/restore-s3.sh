#!/usr/bin/env bash
# bench/restore-s3.sh [SIZE_MB] [ROUNDS] - the recovery time of a three-member
# cluster from an artifact in S3 (Ceph RGW started here, on free ports under
# build/test-tmp/bench-restore-s3/): `regvault restore --from latest` and `regvault
# drill` (the same artifact into a scratch cluster), alternated for ROUNDS rounds,
# each with its phases as the JSON report gives them (fetch, verify, restore, stop,
# start, check). The db is filled with 1 MiB values, half random bytes, half zeros.
# Appends a table to bench/RESULTS.md with the command line. Everything it starts
# is stopped at the end.
#   bash bench/restore-s3.sh 1024 3
set -euo pipefail
cd "$(dirname "$0")/.."
RV_ROOT=$PWD
RV_BIN=${RV_BIN:-$RV_ROOT/build/regvault}
SIZE_MB=${1:-1024}
ROUNDS=${2:-3}
export RV_ROOT TEST_FILE_NAME=bench-restore-s3 ETCDCTL_API=3
# shellcheck source=../tests/lib.sh
source "$RV_ROOT/tests/lib.sh" # free_port, write_cluster_config, start_cluster, ectl
W=$T_FILE_DIR
RGW_DIR=$W/rgw
[ -x "$RV_BIN" ] || { echo "build regvault first (make)"; exit 2; }

cleanup() {
  "$RV_BIN" --config "$W/c/regvault.yaml" cluster down >/dev/null 2>&1 || true
  bash "$RV_ROOT/tests/s3-rgw/stop-rgw.sh" "$RGW_DIR" --purge >/dev/null 2>&1 || true
}
trap cleanup EXIT

osd=$(free_port)
seq "$osd" $((osd + 30)) >>"$T_FILE_DIR/.ports"
RGW_PORT=$(free_port) RGW_MON_PORT=$(free_port) RGW_OSD_PORT_MIN=$osd RGW_OSD_PORT_MAX=$((osd + 30)) \
  bash "$RV_ROOT/tests/s3-rgw/start-rgw.sh" "$RGW_DIR" >/dev/null 2>&1
# shellcheck disable=SC1091
source "$RGW_DIR/s3.env"
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY AWS_DEFAULT_REGION=$S3_REGION

rm -rf "$W/c"
start_cluster "$W/c" >/dev/null
sed -i "s|^  url: .*|  url: s3://$S3_BUCKET/bench\n  s3:\n    endpoint: $S3_ENDPOINT|" "$CFG"
sed -i 's|^  etcd:|  etcd:\n    quota_backend_bytes: 8GiB|' "$CFG"
"$RV_BIN" --config "$CFG" --no-progress cluster down >/dev/null
"$RV_BIN" --config "$CFG" --no-progress cluster up >/dev/null
echo "filling about $SIZE_MB MB..." >&2
for i in $(seq 1 "$SIZE_MB"); do
  { head -c 524288 /dev/urandom; head -c 524288 /dev/zero; } | ectl put "/bench/$i" >/dev/null
done
"$RV_BIN" --config "$CFG" --no-progress snapshot save >/dev/null
db=$(ectl endpoint status -w json | jq '.[0].Status.dbSize')
art=$(aws --endpoint-url "$S3_ENDPOINT" s3 ls "s3://$S3_BUCKET/bench/" | awk '/tar.zst$/ {print $3}' | tail -1)

row() { # row KIND ROUND SECONDS JSON
  jq -r --arg k "$1" --arg r "$2" --arg t "$3" 'def f: if . == null then "-" else (. * 100 | round) / 100 | tostring end;
    .phases | "| \($k) | \($r) | \($t) | \(.fetch | f) | \(.verify | f) | \(.restore | f) | \(.stop | f) | \(.start | f) | \(.check | f) |"' "$4"
}
timed_json() { # timed_json OUT.json CMD...: wall seconds on stdout
  local out=$1 t0 t1
  shift
  t0=$(date +%s.%N)
  "$@" >"$out.tmp" 2>"$W/err" || { cat "$W/err" >&2; exit 1; }
  t1=$(date +%s.%N)
  mv "$out.tmp" "$out"
  printf '%.2f' "$(echo "$t1 - $t0" | bc)"
}
{
  echo
  echo "## restore and drill from S3 (RGW on these cores), db $((db / 1000000)) MB, $ROUNDS rounds ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "\`bash bench/restore-s3.sh $SIZE_MB $ROUNDS\` on $(nproc) cores, etcd $(etcd --version | awk '/etcd Version/{print $3}'),"
  echo "artifact $((art / 1000000)) MB in RGW on the same machine. Wall seconds of the command, then its phases (s)."
  echo
  echo "| command | round | total s | fetch | verify | restore | stop | start | check |"
  echo "|---|---|---|---|---|---|---|---|---|"
} >"$W/results.md"
rs=() ds=()
for r in $(seq 1 "$ROUNDS"); do
  t=$(timed_json "$W/restore.json" "$RV_BIN" --config "$CFG" --no-progress -o json restore --from latest --yes --force)
  rs+=("$t"); row "restore --from latest" "$r" "$t" "$W/restore.json" >>"$W/results.md"
  "$RV_BIN" --config "$CFG" --no-progress restore --cleanup --yes >/dev/null
  t=$(timed_json "$W/drill.json" "$RV_BIN" --config "$CFG" --no-progress -o json drill)
  ds+=("$t"); row "drill" "$r" "$t" "$W/drill.json" >>"$W/results.md"
  echo "round $r: restore ${rs[-1]} s, drill ${ds[-1]} s" >&2
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
echo "| restore, median | | $(median "${rs[@]}") | | | | | | |" >>"$W/results.md"
echo "| drill, median | | $(median "${ds[@]}") | | | | | | |" >>"$W/results.md"
cat "$W/results.md"
cat "$W/results.md" >>bench/RESULTS.md
