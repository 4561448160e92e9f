package cli_test

import (
	"database/sql"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// loadCSV creates table name in db from a CSV file with a header, every
// column declared with the given SQL types.
func loadCSV(t *testing.T, db *sql.DB, name, path string, types map[string]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	cols := make([]string, len(rows[0]))
	for i, c := range rows[0] {
		cols[i] = c + " " + types[c]
	}
	if _, err := db.Exec("CREATE TABLE " + name + " (" + strings.Join(cols, ", ") + ")"); err != nil {
		t.Fatal(err)
	}
	ph := strings.TrimSuffix(strings.Repeat("?,", len(rows[0])), ",")
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows[1:] {
		args := make([]any, len(r))
		for i, v := range r {
			args[i] = v
			if v == "" {
				args[i] = nil // an empty CSV field is null, as CSVOrigin reads it
			}
		}
		if _, err := tx.Exec("INSERT INTO "+name+" VALUES ("+ph+")", args...); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestExample4AgainstSQLite checks the seed's Example 4 (left join, filter,
// sum by user) against SQLite running the same query on the same files.
func TestExample4AgainstSQLite(t *testing.T) {
	out := t.TempDir()
	if r := run(t, "run", "../../examples/04_users_orders_join.yaml", "--param", "out_dir="+out, "--quiet"); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	loadCSV(t, db, "users", "../../examples/data/users.csv", map[string]string{"user_id": "INTEGER", "name": "TEXT", "email": "TEXT", "active": "TEXT"})
	loadCSV(t, db, "orders", "../../examples/data/orders.csv", map[string]string{"order_id": "INTEGER", "user_id": "INTEGER", "total_amount": "REAL", "order_date": "TEXT", "country": "TEXT"})

	got := readCSV(t, filepath.Join(out, "user_totals.csv"))
	q := `SELECT o.user_id, SUM(o.total_amount) FROM orders o LEFT JOIN users u ON o.user_id = u.user_id
	      WHERE o.total_amount > 1000 GROUP BY o.user_id ORDER BY o.user_id`
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 1
	for ; rows.Next(); i++ {
		var id int64
		var sum float64
		rows.Scan(&id, &sum)
		if i >= len(got) {
			t.Fatalf("Open-Stage wrote %d groups, SQLite has more", len(got)-1)
		}
		gid, _ := strconv.ParseInt(got[i][0], 10, 64)
		gsum, _ := strconv.ParseFloat(got[i][1], 64)
		if gid != id || math.Abs(gsum-sum) > 1e-9*math.Abs(sum) {
			t.Errorf("group %d: Open-Stage %v, SQLite %d %v", i, got[i], id, sum)
		}
	}
	if i != len(got) {
		t.Errorf("Open-Stage wrote %d groups, SQLite %d", len(got)-1, i-1)
	}

	// The joined, filtered rows: same count and same order ids as SQLite.
	joined := readCSV(t, filepath.Join(out, "high_value_orders.csv"))
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM orders o LEFT JOIN users u ON o.user_id = u.user_id WHERE o.total_amount > 1000`).Scan(&n)
	if len(joined)-1 != n {
		t.Errorf("high_value_orders has %d rows, SQLite %d", len(joined)-1, n)
	}
	var unmatched int
	db.QueryRow(`SELECT COUNT(*) FROM orders o LEFT JOIN users u ON o.user_id = u.user_id WHERE o.total_amount > 1000 AND u.user_id IS NULL`).Scan(&unmatched)
	empty := 0
	for _, r := range joined[1:] {
		if r[5] == "" { // name: null for orders of unknown users
			empty++
		}
	}
	if empty != unmatched || unmatched == 0 {
		t.Errorf("%d rows without a user, SQLite %d (the data is meant to have some)", empty, unmatched)
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
