package bqtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/open-stage/openstage/internal/bqtest"
)

const project = "test-project"

// setup starts a server with a dataset "ds" and returns a real client
// pointed at it.
func setup(t *testing.T, opts bqtest.Options) (*bqtest.Server, *bigquery.Client) {
	t.Helper()
	srv := bqtest.New(opts)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	c, err := bigquery.NewClient(ctx, project, option.WithEndpoint(srv.URL()+"/bigquery/v2/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Dataset("ds").Create(ctx, nil); err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// apiErr returns the googleapi error inside err, failing the test if there
// is none.
func apiErr(t *testing.T, err error) *googleapi.Error {
	t.Helper()
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		t.Fatalf("error %v (%T) is not a googleapi.Error", err, err)
	}
	return ge
}

func reasonOf(ge *googleapi.Error) string {
	if len(ge.Errors) == 0 {
		return ""
	}
	return ge.Errors[0].Reason
}

func TestDatasetsAndTables(t *testing.T) {
	_, c := setup(t, bqtest.Options{})
	ctx := context.Background()

	md, err := c.Dataset("ds").Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if md.Location != "US" {
		t.Errorf("location %q, want US", md.Location)
	}
	_, err = c.Dataset("missing").Metadata(ctx)
	ge := apiErr(t, err)
	if ge.Code != 404 || reasonOf(ge) != "notFound" || ge.Message != "Not found: Dataset test-project:missing" {
		t.Errorf("missing dataset: code %d reason %q message %q", ge.Code, reasonOf(ge), ge.Message)
	}
	ge = apiErr(t, c.Dataset("ds").Create(ctx, nil))
	if ge.Code != 409 || reasonOf(ge) != "duplicate" {
		t.Errorf("duplicate dataset: code %d reason %q", ge.Code, reasonOf(ge))
	}

	schema := bigquery.Schema{
		{Name: "id", Type: bigquery.IntegerFieldType, Required: true},
		{Name: "name", Type: bigquery.StringFieldType},
		{Name: "tags", Type: bigquery.StringFieldType, Repeated: true},
		{Name: "addr", Type: bigquery.RecordFieldType, Schema: bigquery.Schema{{Name: "city", Type: bigquery.StringFieldType}}},
	}
	tbl := c.Dataset("ds").Table("people")
	if err := tbl.Create(ctx, &bigquery.TableMetadata{Schema: schema}); err != nil {
		t.Fatal(err)
	}
	tmd, err := tbl.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stripSchema(tmd.Schema), stripSchema(schema)) {
		t.Errorf("schema read back:\n%+v\nwant\n%+v", stripSchema(tmd.Schema), stripSchema(schema))
	}
	if tmd.NumRows != 0 || tmd.Type != bigquery.RegularTable {
		t.Errorf("rows %d type %q", tmd.NumRows, tmd.Type)
	}
	ge = apiErr(t, tbl.Create(ctx, &bigquery.TableMetadata{Schema: schema}))
	if ge.Code != 409 || ge.Message != "Already Exists: Table test-project:ds.people" {
		t.Errorf("duplicate table: %d %q", ge.Code, ge.Message)
	}
	_, err = c.Dataset("ds").Table("nope").Metadata(ctx)
	ge = apiErr(t, err)
	if ge.Code != 404 || ge.Message != "Not found: Table test-project:ds.nope" {
		t.Errorf("missing table: %d %q", ge.Code, ge.Message)
	}
	_, err = c.Dataset("other").Table("nope").Metadata(ctx)
	if ge = apiErr(t, err); ge.Message != "Not found: Dataset test-project:other" {
		t.Errorf("table of a missing dataset: %q", ge.Message)
	}
	bad := c.Dataset("ds").Table("bad")
	ge = apiErr(t, bad.Create(ctx, &bigquery.TableMetadata{Schema: bigquery.Schema{{Name: "1x", Type: bigquery.StringFieldType}}}))
	if ge.Code != 400 || !strings.Contains(ge.Message, "Invalid field name \"1x\"") {
		t.Errorf("bad field name: %d %q", ge.Code, ge.Message)
	}
	if err := tbl.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Metadata(ctx); apiErr(t, err).Code != 404 {
		t.Error("deleted table still there")
	}
	if err := tbl.Delete(ctx); apiErr(t, err).Code != 404 {
		t.Error("deleting a deleted table did not give 404")
	}
}

// stripSchema keeps what the server is expected to keep of a schema.
func stripSchema(s bigquery.Schema) []string {
	var out []string
	for _, f := range s {
		mode := "NULLABLE"
		if f.Required {
			mode = "REQUIRED"
		} else if f.Repeated {
			mode = "REPEATED"
		}
		out = append(out, fmt.Sprintf("%s %s %s %v", f.Name, f.Type, mode, stripSchema(f.Schema)))
	}
	return out
}

// ndjson writes rows as newline-delimited JSON.
func ndjson(t *testing.T, rows []map[string]any) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, r := range rows {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// load runs a load job of NDJSON data and returns its error (the job's).
// The job's detailed errors (status.errors) are left in lastDetail.
func load(t *testing.T, c *bigquery.Client, table string, data []byte, schema bigquery.Schema, write bigquery.TableWriteDisposition, opts ...googleapi.MediaOption) error {
	t.Helper()
	ctx := context.Background()
	lastDetail = ""
	src := bigquery.NewReaderSource(bytes.NewReader(data))
	src.SourceFormat = bigquery.JSON
	src.Schema = schema
	l := c.Dataset("ds").Table(table).LoaderFrom(src)
	l.WriteDisposition = write
	l.MediaOptions = opts
	job, err := l.Run(ctx)
	if err != nil {
		return err
	}
	st, err := job.Wait(ctx)
	if err != nil {
		return err
	}
	var msgs []string
	for _, e := range st.Errors {
		msgs = append(msgs, e.Message)
	}
	lastDetail = strings.Join(msgs, " | ")
	return st.Err()
}

var lastDetail string

var orderSchema = bigquery.Schema{
	{Name: "id", Type: bigquery.IntegerFieldType},
	{Name: "country", Type: bigquery.StringFieldType},
	{Name: "amount", Type: bigquery.FloatFieldType},
}

func orders(n int) []map[string]any {
	countries := []string{"ES", "FR", "DE", "IT"}
	rows := make([]map[string]any, n)
	for i := range rows {
		rows[i] = map[string]any{"id": i + 1, "country": countries[i%len(countries)], "amount": float64(i%17) * 1.25}
	}
	return rows
}

// readAll reads an iterator's rows, counting the pages fetched.
func readAll(t *testing.T, it *bigquery.RowIterator) [][]bigquery.Value {
	t.Helper()
	var out [][]bigquery.Value
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if err == iterator.Done {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, row)
	}
}

func TestLoadThenQueryAndListWithPaging(t *testing.T) {
	srv, c := setup(t, bqtest.Options{PageRows: 4})
	ctx := context.Background()
	rows := orders(23)
	if err := load(t, c, "orders", ndjson(t, rows), orderSchema, bigquery.WriteEmpty); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	if st.LoadJobs != 1 || st.UploadSessions != 0 {
		t.Errorf("a small load should be one multipart upload: %+v", st)
	}
	md, err := c.Dataset("ds").Table("orders").Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if md.NumRows != 23 {
		t.Errorf("NumRows %d, want 23", md.NumRows)
	}

	// tabledata.list, in pages of 4.
	before := srv.Stats().Requests
	got := readAll(t, c.Dataset("ds").Table("orders").Read(ctx))
	if len(got) != 23 {
		t.Fatalf("read %d rows, want 23", len(got))
	}
	for i, r := range got {
		want := []bigquery.Value{int64(i + 1), rows[i]["country"], rows[i]["amount"]}
		if !reflect.DeepEqual(r, want) {
			t.Fatalf("row %d: %v, want %v", i, r, want)
		}
	}
	if n := srv.Stats().Requests - before; n < 6 {
		t.Errorf("23 rows in pages of 4 took %d requests, want at least 6", n)
	}

	// A query whose answer the test computes itself.
	q := c.Query("SELECT country, COUNT(*) AS n, SUM(amount) AS total FROM `test-project.ds.orders` WHERE id > @min GROUP BY country ORDER BY country")
	q.Parameters = []bigquery.QueryParameter{{Name: "min", Value: 3}}
	it, err := q.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res := readAll(t, it)
	want := map[string][2]float64{}
	for _, r := range rows {
		if r["id"].(int) > 3 {
			w := want[r["country"].(string)]
			want[r["country"].(string)] = [2]float64{w[0] + 1, w[1] + r["amount"].(float64)}
		}
	}
	if len(res) != len(want) {
		t.Fatalf("%d groups, want %d: %v", len(res), len(want), res)
	}
	for _, r := range res {
		w := want[r[0].(string)]
		if r[1] != int64(w[0]) || r[2] != w[1] {
			t.Errorf("group %v: got n=%v total=%v, want %v", r[0], r[1], r[2], w)
		}
	}
	if f := it.Schema; len(f) != 3 || f[1].Type != bigquery.IntegerFieldType || f[2].Type != bigquery.FloatFieldType || f[0].Type != bigquery.StringFieldType {
		t.Errorf("result schema %v", stripSchema(f))
	}

	// Positional parameters, an unqualified table with a default dataset,
	// and a page size smaller than the server's.
	q = c.Query("SELECT id FROM orders WHERE country = ? ORDER BY id DESC")
	q.DefaultDatasetID = "ds"
	q.Parameters = []bigquery.QueryParameter{{Value: "FR"}}
	it, err = q.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	it.PageInfo().MaxSize = 2
	var ids []int64
	for _, r := range readAll(t, it) {
		ids = append(ids, r[0].(int64))
	}
	if fmt.Sprint(ids) != "[22 18 14 10 6 2]" {
		t.Errorf("FR ids %v", ids)
	}
}

func TestResumableUpload(t *testing.T) {
	srv, c := setup(t, bqtest.Options{})
	ctx := context.Background()
	rows := orders(20000) // ~ 800 KB of NDJSON: chunks of 256 KiB
	data := ndjson(t, rows)
	if len(data) < 3*256*1024 {
		t.Fatalf("only %d bytes: not enough for three chunks", len(data))
	}
	if err := load(t, c, "big", data, orderSchema, bigquery.WriteTruncate, googleapi.ChunkSize(256*1024)); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	if st.UploadSessions != 1 || st.LoadJobs != 1 || st.UploadBytes != int64(len(data)) {
		t.Errorf("stats %+v, want one session, one job, %d bytes", st, len(data))
	}
	it, err := c.Query("SELECT COUNT(*), SUM(id), MAX(country) FROM ds.big").Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, it)
	if want := []bigquery.Value{int64(20000), int64(20000 * 20001 / 2), "IT"}; !reflect.DeepEqual(got[0], want) {
		t.Errorf("got %v, want %v", got[0], want)
	}
	if it.Schema[0].Name != "f0_" || it.Schema[1].Name != "f1_" {
		t.Errorf("anonymous columns named %s, %s; want f0_, f1_", it.Schema[0].Name, it.Schema[1].Name)
	}
}

