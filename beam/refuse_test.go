package beam

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/cli"
	"github.com/open-stage/openstage/stages"
)

func init() {
	stages.RegisterFunction("beam_test_upper", stages.Function{Row: func(r openstage.Row) (openstage.Row, error) { return r, nil }})
}

// TestRefusedAtValidation: a stage without a Beam translation and an
// unknown Beam option are refused before anything runs, naming the stage
// (with its line) and the runners that can run it.
func TestRefusedAtValidation(t *testing.T) {
	dir := t.TempDir()
	genOrders(t, filepath.Join(dir, "orders.csv"), 100, 3)
	path := writeJob(t, dir, `
name: refused
params: {out_dir: out}
stages:
  - {name: reader, type: CSVOrigin, path: orders.csv}
  - {name: fn, type: Transformer, function: beam_test_upper}
  - {name: writer, type: CSVDestination, path: "${out_dir}/x.csv"}
pipes:
  - {name: p1, from: reader, to: fn}
  - {name: p2, from: fn, to: writer}
`)
	f := load(t, path, map[string]string{"out_dir": dir})
	_, err := Runner{}.Run(context.Background(), f, cli.RunnerOptions{Runner: "prism", BeamOptions: map[string]string{"projcet": "x"}})
	if !openstage.IsValidation(err) {
		t.Fatalf("want a validation error, got %v", err)
	}
	for _, want := range []string{
		"job.yaml:6: Transformer 'fn': has no Beam translation with function:",
		"run it with --runner local",
		"--beam-option projcet: Beam has no pipeline option 'projcet' (did you mean 'project'?)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error\n%v\nlacks %q", err, want)
		}
	}
}

var _ = arrow.PrimitiveTypes
