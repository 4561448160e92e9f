// Command users_orders_join is the design document's Example 4 written with
// the Go builder API: orders left-joined to users on user_id, filtered to
// totals over 1000, copied to a CSV file and to a sum by user. CSV files
// stand in for PostgreSQL and BigQuery.
//
//	go run ./examples/go/users_orders_join [-data examples/data] [-out examples/out] [-min 1000]
package main

import (
	"flag"
	"path/filepath"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/csvio"
	"github.com/open-stage/openstage/stages"
)

func main() {
	data := flag.String("data", "examples/data", "folder of users.csv and orders.csv")
	out := flag.String("out", "examples/out", "folder for the output files")
	minAmount := flag.Float64("min", 1000, "keep orders whose total_amount is above this")
	flag.Parse()

	users := csvio.NewCSVOrigin("users_reader", filepath.Join(*data, "users.csv"))
	orders := csvio.NewCSVOrigin("orders_reader", filepath.Join(*data, "orders.csv"))
	joiner := stages.NewJoiner("join_users_orders", "orders_pipe", "users_pipe", "user_id", "left")
	highValue := stages.NewFilter("high_value", "total_amount", ">", *minAmount)
	splitter := stages.NewCopy("splitter")
	csvWriter := csvio.NewCSVDestination("csv_writer", filepath.Join(*out, "high_value_orders.csv"))
	sumByUser := stages.NewAggregator("sum_by_user", "user_id", "total_spent", "sum", "total_amount")
	totalsWriter := csvio.NewCSVDestination("totals_writer", filepath.Join(*out, "user_totals.csv"))

	users.AddOutputPipe(openstage.NewPipe("users_pipe")).SetDestination(joiner)
	orders.AddOutputPipe(openstage.NewPipe("orders_pipe")).SetDestination(joiner).
		AddOutputPipe(openstage.NewPipe("joined_pipe")).SetDestination(highValue).
		AddOutputPipe(openstage.NewPipe("filtered_pipe")).SetDestination(splitter)
	splitter.AddOutputPipe(openstage.NewPipe("to_csv")).SetDestination(csvWriter)
	splitter.AddOutputPipe(openstage.NewPipe("to_agg")).SetDestination(sumByUser).
		AddOutputPipe(openstage.NewPipe("agg_pipe")).SetDestination(totalsWriter)

	openstage.RunCommand(openstage.NewJob("high_value_orders", users, orders))
}
