package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateVerboseExplainsExpressions: validate --verbose says which
// expressions run on column kernels and which nodes fall back to row by
// row evaluation; without --verbose it says nothing about them.
func TestValidateVerboseExplainsExpressions(t *testing.T) {
	people, _ := filepath.Abs(filepath.Join("testdata", "data", "people.csv"))
	job := filepath.Join(t.TempDir(), "job.yaml")
	os.WriteFile(job, []byte(`name: explain
params: {out_dir: out}
stages:
  - {name: reader, type: CSVOrigin, path: "`+people+`"}
  - name: grown
    type: Filter
    expr: 'age >= 18 && name != "x"'
  - name: derive
    type: Transformer
    derive:
      - next_age: 'age + 1'
      - shout: 'repeat(upper(name), 2)'
  - {name: writer, type: CSVDestination, path: "${out_dir}/out.csv"}
pipes:
  - {name: rows, from: reader, to: grown}
  - {name: kept, from: grown, to: derive}
  - {name: derived, from: derive, to: writer}
`), 0o644)
	out := t.TempDir()
	r := run(t, "validate", job, "--param", "out_dir="+out, "--verbose")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		`  grown: expr "age >= 18 && name != \"x\"": vectorised` + "\n",
		`  derive: derive 'next_age' (age + 1): vectorised` + "\n",
		`  derive: derive 'shout' (repeat(upper(name), 2)): vectorised, except "repeat(upper(name), 2)" evaluated row by row` + "\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("validate --verbose does not say\n%s\nit says:\n%s", want, r.stdout)
		}
	}
	r = run(t, "validate", job, "--param", "out_dir="+out)
	if r.code != 0 || strings.Contains(r.stdout, "vectorised") {
		t.Errorf("validate without --verbose: exit %d\n%s", r.code, r.stdout)
	}
}
