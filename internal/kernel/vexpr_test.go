package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// The differential test: every expression below is evaluated by the row
// evaluator (ExprRow, expr's VM) and by the kernels on random batches, and
// the two must give the same value, null or error on every row.

// diffSchema is the fixed schema of the differential test and the fuzz
// target: two columns of each type the kernels carry, and a dictionary
// column (which expressions see as strings, through the VM).
var diffSchema = arrow.NewSchema([]arrow.Field{
	{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "j", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "g", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "c", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "t", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "ts", Type: openstage.Timestamp, Nullable: true},
	{Name: "k", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, Nullable: true},
}, nil)

var (
	diffInts = []int64{0, 1, -1, 2, 3, 7, 10, 17, 18, 20, 100, 1000, -1000, math.MaxInt64, math.MinInt64,
		math.MaxInt64 - 1, math.MinInt64 + 1, 1 << 53, 1<<53 + 1, 4294967296}
	diffFloats = []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 1.21, 100, 100.5, 1000, 1000.01, 20000, -7.25,
		math.NaN(), math.Inf(1), math.Inf(-1), 1e300, -1e-300, 9.223372036854775807e18, -9.223372036854775808e18, 18}
	diffStrings = []string{"", " ", "a", "A", "paid", "new", "shipped", "ES", "es", "  trim me  ", "x,y,z", "ñandú",
		"ÅBÇ", "straße", "日本語", "a-b", "abcabc", "123", "-42", "3.5", "1e3", "\u00a0nbsp\u00a0", "tab\t", "İı", "\xff\xfe", "ǅ"}
	diffTimes = []time.Time{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 12, 30, 15, 123456000, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC), time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Date(1900, 3, 1, 6, 0, 0, 0, time.UTC), time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(0, 0).UTC()}
)

// randomBatch returns n rows (nulls in about one row of nullPct per
// hundred), sliced from a larger batch when slice is set.
func randomBatch(alloc memory.Allocator, r *rand.Rand, n, nullPct int, slice bool) arrow.RecordBatch {
	extra := 0
	if slice {
		extra = 3 + r.IntN(5)
	}
	total := n + 2*extra
	bld := array.NewRecordBuilder(alloc, diffSchema)
	defer bld.Release()
	null := func() bool { return r.IntN(100) < nullPct }
	for range total {
		for c, f := range diffSchema.Fields() {
			b := bld.Field(c)
			if null() {
				b.AppendNull()
				continue
			}
			switch f.Type.ID() {
			case arrow.INT64:
				v := diffInts[r.IntN(len(diffInts))]
				if r.IntN(3) == 0 {
					v = r.Int64N(2001) - 1000
				}
				b.(*array.Int64Builder).Append(v)
			case arrow.FLOAT64:
				v := diffFloats[r.IntN(len(diffFloats))]
				if r.IntN(3) == 0 {
					v = math.Round(r.Float64()*4000-2000) / 4
				}
				b.(*array.Float64Builder).Append(v)
			case arrow.BOOL:
				b.(*array.BooleanBuilder).Append(r.IntN(2) == 0)
			case arrow.STRING:
				b.(*array.StringBuilder).Append(diffStrings[r.IntN(len(diffStrings))])
			case arrow.DATE32:
				b.(*array.Date32Builder).Append(arrow.Date32FromTime(diffTimes[r.IntN(len(diffTimes))]))
			case arrow.TIMESTAMP:
				t := diffTimes[r.IntN(len(diffTimes))].Add(time.Duration(r.IntN(3)) * time.Hour)
				ts, _ := arrow.TimestampFromTime(t, arrow.Microsecond)
				b.(*array.TimestampBuilder).Append(ts)
			case arrow.DICTIONARY:
				if err := b.(*array.BinaryDictionaryBuilder).AppendString(diffStrings[r.IntN(6)]); err != nil {
					panic(err)
				}
			}
		}
	}
	rec := bld.NewRecordBatch()
	if !slice {
		return rec
	}
	defer rec.Release()
	return rec.NewSlice(int64(extra), int64(extra+n))
}

