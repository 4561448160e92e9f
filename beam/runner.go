package beam

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	beamsdk "github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/flink"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/spark"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/csvio"
	"github.com/open-stage/openstage/internal/cli"
	"github.com/open-stage/openstage/jobfile"
	"github.com/open-stage/openstage/stages"
)

// Runners are the runners this package adds to the command.
var Runners = []string{"prism", "dataflow", "flink", "spark"}

// Register registers the Beam runners with the command.
func Register() {
	for _, name := range Runners {
		cli.RegisterRunner(name, Runner{})
	}
}

// Runner runs jobs on Beam (cli.Runner). The zero value uses the runner
// named by the command's --runner.
type Runner struct{}

// SplitBytesOption is the --beam-option that sets the size of the parts a
// CSVOrigin's files are cut into (default 32 MiB); it is Open-Stage's, not
// Beam's.
const SplitBytesOption = "openstage_split_bytes"

const defaultSplitBytes = 32 << 20

// ShuffleWaysOption is the --beam-option that sets into how many key
// ranges (Sort, Aggregator, RemoveDuplicates' output) or hash buckets
// (Joiner, RemoveDuplicates' combine) a shuffle cuts its rows (default 8);
// Open-Stage's, not Beam's.
const ShuffleWaysOption = "openstage_shuffle_ways"

// Check reports the stages that have no Beam translation and the options
// Beam does not know.
func (Runner) Check(ctx context.Context, f *jobfile.File, opts cli.RunnerOptions) error {
	var probs []openstage.Problem
	for _, s := range f.Job.Stages() {
		if err := translatable(s); err != nil {
			probs = append(probs, openstage.Problem{Pos: s.Position(), Stage: s, Err: err})
		}
	}
	for _, name := range sortedKeys(opts.BeamOptions) {
		if name == SplitBytesOption || name == SplitRowsOption || name == ShuffleWaysOption {
			if n, err := strconv.ParseInt(opts.BeamOptions[name], 10, 64); err != nil || n <= 0 {
				probs = append(probs, openstage.Problem{Err: fmt.Errorf("--beam-option %s=%s: want a positive number", name, opts.BeamOptions[name])})
			}
			continue
		}
		if flag.CommandLine.Lookup(name) == nil {
			probs = append(probs, openstage.Problem{Err: fmt.Errorf("--beam-option %s: Beam has no pipeline option '%s'%s", name, name, suggestOption(name))})
		}
	}
	if len(probs) > 0 {
		return &openstage.ValidationError{Problems: probs}
	}
	return nil
}

func suggestOption(name string) string {
	var names []string
	flag.CommandLine.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	if s := openstage.Suggest(name, names); s != "" {
		return fmt.Sprintf(" (did you mean '%s'?)", s)
	}
	return "; the Go SDK's options are its flags, such as project, region, temp_location, staging_location, endpoint, environment_type, job_name"
}

// Run validates the job, runs it on the runner and, once the pipeline has
// succeeded, commits its destinations.
func (r Runner) Run(ctx context.Context, f *jobfile.File, opts cli.RunnerOptions) (*openstage.Summary, error) {
	start := time.Now()
	job := f.Job
	if err := job.Validate(ctx); err != nil {
		return nil, err
	}
	if err := r.Check(ctx, f, opts); err != nil {
		return nil, err
	}
	split, splitRows, ways := int64(defaultSplitBytes), int64(defaultSplitRows), 8
	for name, value := range opts.BeamOptions {
		switch name {
		case SplitBytesOption:
			split, _ = strconv.ParseInt(value, 10, 64)
			continue
		case SplitRowsOption:
			splitRows, _ = strconv.ParseInt(value, 10, 64)
			continue
		case ShuffleWaysOption:
			ways, _ = strconv.Atoi(value)
			continue
		}
		if err := flag.CommandLine.Set(name, value); err != nil {
			return nil, &openstage.ValidationError{Problems: []openstage.Problem{{Err: fmt.Errorf("--beam-option %s=%s: %w", name, value, err)}}}
		}
	}
	text, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, err
	}
	spec := JobSpec{Text: string(text), Path: absPath(f.Path), Params: opts.Params, ParamFile: opts.ParamFile, ParamSet: opts.ParamSet,
		Workers: opts.Workers, MemoryLimit: opts.MemoryLimit, TempDir: opts.TempDir, Overwrite: opts.Overwrite, Schemas: map[string]string{}}
	if spec.ParamFile != "" {
		spec.ParamFile = absPath(spec.ParamFile)
	}
	for _, p := range job.Pipes() {
		if sc, _ := job.PipeSchema(p.Name()); sc != nil {
			spec.Schemas[p.Name()] = schemaString(sc)
		}
	}
	parts, err := os.MkdirTemp(opts.TempDir, "openstage-beam-")
	if err != nil {
		return nil, fmt.Errorf("folder for the destinations' parts: %w", err)
	}
	defer os.RemoveAll(parts)

	order := topoOrder(job)
	p, scope := beamsdk.NewPipelineWithRoot()
	b := &builder{ctx: ctx, job: job, spec: spec, scope: scope, parts: parts, split: split, splitRows: splitRows, ways: ways, pcols: map[string]beamsdk.PCollection{}}
	for i, s := range order {
		if err := b.stage(i, s); err != nil {
			return nil, &openstage.ValidationError{Problems: []openstage.Problem{{Pos: s.Position(), Stage: s, Err: err}}}
		}
	}
	if !beamsdk.Initialized() {
		beamsdk.Init()
	}
	restore := quietBeam(job.Logger)
	execCtx := ctx
	if opts.Runner == "prism" {
		execCtx = context.WithoutCancel(ctx)
		defer setLauncher(ctx)()
	}
	res, runErr := execute(execCtx, opts.Runner, p)
	restore()
	sum := summarize(job, order, res, start)
	if runErr != nil {
		runErr = pipelineError(ctx, runErr)
	}
	if runErr == nil && opts.MaxRejects != nil {
		var rejected int64
		for _, st := range sum.Stages {
			rejected += st.Rejected
		}
		if rejected > *opts.MaxRejects {
			runErr = fmt.Errorf("%w: %d rows were rejected, more than --max-rejects %d; nothing was committed", openstage.ErrTooManyRejects, rejected, *opts.MaxRejects)
		}
	}
	if runErr == nil {
		runErr = commit(ctx, job, order, parts)
	} else {
		abort(job, order)
	}
	sum.End = time.Now()
	sum.Elapsed = sum.End.Sub(start)
	sum.Err = runErr
	return sum, runErr
}

