package sqlio

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

// The ranges cover every value once, whatever the bounds and the count.
func TestPartitionRangesCoverTheDomain(t *testing.T) {
	p := &partition{col: "id", kind: partInt}
	for _, c := range []struct {
		n      int
		lo, hi int64
	}{{4, 0, 99}, {3, 10, 11}, {7, 5, 5}, {100, 0, 9}, {5, -1000, 1000}, {3, math.MinInt64, math.MaxInt64}, {2, 10, 3}} {
		rs := p.ranges(c.n, c.lo, c.hi)
		if len(rs) == 0 || len(rs) > c.n {
			t.Fatalf("%+v: %d ranges", c, len(rs))
		}
		for i, r := range rs {
			if r.N != i || r.Of != len(rs) || r.Lo > r.Hi || i > 0 && r.Lo != rs[i-1].Hi {
				t.Fatalf("%+v: ranges %+v", c, rs)
			}
		}
		// Each probe value falls in exactly one range (the first takes
		// what is below, the last what is above).
		in := func(r Range, v int64) bool {
			switch {
			case r.Of == 1:
				return true
			case r.N == 0:
				return v < r.Hi
			case r.N == r.Of-1:
				return v >= r.Lo
			}
			return v >= r.Lo && v < r.Hi
		}
		for _, v := range []int64{math.MinInt64, c.lo - 1, c.lo, c.lo + 1, (c.lo + c.hi) / 2, c.hi - 1, c.hi, c.hi + 1, math.MaxInt64} {
			n := 0
			for _, r := range rs {
				if in(r, v) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%+v: value %d is in %d of the ranges %+v", c, v, n, rs)
			}
		}
		if c.hi >= c.lo && c.hi-c.lo < 1000 && c.hi-c.lo+1 >= int64(c.n) && len(rs) != c.n {
			t.Fatalf("%+v: %d ranges, want %d", c, len(rs), c.n)
		}
	}
	d := &partition{col: "day", kind: partDate}
	r := Range{N: 1, Of: 3, Lo: 19723, Hi: 19724}
	if got := d.where(postgresDialect, r); got != `openstage_q."day" >= DATE '2024-01-01' AND openstage_q."day" < DATE '2024-01-02'` {
		t.Fatalf("date range: %s", got)
	}
	ts := &partition{col: "at", kind: partTimestamp, tz: true}
	if got := ts.where(mysqlDialect, Range{N: 0, Of: 2, Hi: 1_700_000_000_000_001}); got != "(openstage_q.`at` < TIMESTAMP '2023-11-14 22:13:20.000001' OR openstage_q.`at` IS NULL)" {
		t.Fatalf("mysql timestamp range: %s", got)
	}
}

// pgPartData fills a table with rows whose partition columns have NULLs,
// skew (most ids in 0..99, a few far away), negative values and ties.
func pgPartData(t *testing.T) string {
	conn := needPG(t)
	tbl := pgTable(t, conn)
	pgExec(t, conn, "CREATE TABLE "+tbl+" (id int, big int8, s text, d date, ts timestamp, tz timestamptz)")
	r := rand.New(rand.NewPCG(7, 8))
	var vals []string
	for i := range 2000 {
		null := func(s string) string {
			if r.IntN(9) == 0 {
				return "NULL"
			}
			return s
		}
		id := fmt.Sprint(r.IntN(100))
		switch r.IntN(50) {
		case 0:
			id = fmt.Sprint(1_000_000 + r.IntN(10))
		case 1:
			id = fmt.Sprint(-r.IntN(500))
		}
		vals = append(vals, fmt.Sprintf("(%s, %s, 'r%d', %s, %s, %s)", null(id), null(fmt.Sprint(r.Int64()-r.Int64())), i,
			null(fmt.Sprintf("'2024-%02d-%02d'", 1+r.IntN(12), 1+r.IntN(28))),
			null(fmt.Sprintf("'2024-01-01 %02d:%02d:%02d.%06d'", r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000000))),
			null(fmt.Sprintf("'2023-12-31 %02d:00:00+05'", r.IntN(24)))))
	}
	pgExec(t, conn, "INSERT INTO "+tbl+" VALUES "+strings.Join(vals, ", "))
	return tbl
}

