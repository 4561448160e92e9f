package sqlio

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

func myOrigin(query string, params ...any) *MySQLOrigin {
	return openstage.New("", func(o *MySQLOrigin) {
		o.DSN = openstage.NewSecret(mysqlDSN())
		o.Query = query
		o.Params = params
	}).Component().(*MySQLOrigin)
}

func myDest(table, mode string, configure ...func(*MySQLDestination)) *MySQLDestination {
	return openstage.New("", func(d *MySQLDestination) {
		d.DSN = openstage.NewSecret(mysqlDSN())
		d.Table = table
		d.Mode = mode
		for _, c := range configure {
			c(d)
		}
	}).Component().(*MySQLDestination)
}

func myQuery(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	var s sql.NullString
	if err := db.QueryRow(q).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s.String
}

func TestMySQLOriginTypes(t *testing.T) {
	db := needMySQL(t)
	tbl := myTable(t, db)
	myExec(t, db, "CREATE TABLE "+tbl+` (ti TINYINT, b BOOLEAN, si SMALLINT, i INT, bi BIGINT, ubi BIGINT UNSIGNED, f FLOAT, d DOUBLE,
		n DECIMAL(20,4), c CHAR(3), v VARCHAR(20), t TEXT, e ENUM('x','y'), j JSON, dt DATE, ts DATETIME(6), tz TIMESTAMP(3) NULL,
		tm TIME, bl BLOB, vb VARBINARY(4), bt BIT(8), y YEAR) DEFAULT CHARSET=utf8mb4`,
		"SET time_zone = '+00:00'",
		"INSERT INTO "+tbl+` VALUES (-128, TRUE, -32768, 2147483647, -9223372036854775808, 9223372036854775807, 1.5, 0.1,
		12345678901234.5678, 'ab', 'héllo "日本"', 'multi\nline', 'y', '{"a": 1}', '2024-02-29', '2024-01-31 12:34:56.123456', '2024-01-31 12:34:56.5',
		'13:14:15', X'00FF10', X'0102', b'101', 2024)`,
		"INSERT INTO "+tbl+" () VALUES ()")
	o := myOrigin("SELECT * FROM " + tbl + " ORDER BY ti IS NULL")
	o.ColumnTypes = map[string]string{"b": "bool"}
	sink := rowsOf(t, o)
	var types []string
	for _, f := range sink.Schema.Fields() {
		types = append(types, f.Type.String())
	}
	if got, want := strings.Join(types, " "), "int64 bool int64 int64 int64 int64 float64 float64 float64 utf8 utf8 utf8 utf8 utf8 date32 timestamp[us, tz=UTC] timestamp[us, tz=UTC] utf8 binary binary int64 int64"; got != want {
		t.Fatalf("types:\n got %s\nwant %s", got, want)
	}
	got := show(sink.Rows)
	want := "-128|true|-32768|2147483647|-9223372036854775808|9223372036854775807|1.5|0.1|1.2345678901234568e+13|ab|héllo \"日本\"|multi\nline|y|{\"a\": 1}|2024-02-29T00:00:00Z|2024-01-31T12:34:56.123456Z|2024-01-31T12:34:56.5Z|13:14:15|AP8Q|AQI=|5|2024\n" +
		strings.Repeat("NULL|", 21) + "NULL\n"
	if got != want {
		t.Fatalf("values:\n got %s\nwant %s", got, want)
	}
	o = myOrigin("SELECT n FROM "+tbl+" WHERE ti = ?", -128)
	o.Decimal = "string"
	if got := show(rowsOf(t, o).Rows); got != "12345678901234.5678\n" {
		t.Fatalf("decimal: string: %q", got)
	}
}

func TestMySQLOriginConformance(t *testing.T) {
	db := needMySQL(t)
	tbl := myTable(t, db)
	myExec(t, db, "CREATE TABLE "+tbl+" (id BIGINT, name TEXT, amount DOUBLE, ok BOOLEAN, day DATE, at DATETIME(6)) DEFAULT CHARSET=utf8mb4")
	var vals []string
	for _, r := range openstagetest.DefaultRows() {
		v := make([]string, len(r))
		for j, x := range r {
			v[j] = sqlLiteral(x)
			if tm, ok := x.(time.Time); ok {
				v[j] = "'" + tm.Format("2006-01-02 15:04:05.999999") + "'"
			}
		}
		vals = append(vals, "("+strings.Join(v, ", ")+")")
	}
	myExec(t, db, "INSERT INTO "+tbl+" VALUES "+strings.Join(vals, ", "))
	origin := func(where string) func(*testing.T) any {
		return func(*testing.T) any {
			o := myOrigin("SELECT * FROM " + tbl + where + " ORDER BY id")
			o.BatchRows = 10
			o.ColumnTypes = map[string]string{"ok": "bool"}
			return o
		}
	}
	openstagetest.TestOrigin(t, openstagetest.OriginCase{New: origin(""), Empty: origin(" WHERE FALSE")})
}

