package openstage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// StageError is a runtime failure of one stage. Its message names the stage:
// Filter 'adults': ...
type StageError struct {
	Stage *Stage
	Err   error
}

func (e *StageError) Error() string { return e.Stage.String() + ": " + e.Err.Error() }
func (e *StageError) Unwrap() error { return e.Err }

// pipeRT is a pipe while the job runs: a bounded queue of batches.
type pipeRT struct {
	pipe    *Pipe
	ch      chan arrow.RecordBatch
	rows    atomic.Int64
	batches atomic.Int64
	bytes   atomic.Int64
	reject  bool
	rejects *rejectLimit // the job's MaxRejects, on reject pipes; nil: no limit
}

// stageRT is a stage while the job runs.
type stageRT struct {
	stage     *Stage
	in        []*pipeRT
	out       []*pipeRT
	rowsIn    atomic.Int64
	batchesIn atomic.Int64
	counters  sync.Map     // name -> *atomic.Int64
	start     atomic.Int64 // unix nanoseconds; 0 until the stage starts
	end       atomic.Int64 // unix nanoseconds; 0 until it returns
	err       atomic.Pointer[errBox]
	logger    *slog.Logger

	rowLimit int64        // an origin's Job.RowLimit (0: none)
	sent     atomic.Int64 // rows the origin sent, against rowLimit
}

// Inputs gives a Node or Destination the batches of its input pipes.
type Inputs struct {
	st     *stageRT
	closed []bool
	open   int
	rows   []int64 // rows received so far, per pipe (DataPackage.FirstRow)

	// The select cases of Recv over several pipes, rebuilt only when a pipe
	// ends or the context changes.
	cases []reflect.SelectCase
	idx   []int
	done  <-chan struct{}
}

// Pipes returns the names of the input pipes in connection order.
func (in *Inputs) Pipes() []string {
	names := make([]string, len(in.st.in))
	for i, p := range in.st.in {
		names[i] = p.pipe.name
	}
	return names
}

