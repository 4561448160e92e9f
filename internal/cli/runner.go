package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/jobfile"
)

// BeamBuildCommand builds the openstage command with the Beam runners
// (module beam/, kept apart so that the core's build stays light). Run it
// from the repository's root.
const BeamBuildCommand = "go -C beam build -o ../openstage ./cmd/openstage"

// BeamRunners are the runners a binary built with BeamBuildCommand adds.
var BeamRunners = []string{"prism", "dataflow", "flink", "spark"}

// A Runner runs a job on an engine other than the local one (--runner).
// The job has been loaded with the command's flags and validated. Check
// reports, as a *openstage.ValidationError, what the runner cannot run;
// Run runs the job and returns its summary (nil if it never started) and
// its error: an invalid job wraps a *openstage.ValidationError, a cancelled
// one openstage.ErrCancelled. A failed run leaves no output.
type Runner interface {
	Check(ctx context.Context, f *jobfile.File, opts RunnerOptions) error
	Run(ctx context.Context, f *jobfile.File, opts RunnerOptions) (*openstage.Summary, error)
}

// RunnerOptions are what the command gives a Runner besides the job.
type RunnerOptions struct {
	Runner      string            // --runner
	BeamOptions map[string]string // --beam-option name=value
	Params      map[string]string // --param
	ParamFile   string
	ParamSet    string
	Workers     int
	MemoryLimit int64
	TempDir     string
	Overwrite   bool
	MaxRejects  *int64
	Log         io.Writer
}

var runners = map[string]Runner{}

// RegisterRunner makes --runner name run jobs with r. The Beam module's
// command registers prism, dataflow, flink and spark.
func RegisterRunner(name string, r Runner) { runners[name] = r }

// runnerFlags are --runner and --beam-option.
type runnerFlags struct {
	name    string
	options params
}

func (r *runnerFlags) register(fs *flag.FlagSet) {
	r.options = params{}
	fs.StringVar(&r.name, "runner", "local", "where the job runs: local (this process's engine), or with a Beam build: prism (Beam's Prism runner, in this process), dataflow, flink, spark")
	fs.Var(r.options, "beam-option", "Beam pipeline option name=value for --runner prism|dataflow|flink|spark (repeatable): project, region, temp_location, endpoint, ...")
}

func (r *runnerFlags) local() bool { return r.name == "" || r.name == "local" }

// runner returns the chosen runner, or the message (exit status 2) saying
// why there is none.
func (r *runnerFlags) runner() (Runner, error) {
	if x, ok := runners[r.name]; ok {
		return x, nil
	}
	if slices.Contains(BeamRunners, r.name) {
		return nil, fmt.Errorf("--runner %s needs the openstage command built with Beam support; build it from the repository's root with:\n  %s", r.name, BeamBuildCommand)
	}
	names := []string{"local"}
	for n := range runners {
		names = append(names, n)
	}
	sort.Strings(names[1:])
	if len(runners) == 0 {
		names = append(names, BeamRunners...)
	}
	return nil, fmt.Errorf("unknown --runner %q; use one of %s", r.name, strings.Join(names, ", "))
}

func (r *runnerFlags) runnerOptions(rf *runFlags, logw io.Writer, job *openstage.Job) RunnerOptions {
	return RunnerOptions{Runner: r.name, BeamOptions: r.options, Params: rf.params, ParamFile: rf.paramFile, ParamSet: rf.paramSet,
		Workers: rf.workers, MemoryLimit: job.MemoryLimit, TempDir: rf.tempDir, Overwrite: rf.overwrite, MaxRejects: job.MaxRejects, Log: logw}
}

// unsupported names the run flags a runner other than local does not take.
func (r *runnerFlags) unsupported(rf *runFlags) error {
	if r.local() {
		if len(r.options) > 0 {
			return fmt.Errorf("--beam-option needs --runner prism, dataflow, flink or spark")
		}
		return nil
	}
	for _, name := range []string{"rows", "dry-run", "metrics-addr", "metrics-push"} {
		if rf.set[name] {
			return fmt.Errorf("--%s is not available with --runner %s; run with --runner local", name, r.name)
		}
	}
	return nil
}

// check runs the chosen runner's Check for validate --runner; it prints
// the problems and returns the exit status.
func (r *runnerFlags) check(ctx context.Context, f *jobfile.File, rf *runFlags, stderr io.Writer) int {
	if r.local() {
		return ExitOK
	}
	x, err := r.runner()
	if err != nil {
		fmt.Fprintf(stderr, "openstage validate: %v\n", err)
		return ExitInvalid
	}
	if err := x.Check(ctx, f, r.runnerOptions(rf, stderr, f.Job)); err != nil {
		fmt.Fprintf(stderr, "openstage: invalid job: %v\n", sortProblems(err))
		return ExitInvalid
	}
	return ExitOK
}

// run runs the job on the chosen runner (runJob checked that there is one).
func (r *runnerFlags) run(ctx context.Context, f *jobfile.File, rf *runFlags, logw io.Writer) (*openstage.Summary, error) {
	x, err := r.runner()
	if err != nil {
		return nil, err
	}
	return x.Run(ctx, f, r.runnerOptions(rf, logw, f.Job))
}
