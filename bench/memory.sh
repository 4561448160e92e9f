#!/usr/bin/env bash
# Memory flatness of streaming Open-Stage jobs: peak RSS (GNU time -v) of
#   - W4 passthrough (bench/jobs/w4.yaml, and written the plain way, bench/jobs/plain/w4.yaml) and
#     W1 filter+aggregate written the plain way (bench/jobs/plain/w1.yaml) over orders.csv at
#     N_SMALL and at N_LARGE rows, and
#   - CSVOrigin -> Filter -> CSVDestination (bench/jobs/stream_filter.yaml) over a ~1 GB orders.csv.
#
#   bench/memory.sh          env: BENCH_DIR (default /tmp/openstage-bench), N_SMALL (5000000),
#                                 N_LARGE (50000000), GB_ROWS (18000000 rows, ~1.02 GB),
#                                 SHARED_BENCH (default ../shared/bench next to the repository),
#                                 QUIET_MAX (s to wait for an idle machine before each run, default 120)
#
# The N_SMALL data is the shared benchmark's (BENCH_DIR/data/N_SMALL, made by gen.py if missing).
# The large file is the N_SMALL orders.csv repeated N_LARGE/N_SMALL times with order_id renumbered
# (same format and value distributions, unique order_id; made with awk in ~1 min instead of gen.py's
# ~6). The ~1 GB file is its first GB_ROWS rows. Both are deleted as soon as they are used, and so
# are the jobs' outputs. Prints a table and writes BENCH_DIR/memory-DATE.md.
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin LC_ALL=C
REPO=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$REPO/bench
SHARED=${SHARED_BENCH:-$REPO/../shared/bench}
WORK=${BENCH_DIR:-/tmp/openstage-bench}
N_SMALL=${N_SMALL:-5000000} N_LARGE=${N_LARGE:-50000000} GB_ROWS=${GB_ROWS:-18000000}
[ $((N_LARGE % N_SMALL)) = 0 ] || { echo "N_LARGE must be a multiple of N_SMALL" >&2; exit 1; }
SMALL=$WORK/data/$N_SMALL
MEM=$WORK/memory
TIMES=$MEM/times.tsv
RESULTS=$WORK/memory-$(date -u +%F).md
mkdir -p "$MEM"
trap 'rm -rf "$MEM/large" "$MEM/gb" "$MEM/out"' EXIT

echo "== build openstage"
(cd "$REPO" && go build -o bench/bin/openstage ./cmd/openstage)
if [ ! -s "$SMALL/orders.csv" ]; then
  echo "== generate N=$N_SMALL (gen.py)"
  python3 "$SHARED/gen.py" "$SMALL" "$N_SMALL"
fi