func TestMySQLOriginProjectionAndFold(t *testing.T) {
	db := needMySQL(t)
	tbl := myTable(t, db)
	myExec(t, db, "CREATE TABLE "+tbl+" (id INT, i BIGINT, f DOUBLE, s VARCHAR(10), c CHAR(4), d DATE, ts DATETIME(6), extra TEXT) DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_general_ci")
	r := rand.New(rand.NewPCG(3, 4))
	words := []string{"a", "A", "b", "B", "ä", "Ä", "a ", "", "日本", "zz"}
	var vals []string
	for i := range 500 {
		null := func(s string) string {
			if r.IntN(8) == 0 {
				return "NULL"
			}
			return s
		}
		vals = append(vals, fmt.Sprintf("(%d, %s, %s, %s, %s, %s, %s, 'x')", i, null(fmt.Sprint(r.IntN(20)-10)),
			null([]string{"0.5", "-1.25", "3", "1e300"}[r.IntN(4)]), null(sqlLiteral(words[r.IntN(len(words))])), null(sqlLiteral(words[r.IntN(len(words))])),
			null(fmt.Sprintf("'2024-01-%02d'", 1+r.IntN(5))), null(fmt.Sprintf("'2024-01-01 %02d:00:00.000001'", r.IntN(4)))))
	}
	myExec(t, db, "INSERT INTO "+tbl+" VALUES "+strings.Join(vals, ", "))
	conds := []struct {
		field, cond string
		value       any
		folds       bool
	}{
		{"i", ">", 2, true}, {"i", "!=", 0, true}, {"i", "in", []any{1, 2}, true}, {"i", "between", []any{-2, 2}, true}, {"i", "is null", nil, true},
		{"f", ">", 0.5, true}, {"f", "is not null", nil, true},
		{"s", "=", "a", true}, {"s", "!=", "a", true}, {"s", "<", "b", true}, {"s", ">", "a", true}, {"s", "not in", []any{"a", "ä"}, true},
		{"c", "=", "a", true}, {"c", ">=", "B", true},
		{"d", ">", "2024-01-03", true}, {"ts", "<=", "2024-01-01T02:00:00.000001Z", true},
	}
	run := func(t *testing.T, fold bool, field, cond string, value any) ([][]any, *openstage.Job) {
		o := myOrigin("SELECT * FROM " + tbl + " ORDER BY id")
		o.BatchRows = 64
		var origin any = o
		if !fold {
			origin = &noFoldMy{o}
		}
		src := openstage.NewStage("reader", origin)
		sink := &openstagetest.Sink{}
		src.AddOutputPipe(openstage.NewPipe("rows")).SetDestination(stages.NewFilter("filter", field, cond, value)).
			AddOutputPipe(openstage.NewPipe("kept")).SetDestination(openstage.NewStage("pick", &pick{cols: []string{"id", "i", "f", "s", "c", "d", "ts"}})).
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
				t.Fatalf("folded and plain runs differ:\nfolded %d rows\nplain %d rows\n%s", len(folded), len(plain), job.Folds())
			}
			if len(plain) == 0 {
				t.Fatal("the condition keeps no row")
			}
			if (len(job.Folds()) == 1) != c.folds {
				t.Fatalf("folds = %+v", job.Folds())
			}
			if p := job.Projections(); len(p) != 1 || len(p[0].Columns) != 7 {
				t.Fatalf("projections = %+v", p)
			}
		})
	}
}

type noFoldMy struct{ *MySQLOrigin }

func (n *noFoldMy) FoldFilter(*openstage.Condition) (string, bool) { return "", false }

func myRows(t *testing.T, db *sql.DB, q string) ([][]any, bool) {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		if strings.Contains(err.Error(), "doesn't exist") {
			return nil, false
		}
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		var id sql.NullInt64
		var name sql.NullString
		var amount sql.NullFloat64
		var ok sql.NullBool
		var day, at sql.NullString
		if err := rows.Scan(&id, &name, &amount, &ok, &day, &at); err != nil {
			t.Fatal(err)
		}
		row := []any{nil, nil, nil, nil, nil, nil}
		if id.Valid {
			row[0] = id.Int64
		}
		if name.Valid {
			row[1] = name.String
		}
		if amount.Valid {
			row[2] = amount.Float64
		}
		if ok.Valid {
			row[3] = ok.Bool
		}
		if day.Valid {
			row[4], _ = time.Parse("2006-01-02", day.String)
		}
		if at.Valid {
			row[5], _ = time.Parse("2006-01-02 15:04:05.999999", at.String)
		}
		out = append(out, row)
	}
	return out, true
}

