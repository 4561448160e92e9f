package beam

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	beamsdk "github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
)

func init() {
	register.DoFn3x1[context.Context, Elem, func(int, []byte), error](&sampleFn{})
	register.DoFn2x1[int, func(*[]byte) bool, []byte](&splittersFn{})
	register.DoFn4x1[context.Context, Elem, func(*[]byte) bool, func(int, Elem), error](&rangeFn{})
	register.DoFn4x1[context.Context, int, func(*Elem) bool, func(Elem), error](&groupRunFn{})
	register.DoFn4x1[context.Context, []byte, func(*Elem) bool, func(Elem), error](&gatherFn{})
	register.DoFn3x1[context.Context, Elem, func(int, Elem), error](&bucketFn{})
	register.DoFn5x1[context.Context, int, func(*Elem) bool, func(*Elem) bool, func(Elem), error](&joinFn{})
	register.DoFn4x1[context.Context, Elem, func(*Elem) bool, func(Elem), error](&lookupFn{})
	register.DoFn4x1[context.Context, int, func(*Elem) bool, func(Elem), error](&sortRangeFn{})
	register.Emitter2[int, []byte]()
	register.Emitter2[int, Elem]()
	register.Iter1[Elem]()
}

// Keys says how the rows of a pipe are keyed for a shuffle.
type Keys struct {
	Cols       []keyCol
	NullsFirst bool
}

func (k Keys) enc() keyEncoder { return keyEncoder{cols: k.Cols, nullsFirst: k.NullsFirst} }

// samplesPerBatch is how many keys each batch contributes to the choice of
// the ranges' bounds.
const samplesPerBatch = 64

// sampleFn emits a sample of the keys of each batch, all under key 0.
type sampleFn struct{ Keys Keys }

func (f *sampleFn) ProcessElement(ctx context.Context, e Elem, emit func(int, []byte)) error {
	rec, err := decode(e.Data, memory.DefaultAllocator)
	if err != nil {
		return err
	}
	defer rec.Release()
	n := int(rec.NumRows())
	step := max(1, n/samplesPerBatch)
	enc := f.Keys.enc()
	for i := 0; i < n; i += step {
		emit(0, enc.append(nil, rec, i))
	}
	return nil
}

// splittersFn picks Ranges-1 bounds from the sorted sample, as JSON.
type splittersFn struct{ Ranges int }

func (f *splittersFn) ProcessElement(_ int, samples func(*[]byte) bool) []byte {
	var all [][]byte
	var s []byte
	for samples(&s) {
		all = append(all, append([]byte{}, s...))
	}
	sort.Slice(all, func(i, j int) bool { return bytes.Compare(all[i], all[j]) < 0 })
	var bounds [][]byte
	for r := 1; r < f.Ranges && len(all) > 0; r++ {
		b := all[r*len(all)/f.Ranges]
		if len(bounds) == 0 || !bytes.Equal(bounds[len(bounds)-1], b) {
			bounds = append(bounds, b)
		}
	}
	data, _ := json.Marshal(bounds)
	return data
}

// rangeFn sends each row to the range of its key: the number of bounds at
// or below it, so equal keys always share a range.
type rangeFn struct{ Keys Keys }

func (f *rangeFn) ProcessElement(ctx context.Context, e Elem, splitters func(*[]byte) bool, emit func(int, Elem)) error {
	var bounds [][]byte
	var data []byte
	for splitters(&data) {
		if err := json.Unmarshal(data, &bounds); err != nil {
			return err
		}
	}
	rec, err := decode(e.Data, memory.DefaultAllocator)
	if err != nil {
		return err
	}
	defer rec.Release()
	enc := f.Keys.enc()
	rows := map[int][]int32{}
	var key []byte
	for i := range int(rec.NumRows()) {
		key = enc.append(key[:0], rec, i)
		r := sort.Search(len(bounds), func(j int) bool { return bytes.Compare(bounds[j], key) > 0 })
		rows[r] = append(rows[r], int32(i))
	}
	return emitTaken(rec, e.Pos, rows, emit)
}

