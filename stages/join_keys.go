package stages

// Key handling shared by Joiner and Lookup: resolving and type-checking the
// key columns of two inputs at Plan time, and a hash table over the rows of
// one input (the build side) probed with the rows of the other.

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/open-stage/openstage"
)

// joinTypeFix is the advice given when the key columns of two inputs differ in type.
const joinTypeFix = "convert one side (Transformer derive or CSVOrigin column types) so both have the same type"

// joinSide names one input of a two-input stage in messages: its role in the
// stage ("left", "reference", ...) and its pipe.
type joinSide struct {
	role string
	port openstage.Port
}

// joinCheckColumns reports a column of a type the stages cannot carry (Take
// handles only Open-Stage's types).
func joinCheckColumns(s joinSide) error {
	for _, f := range s.port.Schema.Fields() {
		if !openstage.Supported(f.Type) {
			return fmt.Errorf("%s pipe '%s': column '%s' has type %s, which Open-Stage stages do not handle; convert it to one of %s upstream",
				s.role, s.port.Pipe, f.Name, f.Type, strings.Join(openstage.TypeNames(), ", "))
		}
	}
	return nil
}

// joinResolveKeys finds the key columns of both sides (lkeys[i] pairs with
// rkeys[i]) and checks that paired columns have the same type.
func joinResolveKeys(l, r joinSide, lkeys, rkeys []string) (li, ri []int, err error) {
	if li, err = joinKeyIndexes(l, lkeys); err != nil {
		return nil, nil, err
	}
	if ri, err = joinKeyIndexes(r, rkeys); err != nil {
		return nil, nil, err
	}
	for k := range li {
		lt, rt := l.port.Schema.Field(li[k]).Type, r.port.Schema.Field(ri[k]).Type
		if arrow.TypeEqual(lt, rt) {
			continue
		}
		ln, rn := joinTypeNames(lt, rt)
		if lkeys[k] == rkeys[k] {
			return nil, nil, fmt.Errorf("key '%s' is %s in pipe '%s' but %s in pipe '%s'; %s",
				lkeys[k], ln, l.port.Pipe, rn, r.port.Pipe, joinTypeFix)
		}
		return nil, nil, fmt.Errorf("key '%s' is %s in pipe '%s' but key '%s' is %s in pipe '%s'; %s",
			lkeys[k], ln, l.port.Pipe, rkeys[k], rn, r.port.Pipe, joinTypeFix)
	}
	return li, ri, nil
}

func joinKeyIndexes(s joinSide, keys []string) ([]int, error) {
	idx := make([]int, len(keys))
	for k, name := range keys {
		i, err := openstage.FieldIndex(s.port.Schema, name)
		if err != nil {
			return nil, fmt.Errorf("%s pipe '%s': key %w", s.role, s.port.Pipe, err)
		}
		for _, prev := range keys[:k] {
			if prev == name {
				return nil, fmt.Errorf("%s key column '%s' is listed twice", s.role, name)
			}
		}
		idx[k] = i
	}
	return idx, nil
}

// joinTypeNames names two different types for a message; when their job-file
// names are the same (timestamps in two time zones), it uses Arrow's names.
func joinTypeNames(a, b arrow.DataType) (string, string) {
	an, bn := openstage.TypeName(a), openstage.TypeName(b)
	if an == bn {
		return a.String(), b.String()
	}
	return an, bn
}

// joinListPipes lists pipe names for a message: 'a', 'b'.
func joinListPipes(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return strings.Join(q, ", ")
}

// joinPipeParam checks that parameter param names one of the pipes.
func joinPipeParam(param, value, kind string, pipes []string) error {
	if value == "" {
		return fmt.Errorf("parameter '%s' is required: the name of the %s pipe; connected %ss: %s", param, param, kind, joinListPipes(pipes))
	}
	for _, p := range pipes {
		if p == value {
			return nil
		}
	}
	msg := fmt.Sprintf("%s pipe '%s' is not connected to this stage; its %ss are %s", param, value, kind, joinListPipes(pipes))
	if s := openstage.Suggest(value, pipes); s != "" {
		msg += fmt.Sprintf(" (did you mean '%s'?)", s)
	}
	return fmt.Errorf("%s", msg)
}

