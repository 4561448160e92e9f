package serve_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-stage/openstage/internal/serve"
)

const token = "0123456789abcdef-test-token"

// Every request needs the token when one is set: pages, assets, the API
// and the event streams.
func TestAuthToken(t *testing.T) {
	s := start(t, jobDir(t), serve.Options{AuthToken: token})
	s.startRunAuthorized(t)
	paths := []string{"/", "/jobs/slow.yaml", "/runs", "/runs/1", "/runs/1/events", "/static/app.js", "/static/style.css",
		"/api/jobs", "/api/jobs/slow.yaml", "/api/runs", "/api/runs/1", "/api/runs/1/log", "/api/runs/1/events"}
	for _, p := range paths {
		code, body, h := s.do(t, "GET", p, nil, nil)
		switch {
		case strings.HasPrefix(p, "/api/") || strings.HasSuffix(p, "/events"):
			if code != http.StatusUnauthorized || !strings.Contains(body, "auth token is required") || h.Get("WWW-Authenticate") == "" {
				t.Errorf("GET %s without the token: %d %q", p, code, body)
			}
		default:
			if code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login?next=") {
				t.Errorf("GET %s without the token: %d, Location %q; want a redirect to /login", p, code, h.Get("Location"))
			}
		}
		if code, _, _ := s.do(t, "GET", p, nil, map[string]string{"Authorization": "Bearer wrong-token-wrong-token"}); code == http.StatusOK {
			t.Errorf("GET %s with a wrong token: 200", p)
		}
		if code, _, _ := s.do(t, "GET", p, nil, map[string]string{"Authorization": "Bearer " + token}); code != http.StatusOK {
			t.Errorf("GET %s with the token: %d", p, code)
		}
	}
	// An event stream asked for by a browser (Accept: text/event-stream) without the token.
	if code, _, _ := s.do(t, "GET", "/runs/1/events", nil, map[string]string{"Accept": "text/event-stream"}); code != http.StatusUnauthorized {
		t.Errorf("an event stream without the token: %d", code)
	}
	for _, p := range []string{"/api/runs", "/api/runs/1/cancel", "/api/validate/slow.yaml", "/runs", "/runs/1/cancel"} {
		if code, _, _ := s.do(t, "POST", p, strings.NewReader(`{"job":"slow.yaml"}`), map[string]string{"Content-Type": "application/json"}); code != http.StatusUnauthorized {
			t.Errorf("POST %s without the token: %d", p, code)
		}
	}
	// The login page asks for it; a wrong one is refused; the right one
	// sets a session cookie that then opens every page and stream.
	login := s.getOK(t, "/login?next=/jobs/slow.yaml")
	if !strings.Contains(login, `name="token" type="password"`) || strings.Contains(login, token) {
		t.Error("the login page has no token field (or shows the token)")
	}
	if code, _, _ := s.postForm(t, "/login", url.Values{"token": {"nope"}, "next": {"/"}}, nil); code != http.StatusUnauthorized {
		t.Errorf("a wrong token at /login: %d", code)
	}
	code, loc, _ := s.postForm(t, "/login", url.Values{"token": {token}, "next": {"/jobs/slow.yaml"}}, nil)
	if code != http.StatusSeeOther || loc != "/jobs/slow.yaml" {
		t.Fatalf("login: %d %q", code, loc)
	}
	for _, p := range paths {
		if code, _ := s.get(t, p); code != http.StatusOK {
			t.Errorf("GET %s with the session cookie: %d", p, code)
		}
	}
	// The session cookie is not the token itself.
	u, _ := url.Parse(s.URL)
	for _, c := range s.client.Jar.Cookies(u) {
		if strings.Contains(c.Value, token) {
			t.Errorf("cookie %s holds the token", c.Name)
		}
	}
	// An open redirect is not possible through next.
	if _, loc, _ := s.postForm(t, "/login", url.Values{"token": {token}, "next": {"//evil.example/x"}}, nil); loc != "/" {
		t.Errorf("next=//evil.example redirected to %q", loc)
	}
}

func (s *testServer) startRunAuthorized(t *testing.T) {
	t.Helper()
	code, body, _ := s.do(t, "POST", "/api/runs", strings.NewReader(`{"job":"nested/deeper/params.yml"}`), map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + token})
	if code != http.StatusAccepted {
		t.Fatalf("POST /api/runs with the token: %d %s", code, body)
	}
}

// Without a token the server answers only to loopback host names, so that
// a web page cannot reach it through DNS rebinding.
func TestHostCheck(t *testing.T) {
	s := start(t, jobDir(t), serve.Options{})
	for _, host := range []string{"evil.example", "evil.example:80", "10.0.0.1:8080"} {
		req, _ := http.NewRequest("GET", s.URL+"/api/jobs", nil)
		req.Host = host
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("Host %s: %d, want 421", host, resp.StatusCode)
		}
	}
	for _, host := range []string{"localhost:8080", "127.0.0.1", "[::1]:9000"} {
		req, _ := http.NewRequest("GET", s.URL+"/api/jobs", nil)
		req.Host = host
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("Host %s: %d, want 200", host, resp.StatusCode)
		}
	}
}

