package stages_test

import (
	"fmt"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/spill"
	"github.com/open-stage/openstage/stages"
)

// TestSpillRemoveDuplicates runs RemoveDuplicates (sort_by or keep: last)
// on an input several times the memory budget and expects the rows, in the
// same order, of the in-memory run. The keys include floats with NaN, -0
// and nulls, and the multi-column keys have so many distinct values that
// the kept rows spill too.
func TestSpillRemoveDuplicates(t *testing.T) {
	rows := spillRows(20000)
	in := []openstagetest.Input{{Pipe: "in", Schema: sortSchema, Rows: rows, BatchRows: 4096}}
	tests := []struct {
		name      string
		key       []string
		sortBy    []string
		ascending stages.Bools
		keep      string
		keptSpill bool // the kept rows (one per key) exceed the budget too
	}{
		{"int key, sort_by float desc, first", []string{"k"}, []string{"x"}, stages.Bools{false}, "first", false},
		{"float key, sort_by string and date, last", []string{"x"}, []string{"s", "d"}, stages.Bools{true, false}, "last", false},
		{"many keys, sort_by float, first", []string{"s", "k", "d", "b"}, []string{"x"}, nil, "first", true},
		{"many keys, sort_by bool desc, last", []string{"s", "k", "d", "b"}, []string{"b"}, stages.Bools{false}, "last", true},
		{"keep last without sort_by", []string{"k", "s"}, nil, nil, "last", false},
		{"many keys, keep last without sort_by", []string{"s", "k", "d", "b"}, nil, nil, "last", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mk := func() *stages.RemoveDuplicates {
				return &stages.RemoveDuplicates{Key: openstage.Strings(tt.key), SortBy: openstage.Strings(tt.sortBy), Ascending: tt.ascending, Keep: tt.keep}
			}
			want := routeRun(t, mk(), in, "out")
			if st, _ := want.Summary.Stage("stage"); st.Counters["spilled_rows"] != 0 {
				t.Fatalf("the in-memory run spilled: %v", st.Counters)
			}
			files0 := spill.Stats.Files.Load()
			got := routeRunLimited(t, mk(), spillLimit, in, "out")
			spillCheck(t, got, files0)
			st, _ := got.Summary.Stage("stage")
			if st.Counters["spilled_rows"] < int64(len(rows)) || (st.Counters["spilled_rows"] > int64(len(rows))) != tt.keptSpill {
				t.Fatalf("counters %v, want spilled_rows >= %d (and more when the kept rows spill: %v)", st.Counters, len(rows), tt.keptSpill)
			}
			routeEqualRows(t, got.Outputs["out"].Rows, want.Outputs["out"].Rows)
		})
	}
}

// TestSpillRemoveDuplicatesStreaming: keep: first without sort_by on keys so
// many that their set outgrows the budget. The set is frozen, the rows of
// new keys take the spilling path, and the output, order included, is the
// in-memory run's.
func TestSpillRemoveDuplicatesStreaming(t *testing.T) {
	rows := spillRows(20000)
	in := []openstagetest.Input{{Pipe: "in", Schema: sortSchema, Rows: rows, BatchRows: 1000}}
	for _, key := range [][]string{{"id"}, {"s", "id"}, {"s", "k", "d", "b"}} {
		t.Run(fmt.Sprint(key), func(t *testing.T) {
			mk := func() *stages.RemoveDuplicates { return &stages.RemoveDuplicates{Key: openstage.Strings(key)} }
			want := routeRun(t, mk(), in, "out")
			if st, _ := want.Summary.Stage("stage"); st.Counters["spilled_rows"] != 0 {
				t.Fatalf("the in-memory run spilled: %v", st.Counters)
			}
			files0 := spill.Stats.Files.Load()
			got := routeRunLimited(t, mk(), spillLimit, in, "out")
			spillCheck(t, got, files0)
			routeEqualRows(t, got.Outputs["out"].Rows, want.Outputs["out"].Rows)
		})
	}
}