// joinKeyCol is one key column of a batch prepared for hashing: string
// values (strs), or every other type as an int64 (ints): dates, timestamps
// and bools as their integer value, floats as their bits. A row is null when
// nulls[i] (nulls is nil when no row is).
type joinKeyCol struct {
	ints  []int64
	strs  *array.String
	nulls []bool
}

func (k *joinKeyCol) null(i int) bool { return k.nulls != nil && k.nulls[i] }

// joinPrepareKey prepares column arr for hashing. Float keys compare as
// numbers: -0 equals 0, and NaN, like null, equals nothing.
func joinPrepareKey(arr arrow.Array) joinKeyCol {
	n := arr.Len()
	var k joinKeyCol
	if arr.NullN() > 0 {
		k.nulls = make([]bool, n)
		for i := range n {
			k.nulls[i] = arr.IsNull(i)
		}
	}
	switch a := arr.(type) {
	case *array.String:
		k.strs = a
	case *array.Int64:
		k.ints = a.Int64Values()
	case *array.Timestamp:
		k.ints = make([]int64, n)
		for i, v := range a.TimestampValues() {
			k.ints[i] = int64(v)
		}
	case *array.Date32:
		k.ints = make([]int64, n)
		for i, v := range a.Date32Values() {
			k.ints[i] = int64(v)
		}
	case *array.Boolean:
		k.ints = make([]int64, n)
		for i := range n {
			if a.Value(i) {
				k.ints[i] = 1
			}
		}
	case *array.Float64:
		k.ints = make([]int64, n)
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
			k.ints[i] = int64(math.Float64bits(v))
		}
	default:
		// Plan rejects other types; this is a bug if reached.
		panic(fmt.Sprintf("join key of unsupported type %s", arr.DataType()))
	}
	return k
}

// joinHashTable maps the key of every build row to the rows holding it: head
// gives the first such row, next[row] the following one (-1 ends the chain),
// in build order. One map entry per distinct key and one int32 per row,
// rather than a slice per key.
//
// A single non-string key hashes as an int64 (or indexes an array when its
// values are dense), a single string key as a string, several keys as one
// byte string encoding them all.
type joinHashTable struct {
	dense []int32 // dense[v-min]: head of int key v, when keys are dense
	min   int64
	ints  map[int64]int32
	strs  map[string]int32
	next  []int32
	enc   []byte // probe scratch for encoded keys
}

// newJoinHashTable indexes the rows of the build-side key columns.
func newJoinHashTable(cols []arrow.Array) *joinHashTable {
	n := 0
	if len(cols) > 0 {
		n = cols[0].Len()
	}
	keys := make([]joinKeyCol, len(cols))
	for c, arr := range cols {
		keys[c] = joinPrepareKey(arr)
	}
	h := &joinHashTable{next: make([]int32, n)}
	// Rows are inserted last to first so that each chain lists rows in
	// build order.
	switch {
	case len(keys) == 1 && keys[0].strs == nil:
		k := keys[0]
		if h.makeDense(k) {
			for i := n - 1; i >= 0; i-- {
				if k.null(i) {
					h.next[i] = -1
					continue
				}
				slot := &h.dense[k.ints[i]-h.min]
				h.next[i] = *slot
				*slot = int32(i)
			}
			break
		}
		h.ints = make(map[int64]int32)
		for i := n - 1; i >= 0; i-- {
			if k.null(i) {
				h.next[i] = -1
				continue
			}
			h.next[i] = h.headInt(k.ints[i])
			h.ints[k.ints[i]] = int32(i)
		}
	case len(keys) == 1:
		// The map keeps strings that must outlive the build batch's
		// buffers: copy all the values once and slice that copy.
		k := keys[0]
		all := string(k.strs.ValueBytes())
		offs := k.strs.ValueOffsets()
		h.strs = make(map[string]int32)
		for i := n - 1; i >= 0; i-- {
			if k.null(i) {
				h.next[i] = -1
				continue
			}
			s := all[offs[i]-offs[0] : offs[i+1]-offs[0]]
			h.next[i] = h.headStr(s)
			h.strs[s] = int32(i)
		}
	default:
		var buf []byte
		ends := make([]int, n)
		ok := make([]bool, n)
		for i := range n {
			buf, ok[i] = joinEncodeKey(buf, keys, i)
			ends[i] = len(buf)
		}
		all := string(buf)
		h.strs = make(map[string]int32)
		for i := n - 1; i >= 0; i-- {
			if !ok[i] {
				h.next[i] = -1
				continue
			}
			start := 0
			if i > 0 {
				start = ends[i-1]
			}
			s := all[start:ends[i]]
			h.next[i] = h.headStr(s)
			h.strs[s] = int32(i)
		}
	}
	return h
}

