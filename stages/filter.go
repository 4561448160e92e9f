package stages

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// Filter keeps the rows that satisfy a condition (DataStage's Filter stage).
//
// The seed's form tests one column: field, condition and value, as in
// NewFilter("adults", "age", ">=", 18). The conditions are <, >, <=, >=, !=,
// =, in, not in, between (value [low, high], both ends inclusive), is null
// and is not null (no value). The alternative form, expr, is an expression
// over the row (see the package documentation on expressions).
//
// The value is typed against the column when the job is validated: a value
// that cannot be read as the column's type is an error. An integer value
// against a float column is converted; a number with a fraction against an
// int column compares numerically (age > 17.5 keeps 18 and above; age = 17.5
// keeps nothing); dates and timestamps are written as strings (2024-01-31,
// 2024-01-31T12:00:00Z) and a time of day against a date column also
// compares exactly. Strings compare bytewise (UTF-8 byte order, as SQLite's
// BINARY collation); a whole number against a string column compares with its
// decimal text.
//
// Nulls never satisfy a comparison, as in SQL: != and not in do not keep
// null rows either; only is null keeps them. Float NaN counts as null.
//
// Filter is a Mapper: the engine runs it on several batches at once and keeps
// their order. A batch whose rows all match is passed on as it is (no copy).
type Filter struct {
	Field     string `param:"field" doc:"Column to test (with condition and value)."`
	Condition string `param:"condition" enum:"<,>,<=,>=,!=,=,in,not in,between,is null,is not null" hint:"==|equality is =" doc:"How to test the field: <, >, <=, >=, !=, =, in, not in, between, is null, is not null."`
	Value     any    `param:"value" doc:"What to compare with: one value, a list for in and not in, [low, high] for between (inclusive), nothing for is null and is not null."`
	Expr      string `param:"expr" doc:"Instead of field/condition/value: an expression over the row that returns true for the rows to keep, such as 'age >= 18 and country in [\"ES\", \"PT\"]'."`

	alloc memory.Allocator
	col   int
	pred  kPredicate
	prog  *kExprProgram
}

// filterConditions lists the conditions in the order messages show them.
var filterConditions = []string{"<", ">", "<=", ">=", "!=", "=", "in", "not in", "between", "is null", "is not null"}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "Filter",
		Layer:   openstage.Transformation,
		Summary: "Keeps the rows that satisfy a condition on a column (<, >, <=, >=, !=, =, in, not in, between, is null, is not null) or an expression.",
		Doc: `Either field + condition + value, or expr (not both).

The value is checked against the column's type when the job is validated:
"abc" against an int64 column is an error; an integer against a float64
column is fine; a number with a fraction against an int64 column compares
numerically (age > 17.5 keeps 18 and above, age = 17.5 keeps nothing); dates
and timestamps are strings such as 2024-01-31 or 2024-01-31T12:00:00Z. in and
not in take a list; between takes [low, high] and includes both ends (low >
high keeps nothing). Strings compare bytewise in UTF-8 byte order.

Nulls never satisfy a comparison (SQL semantics): != and not in drop null
rows too. Use is null / is not null to test for nulls. Float NaN counts as
null.

expr is an expression (expr-lang) over the row returning a bool. Columns are
variables: int64 columns are ints, float64 floats, dates and timestamps
time.Time (UTC). It is compiled and type-checked once, before any data moves;
an unknown column is an error. Nulls are nil: 'email != nil' tests for them;
an operation that fails on a nil (such as 'age > 18' when age is null) makes
the row not match. An expression that fails on a row without nulls fails the
job, naming the values of that row.

The engine runs Filter on several batches in parallel and keeps their order;
a batch whose rows all match is passed on without copying.`,
		Example: `- name: adults
  type: Filter
  field: age
  condition: ">="
  value: 18

- name: iberian_big_orders
  type: Filter
  expr: 'amount > 1000 and country in ["ES", "PT"]'`,
		New: func() any { return &Filter{} },
	})
}

// NewFilter returns a Filter stage in the seed's positional form:
// NewFilter("adults", "age", ">=", 18). For in and not in pass a slice, for
// between a two-element slice, for is null and is not null a nil value.
func NewFilter(name, field, condition string, value any) *openstage.Stage {
	return openstage.New(name, func(f *Filter) {
		f.Field, f.Condition, f.Value = field, condition, value
	})
}

// NewFilterExpr returns a Filter stage that keeps the rows for which the
// expression is true: NewFilterExpr("big", `amount > 1000 and country == "ES"`).
func NewFilterExpr(name, expression string) *openstage.Stage {
	return openstage.New(name, func(f *Filter) { f.Expr = expression })
}

