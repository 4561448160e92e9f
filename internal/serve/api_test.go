package serve_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/open-stage/openstage/internal/serve"
)

func TestAPIJobs(t *testing.T) {
	s := start(t, jobDir(t), serve.Options{})
	var list struct {
		Jobs []struct {
			Path     string          `json:"path"`
			Name     string          `json:"name"`
			Valid    bool            `json:"valid"`
			Problems []serve.Problem `json:"problems"`
			LastRun  *run            `json:"last_run"`
		} `json:"jobs"`
	}
	if code := s.getJSON(t, "/api/jobs", &list); code != http.StatusOK {
		t.Fatalf("GET /api/jobs: %d", code)
	}
	byPath := map[string]int{}
	for i, j := range list.Jobs {
		byPath[j.Path] = i
	}
	if len(list.Jobs) != 6 {
		t.Fatalf("%d jobs, want 6: %+v", len(list.Jobs), list.Jobs)
	}
	iris := list.Jobs[byPath["examples/02_split_merge_iris.yaml"]]
	if iris.Name != "iris_split_merge" || !iris.Valid || len(iris.Problems) != 0 || iris.LastRun != nil {
		t.Errorf("Example 2: %+v", iris)
	}
	broken := list.Jobs[byPath["broken.yaml"]]
	if broken.Valid || len(broken.Problems) == 0 || broken.Problems[0].File != "broken.yaml" || broken.Problems[0].Line != 4 || !strings.Contains(broken.Problems[0].Message, "unknown stage type 'Filterr'") {
		t.Errorf("broken.yaml: %+v", broken)
	}

	var job struct {
		Name   string `json:"name"`
		Valid  bool   `json:"valid"`
		Stages []struct {
			Name, Type, Layer, Kind string
			Params                  []serve.StageParam `json:"parameters"`
		} `json:"stages"`
		Pipes []struct {
			Pipe, From, To string
			Columns        []struct{ Name, Type string }
		} `json:"pipes"`
		Params    []serve.JobParam `json:"parameters"`
		ParamSets []serve.ParamSet `json:"param_sets"`
	}
	if code := s.getJSON(t, "/api/jobs/examples/02_split_merge_iris.yaml", &job); code != http.StatusOK {
		t.Fatalf("GET /api/jobs/...: %d", code)
	}
	if job.Name != "iris_split_merge" || !job.Valid || len(job.Stages) != 7 || len(job.Pipes) != 8 {
		t.Fatalf("job: %+v", job)
	}
	if st := job.Stages[1]; st.Name != "router" || st.Type != "Switcher" || st.Layer != "routing" || st.Kind != "node" {
		t.Errorf("stage 2: %+v", st)
	}
	if p := job.Pipes[len(job.Pipes)-1]; p.Pipe != "count_pipe" || len(p.Columns) != 2 || p.Columns[1].Name != "count" || p.Columns[1].Type != "int64" {
		t.Errorf("count_pipe: %+v", p)
	}
	if len(job.Params) != 1 || job.Params[0].Name != "out_dir" || job.Params[0].Value != "out" {
		t.Errorf("declared parameters: %+v", job.Params)
	}
	s.getJSON(t, "/api/jobs/nested/deeper/params.yml", &job)
	if len(job.ParamSets) != 1 || job.ParamSets[0].Name != "big" || job.ParamSets[0].Values["rows"] != "40" || job.ParamSets[0].Values["label"] != "plain" {
		t.Errorf("parameter sets: %+v", job.ParamSets)
	}

	var v serve.JobInfo
	if code := s.postJSON(t, "/api/validate/broken.yaml", nil, &v); code != http.StatusOK || v.Valid || len(v.Problems) != 1 {
		t.Errorf("validate broken.yaml: %d %+v", code, v)
	}
	if code := s.postJSON(t, "/api/validate/slow.yaml", nil, &v); code != http.StatusOK || !v.Valid || v.Name != "slow" {
		t.Errorf("validate slow.yaml: %d %+v", code, v)
	}
	var e struct{ Error string }
	if code := s.getJSON(t, "/api/jobs/none.yaml", &e); code != http.StatusNotFound || !strings.Contains(e.Error, "no such job file") {
		t.Errorf("a missing job: %d %+v", code, e)
	}
	if code := s.getJSON(t, "/api/nothing", &e); code != http.StatusNotFound || !strings.Contains(e.Error, "no such API call") {
		t.Errorf("an unknown call: %d %+v", code, e)
	}
}

