package all_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/open-stage/openstage"
	_ "github.com/open-stage/openstage/components/all"
	"github.com/open-stage/openstage/jobfile"
)

// exampleInput is a test origin that declares the columns it is given
// ("name:type"), so that a component's Example can be validated against the
// columns it reads.
type exampleInput struct {
	Columns []string `param:"columns"`
}

func (e *exampleInput) Plan(_ context.Context, p *openstage.Plan) error {
	var fields []any
	for _, c := range e.Columns {
		name, typ, _ := strings.Cut(c, ":")
		dt, err := openstage.ParseType(typ)
		if err != nil {
			return err
		}
		fields = append(fields, name, dt)
	}
	p.SetOutputs(openstage.NewSchema(fields...))
	return nil
}

func (e *exampleInput) Pump(context.Context, *openstage.Outputs) error { return nil }

// exampleOutput is a test destination that takes anything.
type exampleOutput struct{}

func (exampleOutput) Plan(context.Context, *openstage.Plan) error   { return nil }
func (exampleOutput) Sink(context.Context, *openstage.Inputs) error { return nil }

func init() {
	openstage.MustRegister(openstage.Spec{Type: "ExampleTestInput", Layer: openstage.Extraction, Summary: "test only", Example: "-", New: func() any { return &exampleInput{} }})
	openstage.MustRegister(openstage.Spec{Type: "ExampleTestOutput", Layer: openstage.Load, Summary: "test only", Example: "-", New: func() any { return &exampleOutput{} }})
}

var (
	missingColumn = regexp.MustCompile(`(?:field|column|key|name) '([^']+)' (?:not found|is not (?:a column|in))|unknown name ([A-Za-z_]\w*)|'([^']+)' not found; available columns`)
	quotedName    = regexp.MustCompile(`'([^']+)'`)
	pipeName      = regexp.MustCompile(`pipe '([^']+)'`)
	// What a component needs from outside the job (a file to read, a
	// server): the example is then checked up to that point.
	environment = regexp.MustCompile(`no such file or directory|connection refused|dial tcp|cannot connect|could not find default credentials|credentials|does not exist|lookup .* on |context deadline exceeded`)
)

var exampleTypes = []string{"float64", "string", "int64", "bool", "date", "timestamp"}

// TestEveryComponentExample runs the Example of every component in the
// default registry (every package components/all imports, so a new
// connector is covered as soon as it is registered): each snippet must be
// a list of stages of that type, parse as a job file, and validate in a job
// built around it, with a test origin on every input pipe (the columns the
// stage reads are added as validation asks for them) and a test
// destination on every output pipe (named as the stage names them).
// A stage whose Plan needs something outside the job (its file, its
// server) is checked up to that point; the test logs it.
func TestEveryComponentExample(t *testing.T) {
	reg := openstage.DefaultRegistry()
	for _, typ := range reg.Types() {
		if strings.HasPrefix(typ, "ExampleTest") {
			continue
		}
		spec, _ := reg.Lookup(typ)
		t.Run(typ, func(t *testing.T) {
			if strings.TrimSpace(spec.Example) == "" {
				t.Fatalf("%s has no Example; every component shows one (it goes into docs/stages.md)", typ)
			}
			var items []map[string]any
			if err := yaml.Unmarshal([]byte(spec.Example), &items); err != nil || len(items) == 0 {
				t.Fatalf("Example is not a YAML list of stages: %v\n%s", err, spec.Example)
			}
			for _, item := range items {
				if item["type"] != typ {
					t.Fatalf("Example stage %v has type %v, want %s", item["name"], item["type"], typ)
				}
				checkExample(t, spec, item)
			}
		})
	}
}

