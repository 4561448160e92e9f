package serve_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/open-stage/openstage/internal/serve"
)

func TestFailingJob(t *testing.T) {
	dir := jobDir(t)
	s := start(t, dir, serve.Options{})
	r := s.startRun(t, map[string]any{"job": "failing.yaml"})
	r = s.waitEnd(t, r.ID)
	if r.Status != "failed" || !strings.Contains(r.Error, "TestFailAfter 'breaker'") || !strings.Contains(r.Error, "the test node fails after 5 rows") {
		t.Fatalf("the failing run: %s %q", r.Status, r.Error)
	}
	var breaker string
	for _, st := range r.Report.Stages {
		if st.Name == "breaker" {
			breaker = st.Error
		}
	}
	if !strings.Contains(breaker, "fails after 5 rows") {
		t.Errorf("the failing stage's error in the report: %q", breaker)
	}
	if exists(filepath.Join(dir, "out", "failing.csv")) {
		t.Error("a failed job left its output file")
	}
	page := text(s.getOK(t, "/runs/1"))
	for _, want := range []string{"failed", "the test node fails after 5 rows", "breaker TestFailAfter failed", `msg="stage failed"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the run page lacks %q", want)
		}
	}
	if row := text(rowOf(t, s.getOK(t, "/"), "failing.yaml")); !strings.Contains(row, "failed") {
		t.Errorf("the jobs page's row: %s", row)
	}
}

// Cancel stops a running job as Ctrl-C does: the destination commits
// nothing, the run is recorded as cancelled with the counts it reached.
func TestCancelMidRun(t *testing.T) {
	dir := jobDir(t)
	s := start(t, dir, serve.Options{})
	r := s.startRun(t, map[string]any{"job": "slow.yaml"})
	r = s.waitRun(t, r.ID, "moving rows", func(r run) bool { return r.pipeRows("rows") >= 50 })
	// The run page of a running job: Cancel, the event stream, the live graph.
	page := s.getOK(t, "/runs/1")
	if !strings.Contains(page, `id="cancel-form"`) || !strings.Contains(page, `data-events="/runs/1/events?log=`) || !strings.Contains(text(page), "running") {
		t.Fatalf("the page of a running job:\n%s", text(page))
	}
	tok := csrfField.FindStringSubmatch(page)[1]
	code, loc, _ := s.postForm(t, "/runs/1/cancel", url.Values{"csrf_token": {tok}}, nil)
	if code != http.StatusSeeOther || loc != "/runs/1" {
		t.Fatalf("cancel: %d %q", code, loc)
	}
	r = s.waitEnd(t, 1)
	if r.Status != "cancelled" || !strings.Contains(r.Error, "no output was committed") {
		t.Fatalf("the cancelled run: %s %q", r.Status, r.Error)
	}
	if n := r.pipeRows("rows"); n < 50 || n >= 1000000 {
		t.Errorf("the cancelled run's count: %d", n)
	}
	if exists(filepath.Join(dir, "out", "slow.csv")) {
		t.Error("a cancelled run committed its output")
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "out", "*"))
	if len(matches) != 0 {
		t.Errorf("a cancelled run left files: %v", matches)
	}
	page = text(s.getOK(t, "/runs/1"))
	if !strings.Contains(page, "cancelled") || strings.Contains(page, "Cancel run") {
		t.Errorf("the cancelled run's page: %s", page)
	}
	// Through the API too.
	r = s.startRun(t, map[string]any{"job": "slow.yaml"})
	s.waitRun(t, r.ID, "moving rows", func(r run) bool { return r.pipeRows("rows") > 0 })
	var got run
	if code := s.postJSON(t, fmt.Sprintf("/api/runs/%d/cancel", r.ID), nil, &got); code != http.StatusAccepted {
		t.Fatalf("POST cancel: %d", code)
	}
	if r = s.waitEnd(t, r.ID); r.Status != "cancelled" {
		t.Errorf("cancelled through the API: %s", r.Status)
	}
}

