package stages

// The top-N heap behind Sort followed by Head: per key (or overall) the
// best n rows so far in (sort order, input position), held in the input
// batches that contain them (a batch is released once none of its rows is
// kept) and compacted into one batch when the held batches grow, as the
// best-row pass of RemoveDuplicates does (dedup_best.go).

import (
	"cmp"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
	"github.com/open-stage/openstage/spill"
)

// heldBatches holds input batches while some of their rows are kept.
type heldBatches struct {
	slots   []rdSlot
	held    int64 // bytes of the held batches
	compact int64 // bytes of the last compaction
}

// push holds rec (owned) in a new slot, pinned once: unref unpins it.
func (s *heldBatches) push(rec arrow.RecordBatch) int32 {
	b := spill.Size(rec)
	s.slots = append(s.slots, rdSlot{rec: rec, bytes: b, live: 1})
	s.held += b
	return int32(len(s.slots) - 1)
}

func (s *heldBatches) unref(slot int32) {
	sl := &s.slots[slot]
	sl.live--
	if sl.live == 0 && sl.rec != nil {
		sl.rec.Release()
		sl.rec = nil
		s.held -= sl.bytes
	}
}

// compactRows copies the rows that rows point at into one batch (in no
// particular order), releases the other batches and points rows at it,
// which is then the only held batch; nil when rows is empty. The caller
// owns the batch returned (it stays held too).
func (s *heldBatches) compactRows(alloc memory.Allocator, rows []heldRow) (arrow.RecordBatch, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	bySlot := make([][]int32, len(s.slots))
	for _, r := range rows {
		bySlot[r.slot] = append(bySlot[r.slot], r.row)
	}
	newRow := make([][]int32, len(s.slots)) // per slot: old row -> new row (only where needed)
	var parts []arrow.RecordBatch
	off := int32(0)
	for sl, rs := range bySlot {
		if len(rs) == 0 {
			continue
		}
		parts = append(parts, openstage.Take(alloc, s.slots[sl].rec, rs))
		m := make([]int32, s.slots[sl].rec.NumRows())
		for j, row := range rs {
			m[row] = off + int32(j)
		}
		newRow[sl] = m
		off += int32(len(rs))
	}
	rec, err := kernel.Concat(parts, alloc)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		r := &rows[i]
		r.row = newRow[r.slot][r.row]
		r.slot = 0
	}
	s.release()
	rec.Retain()
	b := spill.Size(rec)
	s.slots = []rdSlot{{rec: rec, live: len(rows), bytes: b}}
	s.held, s.compact = b, b
	return rec, nil
}

// inputOrder returns the rows of the compacted batch that rows point at,
// in input order.
func inputOrder(rows []heldRow) []int32 {
	idx := make([]int32, len(rows))
	keys := make([]uint64, len(rows))
	for _, r := range rows {
		idx[r.row] = r.row
		keys[r.row] = uint64(r.pos)
	}
	kernel.RadixSort(keys, idx)
	return idx
}

func (s *heldBatches) release() {
	for i := range s.slots {
		if s.slots[i].rec != nil {
			s.slots[i].rec.Release()
			s.slots[i].rec = nil
		}
	}
	s.slots = nil
	s.held = 0
}

// heldRow is a kept row: row of the batch in slot, at input position pos.
type heldRow struct {
	slot, row int32
	pos       int64
}

type topKeeper struct {
	order      []kernel.SortRef
	nullsFirst bool
	n          int
	keyCols    []int
	grouper    *kernel.Grouper
	gids       []int32

	store heldBatches
	ents  []heldRow
	heaps [][]int32 // per group: max-heap of entry indexes, the worst row at [0]
	seen  int64
	isStr []bool
	// For a key that is not a string, the order-preserving image
	// (complemented when descending) and null flag of each entry's value
	// (nk per entry), and of the batch being added.
	img  []uint64
	nul  []bool
	bimg [][]uint64
	bnul [][]bool
	cols []arrow.Array // the key columns of the batch being added
}

