package outofcore

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
	"github.com/open-stage/openstage/spill"
)

// JoinMaxBatchRows bounds the output batches of Joiner, however many pairs a
// many-to-many match produces.
const JoinMaxBatchRows = 64 << 10

// JoinPlan is what Joiner.Plan works out for the run.
type JoinPlan struct {
	BuildLeft           bool
	LKeys, RKeys        []int // key columns of each side
	Out                 []JoinOutCol
	Schema              *arrow.Schema
	KeepLeft            bool          // keep left rows without a match
	KeepRight           bool          // keep right rows without a match
	LeftPipe, RightPipe string        // pipe names
	LSchema             *arrow.Schema // input schemas
	RSchema             *arrow.Schema
	Budget              int64  // bytes of build side held before spilling; 0 = no limit
	TempDir             string // for spill files
}

// JoinOutCol says where an output column comes from: column col of the left
// or right side, or, for a merged key (same name on both sides), key column
// key of whichever side has the row.
type JoinOutCol struct {
	Left bool
	Col  int
	Key  int // index into LKeys/RKeys for a merged key, else -1
}

// HashJoin is the state of one run of a Joiner.
type HashJoin struct {
	plan    *JoinPlan
	out     *openstage.Outputs
	batches []arrow.RecordBatch // build side as received
	build   arrow.RecordBatch   // build side as one batch
	table   *kernel.HashTable
	matched []bool // build rows that matched, when unmatched ones are kept

	buildKeys, probeKeys []int
	buildLeft            bool
	buildSchema          *arrow.Schema
	probeSchema          *arrow.Schema
	keepProbe, keepBuild bool

	held  int64      // bytes of build batches held
	spill *joinSpill // partitions on disk, once held exceeds the budget

	heads      []int32
	pidx, bidx []int32 // output rows: probe row and build row (-1 = none)
}

func NewHashJoin(pl *JoinPlan, out *openstage.Outputs) *HashJoin {
	r := &HashJoin{plan: pl, out: out, buildLeft: pl.BuildLeft}
	r.buildKeys, r.probeKeys = pl.RKeys, pl.LKeys
	r.keepBuild, r.keepProbe = pl.KeepRight, pl.KeepLeft
	r.buildSchema, r.probeSchema = pl.RSchema, pl.LSchema
	if r.buildLeft {
		r.buildKeys, r.probeKeys = pl.LKeys, pl.RKeys
		r.keepBuild, r.keepProbe = pl.KeepLeft, pl.KeepRight
		r.buildSchema, r.probeSchema = pl.LSchema, pl.RSchema
	}
	return r
}

func (r *HashJoin) Release() {
	for _, b := range r.batches {
		b.Release()
	}
	r.batches = nil
	if r.build != nil {
		r.build.Release()
		r.build = nil
	}
	r.table, r.matched = nil, nil
	if r.spill != nil {
		r.spill.remove()
		r.spill = nil
	}
}

// AddBuild takes a build batch: kept in memory, or written to partitions
// once the build side outgrows the memory budget.
func (r *HashJoin) AddBuild(rec arrow.RecordBatch) error {
	if r.spill != nil {
		return r.spill.write(r.spill.build, rec, r.buildKeys)
	}
	r.batches = append(r.batches, rec)
	r.held += spill.Size(rec)
	if r.plan.Budget > 0 && r.held > r.plan.Budget {
		return r.startSpill()
	}
	return nil
}

// AddProbe joins a probe batch, or partitions it when the build side
// spilled.
func (r *HashJoin) AddProbe(ctx context.Context, rec arrow.RecordBatch) error {
	if r.spill != nil {
		return r.spill.write(r.spill.probe, rec, r.probeKeys)
	}
	defer rec.Release()
	if r.table == nil {
		if err := r.buildTable(); err != nil {
			return err
		}
	}
	return r.probe(ctx, rec)
}

// Finish ends the join once both sides have ended.
func (r *HashJoin) Finish(ctx context.Context) error {
	if r.spill != nil {
		return r.joinPartitions(ctx)
	}
	if r.table == nil {
		if err := r.buildTable(); err != nil {
			return err
		}
	}
	return r.emitUnmatchedBuild(ctx)
}

