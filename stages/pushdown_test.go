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

// TestPushdownThroughJoinerAndLookup: a join whose two sides share a column
// name (suffixed in the output) and a lookup, then an aggregation reading
// three columns. Each origin is asked only for what is read, the suffixed
// columns stay (so that no name changes), and the results are those of the
// unprojected run.
func TestPushdownThroughJoinerAndLookup(t *testing.T) {
	left := openstage.NewSchema("k", openstage.Int64, "v", openstage.String, "a", openstage.Int64, "z", openstage.String)
	right := openstage.NewSchema("y", openstage.String, "k", openstage.Int64, "v", openstage.String, "b", openstage.Int64)
	ref := openstage.NewSchema("rk", openstage.Int64, "label", openstage.String, "w", openstage.String)
	var lrows, rrows, refRows [][]any
	for i := int64(0); i < 3000; i++ {
		lrows = append(lrows, []any{i % 500, fmt.Sprint("l", i%7), i % 40, "unused"})
	}
	for i := int64(0); i < 400; i++ {
		rrows = append(rrows, []any{"unused", i, fmt.Sprint("r", i%5), i * 3})
	}
	for i := int64(0); i < 30; i++ {
		refRows = append(refRows, []any{i, fmt.Sprint("label", i%4), "unused"})
	}
	run := func(projectable bool) ([][]any, [3][]string) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		sources := [3]*openstagetest.ProjectableSource{
			{Source: openstagetest.Source{Schema: left, Rows: lrows, BatchRows: 128}},
			{Source: openstagetest.Source{Schema: right, Rows: rrows, BatchRows: 50}},
			{Source: openstagetest.Source{Schema: ref, Rows: refRows, BatchRows: 7}},
		}
		origin := func(name string, i int) *openstage.Stage {
			if projectable {
				return openstage.NewStage(name, sources[i])
			}
			return openstage.NewStage(name, &sources[i].Source)
		}
		l, r, rf := origin("left", 0), origin("right", 1), origin("ref", 2)
		join := openstage.New("join", func(j *stages.Joiner) {
			j.Left, j.Right, j.Key, j.JoinType, j.Suffixes = "lp", "rp", openstage.Strings{"k"}, "left", []string{"_l", "_r"}
		})
		lookup := openstage.New("lookup", func(lk *stages.Lookup) {
			lk.Reference, lk.Key, lk.ReferenceKey, lk.OnMiss = "refp", openstage.Strings{"a"}, openstage.Strings{"rk"}, "continue"
		})
		agg := openstage.New("agg", func(a *stages.Aggregator) {
			a.Keys = []string{"label"}
			a.Aggregations = []stages.Aggregation{{Field: "b", Type: "sum"}, {Field: "v_l", Type: "nunique"}, {Type: "count"}}
		})
		sink := &openstagetest.Sink{}
		l.AddOutputPipe(openstage.NewPipe("lp")).SetDestination(join)
		r.AddOutputPipe(openstage.NewPipe("rp")).SetDestination(join)
		join.AddOutputPipe(openstage.NewPipe("joined")).SetDestination(lookup)
		rf.AddOutputPipe(openstage.NewPipe("refp")).SetDestination(lookup)
		lookup.AddOutputPipe(openstage.NewPipe("looked")).SetDestination(agg).
			AddOutputPipe(openstage.NewPipe("totals")).SetDestination(openstage.NewStage("sink", sink))
		job := openstage.NewJob("pushdown", l, r, rf)
		job.Allocator = mem
		if err := job.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return sink.Rows, [3][]string{sources[0].Projected, sources[1].Projected, sources[2].Projected}
	}
	want, _ := run(false)
	got, projected := run(true)
	wantProj := [3][]string{{"k", "v", "a"}, {"k", "v", "b"}, {"rk", "label"}}
	if !reflect.DeepEqual(projected, wantProj) {
		t.Fatalf("projected %v, want %v", projected, wantProj)
	}
	if len(want) != 5 { // four labels and the rows that found none
		t.Fatalf("unprojected run gave %v", want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("projected run gave\n%v\nwant\n%v", got, want)
	}
}

// TestPushdownThroughDerive: a Transformer with derive reads the columns
// its expressions name (not the columns it derives) and passes the others
// through, replaced ones included.
func TestPushdownThroughDerive(t *testing.T) {
	schema := openstage.NewSchema("a", openstage.Int64, "b", openstage.Int64, "c", openstage.String, "z", openstage.String)
	var rows [][]any
	for i := int64(0); i < 1000; i++ {
		rows = append(rows, []any{i, i % 9, fmt.Sprint("c", i%4), "unused"})
	}
	run := func(projectable bool) ([][]any, []string) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		ps := &openstagetest.ProjectableSource{Source: openstagetest.Source{Schema: schema, Rows: rows, BatchRows: 100}}
		var origin *openstage.Stage
		if projectable {
			origin = openstage.NewStage("src", ps)
		} else {
			origin = openstage.NewStage("src", &ps.Source)
		}
		tr := openstage.New("derive", func(t *stages.Transformer) {
			t.Derive = []stages.Derivation{
				{Column: "double", Expr: "a * 2"},
				{Column: "b", Expr: "b + double"}, // replaces b, reads the derived column
			}
		})
		agg := openstage.New("agg", func(a *stages.Aggregator) {
			a.Keys = []string{"c"}
			a.Aggregations = []stages.Aggregation{{Field: "b", Type: "sum"}, {Field: "double", Type: "max"}}
		})
		sink := &openstagetest.Sink{}
		origin.AddOutputPipe(openstage.NewPipe("p1")).SetDestination(tr).
			AddOutputPipe(openstage.NewPipe("p2")).SetDestination(agg).
			AddOutputPipe(openstage.NewPipe("p3")).SetDestination(openstage.NewStage("sink", sink))
		job := openstage.NewJob("derive", origin)
		job.Allocator = mem
		if err := job.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return sink.Rows, ps.Projected
	}
	want, _ := run(false)
	got, projected := run(true)
	if !reflect.DeepEqual(projected, []string{"a", "b", "c"}) {
		t.Fatalf("projected %v, want [a b c]", projected)
	}
	if len(want) != 4 || !reflect.DeepEqual(got, want) {
		t.Fatalf("projected run gave\n%v\nwant\n%v", got, want)
	}
}