// ForEach calls fn with each batch of any input pipe, whichever has one
// first, until every input pipe has ended; then it returns nil. It returns
// the first error of fn or of receiving (ctx.Err() when cancelled). The
// batch is released when fn returns: fn retains it to keep it.
func (in *Inputs) ForEach(ctx context.Context, fn func(DataPackage) error) error {
	for {
		dp, err := in.Recv(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		err = fn(dp)
		dp.Batch.Release()
		if err != nil {
			return err
		}
	}
}

// Recv returns the next batch from any input pipe, whichever has one first,
// and io.EOF once every input pipe has ended. The caller owns the batch.
func (in *Inputs) Recv(ctx context.Context) (DataPackage, error) {
	if in.open == 0 {
		return DataPackage{}, io.EOF
	}
	if len(in.st.in) == 1 {
		first := in.rows[0]
		rec, err := in.recvFrom(ctx, 0)
		return DataPackage{Pipe: in.st.in[0].pipe.name, Batch: rec, FirstRow: first}, err
	}
	for {
		if in.cases == nil || in.done != ctx.Done() {
			in.done = ctx.Done()
			in.cases = append(in.cases[:0], reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
			in.idx = in.idx[:0]
			for i, p := range in.st.in {
				if !in.closed[i] {
					in.cases = append(in.cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(p.ch)})
					in.idx = append(in.idx, i)
				}
			}
		}
		chosen, v, ok := reflect.Select(in.cases)
		if chosen == 0 {
			return DataPackage{}, ctx.Err()
		}
		i := in.idx[chosen-1]
		if !ok {
			if err := ctx.Err(); err != nil {
				return DataPackage{}, err
			}
			in.closePipe(i)
			if in.open == 0 {
				return DataPackage{}, io.EOF
			}
			continue
		}
		rec := v.Interface().(arrow.RecordBatch)
		in.st.rowsIn.Add(rec.NumRows())
		in.st.batchesIn.Add(1)
		first := in.rows[i]
		in.rows[i] += rec.NumRows()
		return DataPackage{Pipe: in.st.in[i].pipe.name, Batch: rec, FirstRow: first}, nil
	}
}

func (in *Inputs) closePipe(i int) {
	in.closed[i] = true
	in.open--
	in.cases = nil
}

// RecvFrom returns the next batch of the input pipe called pipe, and io.EOF
// when that pipe has ended. The caller owns the batch.
func (in *Inputs) RecvFrom(ctx context.Context, pipe string) (arrow.RecordBatch, error) {
	for i, p := range in.st.in {
		if p.pipe.name == pipe {
			return in.recvFrom(ctx, i)
		}
	}
	return nil, fmt.Errorf("no input pipe '%s'", pipe)
}

func (in *Inputs) recvFrom(ctx context.Context, i int) (arrow.RecordBatch, error) {
	if in.closed[i] {
		return nil, io.EOF
	}
	select {
	case rec, ok := <-in.st.in[i].ch:
		if !ok {
			// An upstream stage that failed closes its outputs only after
			// cancelling the job: then this is not the end of the data.
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			in.closePipe(i)
			return nil, io.EOF
		}
		in.st.rowsIn.Add(rec.NumRows())
		in.st.batchesIn.Add(1)
		in.rows[i] += rec.NumRows()
		return rec, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Outputs lets a stage send batches to its output pipes.
type Outputs struct {
	st    *stageRT
	alloc memory.Allocator
}

// Pipes returns the names of the output pipes in connection order.
func (o *Outputs) Pipes() []string {
	names := make([]string, len(o.st.out))
	for i, p := range o.st.out {
		names[i] = p.pipe.name
	}
	return names
}

// Allocator returns the allocator batches must be built with.
func (o *Outputs) Allocator() memory.Allocator { return o.alloc }

// Send sends rec to every output pipe except reject pipes. It does not take
// the caller's reference (each pipe gets its own); empty batches are skipped.
// It blocks while the pipes are full, and returns ctx.Err() if the job is
// cancelled meanwhile.
//
// In a trial run (Job.RowLimit) an origin's Send passes on only the rows up
// to the limit, then returns an error that stops the origin: an origin
// returns the errors of Send as they are (wrapping is fine), and the engine
// ends it as a success.
func (o *Outputs) Send(ctx context.Context, rec arrow.RecordBatch) error {
	if rec.NumRows() == 0 {
		return nil
	}
	rec, done := o.limit(rec)
	if rec == nil {
		return errRowLimit
	}
	defer rec.Release()
	for _, p := range o.st.out {
		if p.reject {
			continue
		}
		if err := send(ctx, p, rec); err != nil {
			return err
		}
	}
	if done {
		return errRowLimit
	}
	return nil
}

// limit applies an origin's row limit to rec: it returns rec (retained, or
// a slice of it) and whether the limit is now reached; nil when it already
// was.
func (o *Outputs) limit(rec arrow.RecordBatch) (arrow.RecordBatch, bool) {
	if o.st.rowLimit <= 0 {
		rec.Retain()
		return rec, false
	}
	n := rec.NumRows()
	sent := o.st.sent.Add(n)
	switch {
	case sent-n >= o.st.rowLimit:
		return nil, true
	case sent < o.st.rowLimit:
		rec.Retain()
		return rec, false
	case sent == o.st.rowLimit:
		rec.Retain()
		return rec, true
	}
	return rec.NewSlice(0, o.st.rowLimit-(sent-n)), true
}

// SendTo sends rec to the output pipe called pipe only.
func (o *Outputs) SendTo(ctx context.Context, pipe string, rec arrow.RecordBatch) error {
	for _, p := range o.st.out {
		if p.pipe.name == pipe {
			if rec.NumRows() == 0 {
				return nil
			}
			if p.reject {
				return send(ctx, p, rec)
			}
			rec, done := o.limit(rec)
			if rec == nil {
				return errRowLimit
			}
			defer rec.Release()
			if err := send(ctx, p, rec); err != nil {
				return err
			}
			if done {
				return errRowLimit
			}
			return nil
		}
	}
	return fmt.Errorf("no output pipe '%s'", pipe)
}

// Count adds n to the stage's counter called name; the run summary reports
// every counter (for example rows a Switcher matched to no pipe).
func (o *Outputs) Count(name string, n int64) {
	v, _ := o.st.counters.LoadOrStore(name, new(atomic.Int64))
	v.(*atomic.Int64).Add(n)
}

func send(ctx context.Context, p *pipeRT, rec arrow.RecordBatch) error {
	rec.Retain()
	n, size := rec.NumRows(), batchBytes(rec)
	select {
	case p.ch <- rec:
		p.rows.Add(n)
		p.batches.Add(1)
		p.bytes.Add(size)
		if p.reject {
			return p.rejects.add(n)
		}
		return nil
	case <-ctx.Done():
		rec.Release()
		return ctx.Err()
	}
}

// ErrCancelled is returned (wrapped) by Run when its context is cancelled
// from outside, for instance by Ctrl-C.
var ErrCancelled = errors.New("job cancelled")

// Run validates the job, then runs every stage concurrently until all
// finish or one fails. The first failure cancels the others; the error
// returned names the failing stage. Destinations commit only if every stage
// succeeded. Figures of the run are available from Summary afterwards.
func (j *Job) Run(ctx context.Context) error {
	start := time.Now()
	order, err := j.plan(ctx)
	if err != nil {
		return err
	}
	qlen := j.QueueLen
	if qlen <= 0 {
		qlen = 2
	}
	var rejects *rejectLimit
	if j.MaxRejects != nil {
		rejects = &rejectLimit{max: max(0, *j.MaxRejects)}
	}
	pipes := map[*Pipe]*pipeRT{}
	rts := make([]*stageRT, len(order))
	for i, s := range order {
		rt := &stageRT{stage: s, logger: j.stageLogger(s)}
		if s.Kind() == KindOrigin {
			rt.rowLimit = j.originLimit(s)
		}
		for _, p := range s.inputs {
			rt.in = append(rt.in, pipes[p])
		}
		for _, p := range s.outputs {
			prt := &pipeRT{pipe: p, ch: make(chan arrow.RecordBatch, qlen), reject: j.plans[s].rejects[p.name]}
			if prt.reject {
				prt.rejects = rejects
			}
			pipes[p] = prt
			rt.out = append(rt.out, prt)
		}
		rts[i] = rt
	}
	live := &liveRun{job: j.Name, rts: rts, start: start}
	j.live.Store(live)
	j.logJobStart(ctx, order)

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg       sync.WaitGroup
		firstErr error
		errOnce  sync.Once
	)
	fail := func(err error) {
		errOnce.Do(func() {
			firstErr = err
			cancel(err)
		})
	}
	stageFailed := func(rt *stageRT, err error) error {
		err = &StageError{Stage: rt.stage, Err: j.redact.wrap(err)}
		rt.err.CompareAndSwap(nil, &errBox{err})
		return err
	}
	for _, rt := range rts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rt.start.Store(time.Now().UnixNano())
			if j.Logger != nil {
				rt.logger.Info("stage started")
			}
			err := j.runStage(runCtx, rt)
			if rt.rowLimit > 0 && errors.Is(err, errRowLimit) {
				err = nil // a trial run's origin has sent its rows
			}
			rt.end.Store(time.Now().UnixNano())
			// Cancel the job before closing the outputs: downstream stages
			// must see the failure, not an end of stream that would look
			// like success.
			cancelled := errors.Is(err, context.Canceled) && runCtx.Err() != nil
			if err != nil && !cancelled {
				fail(stageFailed(rt, err))
			}
			for _, p := range rt.out {
				close(p.ch)
			}
			// Release whatever is still queued for this stage, so that its
			// producers never block on a stage that has stopped reading.
			for _, p := range rt.in {
				for rec := range p.ch {
					rec.Release()
				}
			}
			if cancelled {
				err = nil // stopped because another stage failed: not its error
			}
			j.logStageEnd(rt, err)
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = fmt.Errorf("%w: %w", ErrCancelled, context.Cause(ctx))
	}
	if firstErr == nil && j.DryRun == nil {
		// Commit in topological order; a failed commit aborts the rest.
		for _, rt := range rts {
			c, ok := rt.stage.comp.(Committer)
			if !ok {
				continue
			}
			if firstErr != nil {
				firstErr = errors.Join(firstErr, j.redact.wrap(wrapAbort(rt.stage, c.Abort())))
				continue
			}
			if err := c.Commit(ctx); err != nil {
				firstErr = stageFailed(rt, fmt.Errorf("commit: %w", err))
			}
		}
	} else {
		for _, rt := range rts {
			if c, ok := rt.stage.comp.(Committer); ok {
				firstErr = errors.Join(firstErr, j.redact.wrap(wrapAbort(rt.stage, c.Abort())))
			}
		}
	}
	for _, rt := range rts {
		if c, ok := rt.stage.comp.(Closer); ok {
			if err := c.Close(); err != nil && firstErr == nil {
				firstErr = stageFailed(rt, fmt.Errorf("close: %w", err))
			}
		}
	}
	if firstErr != nil {
		live.err.Store(&errBox{firstErr})
	}
	live.end.Store(time.Now().UnixNano())
	j.summary = live.snapshot()
	j.logJobEnd(j.summary)
	return firstErr
}

func wrapAbort(s *Stage, err error) error {
	if err == nil {
		return nil
	}
	return &StageError{Stage: s, Err: fmt.Errorf("removing partial output: %w", err)}
}

func (j *Job) runStage(ctx context.Context, rt *stageRT) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error (%v); this is a bug in the %s component, please report it", r, rt.stage.typ)
		}
	}()
	in := &Inputs{st: rt, closed: make([]bool, len(rt.in)), open: len(rt.in), rows: make([]int64, len(rt.in))}
	out := &Outputs{st: rt, alloc: j.alloc()}
	switch c := rt.stage.comp.(type) {
	case Origin:
		return c.Pump(ctx, out)
	case Mapper:
		if len(rt.in) == 1 && len(rt.out) >= 1 {
			return runBatches(ctx, mapperBatches{c}, in, out, j.workers(), 0)
		}
		return c.(Node).Process(ctx, in, out)
	case BatchProcessor:
		return runBatches(ctx, c, in, out, j.workersFor(c), batchRowsOf(c))
	case Node:
		return c.Process(ctx, in, out)
	case Destination:
		return c.Sink(ctx, in)
	}
	return fmt.Errorf("%T is not a component", rt.stage.comp)
}

