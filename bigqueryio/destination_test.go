package bigqueryio

import (
	"context"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/bqtest"
)

var peopleSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: openstage.Int64, Nullable: true},
	{Name: "name", Type: openstage.String, Nullable: true},
	{Name: "score", Type: openstage.Float64, Nullable: true},
	{Name: "active", Type: openstage.Bool, Nullable: true},
	{Name: "born", Type: openstage.Date, Nullable: true},
	{Name: "seen", Type: openstage.Timestamp, Nullable: true},
}, nil)

func people(n int) [][]any {
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{int64(i + 1), fmt.Sprintf("person \"%d\"\n", i+1), float64(i) / 4, i%2 == 0,
			time.Date(1990, 1, 1+i, 0, 0, 0, 0, time.UTC), time.Date(2024, 5, 6, 7, 8, 9, i*1000, time.UTC)}
	}
	if n > 1 {
		rows[1] = []any{int64(2), nil, nil, nil, nil, nil}
	}
	return rows
}

func destination(e *env, table, write string, opts ...func(*GCPBigQueryDestination)) *openstage.Stage {
	return openstage.New("writer", func(d *GCPBigQueryDestination) {
		d.Conn = e.conn()
		d.Dataset, d.Table, d.WriteDisposition, d.CreateDisposition = "ds", table, write, "CREATE_IF_NEEDED"
		for _, o := range opts {
			o(d)
		}
	})
}

func connect(src, dst *openstage.Stage) {
	src.AddOutputPipe(openstage.NewPipe("p")).SetDestination(dst)
}

// The rows as the SDK reads them back from the table.
func wantPeople(rows [][]any) [][]bigquery.Value {
	out := make([][]bigquery.Value, len(rows))
	for i, r := range rows {
		w := make([]bigquery.Value, len(r))
		for j, v := range r {
			switch x := v.(type) {
			case time.Time:
				if j == 4 {
					w[j] = civil.DateOf(x)
				} else {
					w[j] = x
				}
			default:
				w[j] = v
			}
		}
		out[i] = w
	}
	return out
}

func TestDestinationCreatesTableAndLoads(t *testing.T) {
	e := newEnv(t, bqtest.Options{})
	rows := people(7)
	src := source(peopleSchema, rows, 3)
	dst := destination(e, "people", "WRITE_EMPTY")
	connect(src, dst)
	if _, err := runJob(t, src, dst); err != nil {
		t.Fatal(err)
	}
	md, err := e.client.Dataset("ds").Table("people").Metadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, f := range md.Schema {
		types = append(types, fmt.Sprintf("%s:%s:%v", f.Name, f.Type, f.Required))
	}
	if got := strings.Join(types, " "); got != "id:INTEGER:false name:STRING:false score:FLOAT:false active:BOOLEAN:false born:DATE:false seen:TIMESTAMP:false" {
		t.Errorf("created schema %s", got)
	}
	if got, want := e.tableRows(t, "people"), wantPeople(rows); !reflect.DeepEqual(got, want) {
		t.Errorf("table holds\n%v\nwant\n%v", got, want)
	}
	if st := e.srv.Stats(); st.LoadJobs != 1 {
		t.Errorf("%d load jobs, want 1", st.LoadJobs)
	}
}

func TestDestinationWriteDispositions(t *testing.T) {
	e := newEnv(t, bqtest.Options{})
	run := func(write string, rows [][]any) error {
		src := source(peopleSchema, rows, 0)
		dst := destination(e, "t", write)
		connect(src, dst)
		_, err := runJob(t, src, dst)
		return err
	}
	if err := run("WRITE_TRUNCATE", people(3)); err != nil {
		t.Fatal(err)
	}
	if err := run("WRITE_APPEND", people(2)); err != nil {
		t.Fatal(err)
	}
	if n := len(e.tableRows(t, "t")); n != 5 {
		t.Errorf("after append: %d rows, want 5", n)
	}
	before := e.tableRows(t, "t")
	loads := e.srv.Stats().LoadJobs
	err := run("WRITE_EMPTY", people(1))
	if err == nil || !strings.Contains(err.Error(), "table test-project:ds.t has 5 rows and write_disposition is WRITE_EMPTY, which loads only into an empty table; use WRITE_APPEND to add the rows or WRITE_TRUNCATE to replace them") {
		t.Errorf("WRITE_EMPTY on a non-empty table: %v", err)
	}
	if !strings.HasPrefix(fmt.Sprint(err), "GCPBigQueryDestination 'writer': ") {
		t.Errorf("the error does not name the stage: %v", err)
	}
	if got := e.tableRows(t, "t"); !reflect.DeepEqual(got, before) {
		t.Error("the failed WRITE_EMPTY changed the table")
	}
	if e.srv.Stats().LoadJobs != loads {
		t.Error("a load job was sent for a job that failed validation")
	}
	if err := run("WRITE_TRUNCATE", people(2)); err != nil {
		t.Fatal(err)
	}
	if got, want := e.tableRows(t, "t"), wantPeople(people(2)); !reflect.DeepEqual(got, want) {
		t.Errorf("after truncate:\n%v\nwant\n%v", got, want)
	}
}

