package csvio

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

// whereCSV writes random rows with every column type, empty fields
// (nulls), quoted fields with delimiters and doubled quotes, non-ASCII
// text, ties, and CRLF line ends on some rows.
func whereCSV(t *testing.T, n int, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 11))
	words := []string{"paid", "new", "Zürich", "東京", `"a, b"`, `"say ""hi"""`, "", "ß", "paid "}
	var b strings.Builder
	b.WriteString("id,qty,price,flag,day,at,word,note\n")
	maybe := func(s string) string {
		if r.IntN(9) == 0 {
			return ""
		}
		return s
	}
	for i := range n {
		fmt.Fprintf(&b, "%d,%s,%s,%s,%s,%s,%s,%s", i,
			maybe(fmt.Sprint(r.IntN(40)-5)),
			maybe(fmt.Sprintf("%d.%02d", r.IntN(30), r.IntN(4)*25)),
			maybe([]string{"true", "false"}[r.IntN(2)]),
			maybe(fmt.Sprintf("2024-03-%02d", 1+r.IntN(9))),
			maybe(fmt.Sprintf("2024-03-01T%02d:00:00Z", r.IntN(5))),
			words[r.IntN(len(words))],
			maybe(strings.Repeat("x", r.IntN(30))))
		if r.IntN(7) == 0 {
			b.WriteString("\r")
		}
		b.WriteString("\n")
	}
	path := filepath.Join(t.TempDir(), "rows.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFilterWhileReading runs CSVOrigin → Filter → Sink with the filter
// applied while reading and as written (NoOptimize), for every condition on
// every column type, on the block path and row by row, with small chunks
// over several workers: the rows must be identical, and the filter must
// have been folded into the origin.
func TestFilterWhileReading(t *testing.T) {
	conds := []struct {
		field, op string
		value     any
	}{
		{"qty", ">", 10}, {"qty", "<=", 0}, {"qty", "=", 3}, {"qty", "!=", 3}, {"qty", "in", []any{1, 2, 30}},
		{"qty", "not in", []any{1, 2}}, {"qty", "between", []any{5, 9}}, {"qty", "is null", nil}, {"qty", "is not null", nil},
		{"price", ">", 20.5}, {"price", "<", 3}, {"price", "between", []any{1.25, 2.5}}, {"price", "is null", nil},
		{"flag", "=", true}, {"flag", "!=", true},
		{"day", ">=", "2024-03-05"}, {"day", "in", []any{"2024-03-01", "2024-03-09"}},
		{"at", "<", "2024-03-01T02:00:00Z"},
		{"word", "=", "paid"}, {"word", ">", "a"}, {"word", "in", []any{"東京", "a, b", `say "hi"`}}, {"word", "is null", nil},
		{"note", "is not null", nil}, {"note", "<", "xx"},
	}
	chunk, workers := testChunkSize, 0
	testChunkSize = 4096
	defer func() { testChunkSize = chunk }()
	path := whereCSV(t, 20000, 1)
	for _, blocks := range []bool{true, false} {
		noBlocks = !blocks
		for _, c := range conds {
			for _, project := range []bool{false, true} {
				name := fmt.Sprintf("blocks=%v/%s %s %v/project=%v", blocks, c.field, c.op, c.value, project)
				t.Run(name, func(t *testing.T) {
					var outs [2]string
					for i, noOpt := range []bool{true, false} {
						mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
						sink := &openstagetest.Sink{}
						src := NewCSVOrigin("src", path)
						last := stages.NewFilter("keep", c.field, c.op, c.value)
						src.AddOutputPipe(openstage.NewPipe("p1")).SetDestination(last)
						if project {
							agg := openstage.New("agg", func(a *stages.Aggregator) {
								a.Keys = []string{"word"}
								a.Aggregations = []stages.Aggregation{{Field: "id", Type: "sum"}, {Type: "count"}, {Field: "price", Type: "max"}}
							})
							last.AddOutputPipe(openstage.NewPipe("p2")).SetDestination(agg)
							last = agg
						}
						last.AddOutputPipe(openstage.NewPipe("p3")).SetDestination(openstage.NewStage("sink", sink))
						job := openstage.NewJob("where", src)
						job.Allocator, job.NoOptimize, job.Workers = mem, noOpt, workers+3
						if err := job.Run(context.Background()); err != nil {
							t.Fatal(err)
						}
						mem.AssertSize(t, 0)
						if folded := len(job.Folds()) == 1; folded == noOpt {
							t.Fatalf("NoOptimize=%v, folds %v", noOpt, job.Folds())
						}
						// Applied while reading, the origin sends exactly
						// the rows the Filter keeps.
						st := map[string]openstage.StageStats{}
						for _, s := range job.Summary().Stages {
							st[s.Stage] = s
						}
						if sent, kept := st["src"].RowsOut, st["keep"].RowsOut; !noOpt && sent != kept || noOpt && sent != 20000 {
							t.Fatalf("NoOptimize=%v: the origin sent %d rows, the filter kept %d", noOpt, sent, kept)
						}
						outs[i] = fmt.Sprint(sink.Rows)
					}
					if outs[0] != outs[1] {
						t.Fatalf("rows differ:\nas written %.400s\nwhile reading %.400s", outs[0], outs[1])
					}
				})
			}
		}
	}
	noBlocks = false
}

// TestFilterWhileReadingSkipsDroppedRows: a value that does not convert in
// a row the filter drops is not an error when the filter is applied while
// reading (its columns are not converted), whether the bad value comes
// before or after the condition's column; in a row the filter keeps, or in
// the condition's own column, it still is.
func TestFilterWhileReadingSkipsDroppedRows(t *testing.T) {
	var b strings.Builder
	b.WriteString("a,n,z\n")
	for i := range 3000 {
		fmt.Fprintf(&b, "%d,%d,%d\n", i, i%10, i)
	}
	good := b.String()
	for _, tc := range []struct {
		name, data, err string
	}{
		{"bad before, row dropped", good + "oops,1,5\n", ""},
		{"bad after, row dropped", good + "5,1,oops\n", ""},
		{"bad after, row kept", good + "5,9,oops\n", `cannot parse "oops" as int64`},
		{"bad in the condition's column", good + "5,oops,5\n", `cannot parse "oops" as int64`},
	} {
		for _, blocks := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/blocks=%v", tc.name, blocks), func(t *testing.T) {
				noBlocks = !blocks
				defer func() { noBlocks = false }()
				path := filepath.Join(t.TempDir(), "x.csv")
				os.WriteFile(path, []byte(tc.data), 0o644)
				src := openstage.New("src", func(o *CSVOrigin) {
					o.Path = openstage.Strings{path}
					o.ColumnTypes = map[string]string{"a": "int64", "n": "int64", "z": "int64"}
				})
				sink := &openstagetest.Sink{}
				src.AddOutputPipe(openstage.NewPipe("p1")).SetDestination(stages.NewFilter("keep", "n", ">", 8)).
					AddOutputPipe(openstage.NewPipe("p2")).SetDestination(openstage.NewStage("sink", sink))
				err := openstage.NewJob("bad", src).Run(context.Background())
				switch {
				case tc.err == "" && err != nil:
					t.Fatal(err)
				case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
					t.Fatalf("got %v, want an error with %q", err, tc.err)
				case tc.err == "" && len(sink.Rows) != 300:
					t.Fatalf("%d rows, want 300", len(sink.Rows))
				}
			})
		}
	}
}

