#!/usr/bin/env bash
# A PostgreSQL table of N rows (8 columns like the peer benchmark's orders,
# made by generate_series on the server) read to CSV by a PostgresOrigin
# with partition_column: order_id and partitions 1, 2 and 4 (--workers 4),
# beside psql \copy (SELECT ...) TO a CSV file in the same run. The tools
# alternate (run 1 of each, then run 2, ...); median of RUNS wall times and
# the Open-Stage process's CPU seconds (user+sys); the load average before
# and after. Held under /work/.bench.lock when it exists.
#
#   bench/sql/partitions.sh [N=2000000]
#
# env: RUNS (default 3), PG_DSN (default postgres://postgres@127.0.0.1:5432/test), WORK
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin LC_ALL=C
REPO=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-2000000}
RUNS=${RUNS:-3}
PG_DSN=${PG_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
WORK=${WORK:-/tmp/openstage-sql-bench}
if [ -z "${OS_BENCH_LOCKED:-}" ] && [ -e /work/.bench.lock ]; then
  OS_BENCH_LOCKED=1 exec flock /work/.bench.lock "$0" "$@"
fi
mkdir -p "$WORK"
(cd "$REPO" && go build -o bench/bin/openstage ./cmd/openstage)
OS=$REPO/bench/bin/openstage
psqlc() { psql "$PG_DSN" -X -q -v ON_ERROR_STOP=1 "$@"; }
psqlc -c "DROP TABLE IF EXISTS bench_orders_part; CREATE TABLE bench_orders_part AS SELECT g::bigint AS order_id, (g * 7919 % 100000)::bigint AS user_id, (ARRAY['US','DE','FR','ES','JP'])[1 + (g % 5)::int] AS country, (18 + g % 60)::bigint AS age, round((g % 100000) * 0.37, 2)::float8 AS amount, DATE '2023-01-01' + (g % 730)::int AS order_date, (ARRAY['paid','shipped','cancelled'])[1 + (g % 3)::int] AS status, CASE WHEN g % 10 = 0 THEN NULL ELSE 'note ' || g END AS note FROM generate_series(1::bigint, $N) g; ANALYZE bench_orders_part"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A wall cpu
tools="copy p1 p2 p4"
for r in $(seq "$RUNS"); do
  for tool in $tools; do
    rm -f "$WORK/part_$tool.csv"
    sync
    t0=$(date +%s.%N)
    if [ "$tool" = copy ]; then
      psqlc -c "\\copy (SELECT * FROM bench_orders_part) TO '$WORK/part_$tool.csv' CSV HEADER"
      c=0
    else
      c=$( { /usr/bin/time -f '%U %S' "$OS" run "$REPO/bench/sql/read_partitioned.yaml" --quiet --workers 4 \
        --param out="$WORK/part_$tool.csv" --param dsn="$PG_DSN" --param partitions="${tool#p}" >/dev/null; } 2>&1 | tail -1 | awk '{print $1 + $2}')
    fi
    t1=$(date +%s.%N)
    wall[$tool]+="$(echo "$t1 - $t0" | bc) "
    cpu[$tool]+="$c "
  done
done
med() { printf '%s\n' $1 | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"; }
for tool in p1 p2 p4; do
  [ "$(wc -l < "$WORK/part_$tool.csv")" = "$((N + 1))" ] || { echo "$tool wrote a wrong row count"; exit 1; }
done
cw=$(med "${wall[copy]}")
printf '%-34s %8.2f s %11.0f rows/s\n' 'psql \copy (SELECT *) TO CSV' "$cw" "$(echo "$N / $cw" | bc -l)"
for tool in p1 p2 p4; do
  w=$(med "${wall[$tool]}")
  printf '%-34s %8.2f s %11.0f rows/s   CPU %6.2f s   ratio to \\copy %.2fx   (runs: %s)\n' "PostgresOrigin partitions ${tool#p}" "$w" "$(echo "$N / $w" | bc -l)" "$(med "${cpu[$tool]}")" "$(echo "$w / $cw" | bc -l)" "${wall[$tool]}"
done
echo "(\\copy runs: ${wall[copy]})"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "($N rows, median of $RUNS runs, $(nproc) cores; $(git -C "$REPO" rev-parse --short HEAD))"
psqlc -c "DROP TABLE bench_orders_part"