// With --max-runs 1, later runs wait in a queue, shown as queued with
// their place; a queued run can be cancelled without ever starting; the
// next one starts when a slot frees.
func TestConcurrentRunsOverTheLimit(t *testing.T) {
	s := start(t, jobDir(t), serve.Options{MaxRuns: 1})
	a := s.startRun(t, map[string]any{"job": "slow.yaml"})
	b := s.startRun(t, map[string]any{"job": "slow.yaml"})
	c := s.startRun(t, map[string]any{"job": "nested/deeper/params.yml"})
	if a.Status != "running" || b.Status != "queued" || b.QueuePosition != 1 || c.Status != "queued" || c.QueuePosition != 2 {
		t.Fatalf("statuses: %s, %s (%d), %s (%d)", a.Status, b.Status, b.QueuePosition, c.Status, c.QueuePosition)
	}
	if running, queued := s.Active(); running != 1 || queued != 2 {
		t.Fatalf("Active() = %d running, %d queued", running, queued)
	}
	page := text(s.getOK(t, "/runs/3"))
	if !strings.Contains(page, "queued") || !strings.Contains(page, "number 2 in the queue") {
		t.Errorf("the queued run's page: %s", page)
	}
	if row := text(rowOf(t, s.getOK(t, "/"), "nested/deeper/params.yml")); !strings.Contains(row, "queued") {
		t.Errorf("the queued job's row on the jobs page: %s", row)
	}
	if !strings.Contains(text(s.getOK(t, "/")), "1 running, 2 queued") {
		t.Error("the jobs page does not count the running and queued runs")
	}
	var ev []sseEvent
	// Cancel the last queued run: it ends without starting.
	if code := s.postJSON(t, "/api/runs/3/cancel", nil, nil); code != http.StatusAccepted {
		t.Fatalf("cancel the queued run: %d", code)
	}
	c = s.getRun(t, 3)
	if c.Status != "cancelled" || c.Start != nil || !strings.Contains(c.Error, "before it started") {
		t.Fatalf("the cancelled queued run: %+v", c)
	}
	if b = s.getRun(t, 2); b.Status != "queued" || b.QueuePosition != 1 {
		t.Fatalf("the second run: %+v", b)
	}
	// End the first: the second starts.
	s.postJSON(t, "/api/runs/1/cancel", nil, nil)
	s.waitEnd(t, 1)
	b = s.waitRun(t, 2, "started", func(r run) bool { return r.Status == "running" })
	if running, queued := s.Active(); running != 1 || queued != 0 {
		t.Errorf("after the first ended: %d running, %d queued", running, queued)
	}
	ev = readEvents(t, s, "/api/runs/3/events", nil)
	if len(ev) != 1 || ev[0].ev.Status != "cancelled" {
		t.Errorf("the cancelled queued run's stream: %+v", ev)
	}
	s.postJSON(t, "/api/runs/2/cancel", nil, nil)
	s.waitEnd(t, 2)
}

// A queued run's event stream says queued, then running, then the end.
func TestQueuedRunEvents(t *testing.T) {
	s := start(t, jobDir(t), serve.Options{MaxRuns: 1})
	s.startRun(t, map[string]any{"job": "slow.yaml", "options": map[string]any{"rows": 100}})
	s.startRun(t, map[string]any{"job": "nested/deeper/params.yml"})
	events := readEvents(t, s, "/api/runs/2/events", nil)
	seen := []string{}
	for _, e := range events {
		if len(seen) == 0 || seen[len(seen)-1] != e.ev.Status {
			seen = append(seen, e.ev.Status)
		}
	}
	if strings.Join(seen, ",") != "queued,succeeded" && strings.Join(seen, ",") != "queued,running,succeeded" {
		t.Errorf("statuses in the stream: %v", seen)
	}
	if events[0].ev.QueuePosition != 1 {
		t.Errorf("the first event's queue position: %d", events[0].ev.QueuePosition)
	}
}

