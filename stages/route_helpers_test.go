package stages_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
)

// Helpers of the Joiner, Lookup, Funnel, Switcher and Copy tests.

// routeRun runs component c between in-memory inputs and outputs and fails
// the test on any error.
func routeRun(t *testing.T, c any, inputs []openstagetest.Input, outputs ...string) *openstagetest.Result {
	t.Helper()
	res, err := openstagetest.RunNode(t, c, inputs, outputs...)
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	return res
}

// routeRunLimited is routeRun with a job memory limit of limit bytes, so
// that accumulating stages spill to disk.
func routeRunLimited(t *testing.T, c any, limit int64, inputs []openstagetest.Input, outputs ...string) *openstagetest.Result {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	stage := openstage.NewStage("stage", c)
	job := openstage.NewJob("test")
	job.Allocator, job.MemoryLimit, job.TempDir = mem, limit, t.TempDir()
	for i, in := range inputs {
		src := openstage.NewStage(fmt.Sprintf("source_%d", i+1), &openstagetest.Source{Schema: in.Schema, Rows: in.Rows, BatchRows: in.BatchRows})
		src.AddOutputPipe(openstage.NewPipe(in.Pipe)).SetDestination(stage)
		job.Add(src)
	}
	res := &openstagetest.Result{Outputs: map[string]*openstagetest.Sink{}}
	for _, o := range outputs {
		res.Outputs[o] = &openstagetest.Sink{}
		stage.AddOutputPipe(openstage.NewPipe(o)).SetDestination(openstage.NewStage("sink_"+o, res.Outputs[o]))
	}
	job.Add(stage)
	if err := job.Run(context.Background()); err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	res.Summary = job.Summary()
	return res
}

// routeErr runs component c and returns its error message, failing the test
// when there is none.
func routeErr(t *testing.T, c any, inputs []openstagetest.Input, outputs ...string) string {
	t.Helper()
	_, err := openstagetest.RunNode(t, c, inputs, outputs...)
	if err == nil {
		t.Fatalf("expected an error, got none")
	}
	return err.Error()
}

// routeEqualRows fails unless got and want hold the same rows in the same order.
func routeEqualRows(t *testing.T, got, want [][]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d\ngot:  %v\nwant: %v", len(got), len(want), got, want)
	}
	for i := range got {
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			t.Fatalf("row %d = %v, want %v\ngot:  %v\nwant: %v", i, got[i], want[i], got, want)
		}
	}
}

// routeSameRows fails unless got and want hold the same rows in any order.
func routeSameRows(t *testing.T, got, want [][]any) {
	t.Helper()
	routeEqualRows(t, routeSorted(got), routeSorted(want))
}

func routeSorted(rows [][]any) [][]any {
	out := slices.Clone(rows)
	slices.SortStableFunc(out, func(a, b []any) int {
		x, y := fmt.Sprint(a), fmt.Sprint(b)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	return out
}

// routeColumns returns "name:type" for each column of s.
func routeColumns(s *arrow.Schema) []string {
	var out []string
	for _, f := range s.Fields() {
		out = append(out, f.Name+":"+openstage.TypeName(f.Type))
	}
	return out
}

// routeHold is a test Node that passes on its input only once the input has
// ended, as an Aggregator or a Sort does.
type routeHold struct{}

func (routeHold) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(p.InputSchema())
	return nil
}

func (routeHold) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	var held []arrow.RecordBatch
	defer func() {
		for _, b := range held {
			b.Release()
		}
	}()
	for {
		dp, err := in.Recv(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		held = append(held, dp.Batch)
	}
	for _, b := range held {
		if err := out.Send(ctx, b); err != nil {
			return err
		}
	}
	return nil
}