func TestAPIRun(t *testing.T) {
	s := start(t, jobDir(t), serve.Options{})
	r := s.startRun(t, map[string]any{"job": "nested/deeper/params.yml", "params": map[string]any{"rows": 7, "label": "api"}})
	if r.ID != 1 || r.Job != "nested/deeper/params.yml" || (r.Status != "running" && r.Status != "succeeded") {
		t.Fatalf("the started run: %+v", r)
	}
	r = s.waitEnd(t, r.ID)
	if r.Status != "succeeded" || r.pipeRows("p") != 7 || r.Params["rows"] != float64(7) || r.Start == nil || r.End == nil || r.Report.Status != "succeeded" {
		t.Fatalf("the ended run: %+v", r)
	}
	var log struct {
		Lines   []string `json:"lines"`
		Running bool     `json:"running"`
	}
	if s.getJSON(t, "/api/runs/1/log", &log); log.Running || len(log.Lines) < 3 || !strings.Contains(strings.Join(log.Lines, "\n"), `msg="job finished"`) {
		t.Errorf("the log: %+v", log)
	}
	var runs struct{ Runs []run }
	s.startRun(t, map[string]any{"job": "slow.yaml", "params": map[string]any{"out_dir": "out"}, "options": map[string]any{"rows": 30}})
	s.waitEnd(t, 2)
	if s.getJSON(t, "/api/runs?job=slow.yaml", &runs); len(runs.Runs) != 1 || runs.Runs[0].ID != 2 || runs.Runs[0].Options.Rows != 30 {
		t.Errorf("runs of slow.yaml: %+v", runs)
	}
	if r := s.getRun(t, 2); r.Status != "succeeded" || r.pipeRows("rows") != 30 {
		t.Errorf("a trial run of 30 rows: %+v", r)
	}
	if s.getJSON(t, "/api/runs", &runs); len(runs.Runs) != 2 || runs.Runs[0].ID != 2 {
		t.Errorf("every run, newest first: %+v", runs)
	}

	// Errors: bad JSON, no job, unknown field, a parameter of the wrong
	// kind, a job that is not there, an unknown run, cancelling an ended one.
	var e struct{ Error string }
	for body, want := range map[string]string{
		`{"job": `:                           "cannot read the request",
		`{}`:                                 `"job" is missing`,
		`{"job": "slow.yaml", "parmas": {}}`: "unknown field",
		`{"job": "slow.yaml", "params": {"out_dir": []}}`: "give a string, number or boolean",
	} {
		code, b, _ := s.do(t, "POST", "/api/runs", strings.NewReader(body), map[string]string{"Content-Type": "application/json"})
		json.Unmarshal([]byte(b), &e)
		if code != http.StatusBadRequest || !strings.Contains(e.Error, want) {
			t.Errorf("POST %s: %d %q, want 400 with %q", body, code, e.Error, want)
		}
	}
	if code := s.postJSON(t, "/api/runs", map[string]any{"job": "none.yaml"}, &e); code != http.StatusNotFound {
		t.Errorf("a run of a missing job: %d", code)
	}
	if code := s.getJSON(t, "/api/runs/42", &e); code != http.StatusNotFound {
		t.Errorf("GET an unknown run: %d", code)
	}
	if code := s.postJSON(t, "/api/runs/1/cancel", nil, &e); code != http.StatusConflict || !strings.Contains(e.Error, "already ended") {
		t.Errorf("cancel an ended run: %d %+v", code, e)
	}
	if code := s.postJSON(t, "/api/runs/42/cancel", nil, &e); code != http.StatusNotFound {
		t.Errorf("cancel an unknown run: %d", code)
	}
	// An undeclared parameter: an invalid run, recorded.
	r = s.startRun(t, map[string]any{"job": "slow.yaml", "params": map[string]any{"nope": 1}})
	if r.Status != "invalid" || !strings.Contains(r.Error, "declares no parameter 'nope'") {
		t.Errorf("an undeclared parameter: %+v", r)
	}
}

