package kernel

// Aggregate functions of the Aggregator. Each keeps typed state slices
// indexed by group id and is updated a whole batch at a time from the
// batch's group ids. Only median and nunique keep per-row data (the values
// of each group, the distinct values of each group).
//
// Nulls are skipped as pandas does, and a float NaN counts as null.
// Float sums and means use Neumaier's compensated summation (as pandas'
// groupby sum/mean and SQLite >= 3.43 do, so results agree to ~1 ulp); std
// and var use Welford's online algorithm (as pandas' groupby var).

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Agg is the state of one aggregate.
type Agg interface {
	// update adds the rows of arr (nil for count of rows), whose group ids
	// are gids; ngroups is the number of groups so far.
	Update(arr arrow.Array, gids []int32, ngroups int) error
	// result builds the aggregate of each of ngroups groups.
	Result(alloc memory.Allocator, ngroups int) arrow.Array
}

// Grow extends s with zero values to length n.
func Grow[T any](s []T, n int) []T {
	if len(s) >= n {
		return s
	}
	return append(s, make([]T, n-len(s))...)
}

// Numeric returns the values of a numeric column: ints for int64 and bool
// (0/1) columns, floats for float64 columns.
func Numeric(arr arrow.Array) (ints []int64, floats []float64) {
	switch a := arr.(type) {
	case *array.Int64:
		return a.Int64Values(), nil
	case *array.Float64:
		return nil, a.Float64Values()
	case *array.Boolean:
		ints = make([]int64, a.Len())
		for i := range ints {
			ints[i] = int64(B2i(a.Value(i)))
		}
		return ints, nil
	}
	panic("Numeric: unsupported type " + arr.DataType().String())
}

// Neumaier adds x to the compensated sum (s, c).
func Neumaier(s, c *float64, x float64) {
	t := *s + x
	if math.Abs(*s) >= math.Abs(x) {
		*c += (*s - t) + x
	} else {
		*c += (x - t) + *s
	}
	*s = t
}

// ---- count ----

type AggCountRows struct{ n []int64 }

func (a *AggCountRows) Update(_ arrow.Array, gids []int32, ng int) error {
	a.n = Grow(a.n, ng)
	for _, g := range gids {
		a.n[g]++
	}
	return nil
}

func (a *AggCountRows) Result(alloc memory.Allocator, ng int) arrow.Array {
	a.n = Grow(a.n, ng)
	return BuildInt64Like(alloc, arrow.PrimitiveTypes.Int64, a.n, nil)
}

type AggCount struct{ n []int64 }

func (a *AggCount) Update(arr arrow.Array, gids []int32, ng int) error {
	a.n = Grow(a.n, ng)
	bits, off := ValidBits(arr)
	f, isFloat := arr.(*array.Float64)
	for i, g := range gids {
		ok := IsValid(bits, off, i)
		if isFloat {
			v := f.Value(i)
			ok = ok && v == v
		}
		a.n[g] += int64(B2i(ok))
	}
	return nil
}

func (a *AggCount) Result(alloc memory.Allocator, ng int) arrow.Array {
	a.n = Grow(a.n, ng)
	return BuildInt64Like(alloc, arrow.PrimitiveTypes.Int64, a.n, nil)
}

// ---- sum ----

// AggSumInt sums int64 (or bool) values into int64; an all-null group sums
// to 0, as pandas. Overflow is an error rather than a silent wrap.
type AggSumInt struct {
	field string
	s     []int64
}

func (a *AggSumInt) Update(arr arrow.Array, gids []int32, ng int) error {
	a.s = Grow(a.s, ng)
	ints, _ := Numeric(arr)
	bits, off := ValidBits(arr)
	for i, g := range gids {
		if !IsValid(bits, off, i) {
			continue
		}
		x, cur := ints[i], a.s[g]
		sum := cur + x
		if (sum > cur) != (x > 0) {
			return fmt.Errorf("sum of column '%s' overflows int64", a.field)
		}
		a.s[g] = sum
	}
	return nil
}

