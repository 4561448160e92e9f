package stages

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

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/spill"
)

// sorter returns the external sorter of the first pass.
func (r *RemoveDuplicates) sorter(out *openstage.Outputs, withPos bool) *spillSorter {
	keys := make([]kSortColRef, 0, len(r.keyCols)+len(r.sortBy)+1)
	for _, c := range r.keyCols {
		keys = append(keys, kSortColRef{col: c})
	}
	keys = append(keys, r.sortBy...)
	keys = append(keys, kSortColRef{col: r.ncols})
	return &spillSorter{budget: r.budget, dir: r.tempDir, alloc: out.Allocator(), keys: keys, withPos: withPos}
}

// dedupSpilled finishes a RemoveDuplicates whose input was spilled by s1.
func (r *RemoveDuplicates) dedupSpilled(ctx context.Context, s1 *spillSorter, out *openstage.Outputs) error {
	alloc := out.Allocator()
	keys2 := append(append([]kSortColRef{}, r.sortBy...), kSortColRef{col: r.ncols})
	s2 := &spillSorter{budget: r.budget, dir: r.tempDir, alloc: alloc, keys: keys2}
	defer s2.release()
	b := array.NewRecordBuilder(alloc, s1.schema)
	defer b.Release()
	nb := 0
	flush := func() error {
		if nb == 0 {
			return nil
		}
		nb = 0
		return s2.add(b.NewRecordBatch())
	}
	keep := func(rec arrow.RecordBatch, i int) error {
		for c := range int(rec.NumCols()) {
			spill.AppendFrom(b.Field(c), rec.Column(c), i)
		}
		nb++
		if nb >= kChunkRows {
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
	err := s1.merge(ctx, func(rec arrow.RecordBatch) error {
		n := int(rec.NumRows())
		for i := range n {
			pb, pi := rec, i-1
			if i == 0 {
				pb, pi = prev, int(0)
				if prev != nil {
					pi = int(prev.NumRows()) - 1
				}
			}
			if pb != nil && spillKeysEqual(r.keyCols, pb, pi, rec, i) {
				continue
			}
			var err error
			switch {
			case !r.last:
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
	if err == nil && r.last && prev != nil {
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
		return array.NewRecordBatch(s1.in, rec.Columns()[:r.ncols], rec.NumRows())
	}
	if !s2.spilledAny() {
		rec, herr := s2.takeHeld()
		if herr != nil || rec == nil {
			return herr
		}
		idx := kSortIndex(sortColsOf(rec, keys2), int(rec.NumRows()), false)
		res := strip(rec)
		rec.Release()
		defer res.Release()
		err = kSendPermuted(ctx, out, res, idx)
	} else {
		err = s2.merge(ctx, func(rec arrow.RecordBatch) error {
			res := strip(rec)
			rec.Release()
			defer res.Release()
			return out.Send(ctx, res)
		})
	}
	out.Count("spilled_rows", s1.spilled+s2.spilled)
	out.Count("spill_runs", int64(len(s1.runs)+len(s2.runs)))
	return err
}
