#!/usr/bin/env bash
# The stages that hold data, at a tenth of their memory (issue 15): Sort
# (every order by amount desc, order_id), Aggregator (sum and count of amount
# per user_id) and Joiner (orders inner join users), jobs bench/jobs/spill/*.yaml
# written the plain way. For each, Open-Stage runs once without a limit, which
# gives its in-memory peak RSS P; then Open-Stage with --memory-limit P/10 and
# DuckDB (bench/peers/duckdb) with memory_limit = P/10 (the same bytes), with
# its default settings and with threads=1 and preserve_insertion_order=false
# (what its out-of-memory error advises), run RUNS times each, in turn, after sync, under /usr/bin/time -v; DuckDB also
# runs once without a limit. Outputs are compared with the shared verify (the
# join's sorted by order_id first: its row order is unspecified).
#
#   bench/spill.sh [N=5000000]
#
# env: RUNS (3), OPS ("sort aggregate join"), BENCH_DIR (/tmp/openstage-bench; data in
#      BENCH_DIR/data/N, made by the shared gen.py if missing), TMPDIR (where both
#      spill), NICE (niceness of the timed runs, default -10, the same for both tools).
# Prints a markdown table and writes it to BENCH_DIR/spill-N-DATE.md.
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin LC_ALL=C
REPO=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$REPO/bench
SHARED=${SHARED_BENCH:-$REPO/../shared/bench}
[ -d "$SHARED" ] || SHARED=/work/shared/bench
WORK=${BENCH_DIR:-/tmp/openstage-bench}
N=${1:-5000000}
RUNS=${RUNS:-3}
OPS=(${OPS:-sort aggregate join})
DATA=$WORK/data/$N OUT=$WORK/spill/$N BIN=$WORK/bin/spill
LOG=$OUT/logs TIMES=$OUT/times.tsv
RESULTS=$WORK/spill-$N-$(date -u +%F-%H%M).md
die() { echo "bench/spill.sh: $*" >&2; exit 1; }
[ -x /usr/bin/time ] || die "needs /usr/bin/time (Debian package time)"

echo "== build"
mkdir -p "$BIN"
(cd "$REPO" && go build -o "$BIN/openstage" ./cmd/openstage) || die "go build ./cmd/openstage failed"
OS_VERSION="$("$BIN/openstage" version), commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(
  [ -z "$(git -C "$REPO" status --porcelain 2>/dev/null)" ] || echo ' plus uncommitted changes')"
(cd "$BENCH/peers/duckdb" && GOFLAGS=-mod=mod go build -o "$BIN/duckdb-etl" .) || die "building the DuckDB peer failed"
(cd "$SHARED/verify" && go build -o "$BIN/verify" .) || die "building the shared verify failed"
if [ ! -s "$DATA/orders.csv" ] || [ ! -s "$DATA/users.csv" ]; then
  echo "== generate N=$N (gen.py)"
  python3 "$SHARED/gen.py" "$DATA" "$N"
fi
rm -rf "$OUT" && mkdir -p "$LOG"
cat "$DATA"/orders.csv "$DATA"/users.csv >/dev/null

