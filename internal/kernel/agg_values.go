package kernel

// Median and nunique past the memory budget. Their state grows with the
// rows of a group: median keeps every value, nunique every distinct value.
// Hybrid hash aggregation (internal/outofcore) bounds the number of groups
// held, not the values of a group, so past the budget it drains these
// states: Drain hands over the values held as (group, value) pairs, which
// the caller writes to sorted runs on disk; at the end the runs are merged
// in (group, value) order and fed, pair by pair, to the function Fold
// returns, which gives each group's median (the middle values, by position,
// since the count per group is known) and its number of distinct values (a
// value differing from the previous one of the same group) while holding
// only one result per group.

import (
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// AggDrainer is implemented by the aggregates whose state grows with the
// rows (median, nunique).
type AggDrainer interface {
	Agg
	AggSizer
	// Drain returns the values held as a batch of (group int64, value)
	// pairs, in no order, and frees them; nil when none are held.
	Drain(alloc memory.Allocator) arrow.RecordBatch
	// Fold resets the results and returns the function that takes back
	// every pair drained, in (group, value) order; Result then gives the
	// results of the folded pairs.
	Fold() func(g int64, vals arrow.Array, i int)
}

var (
	medianSchema = openstage.NewSchema("g", openstage.Int64, "v", openstage.Float64)
	nuIntSchema  = openstage.NewSchema("g", openstage.Int64, "v", openstage.Int64)
	nuStrSchema  = openstage.NewSchema("g", openstage.Int64, "v", openstage.String)
)

// ---- median ----

func (a *AggMedian) Drain(alloc memory.Allocator) arrow.RecordBatch {
	if a.n == 0 {
		return nil
	}
	b := array.NewRecordBuilder(alloc, medianSchema)
	defer b.Release()
	gb, vb := b.Field(0).(*array.Int64Builder), b.Field(1).(*array.Float64Builder)
	a.cnt = Grow(a.cnt, len(a.vals))
	for g, v := range a.vals {
		for _, x := range v {
			gb.Append(int64(g))
			vb.Append(x)
		}
		a.cnt[g] += int64(len(v))
		a.vals[g] = nil
	}
	a.n = 0
	return b.NewRecordBatch()
}

func (a *AggMedian) Fold() func(g int64, vals arrow.Array, i int) {
	ng := len(a.cnt)
	a.final, a.finalValid = make([]float64, ng), make([]bool, ng)
	cur, idx := int64(-1), int64(0)
	var lo float64
	return func(g int64, vals arrow.Array, i int) {
		x := vals.(*array.Float64).Value(i)
		if g != cur {
			cur, idx = g, 0
		}
		// As in AggMedian.Result: the middle value, or the mean of the
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
	}
}

// ---- nunique ----

func (a *AggNunique) Drain(alloc memory.Allocator) arrow.RecordBatch {
	if len(a.ints)+len(a.strs) == 0 {
		return nil
	}
	schema := nuIntSchema
	if a.kind == KeyString {
		schema = nuStrSchema
	}
	b := array.NewRecordBuilder(alloc, schema)
	defer b.Release()
	gb := b.Field(0).(*array.Int64Builder)
	if a.kind == KeyString {
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
	return b.NewRecordBatch()
}

func (a *AggNunique) Fold() func(g int64, vals arrow.Array, i int) {
	// The same value may have been drained several times: count again,
	// from the stream.
	clear(a.n)
	cur := int64(-1)
	var prevInt int64
	var prevStr string
	return func(g int64, vals arrow.Array, i int) {
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
	}
}
