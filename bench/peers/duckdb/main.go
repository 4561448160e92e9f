// DuckDB peer of the plain-jobs benchmark (bench/peers.sh): workloads W1..W6
// in-process through github.com/duckdb/duckdb-go/v2, default threads and
// settings. W1..W4 are the shared benchmark's queries (../shared/bench);
// W5 (the design document's Example 4) and W6 (W1 from Parquet to Parquet)
// are this project's.
//
//	duckdb-etl W1..W6 INDIR OUTDIR   writes OUTDIR/w1.csv .. w5.csv (+ w5_totals.csv), w6.parquet
//	duckdb-etl sort|aggregate|join INDIR OUTDIR   bench/spill.sh's workloads (OUTDIR/sort.csv, ...)
//	duckdb-etl parquet IN.csv OUT.parquet   orders.csv as Parquet (W6's input)
//	duckdb-etl tocsv IN.parquet OUT.csv     a W6 output as CSV by country, failing unless it is snappy
//	duckdb-etl version
//
// MEMORY_LIMIT (env, e.g. 200MB) sets DuckDB's memory_limit (and a temp_directory
// under TMPDIR for what it spills); THREADS (env) its threads, and
// PRESERVE_INSERTION_ORDER=false turns that setting off (DuckDB's own advice
// when it runs out of memory).
package main

import (
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	_ "github.com/duckdb/duckdb-go/v2"
)

// %[1]s = orders.csv, %[2]s = users.csv, %[3]s = orders.parquet
var queries = map[string]string{
	"w1": `SELECT country, sum(amount) AS total_amount, count(*) AS orders, avg(amount) AS avg_amount
	       FROM read_csv(%[1]s) WHERE age >= 18 GROUP BY country ORDER BY country`,
	"w2": `SELECT * FROM read_csv(%[1]s) o LEFT JOIN read_csv(%[2]s) u USING (user_id)
	       WHERE o.amount > 1000`,
	"w3": `SELECT * FROM read_csv(%[1]s)
	       QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY order_date DESC, order_id) = 1
	       ORDER BY order_date DESC, order_id`,
	"w4": `SELECT * FROM read_csv(%[1]s)`,
	"w6": `SELECT country, sum(amount) AS total_amount, count(*) AS orders, avg(amount) AS avg_amount
	       FROM read_parquet(%[3]s) WHERE age >= 18 GROUP BY country ORDER BY country`,
	// bench/spill.sh: the stages that hold data.
	"sort":      `SELECT * FROM read_csv(%[1]s) ORDER BY amount DESC, order_id`,
	"aggregate": `SELECT user_id, sum(amount) AS total_amount, count(*) AS orders FROM read_csv(%[1]s) GROUP BY user_id ORDER BY user_id`,
	"join":      `SELECT * FROM read_csv(%[1]s) o JOIN read_csv(%[2]s) u USING (user_id)`,
}

// W5: one read of the join, two outputs (all columns; sum of amount per user_id).
const w5 = `CREATE TEMP TABLE high AS
	SELECT * FROM read_csv(%[1]s) o LEFT JOIN (SELECT * FROM read_csv(%[2]s) WHERE active) u USING (user_id)
	WHERE o.amount > 1000`

func quote(p string) string { return "'" + strings.ReplaceAll(p, "'", "''") + "'" }

// spillDir is DuckDB's temp_directory when MEMORY_LIMIT is set.
var spillDir = filepath.Join(os.TempDir(), fmt.Sprintf("duckdb-etl-%d", os.Getpid()))

func open() *sql.DB {
	db, err := sql.Open("duckdb", "") // in-memory
	if err != nil {
		log.Fatal(err)
	}
	if m := os.Getenv("MEMORY_LIMIT"); m != "" {
		exec(db, "SET memory_limit = "+quote(m))
		exec(db, "SET temp_directory = "+quote(spillDir))
	}
	if t := os.Getenv("THREADS"); t != "" {
		exec(db, "SET threads = "+quote(t))
	}
	if os.Getenv("PRESERVE_INSERTION_ORDER") == "false" {
		exec(db, "SET preserve_insertion_order = false")
	}
	return db
}

func exec(db *sql.DB, q string) {
	if _, err := db.Exec(q); err != nil {
		log.Fatalf("%v\n%s", err, q)
	}
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "version" {
		var v string
		if err := open().QueryRow("SELECT version()").Scan(&v); err != nil {
			log.Fatal(err)
		}
		fmt.Println(v)
		return
	}
	if len(os.Args) != 4 {
		log.Fatal("usage: duckdb-etl W1..W6 INDIR OUTDIR | parquet IN.csv OUT.parquet | tocsv IN.parquet OUT.csv | version")
	}
	db := open()
	defer os.RemoveAll(spillDir)
	defer db.Close()
	w, in, out := strings.ToLower(os.Args[1]), os.Args[2], os.Args[3]
	switch w {
	case "parquet":
		exec(db, fmt.Sprintf("COPY (SELECT * FROM read_csv(%s)) TO %s (FORMAT parquet, COMPRESSION snappy)", quote(in), quote(out)))
		return
	case "tocsv":
		var bad int
		if err := db.QueryRow(fmt.Sprintf("SELECT count(*) FROM parquet_metadata(%s) WHERE compression <> 'SNAPPY'", quote(in))).Scan(&bad); err != nil {
			log.Fatal(err)
		}
		if bad > 0 {
			log.Fatalf("%s: %d column chunks are not snappy-compressed", in, bad)
		}
		exec(db, fmt.Sprintf("COPY (SELECT * FROM read_parquet(%s) ORDER BY country) TO %s (HEADER)", quote(in), quote(out)))
		return
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		log.Fatal(err)
	}
	orders, users := quote(filepath.Join(in, "orders.csv")), quote(filepath.Join(in, "users.csv"))
	pq := quote(filepath.Join(in, "orders.parquet"))
	if w == "w5" {
		exec(db, fmt.Sprintf(w5, orders, users))
		exec(db, fmt.Sprintf("COPY high TO %s (HEADER)", quote(filepath.Join(out, "w5.csv"))))
		exec(db, fmt.Sprintf("COPY (SELECT user_id, sum(amount) AS total_amount FROM high GROUP BY user_id ORDER BY user_id) TO %s (HEADER)",
			quote(filepath.Join(out, "w5_totals.csv"))))
		return
	}
	q, ok := queries[w]
	if !ok {
		log.Fatalf("unknown workload %q", w)
	}
	sel := fmt.Sprintf(q, orders, users, pq)
	if w == "w6" {
		exec(db, fmt.Sprintf("COPY (%s) TO %s (FORMAT parquet, COMPRESSION snappy)", sel, quote(filepath.Join(out, "w6.parquet"))))
		return
	}
	exec(db, fmt.Sprintf("COPY (%s) TO %s (HEADER)", sel, quote(filepath.Join(out, w+".csv"))))
}
