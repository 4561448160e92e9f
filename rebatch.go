package openstage

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// rebatcher cuts a stream of batches into batches of exactly n rows, per
// input pipe (the last of each pipe may be shorter). Larger batches are
// sliced without copying; rows of several batches are concatenated. With
// n <= 0 it passes batches through.
type rebatcher struct {
	n       int64
	alloc   memory.Allocator
	pending map[string][]arrow.RecordBatch
	rows    map[string]int64
	pipes   []string // pipes with pending rows, in the order they came
}

func newRebatcher(n int, alloc memory.Allocator) *rebatcher {
	return &rebatcher{n: int64(n), alloc: alloc, pending: map[string][]arrow.RecordBatch{}, rows: map[string]int64{}}
}

// add takes dp's batch (and its reference) and calls emit with every
// complete batch it makes; emit takes the reference of what it is given.
func (r *rebatcher) add(dp DataPackage, emit func(pipe string, rec arrow.RecordBatch) error) error {
	if r.n <= 0 {
		return emit(dp.Pipe, dp.Batch)
	}
	rec := dp.Batch
	for rec != nil {
		need := r.n - r.rows[dp.Pipe]
		if rec.NumRows() < need {
			r.hold(dp.Pipe, rec)
			return nil
		}
		head := rec
		var tail arrow.RecordBatch
		if rec.NumRows() > need {
			head, tail = rec.NewSlice(0, need), rec.NewSlice(need, rec.NumRows())
			rec.Release()
		}
		r.hold(dp.Pipe, head)
		out, err := r.take(dp.Pipe)
		if err == nil {
			err = emit(dp.Pipe, out)
		}
		if err != nil {
			if tail != nil {
				tail.Release()
			}
			return err
		}
		rec = tail
	}
	return nil
}

func (r *rebatcher) hold(pipe string, rec arrow.RecordBatch) {
	if rec.NumRows() == 0 {
		rec.Release()
		return
	}
	if len(r.pending[pipe]) == 0 {
		r.pipes = append(r.pipes, pipe)
	}
	r.pending[pipe] = append(r.pending[pipe], rec)
	r.rows[pipe] += rec.NumRows()
}

// take returns the rows held for pipe as one batch.
func (r *rebatcher) take(pipe string) (arrow.RecordBatch, error) {
	parts := r.pending[pipe]
	delete(r.pending, pipe)
	r.rows[pipe] = 0
	for i, p := range r.pipes {
		if p == pipe {
			r.pipes = append(r.pipes[:i], r.pipes[i+1:]...)
			break
		}
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	schema := parts[0].Schema()
	cols := make([]arrow.Array, schema.NumFields())
	var rows int64
	for _, p := range parts {
		rows += p.NumRows()
	}
	for c := range cols {
		arrs := make([]arrow.Array, len(parts))
		for i, p := range parts {
			arrs[i] = p.Column(c)
		}
		arr, err := array.Concatenate(arrs, r.alloc)
		if err != nil {
			for _, a := range cols[:c] {
				a.Release()
			}
			return nil, err
		}
		cols[c] = arr
	}
	rec := array.NewRecordBatch(schema, cols, rows)
	for _, a := range cols {
		a.Release()
	}
	return rec, nil
}

// flush emits what is held, pipe by pipe.
func (r *rebatcher) flush(emit func(pipe string, rec arrow.RecordBatch) error) error {
	for len(r.pipes) > 0 {
		pipe := r.pipes[0]
		rec, err := r.take(pipe)
		if err != nil {
			return err
		}
		if err := emit(pipe, rec); err != nil {
			return err
		}
	}
	return nil
}

// release drops whatever is still held (after an error).
func (r *rebatcher) release() {
	for _, parts := range r.pending {
		for _, p := range parts {
			p.Release()
		}
	}
	r.pending = map[string][]arrow.RecordBatch{}
	r.pipes = nil
}
