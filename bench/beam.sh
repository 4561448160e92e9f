#!/usr/bin/env bash
# Open-Stage on Apache Beam's Prism runner (--runner prism, in process) against the local engine
# (--runner local) on the peer benchmark's workloads W1..W4 (bench/jobs/wN.yaml, the same job
# files), and how Prism's cost grows with the input.
#
#   flock /work/.bench.lock bench/beam.sh      (the script takes the lock itself if not held)
#   env: SIZES (rows, default "1000000 5000000"), RUNS (default 3), WORKLOADS (default "W1 W2 W3 W4"),
#        PRISM_RUNS_ABOVE (sizes above 1M get this many Prism and local runs, default RUNS),
#        BENCH_DIR (default /tmp/openstage-beam-bench), SHARED_BENCH (default ../shared/bench next
#        to the repository), TEMP (--temp-dir of both engines, default BENCH_DIR/tmp)
#
# Data: the shared generator (gen.py, seed 42) at each size. Binaries: bench/bin/openstage (the core
# command, local engine) and bench/bin/openstage-beam (beam/cmd/openstage, with the Beam runners).
# For each size and workload the runs alternate local, prism, local, prism, ... (so a slow minute
# of the shared machine does not fall on one engine's runs), each timed by GNU time (wall, peak
# RSS, user+system CPU of the whole process: Prism runs inside it). Each Prism output is checked
# against the local engine's: byte for byte (W1, W3, W4: the local engine's order is promised),
# as sorted lines for W2 (a join's row order is not). It prints, per size and workload, the
# medians and the ratio prism / local, then Prism's growth: its median wall at each size over its
# median at the first size, against the input's growth.
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin LC_ALL=C
if [ -z "${BEAM_BENCH_LOCKED:-}" ]; then
  BEAM_BENCH_LOCKED=1 exec flock /work/.bench.lock "$0" "$@"
fi
REPO=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED_BENCH:-$REPO/../shared/bench}
WORK=${BENCH_DIR:-/tmp/openstage-beam-bench}
SIZES=${SIZES:-1000000 5000000}
RUNS=${RUNS:-3}
BIG_RUNS=${PRISM_RUNS_ABOVE:-$RUNS}
WORKLOADS=${WORKLOADS:-W1 W2 W3 W4}
TEMP=${TEMP:-$WORK/tmp}
die() { echo "bench/beam.sh: $*" >&2; exit 1; }
[ -f "$SHARED/gen.py" ] || die "shared benchmark not found at $SHARED (set SHARED_BENCH)"
mkdir -p "$WORK" "$TEMP"
OUT=$WORK/out
trap 'rm -rf "$OUT"' EXIT

echo "== build bench/bin/openstage and bench/bin/openstage-beam"
(cd "$REPO" && go build -o bench/bin/openstage ./cmd/openstage) || die "go build ./cmd/openstage failed"
(cd "$REPO" && go -C beam build -o ../bench/bin/openstage-beam ./cmd/openstage) || die "go -C beam build ./cmd/openstage failed"
LOCAL=$REPO/bench/bin/openstage BEAM=$REPO/bench/bin/openstage-beam
VERSION="$("$LOCAL" version), commit $(git -C "$REPO" rev-parse --short HEAD)$(
  [ -z "$(git -C "$REPO" status --porcelain 2>/dev/null)" ] || echo ' plus uncommitted changes')"

# run ENGINE W N RUN: one timed run; prints "wall rss_kb cpu".
run() {
  local engine=$1 w=$2 n=$3 r=$4 bin=$LOCAL args=()
  local lw=$(echo "$w" | tr A-Z a-z) out=$OUT/$n/$1
  [ "$engine" = prism ] && bin=$BEAM args=(--runner prism)
  rm -rf "$out"; mkdir -p "$out"
  /usr/bin/time -f '%e %M %U %S' -o "$WORK/time" "$bin" run "$REPO/bench/jobs/$lw.yaml" --quiet \
    --param "in_dir=$WORK/data/$n" --param "out_dir=$out" --temp-dir "$TEMP" "${args[@]}" \
    >"$WORK/log-$engine-$lw-$n-$r" 2>&1 || { cat "$WORK/log-$engine-$lw-$n-$r" >&2; die "$engine $w N=$n run $r failed"; }
  awk '{printf "%s %s %.2f\n", $1, $2, $3 + $4}' "$WORK/time"
}