HZ=$(getconf CLK_TCK)
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
timeit() { # LABEL RUN CMD...: appends LABEL wall rss_kb cpu other
  local label=$1 run=$2 tf=$LOG/${1//\//_}.$2.time b0 b1 wall rss cpu other
  shift 2
  sync
  b0=$(busy)
  if ! nice -n "${NICE:--10}" /usr/bin/time -v -o "$tf" "$@" >>"$LOG/${label//\//_}.out" 2>&1; then
    echo "  FAILED: $label run $run: $(grep -v '^\s*$' "$LOG/${label//\//_}.out" | tail -1 | cut -c1-200)"
    printf '%s\tFAIL\tFAIL\tFAIL\tFAIL\n' "$label" >>"$TIMES"; return 0
  fi
  b1=$(busy)
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$tf")
  rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$tf")
  cpu=$(awk -F': ' '/(User|System) time \(seconds\)/{s+=$2} END{printf "%.2f", s}' "$tf")
  other=$(awk -v b=$((b1 - b0)) -v hz="$HZ" -v c="$cpu" 'BEGIN{o=b/hz-c; printf "%.2f", o<0?0:o}')
  printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$wall" "$rss" "$cpu" "$other" >>"$TIMES"
  printf '  %-26s run %s: %7.2f s %6d MB  cpu %6.2f s  other %5.2f s  (load %s)\n' "$label" "$run" "$wall" $((rss / 1024)) "$cpu" "$other" "$(cut -d' ' -f1 /proc/loadavg)"
}
median() { awk -F'\t' -v c="$1" -v l="$2" '$1==l{print $c}' "$TIMES" | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
maxcol() { awk -F'\t' -v c="$1" -v l="$2" '$1==l && $c+0>m{m=$c+0} END{print m+0}' "$TIMES"; }
failed() { awk -F'\t' -v l="$1" '$1==l && $2=="FAIL"{f=1} END{exit !f}' "$TIMES"; }
osrun() { # OP OUTDIR [flags]
  local op=$1 o=$2; shift 2
  mkdir -p "$o"
  echo "$BIN/openstage run $BENCH/jobs/spill/$op.yaml --quiet --report $o/report.json $* --param in_dir=$DATA --param out_dir=$o"
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
VERIFY=$OUT/verify.txt
: >"$VERIFY"
declare -A LIMIT SPILLED
for op in "${OPS[@]}"; do
  echo "== $op"
  timeit "$op/openstage_memory" 1 $(osrun "$op" "$OUT/openstage_memory/$op")
  timeit "$op/duckdb_memory" 1 "$BIN/duckdb-etl" "$op" "$DATA" "$OUT/duckdb_memory/$op"
  p=$(maxcol 3 "$op/openstage_memory")
  [ "$p" -gt 0 ] || die "$op: the in-memory Open-Stage run failed"
  LIMIT[$op]=$((p * 1024 / 10))
  echo "  memory limit for $op: ${LIMIT[$op]} bytes ($((LIMIT[$op] >> 20)) MiB), a tenth of Open-Stage's in-memory peak RSS"
  for run in $(seq "$RUNS"); do
    timeit "$op/openstage_limited" "$run" $(osrun "$op" "$OUT/openstage_limited/$op" --memory-limit "${LIMIT[$op]}")
    timeit "$op/duckdb_limited" "$run" env MEMORY_LIMIT="$((LIMIT[$op] / 1024))KiB" "$BIN/duckdb-etl" "$op" "$DATA" "$OUT/duckdb_limited/$op"
    timeit "$op/duckdb_limited_1t" "$run" env MEMORY_LIMIT="$((LIMIT[$op] / 1024))KiB" THREADS=1 PRESERVE_INSERTION_ORDER=false \
      "$BIN/duckdb-etl" "$op" "$DATA" "$OUT/duckdb_limited_1t/$op"
  done
  SPILLED[$op]=$(/usr/bin/python3 -c '
import json, sys
def walk(v):
    if isinstance(v, dict):
        return sum(x if k == "spilled_rows" and isinstance(x, int) else walk(x) for k, x in v.items())
    return sum(walk(x) for x in v) if isinstance(v, list) else 0
print(walk(json.load(open(sys.argv[1]))))' "$OUT/openstage_limited/$op/report.json" 2>/dev/null || echo '?')
  a=()
  for t in openstage_memory duckdb_memory openstage_limited duckdb_limited duckdb_limited_1t; do
    f=$OUT/$t/$op/$op.csv
    [ -f "$f" ] || continue
    if [ "$op" = join ]; then { head -1 "$f"; tail -n +2 "$f" | sort -t, -k1,1n; } >"$f.sorted" && f=$f.sorted; fi
    a+=("$t=$f")
  done
  "$BIN/verify" "$op" "${a[@]}" | tee -a "$VERIFY" || true
  rm -f "$OUT"/*/"$op"/*.csv*
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
cell() { if failed "$1"; then echo FAIL; else printf '%.2f s / %d MB' "$(median 2 "$1")" $(($(maxcol 3 "$1") / 1024)); fi; }
{
  echo "# Stages that hold data at a tenth of their memory, N=$N, $(date -u '+%F %H:%M UTC')"
  echo
  echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; load average $LOAD0 at the start, $LOAD1 at the end."
  echo "$OS_VERSION; DuckDB $("$BIN/duckdb-etl" version). Limited: median wall of $RUNS runs in turn / max peak RSS; in memory: one run."
  echo
  echo "| stage | limit (1/10 of Open-Stage's in-memory peak) | Open-Stage in memory | DuckDB in memory | Open-Stage limited (spilled rows) | DuckDB limited | DuckDB limited, threads=1, preserve_insertion_order=false | wall Open-Stage / DuckDB, limited (either setting) |"
  echo "|---|---|---|---|---|---|---|---|"
  for op in "${OPS[@]}"; do
    r=-
    for d in duckdb_limited duckdb_limited_1t; do
      if ! failed "$op/openstage_limited" && ! failed "$op/$d" && [ -n "$(median 2 "$op/$d")" ]; then
        r=$(awk -v a="$(median 2 "$op/openstage_limited")" -v b="$(median 2 "$op/$d")" -v p="$([ "$r" = - ] && echo "" || echo "$r, ")" 'BEGIN{printf "%s%.2fx", p, a/b}')
      fi
    done
    echo "| $op | $((LIMIT[$op] >> 20)) MiB | $(cell "$op/openstage_memory") | $(cell "$op/duckdb_memory") | $(cell "$op/openstage_limited") (${SPILLED[$op]}) | $(cell "$op/duckdb_limited") | $(cell "$op/duckdb_limited_1t") | $r |"
  done
  echo
  echo '```'
  cat "$VERIFY"
  echo '```'
} >"$RESULTS"
cat "$RESULTS"
echo "(written to $RESULTS; runs in $TIMES)"
