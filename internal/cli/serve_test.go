package cli

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// startServe runs openstage serve with args until the returned stop is
// called; it returns the URL it printed.
func startServe(t *testing.T, args ...string) (url string, stop func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		code := serveContext(ctx, args, pw, &stderr)
		pw.Close()
		done <- code
	}()
	sc := bufio.NewScanner(pr)
	var out strings.Builder
	first := ""
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if first == "" {
			first = sc.Text()
			break
		}
	}
	m := regexp.MustCompile(`at (http://\S+/)`).FindStringSubmatch(first)
	if m == nil {
		cancel()
		t.Fatalf("openstage serve printed %q (stderr %q)", first, stderr.String())
	}
	rest := make(chan string, 1)
	go func() {
		var b strings.Builder
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		rest <- b.String()
	}()
	var once sync.Once
	var code int
	var all string
	return m[1], func() (int, string) {
		once.Do(func() {
			cancel()
			code = <-done
			all = out.String() + <-rest + stderr.String()
		})
		return code, all
	}
}

func TestServeCommand(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "out"), 0o755)
	job := "name: gen\nstages:\n  - {name: src, type: Generator, rows: 5, columns: [{name: n}]}\n  - {name: dst, type: CSVDestination, path: out/gen.csv}\npipes:\n  - {name: p, from: src, to: dst}\n"
	os.WriteFile(filepath.Join(dir, "gen.yaml"), []byte(job), 0o644)
	state := filepath.Join(t.TempDir(), "state")
	url, stop := startServe(t, dir, "--addr", "127.0.0.1:0", "--state", state, "--max-runs", "3")
	resp, err := http.Get(url + "api/jobs")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"path": "gen.yaml"`) {
		t.Fatalf("GET /api/jobs: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Post(url+"api/runs", "application/json", strings.NewReader(`{"job": "gen.yaml"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /api/runs: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !fileExists(filepath.Join(dir, "out", "gen.csv")) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	code, out := stop()
	if code != ExitOK || !strings.Contains(out, "at most 3 runs at once") || !strings.Contains(out, "run history in "+state) || !strings.Contains(out, "stopping") {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
	if !fileExists(filepath.Join(state, "history.db")) || fileExists(filepath.Join(dir, ".openstage")) {
		t.Error("the history is not in --state")
	}
	if !fileExists(filepath.Join(dir, "out", "gen.csv")) {
		t.Error("the run did not write its output")
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func TestServeRefusals(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("OPENSTAGE_SERVE_TOKEN", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{dir, "--addr", "0.0.0.0:0"}, "not a loopback address"},
		{[]string{dir, "--addr", ":0"}, "not a loopback address"},
		{[]string{dir, "--addr", "192.0.2.1:8080"}, "give --auth-token"},
		{[]string{dir, "--addr", "0.0.0.0:0", "--auth-token", "short"}, "too short"},
		{[]string{dir, "--max-runs", "0"}, "--max-runs must be 1 or more"},
		{[]string{filepath.Join(dir, "none")}, "cannot serve"},
		{[]string{dir, dir}, "at most one folder"},
		{[]string{dir, "--memory-limit", "lots"}, "--memory-limit"},
	} {
		var stdout, stderr bytes.Buffer
		code := serveContext(context.Background(), c.args, &stdout, &stderr)
		if code != ExitInvalid || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("serve %v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
}

// Another address with the token from OPENSTAGE_SERVE_TOKEN: every request
// needs it.
func TestServeTokenFromEnvironment(t *testing.T) {
	const tok = "env-token-0123456789abcdef"
	t.Setenv("OPENSTAGE_SERVE_TOKEN", tok)
	url, stop := startServe(t, t.TempDir(), "--addr", "0.0.0.0:0")
	defer stop()
	if !strings.HasPrefix(url, "http://localhost:") {
		t.Fatalf("printed %s", url)
	}
	resp, err := http.Get(url + "api/jobs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without the token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", url+"api/jobs", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("with the token: %d", resp.StatusCode)
	}
	if code, out := stop(); code != ExitOK || !strings.Contains(out, "auth token required") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}