// diffExprs are written to cover every kernel, their null, NaN, overflow
// and failure cases, and the fallbacks.
var diffExprs = []string{
	// arithmetic
	"i + j", "i - j", "i * j", "i % j", "i / j", "i ** 2", "i ^ j", "-i", "+i", "-f", "+f", "i + 1", "1 + i",
	"i * 1000000007", "f + g", "f - g", "f * g", "f / g", "f ** g", "f * 1.21", "amount_like * 1.21",
	"i + f", "f + i", "i * f", "i / 0", "f / 0", "i % 0", "i % 7", "i % -1", "f ** 0.5", "2 ** i",
	"i + j * 2 - 1", "(i + 1) * (j - 1)", "--i", "-(-f)",
	// comparisons
	"i < j", "i > j", "i <= j", "i >= j", "i == j", "i != j", "f < g", "f == g", "f != g", "f >= 1000",
	"i < f", "f > i", "i == f", "f == 18", "i == 18", "i != 18", "s < t", "s >= t", "s == t", "s != t",
	"s == 'paid'", "s != 'paid'", "b == c", "b != c", "b == true", "b != false", "d < ts", "d == ts", "ts >= d",
	"d > date('2024-01-01')", "ts <= date('2024-02-29T12:30:15.123456Z')", "d == date('2024-01-01')",
	"i == nil", "i != nil", "f == nil", "s == nil", "s != nil", "b == nil", "d == nil", "nil == ts", "nil == nil",
	"i == 1.0", "f == f", "f != f",
	// logic
	"b && c", "b || c", "!b", "not c", "b and i > 5", "i > 5 && b", "i > 5 || f < 0", "f > 1000 && s == 'paid' || i < 20",
	"!(i > 5) || !(f > 5)", "i > 1 && j > 1 && f > 1", "true && b", "false || c",
	"i > 0 && i % j == 0", "j == 0 || i % j > 0",
	// conditional and coalescing
	"f > 1000 ? 'high' : f > 100 ? 'mid' : 'low'", "b ? i : j", "b ? f : g", "b ? s : t", "b ? d : ts",
	"i > 0 ? i : nil", "b ? nil : s", "c ? b : !b", "i ?? 0", "f ?? 0.5", "s ?? 'none'", "b ?? false",
	"i ?? j", "s ?? t ?? 'x'", "(i + 1) ?? 0", "nil ?? i", "i % j ?? 5", "b ? i % j : 0", "d ?? ts",
	"b ? 1 : 2.5", "f ?? 0", "b ? s : i",
	// in
	"i in [1, 2, 3]", "i in [0, 1]", "i not in [1, 2]", "s in ['paid', 'new']", "s in ['', 'x']", "s not in ['a']",
	"f in [1, 0.5]", "i in [1, 2.5]", "f in [1000, nil]", "b in [true]", "i in 1..10", "i in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]",
	// strings
	"upper(s)", "lower(s)", "upper(t) + '-' + s", "s + t", "s + '!'", "'<' + s + '>'", "trim(s)", "trim(s, 'a')",
	"trimPrefix(s, 'a')", "trimSuffix(s, 'c')", "trimPrefix(s)", "trimSuffix(s)", "len(s)", "len(upper(s))",
	"hasPrefix(s, 'a')", "hasSuffix(s, t)", "s contains 'a'", "s startsWith t", "s endsWith 'c'", "s contains t",
	"indexOf(s, 'b')", "lastIndexOf(s, 'b')", "s[1:3]", "s[i:j]", "s[:2]", "s[2:]", "s[-2:]", "s matches '^[a-z]+$'",
	"upper(s) == 'PAID'", "lower(upper(s))", "string(i)", "string(b)", "string(s)", "int(s)", "float(s)", "int(f)",
	"float(i)", "int(i)", "float(f)", "repeat(s, 2)", "split(s, ',')[0]", "replace(s, 'a', 'b')", "string(f)",
	"k == 'paid'", "k != nil", "k in ['paid', 'new']", "k ?? 'x'", "s == k",
	// math
	"abs(i)", "abs(f)", "ceil(f)", "floor(f)", "round(f)", "ceil(i)", "round(i)", "max(i, j)", "min(f, g)",
	// dates
	"d.Year()", "ts.Year()", "ts.Hour()", "ts.Minute()", "ts.Second()", "d.Day()", "ts.YearDay()", "ts.Nanosecond()",
	"d.Month()", "ts.Weekday()", "d.Year() > 2000", "ts - d", "d + duration('24h')", "ts.Unix()", "date('2024-06-01')",
	"d.Format('2006-01')", "ts.After(d)", "d < now()",
	// whole-row fallbacks and constants
	"filter([i, j], # > 0)", "len([i, j, f])", "all([b, c], #)", "let x = i + 1; x * 2", "$env.i", "1 + 2", "'a' + 'b'",
	"[1, 2][i % 2]", "i % 0 == 0 || true", "nil", "true", "date('bogus') > d",
}

