#!/usr/bin/env bash
# File-format benchmark (issue 13): the peer benchmark's W1 (orders, age >=
# 18, by country: sum, count, mean of amount) read from orders.csv.gz and
# from an NDJSON copy of orders.csv, by Open-Stage, DuckDB (read_csv on the
# .gz, read_json) and Polars (readCSV on the .gz: its lazy scanCSV does not
# read compressed files; scanJson). Each run under /usr/bin/time; RUNS runs
# per tool, alternating tools; medians and ratios to Open-Stage.
#
#   bench/files.sh [N]     (default N=2000000; RUNS=3; BENCH_DIR=/tmp/openstage-bench-files)
set -euo pipefail
N=${1:-2000000}
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared/bench}
[ -d "$SHARED" ] || SHARED=/work/shared/bench
B=${BENCH_DIR:-/tmp/openstage-bench-files}
D=$B/data/$N
mkdir -p "$B/bin" "$D" "$B/out"
export PATH=$PATH:/usr/local/go/bin
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (Debian package time)"; exit 1; }

(cd "$ROOT" && go build -o "$B/bin/openstage" ./cmd/openstage)
(cd "$ROOT/bench/files/duckdb" && GOFLAGS=-mod=mod go build -o "$B/bin/duckdb-files" .)
if [ ! -d "$B/polars/node_modules/nodejs-polars" ]; then
  mkdir -p "$B/polars" && cp "$ROOT"/bench/files/polars/* "$B/polars/" && (cd "$B/polars" && npm ci --no-audit --no-fund >/dev/null)
fi
cp "$ROOT/bench/files/polars/files.js" "$B/polars/"

if [ ! -f "$D/orders.csv" ]; then python3 "$SHARED/gen.py" "$D" "$N" >/dev/null; fi
if [ ! -f "$D/orders.csv.gz" ]; then gzip -6 -k -f "$D/orders.csv"; fi
if [ ! -f "$D/orders.ndjson" ]; then
  # Typed values, the CSV's null notes as null: what an export would hold.
  /usr/bin/python3 - "$D/orders.csv" "$D/orders.ndjson" <<'PY'
import csv, json, sys
with open(sys.argv[1], newline="") as f, open(sys.argv[2], "w") as out:
    for r in csv.DictReader(f):
        out.write(json.dumps({"order_id": int(r["order_id"]), "user_id": int(r["user_id"]), "country": r["country"],
            "age": int(r["age"]), "amount": float(r["amount"]), "order_date": r["order_date"], "status": r["status"],
            "note": r["note"] or None}, ensure_ascii=False, separators=(",", ":")) + "\n")
PY
fi

declare -A CMD
CMD[openstage_csvgz]="$B/bin/openstage run --quiet $ROOT/bench/jobs/files_w1_csvgz.yaml --param in=$D/orders.csv.gz --param out=$B/out/openstage_csvgz.csv"
CMD[duckdb_csvgz]="$B/bin/duckdb-files csvgz $D/orders.csv.gz $B/out/duckdb_csvgz.csv"
CMD[polars_csvgz]="node $B/polars/files.js csvgz $D/orders.csv.gz $B/out/polars_csvgz.csv"
CMD[openstage_ndjson]="$B/bin/openstage run --quiet $ROOT/bench/jobs/files_w1_ndjson.yaml --param in=$D/orders.ndjson --param out=$B/out/openstage_ndjson.csv"
CMD[duckdb_ndjson]="$B/bin/duckdb-files ndjson $D/orders.ndjson $B/out/duckdb_ndjson.csv"
CMD[polars_ndjson]="node $B/polars/files.js ndjson $D/orders.ndjson $B/out/polars_ndjson.csv"
CMD[gunzip_floor]="sh -c 'gzip -dc $D/orders.csv.gz >/dev/null'"

declare -A T M
for run in $(seq "$RUNS"); do
  for k in gunzip_floor openstage_csvgz duckdb_csvgz polars_csvgz openstage_ndjson duckdb_ndjson polars_ndjson; do
    sync
    /usr/bin/time -o "$B/out/$k.time" -f "%e %M" bash -c "${CMD[$k]}" >/dev/null 2>"$B/out/$k.err" || { echo "$k failed:"; cat "$B/out/$k.err"; exit 1; }
    out=$(tail -1 "$B/out/$k.time")
    T[$k]+="$(echo "$out" | cut -d' ' -f1) "
    M[$k]+="$(echo "$out" | cut -d' ' -f2) "
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
maxof() { tr ' ' '\n' | grep -v '^$' | sort -g | tail -1; }
# The three tools must agree on the result (counts exactly, sums to the cent).
for f in csvgz ndjson; do
  /usr/bin/python3 - "$B/out/openstage_$f.csv" "$B/out/duckdb_$f.csv" "$B/out/polars_$f.csv" <<'PY'
import csv, sys
def load(p):
    with open(p) as f:
        return {r["country"]: (int(float(r["orders"])), round(float(r["total_amount"]), 2)) for r in csv.DictReader(f)}
a = load(sys.argv[1])
for p in sys.argv[2:]:
    b = load(p)
    assert a.keys() == b.keys() and all(a[k][0] == b[k][0] and abs(a[k][1] - b[k][1]) < 0.01 * max(1, len(a)) for k in a), (p, a, b)
PY
done
echo "N=$N, $RUNS runs each (median wall seconds, max peak RSS MB), $(nproc) cores"
printf "%-18s %8s %8s %10s\n" tool wall_s rss_mb vs_openstage
for f in csvgz ndjson; do
  base=$(echo "${T[openstage_$f]}" | median)
  for tool in openstage duckdb polars; do
    k=${tool}_$f
    w=$(echo "${T[$k]}" | median); m=$(( $(echo "${M[$k]}" | maxof) / 1024 ))
    printf "%-18s %8s %8s %10s\n" "$k" "$w" "$m" "$(awk -v a="$w" -v b="$base" 'BEGIN{printf "%.2fx", a/b}')"
  done
done
printf "%-18s %8s %8s\n" gunzip_floor "$(echo "${T[gunzip_floor]}" | median)" "$(( $(echo "${M[gunzip_floor]}" | maxof) / 1024 ))"
echo "all ${T[*]}" > "$B/out/times.txt"
