package kernel

// Join keys shared by Joiner and Lookup: the key columns of a batch
// prepared for hashing, and a hash table over the rows of one input (the
// build side) probed with the rows of the other.

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// JoinKey is one key column of a batch prepared for hashing: string
// values (Strs), or every other type as an int64 (Ints): dates, timestamps
// and bools as their integer value, floats as their bits. A row is null when
// nulls[i] (nulls is nil when no row is).
type JoinKey struct {
	Ints  []int64
	Strs  *array.String
	nulls []bool
}

func (k *JoinKey) Null(i int) bool { return k.nulls != nil && k.nulls[i] }

// PrepareJoinKey prepares column arr for hashing. Float keys compare as
// numbers: -0 equals 0, and NaN, like null, equals nothing.
func PrepareJoinKey(arr arrow.Array) JoinKey {
	n := arr.Len()
	var k JoinKey
	if arr.NullN() > 0 {
		k.nulls = make([]bool, n)
		for i := range n {
			k.nulls[i] = arr.IsNull(i)
		}
	}
	switch a := arr.(type) {
	case *array.String:
		k.Strs = a
	case *array.Int64:
		k.Ints = a.Int64Values()
	case *array.Timestamp:
		k.Ints = make([]int64, n)
		for i, v := range a.TimestampValues() {
			k.Ints[i] = int64(v)
		}
	case *array.Date32:
		k.Ints = make([]int64, n)
		for i, v := range a.Date32Values() {
			k.Ints[i] = int64(v)
		}
	case *array.Boolean:
		k.Ints = make([]int64, n)
		for i := range n {
			if a.Value(i) {
				k.Ints[i] = 1
			}
		}
	case *array.Float64:
		k.Ints = make([]int64, n)
		for i, v := range a.Float64Values() {
			if v != v { // NaN
				if k.nulls == nil {
					k.nulls = make([]bool, n)
				}
				k.nulls[i] = true
				continue
			}
			if v == 0 {
				v = 0 // -0 hashes as 0
			}
			k.Ints[i] = int64(math.Float64bits(v))
		}
	default:
		// Plan rejects other types; this is a bug if reached.
		panic(fmt.Sprintf("join key of unsupported type %s", arr.DataType()))
	}
	return k
}

// HashTable maps the key of every build row to the rows holding it: head
// gives the first such row, next[row] the following one (-1 ends the chain),
// in build order. One map entry per distinct key and one int32 per row,
// rather than a slice per key.
//
// A single non-string key hashes as an int64 (or indexes an array when its
// values are dense), a single string key as a string, several keys as one
// byte string encoding them all.
type HashTable struct {
	dense []int32 // dense[v-min]: head of int key v, when keys are dense
	min   int64
	ints  map[int64]int32
	strs  map[string]int32
	Next  []int32
	enc   []byte // probe scratch for encoded keys
}

// NewHashTable indexes the rows of the build-side key columns.
func NewHashTable(cols []arrow.Array) *HashTable {
	n := 0
	if len(cols) > 0 {
		n = cols[0].Len()
	}
	keys := make([]JoinKey, len(cols))
	for c, arr := range cols {
		keys[c] = PrepareJoinKey(arr)
	}
	h := &HashTable{Next: make([]int32, n)}
	// Rows are inserted last to first so that each chain lists rows in
	// build order.
	switch {
	case len(keys) == 1 && keys[0].Strs == nil:
		k := keys[0]
		if h.makeDense(k) {
			for i := n - 1; i >= 0; i-- {
				if k.Null(i) {
					h.Next[i] = -1
					continue
				}
				slot := &h.dense[k.Ints[i]-h.min]
				h.Next[i] = *slot
				*slot = int32(i)
			}
			break
		}
		h.ints = make(map[int64]int32)
		for i := n - 1; i >= 0; i-- {
			if k.Null(i) {
				h.Next[i] = -1
				continue
			}
			h.Next[i] = h.headInt(k.Ints[i])
			h.ints[k.Ints[i]] = int32(i)
		}
	case len(keys) == 1:
		// The map keeps strings that must outlive the build batch's
		// buffers: copy all the values once and slice that copy.
		k := keys[0]
		all := string(k.Strs.ValueBytes())
		offs := k.Strs.ValueOffsets()
		h.strs = make(map[string]int32)
		for i := n - 1; i >= 0; i-- {
			if k.Null(i) {
				h.Next[i] = -1
				continue
			}
			s := all[offs[i]-offs[0] : offs[i+1]-offs[0]]
			h.Next[i] = h.headStr(s)
			h.strs[s] = int32(i)
		}
	default:
		var buf []byte
		ends := make([]int, n)
		ok := make([]bool, n)
		for i := range n {
			buf, ok[i] = EncodeJoinKey(buf, keys, i)
			ends[i] = len(buf)
		}
		all := string(buf)
		h.strs = make(map[string]int32)
		for i := n - 1; i >= 0; i-- {
			if !ok[i] {
				h.Next[i] = -1
				continue
			}
			start := 0
			if i > 0 {
				start = ends[i-1]
			}
			s := all[start:ends[i]]
			h.Next[i] = h.headStr(s)
			h.strs[s] = int32(i)
		}
	}
	return h
}

