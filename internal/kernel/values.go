package kernel

// Typing Filter's values against a column at Plan, and building the
// predicates of select.go from them.

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
)

// ---- typing values ----

// IntVal is a value in the unit of an int-like column: floor(x), whether x
// is exactly that integer, and out = -1 or +1 when x is below or above the
// int64 range.
type IntVal struct {
	v     int64
	exact bool
	out   int8
}

func IntFromFloat(x float64) (IntVal, bool) {
	switch {
	case x != x:
		return IntVal{}, false
	case x >= 0x1p63:
		return IntVal{out: 1}, true
	case x < -0x1p63:
		return IntVal{out: -1}, true
	}
	f := math.Floor(x)
	return IntVal{v: int64(f), exact: f == x}, true
}

// IntValueOf reads v in the unit of int-like column type dt.
func IntValueOf(v any, dt arrow.DataType) (IntVal, bool) {
	switch dt.ID() {
	case arrow.INT64:
		if i, ok := openstage.AnyInt(v); ok {
			return IntVal{v: i, exact: true}, true
		}
		switch x := v.(type) {
		case float64:
			return IntFromFloat(x)
		case float32:
			return IntFromFloat(float64(x))
		case string:
			s := strings.TrimSpace(x)
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return IntVal{v: i, exact: true}, true
			}
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				return IntFromFloat(f)
			}
		}
	case arrow.BOOL:
		switch x := v.(type) {
		case bool:
			return IntVal{v: int64(B2i(x)), exact: true}, true
		case string:
			if b, err := strconv.ParseBool(strings.TrimSpace(x)); err == nil {
				return IntVal{v: int64(B2i(b)), exact: true}, true
			}
		}
	case arrow.DATE32, arrow.TIMESTAMP:
		var t time.Time
		switch x := v.(type) {
		case time.Time:
			t = x
		case string:
			pt, err := openstage.ParseTime(strings.TrimSpace(x))
			if err != nil {
				return IntVal{}, false
			}
			t = pt
		default:
			return IntVal{}, false
		}
		if dt.ID() == arrow.DATE32 {
			return TimeUnits(t, 86400*1e9), true
		}
		perUnit := int64(1)
		switch dt.(*arrow.TimestampType).Unit {
		case arrow.Second:
			perUnit = 1e9
		case arrow.Millisecond:
			perUnit = 1e6
		case arrow.Microsecond:
			perUnit = 1e3
		}
		return TimeUnits(t, perUnit), true
	}
	return IntVal{}, false
}

// TimeUnits expresses t in units of perUnit nanoseconds since the epoch.
func TimeUnits(t time.Time, perUnit int64) IntVal {
	sec, nsec := t.Unix(), int64(t.Nanosecond())
	if perUnit >= 1e9 { // seconds or days: whole seconds divide exactly
		secPer := perUnit / 1e9
		q, r := sec/secPer, sec%secPer
		if r < 0 {
			q, r = q-1, r+secPer
		}
		return IntVal{v: q, exact: r == 0 && nsec == 0}
	}
	unitsPerSec := 1e9 / perUnit
	if f := float64(sec) * float64(unitsPerSec); f >= 0x1p63 {
		return IntVal{out: 1}
	} else if f < -0x1p63 {
		return IntVal{out: -1}
	}
	return IntVal{v: sec*unitsPerSec + nsec/perUnit, exact: nsec%perUnit == 0}
}

func FloatValueOf(v any) (float64, bool) {
	if i, ok := openstage.AnyInt(v); ok {
		return float64(i), true
	}
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	case string:
		p, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, false
		}
		f = p
	default:
		return 0, false
	}
	return f, f == f // NaN compares with nothing
}

