package stages

// Median and nunique beyond the memory budget. Their state grows with the
// rows of a group: median keeps every value, nunique every distinct value.
// Hybrid hash aggregation (spill_agg.go) bounds the number of groups held,
// not the values of a group, so past the budget these states write their
// values to spill files instead: each spill is one run of (group, value)
// pairs sorted by group then value. At the end the runs are merged, and
// the sorted stream gives each group's median (the middle values, by
// position, since the count per group is known) and its number of distinct
// values (a value differing from the previous one of the same group) while
// holding only one result per group.

import (
	"context"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/spill"
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

const aggValBatch = 65536

// aggValRuns writes (group, value) pairs, already sorted, to a spill run.
type aggValRuns struct {
	runs []*spill.Run
}

func (r *aggValRuns) write(dir string, alloc memory.Allocator, schema *arrow.Schema, fill func(b *array.RecordBuilder, emit func() error) error) error {
	w, err := spill.NewWriter(dir, schema, alloc)
	if err != nil {
		return err
	}
	b := array.NewRecordBuilder(alloc, schema)
	defer b.Release()
	emit := func() error {
		rec := b.NewRecordBatch()
		defer rec.Release()
		if rec.NumRows() == 0 {
			return nil
		}
		return w.Write(rec)
	}
	if err := fill(b, emit); err == nil {
		err = emit()
	}
	if err != nil {
		w.Abort()
		return err
	}
	run, err := w.Finish()
	if err != nil {
		return err
	}
	r.runs = append(r.runs, run)
	return nil
}

// merge streams the runs in (group, value) order to row, then removes them.
func (r *aggValRuns) merge(ctx context.Context, alloc memory.Allocator, schema *arrow.Schema, row func(rec arrow.RecordBatch, i int)) error {
	defer r.release()
	cmp := func(a arrow.RecordBatch, i int, b arrow.RecordBatch, j int) int {
		ga, gb := a.Column(0).(*array.Int64).Value(i), b.Column(0).(*array.Int64).Value(j)
		if ga != gb {
			if ga < gb {
				return -1
			}
			return 1
		}
		switch va := a.Column(1).(type) {
		case *array.Float64:
			x, y := va.Value(i), b.Column(1).(*array.Float64).Value(j)
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		case *array.Int64:
			x, y := va.Value(i), b.Column(1).(*array.Int64).Value(j)
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		default:
			return strings.Compare(va.(*array.String).Value(i), b.Column(1).(*array.String).Value(j))
		}
	}
	return spill.Merge(ctx, r.runs, alloc, schema, cmp, aggValBatch, func(rec arrow.RecordBatch) error {
		defer rec.Release()
		for i := range int(rec.NumRows()) {
			row(rec, i)
		}
		return nil
	})
}

func (r *aggValRuns) release() {
	for _, run := range r.runs {
		run.Remove()
	}
	r.runs = nil
}

var (
	aggMedianSchema = openstage.NewSchema("g", openstage.Int64, "v", openstage.Float64)
	aggNuIntSchema  = openstage.NewSchema("g", openstage.Int64, "v", openstage.Int64)
	aggNuStrSchema  = openstage.NewSchema("g", openstage.Int64, "v", openstage.String)
)

// ---- median ----

func (a *kAggMedian) spill(dir string, alloc memory.Allocator) error {
	a.cnt = kGrow(a.cnt, len(a.vals))
	err := a.runs.write(dir, alloc, aggMedianSchema, func(b *array.RecordBuilder, emit func() error) error {
		gb, vb := b.Field(0).(*array.Int64Builder), b.Field(1).(*array.Float64Builder)
		for g, v := range a.vals {
			slices.Sort(v)
			for _, x := range v {
				gb.Append(int64(g))
				vb.Append(x)
				if gb.Len() == aggValBatch {
					if err := emit(); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for g, v := range a.vals {
		a.cnt[g] += int64(len(v))
		a.vals[g] = nil
	}
	a.n = 0
	return nil
}

func (a *kAggMedian) merge(ctx context.Context, dir string, alloc memory.Allocator) error {
	if len(a.runs.runs) == 0 {
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
	return a.runs.merge(ctx, alloc, aggMedianSchema, func(rec arrow.RecordBatch, i int) {
		g := rec.Column(0).(*array.Int64).Value(i)
		x := rec.Column(1).(*array.Float64).Value(i)
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
	var err error
	switch a.kind {
	case kKeyString:
		keys := make([]kNuStr, 0, len(a.strs))
		for k := range a.strs {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y kNuStr) int {
			if x.g != y.g {
				return int(x.g - y.g)
			}
			return strings.Compare(x.s, y.s)
		})
		err = a.runs.write(dir, alloc, aggNuStrSchema, func(b *array.RecordBuilder, emit func() error) error {
			gb, vb := b.Field(0).(*array.Int64Builder), b.Field(1).(*array.StringBuilder)
			for _, k := range keys {
				gb.Append(int64(k.g))
				vb.Append(k.s)
				if gb.Len() == aggValBatch {
					if err := emit(); err != nil {
						return err
					}
				}
			}
			return nil
		})
		a.strs = nil
	default:
		keys := make([]kNuInt, 0, len(a.ints))
		for k := range a.ints {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y kNuInt) int {
			if x.g != y.g {
				return int(x.g - y.g)
			}
			switch {
			case x.v < y.v:
				return -1
			case x.v > y.v:
				return 1
			}
			return 0
		})
		err = a.runs.write(dir, alloc, aggNuIntSchema, func(b *array.RecordBuilder, emit func() error) error {
			gb, vb := b.Field(0).(*array.Int64Builder), b.Field(1).(*array.Int64Builder)
			for _, k := range keys {
				gb.Append(int64(k.g))
				vb.Append(k.v)
				if gb.Len() == aggValBatch {
					if err := emit(); err != nil {
						return err
					}
				}
			}
			return nil
		})
		a.ints = nil
	}
	a.bytes = 0
	return err
}

func (a *kAggNunique) merge(ctx context.Context, dir string, alloc memory.Allocator) error {
	if len(a.runs.runs) == 0 {
		return nil
	}
	if len(a.ints)+len(a.strs) > 0 {
		if err := a.spill(dir, alloc); err != nil {
			return err
		}
	}
	// The same value may be in several runs: count again, from the stream.
	clear(a.n)
	schema := aggNuIntSchema
	if a.kind == kKeyString {
		schema = aggNuStrSchema
	}
	cur := int64(-1)
	var prevInt int64
	var prevStr string
	return a.runs.merge(ctx, alloc, schema, func(rec arrow.RecordBatch, i int) {
		g := rec.Column(0).(*array.Int64).Value(i)
		first := g != cur
		cur = g
		switch v := rec.Column(1).(type) {
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