// emitTaken emits, for each group, the rows of rec it lists, at position p.
func emitTaken(rec arrow.RecordBatch, p []byte, rows map[int][]int32, emit func(int, Elem)) error {
	for g, idx := range rows {
		part := rec
		if len(idx) != int(rec.NumRows()) {
			part = openstage.Take(memory.DefaultAllocator, rec, idx)
		} else {
			part.Retain()
		}
		data, err := encode(part)
		part.Release()
		if err != nil {
			return err
		}
		emit(g, Elem{Pos: p, Data: data})
	}
	return nil
}

// sortedElems collects an iterator's elements in position order.
func sortedElems(it func(*Elem) bool) []Elem {
	var all []Elem
	var e Elem
	for it(&e) {
		all = append(all, e)
		e = Elem{}
	}
	sort.Slice(all, func(i, j int) bool { return bytes.Compare(all[i].Pos, all[j].Pos) < 0 })
	return all
}

// source gives elements, decoded one at a time, as a stage's input; done,
// called once the stage has returned, adds the rows and batches read to
// the stage's counters (the run summary counts pipes itself: tally.go).
// src does not touch the counters: RunStage calls it on a feeder
// goroutine, one per input, and the Go SDK's per-bundle counter set is a
// plain map that two goroutines creating a counter at once corrupt (the
// Joiner's two inputs lost one batch's count that way).
func source(ctx context.Context, elems []Elem, in beamsdk.Counter, bin beamsdk.Counter) (src openstage.BatchSource, done func()) {
	var rows, batches int64
	src = func() (arrow.RecordBatch, error) {
		if len(elems) == 0 {
			return nil, errEOF
		}
		rec, err := decode(elems[0].Data, memory.DefaultAllocator)
		elems = elems[1:]
		if err == nil {
			rows += rec.NumRows()
			batches++
		}
		return rec, err
	}
	done = func() {
		in.Inc(ctx, rows)
		bin.Inc(ctx, batches)
	}
	return src, done
}

// groupRunFn runs the stage on one range (or bucket) of its input, in
// input order; its output comes at position (range, n).
type groupRunFn struct {
	stageBase
	Input string
}

func (f *groupRunFn) Setup(ctx context.Context) error { return f.setup(ctx) }

func (f *groupRunFn) ProcessElement(ctx context.Context, r int, elems func(*Elem) bool, emit func(Elem)) error {
	src, done := source(ctx, sortedElems(elems), f.in, f.bin)
	defer done()
	return f.run(ctx, pos(nil, uint32(r)), map[string]openstage.BatchSource{f.Input: src}, emit)
}

// gatherFn runs the stage once on its whole input (a side input), even an
// empty one: an Aggregator without keys gives its one row.
type gatherFn struct {
	stageBase
	Input string
}

func (f *gatherFn) Setup(ctx context.Context) error { return f.setup(ctx) }

func (f *gatherFn) ProcessElement(ctx context.Context, _ []byte, all func(*Elem) bool, emit func(Elem)) error {
	src, done := source(ctx, sortedElems(all), f.in, f.bin)
	defer done()
	return f.run(ctx, pos(nil, 0), map[string]openstage.BatchSource{f.Input: src}, emit)
}

// bucketFn hash-partitions the rows of each batch by key.
type bucketFn struct {
	Keys    Keys
	Buckets int
}

func (f *bucketFn) ProcessElement(ctx context.Context, e Elem, emit func(int, Elem)) error {
	rec, err := decode(e.Data, memory.DefaultAllocator)
	if err != nil {
		return err
	}
	defer rec.Release()
	enc := f.Keys.enc()
	rows := map[int][]int32{}
	var key []byte
	for i := range int(rec.NumRows()) {
		key = enc.append(key[:0], rec, i)
		b := bucket(key, f.Buckets)
		rows[b] = append(rows[b], int32(i))
	}
	return emitTaken(rec, e.Pos, rows, emit)
}

// joinFn joins one bucket of both sides with the Joiner itself.
type joinFn struct {
	stageBase
	Left, Right string
}

