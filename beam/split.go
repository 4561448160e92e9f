package beam

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	beamsdk "github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/bigqueryio"
	"github.com/open-stage/openstage/parquetio"
	"github.com/open-stage/openstage/sqlio"
	"github.com/open-stage/openstage/stages"
)

func init() {
	register.DoFn3x1[context.Context, []byte, func(Elem), error](&splitOriginFn{})
	beamsdk.RegisterType(reflect.TypeOf((*splitTask)(nil)).Elem())
}

// SplitRowsOption is the --beam-option that sets how many rows a
// Generator makes per part (default 1048576, rounded down to whole
// batches); Open-Stage's, not Beam's.
const SplitRowsOption = "openstage_split_rows"

const defaultSplitRows = 1 << 20

// splitTask is one part of an origin other than CSV, as JSON: a Parquet
// row group (From), a Generator's rows From to To-1, or rows From to To-1
// of the result of a BigQuery query job (Result).
type splitTask struct {
	N        uint32 // the part's place among the origin's parts
	From, To int64
	Result   *bigqueryio.Result `json:",omitempty"`
}

// splitTasks cuts an origin into parts read independently; nil when it
// is read whole.
func splitTasks(ctx context.Context, c any, splitRows int64) ([][]byte, error) {
	var tasks []splitTask
	switch c := c.(type) {
	case *parquetio.ParquetOrigin:
		n, err := c.RowGroups()
		if err != nil {
			return nil, err
		}
		for rg := range n {
			tasks = append(tasks, splitTask{N: uint32(rg), From: int64(rg)})
		}
	case *stages.Generator:
		for i, r := range c.Ranges(splitRows) {
			tasks = append(tasks, splitTask{N: uint32(i), From: r[0], To: r[1]})
		}
	case *bigqueryio.GCPBigQueryOrigin:
		// The launcher runs the query once; the workers read its result
		// (kept by BigQuery) in ranges of splitRows rows.
		res, err := c.RunQuery(ctx)
		if err != nil {
			return nil, err
		}
		for i, from := 0, int64(0); from < res.Rows; i, from = i+1, from+splitRows {
			tasks = append(tasks, splitTask{N: uint32(i), From: from, To: min(res.Rows, from+splitRows), Result: &res})
		}
		if len(tasks) == 0 { // an empty result: one part, for the schema's sake
			tasks = append(tasks, splitTask{Result: &res})
		}
	default:
		return sqlTasks(ctx, c)
	}
	out := make([][]byte, len(tasks))
	for i, t := range tasks {
		data, err := json.Marshal(t)
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

// splitOriginFn reads one part of a ParquetOrigin (a row group), of a
// Generator (a range of rows) or of a GCPBigQueryOrigin (a range of its
// query's result).
type splitOriginFn struct{ stageBase }

func (f *splitOriginFn) Setup(ctx context.Context) error { return f.setup(ctx) }

func (f *splitOriginFn) ProcessElement(ctx context.Context, task []byte, emit func(Elem)) error {
	var t splitTask
	if err := json.Unmarshal(task, &t); err != nil {
		return err
	}
	ctx, done := workCtx(ctx)
	defer done()
	st := f.job.Stage(f.Stage)
	var seq uint32
	send := func(rec arrow.RecordBatch) error {
		p := pos(nil, uint32(f.Index), t.N, seq)
		seq++
		return f.send(ctx, 0, p, rec, emit)
	}
	var err error
	switch c := st.Component().(type) {
	case *parquetio.ParquetOrigin:
		var skipped int64
		skipped, err = c.ReadRowGroup(ctx, memory.DefaultAllocator, int(t.From), send)
		if skipped > 0 {
			f.counters(ctx, map[string]int64{"row_groups_skipped": skipped})
		}
	case *stages.Generator:
		err = c.PumpRange(ctx, memory.DefaultAllocator, t.From, t.To, send)
	case *bigqueryio.GCPBigQueryOrigin:
		if t.Result == nil {
			err = fmt.Errorf("part %d of BigQuery origin '%s' names no query job", t.N, f.Stage)
			break
		}
		err = c.ReadRange(ctx, memory.DefaultAllocator, *t.Result, t.From, t.To, send)
	case sqlio.RangeReader:
		err = readSQLRange(ctx, c, task, send)
	default:
		err = fmt.Errorf("stage '%s' is a %s on this worker, not an origin read in parts", f.Stage, st.Type())
	}
	if err != nil {
		return userErr(&openstage.StageError{Stage: st, Err: err})
	}
	return nil
}