// MapperProcess is the Process method of a Node whose work is all in
// MapBatch: it maps the batches one after the other, in order, and sends
// the results. The engine itself runs a Mapper's MapBatch on several
// workers and does not call Process; MapperProcess lets such a Node satisfy
// the Node interface in one line.
func MapperProcess(ctx context.Context, m Mapper, in *Inputs, out *Outputs) error {
	return runBatches(ctx, mapperBatches{m}, in, out, 1, 0)
}

// BatchProcess is the Process method of a BatchProcessor: the batches are
// processed one after the other, in order. The engine itself runs
// ProcessBatch on several workers and does not call Process.
func BatchProcess(ctx context.Context, b BatchProcessor, in *Inputs, out *Outputs) error {
	return runBatches(ctx, b, in, out, 1, batchRowsOf(b))
}

// mapperBatches runs a Mapper as a BatchProcessor: its one result goes to
// every output pipe but the reject pipes.
type mapperBatches struct{ m Mapper }

func (a mapperBatches) ProcessBatch(ctx context.Context, dp DataPackage, out *Emitter) error {
	rec, err := a.m.MapBatch(ctx, dp.Batch)
	if rec != nil {
		if err == nil {
			out.Send(rec)
		}
		rec.Release()
	}
	return err
}

func batchRowsOf(c any) int {
	if r, ok := c.(Rebatcher); ok {
		return r.BatchRows()
	}
	return 0
}