// sorted is a multiset of rows as text.
func sorted(rows [][]any) []string {
	lines := strings.Split(strings.TrimSuffix(show(rows), "\n"), "\n")
	if len(rows) == 0 {
		lines = nil
	}
	slices.Sort(lines)
	return lines
}

func TestPostgresOriginPartitions(t *testing.T) {
	tbl := pgPartData(t)
	whole := rowsOf(t, pgOrigin("SELECT * FROM "+tbl)).Rows
	if len(whole) != 2000 {
		t.Fatalf("%d rows", len(whole))
	}
	// psql's own reading of the table, for the ids and names.
	var byPsql []string
	for l := range strings.SplitSeq(strings.TrimSpace(psql(t, "SELECT coalesce(id::text, 'NULL'), s FROM "+tbl)), "\n") {
		byPsql = append(byPsql, strings.ReplaceAll(l, "\t", "|"))
	}
	slices.Sort(byPsql)
	cases := []struct {
		col    string
		n      int
		lo, hi any
	}{
		{"id", 4, nil, nil}, {"id", 3, 10, 50}, {"id", 5, 1000, 2000}, {"id", 3, nil, 40}, {"id", 1, nil, nil},
		{"big", 6, nil, nil}, {"d", 3, nil, nil}, {"d", 4, "2024-03-01", "2024-06-30"},
		{"ts", 4, "2024-01-01 06:00:00", "2024-01-01 18:00:00.5"}, {"tz", 2, nil, nil}, {"id", 50, 0, 9},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s %d %v %v", c.col, c.n, c.lo, c.hi), func(t *testing.T) {
			o := pgOrigin("SELECT * FROM " + tbl)
			o.PartitionColumn, o.Partitions, o.LowerBound, o.UpperBound = c.col, c.n, c.lo, c.hi
			o.BatchRows = 100
			got := rowsOf(t, o, openstagetest.Workers(3)).Rows
			checkPartitioned(t, got, whole, 2, byPsql)
			// The rows come range after range.
			ranges, err := o.Ranges(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if c.n > 1 && c.col != "id" || c.col == "id" && len(ranges) < min(c.n, 2) {
				return
			}
			last := 0
			for _, r := range got {
				k := rangeOfInt(ranges, r[0])
				if k < last {
					t.Fatalf("a row of range %d came after range %d", k+1, last+1)
				}
				last = k
			}
		})
	}
}

func rangeOfInt(rs []Range, v any) int {
	if v == nil {
		return 0
	}
	x := v.(int64)
	for i, r := range rs {
		if i == len(rs)-1 || x < r.Hi {
			return i
		}
	}
	return 0
}

// A partitioned origin still gets its projection and folded filter, and
// the filter's parameters stay parameters.
func TestPostgresOriginPartitionsFoldAndProject(t *testing.T) {
	tbl := pgPartData(t)
	run := func(part bool) ([][]any, *openstage.Job) {
		o := pgOrigin("SELECT * FROM " + tbl)
		if part {
			o.PartitionColumn, o.Partitions = "d", 3
		}
		src := openstage.NewStage("reader", o)
		sink := &openstagetest.Sink{}
		src.AddOutputPipe(openstage.NewPipe("rows")).SetDestination(stages.NewFilter("filter", "id", "between", []any{5, 60})).
			AddOutputPipe(openstage.NewPipe("kept")).SetDestination(openstage.NewStage("pick", &pick{cols: []string{"id", "s"}})).
			AddOutputPipe(openstage.NewPipe("out")).SetDestination(openstage.NewStage("sink", sink))
		job := openstage.NewJob("fold", src)
		job.Allocator = checked(t)
		job.Workers = 2
		if err := job.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return sink.Rows, job
	}
	plain, _ := run(false)
	got, job := run(true)
	if len(plain) == 0 || !slices.Equal(sorted(got), sorted(plain)) {
		t.Fatalf("partitioned %d rows, plain %d", len(got), len(plain))
	}
	if len(job.Folds()) != 1 || len(job.Projections()) != 1 || len(job.Projections()[0].Columns) != 2 {
		t.Fatalf("folds %+v, projections %+v", job.Folds(), job.Projections())
	}
}

