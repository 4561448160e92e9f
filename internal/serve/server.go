package serve

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/open-stage/openstage"
)

//go:embed assets
var assets embed.FS

// Options configure a Server.
type Options struct {
	// Dir is the folder whose job files (recursively) are served.
	Dir string
	// StateDir holds the run history (history.db); "" means Dir/.openstage.
	StateDir string
	// MaxRuns is how many runs go at once; the others wait in a queue
	// (0 means 2).
	MaxRuns int
	// MemoryLimit is each run's memory limit (Job.MemoryLimit); 0 means
	// openstage.DefaultMemoryLimit() divided by MaxRuns, so that MaxRuns
	// runs together stay within the default of one.
	MemoryLimit int64
	// AuthToken, when set, is required on every request: an
	// "Authorization: Bearer TOKEN" header, or the session cookie that the
	// login form sets.
	AuthToken string
	// Overwrite applies --overwrite to a job (the run form's "replace
	// existing output"); the CLI passes its own. nil: the option is not
	// offered.
	Overwrite func(*openstage.Job, *slog.Logger)
	// Version is the openstage version written in run reports.
	Version string
	// Registry holds the component types; nil means the default registry.
	Registry *openstage.Registry
	// ValidateTimeout bounds one job's validation (0 means 20s).
	ValidateTimeout time.Duration
	// Tick is how often an event stream sends a running job's figures (0
	// means 250ms).
	Tick time.Duration
}

// Server is the web Director: an http.Handler.
type Server struct {
	opts    Options
	catalog *Catalog
	store   *Store
	runner  *Runner
	mux     *http.ServeMux
	tmpl    map[string]*template.Template
	key     []byte // signs CSRF tokens and the session cookie
	session string // the session cookie's value when AuthToken is set
	cop     *http.CrossOriginProtection
	closing chan struct{}

	stopOnce, closeOnce sync.Once
}

// New opens the history and returns the server of the job files under
// opts.Dir. Close it to stop the runs and close the history.
func New(opts Options) (*Server, error) {
	if opts.Dir == "" {
		opts.Dir = "."
	}
	if opts.MaxRuns <= 0 {
		opts.MaxRuns = 2
	}
	if opts.MemoryLimit <= 0 {
		opts.MemoryLimit = openstage.DefaultMemoryLimit() / int64(opts.MaxRuns)
	}
	if opts.Tick <= 0 {
		opts.Tick = 250 * time.Millisecond
	}
	cat, err := NewCatalog(opts.Dir, opts.Registry, opts.ValidateTimeout)
	if err != nil {
		return nil, err
	}
	if opts.StateDir == "" {
		opts.StateDir = filepath.Join(cat.Root(), ".openstage")
	}
	st, err := OpenStore(opts.StateDir)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, catalog: cat, store: st, key: make([]byte, 32), closing: make(chan struct{}), cop: http.NewCrossOriginProtection()}
	rand.Read(s.key)
	if opts.AuthToken != "" {
		m := hmac.New(sha256.New, []byte(opts.AuthToken))
		m.Write([]byte("openstage serve session"))
		s.session = hex.EncodeToString(m.Sum(nil))
	}
	s.runner = newRunner(cat, st, opts)
	if s.tmpl, err = parseTemplates(); err != nil {
		st.Close()
		return nil, err
	}
	s.routes()
	return s, nil
}

// Active is the number of runs going and waiting in the queue.
func (s *Server) Active() (running, queued int) { return s.runner.Active() }

// Root is the folder served; StateDir the history's folder.
func (s *Server) Root() string     { return s.catalog.Root() }
func (s *Server) StateDir() string { return s.opts.StateDir }

// Stop ends the event streams and cancels every run (nothing they wrote
// is committed), waiting until each is recorded; the pages and the API
// still answer (an http.Server's Shutdown, which waits for open streams,
// can follow).
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		close(s.closing)
		s.runner.Close()
	})
}

// Close stops the server (Stop) and closes the history.
func (s *Server) Close() error {
	s.Stop()
	var err error
	s.closeOnce.Do(func() { err = s.store.Close() })
	return err
}

func (s *Server) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets/static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /login", s.loginPage)
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("GET /{$}", s.jobsPage)
	m.HandleFunc("GET /jobs/{path...}", s.jobPage)
	m.HandleFunc("POST /runs", s.startRunForm)
	m.HandleFunc("GET /runs", s.runsPage)
	m.HandleFunc("GET /runs/{id}", s.runPage)
	m.HandleFunc("POST /runs/{id}/cancel", s.cancelRunForm)
	m.HandleFunc("GET /runs/{id}/events", s.events)

	m.HandleFunc("GET /api/jobs", s.apiJobs)
	m.HandleFunc("GET /api/jobs/{path...}", s.apiJob)
	m.HandleFunc("POST /api/validate/{path...}", s.apiValidate)
	m.HandleFunc("GET /api/runs", s.apiRuns)
	m.HandleFunc("POST /api/runs", s.apiStartRun)
	m.HandleFunc("GET /api/runs/{id}", s.apiRun)
	m.HandleFunc("GET /api/runs/{id}/log", s.apiRunLog)
	m.HandleFunc("POST /api/runs/{id}/cancel", s.apiCancel)
	m.HandleFunc("GET /api/runs/{id}/events", s.events)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "no such API call: "+r.Method+" "+r.URL.Path+" (see docs/director.md)")
	})
	s.mux = m
}

