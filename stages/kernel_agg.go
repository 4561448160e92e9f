package stages

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

// kAgg is the state of one aggregate.
type kAgg interface {
	// update adds the rows of arr (nil for count of rows), whose group ids
	// are gids; ngroups is the number of groups so far.
	update(arr arrow.Array, gids []int32, ngroups int) error
	// result builds the aggregate of each of ngroups groups.
	result(alloc memory.Allocator, ngroups int) arrow.Array
}

// kGrow extends s with zero values to length n.
func kGrow[T any](s []T, n int) []T {
	if len(s) >= n {
		return s
	}
	return append(s, make([]T, n-len(s))...)
}

// kNumeric returns the values of a numeric column: ints for int64 and bool
// (0/1) columns, floats for float64 columns.
func kNumeric(arr arrow.Array) (ints []int64, floats []float64) {
	switch a := arr.(type) {
	case *array.Int64:
		return a.Int64Values(), nil
	case *array.Float64:
		return nil, a.Float64Values()
	case *array.Boolean:
		ints = make([]int64, a.Len())
		for i := range ints {
			ints[i] = int64(kB2i(a.Value(i)))
		}
		return ints, nil
	}
	panic("kNumeric: unsupported type " + arr.DataType().String())
}

// kNeumaier adds x to the compensated sum (s, c).
func kNeumaier(s, c *float64, x float64) {
	t := *s + x
	if math.Abs(*s) >= math.Abs(x) {
		*c += (*s - t) + x
	} else {
		*c += (x - t) + *s
	}
	*s = t
}

// ---- count ----

type kAggCountRows struct{ n []int64 }

func (a *kAggCountRows) update(_ arrow.Array, gids []int32, ng int) error {
	a.n = kGrow(a.n, ng)
	for _, g := range gids {
		a.n[g]++
	}
	return nil
}

func (a *kAggCountRows) result(alloc memory.Allocator, ng int) arrow.Array {
	a.n = kGrow(a.n, ng)
	return kBuildInt64Like(alloc, arrow.PrimitiveTypes.Int64, a.n, nil)
}

type kAggCount struct{ n []int64 }

func (a *kAggCount) update(arr arrow.Array, gids []int32, ng int) error {
	a.n = kGrow(a.n, ng)
	bits, off := kValidBits(arr)
	f, isFloat := arr.(*array.Float64)
	for i, g := range gids {
		ok := kIsValid(bits, off, i)
		if isFloat {
			v := f.Value(i)
			ok = ok && v == v
		}
		a.n[g] += int64(kB2i(ok))
	}
	return nil
}

func (a *kAggCount) result(alloc memory.Allocator, ng int) arrow.Array {
	a.n = kGrow(a.n, ng)
	return kBuildInt64Like(alloc, arrow.PrimitiveTypes.Int64, a.n, nil)
}

// ---- sum ----

// kAggSumInt sums int64 (or bool) values into int64; an all-null group sums
// to 0, as pandas. Overflow is an error rather than a silent wrap.
type kAggSumInt struct {
	field string
	s     []int64
}

