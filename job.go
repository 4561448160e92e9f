package openstage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// A Job owns a graph of stages and runs it.
type Job struct {
	Name string

	// Allocator builds every batch of the job; nil means memory.DefaultAllocator.
	// Tests use memory.NewCheckedAllocator to catch leaks.
	Allocator memory.Allocator
	// QueueLen is how many batches a pipe buffers before its producer waits
	// (0 means 2).
	QueueLen int
	// Workers is how many goroutines run a Mapper stage (0 means GOMAXPROCS).
	Workers int
	// Logger receives the job's events: job started and finished, each
	// stage started and finished with its counts, rows rejected, and what
	// components log through Plan.Logger, Outputs.Logger, Inputs.Logger and
	// Emitter.Logger (warnings, retries). Every record carries the job's
	// name ("job"); records about a stage also carry "stage" and "type".
	// nil logs nothing.
	Logger *slog.Logger
	// RowLimit, when positive, makes a trial run: each origin stops after
	// sending that many rows (the CLI's --rows). The run then ends as a
	// normal one, committing what the destinations received.
	RowLimit int64
	// MaxRejects, when set, fails the job once more than that many rows
	// have been sent to reject pipes in total (the CLI's --max-rejects);
	// new(int64(0)) fails on the first rejected row. nil: no limit. The
	// error wraps ErrTooManyRejects and names the stage whose reject went
	// over the limit.
	MaxRejects *int64
	// MemoryLimit is the memory, in bytes, that the stages holding data
	// (Sort, Aggregator, Joiner, RemoveDuplicates, ...) may use together
	// before they spill to temporary files; it is shared equally among them.
	// 0 means DefaultMemoryLimit().
	MemoryLimit int64
	// TempDir is where spill files go ("" means the system's temporary folder).
	TempDir string
	// Registry is where stages look up what they find by name (a
	// Transformer's Go functions); nil means DefaultRegistry().
	Registry *Registry
	// DryRun, when not nil, makes Run a dry run: the stages run on the
	// real input, but those that call a paid or remote service (the AI
	// prompt transformers) send nothing and write what they would send to
	// DryRun instead (Plan.DryRun), and no destination commits: every
	// Committer is aborted, so a dry run leaves no output.
	DryRun io.Writer
	// NoOptimize runs the job exactly as written (the CLI's
	// --no-optimize): no projection pushdown, no filter applied by an
	// origin, no rewrite of the plan (see Rewrites).
	NoOptimize bool

	roots   []*Stage
	stages  []*Stage // set by plan
	summary *Summary
	plans   map[*Stage]*Plan
	// stages with two inputs connected other than through them (Plan.ForkJoin)
	forkJoins   map[*Stage]bool
	projections []Projection
	folds       []Fold
	rewrites    []Rewrite
	limits      map[*Stage]int64 // origins stopped early for a Limiter (optimize.go)
	redact      *redactor        // the job's secrets, masked in every error it returns
	dryRun      io.Writer        // DryRun behind a lock, shared by the stages
	live        atomic.Pointer[liveRun]
}

// A Projection is an origin that reads only some of its columns because no
// stage reads the others (projection pushdown).
type Projection struct {
	Stage   string
	Columns []string // the columns read, in the origin's order
	Of      int      // how many columns the origin has
}

// Projections returns the projections of the last Validate or Run.
func (j *Job) Projections() []Projection { return j.projections }

// NewJob returns a job made of the given stages and every stage connected to
// them through pipes.
func NewJob(name string, stages ...*Stage) *Job {
	j := &Job{Name: name}
	j.Add(stages...)
	return j
}

// Add adds stages (and everything connected to them when the job is
// validated or run) to the job.
func (j *Job) Add(stages ...*Stage) *Job {
	j.roots = append(j.roots, stages...)
	return j
}

// Stages returns the job's stages: those added and every stage connected to
// them through pipes, in the order they are found.
func (j *Job) Stages() []*Stage {
	seen := map[*Stage]bool{}
	var out []*Stage
	var visit func(s *Stage)
	visit = func(s *Stage) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		out = append(out, s)
		for _, p := range s.inputs {
			visit(p.from)
		}
		for _, p := range s.outputs {
			visit(p.to)
			for _, r := range p.refused {
				visit(r)
			}
		}
	}
	for _, s := range j.roots {
		visit(s)
	}
	return out
}

// Stage returns the stage called name, or nil.
func (j *Job) Stage(name string) *Stage {
	for _, s := range j.Stages() {
		if s.name == name {
			return s
		}
	}
	return nil
}