// ServeHTTP checks the host, the token and (for requests that change
// state) cross-origin protection, then serves the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	api := strings.HasPrefix(r.URL.Path, "/api/")
	if s.opts.AuthToken == "" && !loopbackHost(r.Host) {
		// Without a token the server only answers to its loopback names:
		// a page elsewhere cannot reach it through DNS rebinding.
		s.fail(w, r, api, http.StatusMisdirectedRequest, "this server answers only at 127.0.0.1, [::1] or localhost; start it with --auth-token to serve other addresses")
		return
	}
	if s.opts.AuthToken != "" && !s.authorized(r) && r.URL.Path != "/login" {
		if api || strings.HasSuffix(r.URL.Path, "/events") || r.Header.Get("Accept") == "text/event-stream" || r.Method != http.MethodGet {
			w.Header().Set("WWW-Authenticate", `Bearer realm="openstage"`)
			s.fail(w, r, true, http.StatusUnauthorized, "an auth token is required: send Authorization: Bearer TOKEN")
			return
		}
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions {
		if err := s.cop.Check(r); err != nil {
			s.fail(w, r, api, http.StatusForbidden, "cross-origin request refused: "+err.Error())
			return
		}
		if api {
			if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" && r.ContentLength != 0 {
				s.fail(w, r, true, http.StatusUnsupportedMediaType, "send the request body as application/json")
				return
			}
		} else if r.URL.Path != "/login" && !s.checkCSRF(w, r) {
			s.fail(w, r, false, http.StatusForbidden, "the form's security token is missing or out of date (did the server restart?); reload the page and try again")
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// loopbackHost reports whether a Host header names this machine's loopback.
func loopbackHost(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// authorized checks the bearer token or the session cookie.
func (s *Server) authorized(r *http.Request) bool {
	if auth := r.Header.Get("Authorization"); auth != "" {
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.opts.AuthToken)) == 1
	}
	if c, err := r.Cookie("openstage_session"); err == nil {
		return subtle.ConstantTimeCompare([]byte(c.Value), []byte(s.session)) == 1
	}
	return false
}

const csrfCookie = "openstage_csrf"

// csrfToken returns the form token of this browser, setting its cookie on
// first use.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	id := ""
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 32 {
		id = c.Value
	} else {
		b := make([]byte, 16)
		rand.Read(b)
		id = hex.EncodeToString(b)
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	}
	return s.sign(id)
}

func (s *Server) sign(id string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("csrf:" + id))
	return hex.EncodeToString(m.Sum(nil))
}

// checkCSRF checks a form's csrf_token against the browser's cookie.
func (s *Server) checkCSRF(w http.ResponseWriter, r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil {
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	tok := r.PostFormValue("csrf_token")
	return tok != "" && hmac.Equal([]byte(tok), []byte(s.sign(c.Value)))
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, api bool, code int, msg string) {
	if api {
		apiError(w, code, msg)
		return
	}
	s.errorPage(w, r, code, msg)
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.opts.AuthToken == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login", map[string]any{"Next": safeNext(r.URL.Query().Get("next")), "Failed": false})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if s.opts.AuthToken == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
	tok := r.PostFormValue("token")
	next := safeNext(r.PostFormValue("next"))
	if subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.AuthToken)) != 1 {
		time.Sleep(200 * time.Millisecond) // slow down guessing
		s.render(w, r, http.StatusUnauthorized, "login", map[string]any{"Next": next, "Failed": true})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: "openstage_session", Value: s.session, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// safeNext keeps a redirect target on this server.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/"
	}
	return next
}

// resolveError answers a job path that Resolve refused.
func (s *Server) resolveError(w http.ResponseWriter, r *http.Request, api bool, err error) {
	switch {
	case errors.Is(err, ErrBadPath):
		s.fail(w, r, api, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrOutside):
		s.fail(w, r, api, http.StatusForbidden, err.Error())
	case errors.Is(err, ErrNoJob):
		s.fail(w, r, api, http.StatusNotFound, err.Error())
	default:
		s.fail(w, r, api, http.StatusInternalServerError, err.Error())
	}
}

func internalError(err error) string { return fmt.Sprintf("internal error: %v", err) }