func (a *kAggSumInt) update(arr arrow.Array, gids []int32, ng int) error {
	a.s = kGrow(a.s, ng)
	ints, _ := kNumeric(arr)
	bits, off := kValidBits(arr)
	for i, g := range gids {
		if !kIsValid(bits, off, i) {
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

func (a *kAggSumInt) result(alloc memory.Allocator, ng int) arrow.Array {
	a.s = kGrow(a.s, ng)
	return kBuildInt64Like(alloc, arrow.PrimitiveTypes.Int64, a.s, nil)
}

// kAggSumFloat sums float64 values (compensated); an all-null group sums to 0.
type kAggSumFloat struct{ s, c []float64 }

func (a *kAggSumFloat) update(arr arrow.Array, gids []int32, ng int) error {
	a.s, a.c = kGrow(a.s, ng), kGrow(a.c, ng)
	_, floats := kNumeric(arr)
	bits, off := kValidBits(arr)
	for i, g := range gids {
		x := floats[i]
		if x != x || !kIsValid(bits, off, i) {
			continue
		}
		kNeumaier(&a.s[g], &a.c[g], x)
	}
	return nil
}

func (a *kAggSumFloat) result(alloc memory.Allocator, ng int) arrow.Array {
	a.s, a.c = kGrow(a.s, ng), kGrow(a.c, ng)
	out := make([]float64, ng)
	for g := range out {
		out[g] = a.s[g] + a.c[g]
	}
	return kBuildFloat64(alloc, out, nil)
}

// ---- mean ----

type kAggMean struct {
	s, c []float64
	n    []int64
}

func (a *kAggMean) update(arr arrow.Array, gids []int32, ng int) error {
	a.s, a.c, a.n = kGrow(a.s, ng), kGrow(a.c, ng), kGrow(a.n, ng)
	ints, floats := kNumeric(arr)
	bits, off := kValidBits(arr)
	for i, g := range gids {
		if !kIsValid(bits, off, i) {
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
		kNeumaier(&a.s[g], &a.c[g], x)
		a.n[g]++
	}
	return nil
}

func (a *kAggMean) result(alloc memory.Allocator, ng int) arrow.Array {
	a.s, a.c, a.n = kGrow(a.s, ng), kGrow(a.c, ng), kGrow(a.n, ng)
	out := make([]float64, ng)
	valid := make([]bool, ng)
	for g := range out {
		if a.n[g] > 0 {
			out[g] = (a.s[g] + a.c[g]) / float64(a.n[g])
			valid[g] = true
		}
	}
	return kBuildFloat64(alloc, out, valid)
}

// ---- var and std (sample, ddof 1) ----

type kAggVar struct {
	std     bool
	n       []int64
	mean, m []float64
}

func (a *kAggVar) update(arr arrow.Array, gids []int32, ng int) error {
	a.n, a.mean, a.m = kGrow(a.n, ng), kGrow(a.mean, ng), kGrow(a.m, ng)
	ints, floats := kNumeric(arr)
	bits, off := kValidBits(arr)
	for i, g := range gids {
		if !kIsValid(bits, off, i) {
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

func (a *kAggVar) result(alloc memory.Allocator, ng int) arrow.Array {
	a.n, a.mean, a.m = kGrow(a.n, ng), kGrow(a.mean, ng), kGrow(a.m, ng)
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
	return kBuildFloat64(alloc, out, valid)
}

// ---- median: keeps every value of every group ----

type kAggMedian struct {
	vals [][]float64
	n    int64 // values held

	// past the memory budget (spill_aggvals.go)
	runs       aggValRuns
	cnt        []int64 // values of each group in the runs
	final      []float64
	finalValid []bool
}

// kAggSizer is implemented by the aggregates that hold per-row data.
type kAggSizer interface {
	heldBytes() int64
}

func (a *kAggMedian) heldBytes() int64 { return 8*a.n + 24*int64(len(a.vals)) }

func (a *kAggMedian) update(arr arrow.Array, gids []int32, ng int) error {
	a.vals = kGrow(a.vals, ng)
	ints, floats := kNumeric(arr)
	bits, off := kValidBits(arr)
	for i, g := range gids {
		if !kIsValid(bits, off, i) {
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

func (a *kAggMedian) result(alloc memory.Allocator, ng int) arrow.Array {
	if a.final != nil {
		return kBuildFloat64(alloc, kGrow(a.final, ng), kGrow(a.finalValid, ng))
	}
	a.vals = kGrow(a.vals, ng)
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
	return kBuildFloat64(alloc, out, valid)
}

// ---- min, max, first, last: keep the column's type ----

// kAggPick implements min, max, first and last for every key kind.
type kAggPick struct {
	op    string // min, max, first, last
	typ   arrow.DataType
	kind  kKeyKind
	has   []bool
	ints  []int64
	flts  []float64
	strs  []string
	stamp []int32 // last: the batch in which a group was last set (strings)
	batch int32
}

func (a *kAggPick) grow(ng int) {
	a.has = kGrow(a.has, ng)
	switch a.kind {
	case kKeyInt, kKeyBool:
		a.ints = kGrow(a.ints, ng)
	case kKeyFloat:
		a.flts = kGrow(a.flts, ng)
	case kKeyString:
		a.strs = kGrow(a.strs, ng)
		a.stamp = kGrow(a.stamp, ng)
	}
}

func (a *kAggPick) update(arr arrow.Array, gids []int32, ng int) error {
	a.grow(ng)
	bits, off := kValidBits(arr)
	switch a.kind {
	case kKeyInt, kKeyBool:
		for i, g := range gids {
			if !kIsValid(bits, off, i) {
				continue
			}
			v := kInt64At(arr, i)
			switch {
			case !a.has[g], a.op == "last", a.op == "min" && v < a.ints[g], a.op == "max" && v > a.ints[g]:
				a.ints[g], a.has[g] = v, true
			}
		}
	case kKeyFloat:
		vals := arr.(*array.Float64).Float64Values()
		for i, g := range gids {
			v := vals[i]
			if v != v || !kIsValid(bits, off, i) {
				continue
			}
			switch {
			case !a.has[g], a.op == "last", a.op == "min" && v < a.flts[g], a.op == "max" && v > a.flts[g]:
				a.flts[g], a.has[g] = v, true
			}
		}
	case kKeyString:
		s := arr.(*array.String)
		if a.op == "last" {
			// Walk backwards so that each group's string is copied once per
			// batch, not once per row.
			a.batch++
			for i := len(gids) - 1; i >= 0; i-- {
				g := gids[i]
				if a.stamp[g] == a.batch || !kIsValid(bits, off, i) {
					continue
				}
				a.stamp[g] = a.batch
				a.strs[g], a.has[g] = strings.Clone(s.Value(i)), true
			}
			return nil
		}
		for i, g := range gids {
			if !kIsValid(bits, off, i) {
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

func (a *kAggPick) result(alloc memory.Allocator, ng int) arrow.Array {
	a.grow(ng)
	switch a.kind {
	case kKeyFloat:
		return kBuildFloat64(alloc, a.flts[:ng], a.has[:ng])
	case kKeyString:
		return kBuildString(alloc, a.strs[:ng], a.has[:ng])
	}
	return kBuildInt64Like(alloc, a.typ, a.ints[:ng], a.has[:ng])
}

// ---- nunique: keeps the distinct values of every group ----

type kNuInt struct {
	g int32
	v int64
}

type kNuStr struct {
	g int32
	s string
}

type kAggNunique struct {
	kind  kKeyKind
	n     []int64
	ints  map[kNuInt]struct{}
	strs  map[kNuStr]struct{}
	bytes int64      // estimate of the maps
	runs  aggValRuns // past the memory budget (spill_aggvals.go)
}

func (a *kAggNunique) heldBytes() int64 { return a.bytes }

func (a *kAggNunique) update(arr arrow.Array, gids []int32, ng int) error {
	a.n = kGrow(a.n, ng)
	bits, off := kValidBits(arr)
	switch a.kind {
	case kKeyString:
		if a.strs == nil {
			a.strs = map[kNuStr]struct{}{}
		}
		s := arr.(*array.String)
		for i, g := range gids {
			if !kIsValid(bits, off, i) {
				continue
			}
			k := kNuStr{g, s.Value(i)}
			if _, ok := a.strs[k]; !ok {
				k.s = strings.Clone(k.s)
				a.strs[k] = struct{}{}
				a.n[g]++
				a.bytes += 48 + int64(len(k.s))
			}
		}
	default:
		if a.ints == nil {
			a.ints = map[kNuInt]struct{}{}
		}
		f, isFloat := arr.(*array.Float64)
		for i, g := range gids {
			if !kIsValid(bits, off, i) {
				continue
			}
			var v int64
			if isFloat {
				x, ok := kFloatKey(f.Value(i))
				if !ok {
					continue
				}
				v = int64(math.Float64bits(x))
			} else {
				v = kInt64At(arr, i)
			}
			k := kNuInt{g, v}
			if _, ok := a.ints[k]; !ok {
				a.ints[k] = struct{}{}
				a.n[g]++
				a.bytes += 32
			}
		}
	}
	return nil
}

func (a *kAggNunique) result(alloc memory.Allocator, ng int) arrow.Array {
	a.n = kGrow(a.n, ng)
	return kBuildInt64Like(alloc, arrow.PrimitiveTypes.Int64, a.n, nil)
}
