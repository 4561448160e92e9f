package stages_test

import (
	"fmt"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/spill"
	"github.com/open-stage/openstage/stages"
)

// spillAggs is every function, over columns of every type.
var spillAggs = []stages.Aggregation{
	{Type: "count"},
	{Field: "x", Type: "count"},
	{Field: "id", Type: "sum"},
	{Field: "x", Type: "sum"},
	{Field: "x", Type: "mean"},
	{Field: "id", Type: "median"},
	{Field: "x", Type: "median", As: "x_med"},
	{Field: "s", Type: "min"},
	{Field: "d", Type: "max"},
	{Field: "x", Type: "std"},
	{Field: "id", Type: "var"},
	{Field: "s", Type: "nunique"},
	{Field: "x", Type: "nunique", As: "x_nu"},
	{Field: "id", Type: "first"},
	{Field: "s", Type: "last"},
	{Field: "b", Type: "first", As: "b_first"},
}

// TestSpillAggregator aggregates an input whose groups are several times
// the memory budget and expects exactly the rows of the in-memory run
// (same values, bit for bit, and key order). Float keys include NaN, -0
// and nulls.
func TestSpillAggregator(t *testing.T) {
	rows := spillRows(12000)
	in := []openstagetest.Input{{Pipe: "in", Schema: sortSchema, Rows: rows, BatchRows: 4096}}
	tests := []struct {
		name  string
		keys  []string
		limit int64
		// nested: the partitions are themselves partitioned
		nested bool
	}{
		{"int and float keys", []string{"k", "x"}, 4 * spillLimit, false},
		{"four keys", []string{"s", "k", "d", "b"}, 4 * spillLimit, false},
		{"unique int key, nested partitions", []string{"id"}, spillLimit, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mk := func() *stages.Aggregator {
				return &stages.Aggregator{Keys: openstage.Strings(tt.keys), Aggregations: spillAggs}
			}
			want := routeRun(t, mk(), in, "out")
			if st, _ := want.Summary.Stage("stage"); st.Counters["spilled_rows"] != 0 {
				t.Fatalf("the in-memory run spilled: %v", st.Counters)
			}
			files0 := spill.Stats.Files.Load()
			got := routeRunLimited(t, mk(), tt.limit, in, "out")
			spillCheck(t, got, files0)
			st, _ := got.Summary.Stage("stage")
			if n := st.Counters["spill_partitions"]; n == 0 || (n > 16) != tt.nested {
				t.Fatalf("no spill partitions: %v", st.Counters)
			}
			routeEqualRows(t, got.Outputs["out"].Rows, want.Outputs["out"].Rows)
		})
	}
}

// TestSpillAggregatorValues: few groups, each with more values than the
// budget (and no keys at all): median and nunique write their values to
// sorted runs and merge them at the end, with the in-memory run's results.
func TestSpillAggregatorValues(t *testing.T) {
	rows := spillRows(30000)
	in := []openstagetest.Input{{Pipe: "in", Schema: sortSchema, Rows: rows, BatchRows: 1000}}
	aggs := []stages.Aggregation{
		{Type: "count"},
		{Field: "id", Type: "median"},
		{Field: "x", Type: "median", As: "x_med"},
		{Field: "k", Type: "median", As: "k_med"},
		{Field: "s", Type: "nunique"},
		{Field: "x", Type: "nunique", As: "x_nu"},
		{Field: "id", Type: "nunique", As: "id_nu"},
		{Field: "x", Type: "sum"},
	}
	for _, keys := range [][]string{{"b"}, nil} {
		t.Run(fmt.Sprint(keys), func(t *testing.T) {
			mk := func() *stages.Aggregator {
				return &stages.Aggregator{Keys: openstage.Strings(keys), Aggregations: aggs}
			}
			want := routeRun(t, mk(), in, "out")
			files0 := spill.Stats.Files.Load()
			got := routeRunLimited(t, mk(), spillLimit, in, "out")
			st, _ := got.Summary.Stage("stage")
			if st.Counters["spill_runs"] < 2 || spill.Stats.Files.Load() == files0 {
				t.Fatalf("values not spilled: counters %v", st.Counters)
			}
			if len(want.Outputs["out"].Rows) == 0 {
				t.Fatal("no groups")
			}
			routeEqualRows(t, got.Outputs["out"].Rows, want.Outputs["out"].Rows)
		})
	}
}
