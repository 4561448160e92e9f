package outofcore

import (
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/spill"
)

// SeqConfig is what a SeqReader needs from the stage's plan.
type SeqConfig struct {
	forkJoin bool   // openstage.Plan.ForkJoin
	budget   int64  // bytes of early batches held in memory before spilling
	tempDir  string // for spill files
}

func SeqConfigOf(p *openstage.Plan) SeqConfig {
	return SeqConfig{forkJoin: p.ForkJoin(), budget: p.MemoryBudget(), tempDir: p.TempDir()}
}

// SeqReader returns the batches of several input pipes one pipe after
// the other: every batch of pipes[0], then every batch of pipes[1], ... It is
// how Joiner and Lookup read their build side before their probe side, and
// how Funnel reads its inputs in sequence.
//
// Reading only the current pipe lets the others' producers wait on
// backpressure, which holds nothing in memory, and is safe unless the
// stage's inputs are connected upstream (openstage.Plan.ForkJoin: a Copy
// feeding a Joiner both directly and through an Aggregator). Then the
// upstream stage would block on the full later pipe and the current pipe
// would never end: a deadlock. So in a fork-join the reader takes whatever
// any pipe has and keeps the batches of later pipes until their turn,
// counting their rows as "rows_buffered": in memory up to the budget, then in
// spill files ("spilled_rows").
type SeqReader struct {
	in      *openstage.Inputs
	out     *openstage.Outputs
	cfg     SeqConfig
	pipes   []string
	cur     int
	eof     []bool
	pending []seqQueue // batches received ahead of their pipe's turn
	held    int64      // bytes of pending batches in memory
}

func NewSeqReader(in *openstage.Inputs, out *openstage.Outputs, cfg SeqConfig, pipes ...string) *SeqReader {
	return &SeqReader{
		in: in, out: out, cfg: cfg, pipes: pipes,
		eof:     make([]bool, len(pipes)),
		pending: make([]seqQueue, len(pipes)),
	}
}

// Next returns the next batch and the index of its pipe in pipes, or io.EOF
// when every pipe has ended. The caller owns the batch.
func (r *SeqReader) Next(ctx context.Context) (arrow.RecordBatch, int, error) {
	for r.cur < len(r.pipes) {
		i := r.cur
		rec, size, err := r.pending[i].pop(r.out.Allocator())
		if err != nil {
			return nil, i, err
		}
		if rec != nil {
			r.held -= size
			return rec, i, nil
		}
		if r.eof[i] {
			r.cur++
			continue
		}
		if !r.cfg.forkJoin {
			rec, err := r.in.RecvFrom(ctx, r.pipes[i])
			switch {
			case err == nil:
				return rec, i, nil
			case err == io.EOF:
				r.eof[i] = true
				continue
			}
			return nil, i, err
		}
		dp, err := r.in.Recv(ctx)
		if err == io.EOF {
			for k := range r.eof {
				r.eof[k] = true
			}
			continue
		}
		if err != nil {
			return nil, i, err
		}
		j := r.index(dp.Pipe)
		if j == i {
			return dp.Batch, i, nil
		}
		if j < i {
			// An earlier pipe has ended, so this cannot happen.
			dp.Batch.Release()
			return nil, i, fmt.Errorf("internal error: batch from pipe '%s' after it ended", dp.Pipe)
		}
		if err := r.hold(j, dp.Batch); err != nil {
			return nil, i, err
		}
		// Recv does not say when the current pipe ends; look without waiting.
		if rec := r.poll(ctx, i); rec != nil {
			return rec, i, nil
		}
	}
	return nil, -1, io.EOF
}

// hold keeps rec, a batch of pipe j, until j's turn.
func (r *SeqReader) hold(j int, rec arrow.RecordBatch) error {
	n := rec.NumRows()
	r.out.Count("rows_buffered", n)
	size := spill.Size(rec)
	q := &r.pending[j]
	if q.w == nil && r.held+size <= r.cfg.budget {
		q.mem = append(q.mem, rec)
		q.sizes = append(q.sizes, size)
		r.held += size
		return nil
	}
	defer rec.Release()
	if q.w == nil {
		w, err := spill.NewWriter(r.cfg.tempDir, rec.Schema(), r.out.Allocator())
		if err != nil {
			return err
		}
		q.w = w
		r.out.Count("spill_runs", 1)
	}
	if err := q.w.Write(rec); err != nil {
		return err
	}
	r.out.Count("spilled_rows", n)
	return nil
}

// seqQueue holds the batches of one pipe received ahead of its turn, in
// arrival order: first those in memory, then those in a spill file. All
// pushes come before the first pop (a pipe's batches are held only before
// its turn).
type seqQueue struct {
	mem   []arrow.RecordBatch
	sizes []int64
	w     *spill.Writer // spilling
	run   *spill.Run    // spilled, being read
	rd    *spill.Reader
}

// pop returns the next batch and its size in memory when it was held
// there, or nil when the queue is empty.
func (q *seqQueue) pop(alloc memory.Allocator) (arrow.RecordBatch, int64, error) {
	if len(q.mem) > 0 {
		rec, size := q.mem[0], q.sizes[0]
		q.mem[0] = nil
		q.mem, q.sizes = q.mem[1:], q.sizes[1:]
		return rec, size, nil
	}
	if q.w != nil {
		run, err := q.w.Finish()
		q.w = nil
		if err != nil {
			return nil, 0, err
		}
		q.run = run
		if q.rd, err = run.Open(alloc); err != nil {
			return nil, 0, err
		}
	}
	if q.rd == nil {
		return nil, 0, nil
	}
	rec, err := q.rd.Next()
	if err == io.EOF {
		q.release()
		return nil, 0, nil
	}
	return rec, 0, err
}

func (q *seqQueue) release() {
	for _, rec := range q.mem {
		rec.Release()
	}
	q.mem, q.sizes = nil, nil
	if q.w != nil {
		q.w.Abort()
		q.w = nil
	}
	if q.rd != nil {
		q.rd.Close()
		q.rd = nil
	}
	if q.run != nil {
		q.run.Remove()
		q.run = nil
	}
}

// poll receives from pipe i if it has a batch ready or is known to have
// ended, without waiting: RecvFrom with a cancelled context returns at once.
// It reports the end of the pipe once Recv has seen the pipe closed (Recv
// records that, and RecvFrom then returns io.EOF whatever its context);
// until then the pipe looks idle, which only delays noticing its end to a
// later call.
func (r *SeqReader) poll(ctx context.Context, i int) arrow.RecordBatch {
	done, cancel := context.WithCancel(ctx)
	cancel()
	rec, err := r.in.RecvFrom(done, r.pipes[i])
	if err == io.EOF {
		r.eof[i] = true
	}
	return rec
}

func (r *SeqReader) index(pipe string) int {
	for k, p := range r.pipes {
		if p == pipe {
			return k
		}
	}
	return -1
}

// Release frees the batches still buffered (after an error).
func (r *SeqReader) Release() {
	for k := range r.pending {
		r.pending[k].release()
	}
	r.held = 0
}
