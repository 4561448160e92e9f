package openstage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Live statistics, run limits and stage loggers.
//
// While a job runs, every figure of its summary is kept in atomic counters
// that the stages update as batches move (one atomic add per batch and
// pipe, never per row). Job.Stats reads them at any moment from another
// goroutine: a progress display, a metrics endpoint or a web page polls it a
// few times a second; nothing is pushed to observers on the hot path.

// Counter names with a meaning outside their stage: an AI stage counts the
// tokens of its requests with out.Count(CounterInputTokens, n) and
// out.Count(CounterOutputTokens, n); the run summary shows them as tokens and
// the CLI's metrics export them as openstage_stage_input_tokens_total and
// openstage_stage_output_tokens_total.
const (
	CounterInputTokens  = "input_tokens"
	CounterOutputTokens = "output_tokens"
)

// ProgressReporter is an optional interface of an Origin that knows how far
// through its source it is: Progress returns the bytes read so far and the
// size of the whole source (0 when unknown). The engine calls it from
// another goroutine while Pump runs (Job.Stats), so it must be safe for
// that; keep two atomic counters. CSVOrigin implements it.
type ProgressReporter interface {
	Progress() (read, total int64)
}

// ErrTooManyRejects is returned (wrapped, naming the stage that rejected the
// row over the limit) when a job with Job.MaxRejects set rejects more rows
// than that in total.
var ErrTooManyRejects = errors.New("too many rejected rows")

// errRowLimit stops an origin that has sent Job.RowLimit rows.
var errRowLimit = errors.New("row limit reached")

// liveRun is the state of a run that Stats reads.
type liveRun struct {
	job   string
	rts   []*stageRT
	start time.Time
	end   atomic.Int64 // unix nanoseconds; 0 while running
	err   atomic.Pointer[errBox]
}

type errBox struct{ err error }

// Stats returns the figures of the job's current run, as they are at this
// moment, or of its last run once it has finished (nil before the first
// Run gets past validation). It may be called from any goroutine while Run
// runs: every count is read from the counters the stages update, so the
// figures of different stages may be a batch apart. Summary.Running tells
// whether the run is still going.
func (j *Job) Stats() *Summary {
	lr := j.live.Load()
	if lr == nil {
		return nil
	}
	return lr.snapshot()
}

func (lr *liveRun) snapshot() *Summary {
	now := time.Now()
	s := &Summary{Job: lr.job, Start: lr.start, Running: true}
	if e := lr.end.Load(); e != 0 {
		s.End = time.Unix(0, e)
		s.Running = false
		s.Elapsed = s.End.Sub(lr.start)
		if b := lr.err.Load(); b != nil {
			s.Err = b.err
		}
	} else {
		s.Elapsed = now.Sub(lr.start)
	}
	for _, rt := range lr.rts {
		st, pipes := rt.stats(now)
		s.Stages = append(s.Stages, st)
		s.Pipes = append(s.Pipes, pipes...)
	}
	return s
}

