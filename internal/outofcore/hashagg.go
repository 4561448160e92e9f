package outofcore

// Aggregator beyond its memory budget: hybrid hash aggregation.
//
// The input is aggregated in memory while the estimated size of the groups
// (hash table, key values, the state of every aggregate, median's values and
// nunique's distinct values) stays within the budget. Past it, the group
// table is frozen: rows whose key is already a group keep updating it in
// memory, and rows of any other key are written, in input order, to
// aggPartitions spill files by a hash of their key (fewer when partitioning
// a partition, whose size is known). All the rows of a group
// are thus either in memory or in one partition, in input order, so every
// function (median, nunique, first and last included) stays exact. At the end
// of the input the in-memory groups go to an external sort by key (a
// Sorter, which spills past the budget too); each partition is then
// aggregated the same way (spilling again, into partitions of its own, if it
// is itself too large, up to aggMaxDepth levels) and its groups go to the
// same sort, which finally sends them in key order.

import (
	"context"
	"hash/maphash"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
	"github.com/open-stage/openstage/spill"
)

const (
	aggPartitions = 16
	aggMaxDepth   = 3 // levels of partitioning; then a partition stays in memory
)

// aggResult is the groups of an in-memory aggregation and the permutation
// that sorts them by key.
type aggResult struct {
	rec arrow.RecordBatch
	idx []int32
}

// Aggregation is a planned Aggregator: what hybrid hash aggregation needs.
type Aggregation struct {
	Keys   []int         // key columns of the input; none: one global group
	Cols   []int         // the input column of each aggregate (-1: count of rows)
	Schema *arrow.Schema // of the output: the keys, then the aggregates
	// New returns fresh states of the aggregates, in the order of Cols.
	New     func() []kernel.Agg
	Budget  int64 // bytes of groups held before spilling; <= 0: no limit
	TempDir string
}

// Run aggregates the batches next returns (until io.EOF) and sends the
// groups sorted by key, spilling past the budget.
func (a *Aggregation) Run(ctx context.Context, next func() (arrow.RecordBatch, error), out *openstage.Outputs) error {
	results := &Sorter{Budget: a.Budget, Dir: a.TempDir, Alloc: out.Allocator(), Keys: a.outKeys()}
	defer results.Release()
	res, err := a.aggregate(ctx, next, 0, out, 0, results)
	if err != nil {
		return err
	}
	if res.rec != nil { // not spilled
		defer res.rec.Release()
		return kernel.SendPermuted(ctx, out, res.rec, res.idx)
	}
	if !results.SpilledAny() {
		rec, err := results.TakeHeld()
		if err != nil || rec == nil {
			return err
		}
		defer rec.Release()
		return kernel.SendPermuted(ctx, out, rec, kernel.SortIndex(kernel.SortCols(rec, results.Keys), int(rec.NumRows()), false))
	}
	err = results.Merge(ctx, func(rec arrow.RecordBatch) error {
		defer rec.Release()
		return out.Send(ctx, rec)
	})
	out.Count("spill_runs", int64(results.Runs()))
	return err
}

// result builds the groups of grouper (nil when no batch came) as one
// batch, with the permutation that sorts it by key; rec is nil for a keyed
// aggregate without input.
func (a *Aggregation) result(grouper *kernel.Grouper, states []kernel.Agg, alloc memory.Allocator) aggResult {
	ng := 0
	var keyArrs []arrow.Array
	if grouper != nil {
		ng = grouper.Groups()
		keyArrs = grouper.KeyArrays(alloc)
	}
	if len(a.Keys) == 0 {
		ng = 1 // a global aggregate has one row, even over no input
	} else if grouper == nil {
		return aggResult{}
	}
	cols := append([]arrow.Array{}, keyArrs...)
	for _, st := range states {
		cols = append(cols, st.Result(alloc, ng))
	}
	rec := array.NewRecordBatch(a.Schema, cols, int64(ng))
	for _, c := range cols {
		c.Release()
	}
	sortCols := make([]kernel.SortCol, len(a.Keys))
	for i := range sortCols {
		sortCols[i] = kernel.SortCol{Arr: rec.Column(i)}
	}
	return aggResult{rec: rec, idx: kernel.SortIndex(sortCols, ng, false)}
}

// outKeys are the key columns of the output, ascending.
func (a *Aggregation) outKeys() []kernel.SortRef {
	keys := make([]kernel.SortRef, len(a.Keys))
	for i := range keys {
		keys[i] = kernel.SortRef{Col: i}
	}
	return keys
}

