package bqtest

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bq "google.golang.org/api/bigquery/v2"

	_ "modernc.org/sqlite" // the query engine
)

// Options configure a Server.
type Options struct {
	// PageRows is the most rows a page of results holds, whatever the
	// client asks for (default 5, so that paging is always exercised).
	PageRows int
	// Location of datasets created without one, and of jobs (default "US").
	Location string
	// Authorize, if set, is asked about every request; an error answers
	// 401 with the service's message (tests of refused credentials).
	Authorize func(r *http.Request) error
}

// Server is a running local BigQuery-compatible server.
type Server struct {
	opts Options
	http *httptest.Server

	mu       sync.Mutex // guards everything below and the database
	db       *sql.DB    // one connection: an in-memory SQLite database
	datasets map[string]*dataset
	jobs     map[string]*job
	sessions map[string]*uploadSession
	fields   fieldRegistry
	seq      int

	stats struct {
		requests       atomic.Int64
		serverNanos    atomic.Int64
		queryJobs      atomic.Int64
		loadJobs       atomic.Int64
		dryRuns        atomic.Int64
		uploadSessions atomic.Int64
		uploadBytes    atomic.Int64
	}
}

// Stats counts what the server did since it started.
type Stats struct {
	Requests       int64         // HTTP requests answered
	ServerTime     time.Duration // time spent handling them, answers not yet written
	QueryJobs      int64         // queries run (jobs.insert and jobs.query), dry runs excluded
	DryRuns        int64         // dry-run queries
	LoadJobs       int64         // load jobs created (each one an upload that completed)
	UploadSessions int64         // resumable upload sessions opened
	UploadBytes    int64         // bytes of load data received
}

// New starts a server on a free port of 127.0.0.1.
func New(opts Options) *Server {
	s := newServer(opts)
	s.http = httptest.NewServer(s)
	return s
}

// Listen starts a server on addr (host:port) and serves until Close. It is
// for running the server by hand (cmd/bqtest).
func Listen(addr string, opts Options) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := newServer(opts)
	s.http = httptest.NewUnstartedServer(s)
	s.http.Listener.Close()
	s.http.Listener = l
	s.http.Start()
	return s, nil
}

func newServer(opts Options) *Server {
	if opts.PageRows <= 0 {
		opts.PageRows = 5
	}
	if opts.Location == "" {
		opts.Location = "US"
	}
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		panic("bqtest: opening SQLite: " + err.Error()) // only a missing driver fails here
	}
	// One connection: an in-memory database exists once per connection.
	db.SetMaxOpenConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return &Server{
		opts:     opts,
		db:       db,
		datasets: map[string]*dataset{},
		jobs:     map[string]*job{},
		sessions: map[string]*uploadSession{},
		fields:   fieldRegistry{ids: map[string]int{}},
	}
}

// URL is the server's base URL, such as http://127.0.0.1:40123. The REST
// API is under URL()+"/bigquery/v2/" (and also directly under URL()).
func (s *Server) URL() string { return s.http.URL }

// Host is the server's host:port, the value for BIGQUERY_EMULATOR_HOST.
func (s *Server) Host() string { return strings.TrimPrefix(s.http.URL, "http://") }

// Close stops the server and drops every table.
func (s *Server) Close() {
	s.http.Close()
	s.db.Close()
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Requests:       s.stats.requests.Load(),
		ServerTime:     time.Duration(s.stats.serverNanos.Load()),
		QueryJobs:      s.stats.queryJobs.Load(),
		DryRuns:        s.stats.dryRuns.Load(),
		LoadJobs:       s.stats.loadJobs.Load(),
		UploadSessions: s.stats.uploadSessions.Load(),
		UploadBytes:    s.stats.uploadBytes.Load(),
	}
}

// apiError is an error answered with the API's error body.
type apiError struct {
	code    int
	reason  string
	message string
}

func (e *apiError) Error() string { return e.message }

func notFound(format string, args ...any) *apiError {
	return &apiError{http.StatusNotFound, "notFound", fmt.Sprintf(format, args...)}
}

func duplicate(format string, args ...any) *apiError {
	return &apiError{http.StatusConflict, "duplicate", fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "invalid", fmt.Sprintf(format, args...)}
}

func invalidQuery(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "invalidQuery", fmt.Sprintf(format, args...)}
}

var statusNames = map[int]string{
	400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND", 409: "ALREADY_EXISTS",
	500: "INTERNAL", 501: "UNIMPLEMENTED",
}

// proto is the error as a job's errorResult.
func (e *apiError) proto() *bq.ErrorProto {
	return &bq.ErrorProto{Reason: e.reason, Message: e.message}
}

// errorFromProto turns a failed job's errorResult back into an HTTP error.
func errorFromProto(p *bq.ErrorProto) *apiError {
	code := http.StatusBadRequest
	switch p.Reason {
	case "notFound":
		code = http.StatusNotFound
	case "duplicate":
		code = http.StatusConflict
	}
	return &apiError{code, p.Reason, p.Message}
}

