package outofcore

// External merge sort shared by Sort, RemoveDuplicates and Aggregator: batches are held
// in memory while their total size (spill.Size) stays within the stage's
// memory budget; past it, the held batches are sorted (kernel.SortIndex, the
// in-memory path) and written as one sorted run to a spill file, and
// released. At the end, if nothing was spilled, the caller sorts the held
// input in memory as before; otherwise the remainder becomes a last run and
// the runs are merged (spill.Merge) with a row comparator that is the same
// order as kernel.SortIndex. Runs are written in arrival order and spill.Merge
// breaks ties by run index, then position, so the result is stable.

import (
	"context"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
	"github.com/open-stage/openstage/spill"
)

// Sorter accumulates batches and spills sorted runs past its budget.
type Sorter struct {
	Budget     int64  // <= 0: never spill
	Dir        string // for spill files; "" is the system's temporary folder
	Alloc      memory.Allocator
	Keys       []kernel.SortRef
	NullsFirst bool
	// WithPos appends an int64 column holding each row's input ordinal to
	// the spilled runs (RemoveDuplicates); Keys should then end with it.
	WithPos bool

	in        *arrow.Schema // of the input batches
	schema    *arrow.Schema // of the runs
	held      []arrow.RecordBatch
	heldBytes int64
	heldRows  int64
	seen      int64 // rows before the held ones (withPos)
	runs      []*spill.Run
	spilled   int64
}

// Add takes ownership of rec.
func (s *Sorter) Add(rec arrow.RecordBatch) error {
	if rec.NumRows() == 0 {
		rec.Release()
		return nil
	}
	if s.schema == nil {
		s.in, s.schema = rec.Schema(), rec.Schema()
		if s.WithPos {
			fields := append(append([]arrow.Field{}, s.schema.Fields()...), arrow.Field{Name: "__openstage_pos", Type: arrow.PrimitiveTypes.Int64})
			s.schema = arrow.NewSchema(fields, nil)
		}
	}
	s.held = append(s.held, rec)
	s.heldBytes += spill.Size(rec)
	s.heldRows += rec.NumRows()
	if s.Budget > 0 && s.heldBytes > s.Budget {
		return s.FlushRun()
	}
	if s.heldRows > math.MaxInt32 {
		return fmt.Errorf("input has more than %d rows in memory; set a memory limit to spill", math.MaxInt32)
	}
	return nil
}

// SpilledAny reports whether a run was written.
func (s *Sorter) SpilledAny() bool { return len(s.runs) > 0 }

// TakeHeld concatenates the held batches (without the position column) and
// hands them to the caller; nil when nothing is held.
func (s *Sorter) TakeHeld() (arrow.RecordBatch, error) {
	recs := s.held
	s.held, s.heldBytes, s.heldRows = nil, 0, 0
	return kernel.Concat(recs, s.Alloc)
}

// FlushRun sorts the held batches and writes them as one run.
func (s *Sorter) FlushRun() error {
	if len(s.held) == 0 {
		return nil
	}
	rec, err := s.TakeHeld()
	if err != nil {
		return err
	}
	n := int(rec.NumRows())
	if s.WithPos {
		pos := make([]int64, n)
		for i := range pos {
			pos[i] = s.seen + int64(i)
		}
		b := array.NewInt64Builder(s.Alloc)
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
	idx := kernel.SortIndex(kernel.SortCols(rec, s.Keys), n, s.NullsFirst)
	w, err := spill.NewWriter(s.Dir, s.schema, s.Alloc)
	if err != nil {
		return err
	}
	for start := 0; start < n; start += kernel.ChunkRows {
		chunk := openstage.Take(s.Alloc, rec, idx[start:min(start+kernel.ChunkRows, n)])
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

// Merge writes the held remainder as a last run and merges every run,
// passing sorted batches (owned by emit) to emit.
func (s *Sorter) Merge(ctx context.Context, emit func(arrow.RecordBatch) error) error {
	if err := s.FlushRun(); err != nil {
		return err
	}
	return spill.Merge(ctx, s.runs, s.Alloc, s.schema, kernel.CompareRows(s.Keys, s.NullsFirst), kernel.ChunkRows, emit)
}

// Release discards held batches and runs.
func (s *Sorter) Release() {
	for _, r := range s.held {
		r.Release()
	}
	s.held = nil
	for _, r := range s.runs {
		r.Remove()
	}
	s.runs = nil
}

// SpilledRows returns the number of rows written to runs.
func (s *Sorter) SpilledRows() int64 { return s.spilled }

// Runs returns the number of runs written.
func (s *Sorter) Runs() int { return len(s.runs) }

// RunSchema returns the schema of the runs: the input's, plus the position
// column with WithPos.
func (s *Sorter) RunSchema() *arrow.Schema { return s.schema }

// InputSchema returns the schema of the batches added (nil before the first).
func (s *Sorter) InputSchema() *arrow.Schema { return s.in }
