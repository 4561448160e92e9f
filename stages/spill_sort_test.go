package stages_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/spill"
	"github.com/open-stage/openstage/stages"
)

// spillLimit is the job memory limit of the spill tests: the inputs are
// several times larger.
const spillLimit = 64 << 10

// spillRows returns n rows of sortSchema with many duplicate keys, nulls,
// NaN and -0; id is the input position, a tie-breaking payload.
func spillRows(n int) [][]any {
	r := rand.New(rand.NewPCG(1, 2))
	strs := []string{"a", "b", "B", "é", "ab", "", "zz", "a\x00"}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([][]any, n)
	for i := range rows {
		var k, x, s, d, b any
		if r.IntN(10) > 0 {
			k = int64(r.IntN(50) - 25)
		}
		switch r.IntN(12) {
		case 0:
		case 1:
			x = math.NaN()
		case 2:
			x = math.Copysign(0, -1)
		case 3:
			x = 0.0
		default:
			x = float64(r.IntN(200)) / 4
		}
		if r.IntN(10) > 0 {
			s = strs[r.IntN(len(strs))]
		}
		if r.IntN(10) > 0 {
			d = base.AddDate(0, 0, r.IntN(30)).Format("2006-01-02")
		}
		if r.IntN(10) > 0 {
			b = r.IntN(2) == 1
		}
		rows[i] = []any{int64(i), k, x, s, d, b}
	}
	return rows
}

// spillCheck fails unless the run spilled.
func spillCheck(t *testing.T, res *openstagetest.Result, files0 int64) {
	t.Helper()
	st, _ := res.Summary.Stage("stage")
	if st.Counters["spilled_rows"] == 0 || spill.Stats.Files.Load() == files0 {
		t.Fatalf("did not spill: counters %v", st.Counters)
	}
}

// TestSpillSort sorts an input several times the memory budget and expects
// the rows, in the same order (stability included), of the in-memory sort.
func TestSpillSort(t *testing.T) {
	rows := spillRows(20000)
	in := []openstagetest.Input{{Pipe: "in", Schema: sortSchema, Rows: rows, BatchRows: 4096}}
	tests := []struct {
		name  string
		keys  stages.SortKeys
		nulls string
	}{
		{"int then string desc", stages.SortKeys{stages.Asc("k"), stages.Desc("s")}, ""},
		{"float desc nulls first", stages.SortKeys{stages.Desc("x")}, "first"},
		{"string, date, bool", stages.SortKeys{stages.Asc("s"), stages.Desc("d"), stages.Asc("b")}, "last"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := routeRun(t, &stages.Sort{Keys: tt.keys, Nulls: tt.nulls}, in, "out")
			if st, _ := want.Summary.Stage("stage"); st.Counters["spilled_rows"] != 0 {
				t.Fatalf("the in-memory run spilled: %v", st.Counters)
			}
			files0 := spill.Stats.Files.Load()
			got := routeRunLimited(t, &stages.Sort{Keys: tt.keys, Nulls: tt.nulls}, spillLimit, in, "out")
			spillCheck(t, got, files0)
			st, _ := got.Summary.Stage("stage")
			if st.Counters["spilled_rows"] != int64(len(rows)) || st.Counters["spill_runs"] < 2 {
				t.Fatalf("counters %v, want spilled_rows=%d and several runs", st.Counters, len(rows))
			}
			routeEqualRows(t, got.Outputs["out"].Rows, want.Outputs["out"].Rows)
		})
	}
}

// TestSpillSortSmallInput: an input within the budget does not spill.
func TestSpillSortSmallInput(t *testing.T) {
	in := []openstagetest.Input{{Pipe: "in", Schema: sortSchema, Rows: spillRows(500), BatchRows: 100}}
	want := routeRun(t, stages.NewSort("s", stages.Asc("k")).Component(), in, "out")
	got := routeRunLimited(t, &stages.Sort{Keys: stages.SortKeys{stages.Asc("k")}}, spillLimit, in, "out")
	if st, _ := got.Summary.Stage("stage"); st.Counters["spilled_rows"] != 0 {
		t.Fatalf("spilled: %v", st.Counters)
	}
	routeEqualRows(t, got.Outputs["out"].Rows, want.Outputs["out"].Rows)
}
