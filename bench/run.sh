#!/usr/bin/env bash
# Open-Stage in the shared ETL peer benchmark (pandas, DuckDB, Polars; W1..W4, W7, W8).
#
#   bench/run.sh [N=5000000]
#
# env: RUNS (default 3), WORKLOADS (default "W1 W2 W3 W4"; W7 and W8 on request, as the shared
#      script), ALTERNATE=1 (run the peers in turn, run 1 of each, then run 2 of each, ..., instead
#      of each peer's runs back to back), BENCH_DIR (work copy, default /tmp/openstage-bench),
#      SHARED_BENCH (default: ../shared/bench next to the repository),
#      SKIP_PEERS ("pandas polars": peers not to run at all), QUIET_MAX (seconds to wait for an
#      idle machine before each run, default 120 as the shared script), BASELINE_RUNS (runs of
#      each floor/plain-Go baseline, default RUNS).
#
# Builds bench/bin/openstage, copies the read-only shared benchmark to BENCH_DIR,
# adds Open-Stage (bench/openstage-peer.sh, which runs bench/jobs/wN.yaml) to its
# PEER/PEERS, and runs it unchanged otherwise: same data (gen.py), /usr/bin/time -v,
# sync + idle-machine wait before every run, disturbed runs redone, verify. A peer
# that is not available (no pandas, no node/Polars, DuckDB build failing) is
# skipped with a message. At the end it prints Open-Stage's median wall and peak RSS
# per workload with its ratio to each peer (Open-Stage / peer: below 1x means
# Open-Stage is faster or smaller) and verify's lines, and appends them to the
# results file (BENCH_DIR/results-DATE.md).
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin LC_ALL=C
REPO=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$REPO/bench
SHARED=${SHARED_BENCH:-$REPO/../shared/bench}
WORK=${BENCH_DIR:-/tmp/openstage-bench}
N=${1:-5000000}
export RUNS=${RUNS:-3}
die() { echo "bench/run.sh: $*" >&2; exit 1; }
[ -f "$SHARED/run.sh" ] || die "shared benchmark not found at $SHARED (set SHARED_BENCH)"
SHARED=$(cd "$SHARED" && pwd)

echo "== build openstage ($REPO)"
(cd "$REPO" && go build -o bench/bin/openstage ./cmd/openstage) || die "go build ./cmd/openstage failed"
OS_VERSION="$("$BENCH/bin/openstage" version), commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(
  [ -z "$(git -C "$REPO" status --porcelain 2>/dev/null)" ] || echo ' plus uncommitted changes'), built $(date -u '+%F %H:%M UTC')"

echo "== copy $SHARED -> $WORK"
mkdir -p "$WORK"
cp -r --no-preserve=mode "$SHARED"/. "$WORK"/
chmod +x "$WORK/run.sh" "$WORK/gen.py"
cd "$WORK"

# Which peers can run here.
peers=()
skip() { echo "  SKIPPED peer $1: $2"; }
want() { [[ " ${SKIP_PEERS:-} " != *" $1 "* ]] || { skip "$1" "in SKIP_PEERS"; return 1; }; }
mkdir -p bin
if want pandas; then
  if /usr/bin/python3 -c 'import pandas' 2>/dev/null; then peers+=(pandas); else skip pandas "/usr/bin/python3 cannot import pandas (apt-get install python3-pandas)"; fi
fi
if want duckdb; then
  echo "  building the DuckDB peer (cgo; ~1 min the first time)"
  if (cd peers/duckdb && go build -o ../../bin/duckdb-etl .) >bin/duckdb-build.log 2>&1; then peers+=(duckdb)
  else skip duckdb "build failed, see $WORK/bin/duckdb-build.log: $(tail -1 bin/duckdb-build.log)"; fi
fi
if want polars; then
  if ! command -v node >/dev/null; then skip polars "no node"
  elif { [ -d peers/polars/node_modules/nodejs-polars-linux-x64-gnu ] || (cd peers/polars && npm ci --no-audit --no-fund) >bin/npm-ci.log 2>&1; } &&
    node -e 'require("./peers/polars/node_modules/nodejs-polars")' 2>/dev/null; then peers+=(polars)
  else skip polars "npm ci or loading nodejs-polars failed, see $WORK/bin/npm-ci.log"; fi
fi
peers+=(openstage) # last: verify compares every peer with the first one
echo "  peers: ${peers[*]}"

# The shared run.sh with Open-Stage added and unavailable peers' setup made optional.
# Each edit must match exactly once, so a change to the shared script fails here loudly.
patch() { # FILE FIXED-STRING REPLACEMENT (the string may span lines)
  local n
  n=$(F="$2" perl -0ne 'print scalar(() = /\Q$ENV{F}\E/g)' "$1")
  [ "$n" = 1 ] || die "cannot patch $1: expected '$2' once, found it $n times (has the shared run.sh changed?)"
  F="$2" R="$3" perl -0pi -e 's/\Q$ENV{F}\E/$ENV{R}/' "$1"
}
cp run.sh run-openstage.sh
# The peer runs a copy of the binary, so a rebuild of bench/bin during the run changes nothing.
cp "$BENCH/bin/openstage" bin/openstage
patch run-openstage.sh 'declare -A PEER=(' "declare -A PEER=(
  [openstage]=\"env OPENSTAGE=$WORK/bin/openstage $BENCH/openstage-peer.sh\""