func TestPostgresOriginPartitionsEdges(t *testing.T) {
	conn := needPG(t)
	tbl := pgTable(t, conn)
	pgExec(t, conn, "CREATE TABLE "+tbl+" (id int, v text)")
	read := func(n int) [][]any {
		o := pgOrigin("SELECT * FROM " + tbl)
		o.PartitionColumn, o.Partitions = "id", n
		return rowsOf(t, o).Rows
	}
	if got := read(4); len(got) != 0 { // empty: min and max are NULL
		t.Fatalf("empty table: %v", got)
	}
	pgExec(t, conn, "INSERT INTO "+tbl+" SELECT NULL, 'n' || g FROM generate_series(1, 30) g")
	if got := read(4); len(got) != 30 {
		t.Fatalf("only NULLs: %d rows", len(got))
	}
	pgExec(t, conn, "INSERT INTO "+tbl+" SELECT 7, 'v' || g FROM generate_series(1, 40) g")
	if got := read(4); len(got) != 70 {
		t.Fatalf("one value and NULLs: %d rows", len(got))
	}
	o := pgOrigin("SELECT * FROM " + tbl)
	o.PartitionColumn, o.Partitions = "id", 4
	rowsOf(t, o)
	if rs, err := o.Ranges(context.Background()); err != nil || len(rs) != 1 {
		t.Fatalf("a single-value domain is one range: %+v %v", rs, err)
	}
}

// The mistakes of partition_column are refused when the job is validated,
// in the job file's words.
func TestPartitionErrors(t *testing.T) {
	tbl := pgPartData(t)
	cases := []struct {
		set  func(*Read)
		want string
	}{
		{func(r *Read) { r.PartitionColumn, r.Partitions = "idd", 2 }, "partition_column: the query has no column 'idd'; its columns: id, big, s, d, ts, tz (did you mean 'id'?)"},
		{func(r *Read) { r.PartitionColumn, r.Partitions = "s", 2 }, "partition_column 's' is a text column, which cannot be cut into ranges: choose an integer, date or timestamp column"},
		{func(r *Read) { r.PartitionColumn = "id" }, "partitions must be 1 or more with partition_column 'id', got 0"},
		{func(r *Read) { r.PartitionColumn, r.Partitions = "id", -2 }, "partitions must be 1 or more with partition_column 'id', got -2"},
		{func(r *Read) { r.PartitionColumn, r.Partitions, r.LowerBound, r.UpperBound = "id", 2, 50, 10 }, "lower_bound (50) is above upper_bound (10): swap them"},
		{func(r *Read) { r.PartitionColumn, r.Partitions, r.LowerBound = "d", 2, "March" }, "lower_bound: March is not a date, which partition_column 'd' (date) needs"},
		{func(r *Read) { r.PartitionColumn, r.Partitions, r.UpperBound = "id", 2, "2024-01-01" }, "upper_bound: 2024-01-01 is not a integer"},
		{func(r *Read) { r.Partitions = 3 }, "partitions, lower_bound and upper_bound go with partition_column"},
	}
	for _, c := range cases {
		o := pgOrigin("SELECT * FROM " + tbl)
		c.set(&o.Read)
		_, err := openstagetest.RunOrigin(t, o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v\nwant %q", err, c.want)
		}
	}
	// SQL Server and Oracle refuse it before connecting.
	o := openstage.New("", func(o *SQLOrigin) {
		o.Driver, o.Host, o.Query, o.PartitionColumn, o.Partitions = "sqlserver", "192.0.2.1", "SELECT 1 AS x", "x", 2
	}).Component()
	_, err := openstagetest.RunOrigin(t, o)
	if err == nil || !strings.Contains(err.Error(), "partition_column is not available for SQL Server") {
		t.Errorf("sqlserver: %v", err)
	}
}

