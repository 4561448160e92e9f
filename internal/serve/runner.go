package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/graph"
	"github.com/open-stage/openstage/internal/report"
	"github.com/open-stage/openstage/jobfile"
)

// MaxLogLines is how many log lines a run keeps; later ones are counted,
// not kept.
const MaxLogLines = 5000

// RunRequest asks for a run of a job.
type RunRequest struct {
	Job      string            `json:"job"`    // the job file, relative to the folder served
	Params   map[string]string `json:"params"` // overrides of declared parameters, as --param
	ParamSet string            `json:"param_set"`
	Options  RunOptions        `json:"options"`
}

// Runner runs jobs, at most max at once, and records them in the store.
type Runner struct {
	catalog   *Catalog
	store     *Store
	max       int
	memLimit  int64 // per run
	overwrite func(*openstage.Job, *slog.Logger)
	version   string

	ctx  context.Context // cancelled by Close: every run stops
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu      sync.Mutex
	live    map[int64]*liveRun // queued and running runs
	queue   []*liveRun         // in order of submission
	running int
	closed  bool
}

// liveRun is a run that has not ended.
type liveRun struct {
	file   *jobfile.File
	redact func(string) string
	cancel context.CancelFunc
	ctx    context.Context
	logs   *logBuffer
	done   chan struct{}

	gmu   sync.Mutex
	graph *graph.Graph // drawn before the run starts: FromJob must not race with Run

	mu  sync.Mutex
	rec RunRecord // Report unset while live
}

func newRunner(c *Catalog, st *Store, o Options) *Runner {
	ctx, stop := context.WithCancel(context.Background())
	return &Runner{catalog: c, store: st, max: o.MaxRuns, memLimit: o.MemoryLimit, overwrite: o.Overwrite, version: o.Version,
		ctx: ctx, stop: stop, live: map[int64]*liveRun{}}
}

// ErrClosed is returned when a run is asked of a server that is stopping.
var ErrClosed = errors.New("the server is stopping")

