package beam

import (
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	beamsdk "github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
)

// RemoveDuplicates on Beam. Every row has a candidate value: its sort_by
// key (order-preserving encoding), then its position (its batch's and its
// row's), then the position's length; per dedup key, the smallest
// candidate (keep: first) or the largest (keep: last) wins. Candidates are
// unique, so the winner never depends on the order in which workers see
// the rows.
//
// The rows travel with their candidates: dedupBatchFn keeps each batch's
// best row per key and sends it, with two extra string columns (the key and
// the candidate), to the hash bucket of its key; a CombinePerKey over the
// buckets (dedupCombineFn) keeps the best row per key. A runner lifts the
// combine (Prism and Dataflow do): each bundle is combined before the
// shuffle, so what crosses it is one row per key per bundle, not every row.
// The winners are then range-sorted by candidate, which is the local
// engine's output order (sort_by order, then input order; input order
// without sort_by), and the two extra columns dropped.

func init() {
	register.DoFn3x1[context.Context, Elem, func(int, Elem), error](&dedupBatchFn{})
	register.Combiner3[dedupAcc, Elem, Elem](&dedupCombineFn{})
	register.Function2x1(dropKey)
	beamsdk.RegisterCoder(reflect.TypeOf(dedupAcc{}), encodeDedupAcc, decodeDedupAcc)
}

// dedupExtra is how many columns dedupBatchFn adds: the key, the candidate.
const dedupExtra = 2

// dedupBatchFn sends each batch's best row per key, with its key and
// candidate, to its key's bucket.
type dedupBatchFn struct {
	Stage     string
	Key, Sort Keys
	Last      bool
	Buckets   int

	in, bin beamsdk.Counter
}

func (f *dedupBatchFn) Setup() {
	f.in = beamsdk.NewCounter(metricNS, metricName(f.Stage, "rows_in", ""))
	f.bin = beamsdk.NewCounter(metricNS, metricName(f.Stage, "batches_in", ""))
}

func (f *dedupBatchFn) ProcessElement(ctx context.Context, e Elem, emit func(int, Elem)) error {
	rec, err := decode(e.Data, memory.DefaultAllocator)
	if err != nil {
		return err
	}
	defer rec.Release()
	f.in.Inc(ctx, rec.NumRows())
	f.bin.Inc(ctx, 1)
	kenc, senc := f.Key.enc(), f.Sort.enc()
	type best struct {
		row  int32
		cand []byte
	}
	winners := map[string]best{}
	var order []string
	var k []byte
	for i := range int(rec.NumRows()) {
		k = kenc.append(k[:0], rec, i)
		c := senc.append(nil, rec, i)
		rp := pos(e.Pos, uint32(i))
		c = append(c, rp...)
		c = binary.BigEndian.AppendUint16(c, uint16(len(rp)))
		old, seen := winners[string(k)]
		if !seen {
			order = append(order, string(k))
		}
		if !seen || better(string(c), string(old.cand), f.Last) {
			winners[string(k)] = best{int32(i), c}
		}
	}
	type win struct {
		row       int32
		key, cand string
	}
	groups := map[int][]win{}
	for _, key := range order {
		b := bucket([]byte(key), f.Buckets)
		w := winners[key]
		groups[b] = append(groups[b], win{w.row, key, string(w.cand)})
	}
	for b, ws := range groups {
		sort.Slice(ws, func(i, j int) bool { return ws[i].row < ws[j].row })
		idx := make([]int32, len(ws))
		kb := array.NewStringBuilder(memory.DefaultAllocator)
		cb := array.NewStringBuilder(memory.DefaultAllocator)
		for i, w := range ws {
			idx[i] = w.row
			kb.Append(w.key)
			cb.Append(w.cand)
		}
		part := withExtra(openstage.Take(memory.DefaultAllocator, rec, idx), kb.NewArray(), cb.NewArray())
		kb.Release()
		cb.Release()
		data, err := encode(part)
		part.Release()
		if err != nil {
			return err
		}
		emit(b, Elem{Pos: e.Pos, Data: data})
	}
	return nil
}

// better says whether candidate c beats old.
func better(c, old string, last bool) bool { return (c < old) != last }

// withExtra appends the key and candidate columns to rec.
func withExtra(rec arrow.RecordBatch, keys, cands arrow.Array) arrow.RecordBatch {
	defer rec.Release()
	defer keys.Release()
	defer cands.Release()
	fields := append(append([]arrow.Field{}, rec.Schema().Fields()...),
		arrow.Field{Name: "openstage_dedup_key", Type: arrow.BinaryTypes.String},
		arrow.Field{Name: "openstage_dedup_candidate", Type: arrow.BinaryTypes.String})
	meta := rec.Schema().Metadata()
	cols := append(append([]arrow.Array{}, rec.Columns()...), keys, cands)
	return array.NewRecordBatch(arrow.NewSchema(fields, &meta), cols, rec.NumRows())
}

// dedupAcc is the combine's accumulator: the best row per key so far, held
// in the batches they came in (with their key and candidate columns).
type dedupAcc struct{ st *dedupState }

