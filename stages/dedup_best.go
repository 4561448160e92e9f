package stages

// RemoveDuplicates with sort_by, in memory: instead of holding the whole
// input and sorting it, one streaming pass keeps, per key, only the best row
// so far in the documented order, (sort_by..., input position): the
// smallest for keep: first, the largest for keep: last. A row that loses to
// another row of its key can never be kept, so the result is the same as
// sorting everything and keeping the first (or last) row of each key.
//
// The best rows stay in the input batches that hold them (a batch is
// released when none of its rows is a best row any more); when the held
// batches grow past twice the size of the last compaction, the best rows are
// copied into one compact batch and the old batches released. At the end
// the survivors are put in input order and sorted by the sort kernel, which
// is stable, so the output order, ties included, is the in-memory one.
//
// When the survivors plus the next batch would exceed the memory budget,
// the survivors (in input order) and the rest of the input are handed to the
// spilling path: the rows dropped so far lose to a survivor of their key, so
// they would not have been kept there either, and the relative input order
// is unchanged.

import (
	"cmp"
	"context"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
	"github.com/open-stage/openstage/internal/outofcore"
	"github.com/open-stage/openstage/spill"
)

// rdSlot is a held batch and how many best rows it holds.
type rdSlot struct {
	rec   arrow.RecordBatch
	live  int
	bytes int64
}

type rdFast struct {
	r       *RemoveDuplicates
	grouper *kernel.Grouper
	best    []heldRow // per key: its best row so far
	store   heldBatches
	seen    int64 // input rows so far
	// For a sort_by column that is not a string: the order-preserving
	// image (kernel.OrderedUint64, complemented when descending) and the null
	// flag (null or NaN) of each key's best row, and of the rows of the
	// batch being folded. String columns are compared in the batches.
	bimg  [][]uint64
	bnull [][]bool
	img   [][]uint64
	null  [][]bool
}

// rdCompactMin is the least held size at which the best rows are compacted.
var rdCompactMin int64 = 64 << 20 // a variable for tests

func (f *rdFast) release() { f.store.release() }

// add folds rec (owned by f) into the best rows.
func (f *rdFast) add(rec arrow.RecordBatch, gids []int32) {
	r := f.r
	s := f.store.push(rec) // pinned while folding
	if f.bimg == nil {
		f.bimg = make([][]uint64, len(r.sortBy))
		f.bnull = make([][]bool, len(r.sortBy))
		f.img = make([][]uint64, len(r.sortBy))
		f.null = make([][]bool, len(r.sortBy))
	}
	cols := make([]arrow.Array, len(r.sortBy))
	isStr := make([]bool, len(r.sortBy))
	keyImages(rec, r.sortBy, cols, isStr, f.img, f.null)
	for i, g := range gids {
		pos := f.seen + int64(i)
		if int(g) >= len(f.best) {
			f.best = append(f.best, heldRow{slot: s, row: int32(i), pos: pos})
			for k := range r.sortBy {
				if !isStr[k] {
					f.bimg[k] = append(f.bimg[k], f.img[k][i])
					f.bnull[k] = append(f.bnull[k], f.null[k][i])
				}
			}
			f.store.slots[s].live++
			continue
		}
		b := &f.best[g]
		c := 0
		for k, sc := range r.sortBy {
			if isStr[k] {
				c = kernel.CompareValue(cols[k], i, f.store.slots[b.slot].rec.Column(sc.Col), int(b.row), sc.Desc, false)
			} else {
				xn, yn := f.null[k][i], f.bnull[k][g]
				switch {
				case xn && yn:
					c = 0
				case xn:
					c = 1 // nulls last
				case yn:
					c = -1
				default:
					c = cmp.Compare(f.img[k][i], f.bimg[k][g])
				}
			}
			if c != 0 {
				break
			}
		}
		// first keeps the smallest row in (sort_by, position) order, last
		// the largest: on ties the earlier row wins for first, the later
		// for last.
		if (!r.last && c < 0) || (r.last && c >= 0) {
			old := b.slot
			b.slot, b.row, b.pos = s, int32(i), pos
			for k := range r.sortBy {
				if !isStr[k] {
					f.bimg[k][g], f.bnull[k][g] = f.img[k][i], f.null[k][i]
				}
			}
			f.store.slots[s].live++
			f.store.unref(old)
		}
	}
	f.seen += int64(len(gids))
	f.store.unref(s) // unpin
}

// compactAll copies the best rows into one batch (in no particular order),
// releases the other batches and points the best rows at it; nil when there
// are none.
func (f *rdFast) compactAll(alloc memory.Allocator) (arrow.RecordBatch, error) {
	return f.store.compactRows(alloc, f.best)
}

// dedupBest runs the streaming pass. It returns done when it has sent the
// output; otherwise it has handed the survivors to srt, and the caller
// carries on with the rest of the input.
func (r *RemoveDuplicates) dedupBest(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs, srt *outofcore.Sorter) (done bool, err error) {
	alloc := out.Allocator()
	f := &rdFast{r: r}
	defer f.release()
	var gids []int32
	for {
		dp, err := in.Recv(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, err
		}
		rec := dp.Batch
		if rec.NumRows() == 0 {
			rec.Release()
			continue
		}
		if r.budget > 0 && f.store.held+spill.Size(rec) > r.budget {
			// Hand over to the spilling path.
			surv, err := f.compactAll(alloc)
			if err != nil {
				rec.Release()
				return false, err
			}
			if surv != nil {
				ordered := openstage.Take(alloc, surv, inputOrder(f.best))
				surv.Release()
				f.release()
				if err := srt.Add(ordered); err != nil {
					rec.Release()
					return false, err
				}
			}
			return false, srt.Add(rec)
		}
		if f.grouper == nil {
			f.grouper = kernel.NewGrouper(rec.Schema(), r.keyCols, false)
		}
		gids = f.grouper.IDs(rec, gids)
		f.add(rec, gids)
		if f.store.held > max(2*f.store.compact, rdCompactMin) {
			surv, err := f.compactAll(alloc)
			if err != nil {
				return false, err
			}
			surv.Release()
		}
	}
	surv, err := f.compactAll(alloc)
	if err != nil || surv == nil {
		return true, err
	}
	defer surv.Release()
	idx := inputOrder(f.best)
	for k := len(r.sortBy) - 1; k >= 0; k-- {
		sc := r.sortBy[k]
		kernel.StableSortBy(kernel.SortCol{Arr: surv.Column(sc.Col), Desc: sc.Desc}, idx, false)
	}
	return true, kernel.SendPermuted(ctx, out, surv, idx)
}
