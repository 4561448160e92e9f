package bigqueryio_test

import (
	"context"
	"fmt"
	"os"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/bigqueryio"
	"github.com/open-stage/openstage/internal/bqtest"
	"github.com/open-stage/openstage/openstagetest"
)

// Loads rows into a BigQuery table and queries them back. Here BigQuery is
// the local test server, reached through BIGQUERY_EMULATOR_HOST; with
// Google's, leave the variable unset and provide credentials.
func Example() {
	srv := bqtest.New(bqtest.Options{})
	defer srv.Close()
	srv.CreateDataset("my-project", "analytics")
	os.Setenv(bigqueryio.EmulatorHostEnv, srv.Host())
	defer os.Unsetenv(bigqueryio.EmulatorHostEnv)
	ctx := context.Background()

	people := openstage.NewSchema("name", openstage.String, "age", openstage.Int64, "city", openstage.String)
	src := openstage.NewStage("people", &openstagetest.Source{Schema: people, Rows: [][]any{
		{"Ana", int64(34), "Lima"}, {"Bruno", int64(17), "Santiago"}, {"Carmen", int64(52), "Lima"},
	}})
	writer := bigqueryio.NewGCPBigQueryDestination("writer", "my-project", "analytics", "people", "WRITE_TRUNCATE")
	src.AddOutputPipe(openstage.NewPipe("p1")).SetDestination(writer)
	if err := openstage.NewJob("load", src).Run(ctx); err != nil {
		fmt.Println(err)
		return
	}

	reader := openstage.New("reader", func(o *bigqueryio.GCPBigQueryOrigin) {
		o.ProjectID = "my-project"
		o.Query = "SELECT city, COUNT(*) AS n FROM analytics.people WHERE age >= @min GROUP BY city ORDER BY city"
		o.Params = map[string]any{"min": 18}
	})
	sink := &openstagetest.Sink{}
	reader.AddOutputPipe(openstage.NewPipe("p2")).SetDestination(openstage.NewStage("sink", sink))
	if err := openstage.NewJob("query", reader).Run(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(openstage.ColumnNames(sink.Schema))
	for _, r := range sink.Rows {
		fmt.Println(r...)
	}
	// Output:
	// [city n]
	// Lima 2
}