// buildTable concatenates the build batches and indexes them by key.
func (r *HashJoin) buildTable() error {
	build, err := kernel.ConcatBuild(r.out.Allocator(), r.batches, r.buildSchema, "the build side")
	for _, b := range r.batches {
		b.Release()
	}
	r.batches = nil
	if err != nil {
		return err
	}
	r.build = build
	r.table = kernel.NewHashTable(kernel.Columns(build, r.buildKeys))
	if r.keepBuild {
		r.matched = make([]bool, build.NumRows())
	}
	return nil
}

// probe joins one probe batch against the build side.
func (r *HashJoin) probe(ctx context.Context, rec arrow.RecordBatch) error {
	r.heads = r.table.Probe(kernel.Columns(rec, r.probeKeys), r.heads)
	next := r.table.Next
	for i, head := range r.heads {
		if head < 0 {
			if r.keepProbe {
				r.pidx = append(r.pidx, int32(i))
				r.bidx = append(r.bidx, -1)
				if len(r.pidx) == JoinMaxBatchRows {
					if err := r.flush(ctx, rec); err != nil {
						return err
					}
				}
			}
			continue
		}
		for b := head; b >= 0; b = next[b] {
			if r.matched != nil {
				r.matched[b] = true
			}
			r.pidx = append(r.pidx, int32(i))
			r.bidx = append(r.bidx, b)
			if len(r.pidx) == JoinMaxBatchRows {
				if err := r.flush(ctx, rec); err != nil {
					return err
				}
			}
		}
	}
	return r.flush(ctx, rec)
}

// emitUnmatchedBuild sends the build rows that matched nothing, when the
// join keeps them.
func (r *HashJoin) emitUnmatchedBuild(ctx context.Context) error {
	if !r.keepBuild {
		return nil
	}
	for b, m := range r.matched {
		if m {
			continue
		}
		r.pidx = append(r.pidx, -1)
		r.bidx = append(r.bidx, int32(b))
		if len(r.pidx) == JoinMaxBatchRows {
			if err := r.flush(ctx, nil); err != nil {
				return err
			}
		}
	}
	return r.flush(ctx, nil)
}

// flush sends the output rows gathered in pidx and bidx: rows of probe (nil
// for unmatched build rows, whose probe columns are null) and of the build
// side.
func (r *HashJoin) flush(ctx context.Context, probe arrow.RecordBatch) error {
	n := len(r.pidx)
	if n == 0 {
		return nil
	}
	alloc := r.out.Allocator()
	// A probe batch whose rows each appear once, in order (a left join on
	// a unique build key, typically), is passed through without copying.
	whole := probe != nil && int64(n) == probe.NumRows()
	for k := 0; whole && k < n; k++ {
		whole = r.pidx[k] == int32(k)
	}
	cols := make([]arrow.Array, len(r.plan.Out))
	for c, oc := range r.plan.Out {
		fromProbe := oc.Left != r.buildLeft
		col := oc.Col
		if oc.Key >= 0 {
			// A merged key comes from the side that has the row: the probe
			// side, except for unmatched build rows.
			fromProbe = probe != nil
			col = r.plan.LKeys[oc.Key]
			if fromProbe == r.buildLeft {
				col = r.plan.RKeys[oc.Key]
			}
		}
		switch {
		case !fromProbe:
			cols[c] = openstage.TakeArray(alloc, r.build.Column(col), r.bidx)
		case probe == nil:
			cols[c] = array.MakeArrayOfNull(alloc, r.plan.Schema.Field(c).Type, n)
		case whole:
			cols[c] = probe.Column(col)
			cols[c].Retain()
		default:
			cols[c] = openstage.TakeArray(alloc, probe.Column(col), r.pidx)
		}
	}
	rec := array.NewRecordBatch(r.plan.Schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	r.pidx, r.bidx = r.pidx[:0], r.bidx[:0]
	err := r.out.Send(ctx, rec)
	rec.Release()
	return err
}
