package stages

// External merge sort shared by Sort and RemoveDuplicates: batches are held
// in memory while their total size (spill.Size) stays within the stage's
// memory budget; past it, the held batches are sorted (kSortIndex, the
// in-memory path) and written as one sorted run to a spill file, and
// released. At the end, if nothing was spilled, the caller sorts the held
// input in memory as before; otherwise the remainder becomes a last run and
// the runs are merged (spill.Merge) with a row comparator that is the same
// order as kSortIndex. Runs are written in arrival order and spill.Merge
// breaks ties by run index, then position, so the result is stable.

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/spill"
)

// spillSorter accumulates batches and spills sorted runs past its budget.
type spillSorter struct {
	budget     int64 // <= 0: never spill
	dir        string
	alloc      memory.Allocator
	keys       []kSortColRef
	nullsFirst bool
	// withPos appends an int64 column holding each row's input ordinal to
	// the spilled runs (RemoveDuplicates); keys should then end with it.
	withPos bool

	in        *arrow.Schema // of the input batches
	schema    *arrow.Schema // of the runs
	held      []arrow.RecordBatch
	heldBytes int64
	heldRows  int64
	seen      int64 // rows before the held ones (withPos)
	runs      []*spill.Run
	spilled   int64
}

// add takes ownership of rec.
func (s *spillSorter) add(rec arrow.RecordBatch) error {
	if rec.NumRows() == 0 {
		rec.Release()
		return nil
	}
	if s.schema == nil {
		s.in, s.schema = rec.Schema(), rec.Schema()
		if s.withPos {
			fields := append(append([]arrow.Field{}, s.schema.Fields()...), arrow.Field{Name: "__openstage_pos", Type: arrow.PrimitiveTypes.Int64})
			s.schema = arrow.NewSchema(fields, nil)
		}
	}
	s.held = append(s.held, rec)
	s.heldBytes += spill.Size(rec)
	s.heldRows += rec.NumRows()
	if s.budget > 0 && s.heldBytes > s.budget {
		return s.flushRun()
	}
	if s.heldRows > math.MaxInt32 {
		return fmt.Errorf("input has more than %d rows in memory; set a memory limit to spill", math.MaxInt32)
	}
	return nil
}

// spilledAny reports whether a run was written.
func (s *spillSorter) spilledAny() bool { return len(s.runs) > 0 }

// takeHeld concatenates the held batches (without the position column) and
// hands them to the caller; nil when nothing is held.
func (s *spillSorter) takeHeld() (arrow.RecordBatch, error) {
	recs := s.held
	s.held, s.heldBytes, s.heldRows = nil, 0, 0
	return spillConcat(recs, s.alloc)
}

// flushRun sorts the held batches and writes them as one run.
func (s *spillSorter) flushRun() error {
	if len(s.held) == 0 {
		return nil
	}
	rec, err := s.takeHeld()
	if err != nil {
		return err
	}
	n := int(rec.NumRows())
	if s.withPos {
		pos := make([]int64, n)
		for i := range pos {
			pos[i] = s.seen + int64(i)
		}
		b := array.NewInt64Builder(s.alloc)
		b.AppendValues(pos, nil)
		pa := b.NewArray()
		b.Release()
		cols := append(append([]arrow.Array{}, rec.Columns()...), pa)
		ext := array.NewRecordBatch(s.schema, cols, int64(n))
		pa.Release()
		rec.Release()
		rec = ext
	}
	s.seen += int64(n)
	defer rec.Release()
	idx := kSortIndex(sortColsOf(rec, s.keys), n, s.nullsFirst)
	w, err := spill.NewWriter(s.dir, s.schema, s.alloc)
	if err != nil {
		return err
	}
	for start := 0; start < n; start += kChunkRows {
		chunk := openstage.Take(s.alloc, rec, idx[start:min(start+kChunkRows, n)])
		err := w.Write(chunk)
		chunk.Release()
		if err != nil {
			w.Abort()
			return err
		}
	}
	run, err := w.Finish()
	if err != nil {
		return err
	}
	s.runs = append(s.runs, run)
	s.spilled += int64(n)
	return nil
}

