package csvio

// Filtering while reading (ReadOptions.Where; CSVOrigin.FoldFilter): the
// parser converts the condition's column first, tests it, and converts the
// other columns of the rows that pass only. In the block path (block.go)
// a block's condition column is converted into a scratch column, tested,
// and every column is then converted for the passing rows alone, through
// a gathered separator index; in the row-at-a-time path a row that fails
// is rolled back after conversion, and a value that does not convert in a
// row that fails the condition is not an error (the condition's own
// column is converted for every row: a bad value there still is).

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
)

// whereTest is a compiled condition on one column of the file.
type whereTest struct {
	col  int // the column's position in the file
	kind colKind
	keep func(c *column, j int) bool // value j of the column passes
}

// isNullAt reports whether value j of c is null (or a float NaN).
func isNullAt(c *column, j int) bool {
	if c.valid != nil && c.valid[j>>3]&(1<<(j&7)) == 0 {
		return true
	}
	return c.kind == kFloat64 && math.IsNaN(c.f64[j])
}

func strAt(c *column, j int) []byte { return c.sdata[c.offs[j]:c.offs[j+1]] }

// compileWhere compiles cond against column kinds of the file (as in
// openstage.Condition: values typed to the column, nulls never satisfy a
// comparison, NaN counts as null).
func compileWhere(cond *openstage.Condition, file *arrow.Schema, kinds []colKind) (*whereTest, error) {
	idx := file.FieldIndices(cond.Column)
	if len(idx) != 1 {
		return nil, fmt.Errorf("csvio: Where: no single column '%s'", cond.Column)
	}
	col := idx[0]
	kind := kinds[col]
	w := &whereTest{col: col, kind: kind}
	switch cond.Op {
	case "is null":
		w.keep = isNullAt
		return w, nil
	case "is not null":
		w.keep = func(c *column, j int) bool { return !isNullAt(c, j) }
		return w, nil
	}
	var vals []any
	switch cond.Op {
	case "in", "not in", "between":
		l, ok := cond.Value.([]any)
		if !ok || cond.Op == "between" && len(l) != 2 {
			return nil, fmt.Errorf("csvio: Where: %s needs a list", cond.Op)
		}
		vals = l
	case "<", ">", "<=", ">=", "=", "!=":
		vals = []any{cond.Value}
	default:
		return nil, fmt.Errorf("csvio: Where: unknown condition %q", cond.Op)
	}
	// Each kind's values as int64 (int, bool, date, timestamp), float64 or
	// string, then one generic test over them.
	var test func(c *column, j int) bool
	bad := fmt.Errorf("csvio: Where: value %v does not fit column '%s' (%s)", cond.Value, cond.Column, file.Field(col).Type)
	switch kind {
	case kInt64, kDate32, kTimestamp, kBool:
		iv := make([]int64, len(vals))
		for i, v := range vals {
			x, ok := whereInt(kind, v)
			if !ok {
				return nil, bad
			}
			iv[i] = x
		}
		get := func(c *column, j int) int64 { return c.i64[j] }
		switch kind {
		case kDate32:
			get = func(c *column, j int) int64 { return int64(c.i32[j]) }
		case kBool:
			get = func(c *column, j int) int64 {
				return int64(c.bits[j>>3] >> (j & 7) & 1)
			}
		}
		test = orderedTest(cond.Op, iv, get)
	case kFloat64:
		fv := make([]float64, len(vals))
		for i, v := range vals {
			x, ok := v.(float64)
			if !ok {
				return nil, bad
			}
			fv[i] = x
		}
		test = orderedTest(cond.Op, fv, func(c *column, j int) float64 { return c.f64[j] })
	case kString:
		sv := make([]string, len(vals))
		for i, v := range vals {
			x, ok := v.(string)
			if !ok {
				return nil, bad
			}
			sv[i] = x
		}
		test = orderedTest(cond.Op, sv, func(c *column, j int) string { return string(strAt(c, j)) })
	default:
		return nil, fmt.Errorf("csvio: Where: column '%s' is not read", cond.Column)
	}
	w.keep = func(c *column, j int) bool { return !isNullAt(c, j) && test(c, j) }
	return w, nil
}