func init() {
	// amount_like is i under another name in one expression above: replace it.
	for k, e := range diffExprs {
		diffExprs[k] = strings.ReplaceAll(e, "amount_like", "f")
	}
}

// rowResult is what the row evaluator gives for one row.
type rowResult struct {
	v   any
	err bool
}

func rowEval(t testing.TB, p *ExprProgram, rec arrow.RecordBatch) []rowResult {
	row := NewExprRow(rec, p.Refs)
	out := make([]rowResult, rec.NumRows())
	for i := range out {
		row.Load(i)
		v, err := row.Eval(p)
		out[i] = rowResult{v: v, err: err != nil}
	}
	return out
}

// vecEval is the same from the kernels (ok false: the batch would be
// evaluated row by row).
func vecEval(p *VProgram, st *VState, rec arrow.RecordBatch) ([]rowResult, bool) {
	st.Reset(rec)
	v := p.eval(st)
	if st.mismatch {
		return nil, false
	}
	out := make([]rowResult, rec.NumRows())
	for i := range int32(len(out)) {
		switch {
		case v.failed(i):
			out[i] = rowResult{err: !p.refNull(st, i)}
		default:
			out[i] = rowResult{v: box(v, i)}
		}
	}
	return out, true
}

func sameValue(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && (x == y && math.Signbit(x) == math.Signbit(y) || math.IsNaN(x) && math.IsNaN(y))
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y) && x.Location() == y.Location()
	}
	return reflect.DeepEqual(a, b)
}

func show(v any) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprintf("%#v", v)
}

// compareEvaluators evaluates src both ways on rec and reports the first
// difference.
func compareEvaluators(t testing.TB, src string, rec arrow.RecordBatch, st *VState, env *VEnv) (*VProgram, error) {
	p, err := CompileExpr(src, env.ExprEnv())
	if err != nil {
		return nil, err
	}
	vp := CompileVector(p, env)
	want := rowEval(t, p, rec)
	got, ok := vecEval(vp, st, rec)
	if !ok {
		return vp, fmt.Errorf("%q: the kernels gave up on the batch (a fallback returned an unexpected type)", src)
	}
	for i := range want {
		w, g := want[i], got[i]
		if w.err != g.err || !w.err && !sameValue(w.v, g.v) {
			desc := NewExprRow(rec, p.Refs)
			desc.Load(i)
			return vp, fmt.Errorf("%q (%s) row %d where %s: row evaluator %s (error %v), kernels %s (error %v)",
				src, vp.Explain(), i, desc.Describe(p), show(w.v), w.err, show(g.v), g.err)
		}
	}
	return vp, nil
}

