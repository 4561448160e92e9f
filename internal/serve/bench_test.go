package serve_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-stage/openstage/internal/serve"
	"github.com/open-stage/openstage/jobfile"
)

// What the server adds to a run, measured in one process (docs/benchmarks.md):
//
//	go test ./internal/serve -run '^$' -bench . -count 5
//
// BenchmarkRunExample2 runs the design document's Example 2 (150 rows, 7
// stages, 8 pipes: a run of a few milliseconds, so the server's fixed cost
// per run shows) directly (jobfile.Load, Job.Run, as `openstage run` does)
// and through the server (POST /api/runs, then its event stream read to the
// end: loading, the history's writes, the graph drawn with the counts, the
// events), alternately in one session.
func BenchmarkRunExample2(b *testing.B) {
	dir := jobDir(b)
	job := filepath.Join(dir, "examples", "02_split_merge_iris.yaml")
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			f, err := jobfile.Load(job, jobfile.Options{})
			if err != nil {
				b.Fatal(err)
			}
			if err := f.Job.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("server", func(b *testing.B) {
		s := start(b, dir, serve.Options{StateDir: b.TempDir()})
		for b.Loop() {
			r := s.startRun(b, map[string]any{"job": "examples/02_split_merge_iris.yaml"})
			ev := readEvents(b, s, fmt.Sprintf("/api/runs/%d/events", r.ID), nil)
			if last := ev[len(ev)-1]; last.name != "end" || last.ev.Status != "succeeded" {
				b.Fatalf("run %d: %+v", r.ID, last)
			}
		}
	})
}

// BenchmarkLiveLook is one look at a running job's figures as the event
// stream takes one every 250 ms (GET /api/runs/ID: the engine's counters,
// the report built from them, JSON), over HTTP.
func BenchmarkLiveLook(b *testing.B) {
	s := start(b, jobDir(b), serve.Options{})
	r := s.startRun(b, map[string]any{"job": "slow.yaml"})
	s.waitRun(b, r.ID, "moving", func(r run) bool { return r.pipeRows("rows") > 0 })
	path := fmt.Sprintf("/api/runs/%d", r.ID)
	for b.Loop() {
		if code, body := s.get(b, path); code != http.StatusOK || !strings.Contains(body, `"running"`) {
			b.Fatalf("%d %s", code, body)
		}
	}
}

// BenchmarkJobsPage500 is GET / over 500 job files (copies of Examples 1
// and 2, one in fifty invalid) once their validation is kept.
func BenchmarkJobsPage500(b *testing.B) {
	dir := b.TempDir()
	ex1, _ := os.ReadFile("../../examples/01_simple_filter.yaml")
	ex2, _ := os.ReadFile("../../examples/02_split_merge_iris.yaml")
	os.MkdirAll(filepath.Join(dir, "data"), 0o755)
	for _, f := range []string{"iris.csv", "customers.csv"} {
		data, err := os.ReadFile("../../examples/data/" + f)
		if err != nil {
			b.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "data", f), data, 0o644)
	}
	for i := range 500 {
		sub := filepath.Join(dir, fmt.Sprintf("team%d", i%10))
		os.MkdirAll(filepath.Join(sub, "out"), 0o755)
		text := string(ex1)
		if i%2 == 0 {
			text = string(ex2)
		}
		if i%50 == 0 {
			text = strings.Replace(string(ex2), "type: Funnel", "type: Funel", 1)
		}
		text = strings.ReplaceAll(text, "data/", "../data/")
		os.WriteFile(filepath.Join(sub, fmt.Sprintf("job_%d.yaml", i)), []byte(text), 0o644)
	}
	s := start(b, dir, serve.Options{})
	page := s.getOK(b, "/") // validates every file
	if n := strings.Count(page, "data-job="); n != 500 {
		b.Fatalf("%d jobs listed", n)
	}
	if n := strings.Count(page, `class="invalid"`); n != 10 {
		b.Fatalf("%d invalid jobs listed, want 10", n)
	}
	for b.Loop() {
		s.getOK(b, "/")
	}
}
