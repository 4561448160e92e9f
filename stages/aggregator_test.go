package stages_test

import (
	"math"
	"slices"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

var aggSchema = openstage.NewSchema("id", openstage.Int64, "user", openstage.Int64, "country", openstage.String,
	"amount", openstage.Float64, "qty", openstage.Int64, "day", openstage.Date, "ok", openstage.Bool)

var aggRows = [][]any{
	{int64(1), int64(1), "ES", 10.0, int64(2), "2024-01-03", true},
	{int64(2), int64(2), "PT", 5.0, nil, "2024-01-01", false},
	{int64(3), int64(1), "ES", 30.0, int64(4), nil, nil},
	{int64(4), nil, "ES", nil, int64(7), "2024-01-02", true},
	{int64(5), int64(2), nil, math.NaN(), int64(1), "2024-01-05", true},
	{int64(6), nil, nil, 1.0, nil, nil, false},
	{int64(7), int64(1), "FR", 20.0, int64(3), "2024-01-04", true},
	{int64(8), int64(3), "Ñandú", nil, nil, nil, nil},
}

// aggColumn runs one aggregation of field by user over aggRows and returns
// the output column (groups u1, u2, u3, null) and its type.
func aggColumn(t *testing.T, field, typ string, batch int) ([]any, string) {
	t.Helper()
	a := &stages.Aggregator{Keys: []string{"user"}, Aggregations: []stages.Aggregation{{Field: field, Type: typ, As: "v"}}}
	rows, s := ktRun(t, a, aggSchema, aggRows, batch)
	if got := ktCol(rows, 0); !slices.Equal(got, []any{int64(1), int64(2), int64(3), nil}) {
		t.Fatalf("keys %v, want [1 2 3 <nil>]", got)
	}
	return ktCol(rows, 1), ktColumns(s)[1]
}

func TestAggregatorFunctions(t *testing.T) {
	d := ktDate
	tests := []struct {
		field, typ string
		want       []any
		wantType   string
	}{
		{"amount", "sum", []any{60.0, 5.0, 0.0, 1.0}, "v:float64"}, // NaN skipped; all-null sums to 0
		{"qty", "sum", []any{int64(9), int64(1), int64(0), int64(7)}, "v:int64"},
		{"ok", "sum", []any{int64(2), int64(1), int64(0), int64(1)}, "v:int64"},
		{"", "count", []any{int64(3), int64(2), int64(1), int64(2)}, "v:int64"},
		{"amount", "count", []any{int64(3), int64(1), int64(0), int64(1)}, "v:int64"},
		{"country", "count", []any{int64(3), int64(1), int64(1), int64(1)}, "v:int64"},
		{"amount", "mean", []any{20.0, 5.0, nil, 1.0}, "v:float64"},
		{"qty", "mean", []any{3.0, 1.0, nil, 7.0}, "v:float64"},
		{"ok", "mean", []any{1.0, 0.5, nil, 0.5}, "v:float64"},
		{"amount", "median", []any{20.0, 5.0, nil, 1.0}, "v:float64"},
		{"qty", "median", []any{3.0, 1.0, nil, 7.0}, "v:float64"},
		{"amount", "min", []any{10.0, 5.0, nil, 1.0}, "v:float64"},
		{"amount", "max", []any{30.0, 5.0, nil, 1.0}, "v:float64"},
		{"qty", "min", []any{int64(2), int64(1), nil, int64(7)}, "v:int64"},
		{"country", "min", []any{"ES", "PT", "Ñandú", "ES"}, "v:string"},
		{"country", "max", []any{"FR", "PT", "Ñandú", "ES"}, "v:string"},
		{"day", "min", []any{d("2024-01-03"), d("2024-01-01"), nil, d("2024-01-02")}, "v:date"},
		{"day", "max", []any{d("2024-01-04"), d("2024-01-05"), nil, d("2024-01-02")}, "v:date"},
		{"ok", "max", []any{true, true, nil, true}, "v:bool"},
		{"ok", "min", []any{true, false, nil, false}, "v:bool"},
		{"amount", "std", []any{10.0, nil, nil, nil}, "v:float64"}, // one value: null (ddof 1)
		{"amount", "var", []any{100.0, nil, nil, nil}, "v:float64"},
		{"qty", "var", []any{1.0, nil, nil, nil}, "v:float64"},
		{"qty", "std", []any{1.0, nil, nil, nil}, "v:float64"},
		{"country", "nunique", []any{int64(2), int64(1), int64(1), int64(1)}, "v:int64"},
		{"amount", "nunique", []any{int64(3), int64(1), int64(0), int64(1)}, "v:int64"},
		{"day", "nunique", []any{int64(2), int64(2), int64(0), int64(1)}, "v:int64"},
		{"country", "first", []any{"ES", "PT", "Ñandú", "ES"}, "v:string"},
		{"country", "last", []any{"FR", "PT", "Ñandú", "ES"}, "v:string"},
		{"qty", "first", []any{int64(2), int64(1), nil, int64(7)}, "v:int64"},
		{"qty", "last", []any{int64(3), int64(1), nil, int64(7)}, "v:int64"},
		{"amount", "last", []any{20.0, 5.0, nil, 1.0}, "v:float64"}, // NaN is skipped
		{"day", "first", []any{d("2024-01-03"), d("2024-01-01"), nil, d("2024-01-02")}, "v:date"},
		{"ok", "last", []any{true, true, nil, false}, "v:bool"},
	}
	for _, tc := range tests {
		t.Run(tc.typ+"("+tc.field+")", func(t *testing.T) {
			for _, batch := range []int{0, 1, 3} {
				got, typ := aggColumn(t, tc.field, tc.typ, batch)
				if typ != tc.wantType {
					t.Fatalf("type %s, want %s", typ, tc.wantType)
				}
				ktEqualRows(t, [][]any{got}, [][]any{tc.want})
			}
		})
	}
}

func TestAggregatorKeys(t *testing.T) {
	d := ktDate
	count := []stages.Aggregation{{Type: "count"}}
	tests := []struct {
		name string
		keys []string
		cols []string
		want [][]any
	}{
		{"string key, bytewise, null last", []string{"country"}, []string{"country:string", "count:int64"},
			[][]any{{"ES", int64(3)}, {"FR", int64(1)}, {"PT", int64(1)}, {"Ñandú", int64(1)}, {nil, int64(2)}}},
		{"two keys", []string{"country", "user"}, []string{"country:string", "user:int64", "count:int64"},
			[][]any{{"ES", int64(1), int64(2)}, {"ES", nil, int64(1)}, {"FR", int64(1), int64(1)}, {"PT", int64(2), int64(1)}, {"Ñandú", int64(3), int64(1)}, {nil, int64(2), int64(1)}, {nil, nil, int64(1)}}},
		{"bool key", []string{"ok"}, []string{"ok:bool", "count:int64"},
			[][]any{{false, int64(2)}, {true, int64(4)}, {nil, int64(2)}}},
		{"float key, NaN with null", []string{"amount"}, []string{"amount:float64", "count:int64"},
			[][]any{{1.0, int64(1)}, {5.0, int64(1)}, {10.0, int64(1)}, {20.0, int64(1)}, {30.0, int64(1)}, {nil, int64(3)}}},
		{"date key", []string{"day"}, []string{"day:date", "count:int64"},
			[][]any{{d("2024-01-01"), int64(1)}, {d("2024-01-02"), int64(1)}, {d("2024-01-03"), int64(1)}, {d("2024-01-04"), int64(1)}, {d("2024-01-05"), int64(1)}, {nil, int64(3)}}},
		{"no key: one row", nil, []string{"count:int64"}, [][]any{{int64(8)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, batch := range []int{0, 1, 5} {
				rows, s := ktRun(t, &stages.Aggregator{Keys: tc.keys, Aggregations: count}, aggSchema, aggRows, batch)
				if !slices.Equal(ktColumns(s), tc.cols) {
					t.Fatalf("schema %v, want %v", ktColumns(s), tc.cols)
				}
				ktEqualRows(t, rows, tc.want)
			}
		})
	}
}

func TestAggregatorSeedFormAndNames(t *testing.T) {
	st := stages.NewAggregator("sum_by_user", "user", "total", "sum", "amount")
	rows, s := ktRun(t, st.Component(), aggSchema, aggRows, 2)
	if !slices.Equal(ktColumns(s), []string{"user:int64", "total:float64"}) {
		t.Fatalf("schema %v", ktColumns(s))
	}
	ktEqualRows(t, rows, [][]any{{int64(1), 60.0}, {int64(2), 5.0}, {int64(3), 0.0}, {nil, 1.0}})

	// count without field_to_agg counts rows; default names.
	rows, s = ktRun(t, &stages.Aggregator{Key: []string{"country"}, AggType: "count"}, aggSchema, aggRows, 0)
	if !slices.Equal(ktColumns(s), []string{"country:string", "count:int64"}) || len(rows) != 5 {
		t.Fatalf("schema %v, %d rows", ktColumns(s), len(rows))
	}
	_, s = ktRun(t, &stages.Aggregator{Keys: []string{"user"}, Aggregations: []stages.Aggregation{{Field: "amount", Type: "sum"}, {Field: "amount", Type: "mean"}, {Type: "count"}}}, aggSchema, aggRows, 0)
	if !slices.Equal(ktColumns(s), []string{"user:int64", "amount_sum:float64", "amount_mean:float64", "count:int64"}) {
		t.Fatalf("schema %v", ktColumns(s))
	}

	// The job-file path: key as a list, aggregations as mappings.
	spec, _ := openstage.DefaultRegistry().Lookup("Aggregator")
	a := &stages.Aggregator{}
	if err := spec.Set(a, "key", []any{"country", "user"}); err != nil {
		t.Fatal(err)
	}
	if err := spec.Set(a, "aggregations", []any{map[string]any{"field": "qty", "type": "max", "as": "most"}}); err != nil {
		t.Fatal(err)
	}
	rows, _ = ktRun(t, a, aggSchema, aggRows, 0)
	ktEqualRows(t, rows[:2], [][]any{{"ES", int64(1), int64(4)}, {"ES", nil, int64(7)}})
	if err := spec.Set(a, "aggregations", []any{map[string]any{"field": "qty", "type": "avg"}}); err == nil ||
		err.Error() != "parameter 'aggregations': item 1: type: 'avg' is not one of sum, count, mean, median, min, max, std, var, nunique, first, last" {
		t.Fatalf("Set aggregations: %v", err)
	}
}

func TestAggregatorEmptyAndOneRow(t *testing.T) {
	aggs := []stages.Aggregation{{Type: "count"}, {Field: "amount", Type: "sum"}, {Field: "qty", Type: "sum"}, {Field: "amount", Type: "mean"}, {Field: "country", Type: "max"}, {Field: "amount", Type: "std"}}
	rows, s := ktRun(t, &stages.Aggregator{Keys: []string{"user"}, Aggregations: aggs}, aggSchema, nil, 0)
	want := []string{"user:int64", "count:int64", "amount_sum:float64", "qty_sum:int64", "amount_mean:float64", "country_max:string", "amount_std:float64"}
	if len(rows) != 0 || !slices.Equal(ktColumns(s), want) {
		t.Fatalf("empty input: %d rows, schema %v", len(rows), ktColumns(s))
	}
	// Without keys an empty input still gives one row, as SQL does.
	rows, _ = ktRun(t, &stages.Aggregator{Aggregations: aggs}, aggSchema, nil, 0)
	ktEqualRows(t, rows, [][]any{{int64(0), 0.0, int64(0), nil, nil, nil}})
	rows, _ = ktRun(t, &stages.Aggregator{Keys: []string{"country"}, Aggregations: aggs}, aggSchema, aggRows[7:], 0)
	ktEqualRows(t, rows, [][]any{{"Ñandú", int64(1), 0.0, int64(0), nil, "Ñandú", nil}})
}

func TestAggregatorOverflow(t *testing.T) {
	s := openstage.NewSchema("k", openstage.Int64, "n", openstage.Int64)
	rows := [][]any{{int64(1), int64(math.MaxInt64)}, {int64(1), int64(1)}}
	_, err := openstagetest.RunNode(t, &stages.Aggregator{Key: []string{"k"}, AggType: "sum", FieldToAgg: "n"}, []openstagetest.Input{{Pipe: "in", Schema: s, Rows: rows}}, "out")
	if want := "Aggregator 'stage': sum of column 'n' overflows int64"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
}

func TestAggregatorValidation(t *testing.T) {
	cols := "id, user, country, amount, qty, day, ok"
	types := "sum, count, mean, median, min, max, std, var, nunique, first, last"
	tests := []struct {
		name string
		a    stages.Aggregator
		want string
	}{
		{"key and keys", stages.Aggregator{Key: []string{"user"}, Keys: []string{"user"}, AggType: "count"}, "key and keys mean the same thing; set only one"},
		{"both forms", stages.Aggregator{AggType: "count", Aggregations: []stages.Aggregation{{Type: "count"}}}, "agg_field_name/agg_type/field_to_agg and aggregations are two forms of the same thing; use one"},
		{"no aggregation", stages.Aggregator{Key: []string{"user"}}, "set agg_type (with agg_field_name and field_to_agg) or aggregations"},
		{"no agg_type", stages.Aggregator{Key: []string{"user"}, AggFieldName: "total", FieldToAgg: "amount"}, "agg_type is required; use one of " + types},
		{"unknown agg_type", stages.Aggregator{Key: []string{"user"}, AggType: "avg", FieldToAgg: "amount"}, "parameter 'agg_type': 'avg' is not one of " + types + " (the average is mean)"},
		{"unknown type", stages.Aggregator{Aggregations: []stages.Aggregation{{Type: "count"}, {Field: "amount", Type: "avg"}}}, "aggregation 2: unknown type 'avg'; use one of " + types},
		{"sum without field, seed", stages.Aggregator{AggType: "sum"}, "agg_type 'sum' needs field_to_agg (only count can go without one, to count rows)"},
		{"mean without field", stages.Aggregator{Aggregations: []stages.Aggregation{{Type: "mean"}}}, "aggregation 1: type 'mean' needs field (only count can go without one, to count rows)"},
		{"sum of a string", stages.Aggregator{Key: []string{"user"}, AggType: "sum", FieldToAgg: "country"}, "cannot compute sum of column 'country': it is string; sum needs an int64, float64 or bool column"},
		{"mean of a date", stages.Aggregator{Aggregations: []stages.Aggregation{{Field: "day", Type: "mean"}}}, "aggregation 1: cannot compute mean of column 'day': it is date; mean needs an int64, float64 or bool column"},
		{"std of a string", stages.Aggregator{Aggregations: []stages.Aggregation{{Field: "country", Type: "std"}}}, "aggregation 1: cannot compute std of column 'country': it is string; std needs an int64, float64 or bool column"},
		{"unknown field", stages.Aggregator{AggType: "sum", FieldToAgg: "amout"}, "field 'amout' not found; available columns: " + cols + " (did you mean 'amount'?)"},
		{"unknown key", stages.Aggregator{Key: []string{"usr"}, AggType: "count"}, "field 'usr' not found; available columns: " + cols + " (did you mean 'user'?)"},
		{"key twice", stages.Aggregator{Keys: []string{"user", "user"}, AggType: "count"}, "key column 'user' is listed twice"},
		{"same output twice", stages.Aggregator{Aggregations: []stages.Aggregation{{Field: "amount", Type: "sum"}, {Field: "amount", Type: "sum"}}}, "aggregation 2: output column 'amount_sum' appears twice; give the aggregations different names with as"},
		{"output named like a key", stages.Aggregator{Key: []string{"user"}, AggType: "count", AggFieldName: "user"}, "output column 'user' is also a key column; choose another name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.a
			if got, want := ktErr(t, &a, aggSchema), "Aggregator 'stage': "+tc.want; got != want {
				t.Fatalf("error\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

func TestAggregatorSparseAndMixedKeys(t *testing.T) {
	// Int keys: the first batch is dense (a direct-index table), later
	// batches fall outside it (the hash map), and some keys are extreme.
	s := openstage.NewSchema("k", openstage.Int64, "f", openstage.Float64, "b", openstage.Bool, "v", openstage.Int64)
	var rows [][]any
	want := map[any]int64{}
	for i := range 3000 {
		var k any = int64(i % 50)
		switch {
		case i >= 1000 && i%3 == 0:
			k = int64(i) * 1_000_003
		case i >= 1000 && i%3 == 1:
			k = int64(math.MinInt64 + i%7)
		case i%97 == 0:
			k = nil
		}
		f := float64(i%5) / 2
		if i%5 == 0 {
			f = math.Copysign(0, -1) // -0 groups with 0
		}
		rows = append(rows, []any{k, f, i%2 == 0, int64(1)})
		want[k]++
	}
	got, _ := ktRun(t, &stages.Aggregator{Key: []string{"k"}, AggType: "sum", FieldToAgg: "v", AggFieldName: "n"}, s, rows, 500)
	if len(got) != len(want) {
		t.Fatalf("%d groups, want %d", len(got), len(want))
	}
	for i, r := range got {
		if want[r[0]] != r[1].(int64) {
			t.Fatalf("group %v: %v rows, want %d", r[0], r[1], want[r[0]])
		}
		if i > 0 && r[0] != nil && got[i-1][0] != nil && got[i-1][0].(int64) >= r[0].(int64) {
			t.Fatalf("groups out of order at %d: %v then %v", i, got[i-1][0], r[0])
		}
	}
	if got[len(got)-1][0] != nil {
		t.Fatal("the null group is not last")
	}
	// Multi-key with a float (-0 = 0) and a bool.
	got, _ = ktRun(t, &stages.Aggregator{Keys: []string{"f", "b"}, Aggregations: []stages.Aggregation{{Type: "count"}}}, s, rows, 500)
	ktEqualRows(t, got, [][]any{
		{0.0, false, int64(300)}, {0.0, true, int64(300)},
		{0.5, false, int64(300)}, {0.5, true, int64(300)},
		{1.0, false, int64(300)}, {1.0, true, int64(300)},
		{1.5, false, int64(300)}, {1.5, true, int64(300)},
		{2.0, false, int64(300)}, {2.0, true, int64(300)},
	})
	// The same keys through RemoveDuplicates (same grouping kernel).
	got, _ = ktRun(t, &stages.RemoveDuplicates{Key: []string{"k"}}, s, rows, 500)
	if len(got) != len(want) {
		t.Fatalf("RemoveDuplicates kept %d rows, want %d", len(got), len(want))
	}
}
