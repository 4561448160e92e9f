package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-stage/openstage/internal/report"
)

func readReport(t *testing.T, path string) *report.Run {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no report: %v", err)
	}
	var r report.Run
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, data)
	}
	return &r
}

func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReportOfSuccessfulRun(t *testing.T) {
	out := t.TempDir()
	rep := filepath.Join(out, "run.json")
	r := run(t, "run", "testdata/jobs/adults.yaml", "--param", "out_dir="+out, "--report", rep, "--no-optimize") // the figures as written
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	got := readReport(t, rep)
	if got.Job != "adults" || got.File != "testdata/jobs/adults.yaml" || got.Status != "succeeded" || got.Error != "" {
		t.Errorf("report head: %+v", got)
	}
	if got.Params["min_age"] != 18.0 || got.Params["out_dir"] != out {
		t.Errorf("parameters = %v", got.Params)
	}
	if !got.Start.Before(got.End) || got.Elapsed <= 0 || got.End.Sub(got.Start) > time.Minute {
		t.Errorf("times: %v .. %v (%v s)", got.Start, got.End, got.Elapsed)
	}
	want := map[string][3]int64{"reader": {0, 5, 0}, "adults": {5, 3, 0}, "writer": {3, 0, 0}}
	if len(got.Stages) != 3 {
		t.Fatalf("stages: %+v", got.Stages)
	}
	for _, st := range got.Stages {
		w := want[st.Name]
		if [3]int64{st.RowsIn, st.RowsOut, st.Rejected} != w || st.Elapsed <= 0 || st.Start == nil || st.End == nil || st.Error != "" {
			t.Errorf("stage %s: %+v, want in/out/rejected %v", st.Name, st, w)
		}
	}
	if st, _ := got.Stage("adults"); st.Type != "Filter" || st.Layer != "transformation" || st.BatchesIn != 1 || st.BatchesOut != 1 || st.RowsPerSecond <= 0 || st.BytesOut <= 0 {
		t.Errorf("adults: %+v", st)
	}
	if p, ok := got.Pipe("grown_ups"); !ok || p.From != "adults" || p.To != "writer" || p.Rows != 3 || p.Batches != 1 {
		t.Errorf("pipe grown_ups: %+v", p)
	}
	// The summary table on stderr has the new columns.
	for _, col := range []string{"batches", "rows/s"} {
		if !strings.Contains(r.stderr, col) {
			t.Errorf("summary lacks %q:\n%s", col, r.stderr)
		}
	}
	if !regexpLine(r.stderr, `adults\s+Filter\s+5\s+3\s+0\s+1\s+\S+\s+\S+`) {
		t.Errorf("summary row of adults:\n%s", r.stderr)
	}
}

func TestReportOfFailedRuns(t *testing.T) {
	dir := t.TempDir()
	// Fails while running: 'two' is not an int64.
	failing := writeFile(t, filepath.Join(dir, "fail.yaml"), `name: failing
params: {out_dir: out}
stages:
  - {name: reader, type: CSVOrigin, path: `+abs(t, "testdata/data/badint.csv")+`, column_types: {age: int64}, sample_rows: 1}
  - {name: writer, type: CSVDestination, path: "${out_dir}/x.csv"}
pipes:
  - {name: rows, from: reader, to: writer}
`)
	rep := filepath.Join(dir, "fail.json")
	r := run(t, "run", failing, "--param", "out_dir="+dir, "--report", rep, "--quiet")
	if r.code != 1 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	got := readReport(t, rep)
	if got.Status != "failed" || !strings.Contains(got.Error, "CSVOrigin 'reader': ") || !strings.Contains(r.stderr, got.Error) {
		t.Errorf("status %q error %q\nstderr %s", got.Status, got.Error, r.stderr)
	}
	if st, _ := got.Stage("reader"); st.Error == "" || !strings.Contains(got.Error, st.Error) {
		t.Errorf("the failing stage carries no error: %+v", st)
	}
	if st, _ := got.Stage("writer"); st.Error != "" {
		t.Errorf("the writer did not fail, yet: %+v", st)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.csv")); err == nil {
		t.Error("a failed run left output")
	}

	// Invalid at validation: no stage ran.
	rep = filepath.Join(dir, "invalid.json")
	r = run(t, "run", "testdata/jobs/unknown_column.yaml", "--report", rep)
	if r.code != 2 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	got = readReport(t, rep)
	if got.Status != "invalid" || !strings.Contains(got.Error, "not found") || len(got.Stages) != 0 || got.Start.IsZero() {
		t.Errorf("invalid run report: %+v", got)
	}
	// A job file that does not load.
	rep = filepath.Join(dir, "unknown.json")
	if r := run(t, "run", "testdata/jobs/unknown_type.yaml", "--report", rep); r.code != 2 {
		t.Fatalf("exit %d", r.code)
	}
	if got := readReport(t, rep); got.Status != "invalid" || got.Job != "unknown_type" || !strings.Contains(got.Error, "unknown stage type") {
		t.Errorf("report of an unloadable job: %+v", got)
	}
}

