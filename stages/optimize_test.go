package stages_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

// optSchema is the schema of optRows: keys with few values (ties), nulls
// in every column, NaN and -0 among the floats, non-ASCII strings.
var optSchema = openstage.NewSchema("id", openstage.Int64, "k", openstage.Int64, "s", openstage.String,
	"f", openstage.Float64, "d", openstage.Date, "b", openstage.Bool, "t", openstage.Timestamp)

func optRows(seed uint64, n int) [][]any {
	r := rand.New(rand.NewPCG(seed, 7))
	words := []string{"", "a", "A", "é", "e\u0301", "日本", "日本語", "ß", "zz", "Ω", "\U0001F600", "a b"}
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	maybe := func(v any) any {
		if r.IntN(8) == 0 {
			return nil
		}
		return v
	}
	rows := make([][]any, n)
	for i := range rows {
		f := float64(r.IntN(9)) / 4
		switch r.IntN(12) {
		case 0:
			f = math.NaN()
		case 1:
			f = math.Copysign(0, -1)
		}
		rows[i] = []any{int64(i), maybe(int64(r.IntN(23))), maybe(words[r.IntN(len(words))]), maybe(f),
			maybe(day.AddDate(0, 0, r.IntN(5))), maybe(r.IntN(2) == 0), maybe(day.Add(time.Duration(r.IntN(4)) * time.Hour))}
	}
	return rows
}

// optCase builds a job from src (the origin) and returns its sinks.
type optCase struct {
	name  string
	build func(src *openstage.Stage) []*openstagetest.Sink
	// rewrites: the rules the optimizer must apply ("" entries none)
	rewrites []string
	memLimit int64
}

func sortStage(name string, nulls string, keys ...stages.SortKey) *openstage.Stage {
	return openstage.New(name, func(s *stages.Sort) { s.Keys = keys; s.Nulls = nulls })
}

func dedupStage(name, keep string, key ...string) *openstage.Stage {
	return openstage.New(name, func(r *stages.RemoveDuplicates) { r.Key = key; r.Keep = keep })
}

func sinkStage(name string) (*openstage.Stage, *openstagetest.Sink) {
	s := &openstagetest.Sink{}
	return openstage.NewStage(name, s), s
}

// chain connects stages with pipes named after them.
func chain(st ...*openstage.Stage) {
	for i := 0; i+1 < len(st); i++ {
		st[i].AddOutputPipe(openstage.NewPipe(st[i].Name() + "_to_" + st[i+1].Name())).SetDestination(st[i+1])
	}
}

