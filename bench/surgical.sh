#!/usr/bin/env bash
# bench/surgical.sh [KEYS] - a prefix restore into a live three-member cluster: KEYS
# keys (default 100,000, values of 100 bytes) under /bench/svc/ deleted with
# `etcdctl del --prefix`, then put back with `regvault restore --prefix` (keys/s),
# beside a full `regvault restore` of the same artifact (its RTO: every member
# stopped, restored and started). Appends the results to bench/RESULTS.md with the
# command line.
#
#   bash bench/surgical.sh            # 100,000 keys
#   bash bench/surgical.sh 20000
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
KEYS=${1:-100000}
RV=${RV_BIN:-$ROOT/build/regvault}
DIR=$ROOT/build/bench-surgical
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

rm -rf "$DIR"; mkdir -p "$DIR"
CFG=$DIR/regvault.yaml
CLIENTS=()
{
  echo "cluster:"; echo "  name: bench"; echo "  token: bench-surgical"; echo "  members:"
  for i in 1 2 3; do
    cp=$(free_port); pp=$(free_port); CLIENTS+=("http://127.0.0.1:$cp")
    echo "    - name: etcd$i"; echo "      client_url: http://127.0.0.1:$cp"
    echo "      peer_url: http://127.0.0.1:$pp"; echo "      data_dir: $DIR/etcd$i"
  done
  echo "store:"; echo "  url: $DIR/backups"; echo "state_dir: $DIR/state"
} >"$CFG"
EP=$(IFS=,; echo "${CLIENTS[*]}")
"$RV" --config "$CFG" --no-progress cluster up >/dev/null

echo "filling $KEYS keys under /bench/svc/ and 1,000 elsewhere..."
fill() { # fill PREFIX N: 100 puts per Txn
  awk -v p="$1" -v n="$2" 'BEGIN {
    v = sprintf("%0100d", 0)
    for (i = 1; i <= n; i++) { printf "put %s%07d %s\n", p, i, v; if (i % 100 == 0 || i == n) print "" }
  }' | csplit -s -z -f "$DIR/txn." - '/^$/+1' '{*}'
  for f in "$DIR"/txn.*; do { echo; cat "$f"; echo; } | etcdctl --endpoints="$EP" txn >/dev/null; rm -f "$f"; done
}
fill /bench/svc/ "$KEYS"
fill /bench/other/ 1000
"$RV" --config "$CFG" --no-progress snapshot save >/dev/null
DB_SIZE=$(etcdctl --endpoints="${CLIENTS[0]}" -w json endpoint status | jq '.[0].Status.dbSize')
etcdctl --endpoints="$EP" del --prefix /bench/svc/ >/dev/null

now() { date +%s.%N; }
t0=$(now)
"$RV" --config "$CFG" --no-progress -o json restore --prefix /bench/svc/ --yes >"$DIR/prefix.json"
t1=$(now)
PUT=$(jq .put "$DIR/prefix.json"); TXNS=$(jq .txns "$DIR/prefix.json"); INNER=$(jq .seconds "$DIR/prefix.json")
GOT=$(etcdctl --endpoints="$EP" get --prefix /bench/svc/ --keys-only | grep -c .)
[ "$GOT" = "$KEYS" ] || { echo "only $GOT of $KEYS keys are back"; exit 1; }
PREFIX_S=$(echo "$t1 - $t0" | bc -l)
RATE=$(echo "$KEYS / $PREFIX_S" | bc -l)

t2=$(now)
"$RV" --config "$CFG" --no-progress -o json restore --from latest --yes --force >"$DIR/full.json"
t3=$(now)
FULL_S=$(echo "$t3 - $t2" | bc -l)

line="prefix restore: $PUT keys put in $TXNS Txns, $(printf %.2f "$PREFIX_S") s wall ($(printf %.2f "$INNER") s of it reading live and writing), $(printf %.0f "$RATE") keys/s; full restore of the same artifact: $(printf %.2f "$FULL_S") s"
echo "$line"
{
  echo
  echo "## surgical: restore --prefix of $KEYS keys into a live cluster, beside a full restore ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "\`bash bench/surgical.sh $KEYS\` on $(nproc) cores, $(etcd --version | head -1), three members on loopback, db $DB_SIZE bytes."
  echo
  echo "| what | seconds | keys/s |"
  echo "|---|---|---|"
  echo "| \`restore --prefix /bench/svc/ --yes\` (fetch, read db, read live, $TXNS Txns) | $(printf %.2f "$PREFIX_S") | $(printf %.0f "$RATE") |"
  echo "| \`restore --from latest --yes --force\` (every member stopped, restored, started: the RTO) | $(printf %.2f "$FULL_S") | |"
  echo
  echo "The prefix restore keeps the cluster serving and every write made outside the prefix since the snapshot; the"
  echo "full restore loses them."
} >>bench/RESULTS.md
