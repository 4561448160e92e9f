package stages

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/expr-lang/expr/ast"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
)

// RowFunc transforms one row of a Transformer. The row maps every input
// column to its value (nil for null, int64, float64, bool, string, or
// time.Time for dates and timestamps) and may be modified and returned. The
// returned row must only have columns of the declared output schema; absent
// columns are null. Returning a nil row (and no error) drops the row; an
// error rejects it (see Transformer).
type RowFunc func(row openstage.Row) (openstage.Row, error)

// BatchFunc transforms one batch of a Transformer. It returns a new batch
// with the declared output schema, built with alloc, which the Transformer
// releases after sending it; to pass in through unchanged, call
// in.Record().Retain() and return in.Record(). A nil batch sends nothing. An
// error fails the job.
type BatchFunc func(ctx context.Context, in openstage.Batch, alloc memory.Allocator) (arrow.RecordBatch, error)

// SchemaFunc returns the output schema of a function for its input schema.
// It runs when the job is validated; an error makes the job invalid.
type SchemaFunc func(in *arrow.Schema) (*arrow.Schema, error)

// Function is what a Transformer runs: a row function or a batch function,
// and how its output schema follows from its input schema.
type Function struct {
	Row   RowFunc   // exactly one of Row and Batch
	Batch BatchFunc //
	// Schema computes the output schema. When nil, the output is the input
	// schema plus the columns of Adds: an Adds column named like an input
	// column replaces it in place (with its new type), the others are
	// appended in order.
	Schema SchemaFunc
	Adds   *arrow.Schema
}

// RowFunction returns a Function running fn on each row, whose output is the
// input plus the columns of adds (nil: the same columns as the input):
//
//	stages.RowFunction(categorise, openstage.NewSchema("category", openstage.String))
func RowFunction(fn RowFunc, adds *arrow.Schema) Function {
	return Function{Row: fn, Adds: adds}
}

// BatchFunction returns a Function running fn on each batch, whose output
// schema is given by schema (nil: the same as the input).
func BatchFunction(fn BatchFunc, schema SchemaFunc) Function {
	return Function{Batch: fn, Schema: schema}
}

func (f Function) check() error {
	if (f.Row == nil) == (f.Batch == nil) {
		return errors.New("a Function needs exactly one of Row and Batch")
	}
	if f.Schema != nil && f.Adds != nil {
		return errors.New("a Function has Schema or Adds, not both")
	}
	return nil
}

// outputSchema applies Schema or Adds to in.
func (f Function) outputSchema(in *arrow.Schema) (*arrow.Schema, error) {
	if f.Schema != nil {
		s, err := f.Schema(in)
		if err == nil && s == nil {
			err = errors.New("returned no schema")
		}
		return s, err
	}
	fields := append([]arrow.Field{}, in.Fields()...)
	if f.Adds != nil {
		for _, add := range f.Adds.Fields() {
			if !openstage.Supported(add.Type) {
				return nil, fmt.Errorf("column '%s' has type %s, which is not supported", add.Name, add.Type)
			}
			add.Nullable = true
			if idx := in.FieldIndices(add.Name); len(idx) > 0 {
				fields[idx[0]] = add
			} else {
				fields = append(fields, add)
			}
		}
	}
	return arrow.NewSchema(fields, nil), nil
}

// RegisterFunction makes fn available to job files as `function: name` of a
// Transformer, in the default registry. It panics if name is taken or fn is
// malformed; register in an init function. A program with its own registry
// registers there: RegisterFunctionIn.
func RegisterFunction(name string, fn Function) {
	if err := RegisterFunctionIn(openstage.DefaultRegistry(), name, fn); err != nil {
		panic(err)
	}
}

// RegisterFunctionIn registers fn under name in registry r.
func RegisterFunctionIn(r *openstage.Registry, name string, fn Function) error {
	if err := fn.check(); err != nil {
		return fmt.Errorf("stages: RegisterFunction %s: %w", name, err)
	}
	return r.RegisterFunction(name, fn)
}

// RegisteredFunctions returns the names of the functions in the default
// registry, sorted.
func RegisteredFunctions() []string { return openstage.DefaultRegistry().Functions() }

// trLookup finds a Transformer function in the job's registry.
func trLookup(r *openstage.Registry, name string) (Function, bool) {
	v, ok := r.Function(name)
	if !ok {
		return Function{}, false
	}
	f, ok := v.(Function)
	return f, ok
}

