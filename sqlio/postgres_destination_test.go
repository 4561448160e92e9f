package sqlio

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/jackc/pgx/v5"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
)

func pgDest(table, mode string, configure ...func(*PostgresDestination)) *PostgresDestination {
	return openstage.New("", func(d *PostgresDestination) {
		d.DSN = openstage.NewSecret(pgDSN())
		d.Table = table
		d.Mode = mode
		for _, c := range configure {
			c(d)
		}
	}).Component().(*PostgresDestination)
}

// pgRows reads a table with pgx's own decoding (not the origin's).
func pgRows(t *testing.T, conn *pgx.Conn, query string) ([][]any, bool) {
	t.Helper()
	rows, err := conn.Query(context.Background(), query)
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") {
			return nil, false
		}
		t.Fatalf("%s: %v", query, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) {
		vals, err := r.Values()
		for i, v := range vals {
			if tm, ok := v.(time.Time); ok {
				vals[i] = tm.UTC()
			}
			if n, ok := v.(int32); ok {
				vals[i] = int64(n)
			}
		}
		return vals, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, true
}

func TestPostgresDestinationConformance(t *testing.T) {
	conn := needPG(t)
	for _, mode := range []string{"append", "replace", "upsert"} {
		t.Run(mode, func(t *testing.T) {
			tbl := pgTable(t, conn)
			openstagetest.TestDestination(t, openstagetest.DestinationCase{
				New: func(*testing.T) any {
					return pgDest(tbl, mode, func(d *PostgresDestination) {
						d.CreateIfMissing = true
						if mode == "upsert" {
							d.Key = openstage.Strings{"id"}
						}
					})
				},
				Read: func(t *testing.T) ([][]any, bool) {
					return pgRows(t, conn, "SELECT id, name, amount, ok, day, at FROM "+tbl+" ORDER BY id")
				},
			})
		})
	}
}

func pgCount(t *testing.T, conn *pgx.Conn, query string) string {
	t.Helper()
	var s string
	if err := conn.QueryRow(context.Background(), query).Scan(&s); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s
}

func load(t *testing.T, dest any, schema *arrow.Schema, rows [][]any, batch int, opts ...openstagetest.Option) error {
	t.Helper()
	_, err := openstagetest.RunDestination(t, dest, []openstagetest.Input{{Pipe: "in", Schema: schema, Rows: rows, BatchRows: batch}}, opts...)
	return err
}

func TestPostgresDestinationModes(t *testing.T) {
	conn := needPG(t)
	tbl := pgTable(t, conn)
	schema := openstage.NewSchema("id", openstage.Int64, "name", openstage.String)
	rows := func(ids ...int) [][]any {
		var out [][]any
		for _, i := range ids {
			out = append(out, []any{int64(i), fmt.Sprint("v", i)})
		}
		return out
	}
	state := func() string {
		return pgCount(t, conn, "SELECT coalesce(string_agg(id || '=' || name, ',' ORDER BY id), '') FROM "+tbl)
	}
	steps := []struct {
		mode string
		key  []string
		ids  []int
		want string
		err  string
	}{
		{"append", nil, []int{1}, "", "table '" + tbl + "' does not exist; create it first, use mode: create, or set create_if_missing: true"},
		{"create", []string{"id"}, []int{1, 2}, "1=v1,2=v2", ""},
		{"create", nil, []int{1}, "1=v1,2=v2", "already exists and mode is create; use mode: replace"},
		{"append", nil, []int{3}, "1=v1,2=v2,3=v3", ""},
		{"append", nil, []int{3}, "1=v1,2=v2,3=v3", `duplicate key value violates unique constraint "` + tbl + `_pkey" (SQLSTATE 23505); Key (id)=(3) already exists.`},
		{"truncate", nil, []int{5, 6}, "5=v5,6=v6", ""},
		{"upsert", []string{"id"}, []int{6, 7}, "5=v5,6=v6,7=v7", ""},
		{"upsert", nil, []int{6}, "5=v5,6=v6,7=v7", "mode upsert needs key"},
		{"upsert", []string{"name"}, []int{8}, "5=v5,6=v6,7=v7", "upsert needs a primary key or unique index on name"},
		{"upsert", []string{"id"}, []int{9, 9}, "5=v5,6=v6,7=v7", "two input rows have the same key (id)"},
		{"replace", nil, []int{1}, "1=v1", ""},
		{"append", nil, []int{1}, "1=v1,1=v1", ""}, // replace made no primary key
	}
	for i, s := range steps {
		err := load(t, pgDest(tbl, s.mode, func(d *PostgresDestination) { d.Key = s.key }), schema, rows(s.ids...), 1)
		if s.err == "" && err != nil || s.err != "" && (err == nil || !strings.Contains(err.Error(), s.err)) {
			t.Fatalf("step %d (%s %v): error %v, want %q", i+1, s.mode, s.ids, err, s.err)
		}
		if s.want != "" || i > 0 {
			if got := state(); got != s.want {
				t.Fatalf("step %d (%s %v): table holds %q, want %q", i+1, s.mode, s.ids, got, s.want)
			}
		}
	}
	// An upsert updates the other columns.
	pgExec(t, conn, "DELETE FROM "+tbl, "ALTER TABLE "+tbl+" ADD PRIMARY KEY (id)")
	if err := load(t, pgDest(tbl, "upsert", func(d *PostgresDestination) { d.Key = openstage.Strings{"id"} }), schema,
		[][]any{{int64(1), "new"}, {int64(2), nil}}, 1); err != nil {
		t.Fatal(err)
	}
	if got := pgCount(t, conn, "SELECT string_agg(id || '=' || coalesce(name, 'NULL'), ',' ORDER BY id) FROM "+tbl); got != "1=new,2=NULL" {
		t.Fatalf("after upsert: %s", got)
	}
	// The input's columns must be the table's.
	err := load(t, pgDest(tbl, "append"), openstage.NewSchema("id", openstage.Int64, "nmae", openstage.String), [][]any{{int64(9), "x"}}, 1)
	if err == nil || !strings.Contains(err.Error(), "table '"+tbl+"' has no column 'nmae'; its columns: id, name (did you mean 'name'?)") {
		t.Fatalf("unknown column: %v", err)
	}
}