func TestVectorMatchesRowEvaluator(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	r := rand.New(rand.NewPCG(17, 4))
	env := NewVEnv(diffSchema)
	st := env.NewState()
	var batches []arrow.RecordBatch
	for _, shape := range []struct {
		n, nulls int
		slice    bool
	}{{200, 0, false}, {300, 15, false}, {257, 40, true}, {1, 0, true}, {0, 0, false}, {500, 90, true}, {1000, 5, true}} {
		n := shape.n
		if n > 50 {
			n /= diffScale
		}
		batches = append(batches, randomBatch(alloc, r, n, shape.nulls, shape.slice))
	}
	defer func() {
		for _, b := range batches {
			b.Release()
		}
	}()
	vectorised := 0
	for _, src := range diffExprs {
		if strings.Contains(src, "now()") {
			continue // not deterministic; checked for compiling below
		}
		for _, rec := range batches {
			vp, err := compareEvaluators(t, src, rec, st, env)
			if err != nil {
				t.Error(err)
				break
			}
			if rec == batches[0] && !vp.Whole {
				vectorised++
			}
		}
	}
	st.Release()
	// The kernels must carry most of the list (the rest are fallbacks on purpose).
	if vectorised < len(diffExprs)*3/4 {
		t.Errorf("only %d of %d expressions run with kernels", vectorised, len(diffExprs))
	}
}

// TestVectorColumnAndSelect checks what the stages use: Column (a derived
// column of each type, converted as the row path's NormalizeValue) and
// Select (a Filter's rows), against the row evaluator.
func TestVectorColumnAndSelect(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	r := rand.New(rand.NewPCG(3, 9))
	env := NewVEnv(diffSchema)
	st := env.NewState()
	defer st.Release()
	rec := randomBatch(alloc, r, 400/diffScale, 20, true)
	defer rec.Release()
	types := []arrow.DataType{openstage.Int64, openstage.Float64, openstage.String, openstage.Bool, openstage.Timestamp, openstage.Date}
	for _, src := range diffExprs {
		if strings.Contains(src, "now()") {
			continue
		}
		p, err := CompileExpr(src, env.ExprEnv())
		if err != nil {
			t.Fatal(err)
		}
		vp := CompileVector(p, env)
		want := rowEval(t, p, rec)
		for _, dt := range types {
			st.Reset(rec)
			arr, bad, ok := vp.Column(st, alloc, dt, nil)
			if !ok {
				t.Errorf("%q as %s: the kernels gave up", src, dt)
				continue
			}
			for i, w := range want {
				wv, werr := w.v, w.err
				if !werr {
					var err error
					if wv, err = openstage.NormalizeValue(dt, wv); err != nil {
						werr = true
					}
				}
				gotBad := bad != nil && bad[i]
				if gotBad != werr {
					t.Errorf("%q as %s, row %d: row path error %v, kernels %v", src, dt, i, werr, gotBad)
					break
				}
				if werr {
					continue
				}
				var gv any
				if arr.IsValid(i) {
					gv = columnValue(arr, i)
				}
				if !sameValue(wv, gv) {
					t.Errorf("%q as %s, row %d: row path %s, kernels %s", src, dt, i, show(wv), show(gv))
					break
				}
			}
			arr.Release()
		}
		if p.Type != nil && p.Type.Kind() != reflect.Bool && p.Type.Kind() != reflect.Interface {
			continue
		}
		// Select: the rows where the row path gives true, up to its first error.
		var wantKeep []int32
		wantBad := -1
		for i, w := range want {
			if b, isBool := w.v.(bool); w.err || w.v != nil && !isBool {
				wantBad = i
				break
			} else if b {
				wantKeep = append(wantKeep, int32(i))
			}
		}
		st.Reset(rec)
		keep, bad, ok := vp.Select(st, nil)
		if !ok {
			t.Errorf("%q: Select gave up", src)
			continue
		}
		if bad != wantBad || wantBad < 0 && !reflect.DeepEqual(keep, wantKeep) && len(keep)+len(wantKeep) > 0 {
			t.Errorf("%q: Select kept %d rows, first error at %d; the row path %d rows, first error at %d", src, len(keep), bad, len(wantKeep), wantBad)
		}
	}
}