func newTopKeeper(order []kernel.SortRef, nullsFirst bool, n int64, keyCols []int) *topKeeper {
	k := len(order)
	return &topKeeper{order: order, nullsFirst: nullsFirst, n: int(min(n, 1<<30)), keyCols: keyCols,
		isStr: make([]bool, k), bimg: make([][]uint64, k), bnul: make([][]bool, k), cols: make([]arrow.Array, k)}
}

func (t *topKeeper) release() { t.store.release() }

// add folds rec (owned) into the kept rows.
func (t *topKeeper) add(rec arrow.RecordBatch) {
	s := t.store.push(rec)
	n := int(rec.NumRows())
	nk := len(t.order)
	keyImages(rec, t.order, t.cols, t.isStr, t.bimg, t.bnul)
	if len(t.keyCols) > 0 {
		if t.grouper == nil {
			t.grouper = kernel.NewGrouper(rec.Schema(), t.keyCols, false)
		}
		t.gids = t.grouper.IDs(rec, t.gids)
	} else {
		if cap(t.gids) < n {
			t.gids = make([]int32, n)
		}
		t.gids = t.gids[:n]
		clear(t.gids)
	}
	for i, g := range t.gids {
		for int(g) >= len(t.heaps) {
			t.heaps = append(t.heaps, nil)
		}
		hp := t.heaps[g]
		pos := t.seen + int64(i)
		if len(hp) < t.n {
			e := int32(len(t.ents))
			t.ents = append(t.ents, heldRow{slot: s, row: int32(i), pos: pos})
			for k := range nk {
				if t.isStr[k] {
					t.img, t.nul = append(t.img, 0), append(t.nul, false)
				} else {
					t.img, t.nul = append(t.img, t.bimg[k][i]), append(t.nul, t.bnul[k][i])
				}
			}
			t.store.slots[s].live++
			hp = append(hp, e)
			t.up(hp, len(hp)-1)
			t.heaps[g] = hp
			continue
		}
		top := hp[0]
		if t.cmpRow(i, top) >= 0 {
			continue
		}
		old := t.ents[top].slot
		t.ents[top] = heldRow{slot: s, row: int32(i), pos: pos}
		for k := range nk {
			if !t.isStr[k] {
				t.img[int(top)*nk+k], t.nul[int(top)*nk+k] = t.bimg[k][i], t.bnul[k][i]
			}
		}
		t.store.slots[s].live++
		t.store.unref(old)
		t.down(hp, 0)
	}
	t.seen += int64(n)
	t.store.unref(s) // unpin
}

// nullCmp orders a null against a value: nulls first or last.
func (t *topKeeper) nullCmp(xn, yn bool) (int, bool) {
	switch {
	case xn && yn:
		return 0, true
	case xn:
		if t.nullsFirst {
			return -1, true
		}
		return 1, true
	case yn:
		if t.nullsFirst {
			return 1, true
		}
		return -1, true
	}
	return 0, false
}

// cmpRow compares row i of the batch being added with entry e; a later
// row never beats an equal one.
func (t *topKeeper) cmpRow(i int, e int32) int {
	nk := len(t.order)
	en := t.ents[e]
	for k, sc := range t.order {
		var c int
		if t.isStr[k] {
			c = kernel.CompareValue(t.cols[k], i, t.store.slots[en.slot].rec.Column(sc.Col), int(en.row), sc.Desc, t.nullsFirst)
		} else if nc, ok := t.nullCmp(t.bnul[k][i], t.nul[int(e)*nk+k]); ok {
			c = nc
		} else {
			c = cmp.Compare(t.bimg[k][i], t.img[int(e)*nk+k])
		}
		if c != 0 {
			return c
		}
	}
	return 1
}

