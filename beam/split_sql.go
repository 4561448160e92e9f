package beam

import (
	"context"
	"encoding/json"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage/sqlio"
)

// A database origin with partition_column is read in parts: one range of
// the column each, found by the launcher (with the bounds query when the
// job sets no bounds) and carried whole in the task, so that every worker
// reads the same ranges. Each worker reads its range on its own connection
// (not in one snapshot: see docs/databases.md); the range's number orders
// its rows as the local engine sends them.

// sqlTask is one range of a database origin, as JSON.
type sqlTask struct {
	N     uint32 // the part's place among the origin's parts
	Range sqlio.Range
}

// sqlTasks returns the ranges of a partitioned database origin; nil for
// any other origin, which is read whole.
func sqlTasks(ctx context.Context, c any) ([][]byte, error) {
	rr, ok := c.(sqlio.RangeReader)
	if !ok {
		return nil, nil
	}
	ranges, err := rr.Ranges(ctx)
	if err != nil || ranges == nil {
		return nil, err
	}
	out := make([][]byte, len(ranges))
	for i, r := range ranges {
		if out[i], err = json.Marshal(sqlTask{N: uint32(i), Range: r}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readSQLRange reads the range of task.
func readSQLRange(ctx context.Context, rr sqlio.RangeReader, task []byte, send func(arrow.RecordBatch) error) error {
	var t sqlTask
	if err := json.Unmarshal(task, &t); err != nil {
		return err
	}
	return rr.PumpRange(ctx, memory.DefaultAllocator, t.Range, send)
}
