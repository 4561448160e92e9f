package stages_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

func TestCopy(t *testing.T) {
	schema := openstage.NewSchema("name", openstage.String, "v", openstage.Float64)
	var many [][]any
	for i := range 50 {
		var v any = float64(i) / 2
		if i%7 == 0 {
			v = nil
		}
		many = append(many, []any{fmt.Sprintf("ñandú-%d", i), v})
	}
	cases := []struct {
		name  string
		rows  [][]any
		batch int
		outs  []string
	}{
		{"empty", nil, 0, []string{"a", "b"}},
		{"one row", [][]any{{"日本", nil}}, 0, []string{"a", "b", "c"}},
		{"many batches", many, 3, []string{"a", "b", "c"}},
		{"one output", many, 10, []string{"only"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := routeRun(t, &stages.Copy{}, []openstagetest.Input{{Pipe: "in", Schema: schema, Rows: tc.rows, BatchRows: tc.batch}}, tc.outs...)
			for _, o := range tc.outs {
				if got := fmt.Sprint(routeColumns(res.Outputs[o].Schema)); got != "[name:string v:float64]" {
					t.Fatalf("%s columns = %s", o, got)
				}
				routeEqualRows(t, res.Outputs[o].Rows, tc.rows)
			}
			st, _ := res.Summary.Stage("stage")
			if st.RowsOut != int64(len(tc.rows)*len(tc.outs)) {
				t.Fatalf("rows out = %d, want %d", st.RowsOut, len(tc.rows)*len(tc.outs))
			}
		})
	}
}

func TestCopyConnectivity(t *testing.T) {
	schema := openstage.NewSchema("v", openstage.Int64)
	got := routeErr(t, &stages.Copy{}, []openstagetest.Input{{Pipe: "a", Schema: schema}, {Pipe: "b", Schema: schema}}, "out")
	// The core words connection errors; check only that it names the pipe.
	if want := "Copy 'stage': can only have 1 input; pipe 'b' would be input 2"; !strings.Contains(got, want) {
		t.Fatalf("error:\n got: %s\nwant it to contain: %s", got, want)
	}
	if s := stages.NewCopy("c"); s.Type() != "Copy" {
		t.Fatalf("NewCopy type %s", s.Type())
	}
	if s := stages.NewFunnel("f"); s.Type() != "Funnel" || s.Component().(*stages.Funnel).Mode != "continuous" {
		t.Fatalf("NewFunnel gave %s %+v", s.Type(), s.Component())
	}
}
