// Command postgres_users_orders_join is the design document's Example 4 on
// PostgreSQL, written with the Go builder API: active users and orders read
// by two PostgresOrigins, orders left-joined to users on user_id, filtered
// to totals over 1000, copied to a CSV file and to a sum by user. Load the
// tables first: go run ./cmd/openstage run examples/sql/00_load_postgres.yaml
//
//	go run ./examples/go/postgres_users_orders_join [-dsn postgres://postgres@127.0.0.1:5432/test] [-out examples/out] [-min 1000]
//
// The password, if any, goes in the dsn or in PGPASSWORD.
package main

import (
	"flag"
	"path/filepath"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/csvio"
	"github.com/open-stage/openstage/sqlio"
	"github.com/open-stage/openstage/stages"
)

func main() {
	dsn := flag.String("dsn", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "the PostgreSQL server holding ex4_users and ex4_orders")
	out := flag.String("out", "examples/out", "folder for the output files")
	minAmount := flag.Float64("min", 1000, "keep orders whose total_amount is above this")
	flag.Parse()

	users := sqlio.NewPostgresOrigin("users_reader", *dsn, "SELECT user_id, name, email FROM ex4_users WHERE active = $1", true)
	orders := sqlio.NewPostgresOrigin("orders_reader", *dsn, "SELECT order_id, user_id, total_amount, order_date FROM ex4_orders")
	joiner := stages.NewJoiner("join_users_orders", "orders_pipe", "users_pipe", "user_id", "left")
	highValue := stages.NewFilter("high_value", "total_amount", ">", *minAmount)
	splitter := stages.NewCopy("splitter")
	csvWriter := csvio.NewCSVDestination("csv_writer", filepath.Join(*out, "pg_high_value_orders.csv"))
	sumByUser := stages.NewAggregator("sum_by_user", "user_id", "total_spent", "sum", "total_amount")
	totalsWriter := csvio.NewCSVDestination("totals_writer", filepath.Join(*out, "pg_user_totals.csv"))

	users.AddOutputPipe(openstage.NewPipe("users_pipe")).SetDestination(joiner)
	orders.AddOutputPipe(openstage.NewPipe("orders_pipe")).SetDestination(joiner).
		AddOutputPipe(openstage.NewPipe("joined_pipe")).SetDestination(highValue).
		AddOutputPipe(openstage.NewPipe("filtered_pipe")).SetDestination(splitter)
	splitter.AddOutputPipe(openstage.NewPipe("to_csv")).SetDestination(csvWriter)
	splitter.AddOutputPipe(openstage.NewPipe("to_agg")).SetDestination(sumByUser).
		AddOutputPipe(openstage.NewPipe("agg_pipe")).SetDestination(totalsWriter)

	openstage.RunCommand(openstage.NewJob("high_value_orders_postgres", users, orders))
}
