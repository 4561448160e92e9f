package jobfile_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/open-stage/openstage/csvio"
	"github.com/open-stage/openstage/jobfile"
	"github.com/open-stage/openstage/stages"
)

const good = `name: high_value_orders
params:
  min_amount: 1000
  data_dir: data
stages:
  - name: orders_reader
    type: CSVOrigin
    path: ${data_dir}/orders.csv
  - name: high_value
    type: Filter
    field: total_amount
    condition: ">"
    value: ${min_amount}
  - name: writer
    type: CSVDestination
    path: out/high_value.csv
pipes:
  - {name: orders_to_filter, from: orders_reader, to: high_value}
  - {name: filtered_to_writer, from: high_value, to: writer}
`

func TestLoadBuildsJob(t *testing.T) {
	f, err := jobfile.Parse([]byte(good), "jobs/job.yaml", jobfile.Options{Params: map[string]string{"min_amount": "500"}})
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "high_value_orders" {
		t.Errorf("name = %q", f.Name)
	}
	if got := f.Params["min_amount"]; got != 500 {
		t.Errorf("min_amount = %#v, want the override 500 as an integer", got)
	}
	st := f.Job.Stage("high_value")
	if st == nil {
		t.Fatal("no stage high_value")
	}
	filter := st.Component().(*stages.Filter)
	if filter.Value != int64(500) {
		t.Errorf("Filter value = %#v, want int64 500 (a lone ${ref} keeps the parameter's type)", filter.Value)
	}
	reader := f.Job.Stage("orders_reader").Component()
	if got := reflectPath(reader); got != filepath.Join("jobs", "data", "orders.csv") {
		t.Errorf("path = %q, want it relative to the job file's folder", got)
	}
	if n := len(f.Job.Pipes()); n != 2 {
		t.Errorf("%d pipes, want 2", n)
	}
	if pos := st.Position(); pos.Line != 9 || pos.File != "jobs/job.yaml" {
		t.Errorf("position = %v, want jobs/job.yaml:9", pos)
	}
}

func reflectPath(c any) string { return fieldString(c, "Path") }

func TestErrors(t *testing.T) {
	t.Setenv("OPENSTAGE_TEST_DIR", "from-env")
	tests := []struct {
		name   string
		yaml   string
		params map[string]string
		want   []string
	}{
		{"unknown stage type", `name: j
stages:
  - name: f
    type: Filtr
pipes: []
`, nil, []string{"job.yaml:4: stage 'f': unknown stage type 'Filtr' (did you mean 'Filter'?)"}},
		{"unknown parameter", `name: j
stages:
  - name: f
    type: Filter
    fild: age
    condition: ">"
    value: 1
`, nil, []string{"job.yaml:5: Filter 'f': unknown parameter 'fild' for Filter (did you mean 'field'?)"}},
		{"wrong value type", `name: j
stages:
  - name: p
    type: Printer
    rows: many
`, nil, []string{"job.yaml:5: Printer 'p': parameter 'rows': must be an integer, got a string"}},
		{"missing required parameter", `name: j
stages:
  - name: r
    type: CSVOrigin
`, nil, []string{"job.yaml:3: CSVOrigin 'r': missing required parameter 'path'"}},
		{"unknown job parameter", `name: j
params: {a: 1}
stages:
  - name: p
    type: Printer
    rows: ${b}
`, nil, []string{"job.yaml:6: unknown job parameter 'b' in ${b}; declared: a"}},
		{"unset environment variable", `name: j
stages:
  - name: r
    type: CSVOrigin
    path: ${env:OPENSTAGE_SURELY_UNSET}/x.csv
`, nil, []string{"job.yaml:5: environment variable OPENSTAGE_SURELY_UNSET is not set"}},
		{"override of undeclared parameter", `name: j
params: {a: 1}
stages:
  - {name: p, type: Printer}
`, map[string]string{"zzz": "1"}, []string{"--param zzz: the job declares no parameter 'zzz'; declared: a"}},
		{"pipe to missing stage", `name: j
stages:
  - {name: printer, type: Printer}
  - {name: g, type: Generator, rows: 1, columns: [{name: id}]}
pipes:
  - {name: x, from: g, to: printr}
  - {name: y, from: gg, to: printer}
`, nil, []string{"job.yaml:6: pipe 'x': to stage 'printr' does not exist (did you mean 'printer'?)", "job.yaml:7: pipe 'y': from stage 'gg' does not exist (did you mean 'g'?)"}},
		{"pipe without destination", `name: j
stages:
  - {name: g, type: Generator, rows: 1, columns: [{name: id}]}
pipes:
  - {name: x, from: g}
`, nil, []string{"job.yaml:5: pipe 'x' has no 'to' stage"}},
		{"duplicate stage", `name: j
stages:
  - {name: p, type: Printer}
  - {name: p, type: Printer}
`, nil, []string{"job.yaml:4: duplicate stage name 'p' (first declared at line 3)"}},
		{"bad yaml", "name: j\nstages:\n  - name: [unclosed\n", nil, []string{"job.yaml:2: invalid YAML: did not find expected ',' or ']'"}},
		{"unknown top-level key", "name: j\nstagez: []\n", nil, []string{"job.yaml:2: unknown top-level key 'stagez' (did you mean 'stages'?)"}},
		{"enum", `name: j
stages:
  - {name: w, type: CSVDestination, path: x.csv, if_exists: overwrite}
`, nil, []string{"job.yaml:3: CSVDestination 'w': parameter 'if_exists': 'overwrite' is not one of replace, append, fail"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := jobfile.Parse([]byte(tt.yaml), "job.yaml", jobfile.Options{Params: tt.params})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\ndoes not contain:\n%s", err, w)
				}
			}
		})
	}
}

