package stages_test

import (
	"math"
	"slices"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/stages"
)

var rdSchema = openstage.NewSchema("id", openstage.Int64, "user", openstage.Int64, "country", openstage.String, "amount", openstage.Float64, "day", openstage.Date)

var rdRows = [][]any{
	{int64(1), int64(1), "ES", 10.0, "2024-01-03"},
	{int64(2), int64(2), "PT", 5.0, "2024-01-01"},
	{int64(3), int64(1), "ES", 30.0, "2024-01-01"},
	{int64(4), nil, "ES", 7.0, "2024-01-02"},
	{int64(5), int64(2), nil, nil, "2024-01-05"},
	{int64(6), nil, nil, 1.0, nil},
	{int64(7), int64(1), "FR", 30.0, "2024-01-04"},
}

func TestRemoveDuplicates(t *testing.T) {
	tests := []struct {
		name string
		r    stages.RemoveDuplicates
		want []int64
	}{
		{"first, streaming", stages.RemoveDuplicates{Key: []string{"user"}}, []int64{1, 2, 4}},
		{"first explicitly", stages.RemoveDuplicates{Key: []string{"user"}, Keep: "first"}, []int64{1, 2, 4}},
		{"last, input order", stages.RemoveDuplicates{Key: []string{"user"}, Keep: "last"}, []int64{5, 6, 7}},
		{"two keys, nulls equal", stages.RemoveDuplicates{Key: []string{"user", "country"}}, []int64{1, 2, 4, 5, 6, 7}},
		{"string key", stages.RemoveDuplicates{Key: []string{"country"}}, []int64{1, 2, 5, 7}},
		{"string key, last", stages.RemoveDuplicates{Key: []string{"country"}, Keep: "last"}, []int64{2, 4, 6, 7}},
		{"float key: NaN is null, 30 twice", stages.RemoveDuplicates{Key: []string{"amount"}}, []int64{1, 2, 3, 4, 5, 6}},
		{"date key", stages.RemoveDuplicates{Key: []string{"day"}}, []int64{1, 2, 4, 5, 6, 7}},
		{"sort_by desc, first", stages.RemoveDuplicates{Key: []string{"user"}, SortBy: []string{"amount"}, Ascending: stages.Bools{false}}, []int64{3, 4, 2}},
		{"sort_by asc, last", stages.RemoveDuplicates{Key: []string{"user"}, SortBy: []string{"amount"}, Keep: "last"}, []int64{4, 7, 5}},
		{"sort_by date desc", stages.RemoveDuplicates{Key: []string{"user"}, SortBy: []string{"day"}, Ascending: stages.Bools{false}}, []int64{5, 7, 4}},
		{"sort_by two columns", stages.RemoveDuplicates{Key: []string{"user"}, SortBy: []string{"country", "amount"}, Ascending: stages.Bools{true, false}}, []int64{3, 4, 2}},
		{"sort_by two columns, last", stages.RemoveDuplicates{Key: []string{"country"}, SortBy: []string{"user", "amount"}, Ascending: stages.Bools{true, true}, Keep: "last"}, []int64{7, 2, 6, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, batch := range []int{0, 1, 2} {
				r := tc.r
				rows, s := ktRun(t, &r, rdSchema, rdRows, batch)
				if !s.Equal(rdSchema) {
					t.Fatalf("schema %v", ktColumns(s))
				}
				if got := ktIDs(rows); !slices.Equal(got, tc.want) {
					t.Fatalf("batch rows %d: kept %v, want %v", batch, got, tc.want)
				}
			}
		})
	}
}

func ktIDs(rows [][]any) []int64 {
	ids := []int64{}
	for _, r := range rows {
		ids = append(ids, r[0].(int64))
	}
	return ids
}

