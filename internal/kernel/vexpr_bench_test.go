package kernel

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// BenchmarkVectorExpr: one expression per kernel family, evaluated by the
// kernels and by the row evaluator on the same batches (16 of 65536 rows,
// shaped like the peer benchmark's orders), at 1 and 2 workers. rows/s is
// the figure to compare; derived expressions include building the output
// column, filters the selection.
//
//	go test -run '^$' -bench VectorExpr -benchtime 3x ./internal/kernel
func BenchmarkVectorExpr(b *testing.B) {
	families := []struct{ name, src string }{
		{"arithmetic", "amount * 1.21 + age * 2"},
		{"comparison", "amount > 1000 && status == 'paid' || age < 20"},
		{"string", "upper(country) + '-' + status"},
		{"date", "order_date.Year() == 2025 && order_date >= date('2025-06-01') || order_ts < date('2024-02-01')"},
		{"conditional", "amount > 1000 ? 'high' : amount > 100 ? 'mid' : 'low'"},
	}
	alloc := memory.NewGoAllocator()
	batches := benchBatches(alloc, 16, 65536)
	defer func() {
		for _, rec := range batches {
			rec.Release()
		}
	}()
	rows := 0
	for _, rec := range batches {
		rows += int(rec.NumRows())
	}
	for _, fam := range families {
		env := NewVEnv(batches[0].Schema())
		p, err := CompileExpr(fam.src, env.ExprEnv())
		if err != nil {
			b.Fatal(err)
		}
		vp := CompileVector(p, env)
		if len(vp.Fallbacks) > 0 {
			b.Fatalf("%s: %s", fam.src, vp.Explain())
		}
		dt, _ := ExprArrowType(p.Type)
		filter := dt.ID() == arrow.BOOL
		for _, how := range []string{"kernels", "rows"} {
			for _, workers := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%s/workers=%d", fam.name, how, workers), func(b *testing.B) {
					states := make([]*VState, workers)
					for w := range states {
						states[w] = env.NewState()
					}
					start := time.Now()
					for range b.N {
						var wg sync.WaitGroup
						for w := range workers {
							wg.Add(1)
							go func() {
								defer wg.Done()
								for k := w; k < len(batches); k += workers {
									benchEval(b, how, filter, vp, states[w], batches[k], alloc, dt)
								}
							}()
						}
						wg.Wait()
					}
					b.ReportMetric(float64(rows*b.N)/time.Since(start).Seconds(), "rows/s")
				})
			}
		}
	}
}

func benchEval(b *testing.B, how string, filter bool, vp *VProgram, st *VState, rec arrow.RecordBatch, alloc memory.Allocator, dt arrow.DataType) {
	n := int(rec.NumRows())
	if how == "kernels" {
		st.Reset(rec)
		if filter {
			if _, bad, ok := vp.Select(st, make([]int32, 0, n)); !ok || bad >= 0 {
				b.Fatal("kernels failed")
			}
		} else {
			arr, bad, ok := vp.Column(st, alloc, dt, nil)
			if !ok || bad != nil {
				b.Fatal("kernels failed")
			}
			arr.Release()
		}
		st.Release()
		return
	}
	row := NewExprRow(rec, vp.Prog.Refs)
	var bld array.Builder
	if !filter {
		bld = array.NewBuilder(alloc, dt)
		defer bld.Release()
		bld.Reserve(n)
	}
	keep := make([]int32, 0, n)
	for i := range n {
		row.Load(i)
		v, err := row.Eval(vp.Prog)
		if err != nil {
			b.Fatal(err)
		}
		if filter {
			if v == true {
				keep = append(keep, int32(i))
			}
			continue
		}
		nv, err := openstage.NormalizeValue(dt, v)
		if err != nil {
			b.Fatal(err)
		}
		openstage.AppendNormalized(bld, nv)
	}
	if bld != nil {
		bld.NewArray().Release()
	}
}

// benchBatches returns batches shaped like the peer benchmark's orders
// (gen.py): country, age, amount, status, an order date and a timestamp.
func benchBatches(alloc memory.Allocator, count, n int) []arrow.RecordBatch {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "country", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "age", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "status", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "order_date", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "order_ts", Type: openstage.Timestamp, Nullable: true},
	}, nil)
	countries := []string{"US", "DE", "FR", "ES", "GB", "IT", "BR", "MX", "IN", "JP", "CN", "CA", "AU", "NL", "SE", "PL", "PT", "AR", "CL", "KR"}
	statuses := []string{"new", "paid", "shipped", "cancelled"}
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []arrow.RecordBatch
	for range count {
		bld := array.NewRecordBuilder(alloc, schema)
		for range n {
			bld.Field(0).(*array.StringBuilder).Append(countries[min(r.IntN(20), r.IntN(20))])
			bld.Field(1).(*array.Int64Builder).Append(10 + r.Int64N(81))
			bld.Field(2).(*array.Float64Builder).Append(float64(int(r.ExpFloat64()*50000)) / 100)
			bld.Field(3).(*array.StringBuilder).Append(statuses[r.IntN(4)])
			day := start.AddDate(0, 0, r.IntN(731))
			bld.Field(4).(*array.Date32Builder).Append(arrow.Date32FromTime(day))
			ts, _ := arrow.TimestampFromTime(day.Add(time.Duration(r.Int64N(86400))*time.Second), arrow.Microsecond)
			bld.Field(5).(*array.TimestampBuilder).Append(ts)
		}
		out = append(out, bld.NewRecordBatch())
		bld.Release()
	}
	return out
}