func execute(ctx context.Context, runner string, p *beamsdk.Pipeline) (beamsdk.PipelineResult, error) {
	switch runner {
	case "prism":
		return prism.Execute(ctx, p)
	case "dataflow":
		return dataflow.Execute(ctx, p)
	case "flink":
		return flink.Execute(ctx, p)
	case "spark":
		return spark.Execute(ctx, p)
	}
	return nil, fmt.Errorf("unknown runner %q", runner)
}

// Worker errors reach the launcher inside the runner's own message; the
// marks let the launcher give the user Open-Stage's message alone.
const (
	markStart = "⟦openstage:"
	markEnd   = "⟧"
)

func userErr(err error) error {
	if err == nil || strings.Contains(err.Error(), markStart) {
		return err
	}
	return fmt.Errorf("%s%s%s", markStart, err.Error(), markEnd)
}

// pipelineError turns the runner's error into the user's: the first
// Open-Stage message in it, or the runner's whole message.
func pipelineError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", openstage.ErrCancelled, context.Cause(ctx))
	}
	msg := err.Error()
	if i := strings.Index(msg, markStart); i >= 0 {
		rest := msg[i+len(markStart):]
		if j := strings.Index(rest, markEnd); j >= 0 {
			return errors.New(rest[:j])
		}
	}
	return fmt.Errorf("the Beam pipeline failed: %w", err)
}

// topoOrder orders the job's stages so that each comes after the stages
// feeding it, ties in the job's order.
func topoOrder(job *openstage.Job) []*openstage.Stage {
	stages := job.Stages()
	indeg := map[*openstage.Stage]int{}
	for _, s := range stages {
		indeg[s] = len(s.Inputs())
	}
	var order []*openstage.Stage
	done := map[*openstage.Stage]bool{}
	for len(order) < len(stages) {
		progressed := false
		for _, s := range stages {
			if done[s] || indeg[s] > 0 {
				continue
			}
			done[s] = true
			order = append(order, s)
			progressed = true
			for _, out := range s.Outputs() {
				indeg[out.Destination()]--
			}
			break
		}
		if !progressed {
			break // a cycle: Validate refuses it first
		}
	}
	return order
}

