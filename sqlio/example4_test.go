package sqlio_test

import (
	"encoding/csv"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/open-stage/openstage/sqlio"
)

// The seed's Example 4 with two PostgresOrigins, as the job file and as the
// Go program, against the real server: both outputs agree with SQLite
// (Python's sqlite3, from the same CSV files) computing the same join.
func TestExample4OnPostgres(t *testing.T) {
	sqlio.NeedPG(t)
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	u, err := url.Parse(sqlio.PgDSN())
	if err != nil {
		t.Fatal(err)
	}
	params := []string{"--param", "pg_host=" + u.Hostname(), "--param", "pg_database=" + strings.TrimPrefix(u.Path, "/"), "--param", "pg_user=" + u.User.Username()}
	if code, out := runCLI(append([]string{"run", filepath.Join(root, "examples/sql/00_load_postgres.yaml"), "--quiet"}, params...)...); code != 0 {
		t.Fatalf("loading: %s", out)
	}
	want := sqliteExample4(t, filepath.Join(root, "examples/data"))
	t.Run("job file", func(t *testing.T) {
		dir := t.TempDir()
		code, out := runCLI(append([]string{"run", filepath.Join(root, "examples/sql/04_postgres_users_orders_join.yaml"), "--quiet", "--param", "out_dir=" + dir}, params...)...)
		if code != 0 {
			t.Fatal(out)
		}
		compareExample4(t, dir, want)
	})
	t.Run("go program", func(t *testing.T) {
		dir := t.TempDir()
		cmd := exec.Command("go", "run", "./examples/go/postgres_users_orders_join", "-dsn", sqlio.PgDSN(), "-out", dir)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		compareExample4(t, dir, want)
	})
}

// sqliteExample4 computes the two outputs with SQLite, as sorted lines.
func sqliteExample4(t *testing.T, data string) [2][]string {
	script := `import csv, sqlite3, sys
con = sqlite3.connect(":memory:")
con.execute("CREATE TABLE users (user_id INTEGER, name TEXT, email TEXT, active TEXT)")
con.execute("CREATE TABLE orders (order_id INTEGER, user_id INTEGER, total_amount REAL, order_date TEXT, country TEXT)")
for t, f in (("users", "users.csv"), ("orders", "orders.csv")):
    rows = list(csv.reader(open(sys.argv[1] + "/" + f, encoding="utf-8")))[1:]
    con.executemany("INSERT INTO %s VALUES (%s)" % (t, ",".join("?" * len(rows[0]))), rows)
j = """SELECT o.order_id, o.user_id, o.total_amount, o.order_date, u.name, u.email FROM orders o
       LEFT JOIN (SELECT user_id, name, email FROM users WHERE active = 'true') u ON o.user_id = u.user_id
       WHERE o.total_amount > 1000"""
for r in con.execute(j):
    print("J\t" + "\t".join("" if v is None else ("%.6f" % v if isinstance(v, float) else str(v)) for v in r))
for r in con.execute("SELECT user_id, SUM(total_amount) FROM (" + j + ") GROUP BY user_id"):
    print("A\t%d\t%.6f" % r)
`
	out, err := exec.Command("/usr/bin/python3", "-c", script, data).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	var res [2][]string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if s, ok := strings.CutPrefix(l, "J\t"); ok {
			res[0] = append(res[0], s)
		} else {
			res[1] = append(res[1], strings.TrimPrefix(l, "A\t"))
		}
	}
	slices.Sort(res[0])
	slices.Sort(res[1])
	if len(res[0]) == 0 || len(res[1]) == 0 {
		t.Fatalf("SQLite found nothing: %s", out)
	}
	return res
}

func compareExample4(t *testing.T, dir string, want [2][]string) {
	t.Helper()
	for i, f := range []string{"pg_high_value_orders.csv", "pg_user_totals.csv"} {
		fh, err := os.Open(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(fh).ReadAll()
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range recs[1:] {
			for j, v := range r {
				if x, err := strconv.ParseFloat(v, 64); err == nil && j == 2-i { // total_amount, total_spent
					r[j] = fmt.Sprintf("%.6f", x)
				}
			}
			got = append(got, strings.Join(r, "\t"))
		}
		slices.Sort(got)
		if !slices.Equal(got, want[i]) {
			t.Fatalf("%s differs from SQLite's:\n got %q\nwant %q", f, got, want[i])
		}
	}
}