// A job parameter that goes into a secret component parameter shows as ***
// in the report and the log, and its value appears nowhere.
func TestSecretsRedacted(t *testing.T) {
	dir := t.TempDir()
	job := writeFile(t, filepath.Join(dir, "bq.yaml"), `name: bq
params:
  key: '{"type": "service_account", "private_key": "SECRET-MATERIAL-42"}'
  project: my-project
stages:
  - name: sales
    type: GCPBigQueryOrigin
    project_id: ${project}
    query: SELECT 1
    credentials_json: ${key}
  - {name: show, type: Printer}
pipes:
  - {name: p, from: sales, to: show}
`)
	rep := filepath.Join(dir, "run.json")
	r := run(t, "run", job, "--report", rep, "--log-format", "json")
	if r.code == 0 {
		t.Fatalf("a run with a fake key succeeded:\n%s", r.stderr)
	}
	data, _ := os.ReadFile(rep)
	got := readReport(t, rep)
	if got.Params["key"] != "***" || got.Params["project"] != "my-project" {
		t.Errorf("parameters = %v", got.Params)
	}
	for what, text := range map[string]string{"report": string(data), "stderr": r.stderr} {
		if strings.Contains(text, "SECRET-MATERIAL") {
			t.Errorf("the %s shows the secret:\n%s", what, text)
		}
	}
	if !strings.Contains(r.stderr, `"parameters":{"key":"***","project":"my-project"}`) {
		t.Errorf("the log does not show the masked parameters:\n%s", r.stderr)
	}
}

// jsonRecords returns the JSON log records in stderr.
func jsonRecords(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, line)
		}
		recs = append(recs, m)
	}
	return recs
}

func TestJSONLogs(t *testing.T) {
	out := t.TempDir()
	r := run(t, "run", "testdata/jobs/adults.yaml", "--param", "out_dir="+out, "--log-format", "json", "--quiet", "--no-optimize")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	recs := jsonRecords(t, r.stderr)
	if len(recs) == 0 || strings.Count(r.stderr, "\n") != len(recs) {
		t.Fatalf("stderr is not only JSON records:\n%s", r.stderr)
	}
	events := map[string]map[string]any{}
	for _, rec := range recs {
		if rec["job"] != "adults" || rec["time"] == nil || rec["level"] == nil {
			t.Errorf("record without job, time or level: %v", rec)
		}
		key, _ := rec["msg"].(string)
		if strings.HasPrefix(key, "stage ") {
			if rec["stage"] == nil || rec["type"] == nil {
				t.Errorf("stage record without stage and type: %v", rec)
			}
			key += " " + rec["stage"].(string)
		}
		events[key] = rec
	}
	for _, want := range []string{"job file loaded", "job started", "stage started reader", "stage started adults", "stage started writer", "stage finished reader", "stage finished adults", "stage finished writer", "job finished"} {
		if events[want] == nil {
			t.Errorf("no %q record in:\n%s", want, r.stderr)
		}
	}
	if e := events["stage finished adults"]; e["rows_in"] != 5.0 || e["rows_out"] != 3.0 || e["rejected"] != 0.0 || e["type"] != "Filter" {
		t.Errorf("stage finished adults: %v", e)
	}
	if e := events["job finished"]; e["status"] != "succeeded" || e["level"] != "INFO" {
		t.Errorf("job finished: %v", e)
	}

	// Rejected rows are a warning, shown at the default level too.
	r = run(t, "run", "../../examples/05_lookup_dedup_sort_rejects.yaml", "--param", "out_dir="+out, "--log-format", "json", "--log-level", "warn", "--quiet")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	warned := map[string]float64{}
	for _, rec := range jsonRecords(t, r.stderr) {
		if rec["level"] != "WARN" || rec["msg"] != "rows rejected" {
			t.Errorf("at level warn: %v", rec)
			continue
		}
		warned[rec["stage"].(string)] = rec["rejected"].(float64)
	}
	if warned["orders_reader"] != 3 || warned["country_lookup"] != 18 {
		t.Errorf("rejects warned: %v\n%s", warned, r.stderr)
	}
	r = run(t, "run", "../../examples/05_lookup_dedup_sort_rejects.yaml", "--param", "out_dir="+out)
	if !regexpLine(r.stderr, `level=WARN msg="rows rejected" job=latest_orders stage=country_lookup type=Lookup rejected=18`) {
		t.Errorf("no warning at the default level:\n%s", r.stderr)
	}
	if r := run(t, "run", "testdata/jobs/adults.yaml", "--log-level", "loud"); r.code != 2 || !strings.Contains(r.stderr, `--log-level: unknown level "loud"`) {
		t.Errorf("bad level: exit %d %s", r.code, r.stderr)
	}
	if r := run(t, "run", "testdata/jobs/adults.yaml", "--log-format", "xml"); r.code != 2 || !strings.Contains(r.stderr, `--log-format: unknown format "xml"`) {
		t.Errorf("bad format: exit %d %s", r.code, r.stderr)
	}
}