// workersFor is how many goroutines run the BatchProcessor c.
func (j *Job) workersFor(c any) int {
	if w, ok := c.(interface{ Concurrency() int }); ok && w.Concurrency() > 0 {
		return w.Concurrency()
	}
	return j.workers()
}

// An Emitter collects what a BatchProcessor sends for one batch; the engine
// delivers it downstream in input order once the batches before it are
// delivered.
type Emitter struct {
	st    *stageRT
	alloc memory.Allocator
	items []emitted
}

type emitted struct {
	pipe int // index in st.out; -1 means every output but the reject pipes
	rec  arrow.RecordBatch
}

// Allocator returns the allocator batches must be built with.
func (e *Emitter) Allocator() memory.Allocator { return e.alloc }

// Send sends rec to every output pipe except reject pipes, as Outputs.Send.
// It does not take the caller's reference.
func (e *Emitter) Send(rec arrow.RecordBatch) {
	if rec.NumRows() == 0 {
		return
	}
	rec.Retain()
	e.items = append(e.items, emitted{pipe: -1, rec: rec})
}

// SendTo sends rec to the output pipe called pipe only.
func (e *Emitter) SendTo(pipe string, rec arrow.RecordBatch) error {
	for i, p := range e.st.out {
		if p.pipe.name == pipe {
			if rec.NumRows() > 0 {
				rec.Retain()
				e.items = append(e.items, emitted{pipe: i, rec: rec})
			}
			return nil
		}
	}
	return fmt.Errorf("no output pipe '%s'", pipe)
}

