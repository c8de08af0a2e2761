#!/usr/bin/env bash
# bench/restore.sh [SIZE_MB] [ROUNDS] - restore time of a three-member cluster from a
# local artifact: `regvault restore` against the manual runbook done as a shell script
# (decompress, three sequential `etcdctl snapshot restore`, stop, move, start, wait
# healthy). Both start from the same running cluster and the same artifact, in
# alternating rounds; the ratio is regvault/manual per round. Appends the results
# to bench/RESULTS.md with the command line.
#
#   bash bench/restore.sh 300 3     # about 300 MB db, three rounds (default)
#   bash bench/restore.sh 1024 2
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIZE_MB=${1:-300}
ROUNDS=${2:-3}
RV=${RV_BIN:-$ROOT/build/regvault}
DIR=$ROOT/build/bench-restore
export ETCDCTL_API=3
[ -x "$RV" ] || { echo "build regvault first (make)"; exit 2; }

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    [ -n "$(ss -tanH "( sport = :$p )" 2>/dev/null)" ] && continue
    [[ " ${USED:-} " == *" $p "* ]] && continue
    USED="${USED:-} $p"; echo "$p"; return
  done
}

cleanup() { "$RV" --config "$CFG" cluster down >/dev/null 2>&1 || true; }
trap cleanup EXIT

rm -rf "$DIR"
mkdir -p "$DIR"
CFG=$DIR/regvault.yaml
NAMES=() PEERS=() CLIENTS=()
{
  echo "cluster:"
  echo "  name: bench"
  echo "  token: bench-restore"
  echo "  members:"
  for i in 1 2 3; do
    cp=$(free_port); pp=$(free_port)
    NAMES+=("etcd$i"); PEERS+=("http://127.0.0.1:$pp"); CLIENTS+=("http://127.0.0.1:$cp")
    echo "    - name: etcd$i"
    echo "      client_url: http://127.0.0.1:$cp"
    echo "      peer_url: http://127.0.0.1:$pp"
    echo "      data_dir: $DIR/etcd$i"
  done
  echo "  etcd:"
  echo "    quota_backend_bytes: 8GiB"
  echo "store:"
  echo "  url: $DIR/backups"
  echo "state_dir: $DIR/state"
} >"$CFG"
EP=$(IFS=,; echo "${CLIENTS[*]}")
IC="etcd1=${PEERS[0]},etcd2=${PEERS[1]},etcd3=${PEERS[2]}"

"$RV" --config "$CFG" --no-progress cluster up >/dev/null
echo "filling about $SIZE_MB MB (1 MB values, half random, half zeros)..."
for i in $(seq 1 "$SIZE_MB"); do
  { head -c 524288 /dev/urandom; head -c 524288 /dev/zero; } | etcdctl --endpoints="$EP" put "/bench/$i" >/dev/null
done
"$RV" --config "$CFG" --no-progress snapshot save >/dev/null
ART=$(ls "$DIR"/backups/*.tar.zst | head -1)
DB_SIZE=$(etcdctl --endpoints="${CLIENTS[0]}" -w json endpoint status | jq '.[0].Status.dbSize')
echo "artifact $(basename "$ART"): $(stat -c %s "$ART") bytes, db $DB_SIZE bytes"

now() { date +%s.%N; }

# The runbook by hand (docs/runbooks/restore.md), as fast as a careful operator's script.
manual_restore() {
  local w=$DIR/manual T i
  rm -rf "$w"; mkdir -p "$w"
  (cd "$w" && tar --zstd -xf "$ART")
  T=$(date -u +%Y%m%dT%H%M%SZ)
  for i in 0 1 2; do
    etcdctl snapshot restore "$w/snapshot.db" --name "${NAMES[$i]}" --data-dir "$w/${NAMES[$i]}" \
      --initial-cluster "$IC" --initial-cluster-token "bench-manual-$T" \
      --initial-advertise-peer-urls "${PEERS[$i]}" >/dev/null 2>&1
  done
  "$RV" --config "$CFG" cluster down >/dev/null
  for i in 1 2 3; do
    mv "$DIR/etcd$i" "$DIR/etcd$i.before-manual-$T"
    mv "$w/etcd$i" "$DIR/etcd$i"
  done
  "$RV" --config "$CFG" --no-progress cluster up >/dev/null   # start, wait healthy
}

rv_restore() {
  "$RV" --config "$CFG" --no-progress -o json restore --from latest --yes --force >"$DIR/rv.json" 2>"$DIR/rv.err"
}

declare -a RV_T MAN_T
for r in $(seq 1 "$ROUNDS"); do
  t0=$(now); rv_restore; t1=$(now)
  RV_T+=("$(echo "$t1 - $t0" | bc)")
  phases=$(jq -c .phases "$DIR/rv.json")
  t0=$(now); manual_restore; t1=$(now)
  MAN_T+=("$(echo "$t1 - $t0" | bc)")
  # Old data dirs from both: keep the disk from filling up between rounds.
  "$RV" --config "$CFG" restore --cleanup --yes >/dev/null
  rm -rf "$DIR"/*.before-manual-* "$DIR/manual"
  printf 'round %d: regvault %.2f s, manual %.2f s, ratio %.2f  phases %s\n' "$r" "${RV_T[-1]}" "${MAN_T[-1]}" \
    "$(echo "${RV_T[-1]} / ${MAN_T[-1]}" | bc -l)" "$phases"
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
RV_MED=$(median "${RV_T[@]}")
MAN_MED=$(median "${MAN_T[@]}")
RATIO=$(printf '%.2f' "$(echo "$RV_MED / $MAN_MED" | bc -l)")
echo "median: regvault $RV_MED s, manual $MAN_MED s, ratio $RATIO (target <= 0.6)"

{
  echo
  echo "## restore: regvault restore vs the manual runbook script, db $((DB_SIZE / 1000000)) MB, $ROUNDS rounds ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "\`bash bench/restore.sh $SIZE_MB $ROUNDS\` on $(nproc) cores, etcd $(etcd --version | head -1 | awk '{print $3}'), three members on loopback."
  echo
  echo "| round | regvault restore (s) | manual runbook script (s) | ratio |"
  echo "| --- | --- | --- | --- |"
  for i in "${!RV_T[@]}"; do
    printf '| %d | %.2f | %.2f | %.2f |\n' $((i + 1)) "${RV_T[$i]}" "${MAN_T[$i]}" "$(echo "${RV_T[$i]} / ${MAN_T[$i]}" | bc -l)"
  done
  printf '| median | %.2f | %.2f | %s |\n' "$RV_MED" "$MAN_MED" "$RATIO"
  echo
  echo "regvault phases of the last round (s): $phases"
} >>"$ROOT/bench/RESULTS.md"