// rowsArriveSource loads a row into the destination table with the SDK
// while the job runs (after validation), then sends its own rows: the load
// job the destination creates at commit must then fail, WRITE_EMPTY being
// checked by BigQuery itself.
type rowsArriveSource struct {
	failingSource
	e *env
	t *testing.T
}

func (s *rowsArriveSource) Pump(ctx context.Context, out *openstage.Outputs) error {
	s.e.loadJSON(s.t, "t", nil, map[string]any{"id": 99})
	return s.Source.Pump(ctx, out)
}

func TestDestinationWriteEmptyCheckedByTheLoadJob(t *testing.T) {
	e := newEnv(t, bqtest.Options{})
	e.loadJSON(t, "t", bigquery.Schema{{Name: "id", Type: bigquery.IntegerFieldType}, {Name: "name", Type: bigquery.StringFieldType}})
	s := &rowsArriveSource{e: e, t: t}
	s.Schema = arrow.NewSchema([]arrow.Field{{Name: "id", Type: openstage.Int64, Nullable: true}}, nil)
	s.Rows = [][]any{{int64(1)}, {int64(2)}}
	src := openstage.NewStage("source", s)
	dst := destination(e, "t", "WRITE_EMPTY")
	connect(src, dst)
	_, err := runJob(t, src, dst)
	if err == nil {
		t.Fatal("the load into a table that got rows succeeded")
	}
	for _, want := range []string{"GCPBigQueryDestination 'writer': ", "into test-project:ds.t failed, the table is unchanged: Already Exists: Table test-project:ds.t",
		"the table has rows and write_disposition is WRITE_EMPTY: use WRITE_APPEND to add rows or WRITE_TRUNCATE to replace them"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if got := e.tableRows(t, "t"); !reflect.DeepEqual(got, [][]bigquery.Value{{int64(99), nil}}) {
		t.Errorf("table holds %v, want only the row that arrived", got)
	}
}

// A job whose upstream fails sends no load job and leaves the table as it
// was, whether the data fit in one upload chunk or not.
func TestDestinationFailedJobSendsNoLoadJob(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rows     int
		chunk    int
		sessions int64
	}{
		{"small", 10, 0, 0},
		{"several chunks", 60000, 256 * 1024, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, bqtest.Options{})
			e.loadJSON(t, "t", bigquery.Schema{{Name: "id", Type: bigquery.IntegerFieldType}}, map[string]any{"id": 7})
			s := &failingSource{}
			s.Schema = arrow.NewSchema([]arrow.Field{{Name: "id", Type: openstage.Int64, Nullable: true}}, nil)
			for i := range tc.rows {
				s.Rows = append(s.Rows, []any{int64(i)})
			}
			s.BatchRows = 1000
			src := openstage.NewStage("source", s)
			dst := destination(e, "t", "WRITE_TRUNCATE", func(d *GCPBigQueryDestination) { d.ChunkSize = tc.chunk })
			connect(src, dst)
			before := e.srv.Stats()
			loads := before.LoadJobs
			_, err := runJob(t, src, dst)
			if err == nil || !strings.Contains(err.Error(), errUpstream.Error()) {
				t.Fatalf("job error %v, want the upstream's", err)
			}
			st := e.srv.Stats()
			if st.LoadJobs != loads {
				t.Errorf("%d load jobs sent by a failed job", st.LoadJobs-loads)
			}
			if st.UploadSessions != tc.sessions {
				t.Errorf("%d upload sessions, want %d", st.UploadSessions, tc.sessions)
			}
			if st.UploadBytes != before.UploadBytes {
				t.Errorf("%d bytes counted as loaded", st.UploadBytes-before.UploadBytes)
			}
			if got := e.tableRows(t, "t"); !reflect.DeepEqual(got, [][]bigquery.Value{{int64(7)}}) {
				t.Errorf("table holds %v after a failed job", got)
			}
		})
	}
}

// A load larger than one chunk goes as a resumable upload and arrives whole.
func TestDestinationResumableUpload(t *testing.T) {
	e := newEnv(t, bqtest.Options{})
	rows := people(9000)
	src := source(peopleSchema, rows, 1000)
	dst := destination(e, "big", "WRITE_TRUNCATE", func(d *GCPBigQueryDestination) { d.ChunkSize = 256 * 1024 })
	connect(src, dst)
	if _, err := runJob(t, src, dst); err != nil {
		t.Fatal(err)
	}
	st := e.srv.Stats()
	if st.UploadSessions != 1 || st.LoadJobs != 1 || st.UploadBytes < 3*256*1024 {
		t.Errorf("stats %+v: want one resumable session of several chunks", st)
	}
	if got, want := e.tableRows(t, "big"), wantPeople(rows); !reflect.DeepEqual(got, want) {
		t.Errorf("%d rows read back, want %d, or values differ", len(got), len(want))
	}
}

