package cli_test

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

var binary string

// TestMain builds the openstage command once; the tests drive the binary as
// a user would.
func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "openstage-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "openstage")
	cmd := exec.Command("go", "build", "-o", binary, "../../cmd/openstage")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		panic("building openstage: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	r := result{code, out.String(), errb.String()}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic:") {
		t.Errorf("stderr shows a Go stack trace:\n%s", r.stderr)
	}
	return r
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestRunWritesOutputAndSummary(t *testing.T) {
	out := t.TempDir()
	// Flags after the job file.
	// As written: optimized, the reader applies the Filter while reading
	// (TestOptimizedSummary).
	r := run(t, "run", "testdata/jobs/adults.yaml", "--param", "out_dir="+out, "--param", "min_age=18", "--no-optimize")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	got, err := os.ReadFile(filepath.Join(out, "adults.csv"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "adults.csv", string(got))
	for _, want := range []string{"reader", "CSVOrigin", "rows in", "rows out", "job adults succeeded"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stderr)
		}
	}
	// The filter stage received 5 rows and sent 3 (Ana 34, Chen 45, Eve 18;
	// Bo is 17 and Dee's age is null).
	if !regexpLine(r.stderr, `adults\s+Filter\s+5\s+3\s+0`) {
		t.Errorf("summary does not show adults 5 in / 3 out:\n%s", r.stderr)
	}
}

func TestVerboseLogsStages(t *testing.T) {
	out := t.TempDir()
	r := run(t, "run", "testdata/jobs/adults.yaml", "--param", "out_dir="+out, "--verbose", "--quiet", "--no-optimize")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{`msg="stage started" job=adults stage=reader type=CSVOrigin`, `msg="stage finished" job=adults stage=adults type=Filter rows_in=5 rows_out=3`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("log lacks %q:\n%s", want, r.stderr)
		}
	}
}

func TestMemoryLimitFlag(t *testing.T) {
	out := t.TempDir()
	if r := run(t, "run", "testdata/jobs/adults.yaml", "--param", "out_dir="+out, "--memory-limit", "64MiB", "--quiet"); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	r := run(t, "run", "testdata/jobs/adults.yaml", "--memory-limit", "lots")
	if r.code != 2 || !strings.Contains(r.stderr, `--memory-limit: cannot read "lots" as a size`) {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
}

func TestParamOverrideChangesResult(t *testing.T) {
	out := t.TempDir()
	r := run(t, "run", "--param", "min_age=40", "testdata/jobs/adults.yaml", "--param=out_dir="+out, "--quiet")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	got, _ := os.ReadFile(filepath.Join(out, "adults.csv"))
	if string(got) != "name,age,city\n\"Chen, Li\",45,São Paulo\n" {
		t.Errorf("output = %q", got)
	}
	if r.stderr != "" {
		t.Errorf("--quiet printed %q", r.stderr)
	}
}

func TestRoundTripKeepsValues(t *testing.T) {
	out := t.TempDir()
	r := run(t, "run", "testdata/jobs/copy_csv.yaml", "--param", "out_dir="+out)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	got, _ := os.ReadFile(filepath.Join(out, "copy.csv"))
	golden(t, "copy.csv", string(got))
}

func TestInvalidJobs(t *testing.T) {
	out := t.TempDir()
	tests := []struct {
		job  string
		args []string
		want string
	}{
		{"unknown_column.yaml", nil, "unknown_column.yaml:4: Filter 'adults': field 'Age' not found; available columns: name, age, city (did you mean 'age'?)"},
		{"cycle.yaml", nil, "the pipes form a cycle: a -> b -> a"},
		{"dangling.yaml", nil, "Printer 'show': needs at least 1 input pipe, has 0"},
		{"unknown_type.yaml", nil, "unknown_type.yaml:3: stage 'reader': unknown stage type 'CSVOrigen' (did you mean 'CSVOrigin'?)"},
		{"copy_csv.yaml", []string{"--param", "input=../data/nope.csv", "--param", "out_dir=" + out}, "CSVOrigin 'reader': file 'testdata/data/nope.csv' does not exist"},
		{"copy_csv.yaml", []string{"--param", "out_dir=" + out + "/missing/folder"}, "CSVDestination 'writer': output folder '" + out + "/missing/folder' does not exist; create it"},
		{"copy_csv.yaml", []string{"--param", "nope=1"}, "--param nope: the job declares no parameter 'nope'"},
	}
	for _, tt := range tests {
		t.Run(tt.want[:20], func(t *testing.T) {
			for _, cmd := range []string{"validate", "run"} {
				r := run(t, append([]string{cmd, "testdata/jobs/" + tt.job}, tt.args...)...)
				if r.code != 2 {
					t.Errorf("%s: exit %d, want 2\n%s", cmd, r.code, r.stderr)
				}
				if !strings.Contains(r.stderr, tt.want) {
					t.Errorf("%s: stderr:\n%s\nwant it to contain:\n%s", cmd, r.stderr, tt.want)
				}
			}
		})
	}
	if names := listDir(t, out); len(names) != 0 {
		t.Errorf("invalid jobs left files: %v", names)
	}
}

func TestMalformedCSVFailsWithLineAndLeavesNoOutput(t *testing.T) {
	tests := []struct{ input, want string }{
		{"unclosed.csv", "unclosed.csv:2"},
		{"ragged.csv", "ragged.csv:3"},
		{"badint.csv", "badint.csv:3: column 'age'"},
	}
	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			out := t.TempDir()
			// badint.csv: inference would make age a string; force int64.
			job := writeJob(t, tt.input)
			r := run(t, "run", job, "--param", "out_dir="+out)
			if r.code == 0 {
				t.Fatalf("exit 0 on malformed input\n%s", r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr:\n%s\nwant it to contain %q", r.stderr, tt.want)
			}
			if names := listDir(t, out); len(names) != 0 {
				t.Errorf("failed job left files: %v", names)
			}
		})
	}
}