# same W N: the Prism output against the local one.
same() {
  local lw=$(echo "$1" | tr A-Z a-z) a=$OUT/$2/local b=$OUT/$2/prism
  if [ "$1" = W2 ]; then
    cmp -s <(head -1 "$a/$lw.csv"; tail -n +2 "$a/$lw.csv" | sort) <(head -1 "$b/$lw.csv"; tail -n +2 "$b/$lw.csv" | sort)
  else
    cmp -s "$a/$lw.csv" "$b/$lw.csv"
  fi
}

median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
maxof() { printf '%s\n' "$@" | sort -n | tail -1; }

echo "== $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, load average $(cut -d' ' -f1-3 /proc/loadavg), $VERSION"
declare -A PW PC # prism median wall and CPU per "W N"
ROWS=()
first=""
for n in $SIZES; do
  [ -n "$first" ] || first=$n
  runs=$RUNS
  [ "$n" -le 1000000 ] || runs=$BIG_RUNS
  if [ ! -s "$WORK/data/$n/orders.csv" ] || [ ! -s "$WORK/data/$n/users.csv" ]; then
    echo "== generate N=$n (gen.py)"
    python3 "$SHARED/gen.py" "$WORK/data/$n" "$n" >/dev/null
  fi
  mb=$(awk -v b="$(stat -c %s "$WORK/data/$n/orders.csv")" 'BEGIN{printf "%.0f", b/1e6}')
  echo "== N=$n (orders.csv $mb MB), $runs runs each, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  for w in $WORKLOADS; do
    LW=() LR=() LC=() BW=() BR=() BC=()
    for r in $(seq "$runs"); do
      read -r wall rss cpu < <(run local "$w" "$n" "$r")
      LW+=("$wall") LR+=("$rss") LC+=("$cpu")
      read -r wall rss cpu < <(run prism "$w" "$n" "$r")
      BW+=("$wall") BR+=("$rss") BC+=("$cpu")
      same "$w" "$n" || die "$w N=$n run $r: Prism's output differs from the local engine's (kept in $OUT/$n)"
      printf '  %s run %d: local %6.2f s wall %6.2f s cpu %5d MB | prism %7.2f s wall %7.2f s cpu %5d MB | same output\n' \
        "$w" "$r" "${LW[-1]}" "${LC[-1]}" $((LR[-1] / 1024)) "${BW[-1]}" "${BC[-1]}" $((BR[-1] / 1024))
    done
    lw=$(median "${LW[@]}") bw=$(median "${BW[@]}") lc=$(median "${LC[@]}") bc=$(median "${BC[@]}")
    PW["$w $n"]=$bw PC["$w $n"]=$bc
    ROWS+=("$(printf '| %s | %s | %.2f s / %.2f s / %d MB | %.2f s / %.2f s / %d MB | %.1fx | %.1fx |' "$w" "$n" \
      "$lw" "$lc" $(($(maxof "${LR[@]}") / 1024)) "$bw" "$bc" $(($(maxof "${BR[@]}") / 1024)) \
      "$(echo "$bw / $lw" | bc -l)" "$(echo "$bc / $lc" | bc -l)")")
  done
done

echo
echo "## Prism against the local engine ($VERSION; $(date -u '+%F %H:%M UTC'), load average after $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "Median of the runs (wall / CPU user+system / max peak RSS); ratios prism / local of the median wall and CPU."
echo
echo "| workload | rows | local | prism | wall ratio | CPU ratio |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
if [ "$(echo "$SIZES" | wc -w)" -gt 1 ]; then
  echo
  echo "Growth on Prism (median wall and CPU at N / at N=$first, against the rows' growth):"
  echo
  for w in $WORKLOADS; do
    line="  $w:"
    for n in $SIZES; do
      line+=$(printf ' N=%s wall %.2f s (%.2fx), CPU %.2f s (%.2fx) for %.0fx rows;' "$n" "${PW["$w $n"]}" "$(echo "${PW["$w $n"]} / ${PW["$w $first"]}" | bc -l)" \
        "${PC["$w $n"]}" "$(echo "${PC["$w $n"]} / ${PC["$w $first"]}" | bc -l)" "$(echo "$n / $first" | bc -l)")
    done
    echo "$line"
  done
fi
