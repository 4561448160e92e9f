package kernel

// Sorting kernel shared by Sort, RemoveDuplicates (sort_by) and Aggregator
// (ordering the groups by key). It returns a stable permutation of the rows
// of single-chunk columns.
//
// Order: numbers and dates by value, strings bytewise (UTF-8 byte order, as
// SQLite's BINARY collation and pandas), false before true. Nulls (and float
// NaN, as pandas) go first or last whatever the direction of the key. Equal
// keys keep their input order.
//
// Method: a least-significant-key-first sequence of stable sorts, one per
// key, each O(n) for the usual keys. A key's non-null rows are stably sorted
// by an LSD radix sort of order-preserving uint64 images of their values
// (int64, date, timestamp, bool, float64 with -0 = 0), skipping the bytes
// every value shares; string keys are first dictionary-encoded (the distinct
// strings are sorted once and each row gets its string's rank) and then
// radix-sorted, unless they have too many distinct values, in which case
// (string, position) pairs are sorted by pdqsort. The key's null rows are
// then put first or last, in their current order.

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// SortCol is one sort key.
type SortCol struct {
	Arr  arrow.Array
	Desc bool
}

// NullFunc returns a test for "row i of arr is null or a float NaN".
func NullFunc(arr arrow.Array) func(i int) bool {
	bits, off := ValidBits(arr)
	if f, ok := arr.(*array.Float64); ok {
		v := f.Float64Values()
		return func(i int) bool { return !IsValid(bits, off, i) || v[i] != v[i] }
	}
	if bits == nil {
		return func(int) bool { return false }
	}
	return func(i int) bool { return !IsValid(bits, off, i) }
}

// SortIndex returns the stable permutation of rows 0..n-1 ordered by cols.
func SortIndex(cols []SortCol, n int, nullsFirst bool) []int32 {
	idx := Identity(n)
	for k := len(cols) - 1; k >= 0; k-- {
		StableSortBy(cols[k], idx, nullsFirst)
	}
	return idx
}

// StableSortBy reorders idx (a permutation of rows) stably by one key.
func StableSortBy(c SortCol, idx []int32, nullsFirst bool) {
	if len(idx) < 2 {
		return
	}
	isNull := NullFunc(c.Arr)
	vals := make([]int32, 0, len(idx))
	var nulls []int32
	for _, i := range idx {
		if isNull(int(i)) {
			nulls = append(nulls, i)
		} else {
			vals = append(vals, i)
		}
	}
	if s, ok := c.Arr.(*array.String); ok {
		if keys, ok := StringRanks(s, vals, c.Desc); ok {
			RadixSort(keys, vals)
		} else {
			SortStrings(s, vals, c.Desc)
		}
	} else {
		key := OrderedUint64(c.Arr)
		keys := make([]uint64, len(vals))
		for j, i := range vals {
			k := key(i)
			if c.Desc {
				k = ^k
			}
			keys[j] = k
		}
		RadixSort(keys, vals)
	}
	if nullsFirst {
		copy(idx, nulls)
		copy(idx[len(nulls):], vals)
	} else {
		copy(idx, vals)
		copy(idx[len(vals):], nulls)
	}
}

// OrderedUint64 maps value i of a non-null int-like or float array to a
// uint64 whose unsigned order is the value order.
func OrderedUint64(arr arrow.Array) func(i int32) uint64 {
	switch a := arr.(type) {
	case *array.Int64:
		v := a.Int64Values()
		return func(i int32) uint64 { return uint64(v[i]) ^ 1<<63 }
	case *array.Date32:
		v := a.Date32Values()
		return func(i int32) uint64 { return uint64(int64(v[i])) ^ 1<<63 }
	case *array.Timestamp:
		v := a.TimestampValues()
		return func(i int32) uint64 { return uint64(int64(v[i])) ^ 1<<63 }
	case *array.Boolean:
		return func(i int32) uint64 { return uint64(B2i(a.Value(int(i)))) }
	case *array.Float64:
		v := a.Float64Values()
		return func(i int32) uint64 {
			f := v[i]
			if f == 0 {
				f = 0 // -0 and 0 are equal
			}
			b := math.Float64bits(f)
			if b>>63 != 0 {
				return ^b
			}
			return b | 1<<63
		}
	}
	panic("OrderedUint64: unsupported type " + arr.DataType().String())
}

// RadixSort sorts idx stably by keys (keys[j] is the key of idx[j]) with
// an LSD radix sort over the bytes that differ between keys.
func RadixSort(keys []uint64, idx []int32) {
	n := len(idx)
	if n < 2 {
		return
	}
	// One pass counts every byte position; positions where all values share
	// the same byte need no pass.
	var counts [8][256]int
	for _, k := range keys {
		for b := range 8 {
			counts[b][byte(k>>(8*b))]++
		}
	}
	var keys2 []uint64
	var idx2 []int32
	src, isrc := keys, idx
	for b := range 8 {
		c := &counts[b]
		if c[byte(src[0]>>(8*b))] == n {
			continue
		}
		if keys2 == nil {
			keys2, idx2 = make([]uint64, n), make([]int32, n)
		}
		dst, idst := keys2, idx2
		if &src[0] == &keys2[0] {
			dst, idst = keys, idx
		}
		var pos [256]int
		sum := 0
		for v := range 256 {
			pos[v] = sum
			sum += c[v]
		}
		shift := uint(8 * b)
		for j, k := range src {
			d := byte(k >> shift)
			p := pos[d]
			dst[p] = k
			idst[p] = isrc[j]
			pos[d] = p + 1
		}
		src, isrc = dst, idst
	}
	if &isrc[0] != &idx[0] {
		copy(idx, isrc)
	}
}

// StringRanks dictionary-encodes the strings of rows: the key of each row
// is the rank of its string among the distinct strings (reversed for desc).
// It gives up (ok false) when there are too many distinct strings for that
// to pay off.
func StringRanks(a *array.String, rows []int32, desc bool) (keys []uint64, ok bool) {
	limit := max(1024, len(rows)/8)
	codes := make(map[string]uint32)
	var distinct []string
	keys = make([]uint64, len(rows))
	for j, i := range rows {
		s := a.Value(int(i)) // points into the batch, which outlives this map
		c, found := codes[s]
		if !found {
			if len(distinct) >= limit {
				return nil, false
			}
			c = uint32(len(distinct))
			codes[s] = c
			distinct = append(distinct, s)
		}
		keys[j] = uint64(c)
	}
	order := make([]uint32, len(distinct))
	for i := range order {
		order[i] = uint32(i)
	}
	slices.SortFunc(order, func(x, y uint32) int { return strings.Compare(distinct[x], distinct[y]) })
	rank := make([]uint64, len(distinct))
	for pos, c := range order {
		rank[c] = uint64(pos)
		if desc {
			rank[c] = uint64(len(order) - 1 - pos)
		}
	}
	for j, c := range keys {
		keys[j] = rank[c]
	}
	return keys, true
}

// SortStrings sorts rows stably by their strings with pdqsort on (string,
// position) pairs.
func SortStrings(a *array.String, rows []int32, desc bool) {
	type pair struct {
		s string
		j int32
	}
	ps := make([]pair, len(rows))
	for j, i := range rows {
		ps[j] = pair{a.Value(int(i)), int32(j)}
	}
	slices.SortFunc(ps, func(x, y pair) int {
		c := strings.Compare(x.s, y.s)
		if desc {
			c = -c
		}
		if c != 0 {
			return c
		}
		return cmp.Compare(x.j, y.j)
	})
	orig := slices.Clone(rows)
	for j := range ps {
		rows[j] = orig[ps[j].j]
	}
}
