package stages_test

import (
	"context"
	"fmt"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

var ktExamplePeople = openstage.NewSchema("name", openstage.String, "age", openstage.Int64, "amount", openstage.Float64)

// ktExampleRun runs people -> stage -> sink and prints the rows that arrive.
func ktExampleRun(stage *openstage.Stage) {
	src := openstage.NewStage("people", &openstagetest.Source{Schema: ktExamplePeople, Rows: [][]any{
		{"Ana", int64(34), 1500.0},
		{"Bob", int64(17), 20.0},
		{"Eve", nil, 300.0},
		{"Zoë", int64(51), 1200.0},
	}})
	sink := &openstagetest.Sink{}
	src.AddOutputPipe(openstage.NewPipe("in")).SetDestination(stage).
		AddOutputPipe(openstage.NewPipe("out")).SetDestination(openstage.NewStage("sink", sink))
	if err := openstage.NewJob("example", src).Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(openstage.ColumnNames(sink.Schema))
	for _, r := range sink.Rows {
		fmt.Println(r...)
	}
}

func ExampleNewFilter() {
	// Nulls never satisfy a comparison: Eve's age is null.
	ktExampleRun(stages.NewFilter("adults", "age", ">=", 18))
	// Output:
	// [name age amount]
	// Ana 34 1500
	// Zoë 51 1200
}

func ExampleNewFilter_between() {
	ktExampleRun(stages.NewFilter("middle", "amount", "between", []any{300, 1200}))
	// Output:
	// [name age amount]
	// Eve <nil> 300
	// Zoë 51 1200
}

func ExampleNewFilterExpr() {
	ktExampleRun(stages.NewFilterExpr("big_or_unknown", `amount > 1000 or age == nil`))
	// Output:
	// [name age amount]
	// Ana 34 1500
	// Eve <nil> 300
	// Zoë 51 1200
}

func ExampleNewTransformer() {
	// A row function adding a column; it declares the column it adds.
	categorise := stages.RowFunction(func(r openstage.Row) (openstage.Row, error) {
		r["category"] = "low"
		if amount, ok := r["amount"].(float64); ok && amount > 1000 {
			r["category"] = "high"
		}
		return r, nil
	}, openstage.NewSchema("category", openstage.String))
	ktExampleRun(stages.NewTransformer("categorise", categorise))
	// Output:
	// [name age amount category]
	// Ana 34 1500 high
	// Bob 17 20 low
	// Eve <nil> 300 low
	// Zoë 51 1200 high
}

func ExampleTransformer_derive() {
	ktExampleRun(openstage.New("derive", func(t *stages.Transformer) {
		t.Derive = stages.Derivations{
			{Column: "category", Expr: `amount > 1000 ? "high" : "low"`},
			{Column: "next_age", Expr: `age + 1`}, // null age: null
		}
	}))
	// Output:
	// [name age amount category next_age]
	// Ana 34 1500 high 35
	// Bob 17 20 low 18
	// Eve <nil> 300 low <nil>
	// Zoë 51 1200 high 52
}

func ExampleNewAggregator() {
	ktExampleRun(openstage.New("stats", func(a *stages.Aggregator) {
		a.Aggregations = []stages.Aggregation{
			{Type: "count", As: "people"},
			{Field: "age", Type: "mean", As: "mean_age"},
			{Field: "amount", Type: "sum", As: "total"},
		}
	}))
	// Output:
	// [people mean_age total]
	// 4 34 3020
}

func ExampleNewSort() {
	ktExampleRun(stages.NewSort("by_age", stages.Desc("age")))
	// Output:
	// [name age amount]
	// Zoë 51 1200
	// Ana 34 1500
	// Bob 17 20
	// Eve <nil> 300
}

func ExampleNewFilter_validation() {
	// A value that does not fit the column is reported before any data moves.
	ktExampleRun(stages.NewFilter("adults", "age", ">=", "eighteen"))
	// Output:
	// Filter 'adults': value "eighteen" is not a valid int64 for column 'age'
}
