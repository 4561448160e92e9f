package stages_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

var trSchema = openstage.NewSchema("id", openstage.Int64, "amount", openstage.Float64, "qty", openstage.Int64, "name", openstage.String, "day", openstage.Date)

var trRows = [][]any{
	{int64(1), 1500.0, int64(2), "Ana", "2024-01-01"},
	{int64(2), 200.0, int64(0), "Bob", nil},
	{int64(3), nil, int64(5), nil, "2024-02-29"},
	{int64(4), 50.5, nil, "Zoë", "2024-03-01"},
}

func init() {
	stages.RegisterFunction("kt_double_qty", stages.RowFunction(func(r openstage.Row) (openstage.Row, error) {
		if q, ok := r["qty"].(int64); ok {
			r["qty2"] = 2 * q
		}
		return r, nil
	}, openstage.NewSchema("qty2", openstage.Int64)))
	stages.RegisterFunction("kt_passthrough", stages.BatchFunction(func(_ context.Context, in openstage.Batch, _ memory.Allocator) (arrow.RecordBatch, error) {
		in.Record().Retain()
		return in.Record(), nil
	}, nil))
}

func TestTransformerDerive(t *testing.T) {
	tr := &stages.Transformer{Derive: stages.Derivations{
		{Column: "category", Expr: `amount > 1000 ? "high" : "low"`},
		{Column: "unit", Expr: `amount / qty`},
		{Column: "label", Expr: `upper(name) + "-" + string(id)`},
		{Column: "qty", Expr: `qty ?? 0`},
		{Column: "next", Expr: `qty + 1`}, // sees the derived qty
		{Column: "when", Expr: `day`},     // a date stays a date
		{Column: "later", Expr: `day + duration("36h")`},
		{Column: "big", Expr: `amount >= 200`},
		{Column: "rate", Expr: `0.21`, Type: "float64"},
	}}
	for _, batch := range []int{0, 1, 3} {
		rows, s := ktRun(t, tr, trSchema, trRows, batch)
		wantCols := []string{"id:int64", "amount:float64", "qty:int64", "name:string", "day:date", "category:string", "unit:float64", "label:string", "next:int64", "when:date", "later:timestamp", "big:bool", "rate:float64"}
		if got := ktColumns(s); !slices.Equal(got, wantCols) {
			t.Fatalf("schema %v, want %v", got, wantCols)
		}
		d := ktDate
		ktEqualRows(t, rows, [][]any{
			{int64(1), 1500.0, int64(2), "Ana", d("2024-01-01"), "high", 750.0, "ANA-1", int64(3), d("2024-01-01"), d("2024-01-02T12:00:00Z"), true, 0.21},
			{int64(2), 200.0, int64(0), "Bob", nil, "low", math.Inf(1), "BOB-2", int64(1), nil, nil, true, 0.21},
			{int64(3), nil, int64(5), nil, d("2024-02-29"), nil, nil, nil, int64(6), d("2024-02-29"), d("2024-03-01T12:00:00Z"), nil, 0.21},
			{int64(4), 50.5, int64(0), "Zoë", d("2024-03-01"), "low", nil, "ZOË-4", int64(1), d("2024-03-01"), d("2024-03-02T12:00:00Z"), false, 0.21},
		})
	}
}