func optCases() []optCase {
	keysA := []stages.SortKey{stages.Desc("d"), stages.Asc("s"), stages.Asc("f")}
	keysB := []stages.SortKey{stages.Asc("f"), stages.Desc("t"), stages.Asc("b")}
	var cases []optCase
	for _, keep := range []string{"first", "last"} {
		for ki, keys := range [][]stages.SortKey{keysA, keysB, {stages.Asc("s")}} {
			cases = append(cases, optCase{
				name: fmt.Sprintf("sort-dedup-%s-%d", keep, ki),
				build: func(src *openstage.Stage) []*openstagetest.Sink {
					w, s := sinkStage("w")
					chain(src, sortStage("sort", "", keys...), dedupStage("dedup", keep, "k"), w)
					return []*openstagetest.Sink{s}
				},
				rewrites: []string{"sort absorbed"},
			})
		}
	}
	cases = append(cases,
		optCase{name: "sort-dedup-multikey-through-filter-and-delete", rewrites: []string{"sort absorbed"},
			build: func(src *openstage.Stage) []*openstagetest.Sink {
				w, s := sinkStage("w")
				chain(src, sortStage("sort", "", keysA...), stages.NewFilter("f", "id", ">", 37),
					stages.NewDeleteColumns("del", "t"), dedupStage("dedup", "first", "k", "b"), w)
				return []*openstagetest.Sink{s}
			}},
		optCase{name: "sort-copy-two-dedups", rewrites: []string{"sort absorbed", "sort absorbed"},
			build: func(src *openstage.Stage) []*openstagetest.Sink {
				srt, cp := sortStage("sort", "", keysB...), stages.NewCopy("copy")
				chain(src, srt, cp)
				w1, s1 := sinkStage("w1")
				w2, s2 := sinkStage("w2")
				chain(cp, dedupStage("first", "first", "k"), w1)
				chain(cp, stages.NewFilterExpr("big", "f != nil && f > 0.5"), dedupStage("last", "last", "s"), w2)
				return []*openstagetest.Sink{s1, s2}
			}},
		optCase{name: "sort-copy-one-branch-needs-order", rewrites: nil,
			build: func(src *openstage.Stage) []*openstagetest.Sink {
				srt, cp := sortStage("sort", "", keysA...), stages.NewCopy("copy")
				chain(src, srt, cp)
				w1, s1 := sinkStage("w1")
				w2, s2 := sinkStage("w2")
				chain(cp, dedupStage("first", "first", "k"), w1)
				chain(cp, w2)
				return []*openstagetest.Sink{s1, s2}
			}},
		optCase{name: "sort-nulls-first-dedup-not-absorbed", rewrites: nil,
			build: func(src *openstage.Stage) []*openstagetest.Sink {
				w, s := sinkStage("w")
				chain(src, sortStage("sort", "first", keysA...), dedupStage("dedup", "first", "k"), w)
				return []*openstagetest.Sink{s}
			}},
		optCase{name: "sort-dedup-with-own-sort-by", rewrites: []string{"sort absorbed"},
			build: func(src *openstage.Stage) []*openstagetest.Sink {
				w, s := sinkStage("w")
				rd := openstage.New("dedup", func(r *stages.RemoveDuplicates) {
					r.Key, r.SortBy, r.Ascending, r.Keep = []string{"s"}, []string{"b", "k"}, stages.Bools{false, true}, "last"
				})
				chain(src, sortStage("sort", "", keysB...), rd, w)
				return []*openstagetest.Sink{s}
			}},
		optCase{name: "sort-sort-dedup", rewrites: []string{"sort absorbed", "sort absorbed"},
			build: func(src *openstage.Stage) []*openstagetest.Sink {
				w, s := sinkStage("w")
				chain(src, sortStage("sort1", "", keysA...), sortStage("sort2", "", stages.Asc("b")), dedupStage("dedup", "first", "k"), w)
				return []*openstagetest.Sink{s}
			}},
		optCase{name: "sort-sort", rewrites: []string{"sort absorbed"},
			build: func(src *openstage.Stage) []*openstagetest.Sink {
				w, s := sinkStage("w")
				chain(src, sortStage("sort1", "first", keysB...), sortStage("sort2", "first", stages.Desc("k")), w)
				return []*openstagetest.Sink{s}
			}},
	)
	for _, nulls := range []string{"", "first"} {
		for _, n := range []int64{1, 7, 500} {
			cases = append(cases,
				optCase{name: fmt.Sprintf("sort-head-%d-nulls-%s", n, nulls), rewrites: []string{"sort absorbed"},
					build: func(src *openstage.Stage) []*openstagetest.Sink {
						w, s := sinkStage("w")
						chain(src, sortStage("sort", nulls, keysA...), stages.NewHead("head", n), w)
						return []*openstagetest.Sink{s}
					}},
				optCase{name: fmt.Sprintf("sort-head-per-key-%d-nulls-%s", n, nulls), rewrites: []string{"sort absorbed"},
					build: func(src *openstage.Stage) []*openstagetest.Sink {
						w, s := sinkStage("w")
						chain(src, sortStage("sort", nulls, keysB...), stages.NewFilter("nn", "k", "is not null", nil), stages.NewHead("head", n, "k", "b"), w)
						return []*openstagetest.Sink{s}
					}},
			)
		}
	}
	cases = append(cases, optCase{name: "head-after-origin-limit", rewrites: []string{"limit"},
		build: func(src *openstage.Stage) []*openstagetest.Sink {
			w, s := sinkStage("w")
			chain(src, stages.NewHead("head", 777), w)
			return []*openstagetest.Sink{s}
		}})
	// Past the memory budget the rewritten stages take their spilling paths.
	var spilled []optCase
	for _, c := range cases {
		if strings.Contains(c.name, "dedup-first-0") || strings.Contains(c.name, "head-500") || strings.Contains(c.name, "head-per-key-7") || c.name == "sort-copy-two-dedups" {
			c.name += "-spilled"
			c.memLimit = 64 << 10
			spilled = append(spilled, c)
		}
	}
	return append(cases, spilled...)
}

// TestOptimizerRewritesKeepOutput runs each job as written (NoOptimize)
// and optimized, on random data with nulls, ties, NaN and non-ASCII text:
// every output must be identical, order included, and the optimizer must
// have applied exactly the expected rewrites.
func TestOptimizerRewritesKeepOutput(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		rows := optRows(seed, 5000)
		for _, c := range optCases() {
			t.Run(fmt.Sprintf("%s/seed%d", c.name, seed), func(t *testing.T) {
				var outs [2][]string
				for i, noOpt := range []bool{true, false} {
					mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
					src := openstage.NewStage("src", &openstagetest.Source{Schema: optSchema, Rows: rows, BatchRows: 311})
					sinks := c.build(src)
					job := openstage.NewJob("opt", src)
					job.Allocator, job.NoOptimize, job.MemoryLimit, job.TempDir = mem, noOpt, c.memLimit, t.TempDir()
					if err := job.Run(context.Background()); err != nil {
						t.Fatal(err)
					}
					mem.AssertSize(t, 0)
					var rules []string
					for _, r := range job.Rewrites() {
						rules = append(rules, r.Rule)
					}
					want := c.rewrites
					if noOpt {
						want = nil
					}
					if fmt.Sprint(rules) != fmt.Sprint(want) {
						t.Fatalf("NoOptimize=%v: rewrites %q, want %q (%v)", noOpt, rules, want, job.Rewrites())
					}
					for _, s := range sinks {
						if s.SchemaErr != nil {
							t.Fatal(s.SchemaErr)
						}
						outs[i] = append(outs[i], fmt.Sprint(s.Rows))
					}
					if c.memLimit > 0 && !noOpt && len(c.rewrites) > 0 {
						spilled := false
						for _, st := range job.Summary().Stages {
							spilled = spilled || st.Counters["spilled_rows"] > 0
						}
						if !spilled {
							t.Fatalf("no stage spilled at a %d-byte limit", c.memLimit)
						}
					}
				}
				for k := range outs[0] {
					if outs[0][k] != outs[1][k] {
						t.Fatalf("output %d differs:\nas written: %.600s\noptimized:  %.600s", k, outs[0][k], outs[1][k])
					}
					if len(outs[0][k]) < 10 {
						t.Fatalf("output %d is empty: %s", k, outs[0][k])
					}
				}
			})
		}
	}
}