// Into an existing table of other types: each column is written as the
// table's type wants it.
func TestDestinationIntoExistingTypes(t *testing.T) {
	e := newEnv(t, bqtest.Options{})
	schema := bigquery.Schema{
		{Name: "n", Type: bigquery.NumericFieldType},
		{Name: "bn", Type: bigquery.BigNumericFieldType},
		{Name: "f", Type: bigquery.FloatFieldType},
		{Name: "s", Type: bigquery.StringFieldType},
		{Name: "dt", Type: bigquery.DateTimeFieldType},
		{Name: "d_as_ts", Type: bigquery.TimestampFieldType},
		{Name: "tm", Type: bigquery.TimeFieldType},
		{Name: "by", Type: bigquery.BytesFieldType},
		{Name: "j", Type: bigquery.JSONFieldType},
		{Name: "tags", Type: bigquery.StringFieldType, Repeated: true},
		{Name: "rec", Type: bigquery.RecordFieldType, Schema: bigquery.Schema{{Name: "a", Type: bigquery.IntegerFieldType}, {Name: "b", Type: bigquery.StringFieldType, Repeated: true}}},
		{Name: "untouched", Type: bigquery.StringFieldType},
	}
	e.loadJSON(t, "typed", schema)
	in := arrow.NewSchema([]arrow.Field{
		{Name: "n", Type: openstage.String, Nullable: true},
		{Name: "bn", Type: openstage.Int64, Nullable: true},
		{Name: "f", Type: openstage.Int64, Nullable: true},
		{Name: "s", Type: openstage.Float64, Nullable: true},
		{Name: "dt", Type: openstage.Timestamp, Nullable: true},
		{Name: "d_as_ts", Type: openstage.Date, Nullable: true},
		{Name: "tm", Type: openstage.String, Nullable: true},
		{Name: "by", Type: openstage.String, Nullable: true},
		{Name: "j", Type: openstage.String, Nullable: true},
		{Name: "tags", Type: openstage.String, Nullable: true},
		{Name: "REC", Type: openstage.String, Nullable: true},
	}, nil)
	ts := time.Date(2024, 2, 29, 23, 59, 58, 123456000, time.UTC)
	rows := [][]any{
		{"12345678901234567890123456789.123456789", int64(-42), int64(3), 0.1, ts, time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), "07:08:09.5", "AP8=", `{"k": [1, true]}`, `["x", "y"]`, `{"a": 5, "b": ["p"]}`},
		{nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
	}
	src := source(in, rows, 0)
	dst := destination(e, "typed", "WRITE_APPEND")
	connect(src, dst)
	if _, err := runJob(t, src, dst); err != nil {
		t.Fatal(err)
	}
	got := e.tableRows(t, "typed")
	rat := func(s string) *big.Rat { r, _ := new(big.Rat).SetString(s); return r }
	want := [][]bigquery.Value{
		{rat("12345678901234567890123456789.123456789"), rat("-42"), 3.0, "0.1", civil.DateTimeOf(ts), time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
			civil.Time{Hour: 7, Minute: 8, Second: 9, Nanosecond: 500000000}, []byte{0, 255}, `{"k":[1,true]}`, []bigquery.Value{"x", "y"},
			[]bigquery.Value{int64(5), []bigquery.Value{"p"}}, nil},
		{nil, nil, nil, nil, nil, nil, nil, nil, nil, []bigquery.Value(nil), nil, nil},
	}
	if len(got) != 2 {
		t.Fatalf("%d rows", len(got))
	}
	for i := range want {
		for j := range want[i] {
			g, w := got[i][j], want[i][j]
			if gr, ok := g.(*big.Rat); ok {
				if wr, _ := w.(*big.Rat); wr == nil || gr.Cmp(wr) != 0 {
					t.Errorf("row %d %s: %v, want %v", i, schema[j].Name, g, w)
				}
				continue
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("row %d %s: %#v, want %#v", i, schema[j].Name, g, w)
			}
		}
	}
}