func (a *AggSumInt) Result(alloc memory.Allocator, ng int) arrow.Array {
	a.s = Grow(a.s, ng)
	return BuildInt64Like(alloc, arrow.PrimitiveTypes.Int64, a.s, nil)
}

// AggSumFloat sums float64 values (compensated); an all-null group sums to 0.
type AggSumFloat struct{ s, c []float64 }

func (a *AggSumFloat) Update(arr arrow.Array, gids []int32, ng int) error {
	a.s, a.c = Grow(a.s, ng), Grow(a.c, ng)
	_, floats := Numeric(arr)
	bits, off := ValidBits(arr)
	for i, g := range gids {
		x := floats[i]
		if x != x || !IsValid(bits, off, i) {
			continue
		}
		Neumaier(&a.s[g], &a.c[g], x)
	}
	return nil
}

func (a *AggSumFloat) Result(alloc memory.Allocator, ng int) arrow.Array {
	a.s, a.c = Grow(a.s, ng), Grow(a.c, ng)
	out := make([]float64, ng)
	for g := range out {
		out[g] = a.s[g] + a.c[g]
	}
	return BuildFloat64(alloc, out, nil)
}

// ---- mean ----

type AggMean struct {
	s, c []float64
	n    []int64
}

func (a *AggMean) Update(arr arrow.Array, gids []int32, ng int) error {
	a.s, a.c, a.n = Grow(a.s, ng), Grow(a.c, ng), Grow(a.n, ng)
	ints, floats := Numeric(arr)
	bits, off := ValidBits(arr)
	for i, g := range gids {
		if !IsValid(bits, off, i) {
			continue
		}
		var x float64
		if floats != nil {
			if x = floats[i]; x != x {
				continue
			}
		} else {
			x = float64(ints[i])
		}
		Neumaier(&a.s[g], &a.c[g], x)
		a.n[g]++
	}
	return nil
}

func (a *AggMean) Result(alloc memory.Allocator, ng int) arrow.Array {
	a.s, a.c, a.n = Grow(a.s, ng), Grow(a.c, ng), Grow(a.n, ng)
	out := make([]float64, ng)
	valid := make([]bool, ng)
	for g := range out {
		if a.n[g] > 0 {
			out[g] = (a.s[g] + a.c[g]) / float64(a.n[g])
			valid[g] = true
		}
	}
	return BuildFloat64(alloc, out, valid)
}

// ---- var and std (sample, ddof 1) ----

type AggVar struct {
	std     bool
	n       []int64
	mean, m []float64
}

func (a *AggVar) Update(arr arrow.Array, gids []int32, ng int) error {
	a.n, a.mean, a.m = Grow(a.n, ng), Grow(a.mean, ng), Grow(a.m, ng)
	ints, floats := Numeric(arr)
	bits, off := ValidBits(arr)
	for i, g := range gids {
		if !IsValid(bits, off, i) {
			continue
		}
		var x float64
		if floats != nil {
			if x = floats[i]; x != x {
				continue
			}
		} else {
			x = float64(ints[i])
		}
		a.n[g]++
		d := x - a.mean[g]
		a.mean[g] += d / float64(a.n[g])
		a.m[g] += d * (x - a.mean[g])
	}
	return nil
}

func (a *AggVar) Result(alloc memory.Allocator, ng int) arrow.Array {
	a.n, a.mean, a.m = Grow(a.n, ng), Grow(a.mean, ng), Grow(a.m, ng)
	out := make([]float64, ng)
	valid := make([]bool, ng)
	for g := range out {
		if a.n[g] < 2 {
			continue // one value: no sample variance (pandas gives NaN)
		}
		v := a.m[g] / float64(a.n[g]-1)
		if a.std {
			v = math.Sqrt(v)
		}
		out[g], valid[g] = v, true
	}
	return BuildFloat64(alloc, out, valid)
}

