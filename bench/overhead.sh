#!/usr/bin/env bash
# Cost of watching a job: the peer benchmark's W4 (bench/jobs/w4.yaml, orders.csv read and
# written unchanged) run with the live progress display and --metrics-addr (scraped once a
# second, far more often than Prometheus does) against the same run without them, as a ratio
# from one session of alternating runs.
#
#   flock /work/.bench.lock bench/overhead.sh      (the script takes the lock itself if not held)
#   env: N (rows, default 5000000), PAIRS (default 7), BENCH_DIR (default /tmp/openstage-bench),
#        SHARED_BENCH (default ../shared/bench next to the repository)
#
# Both variants run under script(1), so that stderr is a pseudo-terminal in both and the only
# difference is what is being measured:
#   plain:   openstage run w4.yaml --quiet                        (no display, no metrics)
#   watched: openstage run w4.yaml --metrics-addr 127.0.0.1:PORT  (display redrawn 5 times a second,
#            metrics server, curl scraping /metrics every second, summary printed)
# The runs alternate plain/watched PAIRS times; it prints each run's wall time, the medians, their
# ratio (watched / plain) and the median of the per-pair ratios, for wall time and for the CPU
# time (user + system) of the openstage process, which a machine shared with other work
# disturbs less than the wall time.
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin LC_ALL=C
if [ -z "${OVERHEAD_LOCKED:-}" ]; then
  OVERHEAD_LOCKED=1 exec flock /work/.bench.lock "$0" "$@"
fi
REPO=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED_BENCH:-$REPO/../shared/bench}
WORK=${BENCH_DIR:-/tmp/openstage-bench}
N=${N:-5000000}
PAIRS=${PAIRS:-7}
DATA=$WORK/data/$N
OUT=$WORK/overhead-out
mkdir -p "$OUT"
trap 'rm -rf "$OUT"' EXIT

echo "== build openstage"
(cd "$REPO" && go build -o bench/bin/openstage ./cmd/openstage)
BIN=$REPO/bench/bin/openstage
if [ ! -s "$DATA/orders.csv" ]; then
  echo "== generate N=$N (gen.py)"
  python3 "$SHARED/gen.py" "$DATA" "$N"
fi
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
JOB="$REPO/bench/jobs/w4.yaml --param in_dir=$DATA --param out_dir=$OUT"

# Each run is timed by GNU time inside script(1): wall, user and system seconds of openstage.
timed() { # FILE COMMAND: prints "wall cpu"
  script -qfec "/usr/bin/time -f '%e %U %S' -o $OUT/time $2" /dev/null >"$1"
  awk '{printf "%s %.2f\n", $1, $2 + $3}' "$OUT/time"
}
plain() { timed /dev/null "$BIN run $JOB --quiet"; }
watched() {
  local scraper out
  ( while sleep 1; do curl -fs "http://127.0.0.1:$PORT/metrics" >/dev/null && echo scraped; done ) >"$OUT/scrapes" 2>/dev/null &
  scraper=$!
  out=$(timed "$OUT/terminal" "$BIN run $JOB --metrics-addr 127.0.0.1:$PORT")
  kill "$scraper" 2>/dev/null; wait "$scraper" 2>/dev/null || true
  grep -q 'rows/s' "$OUT/terminal" || { echo "the watched run drew no progress display" >&2; exit 1; }
  echo "$out $(grep -c scraped "$OUT/scrapes" || true)"
}

echo "== W4 at N=$N, $PAIRS pairs (plain, watched), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
PW=() WW=() PC=() WC=() RW=() RC=()
plain >/dev/null # warm the page cache
for i in $(seq "$PAIRS"); do
  read -r pw pc < <(plain)
  read -r ww wc s < <(watched)
  PW+=("$pw") WW+=("$ww") PC+=("$pc") WC+=("$wc")
  RW+=("$(echo "scale=4; $ww / $pw" | bc)") RC+=("$(echo "scale=4; $wc / $pc" | bc)")
  printf '  pair %2d: plain %5.2f s wall %5.2f s cpu | watched %5.2f s wall %5.2f s cpu (%d scrapes) | ratio wall %.3f cpu %.3f\n' \
    "$i" "$pw" "$pc" "$ww" "$wc" "$s" "${RW[-1]}" "${RC[-1]}"
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
ratio() { echo "scale=4; $1 / $2" | bc; }
mpw=$(median "${PW[@]}") mww=$(median "${WW[@]}") mpc=$(median "${PC[@]}") mwc=$(median "${WC[@]}")
echo
printf 'wall: median plain %.2f s, watched %.2f s, watched / plain %.3f (median of pair ratios %.3f)\n' "$mpw" "$mww" "$(ratio "$mww" "$mpw")" "$(median "${RW[@]}")"
printf 'cpu:  median plain %.2f s, watched %.2f s, watched / plain %.3f (median of pair ratios %.3f)\n' "$mpc" "$mwc" "$(ratio "$mwc" "$mpc")" "$(median "${RC[@]}")"
echo "openstage $("$BIN" version), commit $(git -C "$REPO" rev-parse --short HEAD), $(date -u '+%F %H:%M UTC'), load average after $(cut -d' ' -f1-3 /proc/loadavg)"
