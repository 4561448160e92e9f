package stages_test

import (
	"context"
	"fmt"
	"log"
	"sort"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

// The seed's users/orders example: every user with their orders, users
// without orders kept with null order columns.
func ExampleNewJoiner() {
	users := openstage.NewStage("users_reader", &openstagetest.Source{
		Schema: openstage.NewSchema("user_id", openstage.Int64, "name", openstage.String),
		Rows:   [][]any{{int64(1), "Ana"}, {int64(2), "Bjørn"}, {int64(3), "Chloé"}},
	})
	orders := openstage.NewStage("orders_reader", &openstagetest.Source{
		Schema: openstage.NewSchema("order_id", openstage.Int64, "user_id", openstage.Int64, "total_amount", openstage.Float64),
		Rows:   [][]any{{int64(10), int64(2), 1500.0}, {int64(11), int64(1), 80.0}, {int64(12), int64(2), 99.5}},
	})
	joiner := stages.NewJoiner("join_users_orders", "users_pipe", "orders_pipe", "user_id", "left")
	result := &openstagetest.Sink{}

	users.AddOutputPipe(openstage.NewPipe("users_pipe")).SetDestination(joiner)
	orders.AddOutputPipe(openstage.NewPipe("orders_pipe")).SetDestination(joiner)
	joiner.AddOutputPipe(openstage.NewPipe("joined_pipe")).SetDestination(openstage.NewStage("result", result))

	if err := openstage.NewJob("users_orders", users).Run(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println(openstage.ColumnNames(result.Schema))
	for _, row := range result.Rows {
		fmt.Println(row)
	}
	// Output:
	// [user_id name order_id total_amount]
	// [1 Ana 11 80]
	// [2 Bjørn 10 1500]
	// [2 Bjørn 12 99.5]
	// [3 Chloé <nil> <nil>]
}

// The seed's iris example: rows routed by species, two species to one pipe,
// everything else to a default pipe.
func ExampleNewSwitcher() {
	iris := openstage.NewStage("iris_reader", &openstagetest.Source{
		Schema: openstage.NewSchema("species", openstage.String, "petal_length", openstage.Float64),
		Rows: [][]any{
			{"setosa", 1.4}, {"versicolor", 4.7}, {"virginica", 6.0}, {"setosa", 1.3}, {nil, 2.0}, {"unknown", 3.3},
		},
	})
	router := stages.NewSwitcher("router", "species", map[string]string{
		"setosa":     "p_setosa",
		"versicolor": "p_others",
		"virginica":  "p_others",
	})
	router.Component().(*stages.Switcher).Default = "p_rest"
	sinks := map[string]*openstagetest.Sink{}
	for _, pipe := range []string{"p_setosa", "p_others", "p_rest"} {
		sinks[pipe] = &openstagetest.Sink{}
		router.AddOutputPipe(openstage.NewPipe(pipe)).SetDestination(openstage.NewStage("to_"+pipe, sinks[pipe]))
	}
	iris.AddOutputPipe(openstage.NewPipe("pipe1")).SetDestination(router)

	if err := openstage.NewJob("iris", iris).Run(context.Background()); err != nil {
		log.Fatal(err)
	}
	for _, pipe := range []string{"p_setosa", "p_others", "p_rest"} {
		fmt.Println(pipe, sinks[pipe].Rows)
	}
	// Output:
	// p_setosa [[setosa 1.4] [setosa 1.3]]
	// p_others [[versicolor 4.7] [virginica 6]]
	// p_rest [[<nil> 2] [unknown 3.3]]
}

// A Funnel in its default, continuous mode passes batches on as they come,
// so rows of different inputs interleave in no fixed order: sort to compare.
// The second input lists its columns in another order; the Funnel aligns
// them by name.
func ExampleNewFunnel() {
	a := openstage.NewStage("a", &openstagetest.Source{
		Schema: openstage.NewSchema("name", openstage.String, "age", openstage.Int64),
		Rows:   [][]any{{"Ana", int64(31)}, {"Bjørn", int64(45)}},
	})
	b := openstage.NewStage("b", &openstagetest.Source{
		Schema: openstage.NewSchema("age", openstage.Int64, "name", openstage.String),
		Rows:   [][]any{{int64(28), "Chloé"}},
	})
	funnel := stages.NewFunnel("combine")
	result := &openstagetest.Sink{}
	a.AddOutputPipe(openstage.NewPipe("from_a")).SetDestination(funnel)
	b.AddOutputPipe(openstage.NewPipe("from_b")).SetDestination(funnel)
	funnel.AddOutputPipe(openstage.NewPipe("combined")).SetDestination(openstage.NewStage("result", result))

	if err := openstage.NewJob("combine", a, b).Run(context.Background()); err != nil {
		log.Fatal(err)
	}
	var lines []string
	for _, row := range result.Rows {
		lines = append(lines, fmt.Sprint(row))
	}
	sort.Strings(lines)
	fmt.Println(openstage.ColumnNames(result.Schema), lines)
	// Output:
	// [name age] [[Ana 31] [Bjørn 45] [Chloé 28]]
}

// In sequence mode a Funnel passes on every row of its first input, then
// every row of the second, in the order the pipes were connected.
func ExampleFunnel_sequence() {
	schema := openstage.NewSchema("n", openstage.Int64)
	first := openstage.NewStage("first", &openstagetest.Source{Schema: schema, Rows: [][]any{{int64(1)}, {int64(2)}}, BatchRows: 1})
	second := openstage.NewStage("second", &openstagetest.Source{Schema: schema, Rows: [][]any{{int64(3)}, {int64(4)}}, BatchRows: 1})
	funnel := openstage.New("combine", func(f *stages.Funnel) { f.Mode = "sequence" })
	result := &openstagetest.Sink{}
	// p2 is connected first, so its rows come first.
	second.AddOutputPipe(openstage.NewPipe("p2")).SetDestination(funnel)
	first.AddOutputPipe(openstage.NewPipe("p1")).SetDestination(funnel)
	funnel.AddOutputPipe(openstage.NewPipe("combined")).SetDestination(openstage.NewStage("result", result))

	if err := openstage.NewJob("sequence", first, second).Run(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println(result.Rows)
	// Output:
	// [[3] [4] [1] [2]]
}