// Pipes returns every pipe of the job, by stage order then connection order.
func (j *Job) Pipes() []*Pipe {
	var pipes []*Pipe
	seen := map[*Pipe]bool{}
	for _, s := range j.Stages() {
		for _, p := range append(append([]*Pipe{}, s.inputs...), s.outputs...) {
			if !seen[p] {
				seen[p] = true
				pipes = append(pipes, p)
			}
		}
	}
	return pipes
}

// Summary returns the figures of the last Run (nil before the first).
func (j *Job) Summary() *Summary { return j.summary }

func (j *Job) alloc() memory.Allocator {
	if j.Allocator != nil {
		return j.Allocator
	}
	return memory.DefaultAllocator
}

func (j *Job) memoryLimit() int64 {
	if j.MemoryLimit > 0 {
		return j.MemoryLimit
	}
	return DefaultMemoryLimit()
}

// DefaultMemoryLimit is half of the machine's physical memory (or 2 GiB when
// that cannot be read).
func DefaultMemoryLimit() int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int64
				if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb); err == nil && kb > 0 {
					return kb * 1024 / 2
				}
			}
		}
	}
	return 2 << 30
}

// Accumulator is implemented by components that hold data beyond a few
// batches (a sort, a group-by, a join's build side). They share the job's
// MemoryLimit: Plan.MemoryBudget tells each its part.
type Accumulator interface {
	Accumulates() bool
}

func (j *Job) registry() *Registry {
	if j.Registry != nil {
		return j.Registry
	}
	return defaultRegistry
}

func (j *Job) workers() int {
	if j.Workers > 0 {
		return j.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// A Problem is one thing wrong with a job, found before it runs.
type Problem struct {
	Pos   Position
	Stage *Stage // nil for problems of the job as a whole
	Err   error
}

func (p Problem) Error() string {
	var b strings.Builder
	if s := p.Pos.String(); s != "" {
		b.WriteString(s + ": ")
	}
	if p.Stage != nil {
		b.WriteString(p.Stage.String() + ": ")
	}
	b.WriteString(p.Err.Error())
	return b.String()
}

// ValidationError lists everything wrong with a job. Run returns it (as does
// Validate) before any data moves.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	if len(lines) == 1 {
		return lines[0]
	}
	return fmt.Sprintf("%d problems:\n  %s", len(lines), strings.Join(lines, "\n  "))
}

// IsValidation reports whether err is (or wraps) a ValidationError.
func IsValidation(err error) bool {
	var v *ValidationError
	return errors.As(err, &v)
}

// Validate checks the job without moving data: unique names, every pipe
// connected at both ends, no cycles, the number of pipes of each stage, and
// each stage's Plan against the schemas propagated from the origins. It
// returns a *ValidationError listing every problem found.
func (j *Job) Validate(ctx context.Context) error {
	_, err := j.plan(ctx)
	return err
}

// plan validates the job and returns the stages in topological order.
func (j *Job) plan(ctx context.Context) ([]*Stage, error) {
	j.stages = j.Stages()
	var secrets []string
	for _, s := range j.stages {
		secrets = append(secrets, secretsOf(s.comp)...)
	}
	j.redact = newRedactor(secrets)
	order, err := j.planChecked(ctx)
	var ve *ValidationError
	if errors.As(err, &ve) && j.redact != nil {
		for i := range ve.Problems {
			ve.Problems[i].Err = j.redact.wrap(ve.Problems[i].Err)
		}
	}
	return order, err
}

