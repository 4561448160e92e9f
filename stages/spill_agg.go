package stages

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
// spillSorter, which spills past the budget too); each partition is then
// aggregated the same way (spilling again, into partitions of its own, if it
// is itself too large, up to aggMaxDepth levels) and its groups go to the
// same sort, which finally sends them in key order.

import (
	"context"
	"hash/maphash"
	"io"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
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

// outKeys are the key columns of the output, ascending.
func (a *Aggregator) outKeys() []kSortColRef {
	keys := make([]kSortColRef, len(a.keyCols))
	for i := range keys {
		keys[i] = kSortColRef{col: i}
	}
	return keys
}

// heldBytes estimates the memory of the groups and their aggregates.
func (a *Aggregator) heldBytes(g *kGrouper, states []kAgg) int64 {
	n := g.heldBytes() + int64(g.groups())*int64(24*len(states))
	for _, st := range states {
		if s, ok := st.(kAggSizer); ok {
			n += s.heldBytes()
		}
	}
	return n
}

// aggregate aggregates the batches that next returns (until io.EOF; total
// rows, or 0 if unknown). If it
// did not spill it returns the groups; otherwise it returns an empty result
// and has passed the groups to results.
func (a *Aggregator) aggregate(ctx context.Context, next func() (arrow.RecordBatch, error), total int64, out *openstage.Outputs, depth int, results *spillSorter) (aggResult, error) {
	alloc := out.Allocator()
	var grouper *kGrouper
	states := make([]kAgg, len(a.specs))
	for i, s := range a.specs {
		states[i] = s.newState()
	}
	update := func(rec arrow.RecordBatch, gids []int32) error {
		for i, s := range a.specs {
			var col arrow.Array
			if s.col >= 0 {
				col = rec.Column(s.col)
			}
			if err := states[i].update(col, gids, grouper.groups()); err != nil {
				return err
			}
		}
		return nil
	}
	canSpill := a.budget > 0 && len(a.keyCols) > 0 && depth < aggMaxDepth
	var parts *spill.Partitions
	defer func() {
		if parts != nil {
			parts.Abort()
		}
		for _, st := range states {
			if sp, ok := st.(kAggSpiller); ok {
				sp.release()
			}
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
			grouper = kNewGrouper(rec.Schema(), a.keyCols, true)
		}
		gids = grouper.ids(rec, gids)
		seen += rec.NumRows()
		if !grouper.frozen {
			err = update(rec, gids)
			if held := a.heldBytes(grouper, states); err == nil && canSpill && held > a.budget {
				grouper.frozen = true
				if total > 0 {
					// Enough partitions for the rest of a partition of
					// known size, at the rate seen so far.
					rest := float64(held) * float64(total-seen) / float64(seen)
					nparts = min(aggPartitions, max(2, int(1.5*rest/float64(a.budget))+1))
				}
			}
			rec.Release()
			if err == nil && a.budget > 0 && (grouper.frozen || !canSpill) {
				err = a.spillValues(states, out)
			}
			if err != nil {
				return aggResult{}, err
			}
			continue
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
			parts, err = spill.NewPartitions(a.tempDir, rec.Schema(), alloc, nparts)
		}
		if err == nil && len(unknown) > 0 {
			newRows := rec
			if len(known) > 0 {
				newRows = openstage.Take(alloc, rec, unknown)
			} else {
				newRows.Retain()
			}
			encs := make([]kKeyEncoder, len(a.keyCols))
			for k, c := range a.keyCols {
				encs[k] = kNewKeyEncoder(newRows.Column(c))
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
			err = a.spillValues(states, out)
		}
		if err != nil {
			return aggResult{}, err
		}
	}
	for _, st := range states {
		if sp, ok := st.(kAggSpiller); ok {
			if err := sp.merge(ctx, a.tempDir, alloc); err != nil {
				return aggResult{}, err
			}
		}
	}
	res := a.result(grouper, states, alloc)
	if parts == nil {
		return res, nil
	}
	out.Count("spilled_rows", spilled)
	grouper, states = nil, nil
	if err := results.addResult(res); err != nil {
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
			err = results.addResult(sub)
		}
		if err != nil {
			return aggResult{}, err
		}
	}
	return aggResult{}, nil
}

// addResult passes the groups of res, if any, to the sorter.
func (s *spillSorter) addResult(res aggResult) error {
	if res.rec == nil {
		return nil
	}
	return s.add(res.rec)
}
