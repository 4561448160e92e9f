package stages

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
	"github.com/open-stage/openstage/internal/outofcore"
	"github.com/open-stage/openstage/spill"
)

// Head passes on the first rows of its input (DataStage's Head stage): the
// first `rows` rows, or with key the first `rows` rows of each distinct key,
// in input order.
//
// Without key it stops reading once it has sent its rows; right after an
// origin, the plan optimizer also has the origin stop there (openstage
// validate --explain shows it). With key it streams, holding a count per
// distinct key.
//
// After a Sort (directly, or through Filter, Copy and DeleteColumns stages
// that feed nothing else), the optimizer has Head compute the first rows in
// the Sort's order itself: a heap of the best `rows` rows (per key) seen so
// far, sorted at the end, instead of sorting the whole input; the output is
// the same, order included. Should those rows outgrow the stage's memory
// budget, it sorts through temporary files as Sort would.
type Head struct {
	Rows int64             `param:"rows" default:"10" doc:"How many rows to pass on (per key, with key)."`
	Key  openstage.Strings `param:"key" doc:"Column or list of columns: pass on the first rows of each distinct key instead of the first rows overall."`

	keyCols []int
	in      *arrow.Schema
	budget  int64
	tempDir string
	// Set by the plan optimizer: the order of the Sort upstream, computed
	// here with a heap (topN).
	absorbed *openstage.Ordering
	order    []kernel.SortRef
}

var _ openstage.Accumulator = (*Head)(nil)

// Accumulates implements openstage.Accumulator: a Head that took over a
// sort holds its best rows.
func (h *Head) Accumulates() bool { return h.absorbed != nil }

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "Head",
		Layer:   openstage.Transformation,
		Summary: "Passes on the first N rows of its input, or the first N rows of each distinct key.",
		Doc: `rows is how many rows to pass on (default 10); with key, that many rows of
each distinct key (nulls in a key equal each other). Rows keep their input
order.

Without key, Head stops reading once it has sent its rows; right after an
origin, the origin stops reading there too. With key it streams, holding one
count per distinct key.

Sort followed by Head is computed without sorting everything: Head keeps a
heap of the best rows in the Sort's order (per key with key) and sorts only
those at the end, with the same output, order included (openstage validate
--explain shows it; --no-optimize sorts everything).`,
		Example: `- name: first_orders
  type: Head
  rows: 100

- name: top3_per_country
  type: Head
  rows: 3
  key: country`,
		New: func() any { return &Head{} },
	})
}

// NewHead returns a Head stage passing on the first rows rows (of each key,
// when key is given).
func NewHead(name string, rows int64, key ...string) *openstage.Stage {
	return openstage.New(name, func(h *Head) { h.Rows, h.Key = rows, key })
}

// Connectivity implements the optional connectivity interface: one input, one output.
func (h *Head) Connectivity() openstage.Connectivity { return openstage.OneToOne }

// Plan checks rows and the key columns.
func (h *Head) Plan(_ context.Context, p *openstage.Plan) error {
	in := p.InputSchema()
	if h.Rows < 1 {
		return fmt.Errorf("rows must be 1 or more, got %d", h.Rows)
	}
	keyCols, err := keyColumns(in, h.Key)
	if err != nil {
		return err
	}
	h.keyCols, h.in = keyCols, in
	h.budget, h.tempDir = p.MemoryBudget(), p.TempDir()
	h.order = nil
	reads := append([]string(nil), h.Key...)
	if h.absorbed != nil {
		cols, err := sortPlanKeys(in, fromOrderKeys(h.absorbed.Keys), "sort by")
		if err != nil {
			return err
		}
		h.order = cols
		for _, k := range h.absorbed.Keys {
			reads = append(reads, k.Column)
		}
	}
	passThrough(p, reads...)
	p.SetOutputs(in)
	return nil
}

// keyColumns resolves key columns that identify groups.
func keyColumns(in *arrow.Schema, key []string) ([]int, error) {
	var cols []int
	for _, k := range key {
		idx, err := openstage.FieldIndex(in, k)
		if err != nil {
			return nil, err
		}
		if _, ok := kernel.KeyKindOf(in.Field(idx).Type); !ok {
			return nil, fmt.Errorf("cannot use column '%s' of type %s as a key", k, in.Field(idx).Type)
		}
		cols = append(cols, idx)
	}
	return cols, nil
}

// AbsorbOrder implements openstage.OrderAbsorber: the first rows of
// sorted input are the rows smallest in (order, input position).
func (h *Head) AbsorbOrder(o *openstage.Ordering) (string, bool) {
	if o == nil {
		h.absorbed = nil
		return "", true
	}
	if !sortableIn(h.in, o.Keys) {
		return "", false
	}
	c := *o
	h.absorbed = &c
	per := ""
	if len(h.Key) > 0 {
		per = " of each " + strings.Join(h.Key, ", ")
	}
	return fmt.Sprintf("keeps the first %d rows%s by (%s) in a heap and sorts only those", h.Rows, per, o), true
}

// RowLimit implements openstage.Limiter: a Head without key and without a
// sort to compute needs only the first rows of its input.
func (h *Head) RowLimit() (int64, bool) {
	if len(h.Key) > 0 || h.absorbed != nil || h.Rows < 1 {
		return 0, false
	}
	return h.Rows, true
}