// A bad value in one range fails the job naming the stage, the range and
// the column, and the destination commits nothing.
func TestPostgresOriginPartitionFailureCommitsNothing(t *testing.T) {
	conn := needPG(t)
	tbl := pgTable(t, conn)
	out := tbl + "_out"
	pgExec(t, conn, "DROP TABLE IF EXISTS "+out, "CREATE TABLE "+tbl+" (id int, d date)",
		"INSERT INTO "+tbl+" SELECT g, DATE '2024-01-01' + g FROM generate_series(1, 400) g",
		"UPDATE "+tbl+" SET d = 'infinity' WHERE id = 250")
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP TABLE IF EXISTS "+out) })
	o := pgOrigin("SELECT * FROM " + tbl)
	o.PartitionColumn, o.Partitions, o.LowerBound, o.UpperBound, o.BatchRows = "id", 4, 1, 400, 10
	src := openstage.NewStage("reader", o)
	src.AddOutputPipe(openstage.NewPipe("rows")).SetDestination(openstage.NewStage("writer", pgDest(out, "create")))
	job := openstage.NewJob("fail", src)
	job.Workers = 4
	err := job.Run(context.Background())
	want := "PostgresOrigin 'reader': partition_column 'id': range 3 of 4 (id >= 201 and < 301): query: row "
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), ", column 'd' (date): infinity cannot be held in a date column") {
		t.Fatalf("got %v\nwant %q", err, want)
	}
	if got := psql(t, "SELECT to_regclass('"+out+"') IS NULL"); strings.TrimSpace(got) != "t" {
		t.Fatalf("the destination table exists after the failed job")
	}
}

func TestPostgresOriginPartitionedConformance(t *testing.T) {
	conn := needPG(t)
	tbl := pgTable(t, conn)
	pgExec(t, conn, "CREATE TABLE "+tbl+" (id bigint, name text, amount float8, ok boolean, day date, at timestamptz)")
	var vals []string
	for _, r := range openstagetest.DefaultRows() {
		v := make([]string, len(r))
		for j, x := range r {
			v[j] = sqlLiteral(x)
		}
		vals = append(vals, "("+strings.Join(v, ", ")+")")
	}
	pgExec(t, conn, "INSERT INTO "+tbl+" VALUES "+strings.Join(vals, ", "))
	origin := func(where string) func(*testing.T) any {
		return func(*testing.T) any {
			o := pgOrigin("SELECT * FROM " + tbl + where + " ORDER BY id")
			o.BatchRows = 10
			o.PartitionColumn, o.Partitions = "id", 3
			return o
		}
	}
	openstagetest.TestOrigin(t, openstagetest.OriginCase{New: origin(""), Empty: origin(" WHERE false"), Options: []openstagetest.Option{openstagetest.Workers(2)}})
}

func TestMySQLOriginPartitions(t *testing.T) {
	db := needMySQL(t)
	tbl := myTable(t, db)
	myExec(t, db, "CREATE TABLE "+tbl+" (id INT, s VARCHAR(20), d DATE, dt DATETIME(6), ts TIMESTAMP(6) NULL)")
	r := rand.New(rand.NewPCG(3, 4))
	var vals []string
	for i := range 1500 {
		null := func(s string) string {
			if r.IntN(8) == 0 {
				return "NULL"
			}
			return s
		}
		id := fmt.Sprint(r.IntN(60))
		if r.IntN(40) == 0 {
			id = fmt.Sprint(50000 + r.IntN(5))
		}
		vals = append(vals, fmt.Sprintf("(%s, 'r%d', %s, %s, %s)", null(id), i,
			null(fmt.Sprintf("'2023-%02d-%02d'", 1+r.IntN(12), 1+r.IntN(28))),
			null(fmt.Sprintf("'2023-05-01 %02d:%02d:00.%06d'", r.IntN(24), r.IntN(60), r.IntN(1000000))),
			null(fmt.Sprintf("'2023-05-02 %02d:00:00'", r.IntN(24)))))
	}
	myExec(t, db, "INSERT INTO "+tbl+" VALUES "+strings.Join(vals, ", "))
	whole := rowsOf(t, myOrigin("SELECT * FROM "+tbl)).Rows
	var byClient []string
	for l := range strings.SplitSeq(strings.TrimSpace(mariadb(t, "SELECT id, s FROM "+tbl)), "\n") {
		byClient = append(byClient, strings.ReplaceAll(l, "\t", "|"))
	}
	slices.Sort(byClient)
	for _, c := range []struct {
		col    string
		n      int
		lo, hi any
	}{{"id", 4, nil, nil}, {"id", 3, 10, 30}, {"d", 5, nil, nil}, {"dt", 3, "2023-05-01 04:00:00", "2023-05-01 20:00:00"}, {"ts", 4, nil, nil}, {"id", 2, 100000, nil}} {
		t.Run(fmt.Sprintf("%s %d %v %v", c.col, c.n, c.lo, c.hi), func(t *testing.T) {
			o := myOrigin("SELECT * FROM " + tbl)
			o.PartitionColumn, o.Partitions, o.LowerBound, o.UpperBound, o.BatchRows = c.col, c.n, c.lo, c.hi, 64
			got := rowsOf(t, o, openstagetest.Workers(3)).Rows
			checkPartitioned(t, got, whole, 1, byClient)
		})
	}
}