// A server started again on the same state folder finds every run: its
// status, parameters, counts, graph and log; runs that were cut off by
// the stop are recorded as cancelled.
func TestRestartKeepsHistory(t *testing.T) {
	dir := jobDir(t)
	state := filepath.Join(t.TempDir(), "state")
	s := start(t, dir, serve.Options{StateDir: state})
	r := s.startRun(t, map[string]any{"job": "examples/02_split_merge_iris.yaml"})
	s.waitEnd(t, r.ID)
	f := s.startRun(t, map[string]any{"job": "failing.yaml"})
	s.waitEnd(t, f.ID)
	slow := s.startRun(t, map[string]any{"job": "slow.yaml"})
	s.waitRun(t, slow.ID, "moving", func(r run) bool { return r.pipeRows("rows") > 0 })
	before := text(s.getOK(t, "/runs/1"))
	s.Stop() // cancels the slow run
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.ts.Close()
	if _, err := os.Stat(filepath.Join(dir, ".openstage")); err == nil {
		t.Error("with --state elsewhere, a .openstage folder was made in the job folder")
	}

	s2 := start(t, dir, serve.Options{StateDir: state})
	after := text(s2.getOK(t, "/runs/1"))
	for _, want := range []string{"succeeded", "iris_reader CSVOrigin done 0 150", "combiner Funnel done 150 150", "counter Aggregator done 150 3", `msg="job finished"`, "out_dir out"} {
		if !strings.Contains(after, want) {
			t.Errorf("after the restart, run 1's page lacks %q", want)
		}
	}
	if before != after {
		t.Errorf("run 1's page changed across the restart:\nbefore: %s\nafter:  %s", before, after)
	}
	page := s2.getOK(t, "/runs/1")
	if !strings.Contains(page, `data-pipe="count_pipe"`) || !strings.Contains(page, ">3 rows</text>") {
		t.Error("the run's graph with its counts is not kept")
	}
	r1 := s2.getRun(t, 1)
	if r1.Status != "succeeded" || r1.pipeRows("p_setosa") != 50 || r1.pipeRows("count_pipe") != 3 {
		t.Errorf("run 1 from the API after the restart: %+v", r1)
	}
	if r2 := s2.getRun(t, 2); r2.Status != "failed" || !strings.Contains(r2.Error, "fails after 5 rows") {
		t.Errorf("run 2 after the restart: %+v", r2)
	}
	if r3 := s2.getRun(t, 3); r3.Status != "cancelled" || !strings.Contains(r3.Error, "server stopped") || r3.pipeRows("rows") <= 0 {
		t.Errorf("the run cut off by the stop: %+v", r3)
	}
	jobs := s2.getOK(t, "/")
	if row := text(rowOf(t, jobs, "examples/02_split_merge_iris.yaml")); !strings.Contains(row, "succeeded") {
		t.Errorf("the jobs page's last run after the restart: %s", row)
	}
	// New runs carry on the numbering.
	if r4 := s2.startRun(t, map[string]any{"job": "nested/deeper/params.yml"}); r4.ID != 4 {
		t.Errorf("the next run after the restart has id %d", r4.ID)
	}
}