func TestSubstitutionInsideStrings(t *testing.T) {
	yaml := `name: j
params: {dir: data, n: 3}
stages:
  - name: r
    type: CSVOrigin
    path: ${env:OPENSTAGE_TEST_DIR}/${dir}/f${n}.csv
  - {name: p, type: Printer, rows: "$${literal}"}
pipes:
  - {name: x, from: r, to: p}
`
	t.Setenv("OPENSTAGE_TEST_DIR", "/abs")
	_, err := jobfile.Parse([]byte(yaml), "job.yaml", jobfile.Options{})
	// rows gets the string "${literal}": not an integer, which proves $${ is literal.
	if err == nil || !strings.Contains(err.Error(), "parameter 'rows': must be an integer, got a string") {
		t.Fatalf("err = %v", err)
	}
	yaml = strings.Replace(yaml, `rows: "$${literal}"`, "rows: 2", 1)
	f, err := jobfile.Parse([]byte(yaml), "job.yaml", jobfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := fieldString(f.Job.Stage("r").Component(), "Path"); got != "/abs/data/f3.csv" {
		t.Errorf("path = %q", got)
	}
}

func TestValidationFindsPlanProblems(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "people.csv"), []byte("name,age,city\nana,30,Lima\n"), 0o644)
	yaml := `name: j
stages:
  - {name: reader, type: CSVOrigin, path: people.csv}
  - {name: adults, type: Filter, field: Age, condition: ">=", value: 18}
  - {name: show, type: Printer}
pipes:
  - {name: a, from: reader, to: adults}
  - {name: b, from: adults, to: show}
`
	path := filepath.Join(dir, "job.yaml")
	os.WriteFile(path, []byte(yaml), 0o644)
	f, err := jobfile.Load(path, jobfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = f.Job.Validate(context.Background())
	want := path + ":4: Filter 'adults': field 'Age' not found; available columns: name, age, city (did you mean 'age'?)"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("name: j\nstages:\n  - {name: p, type: Printer}\n"))
	f.Add([]byte("params: {a: [1, 2]}\nstages:\n  - {name: p, type: Printer, rows: ${a}}\n"))
	f.Add([]byte("stages: [{name: g, type: Generator, rows: 2, columns: [{name: x, pattern: cycle, values: [1]}]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := jobfile.Parse(data, "fuzz.yaml", jobfile.Options{Params: map[string]string{}})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		// A loaded job must validate without panicking (errors are fine).
		_ = file.Job.Validate(context.Background())
	})
}

func TestNumericMappingKeys(t *testing.T) {
	yaml := `name: j
stages:
  - {name: g, type: Generator, rows: 4, columns: [{name: n, type: int64}]}
  - name: s
    type: Switcher
    field: n
    mapping: {1: one, 2: two}
    default: rest
  - {name: p1, type: Printer}
  - {name: p2, type: Printer}
  - {name: p3, type: Printer}
pipes:
  - {name: in, from: g, to: s}
  - {name: one, from: s, to: p1}
  - {name: two, from: s, to: p2}
  - {name: rest, from: s, to: p3}
`
	f, err := jobfile.Parse([]byte(yaml), "job.yaml", jobfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Job.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
}
