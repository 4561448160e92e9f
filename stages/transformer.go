package stages

// Transformer: the declaration, Plan, and the per-batch run with its
// reject rows. Derivations are in transformer_derive.go, Go functions in
// transformer_func.go.

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
)

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
// With derive, the engine runs the Transformer on several batches at once
// (a BatchProcessor) and keeps the output and reject rows in input order;
// row numbers in messages stay those of the input. A Go function runs on
// one goroutine, batch after batch in order, so it may keep state (a
// running sequence number, say).
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
	rowOnly bool       // a derivation reads $env: evaluate row by row
	states  *sync.Pool // of *kernel.VState for the derivations
	outPipe string
	alloc   memory.Allocator
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
other operation that fails on a null gives a null result. Expressions run on
column kernels, a whole batch per operation; openstage validate --verbose
says which nodes, if any, run row by row (docs/expressions.md).

function names a Go function registered with stages.RegisterFunction (row or
batch function with its output schema); an unknown name is an error listing
the registered ones.

A row that fails fails the job, naming the row (row 17: ...), unless reject
names an output pipe: failing rows then go there with an added "error"
column and the job continues. With reject the stage has exactly two outputs:
the reject pipe and the one for good rows. With derive the engine runs the
stage on several batches at once (--workers) and keeps the rows of both
outputs in input order; a Go function runs on one goroutine, in order.`,
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

	var err error
	if t.outPipe, err = p.RowsOutput(t.Reject); err != nil {
		return err
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

// Process is the Transformer's Node method; the engine runs ProcessBatch
// on several workers instead.
func (t *Transformer) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	return openstage.BatchProcess(ctx, t, in, out)
}

// Concurrency implements the engine's worker override: a Go function runs
// on one worker, in order, so that it may keep state between rows; derive
// runs on the job's workers (0).
func (t *Transformer) Concurrency() int {
	if t.fn != nil {
		return 1
	}
	return 0
}

// ProcessBatch implements openstage.BatchProcessor: it transforms one
// batch, numbering its rows from dp.FirstRow for messages, and emits the
// good rows to the output pipe and the failing ones to the reject pipe.
func (t *Transformer) ProcessBatch(ctx context.Context, dp openstage.DataPackage, out *openstage.Emitter) error {
	rec, alloc := dp.Batch, out.Allocator()
	var good, bad arrow.RecordBatch
	var err error
	switch {
	case len(t.derived) > 0:
		good, bad, err = t.deriveBatch(rec, dp.FirstRow, alloc)
	case t.fn.Row != nil:
		good, bad, err = t.rowBatch(rec, dp.FirstRow, alloc)
	default:
		good, err = t.batchFunc(ctx, rec, dp.FirstRow, alloc)
	}
	if err != nil {
		return err
	}
	err = trEmit(out, t.outPipe, good)
	if err2 := trEmit(out, t.Reject, bad); err == nil {
		err = err2
	}
	return err
}

func trEmit(out *openstage.Emitter, pipe string, rec arrow.RecordBatch) error {
	if rec == nil {
		return nil
	}
	defer rec.Release()
	return out.SendTo(pipe, rec)
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
