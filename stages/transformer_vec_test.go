package stages

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// TestTransformerKernelsMatchRowPath runs the same derivations through
// deriveBatch (the column kernels) and deriveRows (the row evaluator) on
// random batches: chains of derived columns, a replaced input column,
// declared types that do not always fit, nulls and failing rows, with and
// without a reject pipe, in batches of one chunk and of several. Outputs, reject rows and messages, and the error
// that fails the job must be identical.
func TestTransformerKernelsMatchRowPath(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: openstage.Int64, Nullable: true},
		{Name: "f", Type: openstage.Float64, Nullable: true},
		{Name: "s", Type: openstage.String, Nullable: true},
		{Name: "d", Type: openstage.Date, Nullable: true},
	}, nil)
	derive := Derivations{
		{Column: "a", Expr: "i * 2"},
		{Column: "i", Expr: "i + 1"}, // later derivations see the new i
		{Column: "b", Expr: "a + i"},
		{Column: "c", Expr: "f * 2", Type: "int64"}, // fails where f*2 has a fraction
		{Column: "e", Expr: "i", Type: "string"},    // converted as NormalizeValue
		{Column: "g", Expr: "b % (i - 5)"},          // fails where i is 5 (input 4)
		{Column: "h", Expr: `s ?? "none"`},          // nulls handled
		{Column: "k", Expr: "d", Type: "timestamp"}, // a date as a timestamp
		{Column: "m", Expr: `upper(s) + "/" + string(c)`},
		{Column: "n", Expr: "f > 10 ? float(i) : f", Type: "float64"},
		{Column: "o", Expr: "repeat(h, 2)"}, // no kernel: the VM, for this node
	}
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	r := rand.New(rand.NewPCG(5, 8))
	for _, reject := range []string{"bad", ""} {
		for batch := range 6 {
			n := 300
			if batch == 2 {
				n = 17000 // three chunks of the kernels
			}
			rec := trRandomBatch(alloc, r, schema, n)
			run := func(vector bool) (good, bad arrow.RecordBatch, err error) {
				tr := &Transformer{Derive: derive, Reject: reject, in: schema}
				out, err := tr.planDerive(schema)
				if err != nil {
					t.Fatal(err)
				}
				tr.out = out
				if vector {
					return tr.deriveBatch(rec, int64(batch*300), alloc)
				}
				return tr.deriveRows(rec, int64(batch*300), alloc)
			}
			vg, vb, verr := run(true)
			rg, rb, rerr := run(false)
			if fmt.Sprint(verr) != fmt.Sprint(rerr) {
				t.Fatalf("reject %q batch %d: kernels fail with %v, row path with %v", reject, batch, verr, rerr)
			}
			for _, pair := range [][2]arrow.RecordBatch{{vg, rg}, {vb, rb}} {
				if (pair[0] == nil) != (pair[1] == nil) || pair[0] != nil && !array.RecordApproxEqual(pair[0], pair[1], array.WithNaNsEqual(true), array.WithAbsTolerance(0)) {
					t.Fatalf("reject %q batch %d: kernels\n%v\nrow path\n%v", reject, batch, pair[0], pair[1])
				}
			}
			for _, b := range []arrow.RecordBatch{vg, vb, rg, rb} {
				if b != nil {
					b.Release()
				}
			}
			rec.Release()
		}
	}
}

func trRandomBatch(alloc memory.Allocator, r *rand.Rand, schema *arrow.Schema, n int) arrow.RecordBatch {
	b := array.NewRecordBuilder(alloc, schema)
	defer b.Release()
	strs := []string{"", "paid", "ñandú", "a b", "x"}
	for range n {
		for c := range schema.NumFields() {
			if r.IntN(8) == 0 {
				b.Field(c).AppendNull()
				continue
			}
			switch c {
			case 0:
				b.Field(c).(*array.Int64Builder).Append([]int64{4, 0, -3, 17, math.MaxInt64, math.MinInt64, r.Int64N(100)}[r.IntN(7)])
			case 1:
				b.Field(c).(*array.Float64Builder).Append([]float64{0.5, 1, 12, -2.25, math.NaN(), math.Inf(1), float64(r.IntN(40))}[r.IntN(7)])
			case 2:
				b.Field(c).(*array.StringBuilder).Append(strs[r.IntN(len(strs))])
			case 3:
				b.Field(c).(*array.Date32Builder).Append(arrow.Date32FromTime(time.Date(1960+r.IntN(100), 1, 1+r.IntN(300), 0, 0, 0, 0, time.UTC)))
			}
		}
	}
	return b.NewRecordBatch()
}
