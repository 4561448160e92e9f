package cli_test

import (
	"database/sql"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/open-stage/openstage/internal/benchdata"
)

// writeBenchData writes small orders.csv and users.csv shaped like the peer
// benchmark's generator (internal/benchdata).
func writeBenchData(t *testing.T, dir string, n int) {
	t.Helper()
	if err := benchdata.Write(dir, n); err != nil {
		t.Fatal(err)
	}
}

// TestBenchJobs runs the peer-benchmark job files, hand-tuned (bench/jobs)
// and written the plain way (bench/jobs/plain), on small data and checks
// each result against SQLite running the workload's SQL. W6 reads a Parquet
// copy of orders.csv and writes Parquet, read back as CSV for the check.
func TestBenchJobs(t *testing.T) {
	in, tuned, plain := t.TempDir(), t.TempDir(), t.TempDir()
	writeBenchData(t, in, 20000)
	job := func(path string, params ...string) {
		t.Helper()
		args := []string{"run", path, "--quiet"}
		for _, p := range params {
			args = append(args, "--param", p)
		}
		if r := run(t, args...); r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", path, r.code, r.stderr)
		}
	}
	convert := func(from, fromType, to, toType string) {
		t.Helper()
		f := filepath.Join(t.TempDir(), "convert.yaml")
		os.WriteFile(f, []byte(fmt.Sprintf(`name: convert
stages:
  - {name: r, type: %s, path: %s}
  - {name: w, type: %s, path: %s}
pipes:
  - {name: p, from: r, to: w}
`, fromType, from, toType, to)), 0o644)
		job(f)
	}
	convert(filepath.Join(in, "orders.csv"), "CSVOrigin", filepath.Join(in, "orders.parquet"), "ParquetDestination")
	for _, w := range []string{"w1", "w2", "w3", "w4", "w5", "w6"} {
		job("../../bench/jobs/"+w+".yaml", "in_dir="+in, "out_dir="+tuned)
		job("../../bench/jobs/plain/"+w+".yaml", "in_dir="+in, "out_dir="+plain)
	}
	for _, out := range []string{tuned, plain} {
		convert(filepath.Join(out, "w6.parquet"), "ParquetOrigin", filepath.Join(out, "w6.csv"), "CSVDestination")
	}
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	loadCSV(t, db, "orders", filepath.Join(in, "orders.csv"), map[string]string{"order_id": "INTEGER", "user_id": "INTEGER", "country": "TEXT", "age": "INTEGER", "amount": "REAL", "order_date": "TEXT", "status": "TEXT", "note": "TEXT"})
	loadCSV(t, db, "users", filepath.Join(in, "users.csv"), map[string]string{"user_id": "INTEGER", "name": "TEXT", "email": "TEXT", "segment": "TEXT", "active": "TEXT"})

	// compare checks a job's output, tuned and plain, against a query.
	compare := func(w, query string, sorted bool) {
		t.Helper()
		for _, out := range []string{tuned, plain} {
			compareOne(t, db, filepath.Join(out, w+".csv"), query, sorted)
		}
	}

	compare("w1", `SELECT country, SUM(amount), COUNT(*), AVG(amount) FROM orders WHERE age >= 18 GROUP BY country ORDER BY country`, true)
	compare("w2", `SELECT o.*, u.name, u.email, u.segment, u.active FROM orders o LEFT JOIN users u USING (user_id) WHERE o.amount > 1000`, false)
	compare("w3", `SELECT order_id, user_id, country, age, amount, order_date, status, note FROM (
	                 SELECT *, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY order_date DESC, order_id) AS rn FROM orders)
	               WHERE rn = 1 ORDER BY order_date DESC, order_id`, true)
	compare("w4", `SELECT * FROM orders ORDER BY rowid`, true)
	compare("w5", `SELECT o.*, u.name, u.email, u.segment, u.active FROM orders o
	               LEFT JOIN (SELECT * FROM users WHERE active = 'true') u USING (user_id) WHERE o.amount > 1000`, false)
	compare("w5_totals", `SELECT user_id, SUM(amount) FROM orders WHERE amount > 1000 GROUP BY user_id ORDER BY user_id`, true)
	compare("w6", `SELECT country, SUM(amount), COUNT(*), AVG(amount) FROM orders WHERE age >= 18 GROUP BY country ORDER BY country`, true)
}

// compareOne checks the CSV file against a query, cell by cell (numbers with
// a relative tolerance, text exactly; SQL NULL as an empty field).
func compareOne(t *testing.T, db *sql.DB, file, query string, sorted bool) {
	t.Helper()
	got := readCSV(t, file)[1:]
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var want [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		rows.Scan(ptrs...)
		row := make([]string, len(cols))
		for i, v := range vals {
			if v != nil {
				row[i] = fmt.Sprint(v)
			}
		}
		want = append(want, row)
	}
	if !sorted {
		sortRows(got)
		sortRows(want)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, SQLite %d", file, len(got), len(want))
	}
	for i := range want {
		for c := range want[i] {
			if !sameCell(got[i][c], want[i][c]) {
				t.Fatalf("%s row %d col %d: Open-Stage %q, SQLite %q\n%v\n%v", file, i, c, got[i][c], want[i][c], got[i], want[i])
			}
		}
	}
}

func sameCell(a, b string) bool {
	if a == b {
		return true
	}
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	return err1 == nil && err2 == nil && math.Abs(x-y) <= 1e-9*math.Max(1, math.Abs(y))
}

func sortRows(rows [][]string) {
	sort.Slice(rows, func(i, j int) bool { return strings.Join(rows[i], "\x00") < strings.Join(rows[j], "\x00") })
}
