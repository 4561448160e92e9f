package stages

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
)

// rdRun runs r on rows (batchRows per batch) with a memory limit (0: the
// default) and returns the output rows printed one per line.
func rdRun(t *testing.T, r *RemoveDuplicates, s *arrow.Schema, rows [][]any, batchRows int, limit int64) []string {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	stage := openstage.NewStage("stage", r)
	job := openstage.NewJob("test")
	job.Allocator, job.MemoryLimit, job.TempDir = mem, limit, t.TempDir()
	src := openstage.NewStage("src", &openstagetest.Source{Schema: s, Rows: rows, BatchRows: batchRows})
	src.AddOutputPipe(openstage.NewPipe("in")).SetDestination(stage)
	job.Add(src)
	sink := &openstagetest.Sink{}
	stage.AddOutputPipe(openstage.NewPipe("out")).SetDestination(openstage.NewStage("sink", sink))
	job.Add(stage)
	if err := job.Run(context.Background()); err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	out := make([]string, len(sink.Rows))
	for i, row := range sink.Rows {
		out[i] = fmt.Sprintf("%v", row)
	}
	return out
}

// TestDedupBestMatchesFullSort compares the streaming best-row pass of
// RemoveDuplicates with sort_by against the full sort it replaces, on
// random data with many duplicate keys, nulls, NaN, -0 and ties, both keep
// values, mixed directions and many small batches; also with compaction at
// every batch and with a memory limit that hands over to the spilling path
// midway.
func TestDedupBestMatchesFullSort(t *testing.T) {
	s := openstage.NewSchema("id", openstage.Int64, "k", openstage.Int64, "ks", openstage.String, "kf", openstage.Float64,
		"x", openstage.Float64, "d", openstage.Date, "str", openstage.String, "b", openstage.Bool)
	rng := rand.New(rand.NewPCG(1, 2))
	null := func(p float64, v any) any {
		if rng.Float64() < p {
			return nil
		}
		return v
	}
	floats := []float64{math.NaN(), 0, math.Copysign(0, -1), 1.5, -2, 3, math.Inf(1)}
	strs := []string{"", "a", "b", "añil", "über", "東京", "B"}
	var rows [][]any
	for i := range 2000 {
		rows = append(rows, []any{
			int64(i),
			null(0.05, int64(rng.IntN(300))),
			null(0.05, strs[rng.IntN(len(strs))]),
			null(0.05, floats[rng.IntN(len(floats))]),
			null(0.1, floats[rng.IntN(len(floats))]),
			null(0.1, fmt.Sprintf("2024-01-%02d", 1+rng.IntN(5))),
			null(0.1, strs[rng.IntN(len(strs))]),
			null(0.1, rng.IntN(2) == 0),
		})
	}
	tests := []struct {
		key, sortBy []string
		asc         Bools
	}{
		{[]string{"k"}, []string{"x"}, Bools{false}},
		{[]string{"k"}, []string{"d", "id"}, Bools{false, true}},
		{[]string{"k"}, []string{"d", "x"}, Bools{false, true}},
		{[]string{"ks", "kf"}, []string{"str", "b", "x"}, Bools{true, false, false}},
		{[]string{"kf"}, []string{"b"}, nil},
		{[]string{"ks"}, []string{"x", "d"}, Bools{true, false}},
		{[]string{"b", "d"}, []string{"str"}, Bools{false}},
		{[]string{"k", "ks"}, []string{"kf", "str"}, Bools{true}},
	}
	defer func(v int64) { rdCompactMin = v }(rdCompactMin)
	for _, tc := range tests {
		for _, keep := range []string{"first", "last"} {
			name := fmt.Sprintf("%v by %v %v %s", tc.key, tc.sortBy, tc.asc, keep)
			t.Run(name, func(t *testing.T) {
				mk := func(full bool) *RemoveDuplicates {
					return &RemoveDuplicates{Key: tc.key, SortBy: tc.sortBy, Ascending: tc.asc, Keep: keep, fullSort: full}
				}
				for _, batch := range []int{3, 64, 1000} {
					want := rdRun(t, mk(true), s, rows, batch, 0)
					for _, compactMin := range []int64{64 << 20, 0} {
						rdCompactMin = compactMin
						got := rdRun(t, mk(false), s, rows, batch, 0)
						rdSame(t, fmt.Sprintf("batch %d, compact %d", batch, compactMin), got, want)
					}
					rdCompactMin = 64 << 20
					got := rdRun(t, mk(false), s, rows, batch, 24<<10) // hands over midway (at once for 1000-row batches)
					rdSame(t, fmt.Sprintf("batch %d, limited", batch), got, want)
				}
			})
		}
	}
}

func rdSame(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: row %d is %s, want %s", what, i, got[i], want[i])
		}
	}
}