// heldBytes estimates the memory of the groups and their aggregates.
func (a *Aggregation) heldBytes(g *kernel.Grouper, states []kernel.Agg) int64 {
	n := g.HeldBytes() + int64(g.Groups())*int64(24*len(states))
	for _, st := range states {
		if s, ok := st.(kernel.AggSizer); ok {
			n += s.HeldBytes()
		}
	}
	return n
}

// aggregate aggregates the batches that next returns (until io.EOF; total
// rows, or 0 if unknown). If it
// did not spill it returns the groups; otherwise it returns an empty result
// and has passed the groups to results.
func (a *Aggregation) aggregate(ctx context.Context, next func() (arrow.RecordBatch, error), total int64, out *openstage.Outputs, depth int, results *Sorter) (aggResult, error) {
	alloc := out.Allocator()
	var grouper *kernel.Grouper
	states := a.New()
	vals := newValueRuns(a.TempDir, alloc, len(states))
	defer vals.release()
	update := func(rec arrow.RecordBatch, gids []int32) error {
		for i, c := range a.Cols {
			var col arrow.Array
			if c >= 0 {
				col = rec.Column(c)
			}
			if err := states[i].Update(col, gids, grouper.Groups()); err != nil {
				return err
			}
		}
		return nil
	}
	canSpill := a.Budget > 0 && len(a.Keys) > 0 && depth < aggMaxDepth
	var parts *spill.Partitions
	defer func() {
		if parts != nil {
			parts.Abort()
		}
	}()
	seed := maphash.MakeSeed()
	var gids, known, unknown, part, subg []int32
	var buf []byte
	var spilled, seen int64
	nparts := aggPartitions
	for {
		rec, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return aggResult{}, err
		}
		if grouper == nil {
			grouper = kernel.NewGrouper(rec.Schema(), a.Keys, true)
		}
		gids = grouper.IDs(rec, gids)
		seen += rec.NumRows()
		if !grouper.Frozen {
			err = update(rec, gids)
			if held := a.heldBytes(grouper, states); err == nil && canSpill && held > a.Budget {
				grouper.Frozen = true
				if total > 0 {
					// Enough partitions for the rest of a partition of
					// known size, at the rate seen so far.
					rest := float64(held) * float64(total-seen) / float64(seen)
					nparts = min(aggPartitions, max(2, int(1.5*rest/float64(a.Budget))+1))
				}
			}
			rec.Release()
			if err == nil && a.Budget > 0 && (grouper.Frozen || !canSpill) {
				err = vals.spill(states, a.Budget, out)
			}
			if err != nil {
				return aggResult{}, err
			}
			continue
		}
		// Rows go to spill files from here on, which hold plain strings:
		// dictionary-encoded keys are decoded (the group ids are the same).
		if dec := openstage.DecodeDictionaries(alloc, rec); dec != rec {
			rec.Release()
			rec = dec
		} else {
			dec.Release()
		}
		known, unknown, subg = known[:0], unknown[:0], subg[:0]
		for i, g := range gids {
			if g >= 0 {
				known = append(known, int32(i))
				subg = append(subg, g)
			} else {
				unknown = append(unknown, int32(i))
			}
		}
		err = nil
		switch {
		case len(unknown) == 0:
			err = update(rec, gids)
		case len(known) > 0:
			sub := openstage.Take(alloc, rec, known)
			err = update(sub, subg)
			sub.Release()
		}
		if err == nil && len(unknown) > 0 && parts == nil {
			// Partitions are created for the first row of a new key.
			out.Count("spill_partitions", int64(nparts))
			parts, err = spill.NewPartitions(a.TempDir, rec.Schema(), alloc, nparts)
		}
		if err == nil && len(unknown) > 0 {
			newRows := rec
			if len(known) > 0 {
				newRows = openstage.Take(alloc, rec, unknown)
			} else {
				newRows.Retain()
			}
			encs := make([]kernel.KeyEncoder, len(a.Keys))
			for k, c := range a.Keys {
				encs[k] = kernel.NewKeyEncoder(newRows.Column(c))
			}
			part = part[:0]
			for i := range int(newRows.NumRows()) {
				buf = buf[:0]
				for _, enc := range encs {
					buf = enc(buf, i)
				}
				part = append(part, int32(maphash.Bytes(seed, buf)%uint64(nparts)))
			}
			err = parts.Write(newRows, part)
			spilled += newRows.NumRows()
			newRows.Release()
		}
		rec.Release()
		if err == nil {
			err = vals.spill(states, a.Budget, out)
		}
		if err != nil {
			return aggResult{}, err
		}
	}
	if err := vals.merge(ctx, states); err != nil {
		return aggResult{}, err
	}
	res := a.result(grouper, states, alloc)
	if parts == nil {
		return res, nil
	}
	out.Count("spilled_rows", spilled)
	grouper, states = nil, nil
	if err := addResult(results, res); err != nil {
		return aggResult{}, err
	}
	partRuns, err := parts.Finish()
	parts = nil
	if err != nil {
		return aggResult{}, err
	}
	defer func() {
		for _, r := range partRuns {
			if r != nil {
				r.Remove()
			}
		}
	}()
	for k, pr := range partRuns {
		if pr.Rows() == 0 {
			continue
		}
		rd, err := pr.Open(alloc)
		if err != nil {
			return aggResult{}, err
		}
		sub, err := a.aggregate(ctx, rd.Next, pr.Rows(), out, depth+1, results)
		rd.Close()
		pr.Remove()
		partRuns[k] = nil
		if err == nil {
			err = addResult(results, sub)
		}
		if err != nil {
			return aggResult{}, err
		}
	}
	return aggResult{}, nil
}

