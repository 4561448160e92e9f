package stages_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

// Transformer (derive) and Switcher are BatchProcessors: the engine runs
// them on several workers and keeps every output in input order.
var (
	_ openstage.BatchProcessor = (*stages.Transformer)(nil)
	_ openstage.BatchProcessor = (*stages.Switcher)(nil)
)

// parallelRows are 2,000 rows sent in 40 batches of 50 (more batches than
// workers): i, s (a number as text, "bad" on every 97th row) and g (a, b,
// c, or null on every 11th row).
func parallelRows() [][]any {
	rows := make([][]any, 2000)
	for i := range rows {
		s := fmt.Sprint(i * 3)
		if i%97 == 13 {
			s = "bad"
		}
		var g any = string(rune('a' + i%3))
		if i%11 == 5 {
			g = nil
		}
		rows[i] = []any{int64(i), s, g}
	}
	return rows
}

var parallelSchema = openstage.NewSchema("i", openstage.Int64, "s", openstage.String, "g", openstage.String)

const parallelBatch = 50

func runParallel(t *testing.T, c any, workers int, outputs ...string) (*openstagetest.Result, error) {
	t.Helper()
	in := []openstagetest.Input{{Pipe: "in", Schema: parallelSchema, Rows: parallelRows(), BatchRows: parallelBatch}}
	return openstagetest.RunNodeWith(t, c, in, outputs, openstagetest.Workers(workers))
}

func TestTransformerDeriveWorkersKeepOrder(t *testing.T) {
	derive := stages.Derivations{{Column: "n", Expr: "int(s) + i"}, {Column: "tag", Expr: `g ?? "none"`}}
	// Expected, worked out row by row in the test.
	var good, bad [][]any
	for _, r := range parallelRows() {
		i, s, g := r[0].(int64), r[1].(string), r[2]
		if s == "bad" {
			bad = append(bad, r)
			continue
		}
		tag := any("none")
		if g != nil {
			tag = g
		}
		good = append(good, []any{i, s, g, 4 * i, tag})
	}
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprintf("reject/workers%d", workers), func(t *testing.T) {
			res, err := runParallel(t, &stages.Transformer{Derive: derive, Reject: "bad"}, workers, "out", "bad")
			if err != nil {
				t.Fatal(err)
			}
			ktEqualRows(t, res.Outputs["out"].Rows, good)
			rej := res.Outputs["bad"].Rows
			if len(rej) != len(bad) {
				t.Fatalf("%d rejected rows, want %d", len(rej), len(bad))
			}
			for k, r := range rej {
				if !reflect.DeepEqual(r[:3], bad[k]) || !strings.HasPrefix(r[3].(string), "derive 'n': ") {
					t.Fatalf("reject row %d = %v, want %v with derive 'n''s error", k, r, bad[k])
				}
			}
			if st, _ := res.Summary.Stage("stage"); st.RowsIn != 2000 {
				t.Fatalf("rows in = %d, want 2000", st.RowsIn)
			}
		})
		t.Run(fmt.Sprintf("no reject/workers%d", workers), func(t *testing.T) {
			noBad := &stages.Transformer{Derive: stages.Derivations{{Column: "n", Expr: "i * 2"}, {Column: "half", Expr: "float(i) / 2"}}}
			res, err := runParallel(t, noBad, workers, "out")
			if err != nil {
				t.Fatal(err)
			}
			var want [][]any
			for _, r := range parallelRows() {
				want = append(want, []any{r[0], r[1], r[2], 2 * r[0].(int64), float64(r[0].(int64)) / 2})
			}
			ktEqualRows(t, res.Outputs["out"].Rows, want)
		})
		t.Run(fmt.Sprintf("first failing row/workers%d", workers), func(t *testing.T) {
			// Without a reject pipe the job fails at the first bad row in
			// input order (row 14, 1-based), whichever worker reached a
			// later one first.
			_, err := runParallel(t, &stages.Transformer{Derive: derive}, workers, "out")
			if err == nil || !strings.Contains(err.Error(), "Transformer 'stage': row 14: derive 'n': ") {
				t.Fatalf("err = %v, want the failure of row 14", err)
			}
		})
	}
	t.Run("row numbers past the first batch", func(t *testing.T) {
		// Only row 1,766 (1-based) fails: its number comes from the batch's
		// first row (dp.FirstRow), not from the batch.
		tr := &stages.Transformer{Derive: stages.Derivations{{Column: "n", Expr: `i == 1765 ? int("x") : i`}}}
		_, err := runParallel(t, tr, 4, "out")
		if err == nil || !strings.Contains(err.Error(), "row 1766: ") {
			t.Fatalf("err = %v, want the failure of row 1766", err)
		}
	})
}

func TestSwitcherWorkersKeepOrder(t *testing.T) {
	mapping := map[string]string{"a": "pa", "b": "pb"}
	want := map[string][][]any{}
	for _, r := range parallelRows() {
		switch r[2] {
		case "a":
			want["pa"] = append(want["pa"], r)
		case "b":
			want["pb"] = append(want["pb"], r)
		default: // c and null
			want["other"] = append(want["other"], r)
		}
	}
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprintf("workers%d", workers), func(t *testing.T) {
			sw := &stages.Switcher{Field: "g", Mapping: mapping, Default: "other"}
			res, err := runParallel(t, sw, workers, "pa", "pb", "other")
			if err != nil {
				t.Fatal(err)
			}
			for pipe, rows := range want {
				ktEqualRows(t, res.Outputs[pipe].Rows, rows)
			}
		})
		t.Run(fmt.Sprintf("unmatched/workers%d", workers), func(t *testing.T) {
			sw := &stages.Switcher{Field: "g", Mapping: mapping}
			res, err := runParallel(t, sw, workers, "pa", "pb")
			if err != nil {
				t.Fatal(err)
			}
			ktEqualRows(t, res.Outputs["pa"].Rows, want["pa"])
			ktEqualRows(t, res.Outputs["pb"].Rows, want["pb"])
			if st, _ := res.Summary.Stage("stage"); st.Counters["unmatched"] != int64(len(want["other"])) {
				t.Fatalf("unmatched = %d, want %d", st.Counters["unmatched"], len(want["other"]))
			}
		})
		t.Run(fmt.Sprintf("fail names the first unmatched row/workers%d", workers), func(t *testing.T) {
			sw := &stages.Switcher{Field: "g", Mapping: map[string]string{"a": "pa", "b": "pb", "c": "pa"}, OnUnmatched: "fail"}
			_, err := runParallel(t, sw, workers, "pa", "pb")
			// Row 6 (1-based) is the first with a null g.
			if err == nil || !strings.Contains(err.Error(), "row 6: field 'g' is null") {
				t.Fatalf("err = %v, want row 6", err)
			}
		})
	}
}