// Count adds n to the stage's counter called name, as Outputs.Count.
func (e *Emitter) Count(name string, n int64) {
	(&Outputs{st: e.st}).Count(name, n)
}

func (e *Emitter) release() {
	for _, it := range e.items {
		it.rec.Release()
	}
	e.items = nil
}

// errSkipped marks a batch not processed because an earlier one failed.
var errSkipped = errors.New("skipped after an earlier batch failed")

// runBatches runs a BatchProcessor on several workers and delivers each
// batch's output in input order. A dispatcher hands each batch with a
// one-slot result channel to the workers and queues the slot; the caller's
// goroutine waits on the slots in order and sends what each batch emitted.
// At most 2*workers batches are in flight. With batchRows > 0 the input is
// cut into batches of exactly that many rows (the last may be shorter).
func runBatches(ctx context.Context, bp BatchProcessor, in *Inputs, out *Outputs, workers, batchRows int) error {
	type result struct {
		em  *Emitter
		err error
	}
	type task struct {
		dp   DataPackage
		seq  int64
		slot chan result
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tasks := make(chan task, workers)
	slots := make(chan chan result, 2*workers)
	var wg sync.WaitGroup
	// failedAt is the sequence number of the earliest batch that failed
	// so far (math.MaxInt64 while none has).
	var failedAt atomic.Int64
	failedAt.Store(math.MaxInt64)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range tasks {
				r := result{em: &Emitter{st: out.st, alloc: out.alloc}}
				if t.seq > failedAt.Load() {
					// A batch before this one failed: this one is skipped
					// (a destination sends nothing more). A batch before
					// the failed one is still processed, so the error
					// reported is the first in input order.
					r.err = errSkipped
				} else {
					func() {
						defer func() {
							if p := recover(); p != nil {
								r.err = fmt.Errorf("internal error (%v); this is a bug in the component, please report it", p)
							}
						}()
						r.err = bp.ProcessBatch(ctx, t.dp, r.em)
					}()
					if r.err != nil {
						for {
							at := failedAt.Load()
							if t.seq >= at || failedAt.CompareAndSwap(at, t.seq) {
								break
							}
						}
					}
				}
				t.dp.Batch.Release()
				t.slot <- r
			}
		}()
	}
	dispatchErr := make(chan error, 1)
	go func() {
		defer close(slots)
		defer close(tasks)
		var seq int64
		dispatch := func(dp DataPackage) error {
			slot := make(chan result, 1)
			seq++
			select {
			case slots <- slot:
			case <-ctx.Done():
				dp.Batch.Release()
				return ctx.Err()
			}
			tasks <- task{dp: dp, seq: seq, slot: slot}
			return nil
		}
		cut := newRebatcher(batchRows, out.alloc)
		defer cut.release()
		next := map[string]int64{} // first row of the next batch, per pipe
		emit := func(pipe string, rec arrow.RecordBatch) error {
			dp := DataPackage{Pipe: pipe, Batch: rec, FirstRow: next[pipe]}
			next[pipe] += rec.NumRows()
			return dispatch(dp)
		}
		for {
			dp, err := in.Recv(ctx)
			if err == io.EOF {
				dispatchErr <- cut.flush(emit)
				return
			}
			if err != nil {
				dispatchErr <- err
				return
			}
			if err := cut.add(dp, emit); err != nil {
				dispatchErr <- err
				return
			}
		}
	}()
	var firstErr error
	for slot := range slots {
		r := <-slot
		if r.err != nil && firstErr == nil && r.err != errSkipped {
			firstErr = r.err
			cancel()
		}
		if firstErr == nil {
			for _, it := range r.em.items {
				var err error
				if it.pipe < 0 {
					err = out.Send(ctx, it.rec)
				} else {
					err = send(ctx, out.st.out[it.pipe], it.rec)
				}
				if err != nil {
					firstErr = err
					cancel()
					break
				}
			}
		}
		r.em.release()
	}
	wg.Wait()
	if err := <-dispatchErr; firstErr == nil {
		firstErr = err
	}
	return firstErr
}
