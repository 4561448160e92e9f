package restio_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/open-stage/openstage/internal/cli"
)

const python = "/usr/bin/python3"

// needPython skips without python3 (pandas too when asked), except under
// CI, where .ci/run installs them and a missing one is a failure.
func needPython(t *testing.T, modules ...string) {
	t.Helper()
	args := []string{"-c", "import json" + strings.Join(append([]string{""}, modules...), ", ")}
	if err := exec.Command(python, args...).Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s with %v is needed under CI: %v", python, modules, err)
		}
		t.Skipf("%s with %v unavailable: %v", python, modules, err)
	}
}

// startExampleAPI runs examples/rest/paged_api.py on a free port and
// returns its base URL.
func startExampleAPI(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(python, "../examples/rest/paged_api.py", "--port", "0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		t.Fatalf("the example API did not start: %q, %v", line, err)
	}
	return url
}

// TestExampleJob runs examples/rest/customers_api.yaml through the CLI
// against the example's own server script, and compares the CSV it writes
// with pandas: json_normalize(sep="_") of the same records, filtered the
// same way.
func TestExampleJob(t *testing.T) {
	needPython(t, "pandas")
	api := startExampleAPI(t)
	out := t.TempDir()
	t.Setenv("API_TOKEN", "demo-token")
	var stdout, stderr bytes.Buffer
	code := cli.Main([]string{"run", "../examples/rest/customers_api.yaml", "--param", "api=" + api, "--param", "out_dir=" + out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	f, err := os.Open(filepath.Join(out, "api_customers.csv"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "-c", `
import json, math, subprocess, sys
import pandas as pd
recs = json.loads(subprocess.run([sys.executable, "../examples/rest/paged_api.py", "--dump"], capture_output=True, check=True).stdout)
df = pd.json_normalize(recs, sep="_")
df = df[df["orders_count"] >= 3]
rows = [[None if (isinstance(v, float) and math.isnan(v)) else v for v in r] for r in df.astype(object).values.tolist()]
json.dump({"columns": list(df.columns), "rows": rows}, sys.stdout)
`)
	cmd.Stderr = os.Stderr
	pd, err := cmd.Output()
	if err != nil {
		t.Fatalf("pandas: %v", err)
	}
	var want struct {
		Columns []string
		Rows    [][]any
	}
	if err := json.Unmarshal(pd, &want); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got[0], ",") != strings.Join(want.Columns, ",") {
		t.Fatalf("columns\n ours   %v\n pandas %v", got[0], want.Columns)
	}
	if len(got)-1 != len(want.Rows) || len(want.Rows) < 100 {
		t.Fatalf("%d rows, pandas %d", len(got)-1, len(want.Rows))
	}
	for i, w := range want.Rows {
		for j, v := range w {
			if !sameCSVCell(got[i+1][j], v) {
				t.Fatalf("row %d column %s: ours %q, pandas %#v", i+1, want.Columns[j], got[i+1][j], v)
			}
		}
	}
	// Without the token the server refuses, and the job says why.
	t.Setenv("API_TOKEN", "not-the-demo-token")
	stderr.Reset()
	if code := cli.Main([]string{"run", "../examples/rest/customers_api.yaml", "--param", "api=" + api, "--param", "out_dir=" + out}, &stdout, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), "HTTP 401 Unauthorized: {\"error\": \"missing or wrong bearer token\"}") {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
}

// sameCSVCell compares a CSV field we wrote with pandas' value.
func sameCSVCell(cell string, v any) bool {
	switch x := v.(type) {
	case nil:
		return cell == ""
	case bool:
		return cell == strconv.FormatBool(x)
	case float64:
		f, err := strconv.ParseFloat(cell, 64)
		return err == nil && f == x
	case string:
		return cell == x
	case []any:
		var list []any
		return json.Unmarshal([]byte(cell), &list) == nil && len(list) == len(x) && (len(x) == 0 || strings.EqualFold(cell, mustJSON(x)))
	}
	return false
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
