#!/usr/bin/env bash
# The plain-jobs benchmark (issue 15): workloads W1..W6 as a new user writes
# them (bench/jobs/plain/wN.yaml: defaults, no column_types, the DataStage-style
# stage order) and hand-tuned (bench/jobs/wN.yaml), against DuckDB
# (bench/peers/duckdb, duckdb-go/v2) and Polars (bench/peers/polars,
# nodejs-polars) in the same run: the runs of a workload go round the tools
# (run 1 of each, then run 2 of each, ...), each under /usr/bin/time -v after
# sync; median wall, max peak RSS, and the outputs compared across the tools
# with the shared benchmark's verify (W5's all-columns output sorted by
# order_id first, its row order being unspecified; W6's Parquet outputs
# checked to be snappy and turned into CSV by DuckDB).
#
#   bench/peers.sh [N=5000000]
#
# env: RUNS (3), WORKLOADS ("W1 W2 W3 W4 W5 W6"), TOOLS ("duckdb polars openstage
#      openstage_tuned"), BENCH_DIR (/tmp/openstage-bench; the data is BENCH_DIR/data/N,
#      made by the shared gen.py if missing, plus orders.parquet written by DuckDB),
#      QUIET_MAX (s to wait for an idle machine before each run, default 10: this
#      machine is shared, so "other" reports the CPU that other processes used during
#      each run instead of redoing it), NICE (niceness of the timed runs, default -10: the
#      same for every tool, so that other users' compilations on this shared machine
#      disturb the runs less), OPENSTAGE_FLAGS (extra `openstage run` flags).
# Prints a markdown table and writes it to BENCH_DIR/peers-N-DATE.md.
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin LC_ALL=C
REPO=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$REPO/bench
SHARED=${SHARED_BENCH:-$REPO/../shared/bench}
[ -d "$SHARED" ] || SHARED=/work/shared/bench
WORK=${BENCH_DIR:-/tmp/openstage-bench}
N=${1:-5000000}
RUNS=${RUNS:-3}
WORKLOADS=(${WORKLOADS:-W1 W2 W3 W4 W5 W6})
TOOLS=(${TOOLS:-duckdb polars openstage openstage_tuned})
DATA=$WORK/data/$N OUT=$WORK/peers/$N
LOG=$OUT/logs TIMES=$OUT/times.tsv
RESULTS=$WORK/peers-$N-$(date -u +%F-%H%M).md
die() { echo "bench/peers.sh: $*" >&2; exit 1; }
[ -x /usr/bin/time ] || die "needs /usr/bin/time (Debian package time)"

echo "== build"
mkdir -p "$WORK/bin"
(cd "$REPO" && go build -o "$WORK/bin/openstage" ./cmd/openstage) || die "go build ./cmd/openstage failed"
OS_VERSION="$("$WORK/bin/openstage" version), commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(
  [ -z "$(git -C "$REPO" status --porcelain 2>/dev/null)" ] || echo ' plus uncommitted changes')"
(cd "$BENCH/peers/duckdb" && GOFLAGS=-mod=mod go build -o "$WORK/bin/duckdb-etl" .) || die "building the DuckDB peer failed"
(cd "$SHARED/verify" && go build -o "$WORK/bin/verify" .) || die "building the shared verify failed"
PL=$WORK/peers-polars
if [ ! -d "$PL/node_modules/nodejs-polars" ]; then
  mkdir -p "$PL" && cp "$BENCH"/peers/polars/package*.json "$PL/" && (cd "$PL" && npm ci --no-audit --no-fund >/dev/null) || die "npm ci of nodejs-polars failed"
fi
cp "$BENCH/peers/polars/etl.js" "$PL/"

if [ ! -s "$DATA/orders.csv" ] || [ ! -s "$DATA/users.csv" ]; then
  echo "== generate N=$N (gen.py)"
  python3 "$SHARED/gen.py" "$DATA" "$N"
fi
if [[ " ${WORKLOADS[*]} " == *" W6 "* ]] && [ ! -s "$DATA/orders.parquet" ]; then
  echo "== orders.parquet (DuckDB, snappy, its default row groups)"
  "$WORK/bin/duckdb-etl" parquet "$DATA/orders.csv" "$DATA/orders.parquet.tmp" && mv "$DATA/orders.parquet.tmp" "$DATA/orders.parquet"
