package serve

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/graph"
	"github.com/open-stage/openstage/internal/report"
)

var funcs = template.FuncMap{
	"when": func(t any) string {
		switch x := t.(type) {
		case time.Time:
			if x.IsZero() {
				return ""
			}
			return x.Local().Format("2006-01-02 15:04:05")
		case *time.Time:
			if x == nil {
				return ""
			}
			return x.Local().Format("2006-01-02 15:04:05")
		}
		return ""
	},
	"iso": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"dur":     duration,
	"seconds": func(s float64) string { return duration(time.Duration(s * float64(time.Second))) },
	"rows":    func(n int64) string { return strings.TrimSuffix(strings.TrimSuffix(graph.Rows(n), " rows"), " row") },
	"jobURL":  jobURL,
	"layerTitle": func(l string) string {
		return graph.LayerTitles[openstage.Layer(l)]
	},
	"stageState": stageState,
	"json": func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	},
	"final": Final,
	"svg":   func(s string) template.HTML { return template.HTML(s) }, // drawn by internal/graph, which escapes every name
}

func duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// jobURL is the job page of a job path, each segment escaped.
func jobURL(rel string) string {
	segs := strings.Split(rel, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "/jobs/" + strings.Join(segs, "/")
}

// stageState is a stage's state in a run: waiting (not started), running,
// done or failed; a stage that never started in a run that has ended is
// skipped.
func stageState(st report.Stage, runStatus string) string {
	switch {
	case st.Error != "":
		return "failed"
	case st.Start == nil && Final(runStatus):
		return "skipped"
	case st.Start == nil:
		return "waiting"
	case st.End == nil:
		return "running"
	}
	return "done"
}

var loginStyle = regexp.MustCompile(`(?s)<style>(.*?)</style>`)

// parseTemplates parses each page with the layout.
func parseTemplates() (map[string]*template.Template, error) {
	layout, err := fs.ReadFile(assets, "assets/templates/layout.html")
	if err != nil {
		return nil, err
	}
	pages, err := fs.Glob(assets, "assets/templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "assets/templates/"), ".html")
		if name == "layout" {
			continue
		}
		body, err := fs.ReadFile(assets, p)
		if err != nil {
			return nil, err
		}
		t := template.New("layout").Funcs(funcs)
		if _, err := t.Parse(string(layout)); err != nil {
			return nil, fmt.Errorf("layout.html: %w", err)
		}
		if _, err := t.New(name).Parse(string(body)); err != nil {
			return nil, fmt.Errorf("%s.html: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// render writes page name with data (a map; the CSRF token, the page name
// and whether a token protects the server are added).
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	data["CSRF"] = s.csrfToken(w, r)
	data["Page"] = name
	data["Auth"] = s.opts.AuthToken != ""
	var b bytes.Buffer
	if err := s.tmpl[name].ExecuteTemplate(&b, "layout", data); err != nil {
		http.Error(w, internalError(err), http.StatusInternalServerError)
		return
	}
	if name == "login" {
		// The login page is served before the token is checked, so it
		// carries its style inline (allowed by its hash) rather than
		// loading /static/style.css, which needs the token.
		if m := loginStyle.FindSubmatch(b.Bytes()); m != nil {
			sum := sha256.Sum256(m[1])
			w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(b.Bytes())
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, code int, msg string) {
	s.render(w, r, code, "error", map[string]any{"Title": http.StatusText(code), "Code": code, "Message": msg})
}

// jobRow is a row of the jobs page.
type jobRow struct {
	JobInfo
	Last *RunRecord
}

func (s *Server) jobsPage(w http.ResponseWriter, r *http.Request) {
	jobs, err := s.catalog.Jobs(r.Context())
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, internalError(err))
		return
	}
	latest, err := s.store.Latest(r.Context())
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, internalError(err))
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	rows := make([]jobRow, 0, len(jobs))
	invalid := 0
	for _, j := range jobs {
		if !j.Valid {
			invalid++
		}
		if q != "" && !matches(j, latest[j.Path], q) {
			continue
		}
		rows = append(rows, jobRow{JobInfo: j, Last: latest[j.Path]})
	}
	running, queued := s.runner.Active()
	s.render(w, r, http.StatusOK, "jobs", map[string]any{"Title": "Jobs", "Jobs": rows, "Total": len(jobs), "Invalid": invalid,
		"Query": q, "Dir": s.catalog.Root(), "Running": running, "Queued": queued})
}

// matches is the filter box's test (the page's script applies the same
// one as you type): every word of q in the job's path, name, description,
// validation status or last run status.
func matches(j JobInfo, last *RunRecord, q string) bool {
	text := strings.ToLower(searchText(j, last))
	for _, word := range strings.Fields(strings.ToLower(q)) {
		if !strings.Contains(text, word) {
			return false
		}
	}
	return true
}

func searchText(j JobInfo, last *RunRecord) string {
	parts := []string{j.Path, j.Name, j.Description}
	if j.Valid {
		parts = append(parts, "valid")
	} else {
		parts = append(parts, "invalid")
	}
	if last != nil {
		parts = append(parts, last.Status)
	}
	return strings.Join(parts, " ")
}

func (s *Server) jobPage(w http.ResponseWriter, r *http.Request) {
	rel := r.PathValue("path")
	d, err := s.catalog.Detail(r.Context(), rel)
	if err != nil {
		s.resolveError(w, r, false, err)
		return
	}
	runs, err := s.store.List(r.Context(), rel, 20)
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, internalError(err))
		return
	}
	var svg string
	if d.file != nil && d.file.Job != nil && len(d.file.Job.Stages()) > 0 {
		g := graph.FromJob(d.file.Job)
		g.Layout()
		var b strings.Builder
		g.SVGInline(&b)
		svg = b.String()
	}
	sets := map[string]map[string]string{}
	for _, ps := range d.ParamSets {
		sets[ps.Name] = ps.Values
	}
	s.render(w, r, http.StatusOK, "job", map[string]any{"Title": d.Name, "Job": d, "Graph": svg, "Runs": runs, "Legend": legend(),
		"Sets": sets, "Overwrite": s.opts.Overwrite != nil})
}

type legendItem struct{ Layer, Title string }

func legend() []legendItem {
	var out []legendItem
	for _, l := range graph.Layers {
		out = append(out, legendItem{string(l), graph.LayerTitles[l]})
	}
	return out
}

// formRequest reads the run form: the job, the parameter set, the
// options, and as overrides the parameter fields (p.NAME) that the user
// changed. A field left as the form showed it is not an override, so that
// choosing a set is not undone by the defaults the fields were filled
// with: the form shows the job's defaults, or, once the script has filled
// the fields from a chosen set, that set's values (its hidden field
// shown_set says which). A secret field left empty keeps the job's value.
func (s *Server) formRequest(r *http.Request) (RunRequest, error) {
	req := RunRequest{Job: r.PostFormValue("job"), ParamSet: r.PostFormValue("param_set"), Params: map[string]string{}}
	req.Options.Overwrite = r.PostFormValue("overwrite") == "on"
	if v := strings.TrimSpace(r.PostFormValue("rows")); v != "" && v != "0" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return req, fmt.Errorf("trial run rows: want a whole number, got %q", v)
		}
		req.Options.Rows = n
	}
	base, _ := s.catalog.Load(req.Job, nil, r.PostFormValue("shown_set"))
	for key, vals := range r.PostForm {
		name, ok := strings.CutPrefix(key, "p.")
		if !ok || len(vals) == 0 {
			continue
		}
		v := vals[0]
		if base != nil {
			if cur, declared := base.Params[name]; declared {
				if base.IsSecretParam(name) && v == "" {
					continue
				}
				if !base.IsSecretParam(name) && v == paramText(cur) {
					continue
				}
			}
		}
		req.Params[name] = v
	}
	return req, nil
}