// Connectivity implements the optional connectivity interface: one input, one output.
func (f *Filter) Connectivity() openstage.Connectivity { return openstage.OneToOne }

// Plan checks the parameters against the input schema and types the value.
func (f *Filter) Plan(_ context.Context, p *openstage.Plan) error {
	s := p.InputSchema()
	f.alloc = p.Allocator()
	f.pred, f.prog = nil, nil
	usesField := f.Field != "" || f.Condition != "" || f.Value != nil
	switch {
	case usesField && f.Expr != "":
		return errors.New("field/condition/value and expr are mutually exclusive; use one form")
	case f.Expr != "":
		prog, err := kCompileExpr(f.Expr, kNewExprEnv(s))
		if err != nil {
			return fmt.Errorf("expr: %w", err)
		}
		if prog.typ != nil && prog.typ.Kind() != reflect.Bool {
			return fmt.Errorf("expr must return a bool (true keeps the row), but %q returns %s", f.Expr, prog.typ)
		}
		f.prog = prog
	case f.Field == "":
		return errors.New("set field, condition and value, or expr")
	default:
		idx, err := openstage.FieldIndex(s, f.Field)
		if err != nil {
			return err
		}
		f.col = idx
		pred, err := filterPredicate(f.Field, s.Field(idx).Type, f.Condition, f.Value)
		if err != nil {
			return err
		}
		f.pred = pred
	}
	if f.prog != nil {
		passThrough(p, f.prog.refs...)
	} else {
		passThrough(p, f.Field)
	}
	p.SetOutputs(s)
	return nil
}

// MapBatch implements openstage.Mapper.
func (f *Filter) MapBatch(_ context.Context, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	n := int(rec.NumRows())
	selp := kGetSel(n)
	defer kPutSel(selp)
	sel := *selp
	var k int
	if f.prog != nil {
		var err error
		if k, err = f.selectExpr(rec, sel); err != nil {
			return nil, err
		}
	} else {
		k = f.pred.sel(rec.Column(f.col), sel)
	}
	switch k {
	case n:
		rec.Retain()
		return rec, nil
	case 0:
		return nil, nil
	}
	return openstage.Take(f.alloc, rec, sel[:k]), nil
}

// selectExpr evaluates the expression row by row.
func (f *Filter) selectExpr(rec arrow.RecordBatch, sel []int32) (int, error) {
	row := kNewExprRow(rec, f.prog.refs)
	k := 0
	for i := range int(rec.NumRows()) {
		row.load(i)
		v, err := row.eval(f.prog)
		if err != nil {
			return 0, fmt.Errorf("expr %q failed on the row where %s: %w", f.Expr, row.describe(f.prog), err)
		}
		switch b := v.(type) {
		case bool:
			if b {
				sel[k] = int32(i)
				k++
			}
		case nil:
		default:
			return 0, fmt.Errorf("expr %q returned %v (%T) on the row where %s; it must return a bool", f.Expr, v, v, row.describe(f.prog))
		}
	}
	return k, nil
}

// Process implements openstage.Node; the engine calls MapBatch instead.
func (f *Filter) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	return openstage.MapperProcess(ctx, f, in, out)
}