fi
rm -rf "$OUT" && mkdir -p "$LOG"
cat "$DATA"/orders.csv "$DATA"/users.csv $(ls "$DATA"/orders.parquet 2>/dev/null) >/dev/null # warm the page cache

declare -A CMD=(
  [duckdb]="$WORK/bin/duckdb-etl"
  [polars]="node $PL/etl.js"
)
os_cmd() { # TOOL W -> command
  local w=$(echo "$2" | tr A-Z a-z) job
  job=$BENCH/jobs/plain/$w.yaml
  [ "$1" = openstage ] || job=$BENCH/jobs/$w.yaml
  echo "$WORK/bin/openstage run $job --quiet ${OPENSTAGE_FLAGS:-} --param in_dir=$DATA --param out_dir=$OUT/$1"
}

HZ=$(getconf CLK_TCK)
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
quiet() { # wait at most QUIET_MAX s for < 10% of one core over 0.5 s
  local t b
  for t in $(seq $((${QUIET_MAX:-10} * 2))); do
    b=$(busy); sleep 0.5
    [ $(($(busy) - b)) -le $((HZ / 20)) ] && return 0
  done
  return 0
}
timeit() { # LABEL RUN CMD...
  local label=$1 run=$2 tf=$LOG/${1//\//_}.$2.time b0 b1 wall rss cpu other
  shift 2
  sync; quiet
  b0=$(busy)
  if ! nice -n "${NICE:--10}" /usr/bin/time -v -o "$tf" "$@" >>"$LOG/${label//\//_}.out" 2>&1; then
    echo "  FAILED: $label (see $LOG/${label//\//_}.out)"; printf '%s\tFAIL\tFAIL\tFAIL\tFAIL\n' "$label" >>"$TIMES"; return 0
  fi
  b1=$(busy)
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$tf")
  rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$tf")
  cpu=$(awk -F': ' '/(User|System) time \(seconds\)/{s+=$2} END{printf "%.2f", s}' "$tf")
  other=$(awk -v b=$((b1 - b0)) -v hz="$HZ" -v c="$cpu" 'BEGIN{o=b/hz-c; printf "%.2f", o<0?0:o}')
  printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$wall" "$rss" "$cpu" "$other" >>"$TIMES"
  printf '  %-20s run %s: %7.2f s %6d MB  cpu %6.2f s  other %5.2f s  (load %s)\n' "$label" "$run" "$wall" $((rss / 1024)) "$cpu" "$other" "$(cut -d' ' -f1 /proc/loadavg)"
}

echo "== workloads (N=$N, $RUNS runs, tools in turn: ${TOOLS[*]})"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
VERIFY=$OUT/verify.txt
: >"$VERIFY"
for w in "${WORKLOADS[@]}"; do
  for run in $(seq "$RUNS"); do
    for t in "${TOOLS[@]}"; do
      mkdir -p "$OUT/$t"
      case $t in
        openstage*) timeit "$w/$t" "$run" $(os_cmd "$t" "$w") ;;
        *) timeit "$w/$t" "$run" ${CMD[$t]} "$w" "$DATA" "$OUT/$t" ;;
      esac
    done
  done
  lw=$(echo "$w" | tr A-Z a-z)
  case $w in
    W5)
      a=() b=()
      for t in "${TOOLS[@]}"; do
        f=$OUT/$t/w5.csv
        [ -f "$f" ] && { head -1 "$f"; tail -n +2 "$f" | sort -t, -k1,1n; } >"$OUT/$t/w5.sorted.csv"
        a+=("$t=$OUT/$t/w5.sorted.csv") b+=("$t=$OUT/$t/w5_totals.csv")
      done
      "$WORK/bin/verify" W5 "${a[@]}" | tee -a "$VERIFY" || true
      "$WORK/bin/verify" W5sum "${b[@]}" | tee -a "$VERIFY" || true ;;
    W6)
      a=()
      for t in "${TOOLS[@]}"; do
        "$WORK/bin/duckdb-etl" tocsv "$OUT/$t/w6.parquet" "$OUT/$t/w6.csv" 2>&1 | tee -a "$VERIFY" || true
        a+=("$t=$OUT/$t/w6.csv")
      done
      "$WORK/bin/verify" W6 "${a[@]}" | tee -a "$VERIFY" || true ;;
    *)
      a=()
      for t in "${TOOLS[@]}"; do a+=("$t=$OUT/$t/$lw.csv"); done
      "$WORK/bin/verify" "$w" "${a[@]}" | tee -a "$VERIFY" || true ;;
  esac
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

