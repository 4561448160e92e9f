package stages_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

// headTailWant computes Head or Tail the obvious way: per key (column k
// and b of optRows, or one key for all rows) the first or last n rows, in
// input order.
func headTailWant(rows [][]any, n int, keyed, tail bool) [][]any {
	key := func(r []any) string {
		if !keyed {
			return ""
		}
		return fmt.Sprint(r[1], "|", r[5])
	}
	count := map[string]int{}
	for _, r := range rows {
		count[key(r)]++
	}
	seen := map[string]int{}
	var out [][]any
	for _, r := range rows {
		k := key(r)
		seen[k]++
		if !tail && seen[k] <= n || tail && count[k]-seen[k] < n {
			out = append(out, r)
		}
	}
	return out
}

func TestHeadTail(t *testing.T) {
	rows := optRows(3, 4000)
	for _, tail := range []bool{false, true} {
		for _, keyed := range []bool{false, true} {
			for _, n := range []int64{1, 3, 250, 10000} {
				name := fmt.Sprintf("tail=%v/keyed=%v/n=%d", tail, keyed, n)
				t.Run(name, func(t *testing.T) {
					var key []string
					if keyed {
						key = []string{"k", "b"}
					}
					var comp any = &stages.Head{Rows: n, Key: key}
					if tail {
						comp = &stages.Tail{Rows: n, Key: key}
					}
					res, err := openstagetest.RunNode(t, comp, []openstagetest.Input{{Pipe: "in", Schema: optSchema, Rows: rows, BatchRows: 97}}, "out")
					if err != nil {
						t.Fatal(err)
					}
					got, want := res.Outputs["out"].Rows, headTailWant(rows, int(n), keyed, tail)
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("got %d rows, want %d:\ngot  %.300v\nwant %.300v", len(got), len(want), got, want)
					}
				})
			}
		}
	}
}

func TestHeadTailRowsMustBePositive(t *testing.T) {
	for _, comp := range []any{&stages.Head{Rows: 0}, &stages.Tail{Rows: -1}} {
		_, err := openstagetest.RunNode(t, comp, []openstagetest.Input{{Pipe: "in", Schema: optSchema, Rows: optRows(1, 3)}}, "out")
		if err == nil || !strings.Contains(err.Error(), "rows must be 1 or more") {
			t.Fatalf("%T: got %v, want an error about rows", comp, err)
		}
	}
}