func TestTransformerDeriveJobFileForms(t *testing.T) {
	spec, _ := openstage.DefaultRegistry().Lookup("Transformer")
	// Mapping form: b uses a, so a is computed first whatever the key order.
	tr := &stages.Transformer{}
	if err := spec.Set(tr, "derive", map[string]any{
		"b":      "a * 2",
		"a":      "qty + 1",
		"qty":    "qty * 10", // its own name: the input value
		"amount": map[string]any{"expr": "qty", "type": "float64"},
	}); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, d := range tr.Derive {
		order = append(order, d.Column)
	}
	// a and amount see the derived qty, since qty is a derived column they
	// name; ties go by name.
	if want := []string{"qty", "a", "amount", "b"}; !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	rows, s := ktRun(t, tr, trSchema, trRows[:1], 0)
	if got := ktColumns(s); !slices.Equal(got, []string{"id:int64", "amount:float64", "qty:int64", "name:string", "day:date", "a:int64", "b:int64"}) {
		t.Fatalf("schema %v", got)
	}
	ktEqualRows(t, rows, [][]any{{int64(1), 20.0, int64(20), "Ana", ktDate("2024-01-01"), int64(21), int64(42)}})

	// List form: in order.
	tr = &stages.Transformer{}
	if err := spec.Set(tr, "derive", []any{map[string]any{"x": "qty + 1"}, map[string]any{"qty": "x * 2"}, map[string]any{"flag": true}}); err != nil {
		t.Fatal(err)
	}
	rows, _ = ktRun(t, tr, trSchema, trRows[:1], 0)
	ktEqualRows(t, rows, [][]any{{int64(1), 1500.0, int64(6), "Ana", ktDate("2024-01-01"), int64(3), true}})

	for _, tc := range []struct {
		value any
		want  string
	}{
		{map[string]any{"a": "b + 1", "b": "a + 1", "c": "1"}, "parameter 'derive': derivations 'a', 'b' refer to each other; write derive as a list (- column: expr) to set their order"},
		{[]any{"x"}, "parameter 'derive': item 1 must be a one-entry mapping such as {category: 'amount > 1000'}, got a string"},
		{[]any{map[string]any{"a": "1", "b": "2"}}, "parameter 'derive': item 1 must be a one-entry mapping such as {category: 'amount > 1000'}, got a mapping"},
		{map[string]any{"a": map[string]any{"exp": "1"}}, "parameter 'derive': 'a': unknown key 'exp'; use expr and type"},
		{map[string]any{"a": map[string]any{"type": "int64"}}, "parameter 'derive': 'a': missing expr"},
		{map[string]any{"a": []any{"1"}}, "parameter 'derive': 'a' must be an expression string or {expr, type}, got a list"},
		{"a + 1", "parameter 'derive': must be a mapping of column to expression, or a list of one-entry mappings, got a string"},
		{map[string]any{"a": "1 +"}, "parameter 'derive': 'a': unexpected token EOF (at character 3)"},
	} {
		err := spec.Set(&stages.Transformer{}, "derive", tc.value)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Set(%v):\n got: %v\nwant: %s", tc.value, err, tc.want)
		}
	}
}

// trIDRows returns n rows whose qty is 0 on row bad (1-based) and 1 elsewhere.
func trIDRows(n, bad int) [][]any {
	rows := make([][]any, n)
	for i := range rows {
		q := int64(1)
		if i+1 == bad {
			q = 0
		}
		rows[i] = []any{int64(i + 1), 1.0, q, "ñ", nil}
	}
	return rows
}

func TestTransformerRowErrors(t *testing.T) {
	tr := &stages.Transformer{Derive: stages.Derivations{{Column: "ratio", Expr: "10 % qty"}}}
	// Without a reject pipe the first failing row fails the job, numbered
	// over the whole input (row 8 is in the third batch of 3).
	_, err := openstagetest.RunNode(t, tr, []openstagetest.Input{{Pipe: "in", Schema: trSchema, Rows: trIDRows(10, 8), BatchRows: 3}}, "out")
	want := "Transformer 'stage': row 8: derive 'ratio': runtime error: integer divide by zero (at character 4)"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}

	// With a reject pipe the failing rows go there with an error column.
	tr.Reject = "bad"
	rows := trIDRows(10, 8)
	rows[4][2] = int64(0)
	rows[5][2] = nil // null: a null result, not an error
	res, err := openstagetest.RunNode(t, tr, []openstagetest.Input{{Pipe: "in", Schema: trSchema, Rows: rows, BatchRows: 3}}, "out", "bad")
	if err != nil {
		t.Fatal(err)
	}
	var goodIDs []int64
	for _, r := range res.Outputs["out"].Rows {
		goodIDs = append(goodIDs, r[0].(int64))
		if r[0].(int64) == 6 && r[5] != nil {
			t.Fatalf("row 6 (null qty) ratio = %v, want null", r[5])
		}
	}
	if want := []int64{1, 2, 3, 4, 6, 7, 9, 10}; !slices.Equal(goodIDs, want) {
		t.Fatalf("good rows %v, want %v", goodIDs, want)
	}
	bad := res.Outputs["bad"]
	if got := ktColumns(bad.Schema); !slices.Equal(got, []string{"id:int64", "amount:float64", "qty:int64", "name:string", "day:date", "error:string"}) {
		t.Fatalf("reject schema %v", got)
	}
	msg := "derive 'ratio': runtime error: integer divide by zero (at character 4)"
	ktEqualRows(t, bad.Rows, [][]any{
		{int64(5), 1.0, int64(0), "ñ", nil, msg},
		{int64(8), 1.0, int64(0), "ñ", nil, msg},
	})
	st, _ := res.Summary.Stage("stage")
	if st.RowsIn != 10 || st.RowsOut != 8 || st.Rejected != 2 {
		t.Fatalf("summary in=%d out=%d rejected=%d", st.RowsIn, st.RowsOut, st.Rejected)
	}
}