func (j *Job) planChecked(ctx context.Context) ([]*Stage, error) {
	var probs []Problem
	add := func(s *Stage, pos Position, err error) {
		if pos == (Position{}) && s != nil {
			pos = s.pos
		}
		probs = append(probs, Problem{Pos: pos, Stage: s, Err: err})
	}
	if len(j.stages) == 0 {
		add(nil, Position{}, errors.New("the job has no stages"))
	}
	names := map[string]*Stage{}
	bad := map[*Stage]bool{} // not planned: their problems are reported
	for _, s := range j.stages {
		if s.invalid {
			bad[s] = true
		}
		if s.name == "" {
			add(s, Position{}, errors.New("stage has no name"))
		} else if prev, dup := names[s.name]; dup {
			add(s, Position{}, fmt.Errorf("duplicate stage name '%s' (also used by %s at %s); stage names must be unique", s.name, prev.typ, orGo(prev.pos)))
		}
		names[s.name] = s
		if s.invalid {
			continue
		}
		for _, e := range s.errs {
			add(s, Position{}, e)
			bad[s] = true
		}
	}
	pipeNames := map[string]*Pipe{}
	for _, p := range j.Pipes() {
		if prev, dup := pipeNames[p.name]; dup && prev != p {
			add(nil, p.pos, fmt.Errorf("duplicate pipe name '%s'; pipe names must be unique", p.name))
		}
		pipeNames[p.name] = p
		switch {
		case p.from == nil:
			add(nil, p.pos, fmt.Errorf("pipe '%s' has no origin: it goes to %s but nothing sends to it; connect it with AddOutputPipe (or `from:` in a job file)", p.name, p.to))
		case p.to == nil:
			add(nil, p.pos, fmt.Errorf("pipe '%s' has no destination: it comes from %s but goes nowhere; connect it with SetDestination (or `to:` in a job file)", p.name, p.from))
		}
	}
	for _, s := range j.stages {
		c := s.conn
		if s.invalid {
			continue
		}
		if len(s.inputs) < c.MinIn {
			add(s, Position{}, fmt.Errorf("needs at least %s, has %d", plural(c.MinIn, "input pipe"), len(s.inputs)))
			bad[s] = true
		}
		if len(s.outputs) < c.MinOut {
			add(s, Position{}, fmt.Errorf("needs at least %s, has %d", plural(c.MinOut, "output pipe"), len(s.outputs)))
			bad[s] = true
		}
	}
	order, cycle := topoSort(j.stages)
	if cycle != nil {
		path := make([]string, len(cycle))
		for i, s := range cycle {
			path[i] = s.name
		}
		add(nil, Position{}, fmt.Errorf("the pipes form a cycle: %s; a job must be a directed acyclic graph", strings.Join(path, " -> ")))
	}
	if len(probs) > 0 || len(bad) > 0 {
		// Plan what can be planned, so that every problem is found at
		// once: not the stages above nor those downstream of them (their
		// inputs have no schema), nor those in a cycle.
		j.forkJoins = forkJoins(j.stages, j.Pipes())
		var keep []*Stage
		for _, s := range order {
			if !bad[s] {
				keep = append(keep, s)
			}
		}
		probs = append(probs, j.planStages(ctx, keep)...)
		if len(probs) == 0 {
			for s := range bad {
				add(s, Position{}, errors.New("the stage's definition is invalid (MarkInvalid)"))
			}
		}
		return nil, &ValidationError{Problems: probs}
	}

	j.forkJoins = forkJoins(j.stages, j.Pipes())
	// Plan first as written, with every column: a projection or rewrite
	// from an earlier Validate or Run may not fit the job as it is now.
	j.folds, j.projections, j.rewrites, j.limits = nil, nil, nil, nil
	withdraw(order)
	if probs := j.planStages(ctx, order); len(probs) > 0 {
		return nil, &ValidationError{Problems: probs}
	}
	if j.NoOptimize {
		return order, nil
	}
	j.optimize(ctx, order)
	j.pushDown(ctx, order)
	j.foldFilters(order)
	j.dictionaryColumns(order)
	return order, nil
}

// planStages plans every stage in topological order, propagating schemas,
// and fills j.plans. A stage whose inputs could not be planned is skipped:
// its problem is upstream.
func (j *Job) planStages(ctx context.Context, order []*Stage) []Problem {
	var probs []Problem
	add := func(s *Stage, err error) {
		probs = append(probs, Problem{Pos: s.pos, Stage: s, Err: err})
	}
	j.plans = map[*Stage]*Plan{}
	schemas := map[*Pipe]Port{}
	accumulators := int64(0)
	for _, s := range order {
		if a, ok := s.comp.(Accumulator); ok && a.Accumulates() {
			accumulators++
		}
	}
	budget := j.memoryLimit() / max(1, accumulators)
	for _, s := range order {
		p := &Plan{dryRun: j.dryRunWriter(), stage: s, schemas: map[string]*arrow.Schema{}, rejects: map[string]bool{}, alloc: j.alloc(), budget: budget, tempDir: j.TempDir, workers: j.workers(), registry: j.registry(), reads: map[string][]string{}, through: map[string][]string{}, forkJoin: j.forkJoins[s], logger: j.stageLogger(s)}
		ready := true
		for _, in := range s.inputs {
			port, ok := schemas[in]
			if !ok {
				ready = false
				break
			}
			p.inputs = append(p.inputs, port)
		}
		if !ready {
			continue
		}
		for _, out := range s.outputs {
			p.outputs = append(p.outputs, out.name)
		}
		if errs := checkParams(s.comp, p.inputs); len(errs) > 0 {
			for _, err := range errs {
				add(s, err)
			}
			continue
		}
		if err := planStage(ctx, s, p); err != nil {
			add(s, err)
			continue
		}
		for _, out := range s.outputs {
			sc, ok := p.schemas[out.name]
			if !ok {
				add(s, fmt.Errorf("declared no schema for output pipe '%s' (a bug in the component: its Plan must call SetOutput or SetOutputs)", out.name))
				continue
			}
			schemas[out] = Port{Pipe: out.name, Schema: sc}
		}
		j.plans[s] = p
	}
	return probs
}