// filterPredicate types value against the column and builds the predicate.
func filterPredicate(field string, dt arrow.DataType, cond string, value any) (kPredicate, error) {
	known := false
	for _, c := range filterConditions {
		known = known || c == cond
	}
	if cond == "" {
		return nil, fmt.Errorf("condition is required with field; use one of %s", strings.Join(filterConditions, ", "))
	}
	if !known {
		msg := fmt.Sprintf("unknown condition %q; use one of %s", cond, strings.Join(filterConditions, ", "))
		if cond == "==" {
			msg += " (equality is =)"
		}
		return nil, errors.New(msg)
	}
	switch cond {
	case "is null", "is not null":
		if value != nil {
			return nil, fmt.Errorf("condition '%s' takes no value, got %s", cond, filterShow(value))
		}
		return kNullPred{null: cond == "is null"}, nil
	}
	if value == nil {
		if cond == "=" || cond == "!=" {
			return nil, fmt.Errorf("condition '%s' needs a value (to test for nulls use is null or is not null)", cond)
		}
		return nil, fmt.Errorf("condition '%s' needs a value", cond)
	}
	list, isList := filterList(value)
	switch cond {
	case "in", "not in":
		if !isList {
			return nil, fmt.Errorf("condition '%s' needs a list value, such as [a, b]; got %s", cond, filterShow(value))
		}
	case "between":
		if !isList || len(list) != 2 {
			return nil, fmt.Errorf("condition 'between' needs a list of exactly 2 values [low, high]; got %s", filterShow(value))
		}
	default:
		if isList {
			return nil, fmt.Errorf("condition '%s' needs a single value, not a list (use in for a list of values)", cond)
		}
		list = []any{value}
	}
	for i, v := range list {
		if v == nil {
			return nil, fmt.Errorf("value item %d is null; nulls never match, use is null or is not null", i+1)
		}
	}
	what := func(i int) string {
		if isList {
			return fmt.Sprintf("value %s (item %d)", filterShow(list[i]), i+1)
		}
		return "value " + filterShow(list[i])
	}
	switch {
	case kIntLike(dt):
		vals := make([]kIntVal, len(list))
		for i, v := range list {
			iv, ok := kIntValueOf(v, dt)
			if !ok {
				return nil, fmt.Errorf("%s is not a valid %s for column '%s'%s", what(i), kTypeName(dt), field, filterHint(dt))
			}
			vals[i] = iv
		}
		return kIntPredicate(cond, vals), nil
	case dt.ID() == arrow.FLOAT64:
		vals := make([]float64, len(list))
		for i, v := range list {
			fv, ok := kFloatValueOf(v)
			if !ok {
				return nil, fmt.Errorf("%s is not a valid float64 for column '%s'", what(i), field)
			}
			vals[i] = fv
		}
		return kFloatPredicate(cond, vals), nil
	case dt.ID() == arrow.STRING:
		vals := make([]string, len(list))
		for i, v := range list {
			sv, ok := kStringValueOf(v)
			if !ok {
				return nil, fmt.Errorf("%s is not a valid string for column '%s' (quote it)", what(i), field)
			}
			vals[i] = sv
		}
		return kStrPredicate(cond, vals), nil
	}
	return nil, fmt.Errorf("column '%s' has type %s, which Filter cannot compare", field, dt)
}

func filterHint(dt arrow.DataType) string {
	switch dt.ID() {
	case arrow.DATE32:
		return " (write dates as 2024-01-31)"
	case arrow.TIMESTAMP:
		return " (write timestamps as 2024-01-31T12:00:00Z)"
	}
	return ""
}