func TestRowsTrialRun(t *testing.T) {
	out := t.TempDir()
	rep := filepath.Join(out, "run.json")
	r := run(t, "run", "testdata/jobs/adults.yaml", "--param", "out_dir="+out, "--param", "min_age=0", "--rows", "2", "--report", rep, "--quiet")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	got, _ := os.ReadFile(filepath.Join(out, "adults.csv"))
	if string(got) != "name,age,city\nAna,34,Lima\nBo,17,Oslo\n" {
		t.Errorf("--rows 2 wrote %q", got)
	}
	if rp := readReport(t, rep); rp.RowLimit != 2 || rp.Status != "succeeded" {
		t.Errorf("report: row_limit %d status %s", rp.RowLimit, rp.Status)
	}
	// Every origin stops: the bench join reads two files.
	in := t.TempDir()
	writeBenchData(t, in, 5000)
	r = run(t, "run", "../../bench/jobs/w2.yaml", "--param", "in_dir="+in, "--param", "out_dir="+out, "--rows", "100", "--report", rep, "--quiet")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	rp := readReport(t, rep)
	origins := 0
	for _, st := range rp.Stages {
		if st.Layer == "extraction" {
			origins++
			if st.RowsOut+st.Rejected != 100 {
				t.Errorf("origin %s sent %d rows with --rows 100", st.Name, st.RowsOut)
			}
		}
	}
	if origins != 2 {
		t.Errorf("%d origins in the report", origins)
	}
}

func TestMaxRejects(t *testing.T) {
	out := t.TempDir()
	job := "../../examples/05_lookup_dedup_sort_rejects.yaml"
	// The example rejects 3 rows that do not parse and 18 of unknown countries.
	if r := run(t, "run", job, "--param", "out_dir="+out, "--max-rejects", "21", "--quiet"); r.code != 0 {
		t.Fatalf("21 rejects allowed: exit %d\n%s", r.code, r.stderr)
	}
	out = t.TempDir()
	r := run(t, "run", job, "--param", "out_dir="+out, "--max-rejects", "20", "--quiet")
	if r.code != 1 || !strings.Contains(r.stderr, "too many rejected rows: the job has rejected 21 rows, more than the 20 allowed") {
		t.Fatalf("20 allowed: exit %d\n%s", r.code, r.stderr)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("a job failed on rejects left output: %v", ents)
	}
	r = run(t, "run", job, "--param", "out_dir="+out, "--max-rejects", "0", "--quiet")
	if r.code != 1 || !strings.Contains(r.stderr, "more than the 0 allowed") {
		t.Errorf("none allowed: exit %d\n%s", r.code, r.stderr)
	}
}

