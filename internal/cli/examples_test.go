package cli_test

import (
	"os"
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