// A resumable upload whose data fails to arrive creates no job.
func TestAbandonedUploadCreatesNoJob(t *testing.T) {
	srv, c := setup(t, bqtest.Options{})
	ctx := context.Background()
	pr, pw := io.Pipe()
	go func() {
		pw.Write(ndjson(t, orders(8000)))
		pw.CloseWithError(errors.New("upstream failed"))
	}()
	src := bigquery.NewReaderSource(pr)
	src.SourceFormat = bigquery.JSON
	src.Schema = orderSchema
	l := c.Dataset("ds").Table("t").LoaderFrom(src)
	l.MediaOptions = []googleapi.MediaOption{googleapi.ChunkSize(256 * 1024)}
	if _, err := l.Run(ctx); err == nil || !strings.Contains(err.Error(), "upstream failed") {
		t.Fatalf("Run: %v, want the reader's error", err)
	}
	st := srv.Stats()
	if st.LoadJobs != 0 {
		t.Errorf("%d load jobs created", st.LoadJobs)
	}
	if _, err := c.Dataset("ds").Table("t").Metadata(ctx); apiErr(t, err).Code != 404 {
		t.Error("the table exists after an abandoned upload")
	}
}

func TestLoadDispositionsAndFailures(t *testing.T) {
	_, c := setup(t, bqtest.Options{})
	ctx := context.Background()
	count := func() int64 {
		t.Helper()
		it, err := c.Query("SELECT COUNT(*) FROM ds.t").Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return readAll(t, it)[0][0].(int64)
	}
	if err := load(t, c, "t", ndjson(t, orders(3)), orderSchema, bigquery.WriteEmpty); err != nil {
		t.Fatal(err)
	}
	// WRITE_EMPTY on a table with rows fails, and leaves it as it was.
	err := load(t, c, "t", ndjson(t, orders(5)), orderSchema, bigquery.WriteEmpty)
	var be *bigquery.Error
	if !errors.As(err, &be) || be.Reason != "duplicate" || be.Message != "Already Exists: Table test-project:ds.t" {
		t.Errorf("WRITE_EMPTY on a non-empty table: %v", err)
	}
	if n := count(); n != 3 {
		t.Errorf("after failed WRITE_EMPTY: %d rows, want 3", n)
	}
	if err := load(t, c, "t", ndjson(t, orders(2)), nil, bigquery.WriteAppend); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 5 {
		t.Errorf("after append: %d rows, want 5", n)
	}
	if err := load(t, c, "t", ndjson(t, orders(4)), orderSchema, bigquery.WriteTruncate); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 4 {
		t.Errorf("after truncate: %d rows, want 4", n)
	}

	// A row that does not fit: the job fails naming the field and the row,
	// and nothing of the load is kept (the good rows before it included).
	bad := ndjson(t, append(orders(2), map[string]any{"id": "three", "country": "ES", "amount": 1}))
	err = load(t, c, "t", bad, nil, bigquery.WriteAppend)
	if !errors.As(err, &be) || be.Reason != "invalid" {
		t.Fatalf("bad row: %v", err)
	}
	// The bad row is the third: it starts after the first two lines.
	lines := bytes.SplitAfter(bad, []byte("\n"))
	pos := len(lines[0]) + len(lines[1])
	if want := fmt.Sprintf("JSON parsing error in row starting at position %d: Could not convert value 'string_value: \"three\"' to integer. Field: id; Value: three", pos); !strings.Contains(lastDetail, want) {
		t.Errorf("detail %q, want it to contain %q", lastDetail, want)
	}
	if n := count(); n != 4 {
		t.Errorf("after a failed load: %d rows, want 4", n)
	}
	for _, tc := range []struct {
		row  map[string]any
		want string
	}{
		{map[string]any{"id": 1, "nope": 2}, "No such field: nope."},
		{map[string]any{"id": 1.5}, "Could not convert value 'string_value: \"1.5\"' to integer. Field: id"},
		{map[string]any{"country": map[string]any{"a": 1}}, "JSON object specified for non-record field: country"},
		{map[string]any{"amount": []any{1}}, "Array specified for non-repeated field: amount"},
	} {
		if err := load(t, c, "t", ndjson(t, []map[string]any{tc.row}), nil, bigquery.WriteAppend); err == nil {
			t.Errorf("%v loaded", tc.row)
			continue
		}
		if !strings.Contains(lastDetail, tc.want) {
			t.Errorf("%v: %q, want it to contain %q", tc.row, lastDetail, tc.want)
		}
	}
	if n := count(); n != 4 {
		t.Errorf("after failed loads: %d rows, want 4", n)
	}

	// A schema that differs from the table's is refused for appends.
	other := bigquery.Schema{{Name: "id", Type: bigquery.StringFieldType}}
	if err := load(t, c, "t", ndjson(t, nil), other, bigquery.WriteAppend); err == nil || !strings.Contains(err.Error(), "Provided Schema does not match Table test-project:ds.t") {
		t.Errorf("append with another schema: %v", err)
	}
	// CREATE_NEVER on a missing table.
	src := bigquery.NewReaderSource(bytes.NewReader(ndjson(t, orders(1))))
	src.SourceFormat = bigquery.JSON
	src.Schema = orderSchema
	l := c.Dataset("ds").Table("absent").LoaderFrom(src)
	l.CreateDisposition = bigquery.CreateNever
	job, err := l.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := job.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.As(st.Err(), &be) || be.Reason != "notFound" || be.Message != "Not found: Table test-project:ds.absent" {
		t.Errorf("CREATE_NEVER: %v", st.Err())
	}
	// A load into a missing dataset.
	if err := loadInto(t, c, "nods", "x"); err == nil || !strings.Contains(err.Error(), "Not found: Dataset test-project:nods") {
		t.Errorf("missing dataset: %v", err)
	}
}

