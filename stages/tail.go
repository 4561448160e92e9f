package stages

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
)

// Tail passes on the last rows of its input (DataStage's Tail stage): the
// last `rows` rows, or with key the last `rows` rows of each distinct key,
// in input order, once the input has ended.
//
// Without key it holds the batches that hold the last rows (about `rows`
// rows plus one batch); with key, the last rows of each key, in the input
// batches that contain them, compacted into one batch as they thin out.
// It holds these in memory: `rows` times the number of distinct keys rows
// at most.
type Tail struct {
	Rows int64             `param:"rows" default:"10" doc:"How many rows to pass on (per key, with key)."`
	Key  openstage.Strings `param:"key" doc:"Column or list of columns: pass on the last rows of each distinct key instead of the last rows overall."`

	keyCols []int
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "Tail",
		Layer:   openstage.Transformation,
		Summary: "Passes on the last N rows of its input, or the last N rows of each distinct key.",
		Doc: `rows is how many rows to pass on (default 10); with key, that many rows of
each distinct key (nulls in a key equal each other). The rows are sent in
input order once the input has ended.

Memory: without key, about rows rows plus one batch; with key, the last
rows of each key (rows times the number of distinct keys at most), held in
memory.`,
		Example: `- name: last_orders
  type: Tail
  rows: 100

- name: last3_per_user
  type: Tail
  rows: 3
  key: user_id`,
		New: func() any { return &Tail{} },
	})
}

// NewTail returns a Tail stage passing on the last rows rows (of each key,
// when key is given).
func NewTail(name string, rows int64, key ...string) *openstage.Stage {
	return openstage.New(name, func(t *Tail) { t.Rows, t.Key = rows, key })
}

// Connectivity implements the optional connectivity interface: one input, one output.
func (t *Tail) Connectivity() openstage.Connectivity { return openstage.OneToOne }

// Plan checks rows and the key columns.
func (t *Tail) Plan(_ context.Context, p *openstage.Plan) error {
	in := p.InputSchema()
	if t.Rows < 1 {
		return fmt.Errorf("rows must be 1 or more, got %d", t.Rows)
	}
	keyCols, err := keyColumns(in, t.Key)
	if err != nil {
		return err
	}
	t.keyCols = keyCols
	passThrough(p, t.Key...)
	p.SetOutputs(in)
	return nil
}

// Process holds the last rows and sends them at the end of the input.
func (t *Tail) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	if len(t.keyCols) > 0 {
		return t.perKey(ctx, in, out)
	}
	var queue []arrow.RecordBatch
	var total int64
	defer func() {
		for _, r := range queue {
			r.Release()
		}
	}()
	err := in.ForEach(ctx, func(dp openstage.DataPackage) error {
		if dp.Batch.NumRows() == 0 {
			return nil
		}
		dp.Batch.Retain()
		queue = append(queue, dp.Batch)
		total += dp.Batch.NumRows()
		for len(queue) > 1 && total-queue[0].NumRows() >= t.Rows {
			total -= queue[0].NumRows()
			queue[0].Release()
			queue = queue[1:]
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, r := range queue {
		if skip := total - t.Rows; i == 0 && skip > 0 {
			s := r.NewSlice(skip, r.NumRows())
			err = out.Send(ctx, s)
			s.Release()
		} else {
			err = out.Send(ctx, r)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// perKey keeps the last rows of each key, then sends them in input order.
func (t *Tail) perKey(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	k := newTopKeeper(nil, false, t.Rows, t.keyCols)
	defer k.release()
	var rings []tailRing
	alloc := out.Allocator()
	err := in.ForEach(ctx, func(dp openstage.DataPackage) error {
		if dp.Batch.NumRows() == 0 {
			return nil
		}
		dp.Batch.Retain()
		k.addLast(dp.Batch, &rings)
		if k.store.held > max(2*k.store.compact, rdCompactMin) {
			surv, err := k.compactAll(alloc)
			if err != nil {
				return err
			}
			surv.Release()
		}
		return nil
	})
	if err != nil {
		return err
	}
	surv, err := k.compactAll(alloc)
	if err != nil || surv == nil {
		return err
	}
	defer surv.Release()
	return kernel.SendPermuted(ctx, out, surv, inputOrder(k.ents))
}