// summarize makes the run summary from the pipeline's metrics.
func summarize(job *openstage.Job, order []*openstage.Stage, res beamsdk.PipelineResult, start time.Time) *openstage.Summary {
	type key struct{ stage, kind, what string }
	vals := map[key]int64{}
	if res != nil {
		for _, c := range res.Metrics().AllMetrics().Counters() {
			if c.Key.Namespace != metricNS {
				continue
			}
			parts := strings.SplitN(c.Key.Name, "|", 3)
			if len(parts) != 3 {
				continue
			}
			vals[key{parts[0], parts[1], parts[2]}] += counterValue(c)
		}
	}
	s := &openstage.Summary{Job: job.Name, Start: start}
	pipeRows, pipeBatches := map[string]int64{}, map[string]int64{}
	for _, st := range order {
		ss := openstage.StageStats{Stage: st.Name(), Type: st.Type(), Counters: map[string]int64{}, Start: start}
		ss.RowsIn = vals[key{st.Name(), "rows_in", ""}]
		ss.BatchesIn = vals[key{st.Name(), "batches_in", ""}]
		_, isCopy := st.Component().(*stages.Copy)
		if isCopy { // no DoFn of its own: its outputs are its input
			ss.RowsIn = pipeRows[st.Inputs()[0].Name()]
			ss.BatchesIn = pipeBatches[st.Inputs()[0].Name()]
		}
		if lk, ok := st.Component().(*stages.Lookup); ok { // its reference is a side input
			ss.RowsIn += pipeRows[lk.Reference]
			ss.BatchesIn += pipeBatches[lk.Reference]
		}
		for _, p := range st.Outputs() {
			_, reject := job.PipeSchema(p.Name())
			rows := vals[key{st.Name(), "rows_out", p.Name()}]
			batches := vals[key{st.Name(), "batches_out", p.Name()}]
			if isCopy {
				rows, batches = ss.RowsIn, ss.BatchesIn
			}
			pipeRows[p.Name()], pipeBatches[p.Name()] = rows, batches
			if reject {
				ss.Rejected += rows
			} else {
				ss.RowsOut += rows
				ss.BatchesOut += batches
			}
			s.Pipes = append(s.Pipes, openstage.PipeStats{Pipe: p.Name(), From: st.Name(), To: p.Destination().Name(), Rows: rows, Batches: batches, Reject: reject})
		}
		for k, v := range vals {
			if k.stage == st.Name() && k.kind == "counter" {
				ss.Counters[k.what] = v
			}
		}
		s.Stages = append(s.Stages, ss)
	}
	now := time.Now()
	for i := range s.Stages {
		s.Stages[i].End = now
		s.Stages[i].Elapsed = now.Sub(start)
	}
	return s
}

func counterValue(c metrics.CounterResult) int64 {
	if c.Committed != 0 {
		return c.Committed
	}
	return c.Attempted
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// partDir is where the parts of one input pipe of a destination go.
func partDir(root, stage, pipe string) string {
	return filepath.Join(root, safeName(stage), safeName(pipe))
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, s) + "-" + strconv.Itoa(len(s))
}

func csvTasks(o *csvio.CSVOrigin, size int64) ([][]byte, error) {
	parts, err := o.Parts(size)
	if err != nil {
		return nil, err
	}
	tasks := make([][]byte, len(parts))
	for i, p := range parts {
		data, err := json.Marshal(csvTask{N: uint32(i), Part: p})
		if err != nil {
			return nil, err
		}
		tasks[i] = data
	}
	return tasks, nil
}

var _ = arrow.PrimitiveTypes

// quietBeam sends the Beam SDK's and Prism's logs (slog's default logger)
// to the job's logger when it logs at info or below (--verbose,
// --log-level), and nowhere otherwise: Open-Stage reports the outcome
// itself. It returns what gives slog's default logger back.
//
// Prism's workers keep logging for a moment after the pipeline has
// returned (their log stream reports "[SDK] stopping worker", the failed
// bundle, ...), from goroutines that look slog's default logger up then.
// So the default logger is a switch installed once: during a run it sends
// everything to the run's target; between runs it sends to the logger that
// was the default before, except those late "[SDK] " lines of a finished run.
func quietBeam(logger *slog.Logger) func() {
	logSwitchOnce.Do(func() {
		logSwitchPrev = slog.Default().Handler()
		logSwitch.target.Store(&handlerBox{&idleHandler{logSwitchPrev}})
		slog.SetDefault(slog.New(logSwitch))
	})
	var h slog.Handler = slog.DiscardHandler
	if logger != nil && logger.Enabled(context.Background(), slog.LevelInfo) {
		h = logger.With("source", "beam").Handler()
	}
	logSwitch.target.Store(&handlerBox{h})
	return func() { logSwitch.target.Store(&handlerBox{&idleHandler{logSwitchPrev}}) }
}

var (
	logSwitchOnce sync.Once
	logSwitchPrev slog.Handler
	logSwitch     = &switchHandler{}
)

// switchHandler forwards to the handler in target.
type switchHandler struct{ target atomic.Pointer[handlerBox] }

type handlerBox struct{ slog.Handler }

func (s *switchHandler) h() slog.Handler { return s.target.Load().Handler }
func (s *switchHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return s.h().Enabled(ctx, l)
}
func (s *switchHandler) Handle(ctx context.Context, r slog.Record) error { return s.h().Handle(ctx, r) }

// WithAttrs and WithGroup bind to the handler of the moment: Beam's code
// logs through slog's package functions, which do not call them.
func (s *switchHandler) WithAttrs(a []slog.Attr) slog.Handler { return s.h().WithAttrs(a) }
func (s *switchHandler) WithGroup(n string) slog.Handler      { return s.h().WithGroup(n) }

// idleHandler is the default logger between runs: the previous one, less
// the late lines of Prism's workers.
type idleHandler struct{ slog.Handler }

func (h *idleHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "[SDK] ") {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}