// writeJob writes a CSVOrigin → CSVDestination job reading testdata/data/input
// with age forced to int64.
func writeJob(t *testing.T, input string) string {
	t.Helper()
	abs, _ := filepath.Abs(filepath.Join("testdata", "data", input))
	job := filepath.Join(t.TempDir(), "job.yaml")
	os.WriteFile(job, []byte(`name: malformed
params: {out_dir: out}
stages:
  - {name: reader, type: CSVOrigin, path: "`+abs+`", column_types: {age: int64}, sample_rows: 1}
  - {name: writer, type: CSVDestination, path: "${out_dir}/out.csv"}
pipes:
  - {name: rows, from: reader, to: writer}
`), 0o644)
	return job
}

func TestExistingOutputSurvivesFailedRun(t *testing.T) {
	out := t.TempDir()
	target := filepath.Join(out, "out.csv")
	os.WriteFile(target, []byte("previous,content\n"), 0o644)
	r := run(t, "run", writeJob(t, "badint.csv"), "--param", "out_dir="+out)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	if got, _ := os.ReadFile(target); string(got) != "previous,content\n" {
		t.Errorf("failed run changed the existing output: %q", got)
	}
	if names := listDir(t, out); len(names) != 1 {
		t.Errorf("folder holds %v, want only out.csv", names)
	}
}

func TestKilledJobLeavesNoPartialOutput(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			out := t.TempDir()
			cmd := exec.Command(binary, "run", "testdata/jobs/long.yaml", "--param", "out_dir="+out)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(700 * time.Millisecond) // long enough to be writing rows
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			ee, ok := err.(*exec.ExitError)
			if !ok {
				t.Fatalf("job was not interrupted: %v", err)
			}
			if sig == syscall.SIGINT {
				if ee.ExitCode() != 1 || !strings.Contains(errb.String(), "job 'long' cancelled; no output was committed") {
					t.Errorf("exit %d, stderr:\n%s", ee.ExitCode(), errb.String())
				}
			}
			if names := listDir(t, out); len(names) != 0 {
				t.Errorf("interrupted job left files: %v", names)
			}
		})
	}
}

func TestGraph(t *testing.T) {
	r := run(t, "graph", "testdata/jobs/adults.yaml", "--format", "mermaid")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	golden(t, "adults.mmd", r.stdout)
	r = run(t, "graph", "--format=dot", "testdata/jobs/adults.yaml")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	golden(t, "adults.dot", r.stdout)
	if r := run(t, "graph", "testdata/jobs/adults.yaml", "--format", "png"); r.code != 2 || !strings.Contains(r.stderr, `unknown format "png"`) {
		t.Errorf("bad format: exit %d, %s", r.code, r.stderr)
	}
}

