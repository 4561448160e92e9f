#!/usr/bin/env bash
# Cost of `openstage serve` (issue 18), in one session of alternating runs:
#
# 1. Run overhead: the peer benchmark's W4 (bench/jobs/w4.yaml, 5M orders read and written back)
#    started from the CLI (`openstage run w4.yaml --quiet`) against the same job started in a
#    running `openstage serve` through its API (POST /api/runs), watched to its end through the
#    run's event stream (GET /api/runs/ID/events, an update four times a second, as the run page
#    gets them). Both are timed by the client, from the command (or the POST) to the end of the
#    run (the process's exit, or the stream's "end" event); the server's time includes loading
#    the job, recording the run in its SQLite history (start, end, report, graph, log lines) and
#    the event stream. Also the CPU time (user + system) of the openstage process in each: the
#    CLI process, or the server process during the run (from /proc/PID/stat). Runs alternate
#    cli/serve PAIRS times; it prints each pair, the medians and their ratio (serve / cli).
#
# 2. Jobs page with many job files: JOBS copies of Example 2 and 1 in DIR (a few of them
#    invalid), served by a fresh server; the first load of / (every file read and validated),
#    then LOADS loads of / (the validation is kept by each file's modification time and size)
#    and of /api/jobs, timed by curl (time to the last byte), median and spread.
#
#   flock /work/.bench.lock bench/serve.sh      (the script takes the lock itself if not held)
#   env: N (rows, default 5000000), PAIRS (default 5), JOBS (default 500), LOADS (default 20),
#        BENCH_DIR (default /tmp/openstage-bench), SHARED_BENCH (default ../shared/bench)
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin LC_ALL=C
if [ -z "${SERVE_BENCH_LOCKED:-}" ]; then
  SERVE_BENCH_LOCKED=1 exec flock /work/.bench.lock "$0" "$@"
fi
REPO=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED_BENCH:-$REPO/../shared/bench}
WORK=${BENCH_DIR:-/tmp/openstage-bench}
N=${N:-5000000}
PAIRS=${PAIRS:-5}
JOBS=${JOBS:-500}
LOADS=${LOADS:-20}
DATA=$WORK/data/$N
TMP=$WORK/serve-bench
rm -rf "$TMP"
mkdir -p "$TMP/out-cli" "$TMP/out-serve" "$TMP/jobs" "$TMP/many/data"
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

echo "== build openstage"
(cd "$REPO" && go build -o bench/bin/openstage ./cmd/openstage)
BIN=$REPO/bench/bin/openstage
if [ ! -s "$DATA/orders.csv" ]; then
  echo "== generate N=$N (gen.py)"
  python3 "$SHARED/gen.py" "$DATA" "$N"
fi
TICK=$(getconf CLK_TCK)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
cpu_of() { awk -v t="$TICK" '{printf "%.2f", ($14 + $15) / t}' "/proc/$1/stat"; }

# start_server DIR STATE: starts openstage serve on DIR, sets SERVER (pid) and URL.
start_server() {
  local p
  p=$(port)
  "$BIN" serve "$1" --addr "127.0.0.1:$p" --state "$2" --max-runs 1 >"$TMP/serve.log" 2>&1 &
  SERVER=$!
  URL=http://127.0.0.1:$p
  for _ in $(seq 200); do curl -fs -o /dev/null "$URL/api/runs" && return; sleep 0.05; done
  echo "openstage serve did not start:" >&2; cat "$TMP/serve.log" >&2; exit 1
}
stop_server() { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=; }

cp "$REPO/bench/jobs/w4.yaml" "$TMP/jobs/w4.yaml"
# --max-runs 1: the run's memory limit is the CLI's default (half the machine's memory).
start_server "$TMP/jobs" "$TMP/state"

