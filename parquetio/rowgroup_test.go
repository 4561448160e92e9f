package parquetio

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage/openstagetest"
)

// TestReadRowGroup: reading a planned origin's row groups one by one (as a
// distributed runner does) gives Pump's rows, in batches that never span
// two groups.
func TestReadRowGroup(t *testing.T) {
	path := tempPath(t, "abc.parquet")
	mustWrite(t, path, abc, abcRows(2500), 1000, func(d *ParquetDestination) { d.RowGroupRows = 700 })
	var o *ParquetOrigin
	sink := mustRead(t, path, func(p *ParquetOrigin) { o = p; p.BatchRows = 500 })
	n, err := o.RowGroups()
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Fatalf("%d row groups, want 4 (2500 rows by 700)", n)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var rows [][]any
	for rg := range n {
		var inGroup int64
		skipped, err := o.ReadRowGroup(context.Background(), mem, rg, func(rec arrow.RecordBatch) error {
			inGroup += rec.NumRows()
			rows = append(rows, openstagetest.RowsOf(rec)...)
			return nil
		})
		if err != nil || skipped != 0 {
			t.Fatalf("row group %d: skipped %d, %v", rg, skipped, err)
		}
		if want := min(700, 2500-int64(rg)*700); inGroup != want {
			t.Errorf("row group %d gave %d rows, want %d", rg, inGroup, want)
		}
	}
	if fmt.Sprint(rows) != fmt.Sprint(sink.Rows) {
		t.Fatalf("the row groups' rows differ from Pump's (%d against %d rows)", len(rows), len(sink.Rows))
	}
	if _, err := o.ReadRowGroup(context.Background(), mem, 4, func(arrow.RecordBatch) error { return nil }); err == nil {
		t.Fatal("row group 5 of 4 was read")
	}
}
