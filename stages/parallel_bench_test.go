package stages_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/stages"
)

// BenchmarkParallelStages measures Transformer (derive, with and without a
// reject pipe) and Switcher, which the engine runs as BatchProcessors, at 1
// and 2 workers on the 1M-row orders of kernel_bench_test.go (16 batches).
// Figures: docs/benchmarks.md.
func BenchmarkParallelStages(b *testing.B) {
	derive := stages.Derivations{
		{Column: "net", Expr: "amount / 1.21"},
		{Column: "band", Expr: `amount > 500 ? "high" : "low"`},
		{Column: "adult", Expr: "age >= 21"},
	}
	cases := []struct {
		name string
		outs []string
		comp func() any
	}{
		{"Transformer_derive", []string{"out"}, func() any { return &stages.Transformer{Derive: derive} }},
		{"Transformer_derive_reject", []string{"out", "bad"}, func() any { return &stages.Transformer{Derive: derive, Reject: "bad"} }},
		{"Switcher", []string{"es", "pt", "other"}, func() any {
			return &stages.Switcher{Field: "country", Mapping: map[string]string{"ES": "es", "PT": "pt"}, Default: "other"}
		}},
	}
	for _, c := range cases {
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/workers%d", c.name, workers), func(b *testing.B) {
				ktBenchData()
				b.ResetTimer()
				for range b.N {
					src := openstage.NewStage("orders", ktBenchOrigin{})
					stage := openstage.NewStage("stage", c.comp())
					src.AddOutputPipe(openstage.NewPipe("in")).SetDestination(stage)
					for _, o := range c.outs {
						stage.AddOutputPipe(openstage.NewPipe(o)).SetDestination(openstage.NewStage("sink_"+o, &ktBenchSink{}))
					}
					job := openstage.NewJob("bench", src)
					job.Workers = workers
					if err := job.Run(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(ktBenchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}
