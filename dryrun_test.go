package openstage_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
)

// remote stands for a stage that calls a paid service: in a dry run it
// describes each batch on Plan.DryRun instead and emits nothing.
type remote struct {
	planned bool
	w       interface{ Write([]byte) (int, error) }
}

func (r *remote) Plan(_ context.Context, p *openstage.Plan) error {
	r.w = p.DryRun()
	r.planned = r.w != nil
	p.SetOutputs(p.InputSchema())
	return nil
}

func (r *remote) ProcessBatch(_ context.Context, dp openstage.DataPackage, out *openstage.Emitter) error {
	if r.w != nil {
		fmt.Fprintf(r.w, "would send %d rows from row %d\n", dp.Batch.NumRows(), dp.FirstRow+1)
		return nil
	}
	out.Send(dp.Batch)
	return nil
}

func (r *remote) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	return openstage.BatchProcess(ctx, r, in, out)
}

// TestDryRun: Plan.DryRun is the job's writer in a dry run and nil otherwise,
// and a dry run commits no destination.
func TestDryRun(t *testing.T) {
	for _, dry := range []bool{false, true} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		r := &remote{}
		c := &committer{}
		src := openstage.NewStage("reader", &openstagetest.Source{Schema: nSchema, Rows: intRows(10), BatchRows: 4})
		src.AddOutputPipe(openstage.NewPipe("a")).SetDestination(openstage.NewStage("ai", r)).
			AddOutputPipe(openstage.NewPipe("b")).SetDestination(openstage.NewStage("w", c))
		job := openstage.NewJob("j", src)
		job.Allocator = mem
		job.Workers = 3
		var buf bytes.Buffer
		if dry {
			job.DryRun = &buf
		}
		if err := job.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		mem.AssertSize(t, 0)
		if r.planned != dry {
			t.Errorf("dry=%v: Plan.DryRun() set = %v", dry, r.planned)
		}
		// A dry run commits nothing and aborts every committer.
		if c.committed == dry || c.aborted != dry {
			t.Errorf("dry=%v: committed=%v aborted=%v", dry, c.committed, c.aborted)
		}
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if dry {
			want := []string{"would send 4 rows from row 1", "would send 4 rows from row 5", "would send 2 rows from row 9"}
			got := append([]string{}, lines...)
			// The three batches run on three workers: any order, whole lines.
			if len(got) != 3 || !sameSet(got, want) {
				t.Errorf("dry run wrote %q, want %q", got, want)
			}
			if rows := len(c.sink.Rows); rows != 0 {
				t.Errorf("dry run sent %d rows downstream", rows)
			}
		} else if buf.Len() != 0 || len(c.sink.Rows) != 10 {
			t.Errorf("normal run: wrote %q, %d rows downstream", buf.String(), len(c.sink.Rows))
		}
	}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}