type dedupState struct {
	recs []arrow.RecordBatch
	held int64 // rows of recs
	best map[string]dedupRef
}

type dedupRef struct {
	rec, row int32
	cand     string
}

func newDedupAcc() dedupAcc { return dedupAcc{&dedupState{best: map[string]dedupRef{}}} }

// add offers every row of rec (its key and candidate in the last two
// columns) to the accumulator.
func (st *dedupState) add(rec arrow.RecordBatch, last bool) {
	n := int(rec.NumCols())
	keys := rec.Column(n - 2).(*array.String)
	cands := rec.Column(n - 1).(*array.String)
	r := int32(len(st.recs))
	used := false
	for i := range int(rec.NumRows()) {
		k, c := keys.Value(i), cands.Value(i)
		old, seen := st.best[k]
		if !seen || better(c, old.cand, last) {
			st.best[k] = dedupRef{r, int32(i), c}
			used = true
		}
	}
	if used {
		rec.Retain()
		st.recs = append(st.recs, rec)
		st.held += rec.NumRows()
	}
	// Rows that lost are dropped once they outnumber the winners.
	if st.held > 2*int64(len(st.best))+65536 {
		st.compact()
	}
}

// compact rebuilds the accumulator as one batch of its winners, in
// candidate order, dropping the rows that lost, and returns that batch
// (nil if there is none), which the accumulator keeps: the caller does
// not release it.
func (st *dedupState) compact() arrow.RecordBatch {
	if len(st.best) == 0 {
		for _, r := range st.recs {
			r.Release()
		}
		st.recs, st.held = nil, 0
		return nil
	}
	refs := make([]dedupRef, 0, len(st.best))
	for _, ref := range st.best {
		refs = append(refs, ref)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].cand < refs[j].cand })
	// Take each batch's winners, then order them all by candidate.
	byRec := map[int32][]int32{}
	for _, ref := range refs {
		byRec[ref.rec] = append(byRec[ref.rec], ref.row)
	}
	var parts []arrow.RecordBatch
	for r, rec := range st.recs {
		if idx := byRec[int32(r)]; len(idx) > 0 {
			parts = append(parts, openstage.Take(memory.DefaultAllocator, rec, idx))
		}
		rec.Release()
	}
	all, _ := kernel.Concat(parts, memory.DefaultAllocator)
	n := int(all.NumCols())
	keys := all.Column(n - 2).(*array.String)
	cands := all.Column(n - 1).(*array.String)
	idx := make([]int32, all.NumRows())
	for i := range idx {
		idx[i] = int32(i)
	}
	sort.Slice(idx, func(i, j int) bool { return cands.Value(int(idx[i])) < cands.Value(int(idx[j])) })
	sorted := openstage.Take(memory.DefaultAllocator, all, idx)
	all.Release()
	keys = sorted.Column(n - 2).(*array.String)
	cands = sorted.Column(n - 1).(*array.String)
	st.recs, st.held = []arrow.RecordBatch{sorted}, sorted.NumRows()
	st.best = make(map[string]dedupRef, sorted.NumRows())
	for i := range int(sorted.NumRows()) {
		st.best[keys.Value(i)] = dedupRef{0, int32(i), cands.Value(i)}
	}
	return sorted
}

// dedupCombineFn keeps the best row per key of a bucket.
type dedupCombineFn struct{ Last bool }

func (f *dedupCombineFn) CreateAccumulator() dedupAcc { return newDedupAcc() }

func (f *dedupCombineFn) AddInput(a dedupAcc, e Elem) (dedupAcc, error) {
	if len(e.Data) == 0 {
		return a, nil
	}
	rec, err := decode(e.Data, memory.DefaultAllocator)
	if err != nil {
		return a, err
	}
	a.st.add(rec, f.Last)
	rec.Release()
	return a, nil
}

func (f *dedupCombineFn) MergeAccumulators(a, b dedupAcc) dedupAcc {
	if rec := b.st.compact(); rec != nil {
		a.st.add(rec, f.Last)
	}
	return a
}

func (f *dedupCombineFn) ExtractOutput(a dedupAcc) (Elem, error) {
	rec := a.st.compact()
	if rec == nil {
		return Elem{}, nil
	}
	data, err := encode(rec)
	return Elem{Data: data}, err
}

func encodeDedupAcc(a dedupAcc) ([]byte, error) {
	if a.st == nil {
		return nil, nil
	}
	rec := a.st.compact()
	if rec == nil {
		return nil, nil
	}
	return encode(rec)
}

func decodeDedupAcc(data []byte) (dedupAcc, error) {
	a := newDedupAcc()
	if len(data) == 0 {
		return a, nil
	}
	rec, err := decode(data, memory.DefaultAllocator)
	if err != nil {
		return a, fmt.Errorf("decoding a RemoveDuplicates accumulator: %w", err)
	}
	// Its rows are winners already, one per key: keep: first or last
	// does not matter.
	a.st.add(rec, false)
	rec.Release()
	return a, nil
}

// dropKey drops a combine's key.
func dropKey(_ int, e Elem) Elem { return e }
