package outofcore

// RemoveDuplicates beyond its memory budget (sort_by, or keep: last). The
// in-memory path sorts by sort_by and keeps the first (or last) row of each
// key in that order. Spilled, the same result is had in two external sorts,
// with every row tagged with its input position:
//
//  1. sort by (key..., sort_by..., position): the rows of a key are then
//     adjacent and in sort_by order, ties in input order, so the first (or
//     last) row of each run of equal keys is the one kept;
//  2. sort the kept rows (one per key) by (sort_by..., position), which is
//     the documented output order, and drop the position.
//
// Both sorts spill past the budget, so the output is identical to the
// in-memory one.

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
	"github.com/open-stage/openstage/spill"
)

// Dedup is what RemoveDuplicates' spilling path needs from its plan.
type Dedup struct {
	KeyCols []int            // key columns
	SortBy  []kernel.SortRef // sort_by columns
	NCols   int              // columns of the input
	Last    bool             // keep: last
	Budget  int64
	TempDir string
}

// Sorter returns the external sorter of the first pass.
func (r *Dedup) Sorter(alloc memory.Allocator, withPos bool) *Sorter {
	keys := make([]kernel.SortRef, 0, len(r.KeyCols)+len(r.SortBy)+1)
	for _, c := range r.KeyCols {
		keys = append(keys, kernel.SortRef{Col: c})
	}
	keys = append(keys, r.SortBy...)
	keys = append(keys, kernel.SortRef{Col: r.NCols})
	return &Sorter{Budget: r.Budget, Dir: r.TempDir, Alloc: alloc, Keys: keys, WithPos: withPos}
}

// Finish finishes a RemoveDuplicates whose input was spilled by s1 (from
// Sorter(alloc, true)).
func (r *Dedup) Finish(ctx context.Context, s1 *Sorter, out *openstage.Outputs) error {
	alloc := out.Allocator()
	keys2 := append(append([]kernel.SortRef{}, r.SortBy...), kernel.SortRef{Col: r.NCols})
	s2 := &Sorter{Budget: r.Budget, Dir: r.TempDir, Alloc: alloc, Keys: keys2}
	defer s2.Release()
	b := array.NewRecordBuilder(alloc, s1.RunSchema())
	defer b.Release()
	nb := 0
	flush := func() error {
		if nb == 0 {
			return nil
		}
		nb = 0
		return s2.Add(b.NewRecordBatch())
	}
	keep := func(rec arrow.RecordBatch, i int) error {
		for c := range int(rec.NumCols()) {
			spill.AppendFrom(b.Field(c), rec.Column(c), i)
		}
		nb++
		if nb >= kernel.ChunkRows {
			return flush()
		}
		return nil
	}
	var prev arrow.RecordBatch // the batch of the previous row
	defer func() {
		if prev != nil {
			prev.Release()
		}
	}()
	err := s1.Merge(ctx, func(rec arrow.RecordBatch) error {
		n := int(rec.NumRows())
		for i := range n {
			pb, pi := rec, i-1
			if i == 0 {
				pb, pi = prev, int(0)
				if prev != nil {
					pi = int(prev.NumRows()) - 1
				}
			}
			if pb != nil && kernel.KeysEqual(r.KeyCols, pb, pi, rec, i) {
				continue
			}
			var err error
			switch {
			case !r.Last:
				err = keep(rec, i)
			case pb != nil:
				err = keep(pb, pi)
			}
			if err != nil {
				rec.Release()
				return err
			}
		}
		if n == 0 {
			rec.Release()
			return nil
		}
		if prev != nil {
			prev.Release()
		}
		prev = rec
		return nil
	})
	if err == nil && r.Last && prev != nil {
		err = keep(prev, int(prev.NumRows())-1)
	}
	if err == nil {
		err = flush()
	}
	if prev != nil {
		prev.Release()
		prev = nil
	}
	if err != nil {
		return err
	}
	strip := func(rec arrow.RecordBatch) arrow.RecordBatch {
		return array.NewRecordBatch(s1.InputSchema(), rec.Columns()[:r.NCols], rec.NumRows())
	}
	if !s2.SpilledAny() {
		rec, herr := s2.TakeHeld()
		if herr != nil || rec == nil {
			return herr
		}
		idx := kernel.SortIndex(kernel.SortCols(rec, keys2), int(rec.NumRows()), false)
		res := strip(rec)
		rec.Release()
		defer res.Release()
		err = kernel.SendPermuted(ctx, out, res, idx)
	} else {
		err = s2.Merge(ctx, func(rec arrow.RecordBatch) error {
			res := strip(rec)
			rec.Release()
			defer res.Release()
			return out.Send(ctx, res)
		})
	}
	out.Count("spilled_rows", s1.SpilledRows()+s2.SpilledRows())
	out.Count("spill_runs", int64(s1.Runs()+s2.Runs()))
	return err
}