// ---- median: keeps every value of every group ----

type AggMedian struct {
	vals [][]float64
	n    int64 // values held

	// past the memory budget (agg_values.go)
	cnt []int64 // values of each group drained

	final      []float64
	finalValid []bool
}

// AggSizer is implemented by the aggregates that hold per-row data.
type AggSizer interface {
	HeldBytes() int64
}

func (a *AggMedian) HeldBytes() int64 { return 8*a.n + 24*int64(len(a.vals)) }

func (a *AggMedian) Update(arr arrow.Array, gids []int32, ng int) error {
	a.vals = Grow(a.vals, ng)
	ints, floats := Numeric(arr)
	bits, off := ValidBits(arr)
	for i, g := range gids {
		if !IsValid(bits, off, i) {
			continue
		}
		var x float64
		if floats != nil {
			if x = floats[i]; x != x {
				continue
			}
		} else {
			x = float64(ints[i])
		}
		a.vals[g] = append(a.vals[g], x)
		a.n++
	}
	return nil
}

func (a *AggMedian) Result(alloc memory.Allocator, ng int) arrow.Array {
	if a.final != nil {
		return BuildFloat64(alloc, Grow(a.final, ng), Grow(a.finalValid, ng))
	}
	a.vals = Grow(a.vals, ng)
	out := make([]float64, ng)
	valid := make([]bool, ng)
	for g, v := range a.vals {
		if len(v) == 0 {
			continue
		}
		slices.Sort(v)
		m := len(v) / 2
		if len(v)%2 == 1 {
			out[g] = v[m]
		} else {
			out[g] = v[m-1] + (v[m]-v[m-1])/2
		}
		valid[g] = true
	}
	return BuildFloat64(alloc, out, valid)
}

// ---- min, max, first, last: keep the column's type ----

// AggPick implements min, max, first and last for every key kind.
type AggPick struct {
	op    string // min, max, first, last
	typ   arrow.DataType
	kind  KeyKind
	has   []bool
	ints  []int64
	flts  []float64
	strs  []string
	stamp []int32 // last: the batch in which a group was last set (strings)
	batch int32
}

func (a *AggPick) grow(ng int) {
	a.has = Grow(a.has, ng)
	switch a.kind {
	case KeyInt, KeyBool:
		a.ints = Grow(a.ints, ng)
	case KeyFloat:
		a.flts = Grow(a.flts, ng)
	case KeyString:
		a.strs = Grow(a.strs, ng)
		a.stamp = Grow(a.stamp, ng)
	}
}

func (a *AggPick) Update(arr arrow.Array, gids []int32, ng int) error {
	a.grow(ng)
	bits, off := ValidBits(arr)
	switch a.kind {
	case KeyInt, KeyBool:
		for i, g := range gids {
			if !IsValid(bits, off, i) {
				continue
			}
			v := Int64At(arr, i)
			switch {
			case !a.has[g], a.op == "last", a.op == "min" && v < a.ints[g], a.op == "max" && v > a.ints[g]:
				a.ints[g], a.has[g] = v, true
			}
		}
	case KeyFloat:
		vals := arr.(*array.Float64).Float64Values()
		for i, g := range gids {
			v := vals[i]
			if v != v || !IsValid(bits, off, i) {
				continue
			}
			switch {
			case !a.has[g], a.op == "last", a.op == "min" && v < a.flts[g], a.op == "max" && v > a.flts[g]:
				a.flts[g], a.has[g] = v, true
			}
		}
	case KeyString:
		s := arr.(*array.String)
		if a.op == "last" {
			// Walk backwards so that each group's string is copied once per
			// batch, not once per row.
			a.batch++
			for i := len(gids) - 1; i >= 0; i-- {
				g := gids[i]
				if a.stamp[g] == a.batch || !IsValid(bits, off, i) {
					continue
				}
				a.stamp[g] = a.batch
				a.strs[g], a.has[g] = strings.Clone(s.Value(i)), true
			}
			return nil
		}
		for i, g := range gids {
			if !IsValid(bits, off, i) {
				continue
			}
			v := s.Value(i)
			switch {
			case !a.has[g], a.op == "min" && v < a.strs[g], a.op == "max" && v > a.strs[g]:
				a.strs[g], a.has[g] = strings.Clone(v), true
			}
		}
	}
	return nil
}

