package stages_test

// Helpers of the Filter, Transformer, DeleteColumns, Aggregator, Sort and
// RemoveDuplicates tests (prefix kt).

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

// ktRun runs component c on rows (batchRows at a time, 0: one batch) and
// returns the rows and schema of output "out"; it fails the test on error.
func ktRun(t *testing.T, c any, s *arrow.Schema, rows [][]any, batchRows int) ([][]any, *arrow.Schema) {
	t.Helper()
	res, err := openstagetest.RunNode(t, c, []openstagetest.Input{{Pipe: "in", Schema: s, Rows: rows, BatchRows: batchRows}}, "out")
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	return res.Outputs["out"].Rows, res.Outputs["out"].Schema
}

// ktErr runs c on schema s (no rows) and returns the validation error
// message; it fails the test when there is none or it is not a validation
// error.
func ktErr(t *testing.T, c any, s *arrow.Schema, outputs ...string) string {
	t.Helper()
	if len(outputs) == 0 {
		outputs = []string{"out"}
	}
	_, err := openstagetest.RunNode(t, c, []openstagetest.Input{{Pipe: "in", Schema: s}}, outputs...)
	if err == nil {
		t.Fatal("expected a validation error, got none")
	}
	if !openstage.IsValidation(err) {
		t.Fatalf("expected a validation error, got %v", err)
	}
	return err.Error()
}

// ktSame reports whether two values are equal, floats within 1e-9 relative.
func ktSame(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		if !ok {
			return false
		}
		return ktClose(x, y)
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	}
	return a == b
}

func ktClose(x, y float64) bool {
	if x == y || (math.IsNaN(x) && math.IsNaN(y)) {
		return true
	}
	return math.Abs(x-y) <= 1e-9*math.Max(math.Abs(x), math.Abs(y))
}

// ktEqualRows fails the test unless got and want hold the same rows in the
// same order.
func ktEqualRows(t *testing.T, got, want [][]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d\ngot:  %v\nwant: %v", len(got), len(want), ktShow(got, 20), ktShow(want, 20))
	}
	for i := range got {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("row %d: got %d columns, want %d: %v vs %v", i, len(got[i]), len(want[i]), got[i], want[i])
		}
		for c := range got[i] {
			if !ktSame(got[i][c], want[i][c]) {
				t.Fatalf("row %d column %d: got %v (%T), want %v (%T)\ngot row:  %v\nwant row: %v", i, c, got[i][c], got[i][c], want[i][c], want[i][c], got[i], want[i])
			}
		}
	}
}

func ktShow(rows [][]any, max int) string {
	if len(rows) > max {
		return fmt.Sprint(rows[:max]) + fmt.Sprintf("... (%d rows)", len(rows))
	}
	return fmt.Sprint(rows)
}

// ktCol returns column c of rows.
func ktCol(rows [][]any, c int) []any {
	out := make([]any, len(rows))
	for i, r := range rows {
		out[i] = r[c]
	}
	return out
}

// ktColumns returns the names and job-file types of a schema's columns.
func ktColumns(s *arrow.Schema) []string {
	out := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		out[i] = f.Name + ":" + openstage.TypeName(f.Type)
	}
	return out
}

func ktDate(s string) time.Time {
	t, err := openstage.ParseTime(s)
	if err != nil {
		panic(err)
	}
	return t
}

// ktRunSliced runs c on rows sent as one sliced batch (rows[2:] of a batch
// of all rows) and returns what reaches output "out".
func ktRunSliced(t *testing.T, c any, s *arrow.Schema, rows [][]any) [][]any {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sink := &openstagetest.Sink{}
	src := openstage.NewStage("src", &ktSliceOrigin{schema: s, rows: rows})
	src.AddOutputPipe(openstage.NewPipe("in")).SetDestination(openstage.NewStage("stage", c)).
		AddOutputPipe(openstage.NewPipe("out")).SetDestination(openstage.NewStage("sink", sink))
	job := openstage.NewJob("sliced", src)
	job.Allocator = mem
	if err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return sink.Rows
}

func TestStagesOnSlicedBatches(t *testing.T) {
	// Every stage reads batches with non-zero array offsets correctly: the
	// result equals that of the same rows in a batch of their own.
	rows := ktRandomRows(700, 5)
	for i, r := range rows {
		if r[3] != nil {
			r[3] = fmt.Sprintf("%s-%d", r[3], i%13)
		}
	}
	comps := map[string]func() any{
		"Filter":        func() any { return &stages.Filter{Field: "s", Condition: ">", Value: "b"} },
		"FilterExpr":    func() any { return &stages.Filter{Expr: `k > 0 and s != nil`} },
		"DeleteColumns": func() any { return &stages.DeleteColumns{Columns: []string{"x"}} },
		"Sort":          func() any { return &stages.Sort{Keys: stages.SortKeys{stages.Asc("s"), stages.Desc("x")}} },
		"Aggregator": func() any {
			return &stages.Aggregator{Keys: []string{"s", "b"}, Aggregations: []stages.Aggregation{{Field: "s", Type: "max"}, {Field: "x", Type: "sum"}, {Field: "s", Type: "last"}}}
		},
		"RemoveDuplicates":  func() any { return &stages.RemoveDuplicates{Key: []string{"s"}} },
		"RemoveDuplicates2": func() any { return &stages.RemoveDuplicates{Key: []string{"k"}, SortBy: []string{"s"}, Keep: "last"} },
		"Transformer":       func() any { return &stages.Transformer{Derive: stages.Derivations{{Column: "t", Expr: `s + "!"`}}} },
	}
	for name, newComp := range comps {
		t.Run(name, func(t *testing.T) {
			want, _ := ktRun(t, newComp(), sortSchema, rows[2:], 0)
			got := ktRunSliced(t, newComp(), sortSchema, rows)
			ktEqualRows(t, got, want)
		})
	}
}