func TestDestinationValidationErrors(t *testing.T) {
	e := newEnv(t, bqtest.Options{})
	e.loadJSON(t, "t", bigquery.Schema{{Name: "id", Type: bigquery.IntegerFieldType, Required: true}, {Name: "tags", Type: bigquery.StringFieldType, Repeated: true}})
	plan := func(schema *arrow.Schema, opts ...func(*GCPBigQueryDestination)) error {
		src := source(schema, nil, 0)
		dst := destination(e, "t", "WRITE_APPEND", opts...)
		connect(src, dst)
		return openstage.NewJob("test", src, dst).Validate(context.Background())
	}
	sc := func(fields ...arrow.Field) *arrow.Schema { return arrow.NewSchema(fields, nil) }
	col := func(name string, t arrow.DataType) arrow.Field {
		return arrow.Field{Name: name, Type: t, Nullable: true}
	}
	for _, tc := range []struct {
		schema *arrow.Schema
		opts   func(*GCPBigQueryDestination)
		want   string
	}{
		{sc(col("id", openstage.String)), func(d *GCPBigQueryDestination) { d.Dataset = "nods" },
			"dataset 'nods' does not exist in project 'test-project' (BigQuery: Not found: Dataset test-project:nods); create it first (bq mk --dataset test-project:nods) or correct dataset and project_id"},
		{sc(col("id", openstage.String)), func(d *GCPBigQueryDestination) { d.Table = "absent"; d.CreateDisposition = "CREATE_NEVER" },
			"table test-project:ds.absent does not exist and create_disposition is CREATE_NEVER; create the table first, or set create_disposition: CREATE_IF_NEEDED"},
		{sc(col("id", openstage.Bool)), nil,
			"column 'id' is bool in the pipeline but INTEGER in table test-project:ds.t, which it cannot be written into; convert it upstream (a Transformer), or replace the table with write_disposition: WRITE_TRUNCATE"},
		{sc(col("id", openstage.Int64), col("extra", openstage.Int64), col("more", openstage.Int64)), nil,
			"table test-project:ds.t has no column 'extra', 'more'; its columns are id INTEGER, tags ARRAY<STRING>. Drop the extra columns upstream (DeleteColumns)"},
		{sc(col("tags", openstage.String)), nil,
			"column 'id' of table test-project:ds.t is REQUIRED but the pipeline has no such column; add it upstream"},
		{sc(col("id", openstage.Int64), col("tags", openstage.Int64)), nil,
			"column 'tags' is int64 in the pipeline but ARRAY<STRING> in table"},
		{sc(col("my col", openstage.Int64)), nil,
			"column 'my col' is not a valid BigQuery column name"},
		{sc(col("id", openstage.Int64)), func(d *GCPBigQueryDestination) { d.Table = "a.b" },
			"table 'a.b' is not a valid table name"},
	} {
		opts := []func(*GCPBigQueryDestination){}
		if tc.opts != nil {
			opts = append(opts, tc.opts)
		}
		err := plan(tc.schema, opts...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "GCPBigQueryDestination 'writer'") {
			t.Errorf("got %v\nwant %q", err, tc.want)
		}
	}
	if st := e.srv.Stats(); st.LoadJobs != 1 || st.UploadSessions != 0 {
		t.Errorf("validation sent load jobs: %+v", st)
	}
}

// A value the table's type refuses fails the job with the row and the
// column, and nothing is loaded.
func TestDestinationBadValues(t *testing.T) {
	e := newEnv(t, bqtest.Options{})
	e.loadJSON(t, "t", bigquery.Schema{{Name: "id", Type: bigquery.IntegerFieldType}, {Name: "rec", Type: bigquery.RecordFieldType, Schema: bigquery.Schema{{Name: "a", Type: bigquery.IntegerFieldType}}}})
	in := arrow.NewSchema([]arrow.Field{{Name: "id", Type: openstage.String, Nullable: true}, {Name: "rec", Type: openstage.String, Nullable: true}}, nil)
	for _, tc := range []struct {
		rows [][]any
		want string
	}{
		{[][]any{{"1", nil}, {"2", `{"a": 1`}}, "column 'rec', row 2: the value is not JSON text, which column 'rec' (STRUCT) needs"},
		{[][]any{{"1", `[1]`}}, "column 'rec', row 1: the value is not a JSON object, which column 'rec' (STRUCT) needs"},
		{[][]any{{"1", nil}, {"two", nil}}, "the table is unchanged: Error while reading data, error message: JSON table encountered too many errors, giving up. Rows: 2; errors: 1. Please look into the errors[] collection for more details. (Error while reading data, error message: JSON parsing error in row starting at position 11: Could not convert value 'string_value: \"two\"' to integer. Field: id; Value: two)"},
	} {
		src := source(in, tc.rows, 0)
		dst := destination(e, "t", "WRITE_APPEND")
		connect(src, dst)
		_, err := runJob(t, src, dst)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v\nwant %q", err, tc.want)
		}
		if rows := e.tableRows(t, "t"); len(rows) != 0 {
			t.Errorf("%d rows loaded by a failed job", len(rows))
		}
	}
}
