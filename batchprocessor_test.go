package openstage_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
)

// parity is a BatchProcessor with two outputs and a reject pipe: even n to
// "even", odd n to "odd", multiples of 7 rejected with their row number.
// Batches take a random time, so that with several workers they finish out
// of order.
type parity struct {
	rows      int // BatchRows, 0 for none
	inFlight  atomic.Int32
	maxFlight atomic.Int32
	mu        sync.Mutex
	seen      [][2]int64 // FirstRow and rows of each batch
}

func (p *parity) Plan(_ context.Context, pl *openstage.Plan) error {
	in := pl.InputSchema()
	pl.SetOutput("even", in)
	pl.SetOutput("odd", in)
	pl.MarkReject("reject")
	return pl.SetOutput("reject", openstage.NewSchema("n", openstage.Int64, "row", openstage.Int64))
}

func (p *parity) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	return openstage.BatchProcess(ctx, p, in, out)
}

func (p *parity) BatchRows() int { return p.rows }

func (p *parity) ProcessBatch(_ context.Context, dp openstage.DataPackage, out *openstage.Emitter) error {
	n := p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	for {
		m := p.maxFlight.Load()
		if n <= m || p.maxFlight.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
	p.mu.Lock()
	p.seen = append(p.seen, [2]int64{dp.FirstRow, dp.Batch.NumRows()})
	p.mu.Unlock()
	col := dp.Batch.Column(0).(*array.Int64)
	even := openstage.NewBuilder(out.Allocator(), dp.Batch.Schema())
	odd := openstage.NewBuilder(out.Allocator(), dp.Batch.Schema())
	rej := openstage.NewBuilder(out.Allocator(), openstage.NewSchema("n", openstage.Int64, "row", openstage.Int64))
	defer even.Release()
	defer odd.Release()
	defer rej.Release()
	for i := 0; i < col.Len(); i++ {
		v := col.Value(i)
		switch {
		case v%7 == 0:
			rej.Append(v, dp.FirstRow+int64(i))
		case v%2 == 0:
			even.Append(v)
		default:
			odd.Append(v)
		}
	}
	for pipe, b := range map[string]*openstage.Builder{"even": even, "odd": odd, "reject": rej} {
		rec := b.Build()
		err := out.SendTo(pipe, rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	out.Count("batches", 1)
	return nil
}

func runParity(t *testing.T, p *parity, workers, rows, batchRows int) map[string][][]any {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src := openstage.NewStage("src", &openstagetest.Source{Schema: openstage.NewSchema("n", openstage.Int64), Rows: intRows(rows), BatchRows: batchRows})
	node := openstage.NewStage("parity", p)
	src.AddOutputPipe(openstage.NewPipe("in")).SetDestination(node)
	sinks := map[string]*openstagetest.Sink{}
	for _, o := range []string{"even", "odd", "reject"} {
		sinks[o] = &openstagetest.Sink{}
		node.AddOutputPipe(openstage.NewPipe(o)).SetDestination(openstage.NewStage("sink_"+o, sinks[o]))
	}
	job := openstage.NewJob("parity", src)
	job.Allocator, job.Workers = mem, workers
	if err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string][][]any{}
	for o, s := range sinks {
		got[o] = s.Rows
	}
	if st, ok := job.Summary().Stage("parity"); !ok || st.Rejected != int64(len(got["reject"])) || st.Counters["batches"] == 0 {
		t.Fatalf("summary of parity: %+v", st)
	}
	return got
}

// A BatchProcessor gives the same rows, in the same order on every pipe,
// with 1 and with 4 workers, over many more batches than workers; rejected
// rows keep their row numbers.
func TestBatchProcessorOrder(t *testing.T) {
	const rows = 5000
	one := runParity(t, &parity{}, 1, rows, 37)
	p4 := &parity{}
	four := runParity(t, p4, 4, rows, 37)
	for _, pipe := range []string{"even", "odd", "reject"} {
		if len(one[pipe]) == 0 {
			t.Fatalf("pipe %s got nothing", pipe)
		}
		if fmt.Sprint(one[pipe]) != fmt.Sprint(four[pipe]) {
			t.Fatalf("pipe %s differs between 1 and 4 workers", pipe)
		}
	}
	if p4.maxFlight.Load() < 2 {
		t.Fatalf("4 workers never ran two batches at once (max %d)", p4.maxFlight.Load())
	}
	// intRows(n) is 1..n, so row i holds i+1.
	for _, r := range four["reject"] {
		if r[0].(int64) != r[1].(int64)+1 {
			t.Fatalf("rejected row %v has the wrong row number", r)
		}
	}
	var all []int64
	for _, pipe := range []string{"even", "odd", "reject"} {
		for _, r := range four[pipe] {
			all = append(all, r[0].(int64))
		}
	}
	slices.Sort(all)
	if len(all) != rows || all[0] != 1 || all[rows-1] != rows {
		t.Fatalf("rows lost or duplicated: %d rows", len(all))
	}
}

// With BatchRows, the input arrives in batches of exactly that many rows
// whatever the producer's batch size, sliced or concatenated, numbered by
// their first row.
func TestBatchProcessorRebatch(t *testing.T) {
	for _, tc := range []struct{ src, want int }{{7, 10}, {64, 10}, {10, 10}, {3, 1000}} {
		t.Run(fmt.Sprintf("%d_to_%d", tc.src, tc.want), func(t *testing.T) {
			const rows = 995
			p := &parity{rows: tc.want}
			got := runParity(t, p, 3, rows, tc.src)
			if n := len(got["even"]) + len(got["odd"]) + len(got["reject"]); n != rows {
				t.Fatalf("%d rows out, want %d", n, rows)
			}
			slices.SortFunc(p.seen, func(a, b [2]int64) int { return int(a[0] - b[0]) })
			var next int64
			for i, b := range p.seen {
				last := i == len(p.seen)-1
				if b[0] != next || (!last && b[1] != int64(tc.want)) || (last && b[1] != rows-next) {
					t.Fatalf("batch %d is rows %d+%d; batches: %v", i, b[0], b[1], p.seen)
				}
				next += b[1]
			}
			if next != rows {
				t.Fatalf("batches cover %d rows, want %d", next, rows)
			}
		})
	}
}

// failAt fails on the batch holding row n and counts the batches it was
// given: none after the failing one may be processed (a destination must not
// send more after an error).
type failAt struct {
	n     int64
	calls atomic.Int32
	after atomic.Int32
}

func (f *failAt) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(p.InputSchema())
	return nil
}

func (f *failAt) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	return openstage.BatchProcess(ctx, f, in, out)
}