func TestTransformerRowFunction(t *testing.T) {
	fn := stages.RowFunction(func(r openstage.Row) (openstage.Row, error) {
		switch r["id"] {
		case int64(2):
			return nil, nil // dropped
		case int64(3):
			return nil, errors.New("no amount")
		case int64(4):
			r["category"] = 12.5 // not a string: stored as its text
			r["n"] = "many"      // not an int64
			return r, nil
		}
		r["category"] = "big"
		r["n"] = 7
		return r, nil
	}, openstage.NewSchema("category", openstage.String, "n", openstage.Int64))
	st := stages.NewTransformer("rows", fn)
	tr := st.Component().(*stages.Transformer)
	tr.Reject = "bad"
	res, err := openstagetest.RunNode(t, tr, []openstagetest.Input{{Pipe: "in", Schema: trSchema, Rows: trRows, BatchRows: 2}}, "out", "bad")
	if err != nil {
		t.Fatal(err)
	}
	ktEqualRows(t, res.Outputs["out"].Rows, [][]any{{int64(1), 1500.0, int64(2), "Ana", ktDate("2024-01-01"), "big", int64(7)}})
	ktEqualRows(t, res.Outputs["bad"].Rows, [][]any{
		{int64(3), nil, int64(5), nil, ktDate("2024-02-29"), "no amount"},
		{int64(4), 50.5, nil, "Zoë", ktDate("2024-03-01"), `column 'n': cannot convert "many" to int64`},
	})

	// Without reject: the error names the row.
	tr.Reject = ""
	_, err = openstagetest.RunNode(t, tr, []openstagetest.Input{{Pipe: "in", Schema: trSchema, Rows: trRows, BatchRows: 2}}, "out")
	if want := "Transformer 'rows': row 3: no amount"; err == nil || !strings.HasSuffix(err.Error(), "row 3: no amount") {
		t.Fatalf("err = %v, want %s", err, want)
	}

	// A column that is not declared.
	undeclared := stages.RowFunction(func(r openstage.Row) (openstage.Row, error) {
		r["extra"] = 1
		return r, nil
	}, nil)
	_, err = openstagetest.RunNode(t, &stages.Transformer{Func: &undeclared}, []openstagetest.Input{{Pipe: "in", Schema: trSchema, Rows: trRows}}, "out")
	if want := "Transformer 'stage': row 1: the function returned column 'extra', which is not in its output schema (id, amount, qty, name, day); declare it"; err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

func TestTransformerRegisteredFunctions(t *testing.T) {
	rows, s := ktRun(t, &stages.Transformer{Function: "kt_double_qty"}, trSchema, trRows, 2)
	if got := ktColumns(s); !slices.Equal(got, []string{"id:int64", "amount:float64", "qty:int64", "name:string", "day:date", "qty2:int64"}) {
		t.Fatalf("schema %v", got)
	}
	if got := ktCol(rows, 5); !slices.Equal(got, []any{int64(4), int64(0), int64(10), nil}) {
		t.Fatalf("qty2 = %v", got)
	}
	rows, _ = ktRun(t, &stages.Transformer{Function: "kt_passthrough"}, trSchema, trRows, 3)
	if len(rows) != 4 {
		t.Fatalf("passthrough gave %d rows", len(rows))
	}
	if !slices.Contains(stages.RegisteredFunctions(), "kt_double_qty") {
		t.Fatalf("RegisteredFunctions() = %v", stages.RegisteredFunctions())
	}
}

func TestTransformerBatchFunction(t *testing.T) {
	wrong := stages.BatchFunction(func(_ context.Context, in openstage.Batch, _ memory.Allocator) (arrow.RecordBatch, error) {
		in.Record().Retain()
		return in.Record(), nil
	}, func(in *arrow.Schema) (*arrow.Schema, error) {
		return openstage.NewSchema("only", openstage.Int64), nil
	})
	_, err := openstagetest.RunNode(t, &stages.Transformer{Func: &wrong}, []openstagetest.Input{{Pipe: "in", Schema: trSchema, Rows: trRows}}, "out")
	want := "Transformer 'stage': the batch function returned columns (id int64, amount float64, qty int64, name string, day date) but declared (only int64)"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	failing := stages.BatchFunction(func(context.Context, openstage.Batch, memory.Allocator) (arrow.RecordBatch, error) {
		return nil, errors.New("boom")
	}, nil)
	_, err = openstagetest.RunNode(t, &stages.Transformer{Func: &failing}, []openstagetest.Input{{Pipe: "in", Schema: trSchema, Rows: trRows, BatchRows: 2}}, "out")
	if want := "Transformer 'stage': rows 1 to 2: boom"; err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

func TestTransformerValidation(t *testing.T) {
	cols := "id, amount, qty, name, day"
	batch := stages.BatchFunction(func(context.Context, openstage.Batch, memory.Allocator) (arrow.RecordBatch, error) { return nil, nil }, nil)
	badSchema := stages.BatchFunction(func(context.Context, openstage.Batch, memory.Allocator) (arrow.RecordBatch, error) { return nil, nil },
		func(*arrow.Schema) (*arrow.Schema, error) { return nil, errors.New("no idea") })
	neither := stages.Function{}
	d := func(col, expr string) stages.Derivations { return stages.Derivations{{Column: col, Expr: expr}} }
	tests := []struct {
		name    string
		tr      stages.Transformer
		outputs []string
		want    string
	}{
		{"nothing to run", stages.Transformer{}, nil, "set derive (expressions) or function (a registered Go function)"},
		{"derive and function", stages.Transformer{Derive: d("x", "1"), Function: "kt_double_qty"}, nil, "derive, function and a Go function are exclusive; use one"},
		{"unknown function", stages.Transformer{Function: "kt_doble_qty"}, nil, "unknown function 'kt_doble_qty'; registered functions: kt_double_qty, kt_passthrough (did you mean 'kt_double_qty'?)"},
		{"malformed function", stages.Transformer{Func: &neither}, nil, "Go function: a Function needs exactly one of Row and Batch"},
		{"schema error", stages.Transformer{Func: &badSchema}, nil, "Go function: output schema: no idea"},
		{"unknown column", stages.Transformer{Derive: d("x", "amout * 2")}, nil, "derive 'x': field 'amout' not found; available columns: " + cols + " (did you mean 'amount'?)"},
		{"later column unknown to earlier", stages.Transformer{Derive: stages.Derivations{{Column: "a", Expr: "b"}, {Column: "b", Expr: "1"}}}, nil, "derive 'a': field 'b' not found; available columns: " + cols + " (did you mean 'id'?)"},
		{"type error", stages.Transformer{Derive: d("x", `name * 2`)}, nil, "derive 'x': invalid operation: * (mismatched types string and int) (at character 6)"},
		{"unknown type", stages.Transformer{Derive: d("x", `qty > 1 ? 1 : 2.5`)}, nil, `derive 'x': the type of "qty > 1 ? 1 : 2.5" cannot be known before the data is seen; set it with {expr: ..., type: int64|float64|bool|string|date|timestamp} or convert with int(), float() or string()`},
		{"bad type name", stages.Transformer{Derive: stages.Derivations{{Column: "x", Expr: "1", Type: "decimal"}}}, nil, `derive 'x': unknown type "decimal"; use one of int64, float64, bool, string, date, timestamp`},
		{"derived twice", stages.Transformer{Derive: stages.Derivations{{Column: "x", Expr: "1"}, {Column: "x", Expr: "2"}}}, nil, "derive 'x': the column is derived twice"},
		{"empty expression", stages.Transformer{Derive: d("x", " ")}, nil, "derive 'x': expression is empty"},
		{"reject not an output", stages.Transformer{Derive: d("x", "1"), Reject: "bad"}, nil, "reject pipe 'bad' is not an output of this stage; its outputs are: out"},
		{"reject only output", stages.Transformer{Derive: d("x", "1"), Reject: "out"}, nil, "reject pipe 'out' is the only output; connect a second output for the rows that succeed"},
		{"two outputs, no reject", stages.Transformer{Derive: d("x", "1")}, []string{"out", "other"}, "has 2 outputs (out, other) but no reject pipe; set reject to the output that receives failing rows"},
		{"batch function with reject", stages.Transformer{Func: &batch, Reject: "bad"}, []string{"out", "bad"}, "reject needs derive or a row function; the errors of Go function (a batch function) fail the job"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := tc.tr
			got := ktErr(t, &tr, trSchema, tc.outputs...)
			if want := "Transformer 'stage': " + tc.want; got != want {
				t.Fatalf("error\n got: %s\nwant: %s", got, want)
			}
		})
	}
	// Three outputs are refused when connecting.
	_, err := openstagetest.RunNode(t, &stages.Transformer{Derive: d("x", "1")}, []openstagetest.Input{{Pipe: "in", Schema: trSchema}}, "a", "b", "c")
	if err == nil || !strings.Contains(err.Error(), "Transformer 'stage': can only have 2 outputs; pipe 'c' would be output 3") {
		t.Fatalf("err = %v", err)
	}
}

func TestTransformerEmptyAndOneRow(t *testing.T) {
	tr := &stages.Transformer{Derive: stages.Derivations{{Column: "greeting", Expr: `"¡hola " + name + "!"`}}}
	rows, s := ktRun(t, tr, trSchema, nil, 0)
	if len(rows) != 0 || !slices.Equal(ktColumns(s), []string{"id:int64", "amount:float64", "qty:int64", "name:string", "day:date", "greeting:string"}) {
		t.Fatalf("empty input: %d rows, schema %v", len(rows), ktColumns(s))
	}
	rows, _ = ktRun(t, tr, trSchema, [][]any{{int64(9), 1.0, int64(1), "世界", nil}}, 0)
	ktEqualRows(t, rows, [][]any{{int64(9), 1.0, int64(1), "世界", nil, "¡hola 世界!"}})
}

func TestTransformerRowFunctionKeepsStateInOrder(t *testing.T) {
	// Rows run in order on one goroutine: a sequence number is safe.
	seq := int64(0)
	fn := stages.RowFunction(func(r openstage.Row) (openstage.Row, error) {
		seq++
		r["seq"] = seq
		return r, nil
	}, openstage.NewSchema("seq", openstage.Int64))
	s := openstage.NewSchema("n", openstage.Int64)
	var in [][]any
	for i := range 1000 {
		in = append(in, []any{int64(i)})
	}
	rows, _ := ktRun(t, &stages.Transformer{Func: &fn}, s, in, 7)
	for i, r := range rows {
		if r[0].(int64) != int64(i) || r[1].(int64) != int64(i+1) {
			t.Fatalf("row %d = %v", i, r)
		}
	}
	_ = fmt.Sprint()
}

func TestTransformerRowFunctionConversions(t *testing.T) {
	out := openstage.NewSchema("i", openstage.Int64, "f", openstage.Float64, "b", openstage.Bool, "s", openstage.String,
		"d", openstage.Date, "ts", openstage.Timestamp)
	in := openstage.NewSchema("n", openstage.Int64)
	conv := stages.Function{
		Row: func(r openstage.Row) (openstage.Row, error) {
			switch r["n"] {
			case int64(1):
				return openstage.Row{"i": 3.0, "f": 2, "b": "true", "s": 1.5, "d": "2024-02-29", "ts": "2024-02-29T10:30:00Z"}, nil
			case int64(2):
				return openstage.Row{"i": "42", "f": "2.5", "b": false, "s": ktDate("2024-01-01"), "d": ktDate("2024-03-01"), "ts": ktDate("2024-03-01")}, nil
			case int64(3):
				return openstage.Row{"i": 2.5}, nil
			case int64(4):
				return openstage.Row{"b": "maybe"}, nil
			case int64(5):
				return openstage.Row{"d": "soon"}, nil
			case int64(6):
				return openstage.Row{"f": true}, nil
			}
			return openstage.Row{}, nil // every column null
		},
		Schema: func(*arrow.Schema) (*arrow.Schema, error) { return out, nil },
	}
	tr := &stages.Transformer{Func: &conv, Reject: "bad"}
	res, err := openstagetest.RunNode(t, tr, []openstagetest.Input{{Pipe: "in", Schema: in, Rows: [][]any{{int64(1)}, {int64(2)}, {int64(3)}, {int64(4)}, {int64(5)}, {int64(6)}, {int64(7)}}}}, "out", "bad")
	if err != nil {
		t.Fatal(err)
	}
	ktEqualRows(t, res.Outputs["out"].Rows, [][]any{
		{int64(3), 2.0, true, "1.5", ktDate("2024-02-29"), ktDate("2024-02-29T10:30:00Z")},
		{int64(42), 2.5, false, "2024-01-01 00:00:00 +0000 UTC", ktDate("2024-03-01"), ktDate("2024-03-01")},
		{nil, nil, nil, nil, nil, nil},
	})
	ktEqualRows(t, res.Outputs["bad"].Rows, [][]any{
		{int64(3), "column 'i': 2.5 is not an integer"},
		{int64(4), `column 'b': cannot convert "maybe" to bool`},
		{int64(5), `column 'd': cannot convert "soon" to a date or timestamp`},
		{int64(6), "column 'f': cannot store bool in a float64 column"},
	})
}

// ktSliceOrigin sends its rows as a slice of a larger batch (non-zero array
// offsets), as a stage passing on part of a batch without copying does.
type ktSliceOrigin struct {
	schema *arrow.Schema
	rows   [][]any
}

func (o *ktSliceOrigin) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(o.schema)
	return nil
}

