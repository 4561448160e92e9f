package restio_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/open-stage/openstage/internal/cli"
)

const cliToken = "cli-token-0xDEADBEEF"

const cliJob = `name: rest_round_trip
params:
  base: http://127.0.0.1:1
  out_dir: out
  users_path: users
stages:
  - name: users
    type: APIRestOrigin
    url: ${base}/${users_path}
    json_path: data.items
    pagination: {type: page, total_path: meta.total}
    concurrency: 3
    auth: {type: bearer, token: "${env:RESTIO_TEST_TOKEN}"}
  - name: push
    type: RESTDestination
    url: ${base}/sink
    batch_rows: 10
    auth: {type: bearer, token: "${env:RESTIO_TEST_TOKEN}"}
    reject: failed
  - name: failed_writer
    type: CSVDestination
    path: ${out_dir}/failed.csv
pipes:
  - {name: users_to_push, from: users, to: push}
  - {name: failed, from: push, to: failed_writer}
`

// TestCLI runs a job file through the openstage command: users read from
// a paged API and pushed to another endpoint that refuses one batch, whose
// rows land in a CSV file. The token comes from the environment and
// appears in no output, also when the API refuses it and quotes it back.
func TestCLI(t *testing.T) {
	t.Setenv("RESTIO_TEST_TOKEN", cliToken)
	a := newAPI(t, users(95), 10, "page")
	a.total = true
	var mu sync.Mutex
	var received []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+cliToken {
			http.Error(w, "refused "+r.Header.Get("Authorization"), http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/users":
			a.ServeHTTP(w, r)
		case "/sink":
			var rows []map[string]any
			body, _ := io.ReadAll(r.Body)
			if err := json.Unmarshal(body, &rows); err != nil {
				http.Error(w, "bad body", http.StatusBadRequest)
				return
			}
			if rows[0]["id"].(float64) == 41 {
				http.Error(w, `{"error":"duplicate user 45"}`, http.StatusConflict)
				return
			}
			mu.Lock()
			received = append(received, rows...)
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	job := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(job, []byte(cliJob), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := cli.Main(args, &out, &errb)
		all := out.String() + errb.String()
		if os.Getenv("RESTIO_SHOW") != "" {
			t.Logf("openstage %v → %d\n%s", args, code, all)
		}
		if strings.Contains(all, cliToken) {
			t.Fatalf("openstage %v printed the token:\n%s", args, all)
		}
		return code, all
	}
	base := "base=" + srv.URL
	code, out := run("run", job, "--param", base, "--param", "out_dir="+dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if len(received) != 85 {
		t.Fatalf("the sink received %d rows, want 85", len(received))
	}
	f, err := os.Open(filepath.Join(dir, "failed.csv"))
	if err != nil {
		t.Fatal(err)
	}
	failed, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 11 || failed[1][0] != "41" || !strings.Contains(strings.Join(failed[1], ","), "duplicate user 45") || !strings.Contains(strings.Join(failed[1], ","), "409") {
		t.Fatalf("failed.csv: %d lines, first %v", len(failed), failed[:min(2, len(failed))])
	}
	for _, want := range []string{"pages=10", "requests=10", "sent=85", "failed=10"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the summary lacks %s:\n%s", want, out)
		}
	}

	// An API that refuses and quotes the token: validation downloads the
	// pages, so the failure is reported as an invalid job (exit 2).
	code, out = run("validate", job, "--param", base, "--param", "users_path=nothing")
	if code != 2 || !strings.Contains(out, "HTTP 404") || !strings.Contains(out, "check url") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	t.Setenv("RESTIO_TEST_TOKEN", cliToken+"-stale")
	code, out = run("run", job, "--param", base, "--param", "out_dir="+dir)
	if code != 2 || !strings.Contains(out, "HTTP 401 Unauthorized: refused Bearer ***") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if strings.Contains(out, cliToken) {
		t.Fatalf("the stale token is shown:\n%s", out)
	}
	for _, args := range [][]string{{"graph", job}, {"graph", job, "--format", "dot"}, {"stages", "APIRestOrigin"}} {
		if code, out := run(args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, out)
		}
	}
}