median() { awk -F'\t' -v c="$1" -v l="$2" '$1==l{print $c}' "$TIMES" | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
maxcol() { awk -F'\t' -v c="$1" -v l="$2" '$1==l && $c+0>m{m=$c+0} END{print m+0}' "$TIMES"; }
failed() { awk -F'\t' -v l="$1" '$1==l && $2=="FAIL"{f=1} END{exit !f}' "$TIMES"; }
declare -A WNAME=([W1]="W1 filter+aggregate" [W2]="W2 join+filter" [W3]="W3 sort+dedup" [W4]="W4 passthrough"
  [W5]="W5 join, filter, two outputs" [W6]="W6 Parquet filter+aggregate")
{
  echo "# Plain jobs against DuckDB and Polars, N=$N, $(date -u '+%F %H:%M UTC')"
  echo
  echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; load average $LOAD0 at the start, $LOAD1 at the end."
  echo "$OS_VERSION; DuckDB $("$WORK/bin/duckdb-etl" version); nodejs-polars $(node -p "require('$PL/node_modules/nodejs-polars/package.json').version") (node $(node -v))."
  echo "Median wall of $RUNS runs, tools in turn, at niceness ${NICE:--10} / max peak RSS; cpu = median user+sys s; other = most CPU s other processes used during one run."
  echo "openstage = bench/jobs/plain/wN.yaml (plain), openstage_tuned = bench/jobs/wN.yaml. Target: plain wall <= 0.8x the best peer and RSS below every peer."
  echo
  printf '| workload |'; for t in "${TOOLS[@]}"; do printf ' %s |' "$t"; done; echo ' plain / best peer (wall, RSS vs smallest) | target |'
  printf '|---|'; for t in "${TOOLS[@]}"; do printf -- '---|'; done; echo '---|---|'
  for w in "${WORKLOADS[@]}"; do
    printf '| %s |' "${WNAME[$w]}"
    bw=0 br=0
    for t in "${TOOLS[@]}"; do
      if failed "$w/$t"; then printf ' FAIL |'; continue; fi
      m=$(median 2 "$w/$t") r=$(maxcol 3 "$w/$t")
      printf ' %.2f s / %d MB (cpu %.1f, other %.1f) |' "$m" $((r / 1024)) "$(median 4 "$w/$t")" "$(maxcol 5 "$w/$t")"
      case $t in openstage*) ;; *)
        bw=$(awk -v a="$bw" -v b="$m" 'BEGIN{print (a == 0 || b < a) ? b : a}')
        br=$(awk -v a="$br" -v b="$r" 'BEGIN{print (a == 0 || b < a) ? b : a}') ;;
      esac
    done
    if failed "$w/openstage" || [ "$bw" = 0 ]; then echo ' - | - |'; continue; fi
    ow=$(median 2 "$w/openstage") orss=$(maxcol 3 "$w/openstage")
    awk -v ow="$ow" -v bw="$bw" -v orr="$orss" -v br="$br" 'BEGIN{
      printf " %.2fx, %.2fx | %s |\n", ow/bw, orr/br, (ow <= 0.8*bw && orr < br) ? "met" : ((ow <= 0.8*bw) ? "wall met, RSS missed" : ((orr < br) ? "RSS met, wall missed" : "missed")) }'
  done
  echo
  echo '```'
  cat "$VERIFY"
  echo '```'
} >"$RESULTS"
cat "$RESULTS"
echo "(written to $RESULTS; runs in $TIMES)"
