// Package spill lets stages that must hold all their input (Sort, Aggregator,
// Joiner, RemoveDuplicates) run beyond their memory budget: they write
// batches to temporary Arrow IPC files and read them back.
//
// Spill files are unlinked as soon as they are created, so they vanish when
// the process ends, however it ends; only the open file descriptor refers to
// them.
package spill

import (
	"bufio"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Stats counts what was spilled in the process, for tests and summaries.
var Stats struct {
	Files atomic.Int64
	Bytes atomic.Int64
}

// Writer writes batches of one schema to a spill file.
type Writer struct {
	f      *os.File
	bw     *bufio.Writer
	w      *ipc.Writer
	schema *arrow.Schema
	rows   int64
	err    error
}

// NewWriter creates a spill file in dir ("" means the system's temporary folder).
func NewWriter(dir string, schema *arrow.Schema, alloc memory.Allocator) (*Writer, error) {
	f, err := os.CreateTemp(dir, "openstage-spill-*.arrow")
	if err != nil {
		where := dir
		if where == "" {
			where = os.TempDir()
		}
		return nil, fmt.Errorf("cannot create a spill file in '%s': %w; the stage holds more than its share of the memory limit and writes the rest there: give --temp-dir (Job.TempDir) a writable folder with room, or raise --memory-limit", where, pathErrCause(err))
	}
	// Unlink at once: the data stays reachable through f only.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	Stats.Files.Add(1)
	bw := bufio.NewWriterSize(f, 1<<20)
	return &Writer{f: f, bw: bw, schema: schema, w: ipc.NewWriter(bw, ipc.WithSchema(schema), ipc.WithAllocator(alloc), ipc.WithLZ4())}, nil
}

// Write appends rec to the file.
func (w *Writer) Write(rec arrow.RecordBatch) error {
	if w.err != nil {
		return w.err
	}
	if rec.NumRows() == 0 {
		return nil
	}
	if err := w.w.Write(rec); err != nil {
		w.err = fmt.Errorf("writing a spill file in '%s': %w%s", filepath.Dir(w.f.Name()), err, spaceHint(err))
		return w.err
	}
	w.rows += rec.NumRows()
	return nil
}

// Rows returns the number of rows written.
func (w *Writer) Rows() int64 { return w.rows }

// Finish closes the writer and returns the run it wrote.
func (w *Writer) Finish() (*Run, error) {
	if w.err != nil {
		w.f.Close()
		return nil, w.err
	}
	err := errors.Join(w.w.Close(), w.bw.Flush())
	if err != nil {
		w.f.Close()
		return nil, fmt.Errorf("writing a spill file in '%s': %w%s", filepath.Dir(w.f.Name()), err, spaceHint(err))
	}
	size, err := w.f.Seek(0, io.SeekCurrent)
	if err != nil {
		w.f.Close()
		return nil, err
	}
	Stats.Bytes.Add(size)
	return &Run{f: w.f, size: size, rows: w.rows, schema: w.schema}, nil
}

// Abort discards the file.
func (w *Writer) Abort() { w.f.Close() }

// Run is a finished spill file.
type Run struct {
	f      *os.File
	size   int64
	rows   int64
	schema *arrow.Schema
}

// Rows returns the number of rows in the run.
func (r *Run) Rows() int64 { return r.rows }

// Size returns the file's size in bytes.
func (r *Run) Size() int64 { return r.size }

// Open returns a reader of the run's batches, in the order written. A run
// can be opened several times.
func (r *Run) Open(alloc memory.Allocator) (*Reader, error) {
	rd, err := ipc.NewReader(bufio.NewReaderSize(io.NewSectionReader(r.f, 0, r.size), 1<<20), ipc.WithAllocator(alloc), ipc.WithSchema(r.schema))
	if err != nil {
		return nil, fmt.Errorf("reading a spill file: %w", err)
	}
	return &Reader{r: rd}, nil
}

// Remove deletes the run (closes the unlinked file).
func (r *Run) Remove() error { return r.f.Close() }

// Reader reads a run.
type Reader struct {
	r *ipc.Reader
}

// Next returns the next batch (owned by the caller) or io.EOF.
func (r *Reader) Next() (arrow.RecordBatch, error) {
	if r.r.Next() {
		rec := r.r.RecordBatch()
		rec.Retain()
		return rec, nil
	}
	if err := r.r.Err(); err != nil {
		return nil, fmt.Errorf("reading a spill file: %w", err)
	}
	return nil, io.EOF
}

// Close releases the reader.
func (r *Reader) Close() { r.r.Release() }

// Size returns the bytes held by rec's buffers: what a stage accounts
// against its memory budget for a batch it keeps.
func Size(rec arrow.RecordBatch) int64 {
	var n int64
	for _, c := range rec.Columns() {
		n += dataSize(c.Data())
	}
	return n
}

func dataSize(d arrow.ArrayData) int64 {
	var n int64
	for _, b := range d.Buffers() {
		if b != nil {
			n += int64(b.Len())
		}
	}
	for _, c := range d.Children() {
		n += dataSize(c)
	}
	return n
}

// Compare compares row i of a with row j of b: negative, zero or positive.
type Compare func(a arrow.RecordBatch, i int, b arrow.RecordBatch, j int) int

// Merge merges runs that are each sorted by cmp into one sorted stream,
// emitted in batches of about batchRows rows. Equal rows come out in run
// order, then in order within a run, so merging runs written in arrival
// order is stable. emit owns the batches it gets.
func Merge(ctx context.Context, runs []*Run, alloc memory.Allocator, schema *arrow.Schema, cmp Compare, batchRows int, emit func(arrow.RecordBatch) error) error {
	if batchRows <= 0 {
		batchRows = 65536
	}
	h := &mergeHeap{cmp: cmp}
	defer func() {
		for _, c := range h.cursors {
			c.close()
		}
	}()
	for i, r := range runs {
		rd, err := r.Open(alloc)
		if err != nil {
			return err
		}
		c := &cursor{run: i, rd: rd}
		ok, err := c.advanceBatch()
		if err != nil {
			c.close()
			return err
		}
		if ok {
			h.cursors = append(h.cursors, c)
		} else {
			c.close()
		}
	}
	heap.Init(h)
	b := array.NewRecordBuilder(alloc, schema)
	defer b.Release()
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		n = 0
		return emit(b.NewRecordBatch())
	}
	for len(h.cursors) > 0 {
		if n == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		c := h.cursors[0]
		appendRow(b, c.rec, c.row)
		n++
		if n >= batchRows {
			if err := flush(); err != nil {
				return err
			}
		}
		c.row++
		if c.row >= int(c.rec.NumRows()) {
			ok, err := c.advanceBatch()
			if err != nil {
				return err
			}
			if !ok {
				heap.Pop(h)
				c.close()
				continue
			}
		}
		heap.Fix(h, 0)
	}
	return flush()
}