func loadInto(t *testing.T, c *bigquery.Client, ds, table string) error {
	src := bigquery.NewReaderSource(bytes.NewReader(ndjson(t, orders(1))))
	src.SourceFormat = bigquery.JSON
	src.Schema = orderSchema
	job, err := c.Dataset(ds).Table(table).LoaderFrom(src).Run(context.Background())
	if err != nil {
		return err
	}
	st, err := job.Wait(context.Background())
	if err != nil {
		return err
	}
	return st.Err()
}

func TestQueryErrors(t *testing.T) {
	_, c := setup(t, bqtest.Options{})
	ctx := context.Background()
	if err := load(t, c, "t", ndjson(t, orders(3)), orderSchema, bigquery.WriteEmpty); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sql    string
		code   int
		reason string
		msg    string
	}{
		{"SELECT * FROM `test-project.ds.missing`", 404, "notFound", "Not found: Table test-project:ds.missing was not found in location US"},
		{"SELECT * FROM nods.t", 404, "notFound", "Not found: Dataset test-project:nods was not found in location US"},
		{"SELECT * FROM t", 400, "invalidQuery", `Table "t" must be qualified with a dataset (e.g. dataset.table).`},
		{"SELECT nope FROM ds.t", 400, "invalidQuery", "Unrecognized name: nope"},
		{"SELEC 1", 400, "invalidQuery", "bqtest runs only SELECT queries"},
		{"SELECT id FROM ds.t WHERE", 400, "invalidQuery", "Syntax error"},
		{"SELECT id, id FROM ds.t", 400, "invalidQuery", "Duplicate column names in the result are not supported. Found duplicate(s): id"},
		{"SELECT @x", 400, "invalidQuery", "Query parameter 'x' not found"},
	} {
		_, err := c.Query(tc.sql).Read(ctx)
		ge := apiErr(t, err)
		if ge.Code != tc.code || reasonOf(ge) != tc.reason || !strings.Contains(ge.Message, tc.msg) {
			t.Errorf("%s: %d %s %q, want %d %s %q", tc.sql, ge.Code, reasonOf(ge), ge.Message, tc.code, tc.reason, tc.msg)
		}
		// The same query as a job: the job fails, and reading it gives the error.
		q := c.Query(tc.sql)
		q.JobID = "" // jobs.insert path
		q.Priority = bigquery.BatchPriority
		job, err := q.Run(ctx)
		if err != nil {
			t.Errorf("%s: jobs.insert: %v", tc.sql, err)
			continue
		}
		st, err := job.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var be *bigquery.Error
		if !errors.As(st.Err(), &be) || be.Reason != tc.reason || !strings.Contains(be.Message, tc.msg) {
			t.Errorf("%s: job status %v", tc.sql, st.Err())
		}
		if _, err := job.Read(ctx); err == nil || apiErr(t, err).Code != tc.code {
			t.Errorf("%s: reading the failed job: %v", tc.sql, err)
		}
	}
}

