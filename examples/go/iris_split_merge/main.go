// Command iris_split_merge is the design document's Example 2 written with
// the Go builder API: iris rows are split by species, merged again, copied to
// a CSV file and to a count by species.
//
//	go run ./examples/go/iris_split_merge [-data examples/data] [-out examples/out]
package main

import (
	"flag"
	"path/filepath"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/csvio"
	"github.com/open-stage/openstage/stages"
)

func main() {
	data := flag.String("data", "examples/data", "folder of iris.csv")
	out := flag.String("out", "examples/out", "folder for the output files")
	flag.Parse()

	reader := csvio.NewCSVOrigin("iris_reader", filepath.Join(*data, "iris.csv"))
	router := stages.NewSwitcher("router", "species", map[string]string{
		"setosa":     "p_setosa",
		"versicolor": "p_versicolor",
		"virginica":  "p_virginica",
	})
	combiner := openstage.New("combiner", func(f *stages.Funnel) { f.Mode = "sequence" })
	splitter := stages.NewCopy("splitter")
	writer := csvio.NewCSVDestination("writer", filepath.Join(*out, "iris_output.csv"))
	counter := stages.NewAggregator("counter", "species", "count", "count", "")
	countWriter := csvio.NewCSVDestination("count_writer", filepath.Join(*out, "iris_counts.csv"))

	reader.AddOutputPipe(openstage.NewPipe("pipe1")).SetDestination(router)
	for _, species := range []string{"p_setosa", "p_versicolor", "p_virginica"} {
		router.AddOutputPipe(openstage.NewPipe(species)).SetDestination(combiner)
	}
	combiner.AddOutputPipe(openstage.NewPipe("combined")).SetDestination(splitter)
	splitter.AddOutputPipe(openstage.NewPipe("to_csv")).SetDestination(writer)
	splitter.AddOutputPipe(openstage.NewPipe("to_agg")).SetDestination(counter).
		AddOutputPipe(openstage.NewPipe("count_pipe")).SetDestination(countWriter)

	openstage.RunCommand(openstage.NewJob("iris_split_merge", reader))
}