type cursor struct {
	run int
	rd  *Reader
	rec arrow.RecordBatch
	row int
}

func (c *cursor) advanceBatch() (bool, error) {
	if c.rec != nil {
		c.rec.Release()
		c.rec = nil
	}
	for {
		rec, err := c.rd.Next()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if rec.NumRows() > 0 {
			c.rec, c.row = rec, 0
			return true, nil
		}
		rec.Release()
	}
}

func (c *cursor) close() {
	if c.rec != nil {
		c.rec.Release()
		c.rec = nil
	}
	if c.rd != nil {
		c.rd.Close()
		c.rd = nil
	}
}

type mergeHeap struct {
	cursors []*cursor
	cmp     Compare
}

func (h *mergeHeap) Len() int { return len(h.cursors) }
func (h *mergeHeap) Less(i, j int) bool {
	a, b := h.cursors[i], h.cursors[j]
	if c := h.cmp(a.rec, a.row, b.rec, b.row); c != 0 {
		return c < 0
	}
	return a.run < b.run
}
func (h *mergeHeap) Swap(i, j int) { h.cursors[i], h.cursors[j] = h.cursors[j], h.cursors[i] }
func (h *mergeHeap) Push(x any)    { h.cursors = append(h.cursors, x.(*cursor)) }
func (h *mergeHeap) Pop() any {
	c := h.cursors[len(h.cursors)-1]
	h.cursors = h.cursors[:len(h.cursors)-1]
	return c
}

