package stages

// Transformer functions: Go row and batch functions, their registration
// in a registry, and running them on a batch.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/open-stage/openstage"
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
			openstage.AppendNormalized(builders[k], v)
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
		v, err := openstage.NormalizeValue(f.Type, res[f.Name])
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