// Derivation is one derived column of a Transformer: a new or replaced
// column computed by an expression. Type, when set (int64, float64, bool,
// string, date, timestamp), fixes the column type instead of inferring it.
type Derivation struct {
	Column string
	Expr   string
	Type   string
}

// Derivations is the derive parameter of a Transformer. In Go it is an
// ordered list. In a job file it is either a mapping
//
//	derive:
//	  category: 'amount > 1000 ? "high" : "low"'
//	  net: {expr: 'amount / 1.21', type: float64}
//
// or a list of one-entry mappings, evaluated in list order:
//
//	derive:
//	  - net: 'amount / 1.21'
//	  - tax: 'amount - net'
//
// YAML mappings have no order, so in the mapping form a derivation that
// names another derived column is evaluated after it (and sees its new
// value); a derivation naming its own column sees the input value; other
// ties are broken by name. Derivations that refer to each other in a cycle
// are an error: use the list form to give the order.
type Derivations []Derivation

// ParamType implements openstage.ParamTyper.
func (Derivations) ParamType() string {
	return "mapping of column to expression, or list of one-entry mappings"
}

// DecodeParam implements openstage.ParamDecoder.
func (d *Derivations) DecodeParam(v any) error {
	switch x := v.(type) {
	case map[string]any:
		list := make(Derivations, 0, len(x))
		for _, col := range trSortedKeys(x) {
			dv, err := trDecodeOne(col, x[col])
			if err != nil {
				return err
			}
			list = append(list, dv)
		}
		ordered, err := trDependencyOrder(list)
		if err != nil {
			return err
		}
		*d = ordered
		return nil
	case []any:
		list := make(Derivations, 0, len(x))
		for i, item := range x {
			m, ok := item.(map[string]any)
			if !ok || len(m) != 1 {
				return fmt.Errorf("item %d must be a one-entry mapping such as {category: 'amount > 1000'}, got %s", i+1, sortKind(item))
			}
			for col, e := range m {
				dv, err := trDecodeOne(col, e)
				if err != nil {
					return fmt.Errorf("item %d: %w", i+1, err)
				}
				list = append(list, dv)
			}
		}
		*d = list
		return nil
	}
	return fmt.Errorf("must be a mapping of column to expression, or a list of one-entry mappings, got %s", sortKind(v))
}

func trSortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func trDecodeOne(col string, v any) (Derivation, error) {
	switch x := v.(type) {
	case string:
		return Derivation{Column: col, Expr: x}, nil
	case map[string]any:
		d := Derivation{Column: col}
		for k, val := range x {
			s, ok := val.(string)
			if !ok {
				return d, fmt.Errorf("'%s': %s must be a string, got %s", col, k, sortKind(val))
			}
			switch k {
			case "expr":
				d.Expr = s
			case "type":
				d.Type = s
			default:
				return d, fmt.Errorf("'%s': unknown key '%s'; use expr and type", col, k)
			}
		}
		if d.Expr == "" {
			return d, fmt.Errorf("'%s': missing expr", col)
		}
		return d, nil
	case bool, int64, int, float64:
		// A constant such as `flag: true` or `rate: 0.21`: its YAML text is
		// a valid expression.
		return Derivation{Column: col, Expr: fmt.Sprint(x)}, nil
	}
	return Derivation{}, fmt.Errorf("'%s' must be an expression string or {expr, type}, got %s", col, sortKind(v))
}

// trDependencyOrder orders derivations so that each comes after the other
// derivations it names (Kahn's algorithm; ties by name).
func trDependencyOrder(list Derivations) (Derivations, error) {
	byName := map[string]int{}
	for i, d := range list {
		byName[d.Column] = i
	}
	deps := make([]map[int]bool, len(list))
	users := make([][]int, len(list))
	for i, d := range list {
		deps[i] = map[int]bool{}
		idents, err := kernel.ParseIdents(d.Expr)
		if err != nil {
			return nil, fmt.Errorf("'%s': %w", d.Column, err)
		}
		for _, id := range idents {
			if j, ok := byName[id]; ok && j != i && !deps[i][j] {
				deps[i][j] = true
				users[j] = append(users[j], i)
			}
		}
	}
	var out Derivations
	done := make([]bool, len(list))
	for len(out) < len(list) {
		progress := false
		for i := range list { // list is sorted by name: ties go by name
			if done[i] || len(deps[i]) > 0 {
				continue
			}
			done[i], progress = true, true
			out = append(out, list[i])
			for _, u := range users[i] {
				delete(deps[u], i)
			}
			break
		}
		if !progress {
			var cyc []string
			for i, d := range list {
				if !done[i] {
					cyc = append(cyc, "'"+d.Column+"'")
				}
			}
			return nil, fmt.Errorf("derivations %s refer to each other; write derive as a list (- column: expr) to set their order", strings.Join(cyc, ", "))
		}
	}
	return out, nil
}

