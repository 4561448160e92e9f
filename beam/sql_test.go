package beam

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pgDSN is the test PostgreSQL (OPENSTAGE_POSTGRES_DSN, or this machine's).
func pgDSN() string {
	if s := os.Getenv("OPENSTAGE_POSTGRES_DSN"); s != "" {
		return s
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// psql runs statements with PostgreSQL's own client; the test is skipped
// when the server does not answer, and fails under CI=true.
func psql(t *testing.T, sql string) string {
	t.Helper()
	out, err := exec.Command("psql", pgDSN(), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "connect") || errorsIsNotFound(err) {
			if os.Getenv("CI") == "true" {
				t.Fatalf("PostgreSQL is not reachable with psql (%v): %s", err, out)
			}
			t.Skipf("PostgreSQL is not reachable with psql (%v): %s", err, out)
		}
		t.Fatalf("psql -c %q: %v\n%s", sql, err, out)
	}
	return string(out)
}

func errorsIsNotFound(err error) bool {
	_, ok := err.(*exec.Error)
	return ok
}

// TestPartitionedPostgresOrigin: a PostgresOrigin with partition_column is
// read on Prism in ranges, one part each, by the workers, and the file
// written is the local engine's byte for byte (rows in range order, the
// NULLs and the rows outside the bounds included); a bad value in one
// range fails the run naming the stage, the range and the column, and
// nothing is written.
func TestPartitionedPostgresOrigin(t *testing.T) {
	tbl := "os_beam_partitioned"
	psql(t, "DROP TABLE IF EXISTS "+tbl)
	t.Cleanup(func() { exec.Command("psql", pgDSN(), "-X", "-c", "DROP TABLE IF EXISTS "+tbl).Run() })
	psql(t, "CREATE TABLE "+tbl+" AS SELECT CASE WHEN g % 13 = 0 THEN NULL ELSE (g * 7919) % 5000 - 100 END AS id, 'n' || g AS name, DATE '2024-01-01' + g % 300 AS d FROM generate_series(1, 30000) g")
	dir := t.TempDir()
	job := func(name, column, bounds string) string {
		return writeJob(t, dir, `
name: `+name+`
params: {out_dir: out}
stages:
  - name: reader
    type: PostgresOrigin
    dsn: "`+pgDSN()+`"
    query: SELECT * FROM `+tbl+`
    partition_column: `+column+`
    partitions: 4
    batch_rows: 1000
    `+bounds+`
  - {name: adults, type: Filter, field: name, condition: "!=", value: "n5"}
  - {name: writer, type: CSVDestination, path: "${out_dir}/rows.csv"}
pipes:
  - {name: p1, from: reader, to: adults}
  - {name: p2, from: adults, to: writer}
`)
	}
	for _, c := range []struct{ name, column, bounds string }{{"ids", "id", "lower_bound: 0\n    upper_bound: 4000"}, {"days", "d", ""}} {
		path := job(c.name, c.column, c.bounds)
		local, prism := filepath.Join(dir, c.name+"_local"), filepath.Join(dir, c.name+"_prism")
		runLocal(t, path, local, nil)
		if _, err := runPrism(context.Background(), t, path, prism, nil, 64<<10); err != nil {
			t.Fatal(err)
		}
		sameFiles(t, local, prism)
		data, _ := os.ReadFile(filepath.Join(prism, "rows.csv"))
		if n := strings.Count(string(data), "\n"); n != 30000 {
			t.Fatalf("%s: %d lines, want 29999 rows and a header", c.name, n)
		}
	}
	psql(t, "ALTER TABLE "+tbl+" ALTER d TYPE text; UPDATE "+tbl+" SET d = 'infinity' WHERE name = 'n29000'; ALTER TABLE "+tbl+" ALTER d TYPE date USING d::date")
	path := job("bad", "d", "lower_bound: 2024-01-01\n    upper_bound: 2024-10-01")
	out := filepath.Join(dir, "bad_prism")
	_, err := runPrism(context.Background(), t, path, out, nil, 64<<10)
	want := "PostgresOrigin 'reader': partition_column 'd': range 4 of 4 (d >= "
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "column 'd' (date): infinity cannot be held in a date column") {
		t.Fatalf("error\n  %v\ndoes not contain\n  %s", err, want)
	}
	if _, err := os.Stat(filepath.Join(out, "rows.csv")); !os.IsNotExist(err) {
		t.Fatalf("a failed run left output: %v", err)
	}
}