func TestOverwrite(t *testing.T) {
	dir := t.TempDir()
	target := writeFile(t, filepath.Join(dir, "adults.csv"), "old\n")
	job := writeFile(t, filepath.Join(dir, "job.yaml"), `name: protect
stages:
  - {name: reader, type: CSVOrigin, path: `+abs(t, "testdata/data/people.csv")+`}
  - {name: writer, type: CSVDestination, path: adults.csv, if_exists: fail}
  - {name: appender, type: CSVDestination, path: log.csv, if_exists: append}
  - {name: copy, type: Copy}
pipes:
  - {name: rows, from: reader, to: copy}
  - {name: a, from: copy, to: writer}
  - {name: b, from: copy, to: appender}
`)
	r := run(t, "run", job, "--quiet")
	if r.code != 2 || !strings.Contains(r.stderr, "CSVDestination 'writer': '"+target+"' already exists and if_exists is fail") {
		t.Fatalf("if_exists: fail over an existing file: exit %d\n%s", r.code, r.stderr)
	}
	if got, _ := os.ReadFile(target); string(got) != "old\n" {
		t.Fatalf("the protected file changed: %q", got)
	}
	r = run(t, "run", job, "--overwrite", "--verbose", "--quiet")
	if r.code != 0 {
		t.Fatalf("--overwrite: exit %d\n%s", r.code, r.stderr)
	}
	if got, _ := os.ReadFile(target); !strings.HasPrefix(string(got), "name,age,city\nAna,34,Lima\n") {
		t.Errorf("--overwrite did not replace the file: %q", got)
	}
	if !strings.Contains(r.stderr, `stage=writer type=CSVDestination`) || strings.Contains(r.stderr, "replace (--overwrite)\" job=protect stage=appender") {
		t.Errorf("log of --overwrite:\n%s", r.stderr)
	}
	// append stays append: the third run added to the second one's rows (the first did not get past validation).
	run(t, "run", job, "--overwrite", "--quiet")
	if got, _ := os.ReadFile(filepath.Join(dir, "log.csv")); strings.Count(string(got), "Ana,34,Lima") != 2 {
		t.Errorf("--overwrite changed append:\n%s", got)
	}
}