func TestMySQLDestinationConformance(t *testing.T) {
	db := needMySQL(t)
	for _, c := range []struct{ mode, bulk string }{{"append", "load_data"}, {"append", "insert"}, {"replace", "load_data"}, {"upsert", "load_data"}} {
		t.Run(c.mode+"_"+c.bulk, func(t *testing.T) {
			tbl := myTable(t, db)
			openstagetest.TestDestination(t, openstagetest.DestinationCase{
				New: func(*testing.T) any {
					return myDest(tbl, c.mode, func(d *MySQLDestination) {
						d.CreateIfMissing = true
						d.Bulk = c.bulk
						d.BatchRows = 7
						if c.mode == "upsert" {
							d.Key = openstage.Strings{"id"}
						}
					})
				},
				Read: func(t *testing.T) ([][]any, bool) {
					return myRows(t, db, "SELECT id, name, amount, ok, day, at FROM "+tbl+" ORDER BY id")
				},
			})
			if got := myQuery(t, db, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE '"+tbl+"\\_\\_openstage%'"); got != "0" {
				t.Fatalf("%s staging tables left behind", got)
			}
		})
	}
}

func TestMySQLDestinationModes(t *testing.T) {
	db := needMySQL(t)
	tbl := myTable(t, db)
	schema := openstage.NewSchema("id", openstage.Int64, "name", openstage.String)
	rows := func(ids ...int) [][]any {
		var out [][]any
		for _, i := range ids {
			out = append(out, []any{int64(i), fmt.Sprint("v", i)})
		}
		return out
	}
	state := func() string {
		return myQuery(t, db, "SELECT IFNULL(GROUP_CONCAT(CONCAT(id, '=', name) ORDER BY id SEPARATOR ','), '') FROM "+tbl)
	}
	steps := []struct {
		mode string
		key  []string
		ids  []int
		want string
		err  string
	}{
		{"append", nil, []int{1}, "", "table '" + tbl + "' does not exist; create it first"},
		{"create", []string{"id"}, []int{1, 2}, "1=v1,2=v2", ""},
		{"create", nil, []int{1}, "1=v1,2=v2", "already exists and mode is create"},
		{"append", nil, []int{3}, "1=v1,2=v2,3=v3", ""},
		{"append", nil, []int{4, 3}, "1=v1,2=v2,3=v3", "Duplicate entry '3' for key 'PRIMARY'"},
		{"truncate", nil, []int{5, 6}, "5=v5,6=v6", ""},
		{"upsert", []string{"id"}, []int{6, 7}, "5=v5,6=v6,7=v7", ""},
		{"upsert", []string{"name"}, []int{8}, "5=v5,6=v6,7=v7", "upsert needs a primary key or unique index on name of table '" + tbl + "'; its unique keys: (id)"},
		{"replace", nil, []int{1}, "1=v1", ""},
		{"append", nil, []int{1}, "1=v1,1=v1", ""},
	}
	for i, s := range steps {
		err := load(t, myDest(tbl, s.mode, func(d *MySQLDestination) { d.Key = s.key }), schema, rows(s.ids...), 1)
		if s.err == "" && err != nil || s.err != "" && (err == nil || !strings.Contains(err.Error(), s.err)) {
			t.Fatalf("step %d (%s %v): error %v, want %q", i+1, s.mode, s.ids, err, s.err)
		}
		if i > 0 {
			if got := state(); got != s.want {
				t.Fatalf("step %d (%s %v): table holds %q, want %q", i+1, s.mode, s.ids, got, s.want)
			}
		}
	}
	myExec(t, db, "DELETE FROM "+tbl, "ALTER TABLE "+tbl+" ADD PRIMARY KEY (id)", "INSERT INTO "+tbl+" VALUES (1, 'old')")
	if err := load(t, myDest(tbl, "upsert", func(d *MySQLDestination) { d.Key = openstage.Strings{"id"} }), schema, [][]any{{int64(1), "new"}, {int64(2), nil}}, 1); err != nil {
		t.Fatal(err)
	}
	if got := myQuery(t, db, "SELECT GROUP_CONCAT(CONCAT(id, '=', IFNULL(name, 'NULL')) ORDER BY id) FROM "+tbl); got != "1=new,2=NULL" {
		t.Fatalf("after upsert: %s", got)
	}
}