// whereInt returns v as the int64 the column of kind k stores.
func whereInt(k colKind, v any) (int64, bool) {
	switch k {
	case kInt64:
		x, ok := v.(int64)
		return x, ok
	case kBool:
		x, ok := v.(bool)
		if x {
			return 1, ok
		}
		return 0, ok
	case kDate32:
		t, ok := v.(time.Time)
		if !ok {
			return 0, false
		}
		sec := t.Unix()
		if sec%86400 != 0 {
			return 0, false
		}
		return sec / 86400, true
	case kTimestamp:
		t, ok := v.(time.Time)
		if !ok || t.Nanosecond()%1000 != 0 {
			return 0, false
		}
		return t.UnixMicro(), true
	}
	return 0, false
}

// orderedTest is the test of a comparison over values of an ordered type.
func orderedTest[T int64 | float64 | string](op string, vals []T, get func(c *column, j int) T) func(c *column, j int) bool {
	x := vals[0]
	switch op {
	case "<":
		return func(c *column, j int) bool { return get(c, j) < x }
	case ">":
		return func(c *column, j int) bool { return get(c, j) > x }
	case "<=":
		return func(c *column, j int) bool { return get(c, j) <= x }
	case ">=":
		return func(c *column, j int) bool { return get(c, j) >= x }
	case "=":
		return func(c *column, j int) bool { return get(c, j) == x }
	case "!=":
		return func(c *column, j int) bool { return get(c, j) != x }
	case "between":
		lo, hi := vals[0], vals[1]
		return func(c *column, j int) bool { v := get(c, j); return lo <= v && v <= hi }
	}
	set := map[T]bool{}
	for _, v := range vals {
		set[v] = true
	}
	not := op == "not in"
	return func(c *column, j int) bool { return set[get(c, j)] != not }
}

// whereBlock converts the condition's column of the r rows of a validated
// block into a scratch column and returns the rows that pass; ok is false
// when a value does not convert (the block then goes row by row).
func (p *parser) whereBlock(buf []byte, ix []int32, step, r int, last bool) (sel []int32, ok bool) {
	w := p.where
	sc := &p.wscratch
	*sc = column{kind: w.kind, dtype: p.cols[w.col].dtype, name: p.cols[w.col].name, strict: p.cols[w.col].strict, fast: p.cols[w.col].fast, bytesPerRow: sc.bytesPerRow}
	sc.begin(p.cfg.alloc, r)
	defer func() {
		if sc.n > 0 && sc.kind == kString {
			sc.bytesPerRow = float64(sc.slen) / float64(sc.n)
		}
		sc.release()
	}()
	if !p.convert(sc, buf, ix, step, r, last) {
		return nil, false
	}
	sel = p.wsel[:0]
	for j := range r {
		if w.keep(sc, j) {
			sel = append(sel, int32(j))
		}
	}
	p.wsel = sel
	return sel, true
}

// gather returns the separator index of column ix (step entries per row)
// restricted to rows sel, two entries per row, for convert with step 2.
func (p *parser) gather(ix []int32, step int, sel []int32) []int32 {
	g := slices.Grow(p.wix[:0], 2*len(sel))[:2*len(sel)]
	for m, j := range sel {
		g[2*m] = ix[int(j)*step]
		g[2*m+1] = ix[int(j)*step+1]
	}
	p.wix = g
	return g
}

// whereRaw tests the condition on the raw text of its field, for a row
// that fails to convert in another column: whether the row is dropped
// anyway. false when the text does not convert.
func (p *parser) whereRaw(v []byte, quoted bool) (fails bool) {
	w := p.where
	sc := &p.wscratch
	*sc = column{kind: w.kind, dtype: p.cols[w.col].dtype}
	sc.begin(p.cfg.alloc, 1)
	defer sc.release()
	cfg := p.cfg
	if (w.kind != kString || !quoted) && (len(v) == 0 && cfg.nullEmpty || len(cfg.nullOthers) > 0 && cfg.isNull(v)) {
		sc.appendNull(cfg.alloc)
		return !w.keep(sc, 0)
	}
	ok := true
	switch w.kind {
	case kString:
		sc.appendString(v, false, 0)
	case kInt64:
		x, good, _ := parseInt64(v)
		if good && p.cols[w.col].strict && !canonicalInt(v) {
			good = false
		}
		sc.i64[0], ok = x, good
	case kFloat64:
		sc.f64[0], ok = parseFloat64(v)
	case kDate32:
		sc.i32[0], ok = parseDate32(v)
	case kTimestamp:
		sc.i64[0], ok = parseTimestamp(v)
	case kBool:
		var x bool
		if x, ok = parseBool(v, true); x {
			sc.bits[0] = 1
		}
	}
	if !ok {
		return false
	}
	if w.kind != kString {
		sc.setValid()
	}
	return !w.keep(sc, 0)
}