// A history left with runs queued or running (a server killed, not
// stopped) marks them interrupted when it is opened again.
func TestInterruptedRuns(t *testing.T) {
	state := t.TempDir()
	st, err := serve.OpenStore(state)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	running := &serve.RunRecord{Job: "a.yaml", JobName: "a", Status: serve.StatusRunning, Params: map[string]any{}, Queued: now, Start: &now}
	queued := &serve.RunRecord{Job: "b.yaml", JobName: "b", Status: serve.StatusQueued, Params: map[string]any{}, Queued: now}
	done := &serve.RunRecord{Job: "c.yaml", JobName: "c", Status: serve.StatusSucceeded, Params: map[string]any{}, Queued: now, Start: &now, End: &now}
	for _, r := range []*serve.RunRecord{running, queued, done} {
		if err := st.Insert(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	st, err = serve.OpenStore(state)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for id, want := range map[int64]string{1: "interrupted", 2: "interrupted", 3: "succeeded"} {
		r, err := st.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != want || (want == "interrupted" && (r.End == nil || !strings.Contains(r.Error, "server stopped"))) {
			t.Errorf("run %d: %s %q", id, r.Status, r.Error)
		}
	}
}

// A job's secrets never reach a page, the API, the event stream, the log
// or the state database, even when a component logs one or quotes it in
// an error.
func TestSecretsNeverShown(t *testing.T) {
	dir := jobDir(t)
	state := filepath.Join(t.TempDir(), "state")
	s := start(t, dir, serve.Options{StateDir: state})
	secrets := []string{"hunter2-default", "hunter2-prodset", "hunter2-override", "hunter2-failrun"}
	var seen []string
	look := func(where, body string) {
		seen = append(seen, where)
		for _, sec := range secrets {
			if strings.Contains(body, sec) {
				t.Errorf("%s shows the secret %s", where, sec)
			}
		}
	}
	look("the jobs page", s.getOK(t, "/"))
	page := s.getOK(t, "/jobs/secret.yaml")
	look("the job page", page)
	if !strings.Contains(page, `name="p.db_password" type="password" value=""`) {
		t.Error("the secret parameter's field is not an empty password field")
	}
	if !strings.Contains(text(page), "password *** (secret)") || !strings.Contains(text(page), "db_password ***") {
		t.Error("the job page does not show the secret as ***")
	}
	_, body := s.get(t, "/api/jobs/secret.yaml")
	look("GET /api/jobs/secret.yaml", body)
	_, body = s.get(t, "/api/jobs")
	look("GET /api/jobs", body)

	// Runs: the default, a parameter set, an override, and a failure that
	// quotes the password.
	s.waitEnd(t, s.startRun(t, map[string]any{"job": "secret.yaml"}).ID)
	s.waitEnd(t, s.startRun(t, map[string]any{"job": "secret.yaml", "param_set": "prod"}).ID)
	tok := s.csrf(t, "/jobs/secret.yaml")
	_, loc, _ := s.postForm(t, "/runs", url.Values{"csrf_token": {tok}, "job": {"secret.yaml"}, "p.db_password": {"hunter2-override"}, "p.fail": {"false"}}, nil)
	var id int64
	fmt.Sscanf(loc, "/runs/%d", &id)
	if r := s.waitEnd(t, id); r.Status != "succeeded" || r.Params["db_password"] != "***" {
		t.Errorf("the run with an overridden secret: %+v", r)
	}
	events := readEvents(t, s, "/api/runs/1/events", nil)
	if len(events) == 0 {
		t.Fatal("no events")
	}
	fail := s.startRun(t, map[string]any{"job": "secret.yaml", "params": map[string]any{"db_password": "hunter2-failrun", "fail": true}})
	live := readEvents(t, s, fmt.Sprintf("/api/runs/%d/events", fail.ID), nil)
	fr := s.waitEnd(t, fail.ID)
	if fr.Status != "failed" || !strings.Contains(fr.Error, "with password ***: refused") {
		t.Errorf("the failing run's error: %q", fr.Error)
	}
	for i := int64(1); i <= fail.ID; i++ {
		_, body = s.get(t, fmt.Sprintf("/runs/%d", i))
		look(fmt.Sprintf("run page %d", i), body)
		if i == 1 && !strings.Contains(body, "postgres://user:***@db.example/db") {
			t.Error("the careless log line is not kept, masked")
		}
		_, body = s.get(t, fmt.Sprintf("/api/runs/%d", i))
		look(fmt.Sprintf("GET /api/runs/%d", i), body)
		_, body = s.get(t, fmt.Sprintf("/api/runs/%d/log", i))
		look(fmt.Sprintf("GET /api/runs/%d/log", i), body)
		_, body = s.get(t, fmt.Sprintf("/api/runs/%d/events", i))
		look(fmt.Sprintf("the event stream of run %d", i), body)
	}
	for _, e := range live {
		look("a live event", fmt.Sprint(e.ev))
	}
	_, body = s.get(t, "/api/runs")
	look("GET /api/runs", body)
	look("the runs page", s.getOK(t, "/runs"))

	// The state database, every file of it, and its content through SQLite.
	s.Stop()
	s.Close()
	files, _ := filepath.Glob(filepath.Join(state, "*"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		look("state file "+filepath.Base(f), string(data))
	}
	db, err := sql.Open("sqlite", filepath.Join(state, "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var dump string
	if err := db.QueryRow(`SELECT group_concat(params || error || coalesce(report, '') || coalesce(graph, ''), '|') FROM runs`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	look("the runs table", dump)
	if err := db.QueryRow(`SELECT group_concat(line, '|') FROM run_logs`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	look("the run_logs table", dump)
	if !strings.Contains(dump, "connecting with password ***") {
		t.Error("the stored log lacks the masked warning")
	}
	if len(seen) < 20 {
		t.Errorf("only %d places looked at", len(seen))
	}
}