// stats reads the figures of one stage and its output pipes.
func (rt *stageRT) stats(now time.Time) (StageStats, []PipeStats) {
	st := StageStats{Stage: rt.stage.name, Type: rt.stage.typ, RowsIn: rt.rowsIn.Load(), BatchesIn: rt.batchesIn.Load()}
	if t := rt.start.Load(); t != 0 {
		st.Start = time.Unix(0, t)
		if e := rt.end.Load(); e != 0 {
			st.End = time.Unix(0, e)
			st.Elapsed = st.End.Sub(st.Start)
		} else {
			st.Elapsed = now.Sub(st.Start)
		}
	}
	if b := rt.err.Load(); b != nil {
		st.Err = b.err
	}
	var pipes []PipeStats
	for _, p := range rt.out {
		n, b, by := p.rows.Load(), p.batches.Load(), p.bytes.Load()
		if p.reject {
			st.Rejected += n
		} else {
			st.RowsOut += n
			st.BatchesOut += b
			st.BytesOut += by
		}
		pipes = append(pipes, PipeStats{Pipe: p.pipe.name, From: rt.stage.name, To: p.pipe.to.name, Rows: n, Batches: b, Bytes: by, Reject: p.reject})
	}
	rt.counters.Range(func(k, v any) bool {
		if st.Counters == nil {
			st.Counters = map[string]int64{}
		}
		st.Counters[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	if pr, ok := rt.stage.comp.(ProgressReporter); ok {
		st.BytesRead, st.BytesTotal = pr.Progress()
	}
	return st, pipes
}

// rejectLimit is the job's count of rejected rows against Job.MaxRejects.
type rejectLimit struct {
	max int64
	n   atomic.Int64
}

func (l *rejectLimit) add(n int64) error {
	if l == nil {
		return nil
	}
	if total := l.n.Add(n); total > l.max {
		return fmt.Errorf("%w: the job has rejected %d rows, more than the %d allowed (Job.MaxRejects, the CLI's --max-rejects); look at the reject pipes' error column for why", ErrTooManyRejects, total, l.max)
	}
	return nil
}

// batchBytes is the size of the data of a batch's rows in Arrow memory:
// values, offsets and validity, counted for the rows of the batch only (a
// slice of a larger batch counts its own rows, not the shared buffers).
func batchBytes(rec arrow.RecordBatch) int64 {
	var n int64
	for _, col := range rec.Columns() {
		n += arrayBytes(col)
	}
	return n
}

func arrayBytes(a arrow.Array) int64 {
	rows := int64(a.Len())
	var n int64
	if a.NullN() > 0 {
		n += (rows + 7) / 8
	}
	switch x := a.(type) {
	case *array.String:
		n += int64(len(x.ValueBytes())) + 4*(rows+1)
	case *array.Binary:
		n += int64(len(x.ValueBytes())) + 4*(rows+1)
	case *array.LargeString:
		n += int64(len(x.ValueBytes())) + 8*(rows+1)
	case *array.Boolean:
		n += (rows + 7) / 8
	default:
		if fw, ok := a.DataType().(arrow.FixedWidthDataType); ok {
			n += rows * int64(fw.BitWidth()) / 8
			break
		}
		for _, b := range a.Data().Buffers() {
			if b != nil {
				n += int64(b.Len())
			}
		}
		for _, c := range a.Data().Children() {
			arr := array.MakeFromData(c)
			n += arrayBytes(arr)
			arr.Release()
		}
	}
	return n
}

var discardLogger = slog.New(slog.DiscardHandler)

// stageLogger is the logger a stage's component gets: the job's, with the
// job's and the stage's names and the stage's type on every record.
func (j *Job) stageLogger(s *Stage) *slog.Logger {
	if j.Logger == nil {
		return discardLogger
	}
	return j.Logger.With("job", j.Name, "stage", s.name, "type", s.typ)
}

func (j *Job) jobLogger() *slog.Logger {
	if j.Logger == nil {
		return nil
	}
	return j.Logger.With("job", j.Name)
}

// Logger returns the logger of the stage being planned: records carry the
// job, the stage and its type. It never returns nil (without Job.Logger it
// discards everything).
func (p *Plan) Logger() *slog.Logger { return p.logger }

// Logger returns the stage's logger (job, stage and type on every record),
// for warnings and retries:
//
//	out.Logger().Warn("retrying request", "attempt", n, "wait", d, "error", err)
//
// It never returns nil.
func (o *Outputs) Logger() *slog.Logger { return o.st.logger }

// Logger returns the stage's logger, as Outputs.Logger.
func (in *Inputs) Logger() *slog.Logger { return in.st.logger }

// Logger returns the stage's logger, as Outputs.Logger.
func (e *Emitter) Logger() *slog.Logger { return e.st.logger }

// logStageEnd writes the stage-finished record (and a warning for rows
// rejected).
func (j *Job) logStageEnd(rt *stageRT, err error) {
	if j.Logger == nil {
		return
	}
	st, _ := rt.stats(time.Now())
	attrs := []any{"rows_in", st.RowsIn, "rows_out", st.RowsOut, "rejected", st.Rejected, "batches_in", st.BatchesIn, "batches_out", st.BatchesOut, "elapsed_seconds", st.Elapsed.Seconds()}
	for _, k := range sortedKeys(st.Counters) {
		attrs = append(attrs, k, st.Counters[k])
	}
	if err != nil {
		rt.logger.Error("stage failed", append(attrs, "error", j.redact.wrap(err))...)
		return
	}
	if st.Rejected > 0 {
		var pipes []string
		for _, p := range rt.out {
			if p.reject {
				pipes = append(pipes, p.pipe.name)
			}
		}
		rt.logger.Warn("rows rejected", "rejected", st.Rejected, "pipes", pipes)
	}
	rt.logger.Info("stage finished", attrs...)
}

func (j *Job) logJobStart(ctx context.Context, order []*Stage) {
	if l := j.jobLogger(); l != nil {
		l.InfoContext(ctx, "job started", "stages", len(order), "pipes", len(j.Pipes()), "workers", j.workers(), "memory_limit", j.memoryLimit(), "row_limit", j.RowLimit)
	}
}

func (j *Job) logJobEnd(s *Summary) {
	l := j.jobLogger()
	if l == nil {
		return
	}
	attrs := []any{"status", s.Status(), "elapsed_seconds", s.Elapsed.Seconds()}
	var in, out, rej int64
	for _, st := range s.Stages {
		rej += st.Rejected
		if len(st.Counters) > 0 {
			in += st.Counters[CounterInputTokens]
			out += st.Counters[CounterOutputTokens]
		}
	}
	attrs = append(attrs, "rejected", rej)
	if in+out > 0 {
		attrs = append(attrs, "input_tokens", in, "output_tokens", out)
	}
	if s.Err != nil {
		l.Error("job finished", append(attrs, "error", s.Err)...)
		return
	}
	l.Info("job finished", attrs...)
}

// PipeSchema returns the schema of the pipe called name as the last
// Validate or Run planned it (after projection pushdown), and whether it is
// its producer's reject pipe; nil if the job has not been planned or has no
// such pipe.
func (j *Job) PipeSchema(name string) (schema *arrow.Schema, reject bool) {
	for s, p := range j.plans {
		for _, out := range s.outputs {
			if out.name == name {
				return p.schemas[name], p.rejects[name]
			}
		}
	}
	return nil, false
}
