package stages_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

var (
	funnelSchema   = openstage.NewSchema("name", openstage.String, "age", openstage.Int64)
	funnelReversed = openstage.NewSchema("age", openstage.Int64, "name", openstage.String)
)

// funnelInputs are three pipes: a and c in the output's column order, b
// reversed; rows tagged with their pipe.
func funnelInputs(batch int) ([]openstagetest.Input, [][]any) {
	var a, b, c, want [][]any
	for i := range 7 {
		a = append(a, []any{fmt.Sprintf("a%d-ñ", i), int64(i)})
		want = append(want, a[i])
	}
	for i := range 5 {
		var age any = int64(100 + i)
		if i == 2 {
			age = nil
		}
		b = append(b, []any{age, fmt.Sprintf("b%d-日本", i)})
		want = append(want, []any{b[i][1], b[i][0]})
	}
	c = [][]any{{nil, int64(200)}}
	want = append(want, c[0])
	return []openstagetest.Input{
		{Pipe: "a", Schema: funnelSchema, Rows: a, BatchRows: batch},
		{Pipe: "b", Schema: funnelReversed, Rows: b, BatchRows: batch},
		{Pipe: "c", Schema: funnelSchema, Rows: c, BatchRows: batch},
	}, want
}

func TestFunnelModes(t *testing.T) {
	for _, batch := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("sequence/batch%d", batch), func(t *testing.T) {
			inputs, want := funnelInputs(batch)
			res := routeRun(t, &stages.Funnel{Mode: "sequence"}, inputs, "out")
			out := res.Outputs["out"]
			if got := fmt.Sprint(routeColumns(out.Schema)); got != "[name:string age:int64]" {
				t.Fatalf("columns = %s", got)
			}
			routeEqualRows(t, out.Rows, want)
		})
		t.Run(fmt.Sprintf("continuous/batch%d", batch), func(t *testing.T) {
			inputs, want := funnelInputs(batch)
			res := routeRun(t, &stages.Funnel{Mode: "continuous"}, inputs, "out")
			got := res.Outputs["out"].Rows
			routeSameRows(t, got, want)
			// Each input's rows keep their order.
			for _, prefix := range []string{"a", "b", "c"} {
				var mine, wantMine [][]any
				for _, rows := range []*[][]any{&got, &want} {
					for _, r := range *rows {
						if s, ok := r[0].(string); ok && s[:1] == prefix {
							if rows == &got {
								mine = append(mine, r)
							} else {
								wantMine = append(wantMine, r)
							}
						}
					}
				}
				routeEqualRows(t, mine, wantMine)
			}
		})
	}
}

func TestFunnelEmptyAndOneInput(t *testing.T) {
	t.Run("empty inputs", func(t *testing.T) {
		for _, mode := range []string{"continuous", "sequence"} {
			res := routeRun(t, &stages.Funnel{Mode: mode}, []openstagetest.Input{
				{Pipe: "a", Schema: funnelSchema}, {Pipe: "b", Schema: funnelReversed, Rows: [][]any{{int64(1), "x"}}},
			}, "out")
			routeEqualRows(t, res.Outputs["out"].Rows, [][]any{{"x", int64(1)}})
		}
	})
	t.Run("one input", func(t *testing.T) {
		res := routeRun(t, &stages.Funnel{}, []openstagetest.Input{{Pipe: "a", Schema: funnelSchema, Rows: [][]any{{"ü", nil}}}}, "out")
		routeEqualRows(t, res.Outputs["out"].Rows, [][]any{{"ü", nil}})
	})
}

// Two inputs of a sequence Funnel from one Copy: the Copy blocks on the
// second pipe while the Funnel reads the first, so the Funnel buffers; past
// a small memory limit, in a spill file, and the rows still come in order.
func TestFunnelSequenceForkJoin(t *testing.T) {
	for _, limit := range []int64{0, 8 << 10} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) { funnelForkJoin(t, limit) })
	}
}

func funnelForkJoin(t *testing.T, limit int64) {
	var rows [][]any
	for i := range 3000 {
		rows = append(rows, []any{fmt.Sprint(i), int64(i)})
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src := openstage.NewStage("src", &openstagetest.Source{Schema: funnelSchema, Rows: rows, BatchRows: 50})
	cp := stages.NewCopy("copy")
	fn := openstage.New("funnel", func(f *stages.Funnel) { f.Mode = "sequence" })
	sink := &openstagetest.Sink{}
	src.AddOutputPipe(openstage.NewPipe("in")).SetDestination(cp)
	cp.AddOutputPipe(openstage.NewPipe("first")).SetDestination(fn)
	cp.AddOutputPipe(openstage.NewPipe("second")).SetDestination(fn)
	fn.AddOutputPipe(openstage.NewPipe("out")).SetDestination(openstage.NewStage("sink", sink))
	job := openstage.NewJob("fork", src)
	job.Allocator = mem
	if limit > 0 {
		job.MemoryLimit, job.TempDir = limit, t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := job.Run(ctx); err != nil {
		t.Fatal(err)
	}
	routeEqualRows(t, sink.Rows, append(append([][]any{}, rows...), rows...))
	st, _ := job.Summary().Stage("funnel")
	if st.Counters["rows_buffered"] == 0 || (st.Counters["spilled_rows"] > 0) != (limit > 0) {
		t.Fatalf("counters = %v, want rows buffered, and spilled only with a memory limit", st.Counters)
	}
	if limit > 0 {
		if entries, err := os.ReadDir(job.TempDir); err != nil || len(entries) != 0 {
			t.Fatalf("spill folder holds %v (%v); spill files are unlinked at once", entries, err)
		}
	}
}

func TestFunnelValidation(t *testing.T) {
	wrongType := openstage.NewSchema("age", openstage.String, "name", openstage.String)
	otherCols := openstage.NewSchema("name", openstage.String, "city", openstage.String, "zip", openstage.String)
	dup := openstage.NewSchema("name", openstage.String, "age", openstage.Int64, "name", openstage.String)
	cases := []struct {
		name   string
		mode   string
		inputs []openstagetest.Input
		want   string
	}{
		{"type", "", []openstagetest.Input{{Pipe: "a", Schema: funnelSchema}, {Pipe: "b", Schema: wrongType}},
			"Funnel 'stage': pipe 'b' has column 'age' as string but pipe 'a' has int64; every input of a Funnel needs the same column names with the same types"},
		{"missing and extra, two pipes", "", []openstagetest.Input{{Pipe: "a", Schema: funnelSchema}, {Pipe: "b", Schema: wrongType}, {Pipe: "c", Schema: otherCols}},
			"Funnel 'stage': pipe 'b' has column 'age' as string but pipe 'a' has int64; pipe 'c' lacks 'age' of pipe 'a' and has 'city', 'zip' that pipe 'a' lacks; every input of a Funnel needs the same column names with the same types"},
		{"duplicate column", "", []openstagetest.Input{{Pipe: "a", Schema: funnelSchema}, {Pipe: "b", Schema: dup}},
			"Funnel 'stage': pipe 'b' has two columns named 'name'"},
		{"mode", "parallel", []openstagetest.Input{{Pipe: "a", Schema: funnelSchema}},
			"Funnel 'stage': parameter 'mode': 'parallel' is not one of continuous, sequence"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := routeErr(t, &stages.Funnel{Mode: tc.mode}, tc.inputs, "out"); got != tc.want {
				t.Fatalf("error:\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}