// filterShow formats a parameter value for messages.
func filterShow(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = filterShow(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	if l, ok := filterList(v); ok {
		return filterShow(l)
	}
	return fmt.Sprint(v)
}

// filterList returns v as a list when it is a slice or an array (not a
// string or bytes).
func filterList(v any) ([]any, bool) {
	if l, ok := v.([]any); ok {
		return l, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, false
	}
	if rv.Type().Elem().Kind() == reflect.Uint8 {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

// ---- typing values ----

// kIntVal is a value in the unit of an int-like column: floor(x), whether x
// is exactly that integer, and out = -1 or +1 when x is below or above the
// int64 range.
type kIntVal struct {
	v     int64
	exact bool
	out   int8
}

func kIntFromFloat(x float64) (kIntVal, bool) {
	switch {
	case x != x:
		return kIntVal{}, false
	case x >= 0x1p63:
		return kIntVal{out: 1}, true
	case x < -0x1p63:
		return kIntVal{out: -1}, true
	}
	f := math.Floor(x)
	return kIntVal{v: int64(f), exact: f == x}, true
}

// kAnyInt returns v as int64 when it is a Go integer.
func kAnyInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint:
		if uint64(x) <= math.MaxInt64 {
			return int64(x), true
		}
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

// kIntValueOf reads v in the unit of int-like column type dt.
func kIntValueOf(v any, dt arrow.DataType) (kIntVal, bool) {
	switch dt.ID() {
	case arrow.INT64:
		if i, ok := kAnyInt(v); ok {
			return kIntVal{v: i, exact: true}, true
		}
		switch x := v.(type) {
		case float64:
			return kIntFromFloat(x)
		case float32:
			return kIntFromFloat(float64(x))
		case string:
			s := strings.TrimSpace(x)
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return kIntVal{v: i, exact: true}, true
			}
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				return kIntFromFloat(f)
			}
		}
	case arrow.BOOL:
		switch x := v.(type) {
		case bool:
			return kIntVal{v: int64(kB2i(x)), exact: true}, true
		case string:
			if b, err := strconv.ParseBool(strings.TrimSpace(x)); err == nil {
				return kIntVal{v: int64(kB2i(b)), exact: true}, true
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
				return kIntVal{}, false
			}
			t = pt
		default:
			return kIntVal{}, false
		}
		if dt.ID() == arrow.DATE32 {
			return kTimeUnits(t, 86400*1e9), true
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
		return kTimeUnits(t, perUnit), true
	}
	return kIntVal{}, false
}

// kTimeUnits expresses t in units of perUnit nanoseconds since the epoch.
func kTimeUnits(t time.Time, perUnit int64) kIntVal {
	sec, nsec := t.Unix(), int64(t.Nanosecond())
	if perUnit >= 1e9 { // seconds or days: whole seconds divide exactly
		secPer := perUnit / 1e9
		q, r := sec/secPer, sec%secPer
		if r < 0 {
			q, r = q-1, r+secPer
		}
		return kIntVal{v: q, exact: r == 0 && nsec == 0}
	}
	unitsPerSec := 1e9 / perUnit
	if f := float64(sec) * float64(unitsPerSec); f >= 0x1p63 {
		return kIntVal{out: 1}
	} else if f < -0x1p63 {
		return kIntVal{out: -1}
	}
	return kIntVal{v: sec*unitsPerSec + nsec/perUnit, exact: nsec%perUnit == 0}
}

func kFloatValueOf(v any) (float64, bool) {
	if i, ok := kAnyInt(v); ok {
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

func kStringValueOf(v any) (string, bool) {
	if i, ok := kAnyInt(v); ok {
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

// kIntLower is the smallest integer v with v > x (strict) or v >= x.
func kIntLower(x kIntVal, strict bool) (lo int64, none bool) {
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

// kIntUpper is the largest integer v with v < x (strict) or v <= x.
func kIntUpper(x kIntVal, strict bool) (hi int64, none bool) {
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

func kIntPredicate(cond string, vals []kIntVal) kPredicate {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	var none bool
	switch cond {
	case "=", "!=":
		x := vals[0]
		if x.out != 0 || !x.exact {
			if cond == "=" {
				return kNonePred{}
			}
			return kAllPred{}
		}
		return kIntEq{x: x.v, ne: cond == "!="}
	case "in", "not in":
		var exact []int64
		for _, x := range vals {
			if x.out == 0 && x.exact {
				exact = append(exact, x.v)
			}
		}
		if len(exact) == 0 {
			if cond == "in" {
				return kNonePred{}
			}
			return kAllPred{}
		}
		return kNewIntIn(exact, cond == "not in")
	case "<":
		hi, none = kIntUpper(vals[0], true)
	case "<=":
		hi, none = kIntUpper(vals[0], false)
	case ">":
		lo, none = kIntLower(vals[0], true)
	case ">=":
		lo, none = kIntLower(vals[0], false)
	case "between":
		var n1, n2 bool
		lo, n1 = kIntLower(vals[0], false)
		hi, n2 = kIntUpper(vals[1], false)
		none = n1 || n2
	}
	switch {
	case none || lo > hi:
		return kNonePred{}
	case lo == math.MinInt64 && hi == math.MaxInt64:
		return kAllPred{}
	}
	return kIntRange{lo: lo, hi: hi}
}

func kFloatPredicate(cond string, vals []float64) kPredicate {
	switch cond {
	case "=", "!=":
		return kFloatEq{x: vals[0], ne: cond == "!="}
	case "in", "not in":
		set := make(map[float64]struct{}, len(vals))
		for _, v := range vals {
			set[v] = struct{}{}
		}
		return kFloatIn{set: set, not: cond == "not in"}
	case "between":
		if vals[0] > vals[1] {
			return kNonePred{}
		}
		return kFloatRange{lo: vals[0], hi: vals[1]}
	}
	lo, hi, none := kFloatBounds(cond, vals[0])
	if none {
		return kNonePred{}
	}
	return kFloatRange{lo: lo, hi: hi}
}

func kStrPredicate(cond string, vals []string) kPredicate {
	switch cond {
	case "=", "!=":
		return kStrEq{x: vals[0], ne: cond == "!="}
	case "in", "not in":
		set := make(map[string]struct{}, len(vals))
		for _, v := range vals {
			set[v] = struct{}{}
		}
		return kStrIn{set: set, not: cond == "not in"}
	case "<":
		return kStrRange{hi: vals[0], hasHi: true}
	case "<=":
		return kStrRange{hi: vals[0], hasHi: true, hiIncl: true}
	case ">":
		return kStrRange{lo: vals[0], hasLo: true}
	case ">=":
		return kStrRange{lo: vals[0], hasLo: true, loIncl: true}
	}
	// between
	return kStrRange{lo: vals[0], hi: vals[1], hasLo: true, hasHi: true, loIncl: true, hiIncl: true}
}