HZ=$(getconf CLK_TCK)
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
quiet() { # as the shared run.sh: wait (at most QUIET_MAX s, default 120) for < 10% of one core over 0.5 s
  local t b
  for t in $(seq $((${QUIET_MAX:-120} * 2))); do
    b=$(busy); sleep 0.5
    [ $(($(busy) - b)) -le $((HZ / 20)) ] && return 0
  done
  echo "  WARNING: machine still busy after ${QUIET_MAX:-120} s, running anyway"
}
: >"$TIMES"
# measure LABEL INDIR JOB(w4|stream_filter): one run under /usr/bin/time -v, output deleted after
measure() {
  local label=$1 in=$2 job=$3 tf=$MEM/${1// /_}.time b0 b1 wall rss cpu other rows size trace
  rm -rf "$MEM/out" && mkdir -p "$MEM/out"
  sync; quiet
  b0=$(busy)
  /usr/bin/time -v -o "$tf" "$BENCH/bin/openstage" run "$BENCH/jobs/$job.yaml" --quiet \
    --param "in_dir=$in" --param "out_dir=$MEM/out" &
  local tpid=$! opid="" rc=0
  # RSS over time: VmRSS of the openstage process every 0.5 s, to show it levels off, with its
  # anonymous part (heap, stacks) and its file-backed part (the binary's code and read-only data).
  : >"$MEM/${1// /_}.rss"
  while kill -0 "$tpid" 2>/dev/null; do
    [ -n "$opid" ] || opid=$(pgrep -P "$tpid" || true)
    [ -z "$opid" ] || awk '/^VmRSS/{r=$2} /^RssAnon/{a=$2} /^RssFile/{f=$2} END{if (r) print r, a, f}' "/proc/$opid/status" >>"$MEM/${1// /_}.rss" 2>/dev/null || true
    sleep 0.5
  done
  wait "$tpid" || rc=$?
  b1=$(busy)
  if [ "$rc" != 0 ]; then echo "FAILED: $label (exit $rc)"; printf '%s\tFAIL\n' "$label" >>"$TIMES"; return 0; fi
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$tf")
  rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$tf")
  cpu=$(awk -F': ' '/(User|System) time \(seconds\)/{s+=$2} END{printf "%.2f", s}' "$tf")
  other=$(awk -v b=$((b1 - b0)) -v hz="$HZ" -v c="$cpu" 'BEGIN{o=b/hz-c; printf "%.2f", o<0?0:o}')
  size=$(stat -c %s "$in/orders.csv")
  rows=$(($(wc -l <"$MEM/out/"*.csv) - 1))
  # RSS at 10%, 25%, 50%, 75%, 90% of the run and the largest sample, in MB
  trace=$(awk '{v[NR]=$1; if ($2 > ma) ma=$2; if ($3 > mf) mf=$3} END{if (NR == 0) {print "-"; exit}
    n=split("0.1 0.25 0.5 0.75 0.9", q, " "); s=""
    for (i=1; i<=n; i++) {k=int(q[i]*NR); if (k < 1) k=1; s=s sprintf("%d/", v[k]/1024)}
    m=0; for (i=1; i<=NR; i++) if (v[i] > m) m=v[i]
    printf "%s, max %d (anon %d + file %d; %d samples)", substr(s, 1, length(s)-1), m/1024, ma/1024, mf/1024, NR}' "$MEM/${1// /_}.rss")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$size" "$rows" "$wall" "$rss" "$cpu" "$other" "$trace" >>"$TIMES"
  printf '  %-28s in %6.0f MB, out %9d rows: %7.2f s  peak RSS %5d MB  cpu %6.2f s  other %5.2f s\n    RSS MB at 10/25/50/75/90%% of the run, max sampled: %s\n' \
    "$label" "$(awk -v s="$size" 'BEGIN{print s/1e6}')" "$rows" "$wall" $((rss / 1024)) "$cpu" "$other" "$trace"
  rm -rf "$MEM/out"
}

echo "== W4 passthrough and W1 filter+aggregate, $N_SMALL rows"
measure "W4 $N_SMALL rows" "$SMALL" w4
measure "W4 plain $N_SMALL rows" "$SMALL" plain/w4
measure "W1 plain $N_SMALL rows" "$SMALL" plain/w1

echo "== make $N_LARGE rows ($((N_LARGE / N_SMALL)) x the $N_SMALL-row orders.csv, order_id renumbered)"
rm -rf "$MEM/large" && mkdir -p "$MEM/large"
t0=$(date +%s)
# order_id is the first field: add (copy - 1) * N_SMALL, leave the rest of the line untouched
files=() && for i in $(seq $((N_LARGE / N_SMALL))); do files+=("$SMALL/orders.csv"); done
mawk -F, -v n="$N_SMALL" 'FNR == 1 { if (NR == 1) print; k++; next }
  { print ($1 + (k - 1) * n) substr($0, length($1) + 1) }' "${files[@]}" >"$MEM/large/orders.csv"
echo "  $(stat -c %s "$MEM/large/orders.csv" | awk '{printf "%.0f MB", $1/1e6}') in $(($(date +%s) - t0)) s"

echo "== W4 passthrough and W1 filter+aggregate, $N_LARGE rows"
measure "W4 $N_LARGE rows" "$MEM/large" w4
measure "W4 plain $N_LARGE rows" "$MEM/large" plain/w4
measure "W1 plain $N_LARGE rows" "$MEM/large" plain/w1

echo "== ~1 GB orders.csv (first $GB_ROWS rows) through CSVOrigin -> Filter(age >= 18) -> CSVDestination"
rm -rf "$MEM/gb" && mkdir -p "$MEM/gb"
head -n $((GB_ROWS + 1)) "$MEM/large/orders.csv" >"$MEM/gb/orders.csv"
rm -rf "$MEM/large"
measure "stream filter ~1 GB" "$MEM/gb" stream_filter
rm -rf "$MEM/gb"

{
  echo "# Open-Stage streaming memory, $(date -u '+%F %H:%M UTC')"
  echo
  echo "Machine: $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p')), $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(uname -sr); $("$BENCH/bin/openstage" version) (commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(
    [ -z "$(git -C "$REPO" status --porcelain 2>/dev/null)" ] || echo ' plus uncommitted changes')), $(go version | cut -d' ' -f3)."
  echo "One run each under /usr/bin/time -v, warm page cache for the $N_SMALL-row file, after sync and an idle-machine wait."
  echo "Large inputs: the $N_SMALL-row gen.py orders.csv repeated, order_id renumbered."
  echo
  echo "| job | input | rows out | wall | peak RSS | RSS MB at 10/25/50/75/90% of the run, max sampled (max anonymous + max file-backed) | cpu s (other) |"
  echo "|---|---|---|---|---|---|---|"
  awk -F'\t' '$2 == "FAIL" { printf "| %s | FAIL | | | | | |\n", $1; next }
    { printf "| %s | %.0f MB | %d | %.2f s | %d MB | %s | %.2f (%.2f) |\n", $1, $2/1e6, $3, $4, $5/1024, $8, $6, $7 }' "$TIMES"
} >"$RESULTS"
echo
cat "$RESULTS"
echo "(written to $RESULTS)"