func TestStagesAndVersion(t *testing.T) {
	r := run(t, "stages")
	for _, typ := range []string{"CSVOrigin", "Generator", "Filter", "Aggregator", "Joiner", "Switcher", "CSVDestination", "Printer"} {
		if !strings.Contains(r.stdout, typ) {
			t.Errorf("stages lacks %s", typ)
		}
	}
	r = run(t, "stages", "Filter")
	if r.code != 0 || !strings.Contains(r.stdout, "condition") {
		t.Errorf("stages Filter: exit %d\n%s", r.code, r.stdout)
	}
	if r := run(t, "stages", "Filtr"); r.code != 2 || !strings.Contains(r.stderr, "did you mean 'Filter'") {
		t.Errorf("stages Filtr: exit %d %s", r.code, r.stderr)
	}
	if r := run(t, "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "openstage ") {
		t.Errorf("version: exit %d %q", r.code, r.stdout)
	}
	if r := run(t, "frobnicate"); r.code != 2 {
		t.Errorf("unknown command: exit %d", r.code)
	}
	if r := run(t, "run"); r.code != 2 {
		t.Errorf("run without job: exit %d", r.code)
	}
}

// TestReferenceDocsUpToDate checks docs/stages.md is what the declarations
// generate (go test ./internal/cli -update rewrites it).
func TestReferenceDocsUpToDate(t *testing.T) {
	r := run(t, "stages", "--markdown")
	path := filepath.Join("..", "..", "docs", "stages.md")
	if *update {
		os.WriteFile(path, []byte(r.stdout), 0o644)
	}
	want, _ := os.ReadFile(path)
	if r.stdout != string(want) {
		t.Errorf("docs/stages.md is out of date: run go test ./internal/cli -run TestReferenceDocsUpToDate -update")
	}
}

func regexpLine(s, pattern string) bool {
	return regexp.MustCompile(pattern).MatchString(s)
}

// TestProjectionSkipsUnreadColumns: a job that only counts rows by name does
// not convert age, so badint.csv's bad age is no error there (reported with
// --verbose as a projection); the same file still fails a job that writes
// age out (TestMalformedCSVFailsWithLineAndLeavesNoOutput), and a reject pipe
// turns the projection off so the row is rejected.
func TestProjectionSkipsUnreadColumns(t *testing.T) {
	abs, _ := filepath.Abs(filepath.Join("testdata", "data", "badint.csv"))
	write := func(reject bool) string {
		extra, stage, pipes := "", "", ""
		if reject {
			extra = ", reject: bad_rows"
			stage = "\n  - {name: rejects, type: CSVDestination, path: \"${out_dir}/rejects.csv\"}"
			pipes = "\n  - {name: bad_rows, from: reader, to: rejects}"
		}
		job := filepath.Join(t.TempDir(), "job.yaml")
		os.WriteFile(job, []byte(`name: projection
params: {out_dir: out}
stages:
  - {name: reader, type: CSVOrigin, path: "`+abs+`", column_types: {age: int64}, sample_rows: 1`+extra+`}
  - {name: counts, type: Aggregator, keys: [name], aggregations: [{type: count, as: n}]}
  - {name: writer, type: CSVDestination, path: "${out_dir}/out.csv"}`+stage+`
pipes:
  - {name: rows, from: reader, to: counts}
  - {name: totals, from: counts, to: writer}`+pipes+`
`), 0o644)
		return job
	}
	out := t.TempDir()
	r := run(t, "validate", write(false), "--param", "out_dir="+out)
	if r.code != 0 || !strings.Contains(r.stdout, "reader reads 1 of 2 columns: name (no stage uses the others)") {
		t.Errorf("validate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, "run", write(false), "--param", "out_dir="+out, "--verbose", "--quiet")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "msg=projection job=projection stage=reader type=CSVOrigin reads=name of=2") {
		t.Errorf("no projection logged:\n%s", r.stderr)
	}
	got, _ := os.ReadFile(filepath.Join(out, "out.csv"))
	if string(got) != "name,n\nA,1\nB,1\n" {
		t.Errorf("out.csv:\n%s", got)
	}
	out = t.TempDir()
	r = run(t, "run", write(true), "--param", "out_dir="+out, "--verbose", "--quiet")
	if r.code != 0 {
		t.Fatalf("with a reject pipe: exit %d\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "msg=projection") {
		t.Errorf("projection with a reject pipe:\n%s", r.stderr)
	}
	rej, _ := os.ReadFile(filepath.Join(out, "rejects.csv"))
	if !strings.Contains(string(rej), "badint.csv:3: column 'age'") {
		t.Errorf("rejects.csv:\n%s", rej)
	}
}