func (a *AggPick) Result(alloc memory.Allocator, ng int) arrow.Array {
	a.grow(ng)
	switch a.kind {
	case KeyFloat:
		return BuildFloat64(alloc, a.flts[:ng], a.has[:ng])
	case KeyString:
		return BuildString(alloc, a.strs[:ng], a.has[:ng])
	}
	return BuildInt64Like(alloc, a.typ, a.ints[:ng], a.has[:ng])
}

// ---- nunique: keeps the distinct values of every group ----

type nuInt struct {
	g int32
	v int64
}

type nuStr struct {
	g int32
	s string
}

type AggNunique struct {
	kind  KeyKind
	n     []int64
	ints  map[nuInt]struct{}
	strs  map[nuStr]struct{}
	bytes int64 // estimate of the maps
}

func (a *AggNunique) HeldBytes() int64 { return a.bytes }

func (a *AggNunique) Update(arr arrow.Array, gids []int32, ng int) error {
	a.n = Grow(a.n, ng)
	bits, off := ValidBits(arr)
	switch a.kind {
	case KeyString:
		if a.strs == nil {
			a.strs = map[nuStr]struct{}{}
		}
		s := arr.(*array.String)
		for i, g := range gids {
			if !IsValid(bits, off, i) {
				continue
			}
			k := nuStr{g, s.Value(i)}
			if _, ok := a.strs[k]; !ok {
				k.s = strings.Clone(k.s)
				a.strs[k] = struct{}{}
				a.n[g]++
				a.bytes += 48 + int64(len(k.s))
			}
		}
	default:
		if a.ints == nil {
			a.ints = map[nuInt]struct{}{}
		}
		f, isFloat := arr.(*array.Float64)
		for i, g := range gids {
			if !IsValid(bits, off, i) {
				continue
			}
			var v int64
			if isFloat {
				x, ok := FloatKey(f.Value(i))
				if !ok {
					continue
				}
				v = int64(math.Float64bits(x))
			} else {
				v = Int64At(arr, i)
			}
			k := nuInt{g, v}
			if _, ok := a.ints[k]; !ok {
				a.ints[k] = struct{}{}
				a.n[g]++
				a.bytes += 32
			}
		}
	}
	return nil
}

func (a *AggNunique) Result(alloc memory.Allocator, ng int) arrow.Array {
	a.n = Grow(a.n, ng)
	return BuildInt64Like(alloc, arrow.PrimitiveTypes.Int64, a.n, nil)
}

// NewAgg returns the state of aggregate function fn (sum, count, mean,
// median, min, max, std, var, nunique, first, last) over a column of type
// in called field (for messages); in is nil for count of rows.
func NewAgg(fn string, in arrow.DataType, field string) Agg {
	switch fn {
	case "count":
		if in == nil {
			return &AggCountRows{}
		}
		return &AggCount{}
	case "sum":
		if in.ID() == arrow.FLOAT64 {
			return &AggSumFloat{}
		}
		return &AggSumInt{field: field}
	case "mean":
		return &AggMean{}
	case "median":
		return &AggMedian{}
	case "std", "var":
		return &AggVar{std: fn == "std"}
	case "nunique":
		kind, _ := KeyKindOf(in)
		return &AggNunique{kind: kind}
	}
	kind, _ := KeyKindOf(in)
	return &AggPick{op: fn, typ: in, kind: kind}
}