func StringValueOf(v any) (string, bool) {
	if i, ok := openstage.AnyInt(v); ok {
		return strconv.FormatInt(i, 10), true
	}
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// ---- building predicates ----

// IntLower is the smallest integer v with v > x (strict) or v >= x.
func IntLower(x IntVal, strict bool) (lo int64, none bool) {
	switch {
	case x.out > 0:
		return 0, true
	case x.out < 0:
		return math.MinInt64, false
	case !strict && x.exact:
		return x.v, false
	case x.v == math.MaxInt64:
		return 0, true
	}
	return x.v + 1, false
}

// IntUpper is the largest integer v with v < x (strict) or v <= x.
func IntUpper(x IntVal, strict bool) (hi int64, none bool) {
	switch {
	case x.out < 0:
		return 0, true
	case x.out > 0:
		return math.MaxInt64, false
	case strict && x.exact:
		if x.v == math.MinInt64 {
			return 0, true
		}
		return x.v - 1, false
	}
	return x.v, false
}

func IntPredicate(cond string, vals []IntVal) Predicate {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	var none bool
	switch cond {
	case "=", "!=":
		x := vals[0]
		if x.out != 0 || !x.exact {
			if cond == "=" {
				return NonePred{}
			}
			return AllPred{}
		}
		return IntEq{x: x.v, ne: cond == "!="}
	case "in", "not in":
		var exact []int64
		for _, x := range vals {
			if x.out == 0 && x.exact {
				exact = append(exact, x.v)
			}
		}
		if len(exact) == 0 {
			if cond == "in" {
				return NonePred{}
			}
			return AllPred{}
		}
		return NewIntIn(exact, cond == "not in")
	case "<":
		hi, none = IntUpper(vals[0], true)
	case "<=":
		hi, none = IntUpper(vals[0], false)
	case ">":
		lo, none = IntLower(vals[0], true)
	case ">=":
		lo, none = IntLower(vals[0], false)
	case "between":
		var n1, n2 bool
		lo, n1 = IntLower(vals[0], false)
		hi, n2 = IntUpper(vals[1], false)
		none = n1 || n2
	}
	switch {
	case none || lo > hi:
		return NonePred{}
	case lo == math.MinInt64 && hi == math.MaxInt64:
		return AllPred{}
	}
	return IntRange{lo: lo, hi: hi}
}

func FloatPredicate(cond string, vals []float64) Predicate {
	switch cond {
	case "=", "!=":
		return FloatEq{x: vals[0], ne: cond == "!="}
	case "in", "not in":
		set := make(map[float64]struct{}, len(vals))
		for _, v := range vals {
			set[v] = struct{}{}
		}
		return FloatIn{set: set, not: cond == "not in"}
	case "between":
		if vals[0] > vals[1] {
			return NonePred{}
		}
		return FloatRange{lo: vals[0], hi: vals[1]}
	}
	lo, hi, none := FloatBounds(cond, vals[0])
	if none {
		return NonePred{}
	}
	return FloatRange{lo: lo, hi: hi}
}

func StrPredicate(cond string, vals []string) Predicate {
	switch cond {
	case "=", "!=":
		return StrEq{x: vals[0], ne: cond == "!="}
	case "in", "not in":
		set := make(map[string]struct{}, len(vals))
		for _, v := range vals {
			set[v] = struct{}{}
		}
		return StrIn{set: set, not: cond == "not in"}
	case "<":
		return StrRange{hi: vals[0], hasHi: true}
	case "<=":
		return StrRange{hi: vals[0], hasHi: true, hiIncl: true}
	case ">":
		return StrRange{lo: vals[0], hasLo: true}
	case ">=":
		return StrRange{lo: vals[0], hasLo: true, loIncl: true}
	}
	// between
	return StrRange{lo: vals[0], hi: vals[1], hasLo: true, hasHi: true, loIncl: true, hiIncl: true}
}

// Exact returns the value in the column's unit when it is exactly a value
// of the column (not a fraction of a unit, not outside the int64 range).
func (iv IntVal) Exact() (int64, bool) { return iv.v, iv.exact && iv.out == 0 }