// Submit queues a run of the job and returns its record (status queued or
// running, or invalid when the job file or its parameters have problems: an
// invalid run is recorded, ended, as `openstage run` reports it). A job
// path that is not a job file under the folder is an error of Resolve.
func (r *Runner) Submit(ctx context.Context, req RunRequest) (*RunRecord, error) {
	f, loadErr := r.catalog.Load(req.Job, req.Params, req.ParamSet)
	if errors.Is(loadErr, ErrBadPath) || errors.Is(loadErr, ErrOutside) || errors.Is(loadErr, ErrNoJob) {
		return nil, loadErr
	}
	now := time.Now()
	rec := RunRecord{Job: req.Job, JobName: strings.TrimSuffix(path.Base(req.Job), path.Ext(req.Job)), Status: StatusQueued,
		ParamSet: req.ParamSet, Params: map[string]any{}, Options: req.Options, Queued: now}
	redact := func(s string) string { return s }
	if f != nil {
		rec.JobName = f.Name
		rec.Params = report.Params(f.Params, f.IsSecretParam)
		redact = secretRedactor(f, req.Params)
	}
	for name := range req.Params { // overrides of parameters the job does not declare
		if _, ok := rec.Params[name]; !ok {
			rec.Params[name] = report.Masked
		}
	}
	if loadErr != nil {
		probs := r.catalog.problems(loadErr)
		if f != nil && openstage.IsValidation(loadErr) {
			probs = r.catalog.validate(ctx, f, loadErr)
		}
		rec.Status, rec.Start, rec.End = StatusInvalid, &now, &now
		rec.Error = redact(problemText(probs))
		rep := &report.Run{Job: rec.JobName, File: req.Job, Version: r.version, Params: rec.Params, ParamSet: req.ParamSet}
		rep.Invalid(now, errors.New(rec.Error))
		rec.Report = rep
		if f != nil {
			rec.Graph = drawRun(graph.FromJob(f.Job), rep, false)
		}
		if err := r.store.Insert(ctx, &rec); err != nil {
			return nil, err
		}
		if err := r.store.Finish(ctx, &rec, nil); err != nil {
			return nil, err
		}
		return &rec, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if err := r.store.Insert(ctx, &rec); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(r.ctx)
	lr := &liveRun{file: f, redact: redact, ctx: rctx, cancel: cancel, logs: &logBuffer{redact: redact}, done: make(chan struct{}), rec: rec, graph: graph.FromJob(f.Job)}
	r.live[rec.ID] = lr
	if r.running < r.max {
		r.launch(lr)
	} else {
		r.queue = append(r.queue, lr)
	}
	out := lr.record()
	return &out, nil
}

// problemText is problems as one message, one per line.
func problemText(probs []Problem) string {
	lines := make([]string, len(probs))
	for i, p := range probs {
		lines[i] = p.String()
	}
	if len(lines) == 1 {
		return "invalid job: " + lines[0]
	}
	return fmt.Sprintf("invalid job: %d problems:\n  %s", len(lines), strings.Join(lines, "\n  "))
}

// secretRedactor masks the job's secrets: those the engine knows after
// planning (Job.Redact) and the values of secret job parameters, from the
// file and from the overrides (which may appear in messages before any
// planning).
func secretRedactor(f *jobfile.File, overrides map[string]string) func(string) string {
	var pairs []string
	add := func(v string) {
		if len(v) >= 3 {
			pairs = append(pairs, v, report.Masked)
		}
	}
	for _, name := range f.SecretParams() {
		add(paramText(f.Params[name]))
		add(overrides[name])
	}
	rep := strings.NewReplacer(pairs...)
	job := f.Job
	return func(s string) string {
		if len(pairs) > 0 {
			s = rep.Replace(s)
		}
		if job != nil {
			s = job.Redact(s)
		}
		return s
	}
}

// launch starts lr; r.mu is held.
func (r *Runner) launch(lr *liveRun) {
	r.running++
	r.wg.Add(1)
	lr.mu.Lock()
	now := time.Now()
	lr.rec.Status, lr.rec.Start = StatusRunning, &now
	lr.mu.Unlock()
	go r.execute(lr, now)
}

func (r *Runner) execute(lr *liveRun, start time.Time) {
	defer r.wg.Done()
	rec := lr.record()
	if err := r.store.Started(context.Background(), rec.ID, start); err != nil {
		lr.logs.Write([]byte("level=ERROR msg=\"cannot record the start of the run\" error=" + fmt.Sprintf("%q", err.Error())))
	}
	job := lr.file.Job
	logger := slog.New(slog.NewTextHandler(lr.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	job.Logger = logger
	job.MemoryLimit = r.memLimit
	job.RowLimit = rec.Options.Rows
	logger.Info("job file loaded", "job", rec.JobName, "file", rec.Job, "parameters", rec.Params, "param_set", rec.ParamSet)
	if rec.Options.Overwrite && r.overwrite != nil {
		r.overwrite(job, logger)
	}
	err := job.Run(lr.ctx)

	rep := &report.Run{Job: rec.JobName, File: rec.Job, Version: r.version, Params: rec.Params, ParamSet: rec.ParamSet, RowLimit: rec.Options.Rows, Stages: []report.Stage{}, Pipes: []report.Pipe{}}
	status := StatusSucceeded
	switch {
	case err == nil:
	case openstage.IsValidation(err):
		status = StatusInvalid
		err = errors.New(problemText(r.catalog.problems(err)))
	case errors.Is(err, openstage.ErrCancelled):
		status = StatusCancelled
	default:
		status = StatusFailed
	}
	if s := job.Summary(); s != nil {
		rep.FromSummary(s, report.DefaultLayers)
	} else if err != nil {
		rep.Invalid(start, err)
	}
	rep.Status = status
	if err != nil {
		rep.Error = lr.redact(err.Error())
		if status == StatusCancelled {
			rep.Error = "cancelled; no output was committed"
			if r.ctx.Err() != nil {
				rep.Error = "cancelled because the server stopped; no output was committed"
			}
		}
	}
	for i := range rep.Stages {
		rep.Stages[i].Error = lr.redact(rep.Stages[i].Error)
	}
	end := rep.End
	if end.IsZero() {
		end = time.Now()
	}
	svg := lr.draw(rep)
	// The store first, then the live record: whoever sees the run ended
	// (the API reads the live record) finds it ended in the store too (the
	// jobs page reads the store), never "running" there.
	lr.mu.Lock()
	final := lr.rec
	lr.mu.Unlock()
	final.Status, final.End, final.Error, final.Report, final.Graph = status, &end, rep.Error, rep, svg
	if err := r.store.Finish(context.Background(), &final, lr.logs.Lines()); err != nil {
		slog.Error("cannot record the end of a run", "run", final.ID, "error", err)
	}
	lr.mu.Lock()
	lr.rec.Status, lr.rec.End, lr.rec.Error, lr.rec.Report, lr.rec.Graph = status, &end, rep.Error, rep, svg
	lr.mu.Unlock()
	r.finished(lr)
}

// finished removes an ended run and starts the next queued one.
func (r *Runner) finished(lr *liveRun) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.live, lr.rec.ID)
	r.running--
	lr.cancel()
	close(lr.done)
	for len(r.queue) > 0 && r.running < r.max && !r.closed {
		next := r.queue[0]
		r.queue = r.queue[1:]
		r.launch(next)
	}
}

// draw returns the SVG of the run's graph with the counts of rep.
func (lr *liveRun) draw(rep *report.Run) string {
	lr.gmu.Lock()
	defer lr.gmu.Unlock()
	return drawRun(lr.graph, rep, true)
}

// drawRun lays out g with the row counts of rep and returns its SVG.
// With zeros, pipes the report does not count are labelled 0 rows (a run
// about to start), so that the page has a count to update.
func drawRun(g *graph.Graph, rep *report.Run, zeros bool) string {
	for _, e := range g.Edges {
		e.Rows = -1
	}
	if rep != nil {
		g.WithRun(rep)
	}
	for _, e := range g.Edges {
		if e.Rows < 0 && zeros {
			e.Rows = 0
		}
	}
	g.Layout()
	var b strings.Builder
	g.SVGInline(&b)
	return b.String()
}

func (lr *liveRun) record() RunRecord {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return lr.rec
}

// snapshot is the run's record with a report of its figures at this
// moment.
func (lr *liveRun) snapshot(version string, withGraph bool) *RunRecord {
	rec := lr.record()
	if rec.Report != nil {
		return &rec
	}
	rep := &report.Run{Job: rec.JobName, File: rec.Job, Version: version, Params: rec.Params, ParamSet: rec.ParamSet, RowLimit: rec.Options.Rows, Status: rec.Status, Stages: []report.Stage{}, Pipes: []report.Pipe{}}
	if rec.Start != nil {
		rep.Start = *rec.Start
	}
	// Before the engine has figures (queued, or planning), every stage and
	// pipe with no count yet, so that a page has them all to update.
	lr.gmu.Lock()
	for _, n := range lr.graph.Nodes {
		rep.Stages = append(rep.Stages, report.Stage{Name: n.Name, Type: n.Type, Layer: string(n.Layer)})
	}
	for _, e := range lr.graph.Edges {
		rep.Pipes = append(rep.Pipes, report.Pipe{Name: e.Name, From: e.From.Name, To: e.To.Name, Reject: e.Reject})
	}
	lr.gmu.Unlock()
	if s := lr.file.Job.Stats(); s != nil && rec.Status == StatusRunning {
		rep.FromSummary(s, report.DefaultLayers)
		rep.Status = StatusRunning
		for i := range rep.Stages {
			rep.Stages[i].Error = lr.redact(rep.Stages[i].Error)
		}
		rep.Error = lr.redact(rep.Error)
	}
	rec.Report = rep
	if withGraph {
		rec.Graph = lr.draw(rep)
	}
	return &rec
}

// Get returns run id: a live one's current figures, or the history's
// record. With withGraph, a live run's graph is drawn with its current
// counts (the history keeps the graph of each run).
func (r *Runner) Get(ctx context.Context, id int64, withGraph bool) (*RunRecord, error) {
	r.mu.Lock()
	lr := r.live[id]
	r.mu.Unlock()
	if lr != nil {
		return lr.snapshot(r.version, withGraph), nil
	}
	return r.store.Get(ctx, id)
}

// QueuePosition is a queued run's place in the queue (1 is next), 0 if it
// is not queued.
func (r *Runner) QueuePosition(id int64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, lr := range r.queue {
		if lr.rec.ID == id {
			return i + 1
		}
	}
	return 0
}

// Logs returns the log lines of run id from line from on, and whether the
// run has not ended yet.
func (r *Runner) Logs(ctx context.Context, id int64, from int) ([]string, bool, error) {
	r.mu.Lock()
	lr := r.live[id]
	r.mu.Unlock()
	if lr != nil {
		// A run that has just ended is live until its record is stored,
		// but its status is final already (as Get shows it).
		return lr.logs.Since(from), !Final(lr.record().Status), nil
	}
	lines, err := r.store.Logs(ctx, id)
	if err != nil {
		return nil, false, err
	}
	if from > len(lines) {
		from = len(lines)
	}
	return lines[from:], false, nil
}

// Done returns a channel closed when run id ends (nil if it is not live).
func (r *Runner) Done(id int64) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if lr := r.live[id]; lr != nil {
		return lr.done
	}
	return nil
}