// Transformer computes new or replaced columns row by row (DataStage's
// Transformer stage and Column Generator). In a job file, derive gives
// expressions (see Derivations) or function names a Go function registered
// with RegisterFunction; in Go, NewTransformer runs a Function.
//
// A row that fails (an expression error on a row without nulls, a RowFunc
// error, a value that does not fit its column) fails the job with an error
// naming the row, counting from 1 over the stage's input (row 17: ...),
// unless reject names an output pipe: the failing rows then go there with
// their input columns and an added error column, and the job goes on. A
// Transformer has one input and one output, or two outputs when one is the
// reject pipe. Batch functions cannot reject single rows: their errors fail
// the job.
//
// Derived expressions follow the null rule of the package documentation: a
// failure caused by a null gives a null, not an error. The output type of a
// derivation is the static type of its expression (int, float, bool, string,
// time.Time as int64, float64, bool, string, timestamp; a bare reference to
// a date column stays a date), or its explicit Type.
//
// Rows are processed in order by one goroutine, so row functions may keep
// state (a running sequence number, say).
type Transformer struct {
	Derive   Derivations `param:"derive" doc:"New or replaced columns: a mapping of column to expression, or a list of one-entry mappings evaluated in order."`
	Function string      `param:"function" doc:"Name of a function registered in Go with stages.RegisterFunction."`
	Reject   string      `param:"reject" doc:"Output pipe that receives the rows that fail, with an added error column (without it the first failing row fails the job)."`

	// Func is the function run by a Transformer built in Go (NewTransformer).
	Func *Function

	fn      *Function
	derived []trDerived
	in, out *arrow.Schema
	rowRefs []string
	outPipe string
	alloc   memory.Allocator
}

// trDerived is a planned derivation.
type trDerived struct {
	name   string
	prog   *kernel.ExprProgram
	typ    arrow.DataType
	outIdx int
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "Transformer",
		Layer:   openstage.Transformation,
		Summary: "Computes new or replaced columns with expressions (derive) or a Go function (function); failing rows can go to a reject pipe.",
		Doc: `derive maps each new or replaced column to an expression over the row (the
expr-lang language: arithmetic, comparisons, and/or/not, ?:, ??, string
functions such as upper() and trim(), date() and now(), in [...], and more).
Columns are variables (int64 as int, float64, bool, string, dates and
timestamps as time.Time in UTC). Each expression is compiled and type-checked
before any data moves; an unknown column is an error. The output type is the
expression's static type (int -> int64, float -> float64, string, bool,
time -> timestamp; a bare date column stays a date), or give it:
{expr: ..., type: float64}. As a list (- col: expr) derivations run in
order, so later ones may use earlier ones; as a mapping, a derivation naming
another derived column runs after it.

Nulls are nil in expressions: 'x ?? 0' and 'x == nil' handle them; any
other operation that fails on a null gives a null result.

function names a Go function registered with stages.RegisterFunction (row or
batch function with its output schema); an unknown name is an error listing
the registered ones.

A row that fails fails the job, naming the row (row 17: ...), unless reject
names an output pipe: failing rows then go there with an added "error"
column and the job continues. With reject the stage has exactly two outputs:
the reject pipe and the one for good rows. Rows are processed in order by one
goroutine.`,
		Example: `- name: categorise
  type: Transformer
  derive:
    - category: 'amount > 1000 ? "high" : "low"'
    - amount_eur: 'amount * 0.92'
  reject: bad_rows`,
		New: func() any { return &Transformer{} },
	})
}