func (s *Server) startRunForm(w http.ResponseWriter, r *http.Request) {
	req, err := s.formRequest(r)
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, err.Error())
		return
	}
	rec, err := s.runner.Submit(r.Context(), req)
	if err != nil {
		if errors.Is(err, ErrClosed) {
			s.errorPage(w, r, http.StatusServiceUnavailable, err.Error())
			return
		}
		s.resolveError(w, r, false, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/runs/%d", rec.ID), http.StatusSeeOther)
}

func runID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

func (s *Server) runPage(w http.ResponseWriter, r *http.Request) {
	id, ok := runID(r)
	if !ok {
		s.errorPage(w, r, http.StatusNotFound, "no such run")
		return
	}
	rec, err := s.runner.Get(r.Context(), id, true)
	if errors.Is(err, ErrNoRun) {
		s.errorPage(w, r, http.StatusNotFound, fmt.Sprintf("no run %d in the history", id))
		return
	}
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, internalError(err))
		return
	}
	logs, _, err := s.runner.Logs(r.Context(), id, 0)
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, internalError(err))
		return
	}
	params := make([]JobParam, 0, len(rec.Params))
	for _, k := range sortedKeys(rec.Params) {
		params = append(params, JobParam{Name: k, Value: paramText(rec.Params[k])})
	}
	s.render(w, r, http.StatusOK, "run", map[string]any{"Title": fmt.Sprintf("Run %d of %s", rec.ID, rec.JobName), "Run": rec, "Params": params,
		"Logs": logs, "Legend": legend(), "Queue": s.runner.QueuePosition(id), "Elapsed": duration(rec.Elapsed())})
}

func (s *Server) runsPage(w http.ResponseWriter, r *http.Request) {
	runs, err := s.store.List(r.Context(), "", 200)
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, internalError(err))
		return
	}
	s.render(w, r, http.StatusOK, "runs", map[string]any{"Title": "Runs", "Runs": runs})
}

