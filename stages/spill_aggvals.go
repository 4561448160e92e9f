package stages

// Median and nunique beyond the memory budget. Their state grows with the
// rows of a group: median keeps every value, nunique every distinct value.
// Hybrid hash aggregation (spill_agg.go) bounds the number of groups held,
// not the values of a group, so past the budget these states write their
// values to spill files instead: each spill is one run of (group, value)
// pairs sorted by group then value (a spillSorter, as Sort uses). At the
// end the runs are merged, and
// the sorted stream gives each group's median (the middle values, by
// position, since the count per group is known) and its number of distinct
// values (a value differing from the previous one of the same group) while
// holding only one result per group.

import (
	"context"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// kAggSpiller is implemented by the aggregates whose state grows with the
// rows (median, nunique).
type kAggSpiller interface {
	kAggSizer
	// spill writes the values held as one sorted run and frees them.
	spill(dir string, alloc memory.Allocator) error
	// merge folds the runs, if any, back into one result per group; it
	// comes before result.
	merge(ctx context.Context, dir string, alloc memory.Allocator) error
	// release removes the runs left after an error.
	release()
}

// aggValRuns holds the (group, value) pairs an aggregate wrote to disk: the
// runs of a spillSorter ordered by group, then value.
type aggValRuns struct {
	srt *spillSorter
}

// write sorts rec (columns group and value; owned) and writes it as a run.
func (r *aggValRuns) write(dir string, alloc memory.Allocator, rec arrow.RecordBatch) error {
	if r.srt == nil {
		r.srt = &spillSorter{dir: dir, alloc: alloc, keys: []kSortColRef{{col: 0}, {col: 1}}}
	}
	if err := r.srt.add(rec); err != nil {
		return err
	}
	return r.srt.flushRun()
}

func (r *aggValRuns) spilled() bool { return r.srt != nil && r.srt.spilledAny() }

// merge streams every pair in (group, value) order to row, then removes
// the runs.
func (r *aggValRuns) merge(ctx context.Context, row func(g int64, vals arrow.Array, i int)) error {
	defer r.release()
	return r.srt.merge(ctx, func(rec arrow.RecordBatch) error {
		defer rec.Release()
		gs := rec.Column(0).(*array.Int64).Int64Values()
		for i, g := range gs {
			row(g, rec.Column(1), i)
		}
		return nil
	})
}

func (r *aggValRuns) release() {
	if r.srt != nil {
		r.srt.release()
		r.srt = nil
	}
}

var (
	aggMedianSchema = openstage.NewSchema("g", openstage.Int64, "v", openstage.Float64)
	aggNuIntSchema  = openstage.NewSchema("g", openstage.Int64, "v", openstage.Int64)
	aggNuStrSchema  = openstage.NewSchema("g", openstage.Int64, "v", openstage.String)
)

// ---- median ----

func (a *kAggMedian) spill(dir string, alloc memory.Allocator) error {
	b := array.NewRecordBuilder(alloc, aggMedianSchema)
	defer b.Release()
	gb, vb := b.Field(0).(*array.Int64Builder), b.Field(1).(*array.Float64Builder)
	a.cnt = kGrow(a.cnt, len(a.vals))
	for g, v := range a.vals {
		for _, x := range v {
			gb.Append(int64(g))
			vb.Append(x)
		}
		a.cnt[g] += int64(len(v))
		a.vals[g] = nil
	}
	a.n = 0
	return a.runs.write(dir, alloc, b.NewRecordBatch())
}

func (a *kAggMedian) merge(ctx context.Context, dir string, alloc memory.Allocator) error {
	if !a.runs.spilled() {
		return nil
	}
	if a.n > 0 {
		if err := a.spill(dir, alloc); err != nil {
			return err
		}
	}
	ng := len(a.cnt)
	a.final, a.finalValid = make([]float64, ng), make([]bool, ng)
	cur, idx := int64(-1), int64(0)
	var lo float64
	return a.runs.merge(ctx, func(g int64, vals arrow.Array, i int) {
		x := vals.(*array.Float64).Value(i)
		if g != cur {
			cur, idx = g, 0
		}
		// As in kAggMedian.result: the middle value, or the mean of the
		// two middle ones.
		switch n := a.cnt[g]; {
		case n%2 == 1 && idx == n/2:
			a.final[g], a.finalValid[g] = x, true
		case n%2 == 0 && idx == n/2-1:
			lo = x
		case n%2 == 0 && idx == n/2:
			a.final[g], a.finalValid[g] = lo+(x-lo)/2, true
		}
		idx++
	})
}

func (a *kAggMedian) release() { a.runs.release() }

// ---- nunique ----

func (a *kAggNunique) spill(dir string, alloc memory.Allocator) error {
	schema := aggNuIntSchema
	if a.kind == kKeyString {
		schema = aggNuStrSchema
	}
	b := array.NewRecordBuilder(alloc, schema)
	defer b.Release()
	gb := b.Field(0).(*array.Int64Builder)
	if a.kind == kKeyString {
		vb := b.Field(1).(*array.StringBuilder)
		for k := range a.strs {
			gb.Append(int64(k.g))
			vb.Append(k.s)
		}
	} else {
		vb := b.Field(1).(*array.Int64Builder)
		for k := range a.ints {
			gb.Append(int64(k.g))
			vb.Append(k.v)
		}
	}
	a.ints, a.strs, a.bytes = nil, nil, 0
	return a.runs.write(dir, alloc, b.NewRecordBatch())
}

func (a *kAggNunique) merge(ctx context.Context, dir string, alloc memory.Allocator) error {
	if !a.runs.spilled() {
		return nil
	}
	if len(a.ints)+len(a.strs) > 0 {
		if err := a.spill(dir, alloc); err != nil {
			return err
		}
	}
	// The same value may be in several runs: count again, from the stream.
	clear(a.n)
	cur := int64(-1)
	var prevInt int64
	var prevStr string
	return a.runs.merge(ctx, func(g int64, vals arrow.Array, i int) {
		first := g != cur
		cur = g
		switch v := vals.(type) {
		case *array.Int64:
			if x := v.Value(i); first || x != prevInt {
				a.n[g]++
				prevInt = x
			}
		case *array.String:
			if x := v.Value(i); first || x != prevStr {
				a.n[g]++
				prevStr = strings.Clone(x)
			}
		}
	})
}

func (a *kAggNunique) release() { a.runs.release() }

// spillValues has the growing aggregates write their values to disk when
// together they hold more than half the budget (the rest is for the groups).
func (a *Aggregator) spillValues(states []kAgg, out *openstage.Outputs) error {
	if a.budget <= 0 {
		return nil
	}
	var held int64
	for _, st := range states {
		if sp, ok := st.(kAggSpiller); ok {
			held += sp.heldBytes()
		}
	}
	if held <= a.budget/2 || held == 0 {
		return nil
	}
	for _, st := range states {
		if sp, ok := st.(kAggSpiller); ok && sp.heldBytes() > 0 {
			if err := sp.spill(a.tempDir, out.Allocator()); err != nil {
				return err
			}
			out.Count("spill_runs", 1)
		}
	}
	return nil
}
