#!/usr/bin/env bash
# How the engine's defaults were chosen (issue 15): W1-W4 written the plain
# way (bench/jobs/plain) at N rows under the Go GC percent (GOGC), the pipe
# depth (Job.QueueLen, bench/profile -queue) and CSVOrigin's batch_rows, RUNS
# runs of each configuration in turn,
# under /usr/bin/time -v: median wall and cpu, max peak RSS. Runs bench/profile
# (the engine in process, as openstage run) so every configuration is the same
# binary.
#
#   bench/tune.sh [N=5000000]    env: RUNS (3), BENCH_DIR (/tmp/openstage-bench), NICE (-10),
#                                CONFIGS (default below: name:GOGC:queue:batch_rows, 0 = default),
#                                TUNE_WORKLOADS ("w1 w2 w3 w4")
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin LC_ALL=C
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_DIR:-/tmp/openstage-bench}
N=${1:-5000000}
RUNS=${RUNS:-3}
DATA=$WORK/data/$N OUT=$WORK/tune/$N
CONFIGS=(${CONFIGS:-batch64k:0:0:65536 batch8k:0:0:8192 batch16k:0:0:16384 batch32k:0:0:32768 b16k_gogc50:50:0:16384 b16k_gogc25:25:0:16384 b16k_queue1:0:1:16384 b16k_queue4:0:4:16384})
WL=(${TUNE_WORKLOADS:-w1 w2 w3 w4})
[ -s "$DATA/orders.csv" ] || { echo "no $DATA/orders.csv: run bench/peers.sh $N first (or the shared gen.py)" >&2; exit 1; }
mkdir -p "$WORK/bin" "$OUT/jobs" && rm -f "$OUT/times.tsv"
(cd "$REPO" && go build -o "$WORK/bin/profile" ./bench/profile)
for cfg in "${CONFIGS[@]}"; do
  IFS=: read -r name gogc queue batch <<<"$cfg"
  for w in "${WL[@]}"; do
    if [ "$batch" != 0 ]; then # the plain job with batch_rows on its reader
      awk -v b="$batch" '{print} /type: CSVOrigin/{print "    batch_rows: " b}' "$REPO/bench/jobs/plain/$w.yaml" >"$OUT/jobs/${w}_$name.yaml"
    else cp "$REPO/bench/jobs/plain/$w.yaml" "$OUT/jobs/${w}_$name.yaml"; fi
  done
done
for w in "${WL[@]}"; do
  for run in $(seq "$RUNS"); do
    for cfg in "${CONFIGS[@]}"; do
      IFS=: read -r name gogc queue batch <<<"$cfg"
      o=$OUT/out/$name && mkdir -p "$o" && sync
      env_gc=() && [ "$gogc" = 0 ] || env_gc=(GOGC="$gogc")
      env "${env_gc[@]}" nice -n "${NICE:--10}" /usr/bin/time -f "%e %M %U %S" -o "$OUT/t" "$WORK/bin/profile" -queue "$queue" \
        "$OUT/jobs/${w}_$name.yaml" --param "in_dir=$DATA" --param "out_dir=$o" >/dev/null 2>"$OUT/err" || { cat "$OUT/err"; exit 1; }
      read -r wall rss u s <"$OUT/t"
      printf '%s\t%s\t%s\t%s\t%s\n' "$w" "$name" "$wall" "$rss" "$(awk -v u="$u" -v s="$s" 'BEGIN{print u+s}')" >>"$OUT/times.tsv"
      printf '  %s %-10s run %s: %6.2f s %5d MB cpu %5.2f s (load %s)\n' "$w" "$name" "$run" "$wall" $((rss / 1024)) "$(awk -v u="$u" -v s="$s" 'BEGIN{print u+s}')" "$(cut -d' ' -f1 /proc/loadavg)"
    done
  done
done
med() { awk -F'\t' -v w="$1" -v n="$2" -v c="$3" '$1==w && $2==n {print $c}' "$OUT/times.tsv" | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
mx() { awk -F'\t' -v w="$1" -v n="$2" -v c="$3" '$1==w && $2==n && $c+0>m {m=$c+0} END{print m}' "$OUT/times.tsv"; }
echo
echo "N=$N, $RUNS runs each in turn, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; median wall / median cpu / max peak RSS"
echo
printf '| config (GOGC:queue:batch_rows) |'; for w in "${WL[@]}"; do printf ' %s plain |' "$w"; done; echo
printf '|---|'; for w in "${WL[@]}"; do printf -- '---|'; done; echo
for cfg in "${CONFIGS[@]}"; do
  IFS=: read -r name gogc queue batch <<<"$cfg"
  printf '| %s (%s) |' "$name" "${cfg#*:}"
  for w in "${WL[@]}"; do printf ' %.2f s / %.2f s / %d MB |' "$(med $w "$name" 3)" "$(med $w "$name" 5)" $(($(mx $w "$name" 4) / 1024)); done
  echo
done
