package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamples runs every example job through the CLI and compares each file
// it writes with a golden copy (go test ./internal/cli -run TestExamples -update
// rewrites them after a reviewed change).
func TestExamples(t *testing.T) {
	jobs, _ := filepath.Glob("../../examples/*.yaml")
	if len(jobs) < 4 {
		t.Fatalf("found %d example jobs, want at least 4", len(jobs))
	}
	for _, job := range jobs {
		name := strings.TrimSuffix(filepath.Base(job), ".yaml")
		t.Run(name, func(t *testing.T) {
			out := t.TempDir()
			r := run(t, "run", job, "--param", "out_dir="+out)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			files := listDir(t, out)
			if len(files) == 0 {
				t.Fatal("the example wrote nothing")
			}
			for _, f := range files {
				data, err := os.ReadFile(filepath.Join(out, f))
				if err != nil {
					t.Fatal(err)
				}
				// Error messages name the input file by the path the job
				// resolved; make it independent of where the test runs.
				got := strings.ReplaceAll(string(data), "../../examples/", "examples/")
				golden(t, filepath.Join("examples", name, f), got)
			}
		})
	}
}

// TestGoExamples runs the Go-program versions of the examples and checks
// they write exactly what the job files write (the golden files above).
func TestGoExamples(t *testing.T) {
	programs := map[string]string{
		"iris_split_merge":  "02_split_merge_iris",
		"users_orders_join": "04_users_orders_join",
		"latest_orders":     "05_lookup_dedup_sort_rejects",
	}
	for prog, golden := range programs {
		t.Run(prog, func(t *testing.T) {
			out := t.TempDir()
			cmd := exec.Command("go", "run", "./examples/go/"+prog, "-data", "examples/data", "-out", out)
			cmd.Dir = "../.."
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v\n%s", err, msg)
			}
			want := listDir(t, filepath.Join("testdata", "golden", "examples", golden))
			got := listDir(t, out)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("wrote %v, the job file writes %v", got, want)
			}
			for _, f := range got {
				g, _ := os.ReadFile(filepath.Join(out, f))
				w, _ := os.ReadFile(filepath.Join("testdata", "golden", "examples", golden, f))
				if string(g) != string(w) {
					t.Errorf("%s differs from the job file's output", f)
				}
			}
		})
	}
}