// sse reads Server-Sent Events until the stream ends.
type sseEvent struct {
	name string
	ev   serve.Event
}

func readEvents(t testing.TB, s *testServer, path string, header map[string]string) []sseEvent {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var out []sseEvent
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	var name string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			var ev serve.Event
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil {
				t.Fatalf("event data: %v", err)
			}
			out = append(out, sseEvent{name, ev})
		}
	}
	return out
}

// The event stream of a run sends its counts as they grow, a few times a
// second, then one end event with the final state, and closes.
func TestEventStream(t *testing.T) {
	s := start(t, jobDir(t), serve.Options{Tick: 50 * time.Millisecond})
	r := s.startRun(t, map[string]any{"job": "slow.yaml", "options": map[string]any{"rows": 300}}) // 30 batches, 10ms apart
	events := readEvents(t, s, "/api/runs/1/events", nil)
	if len(events) < 3 {
		t.Fatalf("%d events, want several: %+v", len(events), events)
	}
	last := events[len(events)-1]
	if last.name != "end" || last.ev.Status != "succeeded" || last.ev.ID != r.ID {
		t.Fatalf("the last event: %+v", last)
	}
	var prev int64 = -1
	growing := 0
	var lines []string
	for _, e := range events {
		lines = append(lines, e.ev.Log...)
		for _, p := range e.ev.Pipes {
			if p.Name == "rows" {
				if p.Rows < prev {
					t.Errorf("the count went down: %d after %d", p.Rows, prev)
				}
				if p.Rows > prev && p.Rows < 300 {
					growing++
				}
				prev = p.Rows
			}
		}
	}
	if prev != 300 {
		t.Errorf("the final count of pipe rows is %d, want 300", prev)
	}
	if growing < 2 {
		t.Errorf("only %d events showed the count growing before the end: the stream is not live", growing)
	}
	states := map[string]bool{}
	for _, e := range events {
		for _, st := range e.ev.Stages {
			states[st.Name+" "+st.State] = true
		}
	}
	if !states["src running"] || !states["src done"] || !states["dst done"] {
		t.Errorf("stage states seen: %v", states)
	}
	// Each log line once, in order, across the events.
	all := strings.Join(lines, "\n")
	if strings.Count(all, `msg="job started"`) != 1 || strings.Count(all, `msg="job finished"`) != 1 || strings.Index(all, "job started") > strings.Index(all, "job finished") {
		t.Errorf("the log lines across the events:\n%s", all)
	}
	// A stream of a run that has ended: the end event at once.
	events = readEvents(t, s, "/runs/1/events", nil)
	if len(events) != 1 || events[0].name != "end" || events[0].ev.Status != "succeeded" {
		t.Errorf("the stream of an ended run: %+v", events)
	}
	// ?log=N skips the lines a page already shows.
	events = readEvents(t, s, "/runs/1/events?log=3", nil)
	if got := len(events[0].ev.Log); got != len(lines)-3 {
		t.Errorf("?log=3 sent %d lines, want %d", got, len(lines)-3)
	}
	if code, _ := s.get(t, "/api/runs/9/events"); code != http.StatusNotFound {
		t.Errorf("the stream of an unknown run: %d", code)
	}
}