func (o *ktSliceOrigin) Pump(ctx context.Context, out *openstage.Outputs) error {
	b := openstage.NewBuilder(out.Allocator(), o.schema)
	defer b.Release()
	for _, r := range o.rows {
		if err := b.Append(r...); err != nil {
			return err
		}
	}
	rec := b.Build()
	defer rec.Release()
	part := rec.NewSlice(2, rec.NumRows())
	defer part.Release()
	return out.Send(ctx, part)
}

func TestTransformerSlicedInput(t *testing.T) {
	// Good and rejected rows of a sliced batch keep their strings.
	rows := trIDRows(8, 6)
	for i := range rows {
		rows[i][3] = fmt.Sprintf("nombre-%d-ñ", i+1)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	good, bad := &openstagetest.Sink{}, &openstagetest.Sink{}
	tr := openstage.NewStage("stage", &stages.Transformer{Derive: stages.Derivations{{Column: "r", Expr: "10 % qty"}}, Reject: "bad"})
	src := openstage.NewStage("src", &ktSliceOrigin{schema: trSchema, rows: rows})
	src.AddOutputPipe(openstage.NewPipe("in")).SetDestination(tr)
	tr.AddOutputPipe(openstage.NewPipe("out")).SetDestination(openstage.NewStage("good", good))
	tr.AddOutputPipe(openstage.NewPipe("bad")).SetDestination(openstage.NewStage("badsink", bad))
	job := openstage.NewJob("sliced", src)
	job.Allocator = mem
	if err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := ktCol(good.Rows, 3); !slices.Equal(got, []any{"nombre-3-ñ", "nombre-4-ñ", "nombre-5-ñ", "nombre-7-ñ", "nombre-8-ñ"}) {
		t.Fatalf("good names %v", got)
	}
	ktEqualRows(t, bad.Rows, [][]any{{int64(6), 1.0, int64(0), "nombre-6-ñ", nil, "derive 'r': runtime error: integer divide by zero (at character 4)"}})
}