// ErrEnded is returned when cancelling a run that has already ended.
var ErrEnded = errors.New("the run has already ended")

// Cancel stops run id: a queued run ends cancelled without starting; a
// running one is cancelled as Ctrl-C cancels `openstage run` (its
// destinations commit nothing) and ends shortly after.
func (r *Runner) Cancel(ctx context.Context, id int64) error {
	r.mu.Lock()
	lr := r.live[id]
	if lr == nil {
		r.mu.Unlock()
		if _, err := r.store.Get(ctx, id); err != nil {
			return err
		}
		return ErrEnded
	}
	if i := slices.Index(r.queue, lr); i >= 0 {
		r.queue = slices.Delete(r.queue, i, i+1)
		delete(r.live, id)
		r.mu.Unlock()
		r.endQueued(lr, "cancelled before it started")
		return nil
	}
	r.mu.Unlock()
	lr.cancel()
	return nil
}

// endQueued records a queued run as cancelled.
func (r *Runner) endQueued(lr *liveRun, why string) {
	now := time.Now()
	lr.mu.Lock()
	lr.rec.Status, lr.rec.End, lr.rec.Error = StatusCancelled, &now, why
	rep := &report.Run{Job: lr.rec.JobName, File: lr.rec.Job, Version: r.version, Params: lr.rec.Params, ParamSet: lr.rec.ParamSet,
		Start: now, End: now, Status: StatusCancelled, Error: why, Stages: []report.Stage{}, Pipes: []report.Pipe{}}
	lr.rec.Report = rep
	lr.mu.Unlock()
	svg := lr.draw(rep)
	lr.mu.Lock()
	lr.rec.Graph = svg
	final := lr.rec
	lr.mu.Unlock()
	if err := r.store.Finish(context.Background(), &final, nil); err != nil {
		slog.Error("cannot record the end of a run", "run", final.ID, "error", err)
	}
	lr.cancel()
	close(lr.done)
}