// makeDense chooses, for a single integer key whose values span a range
// not much larger than the number of rows (ids, typically), an array
// indexed by value rather than a map: no hashing, fewer cache misses.
func (h *HashTable) makeDense(k JoinKey) bool {
	lo, hi, seen := int64(0), int64(0), false
	for i, v := range k.Ints {
		if k.Null(i) {
			continue
		}
		if !seen || v < lo {
			lo = v
		}
		if !seen || v > hi {
			hi = v
		}
		seen = true
	}
	// hi-lo may overflow an int64 but not a uint64.
	if !seen || uint64(hi)-uint64(lo) >= uint64(4*len(k.Ints)+1024) {
		return false
	}
	h.min = lo
	h.dense = make([]int32, hi-lo+1)
	for i := range h.dense {
		h.dense[i] = -1
	}
	return true
}

func (h *HashTable) headInt(v int64) int32 {
	if h.dense != nil {
		// Out-of-range values wrap around to a large uint64.
		if d := uint64(v - h.min); d < uint64(len(h.dense)) {
			return h.dense[d]
		}
		return -1
	}
	if r, ok := h.ints[v]; ok {
		return r
	}
	return -1
}

func (h *HashTable) headStr(s string) int32 {
	if r, ok := h.strs[s]; ok {
		return r
	}
	return -1
}

// EncodeJoinKey appends row i of the key columns to dst: 8 bytes for a
// non-string value, a length and the bytes for a string. It reports false
// (the row matches nothing) when a key value is null.
func EncodeJoinKey(dst []byte, keys []JoinKey, i int) ([]byte, bool) {
	start := len(dst)
	for c := range keys {
		k := &keys[c]
		if k.Null(i) {
			return dst[:start], false
		}
		if k.Strs != nil {
			s := k.Strs.Value(i)
			dst = binary.AppendUvarint(dst, uint64(len(s)))
			dst = append(dst, s...)
		} else {
			dst = binary.LittleEndian.AppendUint64(dst, uint64(k.Ints[i]))
		}
	}
	return dst, true
}

// probe sets heads[i] to the first build row matching row i of the probe
// key columns, or -1, and returns heads.
func (h *HashTable) Probe(cols []arrow.Array, heads []int32) []int32 {
	n := cols[0].Len()
	heads = heads[:0]
	keys := make([]JoinKey, len(cols))
	for c, arr := range cols {
		keys[c] = PrepareJoinKey(arr)
	}
	switch {
	case len(keys) == 1 && keys[0].Strs == nil:
		k := keys[0]
		if k.nulls == nil {
			for _, v := range k.Ints[:n] {
				heads = append(heads, h.headInt(v))
			}
			break
		}
		for i := range n {
			if k.nulls[i] {
				heads = append(heads, -1)
			} else {
				heads = append(heads, h.headInt(k.Ints[i]))
			}
		}
	case len(keys) == 1:
		k := keys[0]
		for i := range n {
			if k.Null(i) {
				heads = append(heads, -1)
			} else {
				heads = append(heads, h.headStr(k.Strs.Value(i)))
			}
		}
	default:
		for i := range n {
			var ok bool
			h.enc, ok = EncodeJoinKey(h.enc[:0], keys, i)
			if !ok {
				heads = append(heads, -1)
				continue
			}
			heads = append(heads, h.headStr(string(h.enc)))
		}
	}
	return heads
}

// FormatKey shows the key of row i for a message: user_id=42, or
// (user_id=42, country='ES') for several columns.
func FormatKey(names []string, cols []arrow.Array, i int) string {
	parts := make([]string, len(cols))
	for c, arr := range cols {
		parts[c] = names[c] + "=" + FormatValue(arr, i)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// FormatValue shows value i of arr: null, 42, 'text', 2024-01-31.
func FormatValue(arr arrow.Array, i int) string {
	if arr.IsNull(i) {
		return "null"
	}
	switch a := arr.(type) {
	case *array.String:
		return "'" + a.Value(i) + "'"
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'g', -1, 64)
	case *array.Boolean:
		return strconv.FormatBool(a.Value(i))
	case *array.Date32:
		return a.Value(i).ToTime().Format("2006-01-02")
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return a.Value(i).ToTime(unit).UTC().Format(time.RFC3339Nano)
	}
	return arr.ValueStr(i)
}

// Columns returns the columns idx of rec.
func Columns(rec arrow.RecordBatch, idx []int) []arrow.Array {
	cols := make([]arrow.Array, len(idx))
	for k, i := range idx {
		cols[k] = rec.Column(i)
	}
	return cols
}

// ConcatBuild returns batches (of schema) as one batch to index with a
// HashTable; the caller keeps its references to batches and releases the
// result. what names the batches in an error.
func ConcatBuild(alloc memory.Allocator, batches []arrow.RecordBatch, schema *arrow.Schema, what string) (arrow.RecordBatch, error) {
	var rows int64
	for _, b := range batches {
		rows += b.NumRows()
	}
	if rows > math.MaxInt32 {
		return nil, fmt.Errorf("%s has %d rows, more than the %d an in-memory hash table can index; filter rows upstream", what, rows, math.MaxInt32)
	}
	if len(batches) == 0 {
		cols := make([]arrow.Array, schema.NumFields())
		for c, f := range schema.Fields() {
			cols[c] = array.MakeArrayOfNull(alloc, f.Type, 0)
		}
		rec := array.NewRecordBatch(schema, cols, 0)
		for _, c := range cols {
			c.Release()
		}
		return rec, nil
	}
	for _, b := range batches {
		b.Retain()
	}
	rec, err := Concat(batches, alloc)
	if err != nil {
		return nil, fmt.Errorf("concatenating %s: %w", what, err)
	}
	return rec, nil
}
