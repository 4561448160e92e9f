package stages

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
)

// routeStallTimeout is how long a routeSeqReader waits for the pipe it is
// reading before it suspects a fork-join deadlock and starts buffering the
// other pipes.
const routeStallTimeout = time.Second

// routeSeqReader returns the batches of several input pipes one pipe after
// the other: every batch of pipes[0], then every batch of pipes[1], ... It is
// how Joiner and Lookup read their build side before their probe side, and
// how Funnel reads its inputs in sequence.
//
// Reading only the current pipe lets the others' producers wait on
// backpressure, which holds nothing in memory. But when two inputs come from
// the same upstream stage (a Copy feeding a Joiner both directly and through
// an Aggregator), that upstream blocks on the full later pipe and the current
// pipe never ends: a deadlock. So when the current pipe delivers nothing for
// routeStallTimeout, the reader takes whatever any pipe has and keeps the
// batches of later pipes in memory until their turn, counting their rows in
// the stage's "rows_buffered" counter.
type routeSeqReader struct {
	in      *openstage.Inputs
	out     *openstage.Outputs
	pipes   []string
	cur     int
	eof     []bool
	pending [][]arrow.RecordBatch // batches received ahead of their pipe's turn
	drain   bool                  // the current pipe stalled: receive from any pipe
	stall   time.Duration
}

func newRouteSeqReader(in *openstage.Inputs, out *openstage.Outputs, pipes ...string) *routeSeqReader {
	return &routeSeqReader{
		in: in, out: out, pipes: pipes,
		eof:     make([]bool, len(pipes)),
		pending: make([][]arrow.RecordBatch, len(pipes)),
		stall:   routeStallTimeout,
	}
}

// Next returns the next batch and the index of its pipe in pipes, or io.EOF
// when every pipe has ended. The caller owns the batch.
func (r *routeSeqReader) Next(ctx context.Context) (arrow.RecordBatch, int, error) {
	for r.cur < len(r.pipes) {
		i := r.cur
		if q := r.pending[i]; len(q) > 0 {
			rec := q[0]
			q[0] = nil
			r.pending[i] = q[1:]
			return rec, i, nil
		}
		if r.eof[i] {
			r.cur++
			r.drain = false
			continue
		}
		if !r.drain {
			tctx, cancel := context.WithTimeout(ctx, r.stall)
			rec, err := r.in.RecvFrom(tctx, r.pipes[i])
			cancel()
			switch {
			case err == nil:
				return rec, i, nil
			case err == io.EOF:
				r.eof[i] = true
			case ctx.Err() != nil:
				return nil, i, ctx.Err()
			case errors.Is(err, context.DeadlineExceeded):
				r.drain = true
			default:
				return nil, i, err
			}
			continue
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
		r.pending[j] = append(r.pending[j], dp.Batch)
		r.out.Count("rows_buffered", dp.Batch.NumRows())
		// Recv does not say when the current pipe ends; look without waiting.
		if rec := r.poll(ctx, i); rec != nil {
			return rec, i, nil
		}
	}
	return nil, -1, io.EOF
}

// poll receives from pipe i if it has a batch ready or is known to have
// ended, without waiting: RecvFrom with a cancelled context returns at once.
// It reports the end of the pipe once Recv has seen the pipe closed (Recv
// records that, and RecvFrom then returns io.EOF whatever its context);
// until then the pipe looks idle, which only delays noticing its end to a
// later call.
func (r *routeSeqReader) poll(ctx context.Context, i int) arrow.RecordBatch {
	done, cancel := context.WithCancel(ctx)
	cancel()
	rec, err := r.in.RecvFrom(done, r.pipes[i])
	if err == io.EOF {
		r.eof[i] = true
	}
	return rec
}

func (r *routeSeqReader) index(pipe string) int {
	for k, p := range r.pipes {
		if p == pipe {
			return k
		}
	}
	return -1
}

// Release frees the batches still buffered (after an error).
func (r *routeSeqReader) Release() {
	for k, q := range r.pending {
		for _, rec := range q {
			rec.Release()
		}
		r.pending[k] = nil
	}
}