func TestDryRunAndLegacySQL(t *testing.T) {
	srv, c := setup(t, bqtest.Options{})
	ctx := context.Background()
	if err := load(t, c, "t", ndjson(t, orders(3)), orderSchema, bigquery.WriteEmpty); err != nil {
		t.Fatal(err)
	}
	q := c.Query("SELECT id, country AS c, amount * 2 AS double_amount FROM ds.t")
	q.DryRun = true
	job, err := q.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	qs, ok := job.LastStatus().Statistics.Details.(*bigquery.QueryStatistics)
	if !ok {
		t.Fatalf("no query statistics: %+v", job.LastStatus())
	}
	if got := fmt.Sprint(stripSchema(qs.Schema)); got != "[id INTEGER NULLABLE [] c STRING NULLABLE [] double_amount FLOAT NULLABLE []]" {
		t.Errorf("dry-run schema %s", got)
	}
	if st := srv.Stats(); st.DryRuns != 1 || st.QueryJobs != 0 {
		t.Errorf("stats %+v", st)
	}
	q = c.Query("SELECT * FROM `ds.missing`")
	q.DryRun = true
	if _, err := q.Run(ctx); apiErr(t, err).Code != 404 {
		t.Errorf("dry run of a missing table: %v", err)
	}

	q = c.Query("SELECT COUNT(*) AS n FROM [test-project:ds.t]")
	q.UseLegacySQL = true
	it, err := q.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, it); got[0][0] != int64(3) {
		t.Errorf("legacy count %v", got)
	}
}

