package stages_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

// TestPushdownDeclarations runs a job through every stage that declares the
// columns it reads, once from an origin that cannot leave columns out and
// once from one that can: the results must be identical, and the projection
// must be exactly the columns some stage reads.
func TestPushdownDeclarations(t *testing.T) {
	schema := openstage.NewSchema("a", openstage.Int64, "b", openstage.Int64, "s", openstage.String,
		"z", openstage.String, "k", openstage.Int64, "d", openstage.Float64)
	var rows [][]any
	for i := int64(0); i < 5000; i++ {
		rows = append(rows, []any{i % 97, (i * 7) % 13, []string{"x", "y", "w"}[i%3], fmt.Sprint("unused", i), i % 11, float64(i) / 3})
	}
	run := func(projectable bool) (results [3][][]any, projected []string) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		src := openstagetest.Source{Schema: schema, Rows: rows, BatchRows: 333}
		var origin *openstage.Stage
		ps := &openstagetest.ProjectableSource{Source: src}
		if projectable {
			origin = openstage.NewStage("src", ps)
		} else {
			origin = openstage.NewStage("src", &src)
		}
		sinks := [3]*openstagetest.Sink{{}, {}, {}}
		sw := openstage.New("switch", func(s *stages.Switcher) {
			s.Field = "s"
			s.Mapping = stages.SwitcherMapping{"x": "px"}
			s.Default = "pother"
		})
		origin.AddOutputPipe(openstage.NewPipe("p1")).
			SetDestination(stages.NewFilterExpr("filter", "a > 10 && k != 2")).
			AddOutputPipe(openstage.NewPipe("p2")).SetDestination(sw)
		sw.AddOutputPipe(openstage.NewPipe("px")).
			SetDestination(openstage.New("sort", func(s *stages.Sort) { s.Keys = stages.SortKeys{stages.Asc("k")} })).
			AddOutputPipe(openstage.NewPipe("p3")).
			SetDestination(openstage.New("dedup", func(r *stages.RemoveDuplicates) { r.Key = []string{"k", "a"}; r.SortBy = []string{"b"} })).
			AddOutputPipe(openstage.NewPipe("p4")).
			SetDestination(openstage.New("agg1", func(a *stages.Aggregator) {
				a.Keys = []string{"k"}
				a.Aggregations = []stages.Aggregation{{Field: "a", Type: "sum"}, {Field: "b", Type: "max"}}
			})).
			AddOutputPipe(openstage.NewPipe("r1")).SetDestination(openstage.NewStage("sink1", sinks[0]))
		cp := openstage.New("copy", func(*stages.Copy) {})
		sw.AddOutputPipe(openstage.NewPipe("pother")).SetDestination(cp)
		cp.AddOutputPipe(openstage.NewPipe("c1")).
			SetDestination(openstage.New("drop", func(d *stages.DeleteColumns) { d.Columns = []string{"b"} })).
			AddOutputPipe(openstage.NewPipe("p5")).
			SetDestination(openstage.New("agg2", func(a *stages.Aggregator) {
				a.Keys = []string{"s"}
				a.Aggregations = []stages.Aggregation{{Type: "count"}}
			})).
			AddOutputPipe(openstage.NewPipe("r2")).SetDestination(openstage.NewStage("sink2", sinks[1]))
		cp.AddOutputPipe(openstage.NewPipe("c2")).
			SetDestination(openstage.New("agg3", func(a *stages.Aggregator) {
				a.Keys = []string{"k"}
				a.Aggregations = []stages.Aggregation{{Field: "d", Type: "max"}}
			})).
			AddOutputPipe(openstage.NewPipe("r3")).SetDestination(openstage.NewStage("sink3", sinks[2]))
		job := openstage.NewJob("pushdown", origin)
		job.Allocator = mem
		if err := job.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		for i, s := range sinks {
			results[i] = s.Rows
		}
		return results, ps.Projected
	}
	want, _ := run(false)
	got, projected := run(true)
	if !reflect.DeepEqual(projected, []string{"a", "b", "s", "k", "d"}) {
		t.Fatalf("projected %v, want [a b s k d]", projected)
	}
	for i := range want {
		if len(want[i]) == 0 {
			t.Fatalf("sink %d received nothing", i+1)
		}
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("sink %d: projected run gave\n%v\nwant\n%v", i+1, got[i], want[i])
		}
	}
}