// A constraint violated half-way through a 100k-row load, a value too large
// for its column and a job cancelled mid-load all leave the table exactly as
// it was.
func TestPostgresDestinationFailuresLeaveTableUnchanged(t *testing.T) {
	conn := needPG(t)
	tbl := pgTable(t, conn)
	pgExec(t, conn, "CREATE TABLE "+tbl+" (id bigint PRIMARY KEY, code varchar(5), n integer)",
		"INSERT INTO "+tbl+" SELECT g, 'c' || g, g FROM generate_series(1, 1000) g")
	fingerprint := func() string {
		return pgCount(t, conn, "SELECT count(*) || ':' || md5(string_agg(id || code || n, ',' ORDER BY id)) FROM "+tbl)
	}
	before := fingerprint()
	schema := openstage.NewSchema("id", openstage.Int64, "code", openstage.String, "n", openstage.Int64)
	big := func(bad int, badRow []any) [][]any {
		rows := make([][]any, 100000)
		for i := range rows {
			rows[i] = []any{int64(100000 + i), "x", int64(i)}
		}
		rows[bad] = badRow
		return rows
	}
	cases := []struct {
		name string
		rows [][]any
		want []string
	}{
		{"constraint half-way", big(50000, []any{int64(7), "dup", int64(1)}), []string{
			"PostgresDestination 'stage': loading table '" + tbl + "'", `duplicate key value violates unique constraint "` + tbl + `_pkey" (SQLSTATE 23505)`, "Key (id)=(7) already exists"}},
		{"value too long", big(70000, []any{int64(1), "toolong", int64(1)}), []string{
			"value too long for type character varying(5) (SQLSTATE 22001)", "COPY " + tbl + ", line 70001, column code"}},
		{"out of range", big(99999, []any{int64(1), "ok", int64(1) << 40}), []string{
			`value "1099511627776" is out of range for type integer (SQLSTATE 22003)`, "line 100000, column n"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := load(t, pgDest(tbl, "append"), schema, c.rows, 8192)
			if err == nil {
				t.Fatal("the load succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if after := fingerprint(); after != before {
				t.Fatalf("the table changed: %s, was %s", after, before)
			}
		})
	}
	for _, mode := range []string{"append", "truncate", "replace", "upsert"} {
		t.Run("cancelled "+mode, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			dest := openstage.NewStage("dest", pgDest(tbl, mode, func(d *PostgresDestination) {
				if mode == "upsert" {
					d.Key = openstage.Strings{"id"}
				}
			}))
			src := openstage.NewStage("src", &openstagetest.FailingSource{Source: openstagetest.Source{Schema: schema, Rows: big(0, []any{int64(5), "y", int64(5)})[1:], BatchRows: 10000}, After: 5, Cancel: cancel})
			src.AddOutputPipe(openstage.NewPipe("in")).SetDestination(dest)
			job := openstage.NewJob("cancel", src)
			job.Allocator = checked(t)
			err := job.Run(ctx)
			if err == nil || !strings.Contains(err.Error(), "job cancelled") {
				t.Fatalf("cancelled job returned %v", err)
			}
			if after := fingerprint(); after != before {
				t.Fatalf("the table changed: %s, was %s", after, before)
			}
		})
	}
}

// CSV → PostgresDestination → PostgresOrigin → CSV gives back the same
// values of every type, NULLs and unicode included; psql reads the same.
func TestPostgresRoundTrip(t *testing.T) {
	conn := needPG(t)
	tbl := pgTable(t, conn)
	roundTrip(t, roundTripCase{
		write: func(schema *arrow.Schema) any {
			return pgDest(tbl, "create")
		},
		read: func() any { return pgOrigin("SELECT * FROM " + tbl + " ORDER BY id") },
		client: func() string {
			return psql(t, "SELECT id, coalesce(replace(replace(name, E'\\n', '\\n'), E'\\t', '\\t'), 'NULL'), coalesce(amount::text, 'NULL'), coalesce(ok::text, 'NULL'), coalesce(day::text, 'NULL'), coalesce(to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'NULL') FROM "+tbl+" ORDER BY id")
		},
		clientBool: [2]string{"true", "false"},
	})
	if got := psql(t, "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = '"+tbl+"'"); got != "id bigint, name text, amount double precision, ok boolean, day date, at timestamp with time zone\n" {
		t.Fatalf("created columns: %s", got)
	}
}
