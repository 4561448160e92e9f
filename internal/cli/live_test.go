package cli_test

// Tests of what the CLI shows while a job runs: Prometheus metrics and the
// progress display. They call cli.Main in the test process with a job whose
// origin (TestGate, registered here only) waits for the test between
// batches, so that "during the run" is a state the test controls, not a
// race against the clock.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/aitest"
	"github.com/open-stage/openstage/internal/cli"
)

// gate is an origin that sends Batches batches of 10 rows of n, waiting on
// the gate called Gate before each batch after the first Free ones.
type gate struct {
	Gate    string `param:"gate" required:"true" doc:"name of the test's gate"`
	Batches int    `param:"batches" default:"5" doc:"batches to send"`
	Free    int    `param:"free" default:"2" doc:"batches sent without waiting"`
}

var (
	gatesMu sync.Mutex
	gates   = map[string]chan struct{}{}
)

func newGate(name string) chan struct{} {
	gatesMu.Lock()
	defer gatesMu.Unlock()
	ch := make(chan struct{})
	gates[name] = ch
	return ch
}

func init() {
	openstage.MustRegister(openstage.Spec{Type: "TestGate", Layer: openstage.Extraction, Summary: "test origin waiting on a gate", New: func() any { return &gate{} }})
}

func (g *gate) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(openstage.NewSchema("n", openstage.Int64))
	return nil
}