// NewTransformer returns a Transformer stage running fn:
//
//	stages.NewTransformer("categorise", stages.RowFunction(func(r openstage.Row) (openstage.Row, error) {
//		r["category"] = "low"
//		if amount, ok := r["amount"].(float64); ok && amount > 1000 {
//			r["category"] = "high"
//		}
//		return r, nil
//	}, openstage.NewSchema("category", openstage.String)))
func NewTransformer(name string, fn Function) *openstage.Stage {
	return openstage.New(name, func(t *Transformer) { t.Func = &fn })
}

// Connectivity implements the optional connectivity interface: one input;
// one output, or two when one is the reject pipe.
func (t *Transformer) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinIn: 1, MaxIn: 1, MinOut: 1, MaxOut: 2}
}

// Plan resolves the function or compiles the derivations and declares the
// output and reject schemas.
func (t *Transformer) Plan(_ context.Context, p *openstage.Plan) error {
	in := p.InputSchema()
	t.in, t.alloc, t.fn, t.derived, t.rowRefs = in, p.Allocator(), nil, nil, nil
	set := 0
	for _, b := range []bool{len(t.Derive) > 0, t.Function != "", t.Func != nil} {
		set += kernel.B2i(b)
	}
	switch {
	case set == 0:
		return errors.New("set derive (expressions) or function (a registered Go function)")
	case set > 1:
		return errors.New("derive, function and a Go function are exclusive; use one")
	}

	outs := p.Outputs()
	switch {
	case t.Reject != "" && !p.HasOutput(t.Reject):
		return fmt.Errorf("reject pipe '%s' is not an output of this stage; its outputs are: %s", t.Reject, strings.Join(outs, ", "))
	case t.Reject != "" && len(outs) != 2:
		return fmt.Errorf("reject pipe '%s' is the only output; connect a second output for the rows that succeed", t.Reject)
	case t.Reject == "" && len(outs) > 1:
		return fmt.Errorf("has %d outputs (%s) but no reject pipe; set reject to the output that receives failing rows", len(outs), strings.Join(outs, ", "))
	}
	t.outPipe = outs[0]
	if t.Reject != "" {
		for _, o := range outs {
			if o != t.Reject {
				t.outPipe = o
			}
		}
	}

	var out *arrow.Schema
	switch {
	case len(t.Derive) > 0:
		s, err := t.planDerive(in)
		if err != nil {
			return err
		}
		out = s
		// Projection pushdown: derive reads the input columns its
		// expressions name and passes the others through (a Go function
		// sees whole rows, so it declares nothing).
		var reads []string
		for _, r := range t.rowRefs {
			if in.HasField(r) {
				reads = append(reads, r)
			}
		}
		passThrough(p, reads...)
	default:
		fn := t.Func
		what := "Go function"
		if t.Function != "" {
			what = fmt.Sprintf("function '%s'", t.Function)
			f, ok := trLookup(p.Registry(), t.Function)
			if !ok {
				return trUnknownFunction(p.Registry(), t.Function)
			}
			fn = &f
		}
		if err := fn.check(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if fn.Batch != nil && t.Reject != "" {
			return fmt.Errorf("reject needs derive or a row function; the errors of %s (a batch function) fail the job", what)
		}
		s, err := fn.outputSchema(in)
		if err != nil {
			return fmt.Errorf("%s: output schema: %w", what, err)
		}
		t.fn, out = fn, s
	}
	t.out = out
	if err := p.SetOutput(t.outPipe, out); err != nil {
		return err
	}
	if t.Reject != "" {
		p.MarkReject(t.Reject)
		if err := p.SetOutput(t.Reject, openstage.WithErrorColumn(in)); err != nil {
			return err
		}
	}
	return nil
}

func trUnknownFunction(r *openstage.Registry, name string) error {
	names := r.Functions()
	if len(names) == 0 {
		return fmt.Errorf("unknown function '%s'; no functions are registered (register them in Go with stages.RegisterFunction)", name)
	}
	msg := fmt.Sprintf("unknown function '%s'; registered functions: %s", name, strings.Join(names, ", "))
	if s := openstage.Suggest(name, names); s != "" {
		msg += fmt.Sprintf(" (did you mean '%s'?)", s)
	}
	return errors.New(msg)
}

func (t *Transformer) planDerive(in *arrow.Schema) (*arrow.Schema, error) {
	env := kernel.NewExprEnv(in)
	types := map[string]arrow.DataType{}
	fields := append([]arrow.Field{}, in.Fields()...)
	pos := map[string]int{}
	for i, f := range fields {
		types[f.Name] = f.Type
		pos[f.Name] = i
	}
	seen := map[string]bool{}
	refs := map[string]bool{}
	for _, d := range t.Derive {
		if d.Column == "" {
			return nil, errors.New("derive: a derivation has no column name")
		}
		if seen[d.Column] {
			return nil, fmt.Errorf("derive '%s': the column is derived twice", d.Column)
		}
		seen[d.Column] = true
		prog, err := kernel.CompileExpr(d.Expr, env)
		if err != nil {
			return nil, fmt.Errorf("derive '%s': %w", d.Column, err)
		}
		var dt arrow.DataType
		if d.Type != "" {
			if dt, err = openstage.ParseType(d.Type); err != nil {
				return nil, fmt.Errorf("derive '%s': %w", d.Column, err)
			}
		} else if id, ok := prog.Program.Node().(*ast.IdentifierNode); ok && types[id.Value] != nil && types[id.Value].ID() == arrow.DATE32 {
			dt = openstage.Date // a copy of a date column stays a date
		} else if dt, ok = kernel.ExprArrowType(prog.Type); !ok {
			what := "cannot be known before the data is seen"
			if prog.Type != nil {
				what = "is " + prog.Type.String()
			}
			return nil, fmt.Errorf("derive '%s': the type of %q %s; set it with {expr: ..., type: int64|float64|bool|string|date|timestamp} or convert with int(), float() or string()", d.Column, d.Expr, what)
		}
		env.Set(d.Column, kernel.ExprZero(dt))
		types[d.Column] = dt
		f := arrow.Field{Name: d.Column, Type: dt, Nullable: true}
		idx, ok := pos[d.Column]
		if ok {
			fields[idx] = f
		} else {
			idx = len(fields)
			pos[d.Column] = idx
			fields = append(fields, f)
		}
		for _, r := range prog.Refs {
			refs[r] = true
		}
		t.derived = append(t.derived, trDerived{name: d.Column, prog: prog, typ: dt, outIdx: idx})
	}
	for r := range refs {
		t.rowRefs = append(t.rowRefs, r)
	}
	sort.Strings(t.rowRefs)
	return arrow.NewSchema(fields, nil), nil
}

// Process transforms the batches in order, counting rows for messages.
func (t *Transformer) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	var offset int64 // rows before the current batch
	for {
		dp, err := in.Recv(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		rec := dp.Batch
		var good, bad arrow.RecordBatch
		switch {
		case len(t.derived) > 0:
			good, bad, err = t.deriveBatch(rec, offset, out.Allocator())
		case t.fn.Row != nil:
			good, bad, err = t.rowBatch(rec, offset, out.Allocator())
		default:
			good, err = t.batchFunc(ctx, rec, offset, out.Allocator())
		}
		offset += rec.NumRows()
		rec.Release()
		if err != nil {
			return err
		}
		err = trSend(ctx, out, t.outPipe, good)
		if err2 := trSend(ctx, out, t.Reject, bad); err == nil {
			err = err2
		}
		if err != nil {
			return err
		}
	}
}

func trSend(ctx context.Context, out *openstage.Outputs, pipe string, rec arrow.RecordBatch) error {
	if rec == nil {
		return nil
	}
	defer rec.Release()
	return out.SendTo(ctx, pipe, rec)
}

// trRejects collects the rows of a batch that failed.
type trRejects struct {
	idx  []int32
	msgs []string
}

// fail records that row i failed with err; without a reject pipe it returns
// the error that fails the job.
func (t *Transformer) fail(r *trRejects, offset int64, i int, err error) error {
	if t.Reject == "" {
		return fmt.Errorf("row %d: %w", offset+int64(i)+1, err)
	}
	r.idx = append(r.idx, int32(i))
	r.msgs = append(r.msgs, err.Error())
	return nil
}

// batch builds the reject batch: the failing rows with an error column.
func (r *trRejects) batch(alloc memory.Allocator, rec arrow.RecordBatch) arrow.RecordBatch {
	if len(r.idx) == 0 {
		return nil
	}
	return openstage.Rejects(alloc, rec, r.idx, r.msgs)
}

// deriveBatch evaluates the derivations on every row of rec.
func (t *Transformer) deriveBatch(rec arrow.RecordBatch, offset int64, alloc memory.Allocator) (good, bad arrow.RecordBatch, err error) {
	n := int(rec.NumRows())
	builders := make([]array.Builder, len(t.derived))
	for i, d := range t.derived {
		builders[i] = array.NewBuilder(alloc, d.typ)
		builders[i].Reserve(n)
	}
	defer func() {
		for _, b := range builders {
			b.Release()
		}
	}()
	row := kernel.NewExprRow(rec, t.rowRefs)
	vals := make([]any, len(t.derived))
	var rej trRejects
	kept := make([]int32, 0, n)
rows:
	for i := range n {
		row.Load(i)
		for k, d := range t.derived {
			v, err := row.Eval(d.prog)
			if err == nil {
				v, err = trNormalize(d.typ, v)
			}
			if err != nil {
				if ferr := t.fail(&rej, offset, i, fmt.Errorf("derive '%s': %w", d.name, err)); ferr != nil {
					return nil, nil, ferr
				}
				continue rows
			}
			vals[k] = v
			row.Set(d.name, trExprValue(v))
		}
		for k, v := range vals {
			trAppend(builders[k], v)
		}
		kept = append(kept, int32(i))
	}
	bad = rej.batch(alloc, rec)
	if len(kept) == 0 {
		return nil, bad, nil
	}
	cols := make([]arrow.Array, len(t.out.Fields()))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for k, d := range t.derived {
		cols[d.outIdx] = builders[k].NewArray()
	}
	for i := range cols {
		if cols[i] != nil {
			continue
		}
		src := rec.Column(t.in.FieldIndices(t.out.Field(i).Name)[0])
		if len(kept) == n {
			src.Retain()
			cols[i] = src
		} else {
			cols[i] = openstage.TakeArray(alloc, src, kept)
		}
	}
	return array.NewRecordBatch(t.out, cols, int64(len(kept))), bad, nil
}

// trExprValue turns a normalised column value back into what expressions see.
func trExprValue(v any) any {
	switch x := v.(type) {
	case int64:
		return int(x)
	case arrow.Date32:
		return x.ToTime()
	case arrow.Timestamp:
		return x.ToTime(arrow.Microsecond).UTC()
	}
	return v
}

// rowBatch runs a row function on every row of rec.
func (t *Transformer) rowBatch(rec arrow.RecordBatch, offset int64, alloc memory.Allocator) (good, bad arrow.RecordBatch, err error) {
	view := openstage.View(rec)
	n := view.Len()
	fields := t.out.Fields()
	builders := make([]array.Builder, len(fields))
	for i, f := range fields {
		builders[i] = array.NewBuilder(alloc, f.Type)
		builders[i].Reserve(n)
	}
	defer func() {
		for _, b := range builders {
			b.Release()
		}
	}()
	vals := make([]any, len(fields))
	var rej trRejects
	rows := 0
	for i := range n {
		res, err := t.fn.Row(view.Row(i))
		if err == nil && res != nil {
			err = t.normalizeRow(res, vals)
		}
		if err != nil {
			if ferr := t.fail(&rej, offset, i, err); ferr != nil {
				return nil, nil, ferr
			}
			continue
		}
		if res == nil {
			continue // dropped
		}
		for k, v := range vals {
			trAppend(builders[k], v)
		}
		rows++
	}
	bad = rej.batch(alloc, rec)
	if rows == 0 {
		return nil, bad, nil
	}
	cols := make([]arrow.Array, len(fields))
	for i, b := range builders {
		cols[i] = b.NewArray()
	}
	good = array.NewRecordBatch(t.out, cols, int64(rows))
	for _, c := range cols {
		c.Release()
	}
	return good, bad, nil
}

// normalizeRow converts the values of a returned row to the output types.
func (t *Transformer) normalizeRow(res openstage.Row, vals []any) error {
	for k := range res {
		if len(t.out.FieldIndices(k)) == 0 {
			return fmt.Errorf("the function returned column '%s', which is not in its output schema (%s); declare it", k, strings.Join(openstage.ColumnNames(t.out), ", "))
		}
	}
	for i, f := range t.out.Fields() {
		v, err := trNormalize(f.Type, res[f.Name])
		if err != nil {
			return fmt.Errorf("column '%s': %w", f.Name, err)
		}
		vals[i] = v
	}
	return nil
}

// batchFunc runs a batch function on rec.
func (t *Transformer) batchFunc(ctx context.Context, rec arrow.RecordBatch, offset int64, alloc memory.Allocator) (arrow.RecordBatch, error) {
	res, err := t.fn.Batch(ctx, openstage.View(rec), alloc)
	if err != nil {
		return nil, fmt.Errorf("rows %d to %d: %w", offset+1, offset+rec.NumRows(), err)
	}
	if res == nil {
		return nil, nil
	}
	if !res.Schema().Equal(t.out) {
		got := res.Schema()
		res.Release()
		return nil, fmt.Errorf("the batch function returned columns (%s) but declared (%s)", trDescribe(got), trDescribe(t.out))
	}
	return res, nil
}

func trDescribe(s *arrow.Schema) string {
	parts := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		parts[i] = f.Name + " " + openstage.TypeName(f.Type)
	}
	return strings.Join(parts, ", ")
}