func checkExample(t *testing.T, spec *openstage.Spec, item map[string]any) {
	t.Helper()
	name, _ := item["name"].(string)
	if name == "" {
		t.Fatalf("Example stage has no name: %v", item)
	}
	conn := spec.Connectivity()
	var ins, outs []string
	for _, p := range spec.Params() {
		if v, ok := item[p.Name].(string); ok && p.Pipe == "input" {
			ins = append(ins, v)
		}
	}
	for len(ins) < conn.MinIn {
		ins = append(ins, fmt.Sprintf("gen_in_%d", len(ins)+1))
	}
	if spec.Kind() != openstage.KindDestination {
		for len(outs) < max(1, conn.MinOut) {
			outs = append(outs, fmt.Sprintf("gen_out_%d", len(outs)+1))
		}
	}
	cols := map[string][]string{} // columns of each input pipe
	addCol := func(c string) {
		for _, in := range ins {
			cols[in] = append(cols[in], c)
		}
	}
	for _, in := range ins {
		cols[in] = []string{"example_id:int64"}
	}
	var added []string // columns in the order they were added
	dir := t.TempDir()
	env := func(name string) (string, bool) { return "example-" + strings.ToLower(name), true }
	// The folders of the files it names exist (a destination writes there).
	for _, p := range spec.Params() {
		if v, ok := item[p.Name].(string); ok && p.Path && !filepath.IsAbs(v) {
			if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(v)), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	for try := 0; try < 60; try++ {
		doc := exampleJob(item, ins, outs, cols)
		f, err := jobfile.Parse(doc, dir+"/example.yaml", jobfile.Options{LookupEnv: env})
		if err != nil {
			t.Fatalf("Example stage '%s' does not parse: %v\njob file:\n%s", name, err, doc)
		}
		// A stage that asks a server at Plan gets 3 seconds (there is no
		// network here).
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = f.Job.Validate(ctx)
		cancel()
		if err == nil {
			return
		}
		msg := err.Error()
		if m := missingColumn.FindStringSubmatch(msg); m != nil {
			col := m[1] + m[2] + m[3]
			if !slices.Contains(added, col) {
				added = append(added, col)
				addCol(col + ":" + exampleTypes[0])
				if len(ins) > 0 {
					continue
				}
			}
		}
		if m := pipeName.FindStringSubmatch(msg); m != nil && !slices.Contains(ins, m[1]) && !slices.Contains(outs, m[1]) {
			if strings.Contains(msg, "input") && !strings.Contains(msg, "output") {
				ins = append(ins, m[1])
				cols[m[1]] = []string{"example_id:int64"}
			} else {
				outs = append(outs, m[1])
			}
			continue
		}
		if changed := adjust(msg, ins, cols, &outs, added); changed {
			continue
		}
		if environment.MatchString(msg) {
			t.Logf("Example stage '%s' parses and validates up to what it needs outside the job: %v", name, err)
			return
		}
		t.Fatalf("Example stage '%s' does not validate: %v\njob file:\n%s", name, err, doc)
	}
	t.Fatalf("Example stage '%s': no set of input columns and pipes makes it validate (columns %v, outputs %v)", name, cols, outs)
}

// adjust reacts to a message naming a column or generated pipe already in
// the job: a column that another input also has is dropped from the input
// the message names; otherwise a column's type becomes the next candidate
// (the last column added when the message names none, as expression type
// errors do); a generated output pipe that the stage does not want is
// dropped.
func adjust(msg string, ins []string, cols map[string][]string, outs *[]string, added []string) bool {
	names := quotedName.FindAllStringSubmatch(msg, -1)
	next := func(col string) bool {
		changed := false
		for _, in := range ins {
			for i, c := range cols[in] {
				name, typ, _ := strings.Cut(c, ":")
				if name != col {
					continue
				}
				if k := slices.Index(exampleTypes, typ); k+1 < len(exampleTypes) {
					cols[in][i] = name + ":" + exampleTypes[k+1]
					changed = true
				}
			}
		}
		return changed
	}
	for _, m := range names {
		n := m[1]
		if i := slices.Index(*outs, n); i >= 0 && strings.HasPrefix(n, "gen_out_") && len(*outs) > 1 {
			*outs = slices.Delete(*outs, i, i+1)
			return true
		}
	}
	if strings.Contains(msg, "also a column of") {
		for _, m := range names {
			if _, isIn := cols[m[1]]; !isIn {
				continue
			}
			for _, c := range names {
				before := len(cols[m[1]])
				cols[m[1]] = slices.DeleteFunc(cols[m[1]], func(x string) bool { return strings.HasPrefix(x, c[1]+":") })
				if len(cols[m[1]]) < before {
					return true
				}
			}
		}
	}
	for _, m := range names {
		if slices.Contains(added, m[1]) && next(m[1]) {
			return true
		}
	}
	if len(added) > 0 && regexp.MustCompile(`cannot use|mismatched types|invalid operation|type`).MatchString(msg) {
		for k := len(added) - 1; k >= 0; k-- {
			if next(added[k]) {
				return true
			}
		}
	}
	return false
}

// exampleJob is a job file with the example stage, a test origin per input
// pipe and a test destination per output pipe.
func exampleJob(item map[string]any, ins, outs []string, cols map[string][]string) []byte {
	name := item["name"].(string)
	stages := []any{item}
	var pipes []any
	for i, p := range ins {
		src := fmt.Sprintf("example_input_%d", i+1)
		stages = append(stages, map[string]any{"name": src, "type": "ExampleTestInput", "columns": cols[p]})
		pipes = append(pipes, map[string]any{"name": p, "from": src, "to": name})
	}
	for i, p := range outs {
		dst := fmt.Sprintf("example_output_%d", i+1)
		stages = append(stages, map[string]any{"name": dst, "type": "ExampleTestOutput"})
		pipes = append(pipes, map[string]any{"name": p, "from": name, "to": dst})
	}
	out, err := yaml.Marshal(map[string]any{"name": "example_" + name, "stages": stages, "pipes": pipes})
	if err != nil {
		panic(err)
	}
	return out
}
