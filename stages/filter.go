package stages

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
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

	alloc  memory.Allocator
	col    int
	pred   kernel.Predicate
	inType arrow.DataType // the tested column's type (FoldCondition)
	prog   *kernel.ExprProgram
	vprog  *kernel.VProgram
	states *sync.Pool // of *kernel.VState
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
job, naming the values of that row. The expression runs on column kernels,
a whole batch per operation; openstage validate --verbose says which of its
nodes, if any, run row by row (docs/expressions.md).

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
	f.pred, f.prog, f.vprog, f.inType = nil, nil, nil, nil
	usesField := f.Field != "" || f.Condition != "" || f.Value != nil
	switch {
	case usesField && f.Expr != "":
		return errors.New("field/condition/value and expr are mutually exclusive; use one form")
	case f.Expr != "":
		venv := kernel.NewVEnv(s)
		prog, err := kernel.CompileExpr(f.Expr, venv.ExprEnv())
		if err != nil {
			return fmt.Errorf("expr: %w", err)
		}
		if prog.Type != nil && prog.Type.Kind() != reflect.Bool {
			return fmt.Errorf("expr must return a bool (true keeps the row), but %q returns %s", f.Expr, prog.Type)
		}
		f.prog = prog
		f.vprog = kernel.CompileVector(prog, venv)
		f.states = &sync.Pool{New: func() any { return venv.NewState() }}
	case f.Field == "":
		return errors.New("set field, condition and value, or expr")
	default:
		idx, err := openstage.FieldIndex(s, f.Field)
		if err != nil {
			return err
		}
		f.col = idx
		f.inType = s.Field(idx).Type
		pred, err := filterPredicate(f.Field, s.Field(idx).Type, f.Condition, f.Value)
		if err != nil {
			return err
		}
		f.pred = pred
	}
	if f.prog != nil {
		passThrough(p, f.prog.Refs...)
	} else {
		passThrough(p, f.Field)
	}
	p.SetOutputs(s)
	return nil
}

// MapBatch implements openstage.Mapper.
func (f *Filter) MapBatch(_ context.Context, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	n := int(rec.NumRows())
	selp := kernel.GetSel(n)
	defer kernel.PutSel(selp)
	sel := *selp
	var k int
	if f.prog != nil {
		var err error
		if k, err = f.selectExpr(rec, sel); err != nil {
			return nil, err
		}
	} else if vals, idx, ok := openstage.DictionaryStrings(rec.Column(f.col)); ok {
		k = f.selectDictionary(rec.Column(f.col), vals, idx, sel)
	} else {
		k = f.pred.Sel(rec.Column(f.col), sel)
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

// selectDictionary tests the condition once on each distinct value of a
// dictionary-encoded column, then keeps the rows whose value passed (a
// null row never does: AcceptsDictionary leaves is null and is not null
// to plain strings).
func (f *Filter) selectDictionary(col arrow.Array, vals *array.String, idx, sel []int32) int {
	dselp := kernel.GetSel(vals.Len())
	defer kernel.PutSel(dselp)
	m := f.pred.Sel(vals, *dselp)
	keep := make([]bool, vals.Len())
	for _, j := range (*dselp)[:m] {
		keep[j] = true
	}
	bits, off := kernel.ValidBits(col)
	k := 0
	for i, j := range idx {
		if keep[j] && kernel.IsValid(bits, off, i) {
			sel[k] = int32(i)
			k++
		}
	}
	return k
}

// Explain says how the expression runs (openstage validate --verbose).
func (f *Filter) Explain() []string {
	if f.vprog == nil {
		return nil
	}
	return []string{fmt.Sprintf("expr %q: %s", f.Expr, f.vprog.Explain())}
}

// selectExpr evaluates the expression on the whole batch with the column
// kernels. Where they find an error, or give up on the batch, the row
// evaluator runs on it instead: it finds the same first failing row and
// words the message.
func (f *Filter) selectExpr(rec arrow.RecordBatch, sel []int32) (int, error) {
	if f.vprog.UsesEnv {
		return f.selectRows(rec, sel)
	}
	st := f.states.Get().(*kernel.VState)
	keep, bad, ok := f.vprog.SelectBatch(st, rec, sel[:0])
	f.states.Put(st)
	if !ok || bad >= 0 {
		return f.selectRows(rec, sel)
	}
	return len(keep), nil
}

// selectRows evaluates the expression row by row.
func (f *Filter) selectRows(rec arrow.RecordBatch, sel []int32) (int, error) {
	row := kernel.NewExprRow(rec, f.prog.Refs)
	k := 0
	for i := range int(rec.NumRows()) {
		row.Load(i)
		v, err := row.Eval(f.prog)
		if err != nil {
			return 0, fmt.Errorf("expr %q failed on the row where %s: %w", f.Expr, row.Describe(f.prog), err)
		}
		switch b := v.(type) {
		case bool:
			if b {
				sel[k] = int32(i)
				k++
			}
		case nil:
		default:
			return 0, fmt.Errorf("expr %q returned %v (%T) on the row where %s; it must return a bool", f.Expr, v, v, row.Describe(f.prog))
		}
	}
	return k, nil
}

// Process implements openstage.Node; the engine calls MapBatch instead.
func (f *Filter) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	return openstage.MapperProcess(ctx, f, in, out)
}

// filterPredicate types value against the column and builds the predicate.
func filterPredicate(field string, dt arrow.DataType, cond string, value any) (kernel.Predicate, error) {
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
		return kernel.NullPred{Null: cond == "is null"}, nil
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
	case kernel.IntLike(dt):
		vals := make([]kernel.IntVal, len(list))
		for i, v := range list {
			iv, ok := kernel.IntValueOf(v, dt)
			if !ok {
				return nil, fmt.Errorf("%s is not a valid %s for column '%s'%s", what(i), openstage.TypeName(dt), field, filterHint(dt))
			}
			vals[i] = iv
		}
		return kernel.IntPredicate(cond, vals), nil
	case dt.ID() == arrow.FLOAT64:
		vals := make([]float64, len(list))
		for i, v := range list {
			fv, ok := kernel.FloatValueOf(v)
			if !ok {
				return nil, fmt.Errorf("%s is not a valid float64 for column '%s'", what(i), field)
			}
			vals[i] = fv
		}
		return kernel.FloatPredicate(cond, vals), nil
	case dt.ID() == arrow.STRING:
		vals := make([]string, len(list))
		for i, v := range list {
			sv, ok := kernel.StringValueOf(v)
			if !ok {
				return nil, fmt.Errorf("%s is not a valid string for column '%s' (quote it)", what(i), field)
			}
			vals[i] = sv
		}
		return kernel.StrPredicate(cond, vals), nil
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

// AcceptsDictionary implements openstage.DictionaryReader: any column may
// arrive dictionary-encoded except one an expression reads or one tested
// with is null / is not null; the condition of the field form is tested
// once per distinct value of a batch, and the rows kept are gathered with
// the column still encoded.
func (f *Filter) AcceptsDictionary(_, col string) (accept, passes bool) {
	switch {
	case f.prog != nil: // $env is the whole row: then no column
		return !f.vprog.UsesEnv && !slices.Contains(f.prog.Refs, col), true
	case f.pred != nil:
		return col != f.Field || (f.Condition != "is null" && f.Condition != "is not null"), true
	}
	return false, false
}