// Every type, NULLs, repeated and nested fields: loaded as NDJSON, read
// back through both tabledata.list and a query.
func TestAllTypesRoundTrip(t *testing.T) {
	_, c := setup(t, bqtest.Options{PageRows: 1})
	ctx := context.Background()
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
			{Name: "tags", Type: bigquery.StringFieldType, Repeated: true},
		}},
	}
	data := `{"i": -9223372036854775808, "f": 1.5e-7, "n": "12345678901234567890123456789.123456789", "bn": "-0.00000000000000000000000000000000000001", "b": true, "s": "héllo \"world\"\n", "by": "AP8=", "d": "2024-02-29", "dt": "2024-02-29 23:59:58.5", "tm": "07:08:09.123456", "ts": "2024-02-29T23:00:00.000001+02:00", "j": {"a": [1, "x", null]}, "g": "POINT(1 2)", "rep": [1, 2, 3], "rec": {"x": "in", "when": "1970-01-01 00:00:01 UTC", "tags": ["a", "b"]}}
{"n": 2.50, "f": "NaN"}
{}
`
	if err := load(t, c, "all", []byte(data), schema, bigquery.WriteEmpty); err != nil {
		t.Fatal(err, lastDetail)
	}
	ts := time.Date(2024, 2, 29, 21, 0, 0, 1000, time.UTC)
	want := [][]bigquery.Value{
		{int64(-9223372036854775808), 1.5e-7, rat("12345678901234567890123456789.123456789"), rat("-0.00000000000000000000000000000000000001"), true, "héllo \"world\"\n", []byte{0, 255},
			civil.Date{Year: 2024, Month: 2, Day: 29}, civil.DateTime{Date: civil.Date{Year: 2024, Month: 2, Day: 29}, Time: civil.Time{Hour: 23, Minute: 59, Second: 58, Nanosecond: 500000000}},
			civil.Time{Hour: 7, Minute: 8, Second: 9, Nanosecond: 123456000}, ts, `{"a":[1,"x",null]}`, "POINT(1 2)", []bigquery.Value{int64(1), int64(2), int64(3)},
			[]bigquery.Value{"in", time.Unix(1, 0).UTC(), []bigquery.Value{"a", "b"}}},
		// SQLite stores NaN as NULL (a documented limit of the server).
		{nil, nil, rat("2.5"), nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, []bigquery.Value(nil), nil},
		{nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, []bigquery.Value(nil), nil},
	}
	check := func(how string, got [][]bigquery.Value) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d rows", how, len(got))
		}
		for i := range want {
			for j := range want[i] {
				g, w := got[i][j], want[i][j]
				if gr, ok := g.(*big.Rat); ok {
					if wr, ok := w.(*big.Rat); !ok || gr.Cmp(wr) != 0 {
						t.Errorf("%s: row %d %s: %v, want %v", how, i, schema[j].Name, g, w)
					}
					continue
				}
				if !reflect.DeepEqual(g, w) {
					t.Errorf("%s: row %d %s: %#v, want %#v", how, i, schema[j].Name, g, w)
				}
			}
		}
	}
	check("tabledata.list", readAll(t, c.Dataset("ds").Table("all").Read(ctx)))
	it, err := c.Query("SELECT * FROM ds.all ORDER BY i DESC").Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, it)
	sort.SliceStable(got, func(a, b int) bool {
		return got[a][0] != nil && got[b][0] == nil || got[a][2] != nil && got[b][2] == nil
	})
	check("query", got)
	if !reflect.DeepEqual(stripSchema(it.Schema), stripSchema(schema)) {
		t.Errorf("query schema\n%v\nwant\n%v", stripSchema(it.Schema), stripSchema(schema))
	}

	// Literals and parameters of time types compare with stored values.
	q := c.Query("SELECT COUNT(*) FROM ds.all WHERE ts > TIMESTAMP '2024-02-29 20:59:59+00' AND ts < @until AND d = DATE '2024-02-29'")
	q.Parameters = []bigquery.QueryParameter{{Name: "until", Value: ts.Add(time.Second)}}
	it, err = q.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, it); got[0][0] != int64(1) {
		t.Errorf("time comparison counted %v, want 1", got[0][0])
	}
}

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