func (g *gate) Pump(ctx context.Context, out *openstage.Outputs) error {
	gatesMu.Lock()
	ch := gates[g.Gate]
	gatesMu.Unlock()
	for i := range g.Batches {
		if i >= g.Free {
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		b := openstage.NewBuilder(out.Allocator(), openstage.NewSchema("n", openstage.Int64))
		for r := range 10 {
			b.Append(int64(i*10 + r))
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

func gateJob(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	return writeFile(t, filepath.Join(dir, "job.yaml"), fmt.Sprintf(`name: %s
stages:
  - {name: src, type: TestGate, gate: %s}
  - {name: writer, type: CSVDestination, path: out.csv}
pipes:
  - {name: numbers, from: src, to: writer}
`, name, name))
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// families parses the Prometheus text format.
func families(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("not the Prometheus text format: %v", err)
	}
	return mfs
}

// value returns the value of the metric of family name whose labels
// include want, and whether there is one.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		ok := true
		for k, v := range want {
			if labels[k] != v {
				ok = false
			}
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

type pushed struct {
	method, path string
	mfs          map[string]*dto.MetricFamily
}

// pushgateway is an httptest server that accepts what the Pushgateway
// accepts (PUT and POST of /metrics/job/NAME in any exposition format) and
// keeps the metric families.
func pushgateway(t *testing.T) (*httptest.Server, func() []pushed) {
	var mu sync.Mutex
	var got []pushed
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/metrics/job/") || (r.Method != http.MethodPut && r.Method != http.MethodPost) {
			http.Error(w, "not a push", http.StatusBadRequest)
			return
		}
		dec := expfmt.NewDecoder(r.Body, expfmt.ResponseFormat(r.Header))
		mfs := map[string]*dto.MetricFamily{}
		for {
			var mf dto.MetricFamily
			if err := dec.Decode(&mf); err != nil {
				if !errors.Is(err, io.EOF) {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				break
			}
			mfs[mf.GetName()] = &mf
		}
		mu.Lock()
		got = append(got, pushed{r.Method, r.URL.Path, mfs})
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []pushed {
		mu.Lock()
		defer mu.Unlock()
		return append([]pushed(nil), got...)
	}
}

func TestMetricsDuringRunAndPush(t *testing.T) {
	job := gateJob(t, "metered")
	ch := newGate("metered")
	addr := freePort(t)
	gw, received := pushgateway(t)
	var stdout, stderr bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- cli.Main([]string{"run", job, "--metrics-addr", addr, "--metrics-push", gw.URL, "--quiet"}, &stdout, &stderr)
	}()
	// Scrape until the origin has sent its two free batches.
	var mfs map[string]*dto.MetricFamily
	src := map[string]string{"job": "metered", "stage": "src", "type": "TestGate"}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("no metrics showing 20 rows out of src; last scrape: %v\nstderr: %s", mfs["openstage_stage_rows_out_total"], stderr.String())
		}
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			mfs = families(t, resp.Body)
			resp.Body.Close()
			if v, _ := value(mfs, "openstage_stage_rows_out_total", src); v == 20 {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	want := []struct {
		name   string
		labels map[string]string
		v      float64
	}{
		{"openstage_stage_rows_out_total", src, 20},
		{"openstage_stage_batches_out_total", src, 2},
		{"openstage_stage_bytes_out_total", src, 20 * 8},
		{"openstage_stage_rows_in_total", map[string]string{"job": "metered", "stage": "writer", "type": "CSVDestination"}, 20},
		{"openstage_stage_errors_total", src, 0},
		{"openstage_stage_running", src, 1},
		{"openstage_pipe_rows_total", map[string]string{"job": "metered", "pipe": "numbers", "from": "src", "to": "writer"}, 20},
		{"openstage_pipe_batches_total", map[string]string{"pipe": "numbers"}, 2},
		{"openstage_job_running", map[string]string{"job": "metered"}, 1},
	}
	for _, w := range want {
		if v, ok := value(mfs, w.name, w.labels); !ok || v != w.v {
			t.Errorf("during the run %s%v = %v (present %v), want %v", w.name, w.labels, v, ok, w.v)
		}
	}
	if mf := mfs["openstage_stage_rows_out_total"]; mf.GetType() != dto.MetricType_COUNTER {
		t.Errorf("rows out is a %v", mf.GetType())
	}
	if _, ok := mfs["openstage_job_success"]; ok {
		t.Error("job_success is reported while the job runs")
	}
	if v, ok := value(mfs, "openstage_stage_duration_seconds", src); !ok || v <= 0 {
		t.Errorf("stage duration = %v", v)
	}
	for range 3 {
		ch <- struct{}{}
	}
	if c := <-code; c != 0 {
		t.Fatalf("exit %d\n%s", c, stderr.String())
	}
	// The server is gone with the run.
	if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
		resp.Body.Close()
		t.Error("the metrics server still answers after the run")
	}
	got := received()
	if len(got) != 1 || got[0].method != http.MethodPut || got[0].path != "/metrics/job/metered" {
		t.Fatalf("pushes: %+v", got)
	}
	final := got[0].mfs
	for _, w := range []struct {
		name   string
		labels map[string]string
		v      float64
	}{
		{"openstage_stage_rows_out_total", map[string]string{"stage": "src"}, 50},
		{"openstage_stage_batches_out_total", map[string]string{"stage": "src"}, 5},
		{"openstage_stage_rows_in_total", map[string]string{"stage": "writer"}, 50},
		{"openstage_stage_running", map[string]string{"stage": "src"}, 0},
		{"openstage_pipe_rows_total", map[string]string{"pipe": "numbers"}, 50},
		{"openstage_job_running", nil, 0},
		{"openstage_job_success", nil, 1},
	} {
		if v, ok := value(final, w.name, w.labels); !ok || v != w.v {
			t.Errorf("pushed %s%v = %v (present %v), want %v", w.name, w.labels, v, ok, w.v)
		}
	}
	if v, ok := value(final, "openstage_job_last_success_time_seconds", nil); !ok || time.Since(time.Unix(int64(v), 0)) > time.Minute {
		t.Errorf("last success time %v", v)
	}
	for name, mf := range final {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "job" {
					t.Errorf("pushed %s carries a job label (the grouping key holds it)", name)
				}
			}
		}
	}
}

func TestMetricsPushOfFailedRun(t *testing.T) {
	gw, received := pushgateway(t)
	dir := t.TempDir()
	job := writeFile(t, filepath.Join(dir, "fail.yaml"), `name: failing
stages:
  - {name: reader, type: CSVOrigin, path: `+abs(t, "testdata/data/badint.csv")+`, column_types: {age: int64}, sample_rows: 1}
  - {name: show, type: Printer}
pipes:
  - {name: rows, from: reader, to: show}
`)
	var stdout, stderr bytes.Buffer
	if c := cli.Main([]string{"run", job, "--metrics-push", gw.URL, "--quiet"}, &stdout, &stderr); c != 1 {
		t.Fatalf("exit %d\n%s", c, stderr.String())
	}
	got := received()
	if len(got) != 1 {
		t.Fatalf("pushes: %+v", got)
	}
	if v, ok := value(got[0].mfs, "openstage_job_success", nil); !ok || v != 0 {
		t.Errorf("job_success = %v, %v", v, ok)
	}
	if v, _ := value(got[0].mfs, "openstage_stage_errors_total", map[string]string{"stage": "reader"}); v != 1 {
		t.Errorf("errors of the failing stage = %v", v)
	}
	if _, ok := got[0].mfs["openstage_job_last_success_time_seconds"]; ok {
		t.Error("a failed run reports a last success time")
	}
	// A Pushgateway that refuses: a warning, the job's status stands.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusInternalServerError) }))
	defer bad.Close()
	stderr.Reset()
	ok := writeFile(t, filepath.Join(dir, "ok.yaml"), `name: ok
stages:
  - {name: g, type: Generator, rows: 3, columns: [{name: n}]}
  - {name: show, type: Printer}
pipes:
  - {name: p, from: g, to: show}
`)
	if c := cli.Main([]string{"run", ok, "--metrics-push", bad.URL, "--quiet"}, &stdout, &stderr); c != 0 || !strings.Contains(stderr.String(), "openstage: warning: --metrics-push: pushing metrics to "+bad.URL+": unexpected status code 500") {
		t.Errorf("exit %d\n%s", c, stderr.String())
	}
}

// screen replays what a program wrote to a terminal: printable text, \r,
// \n and the CSI sequences mpb uses (cursor up, erase below, erase line);
// others (colours, cursor visibility) are skipped. It returns the lines
// left on the screen.
func screen(out []byte) []string {
	var lines [][]rune
	row, col := 0, 0
	put := func(r rune) {
		for len(lines) <= row {
			lines = append(lines, nil)
		}
		for len(lines[row]) < col {
			lines[row] = append(lines[row], ' ')
		}
		if col < len(lines[row]) {
			lines[row][col] = r
		} else {
			lines[row] = append(lines[row], r)
		}
		col++
	}
	csi := regexp.MustCompile(`^\x1b\[([0-9;?]*)([A-Za-z])`)
	s := []rune(string(out))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\x1b':
			m := csi.FindStringSubmatch(string(s[i:]))
			if m == nil {
				continue
			}
			i += len([]rune(m[0])) - 1
			n := 1
			fmt.Sscan(m[1], &n)
			switch m[2] {
			case "A":
				row = max(0, row-n)
			case "J":
				if row < len(lines) {
					lines[row] = lines[row][:min(col, len(lines[row]))]
					lines = lines[:row+1]
				}
			case "K":
				if row < len(lines) && col < len(lines[row]) {
					lines[row] = lines[row][:col]
				}
			}
		case c == '\r':
			col = 0
		case c == '\n':
			row++
			col = 0
		case c >= ' ':
			put(c)
		}
	}
	var outLines []string
	for _, l := range lines {
		outLines = append(outLines, strings.TrimRight(string(l), " "))
	}
	return outLines
}