// reply is what a handler produces: a status and a body ready to write.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func jsonReply(status int, v any) *reply {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return errorReply(&apiError{500, "internalError", "bqtest: encoding the answer: " + err.Error()})
	}
	return &reply{status: status, body: buf.Bytes()}
}

func errorReply(e *apiError) *reply {
	type item struct {
		Message string `json:"message"`
		Domain  string `json:"domain"`
		Reason  string `json:"reason"`
	}
	type body struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Errors  []item `json:"errors"`
		Status  string `json:"status"`
	}
	status := statusNames[e.code]
	if status == "" {
		status = "UNKNOWN"
	}
	return jsonReply(e.code, map[string]body{"error": {
		Code: e.code, Message: e.message, Status: status,
		Errors: []item{{Message: e.message, Domain: "global", Reason: e.reason}},
	}})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var rep *reply
	if s.opts.Authorize != nil {
		if err := s.opts.Authorize(r); err != nil {
			rep = errorReply(&apiError{401, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. " + err.Error()})
		}
	}
	if rep == nil {
		rep = s.route(r)
	}
	s.stats.serverNanos.Add(int64(time.Since(start)))
	s.stats.requests.Add(1)
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	if rep.body != nil {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	}
	w.WriteHeader(rep.status)
	w.Write(rep.body)
}

// route dispatches a request by method and path. The REST API is served
// under /bigquery/v2/ and also at the root (for an endpoint given without
// the path); uploads under /upload/bigquery/v2/.
func (s *Server) route(r *http.Request) *reply {
	path := r.URL.Path
	upload := false
	switch {
	case strings.HasPrefix(path, "/upload/bigquery/v2/"):
		upload, path = true, strings.TrimPrefix(path, "/upload/bigquery/v2")
	case strings.HasPrefix(path, "/bigquery/v2/"):
		path = strings.TrimPrefix(path, "/bigquery/v2")
	}
	seg := strings.Split(strings.Trim(path, "/"), "/")
	if len(seg) < 2 || seg[0] != "projects" {
		return errorReply(&apiError{404, "notFound", fmt.Sprintf("bqtest: no such API path %s %s", r.Method, r.URL.Path)})
	}
	project := seg[1]
	rest := seg[2:]
	m := r.Method
	switch {
	case upload && len(rest) == 1 && rest[0] == "jobs" && (m == "POST" || m == "PUT"):
		return s.upload(r, project)
	case len(rest) == 1 && rest[0] == "datasets" && m == "GET":
		return s.listDatasets(project)
	case len(rest) == 1 && rest[0] == "datasets" && m == "POST":
		return s.insertDataset(r, project)
	case len(rest) == 2 && rest[0] == "datasets" && m == "GET":
		return s.getDataset(project, rest[1])
	case len(rest) == 2 && rest[0] == "datasets" && m == "DELETE":
		return s.deleteDataset(project, rest[1], r.URL.Query().Get("deleteContents") == "true")
	case len(rest) == 3 && rest[0] == "datasets" && rest[2] == "tables" && m == "GET":
		return s.listTables(project, rest[1])
	case len(rest) == 3 && rest[0] == "datasets" && rest[2] == "tables" && m == "POST":
		return s.insertTable(r, project, rest[1])
	case len(rest) == 4 && rest[0] == "datasets" && rest[2] == "tables" && m == "GET":
		return s.getTable(project, rest[1], rest[3])
	case len(rest) == 4 && rest[0] == "datasets" && rest[2] == "tables" && m == "DELETE":
		return s.deleteTable(project, rest[1], rest[3])
	case len(rest) == 5 && rest[0] == "datasets" && rest[2] == "tables" && rest[4] == "data" && m == "GET":
		return s.listTableData(r, project, rest[1], rest[3])
	case len(rest) == 1 && rest[0] == "jobs" && m == "POST":
		return s.insertJob(r, project)
	case len(rest) == 2 && rest[0] == "jobs" && m == "GET":
		return s.getJob(project, rest[1])
	case len(rest) == 1 && rest[0] == "queries" && m == "POST":
		return s.query(r, project)
	case len(rest) == 2 && rest[0] == "queries" && m == "GET":
		return s.getQueryResults(r, project, rest[1])
	}
	return errorReply(&apiError{501, "notImplemented", fmt.Sprintf("bqtest does not implement %s %s", m, r.URL.Path)})
}

// decodeBody decodes a JSON request body into v.
func decodeBody(r *http.Request, v any) *apiError {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return invalid("Invalid JSON payload received. %v", err)
	}
	return nil
}

// millis is a time as the API writes it: milliseconds since the epoch.
func millis(t time.Time) int64 { return t.UnixMilli() }
