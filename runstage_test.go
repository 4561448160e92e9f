package openstage_test

import (
	"context"
	"errors"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/stages"
)

// TestRunStage runs one planned stage of a validated job by itself, as a
// distributed runner does: its output for the given batches, by pipe, its
// counters, and its errors as StageErrors.
func TestRunStage(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	gen := openstage.New("gen", func(g *stages.Generator) {
		g.Rows = 10
		g.Columns = []stages.GenColumn{{Name: "n", Type: "int64", Pattern: "sequence"}}
	})
	route := stages.NewSwitcher("route", "n", map[string]string{"1": "one", "2": "two"})
	gen.AddOutputPipe(openstage.NewPipe("in")).SetDestination(route)
	route.AddOutputPipe(openstage.NewPipe("one")).SetDestination(stages.NewPrinter("p1", 0))
	route.AddOutputPipe(openstage.NewPipe("two")).SetDestination(stages.NewPrinter("p2", 0))
	job := openstage.NewJob("runstage", gen)
	job.Allocator = mem
	ctx := context.Background()
	if _, err := job.RunStage(ctx, "route", nil, nil); err == nil {
		t.Fatal("RunStage before Validate succeeded")
	}
	if err := job.Validate(ctx); err != nil {
		t.Fatal(err)
	}
	b := openstage.NewBuilder(mem, openstage.NewSchema("n", openstage.Int64))
	for _, v := range []int64{1, 2, 2, 3, 1} {
		b.Append(v)
	}
	rec := b.Build()
	b.Release()
	rows := map[string]int64{}
	counters, err := job.RunStage(ctx, "route", map[string]openstage.BatchSource{"in": openstage.Batches(rec)}, func(pipe string, r arrow.RecordBatch) error {
		rows[pipe] += r.NumRows()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows["one"] != 2 || rows["two"] != 2 || counters["unmatched"] != 1 {
		t.Fatalf("rows %v counters %v", rows, counters)
	}
	// The origin runs its Pump; an error of emit stops the stage.
	stop := errors.New("enough")
	_, err = job.RunStage(ctx, "gen", nil, func(string, arrow.RecordBatch) error { return stop })
	var se *openstage.StageError
	if !errors.As(err, &se) || !errors.Is(err, stop) || se.Stage.Name() != "gen" {
		t.Fatalf("err = %v", err)
	}
	if _, err := job.RunStage(ctx, "route", map[string]openstage.BatchSource{"nope": openstage.Batches()}, nil); err == nil {
		t.Fatal("an unknown input pipe was accepted")
	}
}
