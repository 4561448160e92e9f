package sqlio

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

func liteOrigin(path, query string, params ...any) *SQLiteOrigin {
	return openstage.New("", func(o *SQLiteOrigin) { o.Path, o.Query, o.Params = path, query, params }).Component().(*SQLiteOrigin)
}

func liteDest(path, table, mode string, configure ...func(*SQLiteDestination)) *SQLiteDestination {
	return openstage.New("", func(d *SQLiteDestination) {
		d.Path, d.Table, d.Mode = path, table, mode
		for _, c := range configure {
			c(d)
		}
	}).Component().(*SQLiteDestination)
}

func liteDB(t *testing.T, path string, stmts ...string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return db
}

func TestSQLiteOriginTypes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	liteDB(t, path, `CREATE TABLE t (i INTEGER, r REAL, n NUMERIC, s TEXT, v VARCHAR(5), b BOOLEAN, d DATE, ts TIMESTAMP, bl BLOB)`,
		`INSERT INTO t VALUES (-9223372036854775808, 0.1, 12.5, 'héllo 日本', 'v', 1, '2024-02-29', '2024-01-31 12:34:56.123456+00:00', X'00FF10'),
		                      (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
	sink := rowsOf(t, liteOrigin(path, "SELECT *, i + 1 AS expr, NULL AS nada FROM t ORDER BY i IS NULL"))
	var types []string
	for _, f := range sink.Schema.Fields() {
		types = append(types, f.Type.String())
	}
	if got, want := strings.Join(types, " "), "int64 float64 float64 utf8 utf8 bool date32 timestamp[us, tz=UTC] binary int64 utf8"; got != want {
		t.Fatalf("types:\n got %s\nwant %s", got, want)
	}
	want := "-9223372036854775808|0.1|12.5|héllo 日本|v|true|2024-02-29T00:00:00Z|2024-01-31T12:34:56.123456Z|AP8Q|-9223372036854775807|NULL\n" + strings.Repeat("NULL|", 10) + "NULL\n"
	if got := show(sink.Rows); got != want {
		t.Fatalf("values:\n got %s\nwant %s", got, want)
	}
}

func TestSQLiteOriginConformance(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.db")
	if err := load(t, liteDest(path, "t", "create"), openstagetest.DefaultSchema, openstagetest.DefaultRows(), 10); err != nil {
		t.Fatal(err)
	}
	origin := func(where string) func(*testing.T) any {
		return func(*testing.T) any {
			o := liteOrigin(path, "SELECT * FROM t"+where+" ORDER BY id")
			o.BatchRows = 10
			return o
		}
	}
	openstagetest.TestOrigin(t, openstagetest.OriginCase{New: origin(""), Empty: origin(" WHERE 0")})
}

func TestSQLiteDestinationConformance(t *testing.T) {
	for _, mode := range []string{"append", "replace", "upsert"} {
		t.Run(mode, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "t.db")
			openstagetest.TestDestination(t, openstagetest.DestinationCase{
				New: func(*testing.T) any {
					return liteDest(path, "t", mode, func(d *SQLiteDestination) {
						d.CreateIfMissing, d.BatchRows = true, 7
						if mode == "upsert" {
							d.Key = openstage.Strings{"id"}
						}
					})
				},
				Read: func(t *testing.T) ([][]any, bool) {
					if _, err := os.Stat(path); err != nil {
						return nil, false
					}
					res, err := openstagetest.RunOrigin(t, liteOrigin(path, "SELECT * FROM t ORDER BY id"))
					if err != nil {
						if strings.Contains(err.Error(), "no such table") {
							return nil, false
						}
						t.Fatal(err)
					}
					return res.Outputs["out"].Rows, true
				},
			})
		})
	}
}

func TestSQLiteDestinationModesAndFailures(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	schema := openstage.NewSchema("id", openstage.Int64, "name", openstage.String)
	rows := func(ids ...int) [][]any {
		var out [][]any
		for _, i := range ids {
			out = append(out, []any{int64(i), fmt.Sprint("v", i)})
		}
		return out
	}
	db := liteDB(t, path)
	state := func() string {
		var s sql.NullString
		if err := db.QueryRow("SELECT group_concat(id || '=' || name, ',') FROM (SELECT * FROM t ORDER BY id)").Scan(&s); err != nil {
			return "error: " + err.Error()
		}
		return s.String
	}
	steps := []struct {
		mode string
		key  []string
		ids  []int
		want string
		err  string
	}{
		{"append", nil, []int{1}, "error: SQL logic error: no such table: t (1)", "table 't' does not exist"},
		{"create", []string{"id"}, []int{1, 2}, "1=v1,2=v2", ""},
		{"append", nil, []int{3, 4, 2}, "1=v1,2=v2", "UNIQUE constraint failed: t.id"},
		{"truncate", nil, []int{5, 6}, "5=v5,6=v6", ""},
		{"upsert", []string{"id"}, []int{6, 7}, "5=v5,6=v6,7=v7", ""},
		{"upsert", []string{"name"}, []int{8}, "5=v5,6=v6,7=v7", "upsert needs a primary key or unique index on name"},
		{"replace", nil, []int{1}, "1=v1", ""},
	}
	for i, s := range steps {
		err := load(t, liteDest(path, "t", s.mode, func(d *SQLiteDestination) { d.Key = s.key; d.BatchRows = 2 }), schema, rows(s.ids...), 1)
		if s.err == "" && err != nil || s.err != "" && (err == nil || !strings.Contains(err.Error(), s.err)) {
			t.Fatalf("step %d (%s %v): error %v, want %q", i+1, s.mode, s.ids, err, s.err)
		}
		if got := state(); got != s.want {
			t.Fatalf("step %d (%s %v): table holds %q, want %q", i+1, s.mode, s.ids, got, s.want)
		}
	}
	// A constraint violated half-way through 100k rows leaves the table as it was.
	if _, err := db.Exec("CREATE UNIQUE INDEX t_id ON t (id)"); err != nil {
		t.Fatal(err)
	}
	big := make([][]any, 100000)
	for i := range big {
		big[i] = []any{int64(10 + i), "x"}
	}
	big[50000] = []any{int64(1), "dup"}
	err := load(t, liteDest(path, "t", "append"), schema, big, 8192)
	if err == nil || !strings.Contains(err.Error(), "UNIQUE constraint failed: t.id") || !strings.Contains(err.Error(), "in rows 50001 to 51000") {
		t.Fatalf("constraint half-way: %v", err)
	}
	if got := state(); got != "1=v1" {
		t.Fatalf("after the failed load the table holds %q", got)
	}
}

// The round trip, read back also by Python's sqlite3 module.
func TestSQLiteRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rt.db")
	roundTrip(t, roundTripCase{
		write: func(*arrow.Schema) any { return liteDest(path, "t", "create") },
		read:  func() any { return liteOrigin(path, "SELECT * FROM t ORDER BY id") },
		client: func() string {
			script := `import datetime, sqlite3, sys
con = sqlite3.connect(sys.argv[1])
def f(v, i):
    if v is None: return "NULL"
    if i == 3: return "true" if v else "false"
    if i == 5: return datetime.datetime.fromisoformat(v).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(v, float): return repr(v)[:-2] if repr(v).endswith(".0") else repr(v)
    return str(v).replace("\n", "\\n").replace("\t", "\\t")
for row in con.execute("SELECT id, name, amount, ok, day, at FROM t ORDER BY id"):
    print("\t".join(f(v, i) for i, v in enumerate(row)))
`
			out, err := exec.Command("/usr/bin/python3", "-c", script, path).CombinedOutput()
			if err != nil {
				t.Fatalf("python3 sqlite3: %v\n%s", err, out)
			}
			return string(out)
		},
		clientBool: [2]string{"true", "false"},
	})
}

func TestSQLiteOriginFold(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	var vals []string
	words := []string{"a", "A", "b", "ä", "", "日本", "a "}
	for i := range 300 {
		v := "NULL"
		if i%9 != 0 {
			v = "'" + words[i%len(words)] + "'"
		}
		vals = append(vals, fmt.Sprintf("(%d, %d, %s, %s)", i, i%13-6, []string{"0.5", "-1", "NULL", "2.25"}[i%4], v))
	}
	liteDB(t, path, "CREATE TABLE t (id INTEGER, i INTEGER, f REAL, s TEXT)", "INSERT INTO t VALUES "+strings.Join(vals, ","))
	for _, c := range []struct {
		field, cond string
		value       any
	}{{"i", ">", 2}, {"i", "not in", []any{1, 2}}, {"f", "<=", 0.5}, {"s", ">", "a"}, {"s", "=", "a"}, {"s", "is null", nil}} {
		var results []string
		for _, fold := range []bool{true, false} {
			o := liteOrigin(path, "SELECT * FROM t ORDER BY id")
			var origin any = o
			if !fold {
				origin = &struct{ openstage.Origin }{o}
			}
			src := openstage.NewStage("reader", origin)
			sink := &openstagetest.Sink{}
			src.AddOutputPipe(openstage.NewPipe("rows")).SetDestination(stages.NewFilter("filter", c.field, c.cond, c.value)).
				AddOutputPipe(openstage.NewPipe("out")).SetDestination(openstage.NewStage("sink", sink))
			job := openstage.NewJob("fold", src)
			job.Allocator = checked(t)
			if err := job.Run(t.Context()); err != nil {
				t.Fatal(err)
			}
			if (len(job.Folds()) == 1) != fold {
				t.Fatalf("%v: folds %v", c, job.Folds())
			}
			results = append(results, show(sink.Rows))
		}
		if results[0] != results[1] || results[0] == "" {
			t.Fatalf("%v: folded\n%s\nplain\n%s", c, results[0], results[1])
		}
	}
	_ = time.Now
}