// cmpEnt compares entries a and b in (order, input position).
func (t *topKeeper) cmpEnt(a, b int32) int {
	nk := len(t.order)
	ea, eb := t.ents[a], t.ents[b]
	for k, sc := range t.order {
		var c int
		if t.isStr[k] {
			c = kernel.CompareValue(t.store.slots[ea.slot].rec.Column(sc.Col), int(ea.row), t.store.slots[eb.slot].rec.Column(sc.Col), int(eb.row), sc.Desc, t.nullsFirst)
		} else if nc, ok := t.nullCmp(t.nul[int(a)*nk+k], t.nul[int(b)*nk+k]); ok {
			c = nc
		} else {
			c = cmp.Compare(t.img[int(a)*nk+k], t.img[int(b)*nk+k])
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(ea.pos, eb.pos)
}

func (t *topKeeper) up(hp []int32, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if t.cmpEnt(hp[i], hp[p]) <= 0 {
			return
		}
		hp[i], hp[p] = hp[p], hp[i]
		i = p
	}
}

func (t *topKeeper) down(hp []int32, i int) {
	for {
		l, big := 2*i+1, i
		if l < len(hp) && t.cmpEnt(hp[l], hp[big]) > 0 {
			big = l
		}
		if r := l + 1; r < len(hp) && t.cmpEnt(hp[r], hp[big]) > 0 {
			big = r
		}
		if big == i {
			return
		}
		hp[i], hp[big] = hp[big], hp[i]
		i = big
	}
}

// compactAll copies the kept rows into one batch (in no particular order),
// releases the other batches and points the entries at it; nil when no row
// is kept.
func (t *topKeeper) compactAll(alloc memory.Allocator) (arrow.RecordBatch, error) {
	return t.store.compactRows(alloc, t.ents)
}

// addLast folds rec (owned) into the last n rows of each key: a row of a
// key that already has n rows replaces the oldest of them.
func (t *topKeeper) addLast(rec arrow.RecordBatch, rings *[]tailRing) {
	s := t.store.push(rec)
	n := int(rec.NumRows())
	if t.grouper == nil {
		t.grouper = kernel.NewGrouper(rec.Schema(), t.keyCols, false)
	}
	t.gids = t.grouper.IDs(rec, t.gids)
	for i, g := range t.gids {
		for int(g) >= len(*rings) {
			*rings = append(*rings, tailRing{})
		}
		r := &(*rings)[g]
		pos := t.seen + int64(i)
		t.store.slots[s].live++
		if len(r.ents) < t.n {
			r.ents = append(r.ents, int32(len(t.ents)))
			t.ents = append(t.ents, heldRow{slot: s, row: int32(i), pos: pos})
			continue
		}
		e := r.ents[r.start]
		r.start = (r.start + 1) % len(r.ents)
		old := t.ents[e].slot
		t.ents[e] = heldRow{slot: s, row: int32(i), pos: pos}
		t.store.unref(old)
	}
	t.seen += int64(n)
	t.store.unref(s) // unpin
}

// tailRing is a key's last rows: entry indexes, the oldest at start.
type tailRing struct {
	ents  []int32
	start int
}

// keyImages sets, for each sort key k of rec, cols[k] to its column and,
// when it is a string column, isStr[k]; for any other it fills img[k] and
// null[k] (grown as needed, rec's rows long) with the order-preserving
// image of each row's value (complemented when descending, 0 for a null)
// and whether it is null. TopN and RemoveDuplicates' best-row keeper
// compare rows by these images.
func keyImages(rec arrow.RecordBatch, order []kernel.SortRef, cols []arrow.Array, isStr []bool, img [][]uint64, null [][]bool) {
	n := int(rec.NumRows())
	for k, sc := range order {
		arr := rec.Column(sc.Col)
		cols[k] = arr
		if _, ok := arr.(*array.String); ok {
			isStr[k] = true
			continue
		}
		if cap(img[k]) < n {
			img[k], null[k] = make([]uint64, n), make([]bool, n)
		}
		im, nu := img[k][:n], null[k][:n]
		isNull, key := kernel.NullFunc(arr), kernel.OrderedUint64(arr)
		var mask uint64
		if sc.Desc {
			mask = ^uint64(0)
		}
		for i := range n {
			if nu[i] = isNull(i); !nu[i] {
				im[i] = key(int32(i)) ^ mask
			} else {
				im[i] = 0
			}
		}
	}
}
