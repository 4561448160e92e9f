package serve_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/open-stage/openstage"
	_ "github.com/open-stage/openstage/components/all" // the examples' components
	"github.com/open-stage/openstage/internal/serve"
)

// Test components, registered in the default registry of this test binary
// only: an origin that sends small batches slowly until told to stop (for
// cancel and queue tests), a node that fails after some rows, and an
// origin with a secret that it carelessly logs and quotes in its error.

type slowOrigin struct {
	Batches int `param:"batches" default:"100000" doc:"Batches to send."`
	DelayMS int `param:"delay_ms" default:"10" doc:"Pause before each batch."`
}

func (o *slowOrigin) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(openstage.NewSchema("n", openstage.Int64))
	return nil
}

func (o *slowOrigin) Pump(ctx context.Context, out *openstage.Outputs) error {
	schema := openstage.NewSchema("n", openstage.Int64)
	for i := range o.Batches {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(o.DelayMS) * time.Millisecond):
		}
		b := openstage.NewBuilder(out.Allocator(), schema)
		for j := range 10 {
			b.Append(int64(i*10 + j))
		}
		rec := b.Build()
		b.Release()
		err := out.Send(ctx, rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

type failAfter struct {
	Rows int64 `param:"rows" default:"5" doc:"Rows to pass before failing."`
}

func (f *failAfter) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(p.InputSchema())
	return nil
}

func (f *failAfter) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	var seen int64
	return in.ForEach(ctx, func(dp openstage.DataPackage) error {
		seen += dp.Batch.NumRows()
		if seen > f.Rows {
			return fmt.Errorf("row %d: the test node fails after %d rows", f.Rows+1, f.Rows)
		}
		return out.Send(ctx, dp.Batch)
	})
}

type secretOrigin struct {
	Host     string           `param:"host" default:"db.example" doc:"Host."`
	Password openstage.Secret `param:"password" doc:"Password."`
	Fail     bool             `param:"fail" doc:"Fail quoting the password."`
}

func (o *secretOrigin) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(openstage.NewSchema("n", openstage.Int64))
	// A careless component: the password in a plain log attribute.
	p.Logger().Info("planning", "dsn", "postgres://user:"+o.Password.Reveal()+"@"+o.Host+"/db")
	return nil
}

func (o *secretOrigin) Pump(ctx context.Context, out *openstage.Outputs) error {
	out.Logger().Warn("connecting with password " + o.Password.Reveal())
	if o.Fail {
		return fmt.Errorf("connecting to %s with password %s: refused", o.Host, o.Password.Reveal())
	}
	schema := openstage.NewSchema("n", openstage.Int64)
	b := openstage.NewBuilder(out.Allocator(), schema)
	defer b.Release()
	b.Append(int64(1))
	rec := b.Build()
	defer rec.Release()
	return out.Send(ctx, rec)
}

func init() {
	openstage.MustRegister(openstage.Spec{Type: "TestSlowOrigin", Layer: openstage.Extraction, Summary: "Sends batches slowly.", New: func() any { return &slowOrigin{} }})
	openstage.MustRegister(openstage.Spec{Type: "TestFailAfter", Layer: openstage.Transformation, Summary: "Fails after some rows.", New: func() any { return &failAfter{} }})
	openstage.MustRegister(openstage.Spec{Type: "TestSecretOrigin", Layer: openstage.Extraction, Summary: "Has a secret.", New: func() any { return &secretOrigin{} }})
}

const (
	slowJob = `name: slow
params:
  out_dir: out
stages:
  - {name: src, type: TestSlowOrigin, delay_ms: 10}
  - {name: dst, type: CSVDestination, path: "${out_dir}/slow.csv"}
pipes:
  - {name: rows, from: src, to: dst}
`
	failJob = `name: failing
stages:
  - {name: src, type: Generator, rows: 100, batch_rows: 10, columns: [{name: n}]}
  - {name: breaker, type: TestFailAfter, rows: 5}
  - {name: dst, type: CSVDestination, path: out/failing.csv}
pipes:
  - {name: in, from: src, to: breaker}
  - {name: out, from: breaker, to: dst}
`
	invalidJob = `name: broken
stages:
  - {name: src, type: Generator, rows: 10, columns: [{name: n}]}
  - {name: f, type: Filterr, field: n}
pipes:
  - {name: p, from: src, to: f}
`
	secretJob = `name: with_secret
params:
  db_password: hunter2-default
  fail: false
param_sets:
  prod: {db_password: hunter2-prodset}
stages:
  - {name: src, type: TestSecretOrigin, password: "${db_password}", fail: "${fail}"}
  - {name: dst, type: CSVDestination, path: out/secret.csv}
pipes:
  - {name: p, from: src, to: dst}
`
	paramsJob = `name: with_params
params:
  rows: 20
  label: plain
param_sets:
  big: {rows: 40}
stages:
  - {name: src, type: Generator, rows: "${rows}", columns: [{name: n}, {name: label, type: string, pattern: cycle, values: ["${label}"]}]}
  - {name: dst, type: CSVDestination, path: "out/${label}.csv"}
pipes:
  - {name: p, from: src, to: dst}
`
)