func TestCSRF(t *testing.T) {
	dir := jobDir(t)
	s := start(t, dir, serve.Options{})
	form := func(tok string) url.Values {
		return url.Values{"csrf_token": {tok}, "job": {"nested/deeper/params.yml"}}
	}
	// No token, a made-up token, a token of another browser (another cookie).
	other := start(t, dir, serve.Options{})
	otherTok := other.csrf(t, "/jobs/slow.yaml")
	tok := s.csrf(t, "/jobs/slow.yaml")
	for name, f := range map[string]url.Values{"no token": form(""), "a made-up token": form(strings.Repeat("ab", 32)), "another server's token": form(otherTok)} {
		if code, _, body := s.postForm(t, "/runs", f, nil); code != http.StatusForbidden || !strings.Contains(body, "security token") {
			t.Errorf("POST /runs with %s: %d", name, code)
		}
	}
	// The right token, but sent from another site (the browser says so).
	for _, h := range []map[string]string{{"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://evil.example"}} {
		if code, _, _ := s.postForm(t, "/runs", form(tok), h); code != http.StatusForbidden {
			t.Errorf("POST /runs with %v: %d", h, code)
		}
	}
	// Without the cookie the token is worthless.
	bare := &http.Client{CheckRedirect: s.client.CheckRedirect}
	req, _ := http.NewRequest("POST", s.URL+"/runs", strings.NewReader(form(tok).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := bare.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST /runs with the token but not its cookie: %v %v", resp.StatusCode, err)
	}
	if code, _, _ := s.postForm(t, "/runs/1/cancel", url.Values{}, nil); code != http.StatusForbidden {
		t.Errorf("POST /runs/1/cancel without a token: %d", code)
	}
	var runs struct{ Runs []run }
	if s.getJSON(t, "/api/runs", &runs); len(runs.Runs) != 0 {
		t.Fatalf("a refused form started a run: %+v", runs.Runs)
	}
	// Same-origin with the token: accepted.
	if code, loc, body := s.postForm(t, "/runs", form(tok), map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": s.URL}); code != http.StatusSeeOther {
		t.Fatalf("POST /runs with its token: %d %s %s", code, loc, body)
	}

	// The API: a JSON body (a browser cannot send one cross-origin without
	// a preflight, which is never answered) and no cross-site request.
	for _, h := range []map[string]string{
		{"Content-Type": "text/plain"},
		{"Content-Type": "application/x-www-form-urlencoded"},
		{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"},
		{"Content-Type": "application/json", "Origin": "http://evil.example"},
	} {
		if code, _, _ := s.do(t, "POST", "/api/runs", strings.NewReader(`{"job":"nested/deeper/params.yml"}`), h); code != http.StatusUnsupportedMediaType && code != http.StatusForbidden {
			t.Errorf("POST /api/runs with %v: %d", h, code)
		}
	}
	if s.getJSON(t, "/api/runs", &runs); len(runs.Runs) != 1 {
		t.Fatalf("%d runs, want only the accepted form's", len(runs.Runs))
	}
	// A client that is not a browser (curl, a scheduler) sends JSON.
	if code := s.postJSON(t, "/api/runs", map[string]any{"job": "nested/deeper/params.yml"}, nil); code != http.StatusAccepted {
		t.Errorf("POST /api/runs as JSON: %d", code)
	}
}

// rawGet sends a request line exactly as given (no client-side cleaning)
// and returns the status and body.
func rawGet(t *testing.T, base, target string) (int, string) {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, u.Host)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Only job files under the folder can be read or run: no "..", encoded or
// not, no absolute path, no hidden folder, no symlink out of the folder.
func TestPathTraversal(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "jobs")
	os.MkdirAll(dir, 0o755)
	// Outside the folder: a job file and a folder of job files.
	const marker = "OUTSIDE-SECRET-MARKER"
	outside := "name: " + marker + "\nstages:\n  - {name: src, type: Generator, rows: 1, columns: [{name: n}]}\n  - {name: dst, type: Printer}\npipes:\n  - {name: p, from: src, to: dst}\n"
	os.WriteFile(filepath.Join(root, "outside.yaml"), []byte(outside), 0o644)
	os.MkdirAll(filepath.Join(root, "elsewhere"), 0o755)
	os.WriteFile(filepath.Join(root, "elsewhere", "job.yaml"), []byte(outside), 0o644)
	// Inside: a job, a hidden job, links out of the folder and one inside it.
	inside := strings.ReplaceAll(outside, marker, "inside_job")
	os.WriteFile(filepath.Join(dir, "ok.yaml"), []byte(inside), 0o644)
	os.MkdirAll(filepath.Join(dir, ".hidden"), 0o755)
	os.WriteFile(filepath.Join(dir, ".hidden", "job.yaml"), []byte(outside), 0o644)
	os.WriteFile(filepath.Join(dir, ".dotjob.yaml"), []byte(outside), 0o644)
	if err := os.Symlink(filepath.Join(root, "outside.yaml"), filepath.Join(dir, "link-out.yaml")); err != nil {
		t.Fatal(err)
	}
	os.Symlink(filepath.Join(root, "elsewhere"), filepath.Join(dir, "linkdir"))
	os.Symlink(filepath.Join(dir, "ok.yaml"), filepath.Join(dir, "link-in.yaml"))

	s := start(t, dir, serve.Options{})
	page := s.getOK(t, "/")
	if strings.Contains(page, marker) || strings.Contains(page, "link-out.yaml") || strings.Contains(page, "linkdir") || strings.Contains(page, ".hidden") {
		t.Errorf("the jobs page lists a file outside the folder or hidden:\n%s", text(page))
	}
	if !strings.Contains(page, `data-job="ok.yaml"`) || !strings.Contains(page, `data-job="link-in.yaml"`) {
		t.Error("the jobs page misses ok.yaml or the link that stays inside the folder")
	}
	for _, target := range []string{
		"/jobs/../outside.yaml",
		"/jobs/..%2foutside.yaml",
		"/jobs/..%2Foutside.yaml",
		"/jobs/%2e%2e/outside.yaml",
		"/jobs/%2e%2e%2foutside.yaml",
		"/jobs/%252e%252e%252foutside.yaml",
		"/jobs/ok.yaml/../../outside.yaml",
		"/jobs/./../outside.yaml",
		"/jobs//" + filepath.Join(root, "outside.yaml"),
		"/jobs/%2F" + strings.TrimPrefix(filepath.Join(root, "outside.yaml"), "/"),
		"/jobs/..%5coutside.yaml",
		"/jobs/ok.yaml%00.yaml",
		"/jobs/link-out.yaml",
		"/jobs/linkdir/job.yaml",
		"/jobs/.hidden/job.yaml",
		"/jobs/.dotjob.yaml",
		"/api/jobs/..%2foutside.yaml",
		"/api/jobs/link-out.yaml",
		"/api/jobs/linkdir/job.yaml",
	} {
		code, body := rawGet(t, s.URL, target)
		if code == http.StatusOK || strings.Contains(body, marker) {
			t.Errorf("GET %s: %d, shows the outside job: %v", target, code, strings.Contains(body, marker))
		}
		if code != http.StatusBadRequest && code != http.StatusForbidden && code != http.StatusNotFound && code != http.StatusMovedPermanently && code != http.StatusTemporaryRedirect {
			t.Errorf("GET %s: %d", target, code)
		}
	}
	if code, _ := s.get(t, "/jobs/link-out.yaml"); code != http.StatusForbidden {
		t.Errorf("a link out of the folder: %d, want 403", code)
	}
	if code, _ := s.get(t, "/jobs/..%2foutside.yaml"); code != http.StatusBadRequest {
		t.Errorf("an encoded ..: %d, want 400", code)
	}
	if body := s.getOK(t, "/jobs/link-in.yaml"); !strings.Contains(body, "inside_job") {
		t.Error("a link inside the folder is not served")
	}
	// Runs and validation: the same checks.
	for _, job := range []string{"../outside.yaml", "..%2foutside.yaml", filepath.Join(root, "outside.yaml"), "link-out.yaml", "linkdir/job.yaml", ".hidden/job.yaml", "ok.yaml/../../outside.yaml", "./ok.yaml", "ok.yaml\x00"} {
		var e struct{ Error string }
		code := s.postJSON(t, "/api/runs", map[string]any{"job": job}, &e)
		if code != http.StatusBadRequest && code != http.StatusForbidden && code != http.StatusNotFound {
			t.Errorf("POST /api/runs job %q: %d %+v", job, code, e)
		}
	}
	tok := s.csrf(t, "/jobs/ok.yaml")
	if code, _, _ := s.postForm(t, "/runs", url.Values{"csrf_token": {tok}, "job": {"../outside.yaml"}}, nil); code != http.StatusBadRequest {
		t.Errorf("the run form with ../outside.yaml: %d", code)
	}
	if code, _, _ := s.do(t, "POST", "/api/validate/link-out.yaml", nil, nil); code != http.StatusForbidden {
		t.Errorf("validate a link out of the folder: %d", code)
	}
	var runs struct{ Runs []run }
	if s.getJSON(t, "/api/runs", &runs); len(runs.Runs) != 0 {
		t.Errorf("a refused path made a run: %+v", runs.Runs)
	}
}
