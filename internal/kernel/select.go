package kernel

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

// Predicate selects rows of one column.
type Predicate interface {
	// sel writes the indexes of the matching rows of arr into sel
	// (len(sel) >= arr.Len()) and returns how many there are.
	Sel(arr arrow.Array, sel []int32) int
}

// DropNulls removes the null rows from sel[:n] and returns the new count.
func DropNulls(arr arrow.Array, sel []int32, n int) int {
	bits, off := ValidBits(arr)
	if bits == nil {
		return n
	}
	k := 0
	for _, i := range sel[:n] {
		sel[k] = i
		k += B2i(IsValid(bits, off, int(i)))
	}
	return k
}

// NullPred is `is null` (null true) and `is not null` (null false); a
// float NaN counts as null.
type NullPred struct{ Null bool }

func (p NullPred) Sel(arr arrow.Array, sel []int32) int {
	n := arr.Len()
	if f, ok := arr.(*array.Float64); ok {
		// NaN counts as null.
		bits, off := ValidBits(arr)
		k := 0
		for i, v := range f.Float64Values() {
			sel[k] = int32(i)
			k += B2i((IsValid(bits, off, i) && v == v) != p.Null)
		}
		return k
	}
	bits, off := ValidBits(arr)
	if bits == nil {
		if p.Null {
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
		k += B2i(IsValid(bits, off, i) != p.Null)
	}
	return k
}

// NonePred matches no row.
type NonePred struct{}

func (NonePred) Sel(arrow.Array, []int32) int { return 0 }

// AllPred matches every non-null row.
type AllPred struct{}

func (AllPred) Sel(arr arrow.Array, sel []int32) int { return NullPred{Null: false}.Sel(arr, sel) }

// ---- int-like columns ----

// IntRange matches lo <= v <= hi.
type IntRange struct{ lo, hi int64 }

func SelIntRange[T ~int32 | ~int64](vals []T, lo, hi int64, sel []int32) int {
	// One unsigned comparison tests both bounds: v-lo <= hi-lo in modular
	// arithmetic exactly when lo <= v <= hi.
	ulo, span := uint64(lo), uint64(hi)-uint64(lo)
	n := 0
	for i, v := range vals {
		sel[n] = int32(i)
		n += B2i(uint64(int64(v))-ulo <= span)
	}
	return n
}

func (p IntRange) Sel(arr arrow.Array, sel []int32) int {
	var n int
	switch a := arr.(type) {
	case *array.Int64:
		n = SelIntRange(a.Int64Values(), p.lo, p.hi, sel)
	case *array.Date32:
		n = SelIntRange(a.Date32Values(), p.lo, p.hi, sel)
	case *array.Timestamp:
		n = SelIntRange(a.TimestampValues(), p.lo, p.hi, sel)
	default:
		n = SelIntFunc(arr, sel, func(v int64) bool { return v >= p.lo && v <= p.hi })
	}
	return DropNulls(arr, sel, n)
}

// SelIntFunc is the scalar fallback (bool columns).
func SelIntFunc(arr arrow.Array, sel []int32, match func(int64) bool) int {
	n := 0
	for i := range arr.Len() {
		sel[n] = int32(i)
		n += B2i(match(Int64At(arr, i)))
	}
	return n
}

// IntEq matches v == x (ne: v != x).
type IntEq struct {
	x  int64
	ne bool
}

func SelIntEq[T ~int32 | ~int64](vals []T, x int64, ne bool, sel []int32) int {
	n := 0
	for i, v := range vals {
		sel[n] = int32(i)
		n += B2i((int64(v) == x) != ne)
	}
	return n
}

func (p IntEq) Sel(arr arrow.Array, sel []int32) int {
	var n int
	switch a := arr.(type) {
	case *array.Int64:
		n = SelIntEq(a.Int64Values(), p.x, p.ne, sel)
	case *array.Date32:
		n = SelIntEq(a.Date32Values(), p.x, p.ne, sel)
	case *array.Timestamp:
		n = SelIntEq(a.TimestampValues(), p.x, p.ne, sel)
	default:
		n = SelIntFunc(arr, sel, func(v int64) bool { return (v == p.x) != p.ne })
	}
	return DropNulls(arr, sel, n)
}

// IntIn matches v in set (not: v not in set). Small sets are scanned
// linearly, which beats hashing up to a handful of values.
type IntIn struct {
	list []int64
	set  map[int64]struct{}
	not  bool
}

func NewIntIn(vals []int64, not bool) IntIn {
	p := IntIn{list: vals, not: not}
	if len(vals) > 8 {
		p.set = make(map[int64]struct{}, len(vals))
		for _, v := range vals {
			p.set[v] = struct{}{}
		}
	}
	return p
}

func (p IntIn) has(v int64) bool {
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

func SelIntIn[T ~int32 | ~int64](vals []T, p IntIn, sel []int32) int {
	n := 0
	for i, v := range vals {
		sel[n] = int32(i)
		n += B2i(p.has(int64(v)) != p.not)
	}
	return n
}

func (p IntIn) Sel(arr arrow.Array, sel []int32) int {
	var n int
	switch a := arr.(type) {
	case *array.Int64:
		n = SelIntIn(a.Int64Values(), p, sel)
	case *array.Date32:
		n = SelIntIn(a.Date32Values(), p, sel)
	case *array.Timestamp:
		n = SelIntIn(a.TimestampValues(), p, sel)
	default:
		n = SelIntFunc(arr, sel, func(v int64) bool { return p.has(v) != p.not })
	}
	return DropNulls(arr, sel, n)
}

// ---- float64 columns ----
//
// NaN is treated as null: it matches no condition (not even != or not in).

// FloatRange matches lo <= v <= hi; strict bounds are made inclusive at
// Plan with math.Nextafter, which is exact.
type FloatRange struct{ lo, hi float64 }

func (p FloatRange) Sel(arr arrow.Array, sel []int32) int {
	vals := arr.(*array.Float64).Float64Values()
	lo, hi := p.lo, p.hi
	n := 0
	for i, v := range vals {
		sel[n] = int32(i)
		n += B2i(v >= lo && v <= hi)
	}
	return DropNulls(arr, sel, n)
}

// FloatEq matches v == x (ne: v != x and v is not NaN).
type FloatEq struct {
	x  float64
	ne bool
}

func (p FloatEq) Sel(arr arrow.Array, sel []int32) int {
	vals := arr.(*array.Float64).Float64Values()
	n := 0
	if p.ne {
		for i, v := range vals {
			sel[n] = int32(i)
			n += B2i(v != p.x && v == v)
		}
	} else {
		for i, v := range vals {
			sel[n] = int32(i)
			n += B2i(v == p.x)
		}
	}
	return DropNulls(arr, sel, n)
}

// FloatIn matches v in set (not: v not in set and v is not NaN).
type FloatIn struct {
	set map[float64]struct{}
	not bool
}

func (p FloatIn) Sel(arr arrow.Array, sel []int32) int {
	vals := arr.(*array.Float64).Float64Values()
	n := 0
	for i, v := range vals {
		_, ok := p.set[v]
		sel[n] = int32(i)
		n += B2i(ok != p.not && v == v)
	}
	return DropNulls(arr, sel, n)
}

// FloatBounds turns a condition with value x into an inclusive range, or
// reports that no row can match.
func FloatBounds(cond string, x float64) (lo, hi float64, none bool) {
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

// StrRange matches strings within optional, inclusive or strict bounds.
type StrRange struct {
	lo, hi         string
	hasLo, hasHi   bool
	loIncl, hiIncl bool
}

func (p StrRange) match(s string) bool {
	if p.hasLo && (s < p.lo || (!p.loIncl && s == p.lo)) {
		return false
	}
	if p.hasHi && (s > p.hi || (!p.hiIncl && s == p.hi)) {
		return false
	}
	return true
}

func (p StrRange) Sel(arr arrow.Array, sel []int32) int {
	a := arr.(*array.String)
	n := 0
	for i := range a.Len() {
		sel[n] = int32(i)
		n += B2i(p.match(a.Value(i)))
	}
	return DropNulls(arr, sel, n)
}

// StrEq matches s == x (ne: s != x).
type StrEq struct {
	x  string
	ne bool
}

func (p StrEq) Sel(arr arrow.Array, sel []int32) int {
	a := arr.(*array.String)
	n := 0
	for i := range a.Len() {
		sel[n] = int32(i)
		n += B2i((a.Value(i) == p.x) != p.ne)
	}
	return DropNulls(arr, sel, n)
}

// StrIn matches s in set (not: s not in set).
type StrIn struct {
	set map[string]struct{}
	not bool
}

func (p StrIn) Sel(arr arrow.Array, sel []int32) int {
	a := arr.(*array.String)
	n := 0
	for i := range a.Len() {
		_, ok := p.set[a.Value(i)]
		sel[n] = int32(i)
		n += B2i(ok != p.not)
	}
	return DropNulls(arr, sel, n)
}