// trNormalize converts v to the value stored in a column of type dt: nil,
// int64, float64, bool, string, arrow.Date32 or arrow.Timestamp. It accepts
// what openstage.AppendValue accepts, and fails instead of appending half a
// row.
func trNormalize(dt arrow.DataType, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch dt.ID() {
	case arrow.INT64:
		if i, ok := kernel.AnyInt(v); ok {
			return i, nil
		}
		switch x := v.(type) {
		case float64:
			if x != math.Trunc(x) || math.Abs(x) >= 0x1p63 {
				return nil, fmt.Errorf("%v is not an integer", x)
			}
			return int64(x), nil
		case string:
			n, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("cannot convert %q to int64", x)
			}
			return n, nil
		}
		return nil, fmt.Errorf("cannot store %T in an int64 column", v)
	case arrow.FLOAT64:
		if i, ok := kernel.AnyInt(v); ok {
			return float64(i), nil
		}
		switch x := v.(type) {
		case float64:
			return x, nil
		case float32:
			return float64(x), nil
		case string:
			f, err := strconv.ParseFloat(x, 64)
			if err != nil {
				return nil, fmt.Errorf("cannot convert %q to float64", x)
			}
			return f, nil
		}
		return nil, fmt.Errorf("cannot store %T in a float64 column", v)
	case arrow.BOOL:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			b, err := strconv.ParseBool(x)
			if err != nil {
				return nil, fmt.Errorf("cannot convert %q to bool", x)
			}
			return b, nil
		}
		return nil, fmt.Errorf("cannot store %T in a bool column", v)
	case arrow.STRING:
		switch x := v.(type) {
		case string:
			return x, nil
		case fmt.Stringer:
			return x.String(), nil
		}
		return fmt.Sprint(v), nil
	case arrow.DATE32, arrow.TIMESTAMP:
		var tm time.Time
		switch x := v.(type) {
		case time.Time:
			tm = x.UTC()
		case string:
			p, err := openstage.ParseTime(x)
			if err != nil {
				return nil, fmt.Errorf("cannot convert %q to a date or timestamp", x)
			}
			tm = p
		default:
			return nil, fmt.Errorf("cannot store %T in a %s column", v, openstage.TypeName(dt))
		}
		if dt.ID() == arrow.DATE32 {
			return arrow.Date32FromTime(tm), nil
		}
		ts, err := arrow.TimestampFromTime(tm, dt.(*arrow.TimestampType).Unit)
		if err != nil {
			return nil, err
		}
		return ts, nil
	}
	return nil, fmt.Errorf("unsupported column type %s", dt)
}

// trAppend appends a value normalised by trNormalize.
func trAppend(b array.Builder, v any) {
	if v == nil {
		b.AppendNull()
		return
	}
	switch bb := b.(type) {
	case *array.Int64Builder:
		bb.Append(v.(int64))
	case *array.Float64Builder:
		bb.Append(v.(float64))
	case *array.BooleanBuilder:
		bb.Append(v.(bool))
	case *array.StringBuilder:
		bb.Append(v.(string))
	case *array.Date32Builder:
		bb.Append(v.(arrow.Date32))
	case *array.TimestampBuilder:
		bb.Append(v.(arrow.Timestamp))
	default:
		panic(fmt.Sprintf("trAppend: unexpected builder %s", reflect.TypeOf(b)))
	}
}