// makeDense chooses, for a single integer key whose values span a range
// not much larger than the number of rows (ids, typically), an array
// indexed by value rather than a map: no hashing, fewer cache misses.
func (h *joinHashTable) makeDense(k joinKeyCol) bool {
	lo, hi, seen := int64(0), int64(0), false
	for i, v := range k.ints {
		if k.null(i) {
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
	if !seen || uint64(hi)-uint64(lo) >= uint64(4*len(k.ints)+1024) {
		return false
	}
	h.min = lo
	h.dense = make([]int32, hi-lo+1)
	for i := range h.dense {
		h.dense[i] = -1
	}
	return true
}

func (h *joinHashTable) headInt(v int64) int32 {
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

func (h *joinHashTable) headStr(s string) int32 {
	if r, ok := h.strs[s]; ok {
		return r
	}
	return -1
}

// joinEncodeKey appends row i of the key columns to dst: 8 bytes for a
// non-string value, a length and the bytes for a string. It reports false
// (the row matches nothing) when a key value is null.
func joinEncodeKey(dst []byte, keys []joinKeyCol, i int) ([]byte, bool) {
	start := len(dst)
	for c := range keys {
		k := &keys[c]
		if k.null(i) {
			return dst[:start], false
		}
		if k.strs != nil {
			s := k.strs.Value(i)
			dst = binary.AppendUvarint(dst, uint64(len(s)))
			dst = append(dst, s...)
		} else {
			dst = binary.LittleEndian.AppendUint64(dst, uint64(k.ints[i]))
		}
	}
	return dst, true
}

// probe sets heads[i] to the first build row matching row i of the probe
// key columns, or -1, and returns heads.
func (h *joinHashTable) probe(cols []arrow.Array, heads []int32) []int32 {
	n := cols[0].Len()
	heads = heads[:0]
	keys := make([]joinKeyCol, len(cols))
	for c, arr := range cols {
		keys[c] = joinPrepareKey(arr)
	}
	switch {
	case len(keys) == 1 && keys[0].strs == nil:
		k := keys[0]
		if k.nulls == nil {
			for _, v := range k.ints[:n] {
				heads = append(heads, h.headInt(v))
			}
			break
		}
		for i := range n {
			if k.nulls[i] {
				heads = append(heads, -1)
			} else {
				heads = append(heads, h.headInt(k.ints[i]))
			}
		}
	case len(keys) == 1:
		k := keys[0]
		for i := range n {
			if k.null(i) {
				heads = append(heads, -1)
			} else {
				heads = append(heads, h.headStr(k.strs.Value(i)))
			}
		}
	default:
		for i := range n {
			var ok bool
			h.enc, ok = joinEncodeKey(h.enc[:0], keys, i)
			if !ok {
				heads = append(heads, -1)
				continue
			}
			heads = append(heads, h.headStr(string(h.enc)))
		}
	}
	return heads
}

// joinFormatKey shows the key of row i for a message: user_id=42, or
// (user_id=42, country='ES') for several columns.
func joinFormatKey(names []string, cols []arrow.Array, i int) string {
	parts := make([]string, len(cols))
	for c, arr := range cols {
		parts[c] = names[c] + "=" + joinFormatValue(arr, i)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// joinFormatValue shows value i of arr: null, 42, 'text', 2024-01-31.
func joinFormatValue(arr arrow.Array, i int) string {
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

// joinColumns returns the columns idx of rec.
func joinColumns(rec arrow.RecordBatch, idx []int) []arrow.Array {
	cols := make([]arrow.Array, len(idx))
	for k, i := range idx {
		cols[k] = rec.Column(i)
	}
	return cols
}

// joinCount says "1 column", "2 columns".
func joinCount(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