// merge writes the held remainder as a last run and merges every run,
// passing sorted batches (owned by emit) to emit.
func (s *spillSorter) merge(ctx context.Context, emit func(arrow.RecordBatch) error) error {
	if err := s.flushRun(); err != nil {
		return err
	}
	return spill.Merge(ctx, s.runs, s.alloc, s.schema, spillCompare(s.keys, s.nullsFirst), kChunkRows, emit)
}

// release discards held batches and runs.
func (s *spillSorter) release() {
	for _, r := range s.held {
		r.Release()
	}
	s.held = nil
	for _, r := range s.runs {
		r.Remove()
	}
	s.runs = nil
}

// spillConcat concatenates recs (which it releases) into one batch; nil for
// no batches.
func spillConcat(recs []arrow.RecordBatch, alloc memory.Allocator) (arrow.RecordBatch, error) {
	switch len(recs) {
	case 0:
		return nil, nil
	case 1:
		return recs[0], nil
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	var total int64
	for _, r := range recs {
		total += r.NumRows()
	}
	sch := recs[0].Schema()
	cols := make([]arrow.Array, sch.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	parts := make([]arrow.Array, len(recs))
	for c := range cols {
		for i, r := range recs {
			parts[i] = r.Column(c)
		}
		arr, err := array.Concatenate(parts, alloc)
		if err != nil {
			return nil, fmt.Errorf("column '%s': %w", sch.Field(c).Name, err)
		}
		cols[c] = arr
	}
	return array.NewRecordBatch(sch, cols, total), nil
}

// spillCompare returns the row order of kSortIndex over keys: per key,
// nulls (and float NaN) first or last whatever the direction, then values
// (numbers, dates, timestamps by value with -0 = 0, strings bytewise,
// false before true), reversed for a descending key.
func spillCompare(keys []kSortColRef, nullsFirst bool) spill.Compare {
	return func(a arrow.RecordBatch, i int, b arrow.RecordBatch, j int) int {
		for _, k := range keys {
			if c := spillCompareValue(a.Column(k.col), i, b.Column(k.col), j, k.desc, nullsFirst); c != 0 {
				return c
			}
		}
		return 0
	}
}

// spillKeysEqual reports whether rows i of a and j of b have equal values
// in cols, with the equality of the grouping kernel (nulls and NaN equal
// each other, -0 = 0).
func spillKeysEqual(cols []int, a arrow.RecordBatch, i int, b arrow.RecordBatch, j int) bool {
	for _, c := range cols {
		if spillCompareValue(a.Column(c), i, b.Column(c), j, false, false) != 0 {
			return false
		}
	}
	return true
}

func spillIsNull(a arrow.Array, i int) bool {
	if a.IsNull(i) {
		return true
	}
	if f, ok := a.(*array.Float64); ok {
		v := f.Value(i)
		return v != v
	}
	return false
}

func spillCompareValue(x arrow.Array, i int, y arrow.Array, j int, desc, nullsFirst bool) int {
	xn, yn := spillIsNull(x, i), spillIsNull(y, j)
	switch {
	case xn && yn:
		return 0
	case xn:
		if nullsFirst {
			return -1
		}
		return 1
	case yn:
		if nullsFirst {
			return 1
		}
		return -1
	}
	var c int
	switch a := x.(type) {
	case *array.Int64:
		c = cmp.Compare(a.Value(i), y.(*array.Int64).Value(j))
	case *array.Float64:
		u, v := a.Value(i), y.(*array.Float64).Value(j)
		switch {
		case u < v:
			c = -1
		case u > v:
			c = 1
		}
	case *array.String:
		c = strings.Compare(a.Value(i), y.(*array.String).Value(j))
	case *array.Boolean:
		c = cmp.Compare(kB2i(a.Value(i)), kB2i(y.(*array.Boolean).Value(j)))
	case *array.Date32:
		c = cmp.Compare(a.Value(i), y.(*array.Date32).Value(j))
	case *array.Timestamp:
		c = cmp.Compare(a.Value(i), y.(*array.Timestamp).Value(j))
	default:
		panic("spillCompareValue: unsupported type " + x.DataType().String())
	}
	if desc {
		c = -c
	}
	return c
}