// jobDir makes a folder of job files: Example 2 with its data, the test
// jobs above, a non-job YAML file and a job in a subfolder.
func jobDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	write := func(rel, text string) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ex, err := os.ReadFile("../../examples/02_split_merge_iris.yaml")
	if err != nil {
		t.Fatal(err)
	}
	iris, err := os.ReadFile("../../examples/data/iris.csv")
	if err != nil {
		t.Fatal(err)
	}
	write("examples/02_split_merge_iris.yaml", string(ex))
	write("examples/data/iris.csv", string(iris))
	write("slow.yaml", slowJob)
	write("failing.yaml", failJob)
	write("broken.yaml", invalidJob)
	write("secret.yaml", secretJob)
	write("nested/deeper/params.yml", paramsJob)
	write("params-prod.yaml", "min_amount: 5\n") // a parameter file, not a job
	for _, out := range []string{"examples/out", "out", "nested/deeper/out"} {
		if err := os.MkdirAll(filepath.Join(dir, out), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type testServer struct {
	*serve.Server
	URL    string
	Dir    string
	client *http.Client
	ts     *httptest.Server
}

func start(t testing.TB, dir string, o serve.Options) *testServer {
	t.Helper()
	o.Dir = dir
	if o.Tick == 0 {
		o.Tick = 20 * time.Millisecond
	}
	s, err := serve.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(func() {
		s.Stop()
		ts.Close()
		s.Close()
	})
	return &testServer{Server: s, URL: ts.URL, Dir: dir, client: c, ts: ts}
}

// do sends a request and returns the status and body.
func (s *testServer) do(t testing.TB, method, path string, body io.Reader, header map[string]string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (s *testServer) get(t testing.TB, path string) (int, string) {
	t.Helper()
	code, body, _ := s.do(t, "GET", path, nil, nil)
	return code, body
}

// getOK fetches a page that must answer 200.
func (s *testServer) getOK(t testing.TB, path string) string {
	t.Helper()
	code, body := s.get(t, path)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", path, code, body)
	}
	return body
}

func (s *testServer) getJSON(t testing.TB, path string, v any) int {
	t.Helper()
	code, body := s.get(t, path)
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %d, not JSON: %v\n%s", path, code, err, body)
	}
	return code
}

func (s *testServer) postJSON(t testing.TB, path string, in any, out any) int {
	t.Helper()
	data, _ := json.Marshal(in)
	code, body, _ := s.do(t, "POST", path, strings.NewReader(string(data)), map[string]string{"Content-Type": "application/json"})
	if out != nil {
		if err := json.Unmarshal([]byte(body), out); err != nil {
			t.Fatalf("POST %s: %d, not JSON: %v\n%s", path, code, err, body)
		}
	}
	return code
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([0-9a-f]+)"`)

// csrf loads a page with a form and returns its CSRF token (the client's
// cookie jar keeps the cookie it goes with).
func (s *testServer) csrf(t testing.TB, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(s.getOK(t, page))
	if m == nil {
		t.Fatalf("no csrf_token field on %s", page)
	}
	return m[1]
}

// postForm posts a form and returns the status, the Location and the body.
func (s *testServer) postForm(t testing.TB, path string, form url.Values, header map[string]string) (int, string, string) {
	t.Helper()
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for k, v := range header {
		h[k] = v
	}
	code, body, hdr := s.do(t, "POST", path, strings.NewReader(form.Encode()), h)
	return code, hdr.Get("Location"), body
}

// run is a run as GET /api/runs/ID shows it.
type run struct {
	ID            int64             `json:"id"`
	Job           string            `json:"job"`
	Status        string            `json:"status"`
	Error         string            `json:"error"`
	Params        map[string]any    `json:"parameters"`
	ParamSet      string            `json:"param_set"`
	QueuePosition int               `json:"queue_position"`
	Start         *time.Time        `json:"start"`
	End           *time.Time        `json:"end"`
	Report        *runReport        `json:"report"`
	Options       serve.RunOptions  `json:"options"`
	Extra         map[string]string `json:"-"`
}

type runReport struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Stages []struct {
		Name     string     `json:"name"`
		RowsIn   int64      `json:"rows_in"`
		RowsOut  int64      `json:"rows_out"`
		Start    *time.Time `json:"start"`
		End      *time.Time `json:"end"`
		Error    string     `json:"error"`
		Rejected int64      `json:"rejected"`
	} `json:"stages"`
	Pipes []struct {
		Name string `json:"name"`
		Rows int64  `json:"rows"`
	} `json:"pipes"`
}

func (r *run) pipeRows(name string) int64 {
	if r.Report == nil {
		return -1
	}
	for _, p := range r.Report.Pipes {
		if p.Name == name {
			return p.Rows
		}
	}
	return -1
}

func (s *testServer) startRun(t testing.TB, req map[string]any) run {
	t.Helper()
	var r run
	if code := s.postJSON(t, "/api/runs", req, &r); code != http.StatusAccepted {
		t.Fatalf("POST /api/runs %v: %d %+v", req, code, r)
	}
	return r
}

func (s *testServer) getRun(t testing.TB, id int64) run {
	t.Helper()
	var r run
	if code := s.getJSON(t, fmt.Sprintf("/api/runs/%d", id), &r); code != http.StatusOK {
		t.Fatalf("GET /api/runs/%d: %d", id, code)
	}
	return r
}

// waitRun polls run id until cond holds (at most 30 s).
func (s *testServer) waitRun(t testing.TB, id int64, what string, cond func(run) bool) run {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := s.getRun(t, id)
		if cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %d: still not %s after 30s: %+v", id, what, r)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *testServer) waitEnd(t testing.TB, id int64) run {
	t.Helper()
	return s.waitRun(t, id, "ended", func(r run) bool { return serve.Final(r.Status) })
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}