patch run-openstage.sh 'PEERS=(pandas duckdb polars)' "PEERS=(${peers[*]})"
patch run-openstage.sh '(cd peers/duckdb && go build -o ../../bin/duckdb-etl .)' \
  '(cd peers/duckdb && go build -o ../../bin/duckdb-etl .) || echo "  (DuckDB peer not built)"'
patch run-openstage.sh '|| (cd peers/polars && npm ci --no-audit --no-fund)' \
  '|| (cd peers/polars && npm ci --no-audit --no-fund) || echo "  (Polars peer not installed)"'
# On a shared machine that is never idle, the shared script's 2-minute wait for an idle machine
# before every run (and again before each redo of a disturbed run) can take hours: QUIET_MAX (s)
# shortens it; disturbed runs are still redone up to 3 times and the background CPU is reported.
if [ "${QUIET_MAX:-120}" != 120 ]; then
  patch run-openstage.sh 'for t in $(seq 240); do' "for t in \$(seq $((${QUIET_MAX} * 2))); do"
  patch run-openstage.sh 'echo "  WARNING: machine still busy after 2 min, running anyway"' \
    "echo \"  WARNING: machine still busy after ${QUIET_MAX} s, running anyway\""
fi
# The floor and plain-Go baselines are context only: BASELINE_RUNS (default RUNS) runs of each.
patch run-openstage.sh 'echo "== floor and plain-Go baselines' 'BRUNS=${BASELINE_RUNS:-$RUNS}; echo "== floor and plain-Go baselines'
patch run-openstage.sh 'for run in $(seq "$RUNS"); do
  timeit floor/cat' 'for run in $(seq "$BRUNS"); do
  timeit floor/cat'
# ALTERNATE=1: a workload's runs go round the peers (so that a slow minute of the VM does not
# fall on one peer's three runs).
if [ "${ALTERNATE:-}" = 1 ]; then
  patch run-openstage.sh '  for p in "${PEERS[@]}"; do
    for run in $(seq "$RUNS"); do' '  for run in $(seq "$RUNS"); do
    for p in "${PEERS[@]}"; do'
fi
chmod +x run-openstage.sh

LOGFILE=$WORK/run-openstage.log
BENCH_COPIED=1 ./run-openstage.sh "$N" 2>&1 | tee "$LOGFILE"
RESULTS=$(sed -n 's/^(written to \(.*\))$/\1/p' "$LOGFILE" | tail -1)
[ -n "$RESULTS" ] && [ -f "$RESULTS" ] || die "the benchmark did not write its results (see $LOGFILE)"

# Open-Stage against each peer, from the same run's times.tsv (same statistics as run.sh).
TIMES=out/$N/times.tsv
median() { awk -F'\t' -v c="$1" -v l="$2" '$1==l{print $c}' "$TIMES" | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
maxcol() { awk -F'\t' -v c="$1" -v l="$2" '$1==l && $c+0>m{m=$c+0} END{print m+0}' "$TIMES"; }
failed() { awk -F'\t' -v l="$1" '$1==l && $2=="FAIL"{f=1} END{exit !f}' "$TIMES"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if (b > 0) printf "%.2fx", a/b; else printf "-"}'; }
declare -A WNAME=([W1]="W1 filter+aggregate" [W2]="W2 join+filter" [W3]="W3 sort+dedup" [W4]="W4 passthrough" [W7]="W7 derive columns" [W8]="W8 filter expression")
others=("${peers[@]:0:${#peers[@]}-1}")
{
  echo
  echo "## Open-Stage against each peer"
  echo
  echo "$OS_VERSION, jobs bench/jobs/wN.yaml run by bench/openstage-peer.sh$([ "${ALTERNATE:-}" = 1 ] && echo ', peers run in turn (ALTERNATE=1)')."
  echo "Ratios are Open-Stage / peer of the median wall and of the max peak RSS: below 1x, Open-Stage is faster (smaller)."
  echo
  printf '| workload | Open-Stage wall / peak RSS / cpu |'
  for p in "${others[@]}"; do printf ' vs %s (wall / RSS) |' "$p"; done
  echo
  printf '|---|---|'; for p in "${others[@]}"; do printf -- '---|'; done; echo
  for w in ${WORKLOADS:-W1 W2 W3 W4}; do
    printf '| %s |' "${WNAME[$w]}"
    if failed "$w/openstage"; then
      printf ' FAIL (see out/%s/logs/%s_openstage.out) |' "$N" "$w"
      for p in "${others[@]}"; do printf ' - |'; done
      echo; continue
    fi
    ow=$(median 2 "$w/openstage") orss=$(maxcol 3 "$w/openstage")
    printf ' %.2f s / %d MB / %.2f s |' "$ow" $((orss / 1024)) "$(median 4 "$w/openstage")"
    for p in "${others[@]}"; do
      if failed "$w/$p"; then printf ' %s failed |' "$p"; continue; fi
      printf ' %s / %s |' "$(ratio "$ow" "$(median 2 "$w/$p")")" "$(ratio "$orss" "$(maxcol 3 "$w/$p")")"
    done
    echo
  done
  echo
  echo "verify (Open-Stage is the last peer; a mismatch names it):"
  echo
  echo '```'
  cat "out/$N/verify.txt" 2>/dev/null || echo "(no verify output)"
  echo '```'
} >"$WORK/openstage-summary.md"
cat "$WORK/openstage-summary.md" >>"$RESULTS"
cat "$WORK/openstage-summary.md"
echo "(appended to $WORK/$RESULTS; log $LOGFILE)"
