package stages

// Vectorised selection kernels for Filter's field/condition form. A
// predicate is built once at Plan with its value already typed for the
// column; at run time it scans the column's typed value slice and writes the
// indexes of matching rows into a selection vector. Nulls never match
// (except for `is null`), so every kernel finishes by dropping null rows.
//
// Int-like columns (int64, date, timestamp, bool) compare as int64; every
// condition is normalised at Plan into one of a few shapes: an inclusive
// range [lo, hi], equality, inequality, set membership, "no row" or "every
// non-null row". A value that is not exactly representable in the column's
// unit (17.5 against an int column, a timestamp with a time of day against a
// date column) is turned into the equivalent exact condition: age > 17.5
// becomes age >= 18, age = 17.5 matches nothing, age != 17.5 matches every
// non-null age.

import (
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// kPredicate selects rows of one column.
type kPredicate interface {
	// sel writes the indexes of the matching rows of arr into sel
	// (len(sel) >= arr.Len()) and returns how many there are.
	sel(arr arrow.Array, sel []int32) int
}

// kDropNulls removes the null rows from sel[:n] and returns the new count.
func kDropNulls(arr arrow.Array, sel []int32, n int) int {
	bits, off := kValidBits(arr)
	if bits == nil {
		return n
	}
	k := 0
	for _, i := range sel[:n] {
		sel[k] = i
		k += kB2i(kIsValid(bits, off, int(i)))
	}
	return k
}

// kNullPred is `is null` (null true) and `is not null` (null false); a
// float NaN counts as null.
type kNullPred struct{ null bool }

func (p kNullPred) sel(arr arrow.Array, sel []int32) int {
	n := arr.Len()
	if f, ok := arr.(*array.Float64); ok {
		// NaN counts as null.
		bits, off := kValidBits(arr)
		k := 0
		for i, v := range f.Float64Values() {
			sel[k] = int32(i)
			k += kB2i((kIsValid(bits, off, i) && v == v) != p.null)
		}
		return k
	}
	bits, off := kValidBits(arr)
	if bits == nil {
		if p.null {
			return 0
		}
		for i := range n {
			sel[i] = int32(i)
		}
		return n
	}
	k := 0
	for i := range n {
		sel[k] = int32(i)
		k += kB2i(kIsValid(bits, off, i) != p.null)
	}
	return k
}

// kNonePred matches no row.
type kNonePred struct{}

func (kNonePred) sel(arrow.Array, []int32) int { return 0 }

// kAllPred matches every non-null row.
type kAllPred struct{}

func (kAllPred) sel(arr arrow.Array, sel []int32) int { return kNullPred{null: false}.sel(arr, sel) }

// ---- int-like columns ----

// kIntRange matches lo <= v <= hi.
type kIntRange struct{ lo, hi int64 }

func kSelIntRange[T ~int32 | ~int64](vals []T, lo, hi int64, sel []int32) int {
	// One unsigned comparison tests both bounds: v-lo <= hi-lo in modular
	// arithmetic exactly when lo <= v <= hi.
	ulo, span := uint64(lo), uint64(hi)-uint64(lo)
	n := 0
	for i, v := range vals {
		sel[n] = int32(i)
		n += kB2i(uint64(int64(v))-ulo <= span)
	}
	return n
}

func (p kIntRange) sel(arr arrow.Array, sel []int32) int {
	var n int
	switch a := arr.(type) {
	case *array.Int64:
		n = kSelIntRange(a.Int64Values(), p.lo, p.hi, sel)
	case *array.Date32:
		n = kSelIntRange(a.Date32Values(), p.lo, p.hi, sel)
	case *array.Timestamp:
		n = kSelIntRange(a.TimestampValues(), p.lo, p.hi, sel)
	default:
		n = kSelIntFunc(arr, sel, func(v int64) bool { return v >= p.lo && v <= p.hi })
	}
	return kDropNulls(arr, sel, n)
}

// kSelIntFunc is the scalar fallback (bool columns).
func kSelIntFunc(arr arrow.Array, sel []int32, match func(int64) bool) int {
	n := 0
	for i := range arr.Len() {
		sel[n] = int32(i)
		n += kB2i(match(kInt64At(arr, i)))
	}
	return n
}

// kIntEq matches v == x (ne: v != x).
type kIntEq struct {
	x  int64
	ne bool
}

func kSelIntEq[T ~int32 | ~int64](vals []T, x int64, ne bool, sel []int32) int {
	n := 0
	for i, v := range vals {
		sel[n] = int32(i)
		n += kB2i((int64(v) == x) != ne)
	}
	return n
}

func (p kIntEq) sel(arr arrow.Array, sel []int32) int {
	var n int
	switch a := arr.(type) {
	case *array.Int64:
		n = kSelIntEq(a.Int64Values(), p.x, p.ne, sel)
	case *array.Date32:
		n = kSelIntEq(a.Date32Values(), p.x, p.ne, sel)
	case *array.Timestamp:
		n = kSelIntEq(a.TimestampValues(), p.x, p.ne, sel)
	default:
		n = kSelIntFunc(arr, sel, func(v int64) bool { return (v == p.x) != p.ne })
	}
	return kDropNulls(arr, sel, n)
}

// kIntIn matches v in set (not: v not in set). Small sets are scanned
// linearly, which beats hashing up to a handful of values.
type kIntIn struct {
	list []int64
	set  map[int64]struct{}
	not  bool
}

func kNewIntIn(vals []int64, not bool) kIntIn {
	p := kIntIn{list: vals, not: not}
	if len(vals) > 8 {
		p.set = make(map[int64]struct{}, len(vals))
		for _, v := range vals {
			p.set[v] = struct{}{}
		}
	}
	return p
}

func (p kIntIn) has(v int64) bool {
	if p.set != nil {
		_, ok := p.set[v]
		return ok
	}
	for _, x := range p.list {
		if x == v {
			return true
		}
	}
	return false
}

func kSelIntIn[T ~int32 | ~int64](vals []T, p kIntIn, sel []int32) int {
	n := 0
	for i, v := range vals {
		sel[n] = int32(i)
		n += kB2i(p.has(int64(v)) != p.not)
	}
	return n
}

func (p kIntIn) sel(arr arrow.Array, sel []int32) int {
	var n int
	switch a := arr.(type) {
	case *array.Int64:
		n = kSelIntIn(a.Int64Values(), p, sel)
	case *array.Date32:
		n = kSelIntIn(a.Date32Values(), p, sel)
	case *array.Timestamp:
		n = kSelIntIn(a.TimestampValues(), p, sel)
	default:
		n = kSelIntFunc(arr, sel, func(v int64) bool { return p.has(v) != p.not })
	}
	return kDropNulls(arr, sel, n)
}

// ---- float64 columns ----
//
// NaN is treated as null: it matches no condition (not even != or not in).

// kFloatRange matches lo <= v <= hi; strict bounds are made inclusive at
// Plan with math.Nextafter, which is exact.
type kFloatRange struct{ lo, hi float64 }

func (p kFloatRange) sel(arr arrow.Array, sel []int32) int {
	vals := arr.(*array.Float64).Float64Values()
	lo, hi := p.lo, p.hi
	n := 0
	for i, v := range vals {
		sel[n] = int32(i)
		n += kB2i(v >= lo && v <= hi)
	}
	return kDropNulls(arr, sel, n)
}

// kFloatEq matches v == x (ne: v != x and v is not NaN).
type kFloatEq struct {
	x  float64
	ne bool
}

func (p kFloatEq) sel(arr arrow.Array, sel []int32) int {
	vals := arr.(*array.Float64).Float64Values()
	n := 0
	if p.ne {
		for i, v := range vals {
			sel[n] = int32(i)
			n += kB2i(v != p.x && v == v)
		}
	} else {
		for i, v := range vals {
			sel[n] = int32(i)
			n += kB2i(v == p.x)
		}
	}
	return kDropNulls(arr, sel, n)
}

// kFloatIn matches v in set (not: v not in set and v is not NaN).
type kFloatIn struct {
	set map[float64]struct{}
	not bool
}

func (p kFloatIn) sel(arr arrow.Array, sel []int32) int {
	vals := arr.(*array.Float64).Float64Values()
	n := 0
	for i, v := range vals {
		_, ok := p.set[v]
		sel[n] = int32(i)
		n += kB2i(ok != p.not && v == v)
	}
	return kDropNulls(arr, sel, n)
}

// kFloatBounds turns a condition with value x into an inclusive range, or
// reports that no row can match.
func kFloatBounds(cond string, x float64) (lo, hi float64, none bool) {
	lo, hi = math.Inf(-1), math.Inf(1)
	switch cond {
	case "<":
		if math.IsInf(x, -1) {
			return 0, 0, true
		}
		hi = math.Nextafter(x, math.Inf(-1))
	case "<=":
		hi = x
	case ">":
		if math.IsInf(x, 1) {
			return 0, 0, true
		}
		lo = math.Nextafter(x, math.Inf(1))
	case ">=":
		lo = x
	}
	return lo, hi, false
}

// ---- string columns (bytewise UTF-8 order) ----

// kStrRange matches strings within optional, inclusive or strict bounds.
type kStrRange struct {
	lo, hi         string
	hasLo, hasHi   bool
	loIncl, hiIncl bool
}

func (p kStrRange) match(s string) bool {
	if p.hasLo && (s < p.lo || (!p.loIncl && s == p.lo)) {
		return false
	}
	if p.hasHi && (s > p.hi || (!p.hiIncl && s == p.hi)) {
		return false
	}
	return true
}

func (p kStrRange) sel(arr arrow.Array, sel []int32) int {
	a := arr.(*array.String)
	n := 0
	for i := range a.Len() {
		sel[n] = int32(i)
		n += kB2i(p.match(a.Value(i)))
	}
	return kDropNulls(arr, sel, n)
}

// kStrEq matches s == x (ne: s != x).
type kStrEq struct {
	x  string
	ne bool
}

func (p kStrEq) sel(arr arrow.Array, sel []int32) int {
	a := arr.(*array.String)
	n := 0
	for i := range a.Len() {
		sel[n] = int32(i)
		n += kB2i((a.Value(i) == p.x) != p.ne)
	}
	return kDropNulls(arr, sel, n)
}

// kStrIn matches s in set (not: s not in set).
type kStrIn struct {
	set map[string]struct{}
	not bool
}

func (p kStrIn) sel(arr arrow.Array, sel []int32) int {
	a := arr.(*array.String)
	n := 0
	for i := range a.Len() {
		_, ok := p.set[a.Value(i)]
		sel[n] = int32(i)
		n += kB2i(ok != p.not)
	}
	return kDropNulls(arr, sel, n)
}
