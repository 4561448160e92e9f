package stages_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

// generate runs g into a sink under a checked allocator.
func generate(t *testing.T, g *openstage.Stage) (*openstagetest.Sink, error) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sink := &openstagetest.Sink{}
	g.AddOutputPipe(openstage.NewPipe("out")).SetDestination(openstage.NewStage("sink", sink))
	job := openstage.NewJob("gen", g)
	job.Allocator = mem
	return sink, job.Run(context.Background())
}

func TestGeneratorPatterns(t *testing.T) {
	g := stages.NewGenerator("g", 5,
		stages.GenColumn{Name: "id", Type: "int64", Start: int64(10), Step: 5},
		stages.GenColumn{Name: "x", Type: "float64", Start: 0.5, Step: 0.25},
		stages.GenColumn{Name: "s", Type: "string", Pattern: "cycle", Values: []any{"a", "ñ"}},
		stages.GenColumn{Name: "d", Type: "date", Start: "2024-02-28"},
		stages.GenColumn{Name: "b", Type: "bool", NullEvery: 2},
		stages.GenColumn{Name: "code", Type: "string", Prefix: "C-"},
	)
	g.Component().(*stages.Generator).BatchRows = 2
	sink, err := generate(t, g)
	if err != nil {
		t.Fatal(err)
	}
	day := func(s string) time.Time { d, _ := time.Parse("2006-01-02", s); return d }
	want := [][]any{
		{int64(10), 0.5, "a", day("2024-02-28"), false, "C-1"},
		{int64(15), 0.75, "ñ", day("2024-02-29"), nil, "C-2"},
		{int64(20), 1.0, "a", day("2024-03-01"), false, "C-3"},
		{int64(25), 1.25, "ñ", day("2024-03-02"), nil, "C-4"},
		{int64(30), 1.5, "a", day("2024-03-03"), false, "C-5"},
	}
	if len(sink.Rows) != len(want) || sink.Batches != 3 {
		t.Fatalf("%d rows in %d batches, want 5 in 3", len(sink.Rows), sink.Batches)
	}
	for i := range want {
		for c := range want[i] {
			if got := sink.Rows[i][c]; got != want[i][c] && !(isTime(got) && got.(time.Time).Equal(want[i][c].(time.Time))) {
				t.Errorf("row %d col %d = %#v, want %#v", i, c, got, want[i][c])
			}
		}
	}
}

func isTime(v any) bool { _, ok := v.(time.Time); return ok }

func TestGeneratorRandomIsReproducibleAndInRange(t *testing.T) {
	mk := func(batch int) [][]any {
		g := stages.NewGenerator("g", 1000,
			stages.GenColumn{Name: "n", Type: "int64", Pattern: "random", Min: int64(-3), Max: int64(3), Seed: 42},
			stages.GenColumn{Name: "f", Type: "float64", Pattern: "random", Min: int64(1), Max: int64(2), Seed: 42},
			stages.GenColumn{Name: "c", Type: "string", Pattern: "random", Values: []any{"x", "y"}, Seed: 7},
		)
		g.Component().(*stages.Generator).BatchRows = batch
		sink, err := generate(t, g)
		if err != nil {
			t.Fatal(err)
		}
		return sink.Rows
	}
	a, b := mk(64), mk(1000)
	seen := map[int64]bool{}
	for i := range a {
		n, f := a[i][0].(int64), a[i][1].(float64)
		if n < -3 || n > 3 || f < 1 || f >= 2 {
			t.Fatalf("row %d out of range: %v", i, a[i])
		}
		seen[n] = true
		for c := range a[i] {
			if a[i][c] != b[i][c] {
				t.Fatalf("row %d differs with another batch size: %v vs %v", i, a[i], b[i])
			}
		}
	}
	if len(seen) != 7 {
		t.Errorf("random ints cover %d of the 7 values in [-3, 3]", len(seen))
	}
}

func TestGeneratorErrors(t *testing.T) {
	tests := []struct {
		name string
		cols []stages.GenColumn
		want string
	}{
		{"bad type", []stages.GenColumn{{Name: "a", Type: "decimal"}}, `Generator 'g': column 'a': unknown type "decimal"; use one of int64, float64, bool, string, date, timestamp`},
		{"cycle without values", []stages.GenColumn{{Name: "a", Pattern: "cycle"}}, "Generator 'g': column 'a': pattern cycle needs values: [...]"},
		{"value of wrong type", []stages.GenColumn{{Name: "a", Type: "int64", Pattern: "cycle", Values: []any{"x"}}}, `Generator 'g': column 'a': value 1 (x): cannot convert "x" to int64`},
		{"min above max", []stages.GenColumn{{Name: "a", Pattern: "random", Min: int64(5), Max: int64(1)}}, "Generator 'g': column 'a': min 5 is greater than max 1"},
		{"duplicate", []stages.GenColumn{{Name: "a"}, {Name: "a"}}, "Generator 'g': column 'a' is declared twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := generate(t, stages.NewGenerator("g", 3, tt.cols...))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestPrinter(t *testing.T) {
	var out strings.Builder
	p := &stages.Printer{Rows: 2, Out: &out}
	_, err := openstagetest.RunNode(t, p, []openstagetest.Input{{
		Pipe:      "in",
		Schema:    openstage.NewSchema("name", openstage.String, "n", openstage.Int64),
		Rows:      [][]any{{"Zoë", int64(1)}, {"multi\nline", nil}, {"c", int64(3)}},
		BatchRows: 1,
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := "== stage\nname        | n\n------------+-----\nZoë         | 1\nmulti\\nline | null\n(3 rows, showing the first 2)\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestGeneratorRanges: the ranges cover the rows once, in order, in whole
// batches, and making them one by one gives Pump's rows (random columns
// included).
func TestGeneratorRanges(t *testing.T) {
	g := stages.NewGenerator("g", 1003,
		stages.GenColumn{Name: "id", Type: "int64"},
		stages.GenColumn{Name: "r", Type: "float64", Pattern: "random", Min: 0.0, Max: 1.0, Seed: 3},
		stages.GenColumn{Name: "c", Type: "string", Pattern: "cycle", Values: []any{"a", "b", "c"}, NullEvery: 7},
	)
	gen := g.Component().(*stages.Generator)
	gen.BatchRows = 100
	sink, err := generate(t, g)
	if err != nil {
		t.Fatal(err)
	}
	ranges := gen.Ranges(250)
	want := [][2]int64{{0, 200}, {200, 400}, {400, 600}, {600, 800}, {800, 1000}, {1000, 1003}}
	if fmt.Sprint(ranges) != fmt.Sprint(want) {
		t.Fatalf("Ranges(250) = %v, want %v", ranges, want)
	}
	var rows [][]any
	for _, r := range ranges {
		err := gen.PumpRange(context.Background(), memory.DefaultAllocator, r[0], r[1], func(rec arrow.RecordBatch) error {
			if rec.NumRows() > 100 {
				t.Errorf("a batch of %d rows, more than batch_rows", rec.NumRows())
			}
			rows = append(rows, openstagetest.RowsOf(rec)...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(rows) != fmt.Sprint(sink.Rows) {
		t.Fatalf("the ranges' rows differ from Pump's (%d against %d rows)", len(rows), len(sink.Rows))
	}
}