// dryRunWriter returns DryRun behind a lock, so that stages writing to it
// from several goroutines do not interleave within a write.
func (j *Job) dryRunWriter() io.Writer {
	if j.DryRun == nil {
		j.dryRun = nil
		return nil
	}
	if lw, ok := j.dryRun.(*lockedWriter); !ok || lw.w != j.DryRun {
		j.dryRun = &lockedWriter{w: j.DryRun}
	}
	return j.dryRun
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// forkJoins returns the stages with two input pipes whose producers are
// connected, in the job's graph seen without directions, other than through
// the stage (Plan.ForkJoin). A deadlock among stages that read their inputs
// one at a time needs such a stage: it waits on one input while a stage
// connected to that input waits for room on another of its inputs.
func forkJoins(stages []*Stage, pipes []*Pipe) map[*Stage]bool {
	out := map[*Stage]bool{}
	for _, s := range stages {
		if len(s.inputs) < 2 {
			continue
		}
		parent := map[*Stage]*Stage{}
		var find func(x *Stage) *Stage
		find = func(x *Stage) *Stage {
			p, ok := parent[x]
			if !ok || p == x {
				return x
			}
			r := find(p)
			parent[x] = r
			return r
		}
		for _, p := range pipes {
			if p.from == nil || p.to == nil || p.from == s || p.to == s {
				continue
			}
			parent[find(p.from)] = find(p.to)
		}
		seen := map[*Stage]bool{}
		for _, in := range s.inputs {
			if in.from == nil {
				continue
			}
			r := find(in.from)
			if seen[r] {
				out[s] = true
				break
			}
			seen[r] = true
		}
	}
	return out
}

func orGo(p Position) string {
	if p.File == "" {
		return "Go code"
	}
	return p.String()
}

func planStage(ctx context.Context, s *Stage, p *Plan) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error while validating (%v); this is a bug in the %s component", r, s.typ)
		}
	}()
	switch c := s.comp.(type) {
	case Origin:
		return c.Plan(ctx, p)
	case Node:
		return c.Plan(ctx, p)
	case Destination:
		return c.Plan(ctx, p)
	}
	return fmt.Errorf("%T is not a component", s.comp)
}

// topoSort orders stages so that each comes after the stages feeding it; ties
// keep the order stages were added. It returns a cycle if there is one.
func topoSort(stages []*Stage) (order, cycle []*Stage) {
	index := map[*Stage]int{}
	for i, s := range stages {
		index[s] = i
	}
	indeg := map[*Stage]int{}
	for _, s := range stages {
		for _, in := range s.inputs {
			if in.from != nil {
				indeg[s]++
			}
		}
	}
	var ready []*Stage
	for _, s := range stages {
		if indeg[s] == 0 {
			ready = append(ready, s)
		}
	}
	for len(ready) > 0 {
		sort.SliceStable(ready, func(a, b int) bool { return index[ready[a]] < index[ready[b]] })
		s := ready[0]
		ready = ready[1:]
		order = append(order, s)
		for _, out := range s.outputs {
			if out.to == nil {
				continue
			}
			indeg[out.to]--
			if indeg[out.to] == 0 {
				ready = append(ready, out.to)
			}
		}
	}
	if len(order) == len(stages) {
		return order, nil
	}
	// Walk backwards from a stage left over until a stage repeats.
	done := map[*Stage]bool{}
	for _, s := range order {
		done[s] = true
	}
	var start *Stage
	for _, s := range stages {
		if !done[s] {
			start = s
			break
		}
	}
	pos := map[*Stage]int{}
	var path []*Stage
	for s := start; s != nil; {
		if i, seen := pos[s]; seen {
			cyc := append([]*Stage{}, path[i:]...)
			return order, append(cyc, s)
		}
		pos[s] = len(path)
		path = append(path, s)
		var next *Stage
		for _, out := range s.outputs {
			if out.to != nil && !done[out.to] {
				next = out.to
				break
			}
		}
		s = next
	}
	return order, []*Stage{start}
}
