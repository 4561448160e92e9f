package kernel

// Grouping kernel shared by Aggregator and RemoveDuplicates: it gives every
// row a dense group id (0, 1, 2, ... in order of first appearance) from the
// values of its key columns. Nulls (and float NaN) in a key are a value of
// their own, equal to each other.
//
// Hash tables are typed: a single int-like key (int64, date, timestamp)
// uses map[int64]int32, a single string key map[string]int32 looked up with
// the batch's own bytes (a string is allocated only for a new group), a
// single float key map[float64]int32, a bool key a three-slot array. Several
// keys are encoded into a reusable byte buffer (a tag byte per key, then 8
// bytes for fixed-width values or a length and the bytes of a string) and
// looked up in map[string]int32 the same way.

import (
	"encoding/binary"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

type KeyKind uint8

const (
	KeyInt KeyKind = iota // int64, date, timestamp
	KeyFloat
	KeyString
	KeyBool
)

func KeyKindOf(t arrow.DataType) (KeyKind, bool) {
	switch t.ID() {
	case arrow.INT64, arrow.DATE32, arrow.TIMESTAMP:
		return KeyInt, true
	case arrow.FLOAT64:
		return KeyFloat, true
	case arrow.STRING:
		return KeyString, true
	case arrow.BOOL:
		return KeyBool, true
	case arrow.DICTIONARY: // a dictionary-encoded string column (openstage.DictionaryStrings)
		if t.(*arrow.DictionaryType).ValueType.ID() == arrow.STRING {
			return KeyString, true
		}
	}
	return 0, false
}

// StrAt returns value i of a string column, plain or dictionary-encoded
// (the row must be valid).
func StrAt(arr arrow.Array, i int) string {
	if a, ok := arr.(*array.String); ok {
		return a.Value(i)
	}
	d := arr.(*array.Dictionary)
	return d.Dictionary().(*array.String).Value(d.GetValueIndex(i))
}

// KeyValues holds the key value of every group for one key column.
type KeyValues struct {
	typ    arrow.DataType
	kind   KeyKind
	ints   []int64
	floats []float64
	strs   []string
	valid  []bool
	bytes  int64 // of the strings
}

func (k *KeyValues) appendNull() {
	switch k.kind {
	case KeyInt, KeyBool:
		k.ints = append(k.ints, 0)
	case KeyFloat:
		k.floats = append(k.floats, 0)
	case KeyString:
		k.strs = append(k.strs, "")
	}
	k.valid = append(k.valid, false)
}

// appendFrom stores value i of arr (which must be valid and, for floats, not NaN).
func (k *KeyValues) appendFrom(arr arrow.Array, i int) {
	switch k.kind {
	case KeyInt, KeyBool:
		k.ints = append(k.ints, Int64At(arr, i))
	case KeyFloat:
		v, _ := FloatKey(arr.(*array.Float64).Value(i))
		k.floats = append(k.floats, v)
	case KeyString:
		v := strings.Clone(StrAt(arr, i))
		k.strs = append(k.strs, v)
		k.bytes += int64(len(v))
	}
	k.valid = append(k.valid, true)
}

func (k *KeyValues) build(alloc memory.Allocator) arrow.Array {
	switch k.kind {
	case KeyFloat:
		return BuildFloat64(alloc, k.floats, k.valid)
	case KeyString:
		return BuildString(alloc, k.strs, k.valid)
	}
	return BuildInt64Like(alloc, k.typ, k.ints, k.valid)
}

// Grouper assigns group ids.
type Grouper struct {
	cols  []int
	kinds []KeyKind
	store bool // keep each group's key values (Aggregator); RemoveDuplicates does not
	n     int32
	// frozen: no new groups; a row of an unknown key gets id -1 (the
	// Aggregator past its memory budget, which spills those rows).
	Frozen bool

	ints   map[int64]int32
	floats map[float64]int32
	strs   map[string]int32
	bools  [3]int32 // false, true, null; -1 when not seen
	nullID int32    // single-key null group; -1 when not seen

	// A single int-like key whose values of the first batch span a small
	// range also gets a direct-index table over about twice that range,
	// which beats hashing for the usual dense ids; values outside it go to
	// the map.
	dense      []int32
	denseMin   int64
	denseTried bool
	multi      map[string]int32
	buf        []byte
	dictMap    []int32 // idsDict: the group of each dictionary value of the batch

	keys []KeyValues
}

// NewGrouper returns a grouper over columns cols of schema s. With no
// columns every row is in group 0.
func NewGrouper(s *arrow.Schema, cols []int, store bool) *Grouper {
	g := &Grouper{cols: cols, store: store, nullID: -1, bools: [3]int32{-1, -1, -1}}
	for _, c := range cols {
		t := s.Field(c).Type
		kind, _ := KeyKindOf(t)
		g.kinds = append(g.kinds, kind)
		g.keys = append(g.keys, KeyValues{typ: t, kind: kind})
	}
	switch {
	case len(cols) != 1:
		g.multi = map[string]int32{}
	case g.kinds[0] == KeyInt:
		g.ints = map[int64]int32{}
	case g.kinds[0] == KeyFloat:
		g.floats = map[float64]int32{}
	case g.kinds[0] == KeyString:
		g.strs = map[string]int32{}
	}
	return g
}

// groups returns the number of groups so far.
func (g *Grouper) Groups() int { return int(g.n) }

// newGroup creates a group whose key values are those of row i of rec.
func (g *Grouper) newGroup(rec arrow.RecordBatch, i int) int32 {
	if g.Frozen {
		return -1
	}
	id := g.n
	g.n++
	if g.store {
		for k, c := range g.cols {
			arr := rec.Column(c)
			if arr.IsNull(i) || (g.kinds[k] == KeyFloat && math.IsNaN(arr.(*array.Float64).Value(i))) {
				g.keys[k].appendNull()
			} else {
				g.keys[k].appendFrom(arr, i)
			}
		}
	}
	return id
}

// ids writes the group id of every row of rec into gids (grown as needed)
// and returns it.
func (g *Grouper) IDs(rec arrow.RecordBatch, gids []int32) []int32 {
	n := int(rec.NumRows())
	if cap(gids) < n {
		gids = make([]int32, n)
	}
	gids = gids[:n]
	if len(g.cols) == 0 {
		if g.n == 0 && n > 0 {
			g.n = 1
		}
		clear(gids)
		return gids
	}
	if len(g.cols) > 1 {
		g.idsMulti(rec, gids)
		return gids
	}
	arr := rec.Column(g.cols[0])
	switch a := arr.(type) {
	case *array.Int64:
		GroupInts(g, rec, a.Int64Values(), arr, gids)
	case *array.Date32:
		GroupInts(g, rec, a.Date32Values(), arr, gids)
	case *array.Timestamp:
		GroupInts(g, rec, a.TimestampValues(), arr, gids)
	case *array.Float64:
		g.idsFloat(rec, a, gids)
	case *array.String:
		g.idsString(rec, a, gids)
	case *array.Dictionary:
		g.idsDict(rec, a, gids)
	case *array.Boolean:
		g.idsBool(rec, a, gids)
	}
	return gids
}

func (g *Grouper) nullGroup(rec arrow.RecordBatch, i int) int32 {
	if g.nullID < 0 {
		g.nullID = g.newGroup(rec, i)
	}
	return g.nullID
}

func GroupInts[T ~int32 | ~int64](g *Grouper, rec arrow.RecordBatch, vals []T, arr arrow.Array, gids []int32) {
	bits, off := ValidBits(arr)
	if !g.denseTried {
		g.denseTried = true
		g.initDense(vals, bits, off)
	}
	n := uint64(len(g.dense))
	// Sorted or clustered input repeats keys; remembering the last one
	// skips most map lookups then.
	var last int64
	lastID := int32(-1)
	for i, tv := range vals {
		if !IsValid(bits, off, i) {
			gids[i] = g.nullGroup(rec, i)
			continue
		}
		v := int64(tv)
		if d := uint64(v) - uint64(g.denseMin); v >= g.denseMin && d < n {
			id := g.dense[d]
			if id < 0 {
				id = g.newGroup(rec, i)
				g.dense[d] = id
			}
			gids[i] = id
			continue
		}
		if v == last && lastID >= 0 {
			gids[i] = lastID
			continue
		}
		id, ok := g.ints[v]
		if !ok {
			id = g.newGroup(rec, i)
			if id >= 0 {
				g.ints[v] = id
			}
		}
		gids[i] = id
		last, lastID = v, id
	}
}

// initDense sets up the direct-index table when the values of the first
// batch span less than 2^20.
func (g *Grouper) initDense(vals any, bits []byte, off int) {
	lo, hi, seen := int64(0), int64(0), false
	visit := func(v int64) {
		if !seen {
			lo, hi, seen = v, v, true
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	switch vs := vals.(type) {
	case []int64:
		for i, v := range vs {
			if IsValid(bits, off, i) {
				visit(v)
			}
		}
	case []arrow.Date32:
		for i, v := range vs {
			if IsValid(bits, off, i) {
				visit(int64(v))
			}
		}
	case []arrow.Timestamp:
		for i, v := range vs {
			if IsValid(bits, off, i) {
				visit(int64(v))
			}
		}
	}
	if !seen || hi-lo < 0 || hi-lo >= 1<<20 {
		return
	}
	size := max(2*(hi-lo+1), 1<<12)
	g.dense = make([]int32, size)
	for i := range g.dense {
		g.dense[i] = -1
	}
	g.denseMin = lo - (size-(hi-lo+1))/2 // room on both sides
	if g.denseMin > lo {                 // overflow near MinInt64
		g.denseMin = lo
	}
}

func (g *Grouper) idsFloat(rec arrow.RecordBatch, a *array.Float64, gids []int32) {
	bits, off := ValidBits(a)
	for i, raw := range a.Float64Values() {
		v, ok := FloatKey(raw)
		if !ok || !IsValid(bits, off, i) {
			gids[i] = g.nullGroup(rec, i)
			continue
		}
		id, found := g.floats[v]
		if !found {
			id = g.newGroup(rec, i)
			if id >= 0 {
				g.floats[v] = id
			}
		}
		gids[i] = id
	}
}

func (g *Grouper) idsString(rec arrow.RecordBatch, a *array.String, gids []int32) {
	bits, off := ValidBits(a)
	for i := range a.Len() {
		if !IsValid(bits, off, i) {
			gids[i] = g.nullGroup(rec, i)
			continue
		}
		s := a.Value(i) // points into the batch: no allocation for a lookup
		id, ok := g.strs[s]
		if !ok {
			id = g.newGroup(rec, i)
			if id >= 0 {
				g.strs[strings.Clone(s)] = id
			}
		}
		gids[i] = id
	}
}

// idsDict groups a dictionary-encoded string column: each value of the
// batch's dictionary that a row uses is looked up once, then every row
// takes the group of its index.
func (g *Grouper) idsDict(rec arrow.RecordBatch, a *array.Dictionary, gids []int32) {
	vals := a.Dictionary().(*array.String)
	idx := a.Indices().(*array.Int32).Int32Values()
	m := g.dictMap[:0]
	for range vals.Len() {
		m = append(m, -2) // not looked up yet
	}
	g.dictMap = m
	bits, off := ValidBits(a)
	for i, k := range idx {
		if !IsValid(bits, off, i) {
			gids[i] = g.nullGroup(rec, i)
			continue
		}
		id := m[k]
		if id == -2 {
			s := vals.Value(int(k))
			var ok bool
			if id, ok = g.strs[s]; !ok {
				id = g.newGroup(rec, i)
				if id >= 0 {
					g.strs[strings.Clone(s)] = id
				}
			}
			m[k] = id
		}
		gids[i] = id
	}
}

func (g *Grouper) idsBool(rec arrow.RecordBatch, a *array.Boolean, gids []int32) {
	for i := range a.Len() {
		slot := 2
		if a.IsValid(i) {
			slot = B2i(a.Value(i))
		}
		if g.bools[slot] < 0 {
			g.bools[slot] = g.newGroup(rec, i)
		}
		gids[i] = g.bools[slot]
	}
}

// KeyEncoder appends the encoding of row i of one key column to buf.
type KeyEncoder func(buf []byte, i int) []byte

func NewKeyEncoder(arr arrow.Array) KeyEncoder {
	bits, off := ValidBits(arr)
	switch a := arr.(type) {
	case *array.Int64, *array.Date32, *array.Timestamp, *array.Boolean:
		return func(buf []byte, i int) []byte {
			if !IsValid(bits, off, i) {
				return append(buf, 0)
			}
			return binary.LittleEndian.AppendUint64(append(buf, 1), uint64(Int64At(a, i)))
		}
	case *array.Float64:
		return func(buf []byte, i int) []byte {
			v, ok := FloatKey(a.Value(i))
			if !ok || !IsValid(bits, off, i) {
				return append(buf, 0)
			}
			return binary.LittleEndian.AppendUint64(append(buf, 1), math.Float64bits(v))
		}
	case *array.String, *array.Dictionary:
		return func(buf []byte, i int) []byte {
			if !IsValid(bits, off, i) {
				return append(buf, 0)
			}
			s := StrAt(a, i)
			buf = binary.AppendUvarint(append(buf, 1), uint64(len(s)))
			return append(buf, s...)
		}
	}
	return nil
}

func (g *Grouper) idsMulti(rec arrow.RecordBatch, gids []int32) {
	encs := make([]KeyEncoder, len(g.cols))
	for k, c := range g.cols {
		encs[k] = NewKeyEncoder(rec.Column(c))
	}
	for i := range gids {
		buf := g.buf[:0]
		for _, enc := range encs {
			buf = enc(buf, i)
		}
		g.buf = buf
		id, ok := g.multi[string(buf)] // no allocation for the lookup
		if !ok {
			id = g.newGroup(rec, i)
			if id >= 0 {
				g.multi[string(buf)] = id
			}
		}
		gids[i] = id
	}
}

// heldBytes estimates the memory of the groups: hash table entries and key
// values.
func (g *Grouper) HeldBytes() int64 {
	n := int64(g.n) * int64(48+16*len(g.cols))
	for _, k := range g.keys {
		n += 2 * k.bytes // the key values and the map's copy
	}
	if g.multi != nil {
		n += int64(g.n) * int64(len(g.buf))
	}
	return n + int64(len(g.dense))*4
}

// keyArrays returns the key columns of the groups, in group id order.
func (g *Grouper) KeyArrays(alloc memory.Allocator) []arrow.Array {
	out := make([]arrow.Array, len(g.keys))
	for i := range g.keys {
		out[i] = g.keys[i].build(alloc)
	}
	return out
}