func TestParamFileAndSets(t *testing.T) {
	dir := t.TempDir()
	job := writeFile(t, filepath.Join(dir, "job.yaml"), `name: sets
params:
  min_age: 18
  out_dir: out
param_sets:
  seniors: {min_age: 40}
  children: {min_age: 0}
stages:
  - {name: reader, type: CSVOrigin, path: `+abs(t, "testdata/data/people.csv")+`}
  - {name: f, type: Filter, field: age, condition: ">=", value: "${min_age}"}
  - {name: writer, type: CSVDestination, path: "${out_dir}/out.csv"}
pipes:
  - {name: p1, from: reader, to: f}
  - {name: p2, from: f, to: writer}
`)
	out := filepath.Join(dir, "o")
	os.Mkdir(out, 0o755)
	count := func(args ...string) int {
		t.Helper()
		r := run(t, append([]string{"run", job, "--quiet", "--param", "out_dir=" + out}, args...)...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
		data, _ := os.ReadFile(filepath.Join(out, "out.csv"))
		return strings.Count(string(data), "\n") - 1 - strings.Count(string(data), "\nYork")
	}
	pf := writeFile(t, filepath.Join(dir, "params.yaml"), "min_age: 30\n")
	cases := []struct {
		args []string
		want int
	}{
		{nil, 3},                                                    // Ana 34, Chen 45, Eve 18
		{[]string{"--param-set", "seniors"}, 1},                     // Chen
		{[]string{"--param-set", "children"}, 4},                    // everyone with an age
		{[]string{"--param-file", pf}, 2},                           // 30: Ana, Chen
		{[]string{"--param-set", "seniors", "--param-file", pf}, 2}, // the file wins over the set
		{[]string{"--param-file", pf, "--param", "min_age=18"}, 3},  // --param wins over the file
	}
	for _, c := range cases {
		if got := count(c.args...); got != c.want {
			t.Errorf("%v: %d rows, want %d", c.args, got, c.want)
		}
	}
	if r := run(t, "run", job, "--param-set", "senior"); r.code != 2 || !strings.Contains(r.stderr, "--param-set senior: the job has no parameter set 'senior' (did you mean 'seniors'?)") {
		t.Errorf("unknown set: exit %d %s", r.code, r.stderr)
	}
	bad := writeFile(t, filepath.Join(dir, "bad.yaml"), "min_age: 30\nmax_age: 3\n")
	if r := run(t, "validate", job, "--param-file", bad); r.code != 2 || !strings.Contains(r.stderr, bad+":2: the job declares no parameter 'max_age'") {
		t.Errorf("unknown parameter in the file: exit %d %s", r.code, r.stderr)
	}
}

func TestSchema(t *testing.T) {
	out := "out_dir=" + t.TempDir()
	r := run(t, "validate", "testdata/jobs/adults.yaml", "--schema", "--param", out)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	want := "pipe people (reader → adults), 3 columns\n" +
		"  name  string  Arrow utf8\n" +
		"  age   int64   Arrow int64\n" +
		"  city  string  Arrow utf8\n" +
		"\n" +
		"pipe grown_ups (adults → writer), 3 columns\n" +
		"  name  string  Arrow utf8\n" +
		"  age   int64   Arrow int64\n" +
		"  city  string  Arrow utf8\n"
	if r.stdout != want {
		t.Errorf("validate --schema:\n%s\nwant:\n%s", r.stdout, want)
	}
	if r2 := run(t, "schema", "testdata/jobs/adults.yaml", "-p", out); r2.stdout != want || r2.code != 0 {
		t.Errorf("schema: exit %d\n%s", r2.code, r2.stdout)
	}
	r = run(t, "schema", "../../examples/05_lookup_dedup_sort_rejects.yaml", "--format", "json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var schemas []report.PipeSchema
	if err := json.Unmarshal([]byte(r.stdout), &schemas); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	byPipe := map[string]report.PipeSchema{}
	for _, s := range schemas {
		byPipe[s.Pipe] = s
	}
	bad := byPipe["bad_rows"]
	if !bad.Reject || bad.From != "orders_reader" || len(bad.Columns) == 0 || bad.Columns[len(bad.Columns)-1].Name != "error" {
		t.Errorf("reject pipe bad_rows: %+v", bad)
	}
	for _, c := range byPipe["orders"].Columns {
		if c.Name == "order_date" && (c.Type != "date" || c.ArrowType != "date32") {
			t.Errorf("order_date: %+v", c)
		}
	}
	if len(schemas) != 7 {
		t.Errorf("%d pipes", len(schemas))
	}
	if r := run(t, "schema", "testdata/jobs/unknown_column.yaml"); r.code != 2 {
		t.Errorf("schema of an invalid job: exit %d", r.code)
	}
	if r := run(t, "schema", "testdata/jobs/adults.yaml", "-p", out, "--format", "yaml"); r.code != 2 {
		t.Errorf("unknown format: exit %d", r.code)
	}
}

func TestExitCodes(t *testing.T) {
	out := t.TempDir()
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"run", "testdata/jobs/adults.yaml", "--param", "out_dir=" + out, "--quiet"}, 0},
		{[]string{"validate", "testdata/jobs/adults.yaml", "--param", "out_dir=" + out}, 0},
		{[]string{"run", "testdata/jobs/long.yaml", "--rows", "-"}, 2},      // bad flag value
		{[]string{"run", "testdata/jobs/unknown_column.yaml"}, 2},           // invalid at validation
		{[]string{"run", "testdata/jobs/unknown_type.yaml"}, 2},             // invalid job file
		{[]string{"run", "testdata/jobs/adults.yaml", "--no-such-flag"}, 2}, // usage
		{[]string{"frobnicate"}, 2}, // unknown command
		{[]string{"run", "testdata/jobs/adults.yaml", "--metrics-addr", "nowhere:xx"}, 2},
	}
	for _, c := range cases {
		if r := run(t, c.args...); r.code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s", c.args, r.code, c.code, r.stderr)
		}
	}
	// A job that fails while running exits 1.
	dir := t.TempDir()
	job := writeFile(t, filepath.Join(dir, "fail.yaml"), `name: failing
stages:
  - {name: reader, type: CSVOrigin, path: `+abs(t, "testdata/data/badint.csv")+`, column_types: {age: int64}, sample_rows: 1}
  - {name: show, type: Printer}
pipes:
  - {name: rows, from: reader, to: show}
`)
	if r := run(t, "run", job, "--quiet"); r.code != 1 {
		t.Errorf("runtime failure: exit %d\n%s", r.code, r.stderr)
	}
}

func abs(t *testing.T, path string) string {
	t.Helper()
	p, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