cli() { # prints "wall cpu"
  /usr/bin/time -f '%e %U %S' -o "$TMP/time" "$BIN" run "$REPO/bench/jobs/w4.yaml" --param "in_dir=$DATA" --param "out_dir=$TMP/out-cli" --quiet
  awk '{printf "%s %.2f\n", $1, $2 + $3}' "$TMP/time"
}
served() { # prints "wall cpu id"
  local t0 t1 c0 c1 id
  c0=$(cpu_of "$SERVER")
  t0=$(now)
  id=$(curl -fs -H 'Content-Type: application/json' -d "{\"job\":\"w4.yaml\",\"params\":{\"in_dir\":\"$DATA\",\"out_dir\":\"$TMP/out-serve\"}}" "$URL/api/runs" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  curl -fsN "$URL/api/runs/$id/events" | grep -m1 -q '^event: end'
  t1=$(now)
  c1=$(cpu_of "$SERVER")
  status=$(curl -fs "$URL/api/runs/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  [ "$status" = succeeded ] || { echo "run $id: $status" >&2; curl -s "$URL/api/runs/$id" >&2; exit 1; }
  echo "$(echo "$t1 - $t0" | bc) $(echo "$c1 - $c0" | bc) $id"
}

echo "== 1. W4 at N=$N from the CLI and through openstage serve, $PAIRS pairs, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
cli >/dev/null # warm the page cache
served >/dev/null
CW=() SW=() CC=() SC=() RW=() RC=()
for i in $(seq "$PAIRS"); do
  if [ $((i % 2)) = 1 ]; then
    read -r cw cc < <(cli); read -r sw sc id < <(served)
  else
    read -r sw sc id < <(served); read -r cw cc < <(cli)
  fi
  CW+=("$cw") SW+=("$sw") CC+=("$cc") SC+=("$sc")
  RW+=("$(echo "scale=4; $sw / $cw" | bc)") RC+=("$(echo "scale=4; $sc / $cc" | bc)")
  printf '  pair %d: cli %5.2f s wall %5.2f s cpu | serve (run %d) %5.2f s wall %5.2f s cpu | ratio wall %.3f cpu %.3f | load %s\n' \
    "$i" "$cw" "$cc" "$id" "$sw" "$sc" "${RW[-1]}" "${RC[-1]}" "$(cut -d' ' -f1 /proc/loadavg)"
done
cmp -s <(wc -l <"$TMP/out-cli/w4.csv") <(wc -l <"$TMP/out-serve/w4.csv") || { echo "the two outputs differ in length" >&2; exit 1; }
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
ratio() { echo "scale=4; $1 / $2" | bc; }
mcw=$(median "${CW[@]}") msw=$(median "${SW[@]}") mcc=$(median "${CC[@]}") msc=$(median "${SC[@]}")
printf 'wall: median cli %.2f s, serve %.2f s, serve / cli %.3f (median of pair ratios %.3f)\n' "$mcw" "$msw" "$(ratio "$msw" "$mcw")" "$(median "${RW[@]}")"
printf 'cpu:  median cli %.2f s, serve %.2f s, serve / cli %.3f (median of pair ratios %.3f)\n' "$mcc" "$msc" "$(ratio "$msc" "$mcc")" "$(median "${RC[@]}")"
stop_server

echo
echo "== 2. jobs page with $JOBS job files, load average $(cut -d' ' -f1-3 /proc/loadavg)"
cp "$REPO/examples/data/iris.csv" "$TMP/many/data/"
cp "$REPO/examples/data/"*.csv "$TMP/many/data/" 2>/dev/null || true
for i in $(seq "$JOBS"); do
  d=$TMP/many/team$((i % 10))
  mkdir -p "$d/out"
  case $((i % 50)) in
    0) sed 's/type: Funnel/type: Funel/' "$REPO/examples/02_split_merge_iris.yaml" ;; # invalid: an unknown stage type
    *) if [ $((i % 2)) = 0 ]; then cat "$REPO/examples/02_split_merge_iris.yaml"; else cat "$REPO/examples/01_simple_filter.yaml"; fi ;;
  esac | sed "s|^name: .*|name: job_$i|; s|data/|../data/|g" >"$d/job_$i.yaml"
done
start_server "$TMP/many" "$TMP/state-many"
timeit() { curl -fs -o /dev/null -w '%{time_total}\n' "$URL$1"; }
first=$(timeit /)
total=$(curl -fs "$URL/api/jobs" | python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"]; print(len(j), sum(1 for x in j if not x["valid"]))')
P=() A=()
for _ in $(seq "$LOADS"); do P+=("$(timeit /)"); A+=("$(timeit /api/jobs)"); done
size=$(curl -fs "$URL/" | wc -c)
spread() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END{printf "%.1f–%.1f ms", v[1]*1000, v[NR]*1000}'; }
printf 'jobs listed (valid+invalid, invalid): %s\n' "$total"
printf 'first load of / (validates every file): %.0f ms\n' "$(echo "$first * 1000" | bc)"
printf 'later loads of / (%d, %d KB of HTML): median %.1f ms (%s)\n' "$LOADS" $((size / 1024)) "$(echo "$(median "${P[@]}") * 1000" | bc)" "$(spread "${P[@]}")"
printf 'later loads of /api/jobs (%d): median %.1f ms (%s)\n' "$LOADS" "$(echo "$(median "${A[@]}") * 1000" | bc)" "$(spread "${A[@]}")"
touch "$TMP/many/team1/job_1.yaml"
printf 'a load after one file changed: %.1f ms\n' "$(echo "$(timeit /) * 1000" | bc)"
stop_server
echo "openstage $("$BIN" version), commit $(git -C "$REPO" rev-parse --short HEAD), $(date -u '+%F %H:%M UTC'), load average after $(cut -d' ' -f1-3 /proc/loadavg)"