// TestFilterFoldsThroughStages: a Filter further down is applied while
// reading when the stages between pass its column unchanged (Sort, the
// kept side of a join, a grouping key), and not otherwise; the output is
// the same either way.
func TestFilterFoldsThroughStages(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(4, 4))
	var ob, ub strings.Builder
	ob.WriteString("order_id,user_id,country,amount\n")
	for i := range 5000 {
		uid := fmt.Sprint(r.IntN(120))
		if r.IntN(15) == 0 {
			uid = ""
		}
		fmt.Fprintf(&ob, "%d,%s,%s,%d.%d\n", i, uid, []string{"DE", "ES", "日本", ""}[r.IntN(4)], r.IntN(2000), r.IntN(10))
	}
	ub.WriteString("user_id,segment,active\n")
	for i := range 100 {
		fmt.Fprintf(&ub, "%d,%s,%v\n", i, []string{"A", "B", "C"}[r.IntN(3)], r.IntN(3) > 0)
	}
	orders, users := filepath.Join(dir, "orders.csv"), filepath.Join(dir, "users.csv")
	os.WriteFile(orders, []byte(ob.String()), 0o644)
	os.WriteFile(users, []byte(ub.String()), 0o644)
	join := func(typ string) func(o, u, next *openstage.Stage) {
		return func(o, u, next *openstage.Stage) {
			j := stages.NewJoiner("join", "o", "u", "user_id", typ)
			o.AddOutputPipe(openstage.NewPipe("o")).SetDestination(j)
			u.AddOutputPipe(openstage.NewPipe("u")).SetDestination(j)
			j.AddOutputPipe(openstage.NewPipe("j")).SetDestination(next)
		}
	}
	for _, tc := range []struct {
		name   string
		filter *openstage.Stage
		wire   func(o, u, next *openstage.Stage)
		folds  string
	}{
		{"left join, left column", stages.NewFilter("f", "amount", ">", 1000), join("left"), "[{orders f amount > 1000 [join]}]"},
		{"left join, merged key", stages.NewFilter("f", "user_id", "<", 50), join("left"), "[{orders f user_id < 50 [join]} {users f user_id < 50 [join]}]"},
		{"left join, right column", stages.NewFilter("f", "segment", "=", "A"), join("left"), "[]"},
		{"left join, right column is null", stages.NewFilter("f", "active", "is null", nil), join("left"), "[]"},
		{"inner join, right column", stages.NewFilter("f", "active", "=", true), join("inner"), "[{users f active = true [join]}]"},
		{"outer join, left column", stages.NewFilter("f", "amount", ">", 1000), join("outer"), "[]"},
		{"right join, left column", stages.NewFilter("f", "country", "=", "DE"), join("right"), "[]"},
		{"sort", stages.NewFilter("f", "country", "in", []string{"日本", "ES"}), func(o, u, next *openstage.Stage) {
			u.AddOutputPipe(openstage.NewPipe("u")).SetDestination(openstage.NewStage("drop", &openstagetest.Sink{}))
			s := stages.NewSort("sort", stages.Desc("amount"))
			o.AddOutputPipe(openstage.NewPipe("o")).SetDestination(s).AddOutputPipe(openstage.NewPipe("s")).SetDestination(next)
		}, `[{orders f country in ["日本", "ES"] [sort]}]`},
		{"group key", stages.NewFilter("f", "country", "=", "DE"), func(o, u, next *openstage.Stage) {
			u.AddOutputPipe(openstage.NewPipe("u")).SetDestination(openstage.NewStage("drop", &openstagetest.Sink{}))
			a := openstage.New("agg", func(a *stages.Aggregator) {
				a.Keys = []string{"country"}
				a.Aggregations = []stages.Aggregation{{Field: "amount", Type: "sum"}}
			})
			o.AddOutputPipe(openstage.NewPipe("o")).SetDestination(a).AddOutputPipe(openstage.NewPipe("a")).SetDestination(next)
		}, "[{orders f country = \"DE\" [agg]}]"},
		{"group value", stages.NewFilter("f", "amount", ">", 1000.0), func(o, u, next *openstage.Stage) {
			u.AddOutputPipe(openstage.NewPipe("u")).SetDestination(openstage.NewStage("drop", &openstagetest.Sink{}))
			a := openstage.New("agg", func(a *stages.Aggregator) {
				a.Keys = []string{"country"}
				a.Aggregations = []stages.Aggregation{{Field: "amount", Type: "max", As: "amount"}}
			})
			o.AddOutputPipe(openstage.NewPipe("o")).SetDestination(a).AddOutputPipe(openstage.NewPipe("a")).SetDestination(next)
		}, "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var outs [2]string
			for i, noOpt := range []bool{true, false} {
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				o, u := NewCSVOrigin("orders", orders), NewCSVOrigin("users", users)
				f := openstage.New("f", func(x *stages.Filter) {
					c := tc.filter.Component().(*stages.Filter)
					x.Field, x.Condition, x.Value = c.Field, c.Condition, c.Value
				})
				tc.wire(o, u, f)
				sink := &openstagetest.Sink{}
				f.AddOutputPipe(openstage.NewPipe("out")).SetDestination(openstage.NewStage("sink", sink))
				job := openstage.NewJob("through", o, u)
				job.Allocator, job.NoOptimize = mem, noOpt
				if err := job.Run(context.Background()); err != nil {
					t.Fatal(err)
				}
				mem.AssertSize(t, 0)
				var folds []string
				for _, fo := range job.Folds() {
					folds = append(folds, fmt.Sprintf("{%s %s %s %v}", fo.Origin, fo.Filter, fo.Condition, fo.Through))
				}
				if got := "[" + strings.Join(folds, " ") + "]"; !noOpt && got != tc.folds {
					t.Fatalf("folds %s, want %s", got, tc.folds)
				}
				outs[i] = fmt.Sprint(sink.Rows)
			}
			if outs[0] != outs[1] {
				t.Fatalf("outputs differ:\nas written %.500s\noptimized  %.500s", outs[0], outs[1])
			}
			if len(outs[0]) < 20 {
				t.Fatalf("empty output %s", outs[0])
			}
		})
	}
}
