package sqlio

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

func TestPostgresOriginTypes(t *testing.T) {
	conn := needPG(t)
	tbl := pgTable(t, conn)
	pgExec(t, conn, `CREATE TABLE `+tbl+` (
		i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision, n numeric(20,4),
		b boolean, t text, v varchar(10), c char(3), d date, ts timestamp, tz timestamptz,
		j json, jb jsonb, u uuid, tm time, iv interval, by bytea, arr int[])`,
		`INSERT INTO `+tbl+` VALUES
		(-32768, 2147483647, -9223372036854775808, 1.5, 0.1, 12345678901234.5678, true, 'héllo "日本"', 'v', 'ab',
		 '2024-02-29', '2024-01-31 12:34:56.123456', '2024-01-31 12:34:56.5+02', '{"a": [1, 2]}', '{"b": 1, "a": 2}',
		 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '13:14:15.5', '1 day 02:00:00', '\x00ff10', '{1,2,3}'),
		(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
	sink := rowsOf(t, pgOrigin("SELECT * FROM "+tbl+" ORDER BY i2 NULLS LAST"))
	wantTypes := "int64 int64 int64 float64 float64 float64 bool utf8 utf8 utf8 date32 timestamp[us, tz=UTC] timestamp[us, tz=UTC] utf8 utf8 utf8 utf8 utf8 binary utf8"
	var types []string
	for _, f := range sink.Schema.Fields() {
		types = append(types, f.Type.String())
	}
	if got := strings.Join(types, " "); got != wantTypes {
		t.Fatalf("types:\n got %s\nwant %s", got, wantTypes)
	}
	got := show(sink.Rows)
	want := "-32768|2147483647|-9223372036854775808|1.5|0.1|1.2345678901234568e+13|true|héllo \"日本\"|v|ab |2024-02-29T00:00:00Z|2024-01-31T12:34:56.123456Z|2024-01-31T10:34:56.5Z|{\"a\": [1, 2]}|{\"a\": 2, \"b\": 1}|a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11|13:14:15.5|1 day 02:00:00|AP8Q|{1,2,3}\n" +
		strings.Repeat("NULL|", 19) + "NULL\n"
	if got != want {
		t.Fatalf("values:\n got %s\nwant %s", got, want)
	}

	// decimal: string keeps every digit.
	o := pgOrigin("SELECT n FROM " + tbl + " ORDER BY i2")
	o.Decimal = "string"
	if got := show(rowsOf(t, o).Rows); got != "12345678901234.5678\nNULL\n" {
		t.Fatalf("decimal: string gave %q", got)
	}
	// column_types overrides the mapping.
	o = pgOrigin("SELECT i2, t FROM " + tbl + " ORDER BY i2")
	o.ColumnTypes = map[string]string{"i2": "string"}
	if got := show(rowsOf(t, o).Rows); got != "-32768|héllo \"日本\"\nNULL|NULL\n" {
		t.Fatalf("column_types gave %q", got)
	}
}

func TestPostgresOriginParamsAndBatches(t *testing.T) {
	needPG(t)
	o := pgOrigin("SELECT g AS id, 'x' || g AS name FROM generate_series(1, $1::int) g WHERE g % $2 = 0 AND $3::text = 'a''b;--'", 1000, 3, "a'b;--")
	o.BatchRows = 100
	sink := rowsOf(t, o)
	if len(sink.Rows) != 333 || sink.Batches != 4 || sink.Rows[0][0] != int64(3) || sink.Rows[332][1] != "x999" {
		t.Fatalf("got %d rows in %d batches, first %v", len(sink.Rows), sink.Batches, sink.Rows[0])
	}
	// A date written as a string is bound as a date.
	o = pgOrigin("SELECT $1::date + 1 AS next", "2024-02-28")
	if got := show(rowsOf(t, o).Rows); got != "2024-02-29T00:00:00Z\n" {
		t.Fatalf("date param: %q", got)
	}
}

func TestPostgresOriginConformance(t *testing.T) {
	conn := needPG(t)
	tbl := pgTable(t, conn)
	pgExec(t, conn, "CREATE TABLE "+tbl+" (id bigint, name text, amount float8, ok boolean, day date, at timestamptz)")
	sink := openstagetest.RowsOf // (only to name the package's helper in docs)
	_ = sink
	var vals []string
	for i, r := range openstagetest.DefaultRows() {
		v := make([]string, len(r))
		for j, x := range r {
			v[j] = sqlLiteral(x)
		}
		vals = append(vals, fmt.Sprintf("(%s)", strings.Join(v, ", ")))
		_ = i
	}
	pgExec(t, conn, "INSERT INTO "+tbl+" VALUES "+strings.Join(vals, ", "))
	origin := func(where string) func(*testing.T) any {
		return func(*testing.T) any {
			o := pgOrigin("SELECT * FROM " + tbl + where + " ORDER BY id")
			o.BatchRows = 10
			return o
		}
	}
	openstagetest.TestOrigin(t, openstagetest.OriginCase{New: origin(""), Empty: origin(" WHERE false")})
}

func sqlLiteral(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return "'" + strings.ReplaceAll(x, "'", "''") + "'"
	case interface{ Format(string) string }:
		return "'" + x.Format("2006-01-02 15:04:05.999999Z07:00") + "'"
	}
	return fmt.Sprint(v)
}

// The query asks only for the columns read, and a Filter after the origin
// goes into its WHERE clause: the results are those of the unfolded,
// unprojected job, on random data with nulls, ties and unicode.
func TestPostgresOriginProjectionAndFold(t *testing.T) {
	conn := needPG(t)
	tbl := pgTable(t, conn)
	pgExec(t, conn, "CREATE TABLE "+tbl+" (id int, i int8, f float8, n numeric(12,3), s text, v varchar(20), b bool, d date, ts timestamp, tz timestamptz, extra text)")
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"a", "B", "b", "ä", "Z", "日本", "a ", "", "zz"}
	var vals []string
	for i := range 600 {
		null := func(s string) string {
			if r.IntN(8) == 0 {
				return "NULL"
			}
			return s
		}
		vals = append(vals, fmt.Sprintf("(%d, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'x')", i,
			null(fmt.Sprint(r.IntN(20)-10)), null([]string{"'NaN'", "0.5", "-1.25", "3", "1e300"}[r.IntN(5)]),
			null(fmt.Sprintf("%d.%03d", r.IntN(10), r.IntN(1000))),
			null(sqlLiteral(words[r.IntN(len(words))])), null(sqlLiteral(words[r.IntN(len(words))])),
			null([]string{"true", "false"}[r.IntN(2)]),
			null(fmt.Sprintf("'2024-01-%02d'", 1+r.IntN(5))),
			null(fmt.Sprintf("'2024-01-01 %02d:00:00.000001'", r.IntN(4))),
			null(fmt.Sprintf("'2024-01-01 %02d:00:00+00'", r.IntN(4)))))
	}
	pgExec(t, conn, "INSERT INTO "+tbl+" VALUES "+strings.Join(vals, ", "))

	conds := []struct {
		field, cond string
		value       any
	}{
		{"i", ">", 2}, {"i", "<=", -3}, {"i", "=", 0}, {"i", "!=", 0}, {"i", "in", []any{1, 2, 3}}, {"i", "not in", []any{1, 2}},
		{"i", "between", []any{-2, 2}}, {"i", "is null", nil}, {"i", "is not null", nil}, {"i", ">", "4"},
		{"f", ">", 0.5}, {"f", "<", 3}, {"f", "!=", 0.5}, {"f", "is null", nil}, {"f", "is not null", nil},
		{"n", ">=", 5.5}, {"n", "between", []any{1, 2.5}},
		{"s", ">", "a"}, {"s", "<", "b"}, {"s", "=", "a"}, {"s", "!=", "a"}, {"s", "in", []any{"a", "ä"}}, {"v", ">=", "Z"},
		{"b", "=", true}, {"b", "!=", true},
		{"d", ">", "2024-01-03"}, {"d", "between", []any{"2024-01-02", "2024-01-04"}},
		{"ts", ">=", "2024-01-01T02:00:00.000001Z"}, {"tz", "<", "2024-01-01T02:00:00Z"},
	}
	run := func(t *testing.T, fold bool, field, cond string, value any) ([][]any, *openstage.Job) {
		o := pgOrigin("SELECT * FROM " + tbl + " ORDER BY id")
		o.BatchRows = 128
		var origin any = o
		if !fold {
			origin = &noFold{o}
		}
		src := openstage.NewStage("reader", origin)
		sink := &openstagetest.Sink{}
		src.AddOutputPipe(openstage.NewPipe("rows")).SetDestination(stages.NewFilter("filter", field, cond, value)).
			AddOutputPipe(openstage.NewPipe("kept")).SetDestination(openstage.NewStage("pick", &pick{cols: []string{"id", "i", "f", "n", "s", "v", "b", "d", "ts", "tz"}})).
			AddOutputPipe(openstage.NewPipe("out")).SetDestination(openstage.NewStage("sink", sink))
		job := openstage.NewJob("fold", src)
		job.Allocator = checked(t)
		if err := job.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return sink.Rows, job
	}
	for _, c := range conds {
		t.Run(fmt.Sprintf("%s %s %v", c.field, c.cond, c.value), func(t *testing.T) {
			folded, job := run(t, true, c.field, c.cond, c.value)
			plain, _ := run(t, false, c.field, c.cond, c.value)
			if show(folded) != show(plain) {
				t.Fatalf("folded and plain runs differ:\nfolded %d rows\n%s\nplain %d rows\n%s", len(folded), show(folded), len(plain), show(plain))
			}
			if len(plain) == 0 {
				t.Fatal("the condition keeps no row: the test data do not exercise it")
			}
			notFolded := c.field == "f" && c.cond == "is null"
			if got := len(job.Folds()); got != 1 && !notFolded || got != 0 && notFolded {
				t.Fatalf("folds = %+v", job.Folds())
			}
			if p := job.Projections(); len(p) != 1 || len(p[0].Columns) != 10 {
				t.Fatalf("projections = %+v", p)
			}
		})
	}
}

// noFold hides FoldFilter (and keeps Projector) of an origin.
type noFold struct{ *PostgresOrigin }

func (n *noFold) FoldFilter(*openstage.Condition) (string, bool) { return "", false }

func TestPostgresOriginErrors(t *testing.T) {
	conn := needPG(t)
	tbl := pgTable(t, conn)
	pgExec(t, conn, "CREATE TABLE "+tbl+" (id int)")
	cases := []struct {
		name, query string
		params      []any
		table       string
		want        []string
	}{
		{"syntax", "SELECT id\n  FROM " + tbl + " WHERE id = = 1", nil, "", []string{`syntax error at or near "=" (SQLSTATE 42601)`, "at line 2, column " + fmt.Sprint(len(tbl)+20) + " of the query"}},
		{"unknown table", "SELECT * FROM os_no_such_table", nil, "", []string{`relation "os_no_such_table" does not exist (SQLSTATE 42P01)`, "line 1, column 15"}},
		{"unknown table param", "", nil, "os_no_such_table", []string{"reading table 'os_no_such_table'", "does not exist"}},
		{"unknown column", "SELECT idd FROM " + tbl, nil, "", []string{`column "idd" does not exist`, "hint: Perhaps you meant"}},
		{"params", "SELECT * FROM " + tbl + " WHERE id = $1", nil, "", []string{"the query has 1 placeholder(s) ($1 ...) but params has 0 value(s)"}},
		{"both", "SELECT 1", nil, "t", []string{"set query or table, not both"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := pgOrigin(c.query, c.params...)
			o.Table = c.table
			job := openstage.NewJob("e", openstage.NewStage("reader", o))
			o2 := job.Stages()[0]
			o2.AddOutputPipe(openstage.NewPipe("p")).SetDestination(openstage.NewStage("sink", &openstagetest.Sink{}))
			err := job.Validate(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "PostgresOrigin 'reader'") {
				t.Errorf("error %q does not name the stage", err)
			}
		})
	}
	// A value the origin cannot hold fails the run with row and column.
	o := pgOrigin("SELECT 'infinity'::date AS d")
	_, err := openstagetest.RunOrigin(t, o)
	if err == nil || !strings.Contains(err.Error(), "row 1, column 'd' (date): infinity cannot be held") {
		t.Fatalf("infinity: %v", err)
	}
}

var _ arrow.DataType = openstage.Int64
