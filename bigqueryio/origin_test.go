package bigqueryio

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/bqtest"
	"github.com/open-stage/openstage/openstagetest"
)

func origin(e *env, query string, opts ...func(*GCPBigQueryOrigin)) *openstage.Stage {
	return openstage.New("reader", func(o *GCPBigQueryOrigin) {
		o.Conn = e.conn()
		o.Query = query
		for _, f := range opts {
			f(o)
		}
	})
}

// readQuery runs an origin into an in-memory sink.
func readQuery(t *testing.T, o *openstage.Stage) (*openstagetest.Sink, error) {
	t.Helper()
	sink := &openstagetest.Sink{}
	dst := openstage.NewStage("sink", sink)
	connect(o, dst)
	_, err := runJob(t, o, dst)
	return sink, err
}

var orderSchema = bigquery.Schema{
	{Name: "id", Type: bigquery.IntegerFieldType},
	{Name: "country", Type: bigquery.StringFieldType},
	{Name: "amount", Type: bigquery.FloatFieldType},
	{Name: "day", Type: bigquery.DateFieldType},
}

func orderRows(n int) []map[string]any {
	countries := []string{"ES", "FR", "DE"}
	rows := make([]map[string]any, n)
	for i := range rows {
		rows[i] = map[string]any{"id": i + 1, "country": countries[i%3], "amount": float64(i%11) * 2.5, "day": fmt.Sprintf("2025-01-%02d", i%28+1)}
	}
	return rows
}

// The origin's result, read page by page, equals what the test computes
// from the rows it loaded.
func TestOriginQueryPagesAndParams(t *testing.T) {
	e := newEnv(t, bqtest.Options{PageRows: 3})
	rows := orderRows(40)
	e.loadJSON(t, "orders", orderSchema, rows...)
	o := origin(e, "SELECT id, country, amount, day FROM `test-project.ds.orders` WHERE amount >= @min AND day >= @since ORDER BY id", func(o *GCPBigQueryOrigin) {
		o.Params = map[string]any{"min": 5.0, "since": map[string]any{"type": "DATE", "value": "2025-01-05"}}
		o.BatchRows = 4
	})
	sink, err := readQuery(t, o)
	if err != nil {
		t.Fatal(err)
	}
	var want [][]any
	for _, r := range rows {
		day, _ := time.Parse("2006-01-02", r["day"].(string))
		if r["amount"].(float64) >= 5 && r["day"].(string) >= "2025-01-05" {
			want = append(want, []any{int64(r["id"].(int)), r["country"], r["amount"], day})
		}
	}
	if !reflect.DeepEqual(sink.Rows, want) {
		t.Errorf("got %v\nwant %v", sink.Rows, want)
	}
	if sink.Batches != (len(want)+3)/4 {
		t.Errorf("%d batches for %d rows of batch_rows 4", sink.Batches, len(want))
	}
	if got := fmt.Sprint(sink.Schema); !strings.Contains(got, "id: type=int64") || !strings.Contains(got, "day: type=date32") {
		t.Errorf("schema %s", got)
	}
	if st := e.srv.Stats(); st.DryRuns < 1 || st.QueryJobs != 1 || st.Requests < int64(len(want)/3) {
		t.Errorf("stats %+v: want a dry run, one query and a request per page of 3", st)
	}
}

// Every BigQuery type maps to its documented Open-Stage type and value.
func TestOriginTypes(t *testing.T) {
	e := newEnv(t, bqtest.Options{PageRows: 2})
	schema := bigquery.Schema{
		{Name: "i", Type: bigquery.IntegerFieldType},
		{Name: "f", Type: bigquery.FloatFieldType},
		{Name: "n", Type: bigquery.NumericFieldType},
		{Name: "bn", Type: bigquery.BigNumericFieldType},
		{Name: "b", Type: bigquery.BooleanFieldType},
		{Name: "s", Type: bigquery.StringFieldType},
		{Name: "by", Type: bigquery.BytesFieldType},
		{Name: "d", Type: bigquery.DateFieldType},
		{Name: "dt", Type: bigquery.DateTimeFieldType},
		{Name: "tm", Type: bigquery.TimeFieldType},
		{Name: "ts", Type: bigquery.TimestampFieldType},
		{Name: "j", Type: bigquery.JSONFieldType},
		{Name: "g", Type: bigquery.GeographyFieldType},
		{Name: "rep", Type: bigquery.IntegerFieldType, Repeated: true},
		{Name: "rec", Type: bigquery.RecordFieldType, Schema: bigquery.Schema{
			{Name: "x", Type: bigquery.StringFieldType},
			{Name: "when", Type: bigquery.TimestampFieldType},
			{Name: "amount", Type: bigquery.NumericFieldType},
			{Name: "flags", Type: bigquery.BooleanFieldType, Repeated: true},
			{Name: "doc", Type: bigquery.JSONFieldType},
		}},
	}
	e.loadJSON(t, "all", schema,
		map[string]any{"i": math.MinInt64, "f": -1.5e300, "n": "-12345678901234567890123456789.123456789", "bn": "0.00000000000000000000000000000000000001",
			"b": false, "s": "a\tb", "by": "AP8=", "d": "0001-01-01", "dt": "9999-12-31T23:59:59.999999", "tm": "23:59:59.5",
			"ts": "2024-02-29 23:00:00.000001+02:00", "j": map[string]any{"z": 1, "a": []any{true, nil}}, "g": "POINT(1 2)",
			"rep": []any{3, 1, 2}, "rec": map[string]any{"x": "in", "when": "1970-01-01 00:00:01 UTC", "amount": "2.50", "flags": []any{true, false}, "doc": map[string]any{"k": "v"}}},
		map[string]any{},
	)
	sink, err := readQuery(t, origin(e, "SELECT * FROM ds.all ORDER BY i DESC"))
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, f := range sink.Schema.Fields() {
		types = append(types, f.Name+":"+openstage.TypeName(f.Type))
	}
	if got := strings.Join(types, " "); got != "i:int64 f:float64 n:string bn:string b:bool s:string by:string d:date dt:timestamp tm:string ts:timestamp j:string g:string rep:string rec:string" {
		t.Errorf("types %s", got)
	}
	want := [][]any{
		{int64(math.MinInt64), -1.5e300, "-12345678901234567890123456789.123456789", "0.00000000000000000000000000000000000001", false, "a\tb", "AP8=",
			time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), "23:59:59.5",
			time.Date(2024, 2, 29, 21, 0, 0, 1000, time.UTC), `{"a":[true,null],"z":1}`, "POINT(1 2)", "[3,1,2]",
			`{"x":"in","when":"1970-01-01T00:00:01Z","amount":2.5,"flags":[true,false],"doc":{"k":"v"}}`},
		{nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, "[]", nil},
	}
	sort.SliceStable(sink.Rows, func(a, b int) bool { return sink.Rows[a][0] != nil && sink.Rows[b][0] == nil })
	if len(sink.Rows) != 2 {
		t.Fatalf("%d rows", len(sink.Rows))
	}
	for i := range want {
		for j := range want[i] {
			if g, w := sink.Rows[i][j], want[i][j]; !reflect.DeepEqual(g, w) {
				t.Errorf("row %d %s: %#v, want %#v", i, schema[j].Name, g, w)
			}
		}
	}
}