func TestMySQLDestinationFailuresLeaveTableUnchanged(t *testing.T) {
	db := needMySQL(t)
	tbl := myTable(t, db)
	myExec(t, db, "CREATE TABLE "+tbl+" (id BIGINT PRIMARY KEY, code VARCHAR(5), n INT) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
	for i := 1; i <= 1000; i += 100 {
		var v []string
		for j := i; j < i+100; j++ {
			v = append(v, fmt.Sprintf("(%d, 'c%d', %d)", j, j%1000, j))
		}
		myExec(t, db, "INSERT INTO "+tbl+" VALUES "+strings.Join(v, ","))
	}
	fingerprint := func() string {
		return myQuery(t, db, "SELECT CONCAT(COUNT(*), ':', MD5(GROUP_CONCAT(id, code, n ORDER BY id))) FROM "+tbl)
	}
	myExec(t, db, "SET SESSION group_concat_max_len = 1000000")
	before := fingerprint()
	schema := openstage.NewSchema("id", openstage.Int64, "code", openstage.String, "n", openstage.Int64)
	big := func(bad int, badRow []any) [][]any {
		rows := make([][]any, 100000)
		for i := range rows {
			rows[i] = []any{int64(100000 + i), "x", int64(i)}
		}
		if badRow != nil {
			rows[bad] = badRow
		}
		return rows
	}
	for _, bulk := range []string{"load_data", "insert"} {
		cases := []struct {
			name string
			rows [][]any
			want string
		}{
			{"constraint half-way", big(50000, []any{int64(7), "dup", int64(1)}), "Duplicate entry '7' for key 'PRIMARY'"},
			{"value too long", big(70000, []any{int64(1), "toolong", int64(1)}), "for column 'code' at row"},
			{"out of range", big(99999, []any{int64(1), "ok", int64(1) << 40}), "Out of range value for column"},
		}
		for _, c := range cases {
			t.Run(bulk+" "+c.name, func(t *testing.T) {
				err := load(t, myDest(tbl, "append", func(d *MySQLDestination) { d.Bulk = bulk }), schema, c.rows, 8192)
				if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "MySQLDestination 'stage': loading table '"+tbl+"'") {
					t.Fatalf("error %v, want %q", err, c.want)
				}
				if bulk == "load_data" && !strings.Contains(err.Error(), "warning(s) while loading, so nothing is committed") {
					t.Errorf("error %v does not say the warnings failed the load", err)
				}
				if after := fingerprint(); after != before {
					t.Fatalf("the table changed: %s, was %s", after, before)
				}
			})
		}
	}
	for _, mode := range []string{"append", "truncate", "replace", "upsert"} {
		t.Run("cancelled "+mode, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			dest := openstage.NewStage("dest", myDest(tbl, mode, func(d *MySQLDestination) {
				if mode == "upsert" {
					d.Key = openstage.Strings{"id"}
				}
			}))
			src := openstage.NewStage("src", &openstagetest.FailingSource{Source: openstagetest.Source{Schema: schema, Rows: big(0, nil), BatchRows: 10000}, After: 5, Cancel: cancel})
			src.AddOutputPipe(openstage.NewPipe("in")).SetDestination(dest)
			job := openstage.NewJob("cancel", src)
			job.Allocator = checked(t)
			if err := job.Run(ctx); err == nil || !strings.Contains(err.Error(), "job cancelled") {
				t.Fatalf("cancelled job returned %v", err)
			}
			if after := fingerprint(); after != before {
				t.Fatalf("the table changed: %s, was %s", after, before)
			}
		})
	}
}

func TestMySQLRoundTrip(t *testing.T) {
	db := needMySQL(t)
	tbl := myTable(t, db)
	roundTrip(t, roundTripCase{
		write: func(*arrow.Schema) any { return myDest(tbl, "create") },
		read: func() any {
			o := myOrigin("SELECT * FROM " + tbl + " ORDER BY id")
			o.ColumnTypes = map[string]string{"ok": "bool"} // BOOLEAN is TINYINT(1)
			return o
		},
		client: func() string {
			return mariadb(t, "SELECT id, IFNULL(name, 'NULL'), IFNULL(amount, 'NULL'), IFNULL(ok, 'NULL'), IFNULL(day, 'NULL'), IFNULL(DATE_FORMAT(at, '%Y-%m-%dT%H:%i:%s.%fZ'), 'NULL') FROM "+tbl+" ORDER BY id")
		},
		clientBool: [2]string{"1", "0"},
		clientFloat: func(f float64) string {
			return strconv.FormatFloat(f, 'f', -1, 64) // MariaDB writes 1e-7 as 0.0000001
		},
	})
	if got := mariadb(t, "SELECT GROUP_CONCAT(CONCAT(column_name, ' ', column_type) ORDER BY ordinal_position SEPARATOR ', ') FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = '"+tbl+"'"); got != "id bigint(20), name longtext, amount double, ok tinyint(1), day date, at datetime(6)\n" {
		t.Fatalf("created columns: %s", got)
	}
}
