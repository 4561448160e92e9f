package ai_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/ai"
	"github.com/open-stage/openstage/ai/anthropic"
	"github.com/open-stage/openstage/ai/gemini"
	"github.com/open-stage/openstage/ai/openai"
	"github.com/open-stage/openstage/internal/aitest"
	"github.com/open-stage/openstage/openstagetest"
)

// benchDelay is how long the local server takes to answer each request: a
// stand-in for a model's latency, so that what is measured is what
// parallel requests gain, not a model's speed.
const benchDelay = 10 * time.Millisecond

// BenchmarkPromptTransformers pushes 100,000 rows through each stage in
// table mode (batch_rows 100: 1,000 requests) against its local server,
// which echoes the table after benchDelay, at concurrency 1 and 8, and
// reports rows/s. Run it alone, it takes about a minute:
//
//	flock /work/.bench.lock go test -run '^$' -bench PromptTransformers -benchtime 1x ./ai
func BenchmarkPromptTransformers(b *testing.B) {
	const rows = 100_000
	data := aitest.TransactionRows(rows)
	providers := []struct {
		name   string
		server func(string, aitest.Model) *aitest.Server
		stage  func(url string) (any, *ai.Stage)
	}{
		{"anthropic", aitest.NewAnthropic, func(url string) (any, *ai.Stage) {
			c := &anthropic.AnthropicPromptTransformer{}
			openstage.ApplyDefaults(c)
			c.BaseURL, c.APIKey = url, openstage.NewSecret("bench-key")
			return c, &c.Stage
		}},
		{"gemini", aitest.NewGemini, func(url string) (any, *ai.Stage) {
			c := &gemini.GeminiPromptTransformer{}
			openstage.ApplyDefaults(c)
			c.BaseURL, c.APIKey = url, openstage.NewSecret("bench-key")
			return c, &c.Stage
		}},
		{"openai", aitest.NewOpenAI, func(url string) (any, *ai.Stage) {
			c := &openai.OpenAIPromptTransformer{}
			openstage.ApplyDefaults(c)
			c.BaseURL, c.APIKey = url+"/v1", openstage.NewSecret("bench-key")
			return c, &c.Stage
		}},
	}
	model := func(req aitest.Request) aitest.Reply {
		rep := aitest.Echo(req)
		rep.Delay = benchDelay
		return rep
	}
	for _, p := range providers {
		for _, conc := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/concurrency=%d", p.name, conc), func(b *testing.B) {
				srv := p.server("bench-key", model)
				defer srv.Close()
				var elapsed time.Duration
				for b.Loop() {
					comp, st := p.stage(srv.URL)
					st.Prompt = "Return the table unchanged."
					st.RequestRows = 100
					st.InFlight = conc
					start := time.Now()
					res, err := openstagetest.RunNodeWith(b, comp, []openstagetest.Input{{Pipe: "in", Schema: aitest.Transactions, Rows: data, BatchRows: 10_000}}, []string{"out"})
					elapsed += time.Since(start)
					if err != nil {
						b.Fatal(err)
					}
					if n := len(res.Outputs["out"].Rows); n != rows {
						b.Fatalf("%d rows out", n)
					}
				}
				b.ReportMetric(float64(rows)*float64(b.N)/elapsed.Seconds(), "rows/s")
				b.ReportMetric(float64(srv.MaxInFlight()), "max-in-flight")
			})
		}
	}
}
