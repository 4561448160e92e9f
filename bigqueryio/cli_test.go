package bigqueryio

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/bigquery"

	"github.com/open-stage/openstage/internal/bqtest"
)

// The end-to-end tests drive the openstage command as a user would, against
// the local server: built once, on first use.
var (
	buildOnce sync.Once
	binDir    string
	binErr    error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func openstageBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "openstage-bq")
		if binErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, "openstage"), "github.com/open-stage/openstage/cmd/openstage").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("building openstage: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "openstage")
}

type cliResult struct {
	code           int
	stdout, stderr string
}

// cli runs the openstage command with extra environment variables.
func cli(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(openstageBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	r := cliResult{code, out.String(), errb.String()}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic:") {
		t.Errorf("stderr shows a Go stack trace:\n%s", r.stderr)
	}
	return r
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// allTypes is a table of every BigQuery type the server has, and a CSV file
// of rows for it, in the text the CSV stages write, so that a round trip
// CSV → BigQuery → CSV gives the file back.
var allTypes = bigquery.Schema{
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

const allTypesCSV = `i,f,n,bn,b,s,by,d,dt,tm,ts,j,g,rep,rec
1,0.1,12345678901234567890123456789.123456789,-0.00000000000000000000000000000000000001,true,"quote "" comma, newline
end",AP8=,2024-02-29,2024-02-29T23:59:58.123456Z,07:08:09.5,1970-01-01T00:00:00.000001Z,"{""a"":[1,""x"",null]}",POINT(1 2),"[3,1,2]","{""x"":""in"",""when"":""2025-06-01T12:00:00Z"",""tags"":[""a"",""b""]}"
-9223372036854775808,-1.5e+300,-7,42,false,日本語,,0001-01-01,9999-12-31T23:59:59.999999Z,00:00:00,2262-04-11T23:47:16.854775Z,true,,[],"{""x"":null,""when"":null,""tags"":[]}"
3,,,,,,,,,,,,,,
`

const allTypesColumns = `{i: int64, f: float64, n: string, bn: string, b: bool, s: string, by: string, d: date, dt: timestamp, tm: string, ts: timestamp, j: string, g: string, rep: string, rec: string}`

// sortedLines returns the data lines of a CSV file (records may span lines:
// compared as a whole file sorted by record would need a parser; the test
// data's multi-line record stays in one piece because lines are joined on
// an unbalanced quote).
func csvRecords(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []string
	var cur string
	for _, line := range strings.SplitAfter(string(b), "\n") {
		cur += line
		if strings.Count(cur, `"`)%2 == 0 {
			if cur != "" {
				recs = append(recs, cur)
			}
			cur = ""
		}
	}
	return recs
}

// CSV → GCPBigQueryDestination with each write disposition → the table
// through the SDK; then GCPBigQueryOrigin → CSV gives back the input, every
// type included.
func TestCLIRoundTripEveryType(t *testing.T) {
	e := newEnv(t, bqtest.Options{PageRows: 2})
	roundTripEveryType(t, roundTrip{
		client: e.client, project: testProject, dataset: "ds",
		// The first load reaches the server by endpoint, the others by
		// BIGQUERY_EMULATOR_HOST.
		first: []string{"--param", "endpoint=" + e.srv.URL()},
		env:   []string{EmulatorHostEnv + "=" + e.srv.Host()},
		loads: func() int64 { return e.srv.Stats().LoadJobs },
	})
}

// roundTrip is where roundTripEveryType runs: the local server, or Google's
// BigQuery (the live test).
type roundTrip struct {
	client           *bigquery.Client
	project, dataset string
	first            []string     // extra arguments of the first run
	env              []string     // environment of the command
	loads            func() int64 // load jobs so far, if the server counts them
}

func roundTripEveryType(t *testing.T, rt roundTrip) {
	ctx := context.Background()
	ds := rt.client.Dataset(rt.dataset)
	if err := ds.Table("typed").Create(ctx, &bigquery.TableMetadata{Schema: allTypes}); err != nil {
		t.Fatal(err)
	}
	rows := func(table string) [][]bigquery.Value {
		t.Helper()
		e := &env{client: rt.client}
		return e.rowsOf(t, rt.dataset, table)
	}
	dir := t.TempDir()
	input := writeFile(t, filepath.Join(dir, "input.csv"), allTypesCSV)
	load := writeFile(t, filepath.Join(dir, "load.yaml"), `name: load
params:
  endpoint: ""
  table: typed
  write: WRITE_APPEND
stages:
  - name: reader
    type: CSVOrigin
    path: input.csv
    column_types: `+allTypesColumns+`
  - name: writer
    type: GCPBigQueryDestination
    project_id: `+rt.project+`
    endpoint: ${endpoint}
    dataset: `+rt.dataset+`
    table: ${table}
    write_disposition: ${write}
pipes:
  - {name: p, from: reader, to: writer}
`)
	read := writeFile(t, filepath.Join(dir, "read.yaml"), `name: read
params:
  table: typed
stages:
  - name: reader
    type: GCPBigQueryOrigin
    project_id: `+rt.project+`
    query: SELECT * FROM `+rt.dataset+`.${table} ORDER BY i
  - name: writer
    type: CSVDestination
    path: out.csv
pipes:
  - {name: p, from: reader, to: writer}
`)
	count := func(table string) int {
		t.Helper()
		return len(rows(table))
	}
	// WRITE_TRUNCATE into the existing table keeps its column types.
	if r := cli(t, rt.env, append([]string{"run", load, "--param", "write=WRITE_TRUNCATE"}, rt.first...)...); r.code != 0 {
		t.Fatalf("truncate: exit %d\n%s", r.code, r.stderr)
	}
	if n := count("typed"); n != 3 {
		t.Fatalf("after WRITE_TRUNCATE: %d rows, want 3", n)
	}
	md, _ := ds.Table("typed").Metadata(ctx)
	if !reflect.DeepEqual(fmt.Sprint(schemaText(md.Schema)), fmt.Sprint(schemaText(allTypes))) {
		t.Errorf("WRITE_TRUNCATE changed the column types: %v", schemaText(md.Schema))
	}
	if r := cli(t, rt.env, "run", load, "--param", "write=WRITE_APPEND"); r.code != 0 {
		t.Fatalf("append: exit %d\n%s", r.code, r.stderr)
	}
	if n := count("typed"); n != 6 {
		t.Fatalf("after WRITE_APPEND: %d rows, want 6", n)
	}
	// WRITE_EMPTY on a table with rows fails and leaves it unchanged.
	before := rows("typed")
	var loads int64
	if rt.loads != nil {
		loads = rt.loads()
	}
	r := cli(t, rt.env, "run", load, "--param", "write=WRITE_EMPTY")
	refusal := fmt.Sprintf("load.yaml:11: GCPBigQueryDestination 'writer': table %s:%s.typed has 6 rows and write_disposition is WRITE_EMPTY, which loads only into an empty table; use WRITE_APPEND to add the rows or WRITE_TRUNCATE to replace them", rt.project, rt.dataset)
	if r.code != 2 || !strings.Contains(r.stderr, refusal) {
		t.Errorf("WRITE_EMPTY on a non-empty table: exit %d\n%s", r.code, r.stderr)
	}
	if got := rows("typed"); !reflect.DeepEqual(got, before) {
		t.Error("the failed WRITE_EMPTY job changed the table")
	}
	if rt.loads != nil && rt.loads() != loads {
		t.Error("the failed WRITE_EMPTY job sent a load job")
	}
	// WRITE_EMPTY into a new table creates it.
	if r := cli(t, rt.env, "run", load, "--param", "write=WRITE_EMPTY", "--param", "table=fresh"); r.code != 0 {
		t.Fatalf("WRITE_EMPTY into a new table: exit %d\n%s", r.code, r.stderr)
	}

	// Back to CSV: each input record twice (the load and the append).
	if r := cli(t, rt.env, "run", read); r.code != 0 {
		t.Fatalf("read: exit %d\n%s", r.code, r.stderr)
	}
	in, out := csvRecords(t, input), csvRecords(t, filepath.Join(dir, "out.csv"))
	if out[0] != in[0] {
		t.Errorf("header %q, want %q", out[0], in[0])
	}
	// BigQuery has no NULL arrays: a NULL written into a REPEATED column
	// reads back as [].
	var want []string
	for _, rec := range in[1:] {
		if rec == "3,,,,,,,,,,,,,,\n" {
			rec = "3,,,,,,,,,,,,,[],\n"
		}
		want = append(want, rec, rec)
	}
	slices.Sort(want)
	got := slices.Clone(out[1:])
	slices.Sort(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back:\n%s\nwant:\n%s", strings.Join(got, ""), strings.Join(want, ""))
	}
	// The table the destination created holds the same values, as the
	// pipeline's types (strings for the text columns).
	if r := cli(t, rt.env, "run", read, "--param", "table=fresh"); r.code != 0 {
		t.Fatalf("read fresh: exit %d\n%s", r.code, r.stderr)
	}
	got = csvRecords(t, filepath.Join(dir, "out.csv"))
	slices.Sort(got[1:])
	want = slices.Clone(in)
	slices.Sort(want[1:])
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the created table read back:\n%s\nwant:\n%s", strings.Join(got, ""), strings.Join(want, ""))
	}
}

func schemaText(s bigquery.Schema) []string {
	var out []string
	for _, f := range s {
		out = append(out, fmt.Sprintf("%s %s %v %v", f.Name, f.Type, f.Repeated, schemaText(f.Schema)))
	}
	return out
}

// A job whose upstream stage fails leaves the table unchanged and sends no
// load job, also after chunks of a resumable upload went out.
func TestCLIFailingUpstreamLeavesTableUnchanged(t *testing.T) {
	e := newEnv(t, bqtest.Options{})
	e.loadJSON(t, "t", bigquery.Schema{{Name: "id", Type: bigquery.IntegerFieldType}, {Name: "name", Type: bigquery.StringFieldType}}, map[string]any{"id": 1, "name": "kept"})
	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("id,name\n")
	for i := range 50000 {
		fmt.Fprintf(&csv, "%d,name %d\n", i, i)
	}
	csv.WriteString("50000,ragged,row\n")
	writeFile(t, filepath.Join(dir, "in.csv"), csv.String())
	job := writeFile(t, filepath.Join(dir, "job.yaml"), `name: broken
stages:
  - name: reader
    type: CSVOrigin
    path: in.csv
    batch_rows: 1000
  - name: writer
    type: GCPBigQueryDestination
    project_id: test-project
    dataset: ds
    table: t
    write_disposition: WRITE_TRUNCATE
    chunk_size: 262144
pipes:
  - {name: p, from: reader, to: writer}
`)
	before := e.srv.Stats()
	r := cli(t, []string{EmulatorHostEnv + "=" + e.srv.Host()}, "run", job)
	if r.code != 1 || !strings.Contains(r.stderr, "CSVOrigin 'reader'") || !strings.Contains(r.stderr, "50002") {
		t.Errorf("exit %d, want 1 with the CSV error and its line:\n%s", r.code, r.stderr)
	}
	st := e.srv.Stats()
	if st.LoadJobs != before.LoadJobs {
		t.Errorf("%d load jobs sent by a failed job", st.LoadJobs-before.LoadJobs)
	}
	if st.UploadSessions == before.UploadSessions {
		t.Log("no upload session was opened before the failure (the CSV was read faster than a chunk filled)")
	}
	if got := e.tableRows(t, "t"); !reflect.DeepEqual(got, [][]bigquery.Value{{int64(1), "kept"}}) {
		t.Errorf("table holds %d rows after a failed job, want the one it had", len(got))
	}
}

func TestCLIQueryOnMissingTable(t *testing.T) {
	e := newEnv(t, bqtest.Options{})
	dir := t.TempDir()
	job := writeFile(t, filepath.Join(dir, "job.yaml"), `name: missing
stages:
  - name: reader
    type: GCPBigQueryOrigin
    project_id: test-project
    query: SELECT * FROM `+"`test-project.ds.nope`"+`
  - name: writer
    type: CSVDestination
    path: out.csv
pipes:
  - {name: p, from: reader, to: writer}
`)
	env := []string{EmulatorHostEnv + "=" + e.srv.Host()}
	for _, cmd := range []string{"validate", "run"} {
		r := cli(t, env, cmd, job)
		if r.code != 2 || !strings.Contains(r.stderr, "job.yaml:3: GCPBigQueryOrigin 'reader': the query failed: Not found: Table test-project:ds.nope was not found in location US; check the dataset and table names in query") {
			t.Errorf("%s: exit %d\n%s", cmd, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out.csv")); err == nil {
		t.Error("the failed job wrote its CSV output")
	}
}

// A key given inline (credentials_json from the environment) appears in no
// output of the command: run, validate, graph, stages.
func TestCLISecretNeverShown(t *testing.T) {
	e := newEnv(t, bqtest.Options{})
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token": "token-xyz", "token_type": "Bearer", "expires_in": 3600}`)
	}))
	defer tokens.Close()
	_, key := serviceAccountKey(t, tokens.URL)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.csv"), "id\n1\n2\n")
	job := writeFile(t, filepath.Join(dir, "job.yaml"), `name: secret
stages:
  - name: reader
    type: CSVOrigin
    path: in.csv
  - name: writer
    type: GCPBigQueryDestination
    project_id: test-project
    endpoint: `+e.srv.URL()+`
    credentials_json: ${env:TEST_BQ_KEY}
    dataset: ${env:TEST_BQ_DATASET}
    table: t
pipes:
  - {name: p, from: reader, to: writer}
`)
	env := []string{"TEST_BQ_KEY=" + key, "TEST_BQ_DATASET=ds"}
	outputs := []cliResult{
		cli(t, env, "run", job, "--verbose"),
		cli(t, env, "validate", job),
		cli(t, env, "graph", job),
		cli(t, append(env, "TEST_BQ_DATASET=nods"), "run", job, "--verbose"),
	}
	if outputs[0].code != 0 {
		t.Fatalf("run: exit %d\n%s", outputs[0].code, outputs[0].stderr)
	}
	if outputs[3].code != 2 || !strings.Contains(outputs[3].stderr, "dataset 'nods' does not exist") {
		t.Errorf("run into a missing dataset: exit %d\n%s", outputs[3].code, outputs[3].stderr)
	}
	for i, r := range outputs {
		for _, leak := range []string{"PRIVATE KEY", "private_key_id", "0123456789abcdef", "token-xyz"} {
			if strings.Contains(r.stdout+r.stderr, leak) {
				t.Errorf("output %d shows %q:\n%s%s", i, leak, r.stdout, r.stderr)
			}
		}
	}
	if n := len(e.tableRows(t, "t")); n != 2 {
		t.Errorf("%d rows loaded, want 2", n)
	}
}
