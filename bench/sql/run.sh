#!/usr/bin/env bash
# Loading and reading one million rows of the peer benchmark's orders table
# (shared/bench/gen.py) into and from PostgreSQL and MariaDB, with Open-Stage
# (CSV → PostgresDestination/MySQLDestination, PostgresOrigin/MySQLOrigin →
# CSV) beside the databases' own clients on the same CSV and the same table
# definition: psql \copy FROM / \copy TO, and mariadb LOAD DATA LOCAL INFILE /
# mariadb --batch SELECT. Prints rows/s and the ratio Open-Stage / client
# (time; below 1x means Open-Stage is faster). Median of RUNS runs, held
# under /work/.bench.lock when it exists (no two benchmarks at once).
#
#   bench/sql/run.sh [N=1000000]
#
# env: RUNS (default 3), PG_DSN (default postgres://postgres@127.0.0.1:5432/test),
#      MY_DSN (default root@tcp(127.0.0.1:3306)/test), SHARED_BENCH, WORK (default /tmp/openstage-sql-bench)
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin LC_ALL=C
REPO=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-1000000}
RUNS=${RUNS:-3}
PG_DSN=${PG_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
MY_DSN=${MY_DSN:-root@tcp(127.0.0.1:3306)/test}
SHARED=${SHARED_BENCH:-$REPO/../shared/bench}
WORK=${WORK:-/tmp/openstage-sql-bench}
if [ -z "${OS_BENCH_LOCKED:-}" ] && [ -e /work/.bench.lock ]; then
  OS_BENCH_LOCKED=1 exec flock /work/.bench.lock "$0" "$@"
fi
mkdir -p "$WORK"
echo "== build openstage"
(cd "$REPO" && go build -o bench/bin/openstage ./cmd/openstage)
OS=$REPO/bench/bin/openstage
CSV=$WORK/orders_$N.csv
if [ ! -f "$CSV" ]; then
  echo "== generate $N orders (gen.py)"
  python3 "$SHARED/gen.py" "$WORK/gen_$N" "$N" >/dev/null
  mv "$WORK/gen_$N/orders.csv" "$CSV"
fi
COLS_PG="order_id bigint, user_id bigint, country text, age bigint, amount double precision, order_date date, status text, note text"
COLS_MY="order_id BIGINT, user_id BIGINT, country LONGTEXT, age BIGINT, amount DOUBLE, order_date DATE, status LONGTEXT, note LONGTEXT"
psqlc() { psql "$PG_DSN" -X -q -v ON_ERROR_STOP=1 "$@"; }
myc() { mariadb -h127.0.0.1 -uroot --local-infile=1 test "$@"; }
psqlc -c "DROP TABLE IF EXISTS bench_orders_os; DROP TABLE IF EXISTS bench_orders_copy; CREATE TABLE bench_orders_os ($COLS_PG); CREATE TABLE bench_orders_copy ($COLS_PG)"
myc -e "DROP TABLE IF EXISTS bench_orders_os; DROP TABLE IF EXISTS bench_orders_copy; CREATE TABLE bench_orders_os ($COLS_MY) DEFAULT CHARSET=utf8mb4; CREATE TABLE bench_orders_copy ($COLS_MY) DEFAULT CHARSET=utf8mb4"

# median TIMEs of RUNS runs of a command (after a setup command, untimed)
median() {
  local setup=$1; shift
  local ts=()
  for _ in $(seq "$RUNS"); do
    eval "$setup"
    sync
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    ts+=("$(echo "$t1 - $t0" | bc)")
  done
  printf '%s\n' "${ts[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"
}
row() { # what, openstage seconds, client seconds, client name
  printf '%-22s %9.2f s %10.0f rows/s   %-28s %9.2f s %10.0f rows/s   ratio %.2fx\n' "$1" "$2" "$(echo "$N / $2" | bc -l)" "$4" "$3" "$(echo "$N / $3" | bc -l)" "$(echo "$2 / $3" | bc -l)"
}

echo "== PostgreSQL ($(psqlc -t -A -c 'SHOW server_version'))"
os_pg_load=$(median "psqlc -c 'TRUNCATE bench_orders_os'" "$OS" run "$REPO/bench/sql/load.yaml" --quiet --param csv="$CSV" --param driver=postgres --param dsn="$PG_DSN")
cp_pg_load=$(median "psqlc -c 'TRUNCATE bench_orders_copy'" psqlc -c "\\copy bench_orders_copy FROM '$CSV' CSV HEADER")
[ "$(psqlc -t -A -c 'SELECT count(*) FROM bench_orders_os')" = "$N" ] || { echo "PostgresDestination loaded a wrong row count"; exit 1; }
os_pg_read=$(median "rm -f $WORK/pg_os.csv" "$OS" run "$REPO/bench/sql/read.yaml" --quiet --param out="$WORK/pg_os.csv" --param driver=postgres --param dsn="$PG_DSN")
cp_pg_read=$(median "rm -f $WORK/pg_copy.csv" psqlc -c "\\copy bench_orders_copy TO '$WORK/pg_copy.csv' CSV HEADER")
row "load (CSV -> table)" "$os_pg_load" "$cp_pg_load" 'psql \copy FROM'
row "read (table -> CSV)" "$os_pg_read" "$cp_pg_read" 'psql \copy TO'

echo "== MariaDB ($(myc -N -e 'SELECT VERSION()'))"
os_my_load=$(median "myc -e 'TRUNCATE bench_orders_os'" "$OS" run "$REPO/bench/sql/load.yaml" --quiet --param csv="$CSV" --param driver=mysql --param dsn="$MY_DSN")
cp_my_load=$(median "myc -e 'TRUNCATE bench_orders_copy'" myc -e "LOAD DATA LOCAL INFILE '$CSV' INTO TABLE bench_orders_copy CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' IGNORE 1 LINES (order_id, user_id, country, age, amount, order_date, status, @note) SET note = NULLIF(@note, '')")
[ "$(myc -N -e 'SELECT count(*) FROM bench_orders_os')" = "$N" ] || { echo "MySQLDestination loaded a wrong row count"; exit 1; }
os_my_read=$(median "rm -f $WORK/my_os.csv" "$OS" run "$REPO/bench/sql/read.yaml" --quiet --param out="$WORK/my_os.csv" --param driver=mysql --param dsn="$MY_DSN")
cp_my_read=$(median "rm -f $WORK/my_client.tsv" sh -c "mariadb -h127.0.0.1 -uroot test --batch --quick -e 'SELECT * FROM bench_orders_copy' > $WORK/my_client.tsv")
row "load (CSV -> table)" "$os_my_load" "$cp_my_load" 'mariadb LOAD DATA LOCAL'
row "read (table -> CSV)" "$os_my_read" "$cp_my_read" 'mariadb --batch SELECT'
echo "($N rows, median of $RUNS runs, $(nproc) cores; $(git -C "$REPO" rev-parse --short HEAD))"