// The wire format itself: the error body, and TIMESTAMP values without
// formatOptions.useInt64Timestamp.
func TestWireFormat(t *testing.T) {
	srv, c := setup(t, bqtest.Options{})
	schema := bigquery.Schema{{Name: "ts", Type: bigquery.TimestampFieldType}}
	if err := load(t, c, "ts", []byte(`{"ts": "2024-01-01 00:00:00.5"}`+"\n"), schema, bigquery.WriteEmpty); err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(srv.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	code, body := get("/bigquery/v2/projects/test-project/datasets/nope")
	want := map[string]any{"error": map[string]any{
		"code": float64(404), "message": "Not found: Dataset test-project:nope", "status": "NOT_FOUND",
		"errors": []any{map[string]any{"message": "Not found: Dataset test-project:nope", "domain": "global", "reason": "notFound"}},
	}}
	if code != 404 || !reflect.DeepEqual(body, want) {
		t.Errorf("error body %d %v", code, body)
	}
	_, body = get("/bigquery/v2/projects/test-project/datasets/ds/tables/ts/data")
	if v := body["rows"].([]any)[0].(map[string]any)["f"].([]any)[0].(map[string]any)["v"]; v != "1.7040672005E9" {
		t.Errorf("float-seconds timestamp %v", v)
	}
	_, body = get("/bigquery/v2/projects/test-project/datasets/ds/tables/ts/data?formatOptions.useInt64Timestamp=true")
	if v := body["rows"].([]any)[0].(map[string]any)["f"].([]any)[0].(map[string]any)["v"]; v != "1704067200500000" {
		t.Errorf("int64 timestamp %v", v)
	}
	if body["totalRows"] != "1" {
		t.Errorf("totalRows %v (want the string \"1\")", body["totalRows"])
	}
	_, body = get("/bigquery/v2/projects/test-project/datasets/ds/tables/ts/data?pageToken=garbage")
	if body["error"] == nil {
		t.Error("a bad page token was accepted")
	}
}