// addResult passes the groups of res, if any, to the sorter.
func addResult(s *Sorter, res aggResult) error {
	if res.rec == nil {
		return nil
	}
	return s.Add(res.rec)
}

// valueRuns holds, for each aggregate whose state grows with the rows
// (median, nunique: kernel.AggDrainer), the (group, value) pairs it drained
// past half the budget, as sorted runs (a Sorter ordered by group, then
// value).
type valueRuns struct {
	dir   string
	alloc memory.Allocator
	srt   []*Sorter // by aggregate; nil until it spills
}

func newValueRuns(dir string, alloc memory.Allocator, n int) *valueRuns {
	return &valueRuns{dir: dir, alloc: alloc, srt: make([]*Sorter, n)}
}

// write drains the values of aggregate i into one more sorted run.
func (v *valueRuns) write(i int, st kernel.AggDrainer) error {
	rec := st.Drain(v.alloc)
	if rec == nil {
		return nil
	}
	if v.srt[i] == nil {
		v.srt[i] = &Sorter{Dir: v.dir, Alloc: v.alloc, Keys: []kernel.SortRef{{Col: 0}, {Col: 1}}}
	}
	if err := v.srt[i].Add(rec); err != nil {
		return err
	}
	return v.srt[i].FlushRun()
}

// spill has the growing aggregates write their values to disk when
// together they hold more than half the budget (the rest is for the groups).
func (v *valueRuns) spill(states []kernel.Agg, budget int64, out *openstage.Outputs) error {
	if budget <= 0 {
		return nil
	}
	var held int64
	for _, st := range states {
		if d, ok := st.(kernel.AggDrainer); ok {
			held += d.HeldBytes()
		}
	}
	if held <= budget/2 || held == 0 {
		return nil
	}
	for i, st := range states {
		if d, ok := st.(kernel.AggDrainer); ok && d.HeldBytes() > 0 {
			if err := v.write(i, d); err != nil {
				return err
			}
			out.Count("spill_runs", 1)
		}
	}
	return nil
}

// merge folds the runs of every aggregate that spilled back into its state,
// draining what it still holds first, and removes the runs.
func (v *valueRuns) merge(ctx context.Context, states []kernel.Agg) error {
	for i, st := range states {
		d, ok := st.(kernel.AggDrainer)
		if !ok || v.srt[i] == nil || !v.srt[i].SpilledAny() {
			continue
		}
		if err := v.write(i, d); err != nil {
			return err
		}
		fold := d.Fold()
		err := v.srt[i].Merge(ctx, func(rec arrow.RecordBatch) error {
			defer rec.Release()
			gs := rec.Column(0).(*array.Int64).Int64Values()
			for j, g := range gs {
				fold(g, rec.Column(1), j)
			}
			return nil
		})
		v.srt[i].Release()
		v.srt[i] = nil
		if err != nil {
			return err
		}
	}
	return nil
}

func (v *valueRuns) release() {
	for i, s := range v.srt {
		if s != nil {
			s.Release()
			v.srt[i] = nil
		}
	}
}