// appendRow appends row i of rec to b (same schema).
func appendRow(b *array.RecordBuilder, rec arrow.RecordBatch, i int) {
	for c := 0; c < int(rec.NumCols()); c++ {
		AppendFrom(b.Field(c), rec.Column(c), i)
	}
}

// AppendFrom appends value i of arr to the builder bld of the same type.
func AppendFrom(bld array.Builder, arr arrow.Array, i int) {
	if arr.IsNull(i) {
		bld.AppendNull()
		return
	}
	switch a := arr.(type) {
	case *array.Int64:
		bld.(*array.Int64Builder).Append(a.Value(i))
	case *array.Float64:
		bld.(*array.Float64Builder).Append(a.Value(i))
	case *array.Boolean:
		bld.(*array.BooleanBuilder).Append(a.Value(i))
	case *array.String:
		bld.(*array.StringBuilder).Append(a.Value(i))
	case *array.Date32:
		bld.(*array.Date32Builder).Append(a.Value(i))
	case *array.Timestamp:
		bld.(*array.TimestampBuilder).Append(a.Value(i))
	default:
		panic(fmt.Sprintf("spill: unsupported type %s", arr.DataType()))
	}
}

// Partitions splits rows into n spill files by a partition number per row
// (for partitioned hash aggregation and hash joins beyond memory).
type Partitions struct {
	writers []*Writer
	alloc   memory.Allocator
}

// NewPartitions creates n spill files in dir for batches of schema.
func NewPartitions(dir string, schema *arrow.Schema, alloc memory.Allocator, n int) (*Partitions, error) {
	p := &Partitions{alloc: alloc}
	for range n {
		w, err := NewWriter(dir, schema, alloc)
		if err != nil {
			p.Abort()
			return nil, err
		}
		p.writers = append(p.writers, w)
	}
	return p, nil
}

// Write sends row r of rec to partition part[r].
func (p *Partitions) Write(rec arrow.RecordBatch, part []int32) error {
	idx := make([][]int32, len(p.writers))
	for r, k := range part {
		idx[k] = append(idx[k], int32(r))
	}
	for k, rows := range idx {
		if len(rows) == 0 {
			continue
		}
		sub := take(p.alloc, rec, rows)
		err := p.writers[k].Write(sub)
		sub.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// Finish returns one run per partition.
func (p *Partitions) Finish() ([]*Run, error) {
	runs := make([]*Run, 0, len(p.writers))
	for i, w := range p.writers {
		r, err := w.Finish()
		if err != nil {
			for _, r := range runs {
				r.Remove()
			}
			for _, w := range p.writers[i+1:] {
				w.Abort()
			}
			return nil, err
		}
		runs = append(runs, r)
	}
	p.writers = nil
	return runs, nil
}

// Abort discards every partition.
func (p *Partitions) Abort() {
	for _, w := range p.writers {
		w.Abort()
	}
	p.writers = nil
}

func take(alloc memory.Allocator, rec arrow.RecordBatch, rows []int32) arrow.RecordBatch {
	b := array.NewRecordBuilder(alloc, rec.Schema())
	defer b.Release()
	for _, r := range rows {
		appendRow(b, rec, int(r))
	}
	return b.NewRecordBatch()
}

// pathErrCause is the cause of a *fs.PathError without the path it
// repeats (the message names the folder itself).
func pathErrCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func spaceHint(err error) string {
	if errors.Is(err, syscall.ENOSPC) {
		return "; give --temp-dir (Job.TempDir) a folder with more room, or raise --memory-limit"
	}
	return ""
}