// columnValue is row i of a column as NormalizeValue returns it.
func columnValue(arr arrow.Array, i int) any {
	switch a := arr.(type) {
	case *array.Int64:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.String:
		return a.Value(i)
	case *array.Timestamp:
		return a.Value(i)
	case *array.Date32:
		return a.Value(i)
	}
	panic(fmt.Sprintf("column type %s", arr.DataType()))
}

// TestVectorChunks: SelectBatch and DeriveBatch cut a batch into chunks
// (here of 64 rows, a sliced batch of 1000): the result over the whole
// batch, row numbers of the kept and failing rows included, is the row
// evaluator's.
func TestVectorChunks(t *testing.T) {
	defer func(c int) { vChunk = c }(vChunk)
	vChunk = 64
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	r := rand.New(rand.NewPCG(8, 1))
	rec := randomBatch(alloc, r, 1000, 20, true)
	defer rec.Release()
	env := NewVEnv(diffSchema)
	st := env.NewState()
	// Select: the first failing row is found in a later chunk.
	for _, src := range []string{"f > 100 || s == 'paid'", "i % (j - j) == 0 || b", "b ?? c", "s == 'ñandú' && b && c && j == 7 ? int(t) > 0 : f > 0"} {
		p, err := CompileExpr(src, env.ExprEnv())
		if err != nil {
			t.Fatal(err)
		}
		vp := CompileVector(p, env)
		want := rowEval(t, p, rec)
		var wantKeep []int32
		wantBad := -1
		for i, w := range want {
			if w.err {
				wantBad = i
				break
			}
			if w.v == true {
				wantKeep = append(wantKeep, int32(i))
			}
		}
		keep, bad, ok := vp.SelectBatch(st, rec, nil)
		if strings.Contains(src, "j == 7") && bad < vChunk {
			t.Errorf("%q fails first at row %d: the test wants a failing row past the first chunk", src, bad)
		}
		if !ok || bad != wantBad || wantBad < 0 && !reflect.DeepEqual(keep, wantKeep) {
			t.Errorf("%q: kept %d rows, first error %d; want %d rows, first error %d", src, len(keep), bad, len(wantKeep), wantBad)
		}
	}
	// Derive: a chain, each value seen by the next one, over 16 chunks.
	srcs := []string{"i * 2", "a + j", "upper(s) + string(b2)", "f / 2"}
	names := []string{"a", "b2", "u", "h"}
	var progs []*VProgram
	var dts []arrow.DataType
	var slots []int
	for k, src := range srcs {
		p, err := CompileExpr(src, env.ExprEnv())
		if err != nil {
			t.Fatal(err)
		}
		dt, _ := ExprArrowType(p.Type)
		progs, dts = append(progs, CompileVector(p, env)), append(dts, dt)
		slots = append(slots, env.Define(names[k], dt))
	}
	cols, bad, ok := DeriveBatch(st, rec, alloc, progs, dts, slots)
	if !ok || bad != nil {
		t.Fatalf("DeriveBatch: ok %v, bad rows %v", ok, bad != nil)
	}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	row := NewExprRow(rec, []string{"i", "j", "s", "b", "f"})
	for i := range int(rec.NumRows()) {
		row.Load(i)
		for k, vp := range progs {
			v, err := row.Eval(vp.Prog)
			if err != nil {
				t.Fatal(err)
			}
			nv, err := openstage.NormalizeValue(dts[k], v)
			if err != nil {
				t.Fatal(err)
			}
			var got any
			if cols[k].IsValid(i) {
				got = columnValue(cols[k], i)
			}
			if !sameValue(nv, got) {
				t.Fatalf("row %d, %s: kernels %s, row evaluator %s", i, srcs[k], show(got), show(nv))
			}
			switch x := nv.(type) {
			case int64:
				row.Set(names[k], int(x))
			default:
				row.Set(names[k], x)
			}
		}
	}
	st.Release()
}