func (s *Server) cancelRunForm(w http.ResponseWriter, r *http.Request) {
	id, ok := runID(r)
	if !ok {
		s.errorPage(w, r, http.StatusNotFound, "no such run")
		return
	}
	err := s.runner.Cancel(r.Context(), id)
	switch {
	case errors.Is(err, ErrNoRun):
		s.errorPage(w, r, http.StatusNotFound, fmt.Sprintf("no run %d in the history", id))
		return
	case err != nil && !errors.Is(err, ErrEnded):
		s.errorPage(w, r, http.StatusInternalServerError, internalError(err))
		return
	}
	if d := s.runner.Done(id); d != nil {
		select { // let the page show the end when it is quick
		case <-d:
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}
	http.Redirect(w, r, fmt.Sprintf("/runs/%d", id), http.StatusSeeOther)
}

// Event is what an event stream sends: the run's status and figures, and
// the log lines written since the previous event.
type Event struct {
	ID            int64        `json:"id"`
	Job           string       `json:"job"`
	Status        string       `json:"status"`
	Error         string       `json:"error,omitempty"`
	Elapsed       float64      `json:"elapsed_seconds"`
	QueuePosition int          `json:"queue_position,omitempty"`
	Stages        []StageState `json:"stages"`
	Pipes         []PipeCount  `json:"pipes"`
	Log           []string     `json:"log,omitempty"`
}

// StageState is a stage's state and counts in an Event.
type StageState struct {
	Name     string  `json:"name"`
	State    string  `json:"state"` // waiting, running, done, failed, skipped
	RowsIn   int64   `json:"rows_in"`
	RowsOut  int64   `json:"rows_out"`
	Rejected int64   `json:"rejected"`
	Elapsed  float64 `json:"elapsed_seconds"`
}

// PipeCount is a pipe's row count in an Event.
type PipeCount struct {
	Name string `json:"name"`
	Rows int64  `json:"rows"`
}

func (s *Server) event(rec *RunRecord) Event {
	ev := Event{ID: rec.ID, Job: rec.Job, Status: rec.Status, Error: rec.Error, Elapsed: rec.Elapsed().Seconds(), Stages: []StageState{}, Pipes: []PipeCount{}}
	if rec.Status == StatusQueued {
		ev.QueuePosition = s.runner.QueuePosition(rec.ID)
	}
	if rec.Report != nil {
		for _, st := range rec.Report.Stages {
			ev.Stages = append(ev.Stages, StageState{Name: st.Name, State: stageState(st, rec.Status), RowsIn: st.RowsIn, RowsOut: st.RowsOut, Rejected: st.Rejected, Elapsed: st.Elapsed})
		}
		for _, p := range rec.Report.Pipes {
			ev.Pipes = append(ev.Pipes, PipeCount{Name: p.Name, Rows: p.Rows})
		}
	}
	return ev
}

// events streams a run's state as Server-Sent Events: an event "state"
// whenever it changes (checked every Options.Tick), then one "end" with
// the final state, after which the stream closes.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	api := strings.HasPrefix(r.URL.Path, "/api/")
	id, ok := runID(r)
	if !ok {
		s.fail(w, r, api, http.StatusNotFound, "no such run")
		return
	}
	rec, err := s.runner.Get(r.Context(), id, false)
	if errors.Is(err, ErrNoRun) {
		s.fail(w, r, api, http.StatusNotFound, fmt.Sprintf("no run %d in the history", id))
		return
	}
	if err != nil {
		s.fail(w, r, api, http.StatusInternalServerError, internalError(err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	tick := time.NewTicker(s.opts.Tick)
	defer tick.Stop()
	sent, _ := strconv.Atoi(r.URL.Query().Get("log")) // log lines the page already shows
	sent = max(sent, 0)
	var last []byte
	lastWrite := time.Now()
	for {
		lines, _, err := s.runner.Logs(r.Context(), id, sent)
		if err != nil {
			return
		}
		ev := s.event(rec)
		state, _ := json.Marshal(ev)
		ev.Log = lines
		data, _ := json.Marshal(ev)
		switch {
		case Final(rec.Status):
			fmt.Fprintf(w, "event: end\ndata: %s\n\n", data)
			rc.Flush()
			return
		case len(lines) > 0 || !bytes.Equal(state, last):
			fmt.Fprintf(w, "event: state\ndata: %s\n\n", data)
			sent += len(lines)
			last = state
			lastWrite = time.Now()
		case time.Since(lastWrite) > 15*time.Second:
			fmt.Fprint(w, ": still running\n\n")
			lastWrite = time.Now()
		}
		if rc.Flush() != nil {
			return
		}
		done := s.runner.Done(id)
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case <-tick.C:
		case <-done:
		}
		if rec, err = s.runner.Get(r.Context(), id, false); err != nil {
			return
		}
	}
}