func TestSQLiteOriginPartitions(t *testing.T) {
	path := t.TempDir() + "/p.db"
	db := liteDB(t, path)
	if _, err := db.Exec("CREATE TABLE t (id INTEGER, d DATE, s TEXT)"); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		id := any(i % 37)
		if i%11 == 0 {
			id = nil
		}
		if _, err := db.Exec("INSERT INTO t VALUES (?, ?, ?)", id, fmt.Sprintf("2024-02-%02d", 1+i%28), fmt.Sprint("s", i)); err != nil {
			t.Fatal(err)
		}
	}
	read := func(col string, n int) [][]any {
		o := openstage.New("", func(o *SQLiteOrigin) {
			o.Path, o.Query, o.PartitionColumn, o.Partitions = path, "SELECT * FROM t", col, n
		}).Component()
		return rowsOf(t, o, openstagetest.Workers(2)).Rows
	}
	whole := read("", 0)
	for _, col := range []string{"id", "d"} {
		if got := read(col, 4); len(whole) != 300 || !slices.Equal(sorted(got), sorted(whole)) {
			t.Fatalf("%s: partitioned %d rows, whole %d", col, len(got), len(whole))
		}
	}
}

// Locally the ranges of a PostgresOrigin read one snapshot, while another
// session commits; read range by range without it (as Beam's workers do),
// they do not.
func TestPostgresOriginPartitionsOneSnapshot(t *testing.T) {
	conn := needPG(t)
	tbl := pgTable(t, conn)
	pgExec(t, conn, "CREATE TABLE "+tbl+" (n int)")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writer, err := pgx.Connect(ctx, pgDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close(context.Background())
	done := make(chan int)
	go func() { // commits while the origin reads
		n := 0
		for ctx.Err() == nil {
			if _, err := writer.Exec(ctx, "INSERT INTO "+tbl+" VALUES (1)"); err == nil {
				n++
			}
		}
		done <- n
	}()
	query := "SELECT g AS id, pg_current_snapshot()::text AS snap FROM generate_series(1, 400000) g"
	snaps := func(rows [][]any) map[any]bool {
		m := map[any]bool{}
		for _, r := range rows {
			m[r[1]] = true
		}
		return m
	}
	o := pgOrigin(query)
	o.PartitionColumn, o.Partitions, o.BatchRows = "id", 8, 1000
	local := rowsOf(t, o, openstagetest.Workers(1)).Rows
	// The same ranges, each on its own connection, without the snapshot.
	var apart [][]any
	ranges, err := o.Ranges(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ranges {
		err := o.PumpRange(context.Background(), memory.DefaultAllocator, r, func(rec arrow.RecordBatch) error {
			apart = append(apart, openstagetest.RowsOf(rec)...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	commits := <-done
	if len(local) != 400000 || len(apart) != 400000 {
		t.Fatalf("%d and %d rows", len(local), len(apart))
	}
	if s := snaps(local); len(s) != 1 {
		t.Fatalf("the local ranges read %d snapshots: %v", len(s), s)
	}
	if s := snaps(apart); len(s) < 2 {
		t.Fatalf("read apart, while %d transactions committed, the ranges saw one snapshot: the test does not test the export", commits)
	}
}

// checkPartitioned fails t unless got (a partitioned read) is whole (the
// unpartitioned read) as a multiset, and its ids (column 0) and names
// (column name) are those the database's client printed (client, sorted).
func checkPartitioned(t *testing.T, got, whole [][]any, name int, client []string) {
	t.Helper()
	if !slices.Equal(sorted(got), sorted(whole)) {
		t.Fatalf("the partitioned read (%d rows) is not the whole read (%d rows) as a multiset", len(got), len(whole))
	}
	var ids []string
	for _, r := range got {
		id := "NULL"
		if r[0] != nil {
			id = fmt.Sprint(r[0])
		}
		ids = append(ids, id+"|"+r[name].(string))
	}
	slices.Sort(ids)
	if !slices.Equal(ids, client) {
		t.Fatal("the ids and names differ from those the database's own client printed")
	}
}