// TestPushdownThroughFunnel: two origins (their columns in different
// orders) into a Funnel, then a Copy to a Transformer with derive and to an
// Aggregator. Each origin is asked only for the columns some stage after the
// Funnel reads, and the results are those of the unprojected run.
func TestPushdownThroughFunnel(t *testing.T) {
	s1 := openstage.NewSchema("k", openstage.Int64, "v", openstage.Float64, "z", openstage.String, "c", openstage.String)
	s2 := openstage.NewSchema("c", openstage.String, "z", openstage.String, "v", openstage.Float64, "k", openstage.Int64)
	var r1, r2 [][]any
	for i := int64(0); i < 2000; i++ {
		r1 = append(r1, []any{i % 17, float64(i) / 4, "unused", []string{"ä", "b", "東"}[i%3]})
	}
	for i := int64(0); i < 700; i++ {
		var v any = float64(i) * 3
		if i%10 == 0 {
			v = nil
		}
		r2 = append(r2, []any{[]string{"ä", "q"}[i%2], "unused", v, i % 5})
	}
	for _, mode := range []string{"", "sequence"} {
		run := func(projectable bool) ([2][][]any, [2][]string) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			sources := [2]*openstagetest.ProjectableSource{
				{Source: openstagetest.Source{Schema: s1, Rows: r1, BatchRows: 99}},
				{Source: openstagetest.Source{Schema: s2, Rows: r2, BatchRows: 64}},
			}
			origin := func(name string, i int) *openstage.Stage {
				if projectable {
					return openstage.NewStage(name, sources[i])
				}
				return openstage.NewStage(name, &sources[i].Source)
			}
			o1, o2 := origin("one", 0), origin("two", 1)
			funnel := openstage.New("funnel", func(f *stages.Funnel) { f.Mode = mode })
			cp := openstage.New("copy", func(*stages.Copy) {})
			tr := openstage.New("derive", func(t *stages.Transformer) {
				t.Derive = []stages.Derivation{{Column: "w", Expr: "v * 2"}}
			})
			agg1 := openstage.New("agg1", func(a *stages.Aggregator) {
				a.Keys = []string{"k"}
				a.Aggregations = []stages.Aggregation{{Field: "w", Type: "sum"}, {Type: "count"}}
			})
			agg2 := openstage.New("agg2", func(a *stages.Aggregator) {
				a.Keys = []string{"c"}
				a.Aggregations = []stages.Aggregation{{Type: "count"}}
			})
			sinks := [2]*openstagetest.Sink{{}, {}}
			o1.AddOutputPipe(openstage.NewPipe("p1")).SetDestination(funnel)
			o2.AddOutputPipe(openstage.NewPipe("p2")).SetDestination(funnel)
			funnel.AddOutputPipe(openstage.NewPipe("all")).SetDestination(cp)
			cp.AddOutputPipe(openstage.NewPipe("c1")).SetDestination(tr).
				AddOutputPipe(openstage.NewPipe("derived")).SetDestination(agg1).
				AddOutputPipe(openstage.NewPipe("t1")).SetDestination(openstage.NewStage("sink1", sinks[0]))
			cp.AddOutputPipe(openstage.NewPipe("c2")).SetDestination(agg2).
				AddOutputPipe(openstage.NewPipe("t2")).SetDestination(openstage.NewStage("sink2", sinks[1]))
			job := openstage.NewJob("funnel", o1, o2)
			job.Allocator = mem
			if err := job.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			return [2][][]any{sinks[0].Rows, sinks[1].Rows}, [2][]string{sources[0].Projected, sources[1].Projected}
		}
		want, _ := run(false)
		got, projected := run(true)
		wantProj := [2][]string{{"k", "v", "c"}, {"c", "v", "k"}}
		if !reflect.DeepEqual(projected, wantProj) {
			t.Fatalf("mode %q: projected %v, want %v", mode, projected, wantProj)
		}
		if len(want[0]) != 17 || len(want[1]) != 4 {
			t.Fatalf("mode %q: unprojected run gave %v", mode, want)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("mode %q: projected run gave\n%v\nwant\n%v", mode, got, want)
		}
	}
}