func (f *joinFn) Setup(ctx context.Context) error { return f.setup(ctx) }

func (f *joinFn) ProcessElement(ctx context.Context, b int, left, right func(*Elem) bool, emit func(Elem)) error {
	lsrc, ldone := source(ctx, sortedElems(left), f.in, f.bin)
	rsrc, rdone := source(ctx, sortedElems(right), f.in, f.bin)
	defer ldone()
	defer rdone()
	return f.run(ctx, pos(nil, uint32(b)), map[string]openstage.BatchSource{f.Left: lsrc, f.Right: rsrc}, emit)
}

// lookupFn matches each stream batch against the whole reference (a side
// input), with the Lookup itself; the output keeps the stream's order.
type lookupFn struct {
	stageBase
	Reference, Stream string

	ref    []arrow.RecordBatch
	loaded bool
}

func (f *lookupFn) Setup(ctx context.Context) error { return f.setup(ctx) }

func (f *lookupFn) Teardown() {
	for _, r := range f.ref {
		r.Release()
	}
	f.ref = nil
}

func (f *lookupFn) ProcessElement(ctx context.Context, e Elem, ref func(*Elem) bool, emit func(Elem)) error {
	if !f.loaded {
		for _, re := range sortedElems(ref) {
			rec, err := decode(re.Data, memory.DefaultAllocator)
			if err != nil {
				return err
			}
			f.ref = append(f.ref, rec)
		}
		f.loaded = true
	}
	rec, err := decode(e.Data, memory.DefaultAllocator)
	if err != nil {
		return err
	}
	f.in.Inc(ctx, rec.NumRows())
	f.bin.Inc(ctx, 1)
	for _, r := range f.ref {
		r.Retain()
	}
	return f.run(ctx, e.Pos, map[string]openstage.BatchSource{f.Reference: openstage.Batches(f.ref...), f.Stream: openstage.Batches(rec)}, emit)
}

// sortRangeFn sorts one range of rows by key (stably: the range's batches
// come in position order), in batches of 65536 rows at (range, n).
type sortRangeFn struct {
	stageBase
	Keys Keys
	Drop int // trailing columns to drop before sending (a RemoveDuplicates' key and candidate)
}

func (f *sortRangeFn) Setup(ctx context.Context) error { return f.setup(ctx) }

func (f *sortRangeFn) ProcessElement(ctx context.Context, r int, elems func(*Elem) bool, emit func(Elem)) error {
	var recs []arrow.RecordBatch
	for _, e := range sortedElems(elems) {
		rec, err := decode(e.Data, memory.DefaultAllocator)
		if err != nil {
			return err
		}
		recs = append(recs, rec)
	}
	all, err := kernel.Concat(recs, memory.DefaultAllocator)
	if err != nil || all == nil {
		return err
	}
	defer all.Release()
	enc := f.Keys.enc()
	n := int(all.NumRows())
	keys := make([][]byte, n)
	idx := make([]int32, n)
	for i := range n {
		keys[i] = enc.append(nil, all, i)
		idx[i] = int32(i)
	}
	sort.SliceStable(idx, func(a, b int) bool { return bytes.Compare(keys[idx[a]], keys[idx[b]]) < 0 })
	for k, start := uint32(0), 0; start < n; k, start = k+1, start+65536 {
		part := dropLast(openstage.Take(memory.DefaultAllocator, all, idx[start:min(n, start+65536)]), f.Drop)
		err := f.send(ctx, 0, pos(nil, uint32(r), k), part, emit)
		part.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// dropLast returns rec without its last n columns.
func dropLast(rec arrow.RecordBatch, n int) arrow.RecordBatch {
	if n == 0 {
		return rec
	}
	defer rec.Release()
	k := int(rec.NumCols()) - n
	meta := rec.Schema().Metadata()
	schema := arrow.NewSchema(rec.Schema().Fields()[:k], &meta)
	return array.NewRecordBatch(schema, rec.Columns()[:k], rec.NumRows())
}