// Process passes on the first rows.
func (h *Head) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	if h.order != nil {
		return h.topN(ctx, in, out)
	}
	f := newHeadFilter(h)
	for !f.done() {
		dp, err := in.Recv(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		res := f.take(dp.Batch, out)
		dp.Batch.Release()
		if res != nil {
			err = out.Send(ctx, res)
			res.Release()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// headFilter picks the first rows (of each key) of a stream of batches.
type headFilter struct {
	h       *Head
	sent    int64
	grouper *kernel.Grouper
	counts  []int64
	gids    []int32
	sel     []int32
}

func newHeadFilter(h *Head) *headFilter { return &headFilter{h: h} }

// done reports whether no later row can pass (no key: all rows sent).
func (f *headFilter) done() bool { return len(f.h.keyCols) == 0 && f.sent >= f.h.Rows }

// take returns the rows of rec that pass (nil for none); rec stays the
// caller's.
func (f *headFilter) take(rec arrow.RecordBatch, out *openstage.Outputs) arrow.RecordBatch {
	n := rec.NumRows()
	if len(f.h.keyCols) == 0 {
		k := min(n, f.h.Rows-f.sent)
		if k <= 0 {
			return nil
		}
		f.sent += k
		return rec.NewSlice(0, k)
	}
	if f.grouper == nil {
		f.grouper = kernel.NewGrouper(rec.Schema(), f.h.keyCols, false)
	}
	f.gids = f.grouper.IDs(rec, f.gids)
	f.sel = f.sel[:0]
	for i, g := range f.gids {
		if int(g) >= len(f.counts) {
			f.counts = append(f.counts, make([]int64, int(g)+1-len(f.counts))...)
		}
		if f.counts[g] < f.h.Rows {
			f.counts[g]++
			f.sel = append(f.sel, int32(i))
		}
	}
	switch len(f.sel) {
	case 0:
		return nil
	case int(n):
		rec.Retain()
		return rec
	}
	return openstage.Take(out.Allocator(), rec, f.sel)
}

// topN computes Sort then Head without sorting everything: per key (or
// overall) a max-heap of the best Rows rows so far in (order, input
// position); a row better than the worst of its heap replaces it. At the
// end the rows kept are sorted. Past the memory budget, the rows kept (in
// input order) and the rest of the input are sorted through spill files
// and the first rows taken from the sorted stream: the same result.
func (h *Head) topN(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	t := newTopKeeper(h.order, h.absorbed.NullsFirst, h.Rows, h.keyCols)
	defer t.release()
	alloc := out.Allocator()
	for {
		dp, err := in.Recv(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		rec := dp.Batch
		if rec.NumRows() == 0 {
			rec.Release()
			continue
		}
		if h.budget > 0 && t.store.held+spill.Size(rec) > h.budget {
			return h.topNSpilled(ctx, in, out, t, rec)
		}
		t.add(rec)
		if t.store.held > max(2*t.store.compact, rdCompactMin) {
			surv, err := t.compactAll(alloc)
			if err != nil {
				return err
			}
			surv.Release()
		}
	}
	surv, err := t.compactAll(alloc)
	if err != nil || surv == nil {
		return err
	}
	defer surv.Release()
	idx := inputOrder(t.ents)
	for k := len(h.order) - 1; k >= 0; k-- {
		sc := h.order[k]
		kernel.StableSortBy(kernel.SortCol{Arr: surv.Column(sc.Col), Desc: sc.Desc}, idx, h.absorbed.NullsFirst)
	}
	return kernel.SendPermuted(ctx, out, surv, idx)
}

// topNSpilled finishes topN through an external sort: the rows kept so far
// in input order, then rec (owned), then the rest of the input.
func (h *Head) topNSpilled(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs, t *topKeeper, rec arrow.RecordBatch) error {
	alloc := out.Allocator()
	srt := &outofcore.Sorter{Budget: h.budget, Dir: h.tempDir, Alloc: alloc, Keys: h.order, NullsFirst: h.absorbed.NullsFirst}
	defer srt.Release()
	surv, err := t.compactAll(alloc)
	if err != nil {
		rec.Release()
		return err
	}
	if surv != nil {
		ordered := openstage.Take(alloc, surv, inputOrder(t.ents))
		surv.Release()
		t.release()
		if err := srt.Add(ordered); err != nil {
			rec.Release()
			return err
		}
	}
	if err := srt.Add(rec); err != nil {
		return err
	}
	err = in.ForEach(ctx, func(dp openstage.DataPackage) error {
		dp.Batch.Retain()
		return srt.Add(dp.Batch)
	})
	if err != nil {
		return err
	}
	f := newHeadFilter(h)
	err = srt.Merge(ctx, func(rec arrow.RecordBatch) error {
		defer rec.Release()
		if f.done() {
			return nil
		}
		res := f.take(rec, out)
		if res == nil {
			return nil
		}
		defer res.Release()
		return out.Send(ctx, res)
	})
	out.Count("spilled_rows", srt.SpilledRows())
	out.Count("spill_runs", int64(srt.Runs()))
	return err
}
