package parquetio

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

// TestFilterSkipsRowGroups reads a file of 20 row groups, each holding a
// narrow range of values (and one only nulls), through ParquetOrigin →
// Filter, with the filter folded into the origin and as written: the rows
// must be identical, and the groups the statistics rule out skipped.
func TestFilterSkipsRowGroups(t *testing.T) {
	schema := openstage.NewSchema("n", openstage.Int64, "f", openstage.Float64, "s", openstage.String,
		"d", openstage.Date, "b", openstage.Bool, "t", openstage.Timestamp)
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	words := []string{"apple", "banana", "cherry", "date", "éclair", "fig", "grape", "日本", "zz"}
	var rows [][]any
	for g := range 20 {
		for i := range 300 {
			if g == 7 {
				rows = append(rows, []any{nil, nil, nil, nil, nil, nil})
				continue
			}
			f := float64(g) + float64(i)/1000
			if i == 5 {
				f = math.NaN()
			}
			var n any = int64(g*1000 + i)
			if i%50 == 0 {
				n = nil
			}
			rows = append(rows, []any{n, f, words[g%len(words)], day.AddDate(0, 0, g), g%3 == 0, day.Add(time.Duration(g) * time.Hour)})
		}
	}
	path := filepath.Join(t.TempDir(), "groups.parquet")
	mustWrite(t, path, schema, rows, 1000, func(d *ParquetDestination) { d.RowGroupRows = 300 })
	for _, tc := range []struct {
		field, op string
		value     any
		skipped   int64 // at least
	}{
		{"n", ">", 15000, 15}, {"n", "<", 2000, 17}, {"n", "=", 4005, 19}, {"n", "between", []any{3000, 5999}, 17},
		{"n", "in", []any{1, 19299}, 18}, {"n", "not in", []any{1}, 1}, {"n", "!=", 7, 1}, {"n", "is null", nil, 0},
		{"n", "is not null", nil, 1},
		{"f", ">=", 18.5, 18}, {"f", "<=", 0.2, 18}, {"f", "is null", nil, 0},
		{"s", "=", "日本", 17}, {"s", "<", "b", 17}, {"s", "in", []any{"fig", "zz"}, 15},
		{"d", ">", "2024-01-15", 15}, {"b", "=", true, 13}, {"b", "!=", true, 7},
		{"t", ">", "2024-01-01T10:00:00Z", 0}, // timestamps are not folded
	} {
		t.Run(fmt.Sprintf("%s %s %v", tc.field, tc.op, tc.value), func(t *testing.T) {
			var outs [2]string
			for i, noOpt := range []bool{true, false} {
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				sink := &openstagetest.Sink{}
				org := NewParquetOrigin("reader", path)
				org.AddOutputPipe(openstage.NewPipe("p1")).SetDestination(stages.NewFilter("keep", tc.field, tc.op, tc.value)).
					AddOutputPipe(openstage.NewPipe("p2")).SetDestination(openstage.NewStage("sink", sink))
				job := openstage.NewJob("skip", org)
				job.Allocator, job.NoOptimize = mem, noOpt
				if err := job.Run(context.Background()); err != nil {
					t.Fatal(err)
				}
				mem.AssertSize(t, 0)
				skipped := job.Summary().Stages[0].Counters["row_groups_skipped"]
				if noOpt && skipped != 0 || !noOpt && skipped < tc.skipped {
					t.Fatalf("NoOptimize=%v: %d row groups skipped, want at least %d", noOpt, skipped, tc.skipped)
				}
				outs[i] = fmt.Sprint(sink.Rows)
			}
			if outs[0] != outs[1] {
				t.Fatalf("rows differ:\nas written %.300s\nskipping   %.300s", outs[0], outs[1])
			}
		})
	}
}
