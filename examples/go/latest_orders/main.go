// Command latest_orders uses Sort, Lookup, RemoveDuplicates and reject pipes
// from Go: rows that do not parse and orders of unknown countries go to
// reject files; each user's latest order is kept, sorted by amount.
//
//	go run ./examples/go/latest_orders [-data examples/data] [-out examples/out]
package main

import (
	"flag"
	"path/filepath"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/csvio"
	"github.com/open-stage/openstage/stages"
)

func main() {
	data := flag.String("data", "examples/data", "folder of orders_dirty.csv and countries.csv")
	out := flag.String("out", "examples/out", "folder for the output files")
	flag.Parse()

	orders := openstage.New("orders_reader", func(o *csvio.CSVOrigin) {
		o.Path = openstage.Strings{filepath.Join(*data, "orders_dirty.csv")}
		o.ColumnTypes = map[string]string{"order_id": "int64", "user_id": "int64", "total_amount": "float64", "order_date": "date", "country": "string"}
		o.Reject = "bad_rows"
	})
	countries := csvio.NewCSVOrigin("countries_reader", filepath.Join(*data, "countries.csv"))
	lookup := openstage.New("country_lookup", func(l *stages.Lookup) {
		l.Reference = "countries"
		l.Key = openstage.Strings{"country"}
		l.OnMiss = "reject"
		l.Reject = "unknown_country"
	})
	latest := openstage.New("latest_per_user", func(r *stages.RemoveDuplicates) {
		r.Key = openstage.Strings{"user_id"}
		r.SortBy = openstage.Strings{"order_date", "order_id"}
		r.Ascending = stages.Bools{false, true}
		r.Keep = "first"
	})
	byAmount := stages.NewSort("by_amount", stages.Desc("total_amount"), stages.Asc("order_id"))

	orders.AddOutputPipe(openstage.NewPipe("orders")).SetDestination(lookup)
	orders.AddOutputPipe(openstage.NewPipe("bad_rows")).SetDestination(csvio.NewCSVDestination("bad_rows_writer", filepath.Join(*out, "rejects_bad_rows.csv")))
	countries.AddOutputPipe(openstage.NewPipe("countries")).SetDestination(lookup)
	lookup.AddOutputPipe(openstage.NewPipe("unknown_country")).SetDestination(csvio.NewCSVDestination("unknown_country_writer", filepath.Join(*out, "rejects_unknown_country.csv")))
	lookup.AddOutputPipe(openstage.NewPipe("named_orders")).SetDestination(latest).
		AddOutputPipe(openstage.NewPipe("latest")).SetDestination(byAmount).
		AddOutputPipe(openstage.NewPipe("sorted")).SetDestination(csvio.NewCSVDestination("writer", filepath.Join(*out, "latest_orders.csv")))

	openstage.RunCommand(openstage.NewJob("latest_orders", orders, countries))
}
