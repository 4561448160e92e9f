package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// The JSON API (docs/director.md lists it with examples):
//
//	GET  /api/jobs                  every job file: name, validation, last run
//	GET  /api/jobs/PATH             one job: stages and their parameters, pipes and their columns, declared parameters, parameter sets
//	POST /api/validate/PATH         validate now: {"valid": bool, "problems": [...]}
//	POST /api/runs                  start a run: {"job": PATH, "params": {...}, "param_set": NAME, "options": {"overwrite": bool, "rows": N}} → 202 and the run
//	GET  /api/runs[?job=PATH&limit=N]  the history, newest first
//	GET  /api/runs/ID               a run: status, times, error, parameters and its report (live figures while it runs)
//	GET  /api/runs/ID/log           its log lines
//	POST /api/runs/ID/cancel        cancel it → 202 (409 if it has ended)
//	GET  /api/runs/ID/events        Server-Sent Events: "state" while it runs, "end" once

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func apiError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error": msg, "status": code})
}

// apiJob is a job in GET /api/jobs.
type apiJob struct {
	JobInfo
	LastRun *RunRecord `json:"last_run"`
}

func (s *Server) apiJobs(w http.ResponseWriter, r *http.Request) {
	jobs, err := s.catalog.Jobs(r.Context())
	if err != nil {
		apiError(w, http.StatusInternalServerError, internalError(err))
		return
	}
	latest, err := s.store.Latest(r.Context())
	if err != nil {
		apiError(w, http.StatusInternalServerError, internalError(err))
		return
	}
	out := make([]apiJob, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, apiJob{JobInfo: j, LastRun: latest[j.Path]})
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": out})
}

func (s *Server) apiJob(w http.ResponseWriter, r *http.Request) {
	d, err := s.catalog.Detail(r.Context(), r.PathValue("path"))
	if err != nil {
		s.resolveError(w, r, true, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) apiValidate(w http.ResponseWriter, r *http.Request) {
	info, err := s.catalog.Validate(r.Context(), r.PathValue("path"))
	if err != nil {
		s.resolveError(w, r, true, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) apiRuns(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			apiError(w, http.StatusBadRequest, fmt.Sprintf("limit: want a positive whole number, got %q", v))
			return
		}
		limit = min(n, 10000)
	}
	runs, err := s.store.List(r.Context(), r.URL.Query().Get("job"), limit)
	if err != nil {
		apiError(w, http.StatusInternalServerError, internalError(err))
		return
	}
	if runs == nil {
		runs = []*RunRecord{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
}

// apiRunRequest is the body of POST /api/runs: parameter values may be
// JSON strings, numbers or booleans (given to the job as --param would).
type apiRunRequest struct {
	Job      string         `json:"job"`
	Params   map[string]any `json:"params"`
	ParamSet string         `json:"param_set"`
	Options  RunOptions     `json:"options"`
}

func (s *Server) apiStartRun(w http.ResponseWriter, r *http.Request) {
	var body apiRunRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		apiError(w, http.StatusBadRequest, "cannot read the request: "+err.Error()+`; send {"job": "path/to/job.yaml", "params": {"name": "value"}}`)
		return
	}
	if body.Job == "" {
		apiError(w, http.StatusBadRequest, `"job" is missing: give the job file's path under the folder served`)
		return
	}
	if body.Options.Rows < 0 {
		apiError(w, http.StatusBadRequest, `"options.rows" must be 0 (all rows) or more`)
		return
	}
	req := RunRequest{Job: body.Job, ParamSet: body.ParamSet, Options: body.Options, Params: map[string]string{}}
	for k, v := range body.Params {
		switch x := v.(type) {
		case string:
			req.Params[k] = x
		case json.Number:
			req.Params[k] = x.String()
		case bool:
			req.Params[k] = strconv.FormatBool(x)
		case nil:
			req.Params[k] = "null"
		default:
			apiError(w, http.StatusBadRequest, fmt.Sprintf("parameter %q: give a string, number or boolean", k))
			return
		}
	}
	rec, err := s.runner.Submit(r.Context(), req)
	if errors.Is(err, ErrClosed) {
		apiError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if err != nil {
		s.resolveError(w, r, true, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/api/runs/%d", rec.ID))
	writeJSON(w, http.StatusAccepted, s.apiRunView(rec))
}

// apiRunView is a run as the API shows it: its record and, when queued,
// its place in the queue.
func (s *Server) apiRunView(rec *RunRecord) any {
	return struct {
		*RunRecord
		QueuePosition int     `json:"queue_position,omitempty"`
		ElapsedSecs   float64 `json:"elapsed_seconds"`
	}{rec, s.runner.QueuePosition(rec.ID), rec.Elapsed().Seconds()}
}

func (s *Server) apiRun(w http.ResponseWriter, r *http.Request) {
	id, ok := runID(r)
	if !ok {
		apiError(w, http.StatusNotFound, "no such run")
		return
	}
	rec, err := s.runner.Get(r.Context(), id, false)
	if errors.Is(err, ErrNoRun) {
		apiError(w, http.StatusNotFound, fmt.Sprintf("no run %d in the history", id))
		return
	}
	if err != nil {
		apiError(w, http.StatusInternalServerError, internalError(err))
		return
	}
	writeJSON(w, http.StatusOK, s.apiRunView(rec))
}

func (s *Server) apiRunLog(w http.ResponseWriter, r *http.Request) {
	id, ok := runID(r)
	if !ok {
		apiError(w, http.StatusNotFound, "no such run")
		return
	}
	if _, err := s.runner.Get(r.Context(), id, false); err != nil {
		apiError(w, http.StatusNotFound, fmt.Sprintf("no run %d in the history", id))
		return
	}
	lines, live, err := s.runner.Logs(r.Context(), id, 0)
	if err != nil {
		apiError(w, http.StatusInternalServerError, internalError(err))
		return
	}
	if lines == nil {
		lines = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "running": live, "lines": lines})
}

func (s *Server) apiCancel(w http.ResponseWriter, r *http.Request) {
	id, ok := runID(r)
	if !ok {
		apiError(w, http.StatusNotFound, "no such run")
		return
	}
	err := s.runner.Cancel(r.Context(), id)
	switch {
	case errors.Is(err, ErrNoRun):
		apiError(w, http.StatusNotFound, fmt.Sprintf("no run %d in the history", id))
		return
	case errors.Is(err, ErrEnded):
		apiError(w, http.StatusConflict, fmt.Sprintf("run %d has already ended", id))
		return
	case err != nil:
		apiError(w, http.StatusInternalServerError, internalError(err))
		return
	}
	rec, err := s.runner.Get(r.Context(), id, false)
	if err != nil {
		apiError(w, http.StatusInternalServerError, internalError(err))
		return
	}
	writeJSON(w, http.StatusAccepted, s.apiRunView(rec))
}
