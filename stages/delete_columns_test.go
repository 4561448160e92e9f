package stages_test

import (
	"slices"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/stages"
)

func TestDeleteColumns(t *testing.T) {
	s := openstage.NewSchema("id", openstage.Int64, "año", openstage.Int64, "ciudad", openstage.String, "nota", openstage.Float64)
	rows := [][]any{
		{int64(1), int64(1999), "Málaga", 1.5},
		{int64(2), nil, nil, nil},
		{int64(3), int64(2024), "東京", -0.25},
	}
	tests := []struct {
		name    string
		columns []string
		cols    []string
		want    [][]any
	}{
		{"one", []string{"año"}, []string{"id:int64", "ciudad:string", "nota:float64"}, [][]any{{int64(1), "Málaga", 1.5}, {int64(2), nil, nil}, {int64(3), "東京", -0.25}}},
		{"several, out of order, repeated", []string{"nota", "id", "nota"}, []string{"año:int64", "ciudad:string"}, [][]any{{int64(1999), "Málaga"}, {nil, nil}, {int64(2024), "東京"}}},
		{"all but one", []string{"id", "año", "nota"}, []string{"ciudad:string"}, [][]any{{"Málaga"}, {nil}, {"東京"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, batch := range []int{0, 1, 2} {
				got, gs := ktRun(t, &stages.DeleteColumns{Columns: tc.columns}, s, rows, batch)
				if !slices.Equal(ktColumns(gs), tc.cols) {
					t.Fatalf("schema %v, want %v", ktColumns(gs), tc.cols)
				}
				ktEqualRows(t, got, tc.want)
			}
		})
	}
	// Empty input and one row.
	got, gs := ktRun(t, &stages.DeleteColumns{Columns: []string{"año"}}, s, nil, 0)
	if len(got) != 0 || len(gs.Fields()) != 3 {
		t.Fatalf("empty input: %d rows, schema %v", len(got), ktColumns(gs))
	}
	got, _ = ktRun(t, &stages.DeleteColumns{Columns: []string{"año", "nota"}}, s, rows[2:], 0)
	ktEqualRows(t, got, [][]any{{int64(3), "東京"}})
}

func TestDeleteColumnsValidation(t *testing.T) {
	s := openstage.NewSchema("id", openstage.Int64, "name", openstage.String)
	tests := []struct {
		name    string
		columns []string
		want    string
	}{
		{"absent column", []string{"id", "nmae"}, "field 'nmae' not found; available columns: id, name (did you mean 'name'?)"},
		{"no columns", nil, "parameter 'columns' is required: column or list of columns to remove"},
		{"every column", []string{"name", "id"}, "would remove every column; keep at least one"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ktErr(t, &stages.DeleteColumns{Columns: tc.columns}, s)
			if want := "DeleteColumns 'stage': " + tc.want; got != want {
				t.Fatalf("error\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

func TestDeleteColumnsZeroCopyAndConstructor(t *testing.T) {
	if !ktZeroCopy(t, &stages.DeleteColumns{Columns: []string{"name"}}) {
		t.Fatal("DeleteColumns copied the remaining column")
	}
	st := stages.NewDeleteColumns("slim", "a", "b")
	if st.Type() != "DeleteColumns" || !slices.Equal(st.Component().(*stages.DeleteColumns).Columns, []string{"a", "b"}) {
		t.Fatalf("NewDeleteColumns gave %s", st)
	}
	spec, _ := openstage.DefaultRegistry().Lookup("DeleteColumns")
	d := &stages.DeleteColumns{}
	if err := spec.Set(d, "columns", "notes"); err != nil || !slices.Equal(d.Columns, []string{"notes"}) {
		t.Fatalf("Set columns to one name: %v %v", err, d.Columns)
	}
}
