// Command ai_fraud_detection is the design document's Example 3 written with
// the Go builder API: transactions read from a CSV file (standing in for
// BigQuery), Claude keeps the high-risk ones and adds a fraud_score, and the
// result goes to a CSV file. It needs ANTHROPIC_API_KEY; -base-url points
// it at another server of the Messages API (a proxy, the tests' local one),
// -dry-run prints the first request and an estimate instead of calling.
//
//	go run ./examples/go/ai_fraud_detection [-data examples/data] [-out examples/out] [-model ID] [-dry-run]
package main

import (
	"flag"
	"os"
	"path/filepath"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/ai"
	"github.com/open-stage/openstage/ai/anthropic"
	"github.com/open-stage/openstage/csvio"
)

const prompt = `Filter only high-risk transactions and add a fraud_score column.
High-risk criteria:
- Amount > $10,000
- Foreign country transactions (the home country is US)
- Multiple transactions in short time
Add fraud_score: LOW, MEDIUM, HIGH
`

func main() {
	data := flag.String("data", "examples/data", "folder of transactions.csv")
	out := flag.String("out", "examples/out", "folder for high_risk_transactions.csv")
	model := flag.String("model", anthropic.DefaultModel, "Claude model id (the default, the seed's Sonnet 4.5, was retired on 2026-11-30)")
	baseURL := flag.String("base-url", "", "Messages API endpoint (default: Anthropic's)")
	dryRun := flag.Bool("dry-run", false, "print the first request and an estimate; send nothing")
	flag.Parse()

	reader := csvio.NewCSVOrigin("transactions_reader", filepath.Join(*data, "transactions.csv"))
	claude := openstage.New("ai_transformer", func(c *anthropic.AnthropicPromptTransformer) {
		c.Model = *model
		c.BaseURL = *baseURL // the API key comes from ANTHROPIC_API_KEY
		c.Prompt = prompt
		c.OutputColumns = ai.Columns{ai.Col("*", nil), ai.Col("fraud_score", openstage.String)}
		c.MaxTokens = 16000
		c.RequestRows = 20
	})
	writer := csvio.NewCSVDestination("writer", filepath.Join(*out, "high_risk_transactions.csv"))

	reader.AddOutputPipe(openstage.NewPipe("input")).SetDestination(claude).
		AddOutputPipe(openstage.NewPipe("output")).SetDestination(writer)

	job := openstage.NewJob("fraud_detection", reader)
	if *dryRun {
		job.DryRun = os.Stderr
	}
	openstage.RunCommand(job)
}
