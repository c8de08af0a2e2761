#!/usr/bin/env bash
# bench/diskcheck.sh [RUNS] [DIR] - regvault maint diskcheck against fio's etcd disk test
# in the same directory, alternating (fio, regvault, fio, regvault, ...) so that both
# see the same disk weather. Compares the median p99 fdatasync latency (regvault's
# should be within 25 % of fio's) and the median wall time (regvault's should be no
# longer). Appends the results, with the command lines, to bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
RUNS=${1:-11}
DIR=${2:-$PWD/bench/tmp/diskcheck}
RV=${RV_BIN:-$PWD/build/regvault}
command -v fio >/dev/null || { echo "fio is not installed (make deps)"; exit 2; }
[ -x "$RV" ] || { echo "$RV is missing: run make"; exit 2; }
mkdir -p "$DIR"

FIO=(fio --name=etcd-disk --directory="$DIR" --rw=write --ioengine=sync --fdatasync=1 --size=22m --bs=2300
     --output-format=json)
REGVAULT=("$RV" -o json maint diskcheck --dir "$DIR" --size 22MiB --block-size 2300 --threshold 10ms)

now() { date +%s.%N; }
# Each run starts on a settled disk: the previous run's file is gone (its blocks
# discarded) and its dirty pages are written.
settle() { sync; sleep 1; }
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

fio_p99=() fio_p50=() fio_s=() rv_p99=() rv_p50=() rv_s=() fio_n=() rv_n=()
for i in $(seq 1 "$RUNS"); do
  settle
  t0=$(now)
  out=$("${FIO[@]}")
  t1=$(now)
  rm -f "$DIR"/etcd-disk.*
  fio_p99+=("$(jq -r '.jobs[0].sync.lat_ns.percentile["99.000000"] / 1000' <<<"$out")")
  fio_p50+=("$(jq -r '.jobs[0].sync.lat_ns.percentile["50.000000"] / 1000' <<<"$out")")
  fio_n+=("$(jq -r '.jobs[0].sync.lat_ns.N' <<<"$out")")
  fio_s+=("$(echo "$t1 - $t0" | bc -l)")

  settle

  t0=$(now)
  out=$("${REGVAULT[@]}" || true) # exit 1 when p99 is over the threshold: still a result
  t1=$(now)
  rv_p99+=("$(jq -r '.p99_us' <<<"$out")")
  rv_p50+=("$(jq -r '.p50_us' <<<"$out")")
  rv_n+=("$(jq -r '.writes' <<<"$out")")
  rv_s+=("$(echo "$t1 - $t0" | bc -l)")
  printf 'run %d: fio p99 %8.1f us in %5.2f s | regvault p99 %8.1f us in %5.2f s\n' "$i" \
    "${fio_p99[-1]}" "${fio_s[-1]}" "${rv_p99[-1]}" "${rv_s[-1]}"
done

m_fio_p99=$(printf '%s\n' "${fio_p99[@]}" | median)
m_rv_p99=$(printf '%s\n' "${rv_p99[@]}" | median)
m_fio_p50=$(printf '%s\n' "${fio_p50[@]}" | median)
m_rv_p50=$(printf '%s\n' "${rv_p50[@]}" | median)
m_fio_s=$(printf '%s\n' "${fio_s[@]}" | median)
m_rv_s=$(printf '%s\n' "${rv_s[@]}" | median)
diff_pct=$(echo "($m_rv_p99 - $m_fio_p99) * 100 / $m_fio_p99" | bc -l)
within=$(echo "define abs(x) { if (x < 0) return -x; return x; }; abs($diff_pct) <= 25" | bc -l)
faster=$(echo "$m_rv_s <= $m_fio_s" | bc -l)
verdict_p99=$([ "$within" -eq 1 ] && echo yes || echo NO)
verdict_time=$([ "$faster" -eq 1 ] && echo yes || echo NO)

report=$(cat <<EOF

## diskcheck: regvault maint diskcheck vs fio ($(date -u +%Y-%m-%dT%H:%M:%SZ))

Host: $(nproc) cores, $(uname -r); directory $DIR ($(df -T "$DIR" | awk 'NR==2 {print $2}') on $(df "$DIR" | awk 'NR==2 {print $1}')); $RUNS runs each, alternating; load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg).

- fio: \`${FIO[*]}\` (p99 from \`jobs[0].sync.lat_ns.percentile["99.000000"]\`, ${fio_n[0]} fdatasyncs)
- regvault: \`${REGVAULT[*]#$PWD/}\` (\`p99_us\`, ${rv_n[0]} fdatasyncs)

| | median p99 fdatasync | median p50 | median wall time | p99 per run (us) |
|---|---|---|---|---|
| fio | $(printf '%.1f' "$m_fio_p99") us | $(printf '%.1f' "$m_fio_p50") us | $(printf '%.2f' "$m_fio_s") s | $(printf '%.0f ' "${fio_p99[@]}") |
| regvault | $(printf '%.1f' "$m_rv_p99") us | $(printf '%.1f' "$m_rv_p50") us | $(printf '%.2f' "$m_rv_s") s | $(printf '%.0f ' "${rv_p99[@]}") |

regvault's p99 differs from fio's by $(printf '%+.1f' "$diff_pct") % (within 25 %: $verdict_p99); regvault takes no longer than fio: $verdict_time.
EOF
)
echo "$report"
[ -f bench/RESULTS.md ] || printf '# Benchmark results\n\nAppended by the scripts in bench/; newest last.\n' >bench/RESULTS.md
echo "$report" >>bench/RESULTS.md
rmdir "$DIR" 2>/dev/null || true