func TestProgressOnTerminal(t *testing.T) {
	job := gateJob(t, "watched")
	ch := newGate("watched")
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 160})
	var mu sync.Mutex
	var drawn bytes.Buffer
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			mu.Lock()
			drawn.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	snapshot := func() []byte {
		mu.Lock()
		defer mu.Unlock()
		return bytes.Clone(drawn.Bytes())
	}
	var stdout bytes.Buffer
	code := make(chan int, 1)
	go func() { code <- cli.Main([]string{"run", job}, &stdout, tty) }()
	// The display shows the origin's line with the 20 rows it sent, and the
	// writer's, while the origin waits.
	// The writer's line may reach its 20 rows a redraw after the origin's.
	line := regexp.MustCompile(`src \(TestGate\)\s+running\s+20 rows\s+\S+ rows/s`)
	writer := regexp.MustCompile(`writer \(CSVDestination\)\s+running\s+20 rows`)
	deadline := time.Now().Add(20 * time.Second)
	for !line.Match(snapshot()) || !writer.Match(snapshot()) {
		if time.Now().After(deadline) {
			t.Fatalf("the display never showed src's and the writer's 20 rows; drawn:\n%q", snapshot())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 3 {
		ch <- struct{}{}
	}
	if c := <-code; c != 0 {
		t.Fatalf("exit %d", c)
	}
	tty.Close()
	<-readDone
	out := snapshot()
	if !bytes.Contains(out, []byte("\x1b[")) {
		t.Errorf("no terminal control sequences: %q", out)
	}
	final := strings.Join(screen(out), "\n")
	if strings.Contains(final, "running") || strings.Contains(final, "(TestGate)") {
		t.Errorf("the display was not cleared; the screen shows:\n%s", final)
	}
	if !regexp.MustCompile(`src\s+TestGate\s+0\s+50\s+0\s+5`).MatchString(final) || !strings.Contains(final, "job watched succeeded") {
		t.Errorf("the summary is not on the screen:\n%s", final)
	}
}

// Without a terminal (a pipe, a file) nothing of the display is written.
func TestNoProgressWithoutTerminal(t *testing.T) {
	job := gateJob(t, "piped")
	ch := newGate("piped")
	var stdout, stderr bytes.Buffer
	code := make(chan int, 1)
	go func() { code <- cli.Main([]string{"run", job}, &stdout, &stderr) }()
	// Hold the run for a few refreshes of the display.
	time.Sleep(3 * cli.ProgressInterval)
	for range 3 {
		ch <- struct{}{}
	}
	if c := <-code; c != 0 {
		t.Fatalf("exit %d\n%s", c, stderr.String())
	}
	if s := stderr.String(); strings.Contains(s, "\x1b") || strings.Contains(s, "running") || !strings.Contains(s, "job piped succeeded") {
		t.Errorf("stderr without a terminal:\n%q", s)
	}
	// And through a real file, as the binary sees a redirect.
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if cli.IsTerminal(f) {
		t.Error("a file is taken for a terminal")
	}
	// --quiet on a terminal: no display either.
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	if !cli.IsTerminal(tty) {
		t.Fatal("the pseudo-terminal is not a terminal")
	}
	job = gateJob(t, "quiet")
	ch = newGate("quiet")
	go func() { code <- cli.Main([]string{"run", job, "--quiet"}, &stdout, tty) }()
	time.Sleep(3 * cli.ProgressInterval)
	for range 3 {
		ch <- struct{}{}
	}
	if c := <-code; c != 0 {
		t.Fatalf("exit %d", c)
	}
	tty.Close()
	rest, _ := io.ReadAll(ptmx)
	if len(rest) != 0 {
		t.Errorf("--quiet drew on the terminal: %q", rest)
	}
}

func TestProgressLine(t *testing.T) {
	start := time.Now().Add(-2 * time.Second)
	cases := []struct {
		st   openstage.StageStats
		rate float64
		want string
	}{
		{openstage.StageStats{Stage: "r", Type: "CSVOrigin"}, 0, `^r \(CSVOrigin\)\s+waiting$`},
		{openstage.StageStats{Stage: "r", Type: "CSVOrigin", Start: start, RowsOut: 1234567, BytesRead: 250, BytesTotal: 1000}, 45600, `^r \(CSVOrigin\)\s+running\s+1,234,567 rows\s+45.6k rows/s\s+\[=====\s{15}\]\s+25%$`},
		{openstage.StageStats{Stage: "f", Type: "Filter", Start: start, RowsIn: 10, Rejected: 2}, 5, `running\s+10 rows\s+5.00 rows/s\s+2 rejected$`},
		{openstage.StageStats{Stage: "w", Type: "CSVDestination", Start: start, End: start.Add(time.Second), Elapsed: time.Second, RowsIn: 500}, 0, `done\s+500 rows\s+500 rows/s avg$`},
	}
	for _, c := range cases {
		if got := cli.ProgressLine(c.st, c.rate, 20); !regexp.MustCompile(c.want).MatchString(got) {
			t.Errorf("ProgressLine(%+v) = %q, want %s", c.st, got, c.want)
		}
	}
}

// An AI stage's retry is a warning record of the stage, and its tokens
// show in the summary; the key appears nowhere.
func TestAIStageRetryLoggedAndTokensShown(t *testing.T) {
	const key = "sk-test-KEY-0123456789"
	var mu sync.Mutex
	calls := 0
	srv := aitest.NewOpenAI(key, func(req aitest.Request) aitest.Reply {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			return aitest.Reply{Status: 429}
		}
		return aitest.Echo(req)
	})
	defer srv.Close()
	dir := t.TempDir()
	job := writeFile(t, filepath.Join(dir, "ai.yaml"), `name: ai_job
params:
  key: `+key+`
stages:
  - {name: rows, type: Generator, rows: 4, columns: [{name: id}, {name: amount, type: float64, pattern: cycle, values: [1.5, 20]}]}
  - name: enrich
    type: OpenAIPromptTransformer
    base_url: `+srv.URL+`/v1
    api_key: ${key}
    prompt: Keep the table as it is.
    retry_delay: 1ms
    concurrency: 1
  - {name: show, type: Printer, rows: 0}
pipes:
  - {name: p1, from: rows, to: enrich}
  - {name: p2, from: enrich, to: show}
`)
	gw, received := pushgateway(t)
	var stdout, stderr bytes.Buffer
	if c := cli.Main([]string{"run", job, "--log-format", "json", "--log-level", "warn", "--metrics-push", gw.URL}, &stdout, &stderr); c != 0 {
		t.Fatalf("exit %d\n%s", c, stderr.String())
	}
	out := stderr.String()
	if strings.Contains(out, key) || strings.Contains(stdout.String(), key) {
		t.Errorf("the key is shown:\n%s", out)
	}
	var retry map[string]any
	for _, rec := range jsonRecords(t, out) {
		if rec["msg"] == "retrying request" {
			retry = rec
		}
	}
	if retry == nil || retry["job"] != "ai_job" || retry["stage"] != "enrich" || retry["type"] != "OpenAIPromptTransformer" || retry["attempt"] != 1.0 || retry["level"] != "WARN" {
		t.Errorf("retry record: %v\n%s", retry, out)
	}
	if !regexp.MustCompile(`tokens in/out`).MatchString(out) || !regexp.MustCompile(`enrich\s+OpenAIPromptTransformer\s+4\s+4\s+0\s+1\s+\S+\s+\S+\s+\d+/\d+`).MatchString(out) {
		t.Errorf("the summary shows no tokens for the AI stage:\n%s", out)
	}
	pushes := received()
	if len(pushes) != 1 {
		t.Fatalf("pushes: %v", pushes)
	}
	enrich := map[string]string{"stage": "enrich", "type": "OpenAIPromptTransformer"}
	for _, name := range []string{"openstage_stage_input_tokens_total", "openstage_stage_output_tokens_total"} {
		if v, ok := value(pushes[0].mfs, name, enrich); !ok || v <= 0 {
			t.Errorf("%s = %v (present %v)", name, v, ok)
		}
	}
	if v, ok := value(pushes[0].mfs, "openstage_stage_counter_total", map[string]string{"stage": "enrich", "counter": "retries"}); !ok || v != 1 {
		t.Errorf("retries counter = %v (present %v)", v, ok)
	}
}