func TestOriginErrors(t *testing.T) {
	e := newEnv(t, bqtest.Options{})
	e.loadJSON(t, "orders", orderSchema, orderRows(3)...)
	for _, tc := range []struct {
		query string
		opts  func(*GCPBigQueryOrigin)
		want  string
	}{
		{"SELECT * FROM `test-project.ds.iris`", nil,
			"GCPBigQueryOrigin 'reader': the query failed: Not found: Table test-project:ds.iris was not found in location US; check the dataset and table names in query"},
		{"SELECT * FROM orders", nil, `Table "orders" must be qualified with a dataset (e.g. dataset.table).; write tables as dataset.table`},
		{"SELECT nope FROM ds.orders", nil, "the query failed: Unrecognized name: nope; check the query"},
		{"SELECT id FROM ds.orders WHERE id > @min", nil, "Query parameter 'min' not found; give every @name of the query in params"},
		{"SELECT 1", func(o *GCPBigQueryOrigin) { o.Params = map[string]any{"x": nil} }, "params: 'x' is null"},
		{"SELECT 1", func(o *GCPBigQueryOrigin) {
			o.Params = map[string]any{"x": map[string]any{"type": "DAY", "value": "1"}}
		}, "params: 'x': type 'DAY' is not one of INT64"},
		{"SELECT 1", func(o *GCPBigQueryOrigin) { o.Params = map[string]any{"x": 1}; o.UseLegacySQL = true }, "params cannot be used with use_legacy_sql: true"},
		{"  ", nil, "query is empty"},
	} {
		opts := []func(*GCPBigQueryOrigin){}
		if tc.opts != nil {
			opts = append(opts, tc.opts)
		}
		_, err := readQuery(t, origin(e, tc.query, opts...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v\nwant %q", tc.query, err, tc.want)
		}
	}
	if st := e.srv.Stats(); st.QueryJobs != 0 {
		t.Errorf("%d queries ran for jobs that failed validation", st.QueryJobs)
	}
}

func TestOriginLegacySQL(t *testing.T) {
	e := newEnv(t, bqtest.Options{})
	e.loadJSON(t, "orders", orderSchema, orderRows(5)...)
	sink, err := readQuery(t, origin(e, "SELECT COUNT(*) AS n FROM [test-project:ds.orders]", func(o *GCPBigQueryOrigin) { o.UseLegacySQL = true }))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sink.Rows, [][]any{{int64(5)}}) {
		t.Errorf("rows %v", sink.Rows)
	}
}

// The emulator convention: BIGQUERY_EMULATOR_HOST=host:port, no endpoint,
// no credentials.
func TestOriginEmulatorHost(t *testing.T) {
	e := newEnv(t, bqtest.Options{})
	e.loadJSON(t, "orders", orderSchema, orderRows(4)...)
	t.Setenv(EmulatorHostEnv, e.srv.Host())
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json") // must not be looked at
	o := openstage.New("reader", func(o *GCPBigQueryOrigin) { o.ProjectID = testProject; o.Query = "SELECT SUM(id) AS s FROM ds.orders" })
	sink, err := readQuery(t, o)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sink.Rows, [][]any{{int64(10)}}) {
		t.Errorf("rows %v", sink.Rows)
	}
}

// Round trip through both stages: what the destination loads, the origin
// reads back unchanged, every Open-Stage type and NULLs included.
func TestRoundTrip(t *testing.T) {
	e := newEnv(t, bqtest.Options{PageRows: 4})
	rows := people(30)
	src := source(peopleSchema, rows, 7)
	dst := destination(e, "people", "WRITE_TRUNCATE")
	connect(src, dst)
	if _, err := runJob(t, src, dst); err != nil {
		t.Fatal(err)
	}
	sink, err := readQuery(t, origin(e, "SELECT * FROM ds.people ORDER BY id"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sink.Rows, rows) {
		t.Errorf("read back\n%v\nwant\n%v", sink.Rows, rows)
	}
	if !sink.Schema.Equal(peopleSchema) {
		t.Errorf("schema read back %v, want %v", sink.Schema, peopleSchema)
	}
	_ = context.Background
}
