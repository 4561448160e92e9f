package stages_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

// forkJoinRows returns n rows (k, "v<k>") for k = 0..n-1.
func forkJoinRows(n int) [][]any {
	var rows [][]any
	for i := range n {
		rows = append(rows, []any{int64(i), fmt.Sprintf("v%d", i)})
	}
	return rows
}

var forkJoinSchema = openstage.NewSchema("k", openstage.Int64, "v", openstage.String)

// Two origins each feed two Joiners that read them in opposite orders (j1
// builds on s2, j2 on s1). No input of either Joiner shares an ancestor with
// the other, but the graph has a cycle through both: reading the build side
// alone would deadlock, each origin waiting for the Joiner that reads the
// other one first. Plan.ForkJoin sees it, and the Joiners buffer.
func TestJoinersCrossingForks(t *testing.T) {
	rows := forkJoinRows(400)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s1 := openstage.NewStage("s1", &openstagetest.Source{Schema: forkJoinSchema, Rows: rows, BatchRows: 4})
	s2 := openstage.NewStage("s2", &openstagetest.Source{Schema: forkJoinSchema, Rows: rows, BatchRows: 4})
	join := func(name, left, right string) *openstage.Stage {
		return openstage.New(name, func(j *stages.Joiner) {
			j.Left, j.Right, j.Key, j.Suffixes, j.Build = left, right, openstage.Strings{"k"}, []string{"_l", "_r"}, "right"
		})
	}
	j1, j2 := join("j1", "a1", "b1"), join("j2", "a2", "b2")
	s1.AddOutputPipe(openstage.NewPipe("a1")).SetDestination(j1)
	s2.AddOutputPipe(openstage.NewPipe("b1")).SetDestination(j1)
	s2.AddOutputPipe(openstage.NewPipe("a2")).SetDestination(j2)
	s1.AddOutputPipe(openstage.NewPipe("b2")).SetDestination(j2)
	out1, out2 := &openstagetest.Sink{}, &openstagetest.Sink{}
	j1.AddOutputPipe(openstage.NewPipe("o1")).SetDestination(openstage.NewStage("out1", out1))
	j2.AddOutputPipe(openstage.NewPipe("o2")).SetDestination(openstage.NewStage("out2", out2))
	job := openstage.NewJob("crossing", s1, s2)
	job.Allocator = mem
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := job.Run(ctx); err != nil {
		t.Fatal(err)
	}
	var want [][]any
	for _, r := range rows {
		want = append(want, []any{r[0], r[1], r[1]})
	}
	routeSameRows(t, out1.Rows, want)
	routeSameRows(t, out2.Rows, want)
}

// slowStart passes its input on after a delay, as a slow origin or a
// long-running upstream stage would.
type slowStart struct{ delay time.Duration }

func (s slowStart) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(p.InputSchema())
	return nil
}

func (s slowStart) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	for {
		dp, err := in.Recv(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		err = out.Send(ctx, dp.Batch)
		dp.Batch.Release()
		if err != nil {
			return err
		}
	}
}

// Without a fork-join, a Joiner whose build side is slow to come waits for
// it and holds none of the probe side: the probe's origin waits on
// backpressure instead.
func TestJoinerSlowBuildHoldsNothing(t *testing.T) {
	rows := forkJoinRows(2000)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	users := openstage.NewStage("users", &openstagetest.Source{Schema: forkJoinSchema, Rows: rows[:100], BatchRows: 10})
	slow := openstage.NewStage("slow", slowStart{1200 * time.Millisecond})
	orders := openstage.NewStage("orders", &openstagetest.Source{Schema: forkJoinSchema, Rows: rows, BatchRows: 10})
	join := openstage.New("join", func(j *stages.Joiner) {
		j.Left, j.Right, j.Key, j.Suffixes, j.Build, j.JoinType = "orders", "users", openstage.Strings{"k"}, []string{"_o", "_u"}, "right", "left"
	})
	sink := &openstagetest.Sink{}
	users.AddOutputPipe(openstage.NewPipe("to_slow")).SetDestination(slow)
	slow.AddOutputPipe(openstage.NewPipe("users")).SetDestination(join)
	orders.AddOutputPipe(openstage.NewPipe("orders")).SetDestination(join)
	join.AddOutputPipe(openstage.NewPipe("out")).SetDestination(openstage.NewStage("sink", sink))
	job := openstage.NewJob("slow", users, orders)
	job.Allocator = mem
	if err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sink.Rows) != 2000 {
		t.Fatalf("%d rows, want 2000", len(sink.Rows))
	}
	st, _ := job.Summary().Stage("join")
	if st.Counters["rows_buffered"] != 0 {
		t.Fatalf("counters = %v, want no rows buffered", st.Counters)
	}
}

// failSink fails on the first batch it receives.
type failSink struct{}

func (failSink) Plan(context.Context, *openstage.Plan) error { return nil }

func (failSink) Sink(ctx context.Context, in *openstage.Inputs) error {
	dp, err := in.Recv(ctx)
	if err != nil {
		return err
	}
	dp.Batch.Release()
	return fmt.Errorf("disk full")
}

// A job that fails while a fork-join stage holds batches, in memory and in a
// spill file, frees them all: the checked allocator sees no leak.
func TestForkJoinHeldBatchesFreedOnFailure(t *testing.T) {
	var rows [][]any
	for i := range 3000 {
		rows = append(rows, []any{fmt.Sprint(i), int64(i)})
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src := openstage.NewStage("src", &openstagetest.Source{Schema: funnelSchema, Rows: rows, BatchRows: 50})
	cp := stages.NewCopy("copy")
	hold := openstage.NewStage("hold", routeHold{})
	fn := openstage.New("funnel", func(f *stages.Funnel) { f.Mode = "sequence" })
	src.AddOutputPipe(openstage.NewPipe("in")).SetDestination(cp)
	cp.AddOutputPipe(openstage.NewPipe("to_hold")).SetDestination(hold)
	hold.AddOutputPipe(openstage.NewPipe("first")).SetDestination(fn)
	cp.AddOutputPipe(openstage.NewPipe("second")).SetDestination(fn)
	fn.AddOutputPipe(openstage.NewPipe("out")).SetDestination(openstage.NewStage("sink", failSink{}))
	job := openstage.NewJob("fork", src)
	job.Allocator, job.MemoryLimit, job.TempDir = mem, 8<<10, t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := job.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v, want the sink's", err)
	}
	st, _ := job.Summary().Stage("funnel")
	if st.Counters["spilled_rows"] == 0 {
		t.Fatalf("counters = %v, want rows spilled before the failure", st.Counters)
	}
}