func TestRemoveDuplicatesStreamsManyBatches(t *testing.T) {
	// A key seen in an earlier batch is dropped from later ones; unicode
	// string keys.
	s := openstage.NewSchema("id", openstage.Int64, "k", openstage.String)
	words := []string{"añil", "über", "東京", "añil ", "", "über"}
	var rows [][]any
	var want []int64
	seen := map[any]bool{}
	for i := range 3000 {
		var k any = words[i%len(words)] + string(rune('a'+i%37))
		if i%11 == 0 {
			k = nil
		}
		rows = append(rows, []any{int64(i), k})
		if !seen[k] {
			seen[k] = true
			want = append(want, int64(i))
		}
	}
	got, _ := ktRun(t, &stages.RemoveDuplicates{Key: []string{"k"}}, s, rows, 64)
	if !slices.Equal(ktIDs(got), want) {
		t.Fatalf("kept %d rows %v..., want %d", len(got), ktIDs(got)[:min(10, len(got))], len(want))
	}
}

func TestRemoveDuplicatesEmptyAndOneRow(t *testing.T) {
	for _, r := range []stages.RemoveDuplicates{{Key: []string{"user"}}, {Key: []string{"user"}, Keep: "last"}, {Key: []string{"user"}, SortBy: []string{"amount"}}} {
		rows, s := ktRun(t, &r, rdSchema, nil, 0)
		if len(rows) != 0 || !s.Equal(rdSchema) {
			t.Fatalf("%+v: empty input gave %d rows", r, len(rows))
		}
		rows, _ = ktRun(t, &r, rdSchema, rdRows[3:4], 0)
		if !slices.Equal(ktIDs(rows), []int64{4}) {
			t.Fatalf("%+v: one row gave %v", r, rows)
		}
	}
}

func TestRemoveDuplicatesValidation(t *testing.T) {
	tests := []struct {
		name string
		r    stages.RemoveDuplicates
		want string
	}{
		{"no key", stages.RemoveDuplicates{}, "parameter 'key' is required: column or list of columns whose values identify duplicates"},
		{"unknown key", stages.RemoveDuplicates{Key: []string{"usr"}}, "field 'usr' not found; available columns: id, user, country, amount, day (did you mean 'user'?)"},
		{"unknown sort_by", stages.RemoveDuplicates{Key: []string{"user"}, SortBy: []string{"amount", "dya"}}, "field 'dya' not found; available columns: id, user, country, amount, day (did you mean 'day'?)"},
		{"bad keep", stages.RemoveDuplicates{Key: []string{"user"}, Keep: "middle"}, `parameter 'keep': 'middle' is not one of first, last`},
		{"ascending without sort_by", stages.RemoveDuplicates{Key: []string{"user"}, Ascending: stages.Bools{false}}, "ascending applies to sort_by, which is not set"},
		{"ascending count", stages.RemoveDuplicates{Key: []string{"user"}, SortBy: []string{"amount", "day", "id"}, Ascending: stages.Bools{true, false}}, "ascending has 2 values but sort_by has 3 columns; give one value or one per column"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			if got, want := ktErr(t, &r, rdSchema), "RemoveDuplicates 'stage': "+tc.want; got != want {
				t.Fatalf("error\n got: %s\nwant: %s", got, want)
			}
		})
	}
	spec, _ := openstage.DefaultRegistry().Lookup("RemoveDuplicates")
	r := &stages.RemoveDuplicates{}
	if err := spec.Set(r, "ascending", []any{true, false}); err != nil || !slices.Equal(r.Ascending, stages.Bools{true, false}) {
		t.Fatalf("Set ascending: %v %v", err, r.Ascending)
	}
	if err := spec.Set(r, "ascending", false); err != nil || !slices.Equal(r.Ascending, stages.Bools{false}) {
		t.Fatalf("Set ascending: %v %v", err, r.Ascending)
	}
	if err := spec.Set(r, "ascending", "no"); err == nil || err.Error() != "parameter 'ascending': must be true or false, or a list of them, got a string" {
		t.Fatalf("Set ascending: %v", err)
	}
	if err := spec.Set(r, "ascending", []any{true, 1}); err == nil || err.Error() != "parameter 'ascending': item 2 must be true or false, got an integer" {
		t.Fatalf("Set ascending: %v", err)
	}
	st := stages.NewRemoveDuplicates("latest", []string{"user"}, []string{"day"}, false, "first")
	c := st.Component().(*stages.RemoveDuplicates)
	if st.Type() != "RemoveDuplicates" || !slices.Equal(c.Ascending, stages.Bools{false}) || c.Keep != "first" {
		t.Fatalf("NewRemoveDuplicates gave %+v", c)
	}
	_ = math.NaN
}
