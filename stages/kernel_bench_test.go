package stages_test

// Benchmarks of Filter, Aggregator, RemoveDuplicates and Sort on 1,000,000
// rows shaped like orders (order_id, user_id in 1..100000, country among 20
// values, age, amount), sent as prebuilt batches of 65,536 rows through a
// real job (origin -> stage -> discarding sink). Each reports rows/s.

import (
	"context"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/stages"
)

const ktBenchRows = 1_000_000

var ktBenchSchema = openstage.NewSchema("order_id", openstage.Int64, "user_id", openstage.Int64, "country", openstage.String, "age", openstage.Int64, "amount", openstage.Float64)

var ktBenchCountries = []string{"ES", "PT", "FR", "DE", "IT", "GB", "US", "MX", "AR", "BR", "JP", "CN", "IN", "NL", "BE", "CH", "AT", "SE", "NO", "PL"}

var (
	ktBenchOnce    sync.Once
	ktBenchBatches []arrow.RecordBatch
)

func ktBenchData() []arrow.RecordBatch {
	ktBenchOnce.Do(func() {
		r := rand.New(rand.NewPCG(1, 2))
		alloc := memory.NewGoAllocator()
		for start := 0; start < ktBenchRows; start += 1 << 16 {
			n := min(1<<16, ktBenchRows-start)
			b := array.NewRecordBuilder(alloc, ktBenchSchema)
			for i := range n {
				b.Field(0).(*array.Int64Builder).Append(int64(start + i + 1))
				b.Field(1).(*array.Int64Builder).Append(int64(1 + r.IntN(100000)))
				b.Field(2).(*array.StringBuilder).Append(ktBenchCountries[r.IntN(len(ktBenchCountries))])
				b.Field(3).(*array.Int64Builder).Append(int64(18 + r.IntN(70)))
				b.Field(4).(*array.Float64Builder).Append(float64(r.IntN(100000)) / 100)
			}
			ktBenchBatches = append(ktBenchBatches, b.NewRecordBatch())
			b.Release()
		}
	})
	return ktBenchBatches
}

// ktBenchOrigin sends the prebuilt batches.
type ktBenchOrigin struct{}

func (ktBenchOrigin) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(ktBenchSchema)
	return nil
}

func (ktBenchOrigin) Pump(ctx context.Context, out *openstage.Outputs) error {
	for _, rec := range ktBenchData() {
		if err := out.Send(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

// ktBenchSink counts and drops what it receives.
type ktBenchSink struct{ rows int64 }

func (*ktBenchSink) Plan(context.Context, *openstage.Plan) error { return nil }

func (s *ktBenchSink) Sink(ctx context.Context, in *openstage.Inputs) error {
	for {
		dp, err := in.Recv(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		s.rows += dp.Batch.NumRows()
		dp.Batch.Release()
	}
}

func ktBenchRun(b *testing.B, newComp func() any) {
	ktBenchData()
	b.ResetTimer()
	var out int64
	for range b.N {
		src := openstage.NewStage("orders", ktBenchOrigin{})
		sink := &ktBenchSink{}
		src.AddOutputPipe(openstage.NewPipe("in")).SetDestination(openstage.NewStage("stage", newComp())).
			AddOutputPipe(openstage.NewPipe("out")).SetDestination(openstage.NewStage("sink", sink))
		if err := openstage.NewJob("bench", src).Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		out = sink.rows
	}
	b.ReportMetric(float64(ktBenchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(out), "rows_out")
}

func BenchmarkFilter(b *testing.B) {
	cases := []struct {
		name string
		f    func() any
	}{
		{"amount>500", func() any { return &stages.Filter{Field: "amount", Condition: ">", Value: 500} }},
		{"age_between_30_40", func() any { return &stages.Filter{Field: "age", Condition: "between", Value: []any{30, 40}} }},
		{"country_in_3", func() any { return &stages.Filter{Field: "country", Condition: "in", Value: []any{"ES", "PT", "FR"}} }},
		{"all_match", func() any { return &stages.Filter{Field: "age", Condition: ">=", Value: 18} }},
		{"expr", func() any { return &stages.Filter{Expr: `amount > 500 and country == "ES"`} }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) { ktBenchRun(b, c.f) })
	}
}

func BenchmarkAggregator(b *testing.B) {
	cases := []struct {
		name string
		f    func() any
	}{
		{"sum_amount_by_user_id", func() any {
			return &stages.Aggregator{Key: []string{"user_id"}, AggType: "sum", FieldToAgg: "amount", AggFieldName: "total"}
		}},
		{"5_aggs_by_country", func() any {
			return &stages.Aggregator{Keys: []string{"country"}, Aggregations: []stages.Aggregation{
				{Type: "count"}, {Field: "amount", Type: "sum"}, {Field: "amount", Type: "mean"}, {Field: "age", Type: "max"}, {Field: "amount", Type: "std"}}}
		}},
		{"count_by_country_age", func() any {
			return &stages.Aggregator{Keys: []string{"country", "age"}, Aggregations: []stages.Aggregation{{Type: "count"}}}
		}},
		{"median_nunique_by_country", func() any {
			return &stages.Aggregator{Keys: []string{"country"}, Aggregations: []stages.Aggregation{{Field: "amount", Type: "median"}, {Field: "user_id", Type: "nunique"}}}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) { ktBenchRun(b, c.f) })
	}
}

func BenchmarkRemoveDuplicates(b *testing.B) {
	cases := []struct {
		name string
		f    func() any
	}{
		{"user_id_streaming", func() any { return &stages.RemoveDuplicates{Key: []string{"user_id"}} }},
		{"country_age_streaming", func() any { return &stages.RemoveDuplicates{Key: []string{"country", "age"}} }},
		{"user_id_last", func() any { return &stages.RemoveDuplicates{Key: []string{"user_id"}, Keep: "last"} }},
		{"user_id_sort_by_amount_desc", func() any {
			return &stages.RemoveDuplicates{Key: []string{"user_id"}, SortBy: []string{"amount"}, Ascending: stages.Bools{false}}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) { ktBenchRun(b, c.f) })
	}
}

func BenchmarkSort(b *testing.B) {
	cases := []struct {
		name string
		f    func() any
	}{
		{"amount", func() any { return &stages.Sort{Keys: stages.SortKeys{stages.Asc("amount")}} }},
		{"user_id", func() any { return &stages.Sort{Keys: stages.SortKeys{stages.Asc("user_id")}} }},
		{"country", func() any { return &stages.Sort{Keys: stages.SortKeys{stages.Asc("country")}} }},
		{"country_amount_desc", func() any { return &stages.Sort{Keys: stages.SortKeys{stages.Asc("country"), stages.Desc("amount")}} }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) { ktBenchRun(b, c.f) })
	}
}