// Active is the number of running and queued runs.
func (r *Runner) Active() (running, queued int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running, len(r.queue)
}

// Close cancels every run (queued ones end without starting) and waits for
// the running ones to end and be recorded.
func (r *Runner) Close() {
	r.mu.Lock()
	r.closed = true
	queued := r.queue
	r.queue = nil
	for _, lr := range queued {
		delete(r.live, lr.rec.ID)
	}
	r.mu.Unlock()
	for _, lr := range queued {
		r.endQueued(lr, "cancelled before it started: the server stopped")
	}
	r.stop()
	r.wg.Wait()
}

// logBuffer keeps a run's log lines, masked.
type logBuffer struct {
	redact  func(string) string
	mu      sync.Mutex
	lines   []string
	dropped int
}

// Write takes one record of a slog handler (which writes each record with
// one Write call).
func (b *logBuffer) Write(p []byte) (int, error) {
	text := b.redact(strings.TrimRight(string(p), "\n"))
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, line := range strings.Split(text, "\n") {
		if len(b.lines) < MaxLogLines {
			b.lines = append(b.lines, line)
		} else {
			b.dropped++
		}
	}
	return len(p), nil
}

// Lines returns every line kept, with a last line counting those dropped.
func (b *logBuffer) Lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := slices.Clone(b.lines)
	if b.dropped > 0 {
		out = append(out, fmt.Sprintf("(%d more log lines were not kept: a run keeps its first %d)", b.dropped, MaxLogLines))
	}
	return out
}

// Since returns the lines from index from on.
func (b *logBuffer) Since(from int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if from >= len(b.lines) {
		return nil
	}
	return slices.Clone(b.lines[from:])
}