func (f *failAt) ProcessBatch(_ context.Context, dp openstage.DataPackage, out *openstage.Emitter) error {
	f.calls.Add(1)
	if dp.FirstRow > f.n {
		f.after.Add(1)
	}
	if dp.FirstRow <= f.n && f.n < dp.FirstRow+dp.Batch.NumRows() {
		return fmt.Errorf("row %d: bad", f.n)
	}
	out.Send(dp.Batch)
	return nil
}

func TestBatchProcessorStopsAfterError(t *testing.T) {
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprint(workers), func(t *testing.T) {
			for range 20 {
				f := &failAt{n: 55}
				_, err := openstagetest.RunNodeWith(t, f, []openstagetest.Input{{Pipe: "in", Schema: nSchema, Rows: intRows(500), BatchRows: 10}}, []string{"out"}, openstagetest.Workers(workers))
				if err == nil || !strings.Contains(err.Error(), "row 55: bad") {
					t.Fatalf("error %v", err)
				}
				// With one worker nothing after the failing batch runs; with
				// more, only what other workers took before the failure was
				// known (the engine keeps at most 2*workers batches in flight).
				limit := int32(0)
				if workers > 1 {
					limit = int32(2 * workers)
				}
				if f.after.Load() > limit {
					t.Fatalf("%d batches after the failing one were processed (at most %d may have been in flight)", f.after.Load(), limit)
				}
			}
		})
	}
}

// slowFirstFailure fails two batches: the earlier one slowly, the later one
// at once, so that with several workers the later failure is known first.
type slowFirstFailure struct{ early, late int64 }

func (f *slowFirstFailure) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(p.InputSchema())
	return nil
}

func (f *slowFirstFailure) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	return openstage.BatchProcess(ctx, f, in, out)
}

func (f *slowFirstFailure) ProcessBatch(_ context.Context, dp openstage.DataPackage, out *openstage.Emitter) error {
	holds := func(n int64) bool { return dp.FirstRow <= n && n < dp.FirstRow+dp.Batch.NumRows() }
	switch {
	case holds(f.early):
		time.Sleep(20 * time.Millisecond)
		return fmt.Errorf("row %d: bad", f.early)
	case holds(f.late):
		return fmt.Errorf("row %d: bad", f.late)
	}
	out.Send(dp.Batch)
	return nil
}

// The error reported is the first in input order, even when a later batch
// fails first in time: the batches between are not skipped.
func TestBatchProcessorReportsFirstErrorInOrder(t *testing.T) {
	for range 10 {
		f := &slowFirstFailure{early: 15, late: 25}
		_, err := openstagetest.RunNodeWith(t, f, []openstagetest.Input{{Pipe: "in", Schema: nSchema, Rows: intRows(100), BatchRows: 10}}, []string{"out"}, openstagetest.Workers(3))
		if err == nil || !strings.Contains(err.Error(), "row 15: bad") {
			t.Fatalf("error %v, want the one of row 15", err)
		}
	}
}
