package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/metrics"
	"github.com/open-stage/openstage/internal/report"
	"github.com/open-stage/openstage/jobfile"
)

// jobFlags are the flags that choose a job file's parameters, shared by
// run, validate, schema and graph.
type jobFlags struct {
	params    params
	paramFile string
	paramSet  string
}

func (jf *jobFlags) register(fs *flag.FlagSet) {
	jf.params = params{}
	fs.Var(jf.params, "param", "job parameter name=value (repeatable)")
	fs.Var(jf.params, "p", "short for --param")
	fs.StringVar(&jf.paramFile, "param-file", "", "YAML file of job parameter values (name: value), applied over the job's params and parameter set")
	fs.StringVar(&jf.paramSet, "param-set", "", "parameter set of the job file (param_sets:) to apply")
}

func (jf *jobFlags) load(path string) (*jobfile.File, error) {
	return jobfile.Load(path, jobfile.Options{Params: jf.params, ParamFile: jf.paramFile, ParamSet: jf.paramSet})
}

// runFlags are the flags of run and validate.
type runFlags struct {
	jobFlags
	quiet, verbose bool
	workers        int
	memLimit       string
	tempDir        string
	report         string
	logFormat      string
	logLevel       string
	metricsAddr    string
	metricsPush    string
	rows           int64
	maxRejects     int64
	overwrite      bool
	dryRun         bool
	schema         bool
	format         string
	explain        bool
	noOptimize     bool
	set            map[string]bool // flags given on the command line
	rn             runnerFlags     // --runner, --beam-option (runner.go)
}

func (rf *runFlags) register(fs *flag.FlagSet, validate bool) {
	rf.jobFlags.register(fs)
	fs.BoolVar(&rf.quiet, "quiet", false, "print neither the run summary nor the progress display (nor warnings, unless --log-level is given)")
	fs.BoolVar(&rf.verbose, "verbose", false, "log job and stage events on stderr (same as --log-level info); validate also prints which expressions run vectorised and which nodes row by row")
	fs.IntVar(&rf.workers, "workers", 0, "goroutines per parallel stage (0: one per core)")
	fs.StringVar(&rf.memLimit, "memory-limit", "", "memory the stages that hold data may use before spilling to disk, e.g. 512MB or 4GiB (default: half of the machine's memory)")
	fs.StringVar(&rf.tempDir, "temp-dir", "", "folder for spill files (default: the system's temporary folder)")
	fs.StringVar(&rf.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&rf.logLevel, "log-level", "", "log level: debug, info, warn or error (default warn; info with --verbose or --log-format)")
	fs.BoolVar(&rf.noOptimize, "no-optimize", false, "run the job exactly as written: no projection pushdown, no filter applied while reading, no plan rewrite")
	fs.BoolVar(&rf.overwrite, "overwrite", false, "every file destination replaces an existing file, even with if_exists: fail (DataStage's APT_CLOBBER_OUTPUT)")
	rf.rn.register(fs)
	if validate {
		fs.BoolVar(&rf.schema, "schema", false, "print the columns and types of every pipe")
		fs.StringVar(&rf.format, "format", "text", "with --schema: text or json")
		fs.BoolVar(&rf.explain, "explain", false, "print how the optimizer rewrote the plan (what each rewritten stage does instead)")
		return
	}
	fs.BoolVar(&rf.dryRun, "dry-run", false, "run without calling paid services: AI stages print their first request and an estimate of requests and tokens on stderr and send nothing; no destination commits")
	fs.StringVar(&rf.report, "report", "", "write a JSON report of the run to this file (also when the run fails)")
	fs.StringVar(&rf.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics while the job runs, e.g. 127.0.0.1:9464")
	fs.StringVar(&rf.metricsPush, "metrics-push", "", "push the final metrics to this Pushgateway URL when the job ends")
	fs.Int64Var(&rf.rows, "rows", 0, "trial run: each origin stops after this many rows (0: all)")
	fs.Int64Var(&rf.maxRejects, "max-rejects", -1, "fail the job once more than this many rows are rejected in total (-1: no limit)")
}

// logger builds the job's logger from the flags (nil: no log).
func (rf *runFlags) logger(w io.Writer) (*slog.Logger, error) {
	o := LogOptions{Format: rf.logFormat, Level: rf.logLevel}
	switch {
	case rf.set["log-level"]:
	case rf.verbose || rf.set["log-format"]:
		o.Level = "info"
	case rf.quiet:
		// Validate the format all the same.
		if _, err := NewLogger(io.Discard, o); err != nil {
			return nil, err
		}
		return nil, nil
	default:
		o.Level = "warn"
	}
	return NewLogger(w, o)
}

// switchWriter lets the log move onto the progress display while it is
// drawn, and back.
type switchWriter struct{ w atomic.Pointer[io.Writer] }

func newSwitchWriter(w io.Writer) *switchWriter {
	s := &switchWriter{}
	s.w.Store(&w)
	return s
}

func (s *switchWriter) set(w io.Writer)             { s.w.Store(&w) }
func (s *switchWriter) Write(p []byte) (int, error) { return (*s.w.Load()).Write(p) }

func runCmd(args []string, stdout, stderr io.Writer, validateOnly bool) int {
	name := "run"
	if validateOnly {
		name = "validate"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var rf runFlags
	rf.register(fs, validateOnly)
	pos, err := parse(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "openstage %s: %v\n", name, err)
		return ExitInvalid
	}
	rf.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { rf.set[f.Name] = true })
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "openstage %s: give exactly one job file, got %d\n\n%s", name, len(pos), usage)
		return ExitInvalid
	}
	if err := rf.rn.unsupported(&rf); err != nil {
		fmt.Fprintf(stderr, "openstage %s: %v\n", name, err)
		return ExitInvalid
	}
	if validateOnly {
		return validateCmd(pos[0], &rf, stdout, stderr)
	}
	return runJob(pos[0], &rf, stderr)
}

// prepare loads the job and applies the flags common to run and validate.
// Its error is the message to print after "openstage: " (exit status 2).
func prepare(path string, rf *runFlags, logw io.Writer) (*jobfile.File, *slog.Logger, error) {
	logger, err := rf.logger(logw)
	if err != nil {
		return nil, nil, err
	}
	f, loadErr := rf.load(path)
	if loadErr != nil && (f == nil || !openstage.IsValidation(loadErr)) {
		return nil, nil, fmt.Errorf("invalid job: %w", sortProblems(loadErr))
	}
	job := f.Job
	job.Workers = rf.workers
	job.TempDir = rf.tempDir
	job.Logger = logger
	job.NoOptimize = rf.noOptimize
	if rf.memLimit != "" {
		n, err := ParseSize(rf.memLimit)
		if err != nil {
			return nil, nil, fmt.Errorf("--memory-limit: %w", err)
		}
		job.MemoryLimit = n
	}
	if loadErr != nil {
		// Problems in the file: find the others (missing files, unknown
		// columns) in the rest of the job, and report them all, by line.
		return nil, nil, fmt.Errorf("invalid job: %w", sortProblems(loadErr, job.Validate(context.Background())))
	}
	if rf.overwrite {
		Overwrite(job, nil, logger)
	}
	return f, logger, nil
}

func validateCmd(path string, rf *runFlags, stdout, stderr io.Writer) int {
	if rf.format != "text" && rf.format != "json" {
		fmt.Fprintf(stderr, "openstage validate: unknown format %q; use text or json\n", rf.format)
		return ExitInvalid
	}
	f, _, err := prepare(path, rf, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "openstage: %v\n", err)
		return ExitInvalid
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	job := f.Job
	if err := job.Validate(ctx); err != nil {
		fmt.Fprintf(stderr, "openstage: invalid job: %v\n", sortProblems(err))
		return ExitInvalid
	}
	if code := rf.rn.check(ctx, f, rf, stderr); code != ExitOK {
		return code
	}
	if rf.schema {
		if err := WriteSchemas(stdout, job, rf.format); err != nil {
			fmt.Fprintf(stderr, "openstage: %v\n", err)
			return ExitFailed
		}
		return ExitOK
	}
	fmt.Fprintf(stdout, "%s: job '%s' is valid (%d stages, %d pipes)\n", path, f.Name, len(job.Stages()), len(job.Pipes()))
	if rf.explain || rf.verbose {
		WriteExplain(stdout, job)
	} else {
		for _, pr := range job.Projections() {
			fmt.Fprintf(stdout, "  %s reads %d of %d columns: %s (no stage uses the others)\n", pr.Stage, len(pr.Columns), pr.Of, strings.Join(pr.Columns, ", "))
		}
		for _, fo := range job.Folds() {
			fmt.Fprintf(stdout, "  %s applies the filter of %s (%s) at the source: %s\n", fo.Origin, fo.Filter, fo.Condition, fo.How)
		}
	}
	if rf.verbose { // how expressions run: the stages that can say implement Explain
		for _, s := range job.Stages() {
			if ex, ok := s.Component().(interface{ Explain() []string }); ok {
				for _, line := range ex.Explain() {
					fmt.Fprintf(stdout, "  %s: %s\n", s.Name(), line)
				}
			}
		}
	}
	return ExitOK
}

// WriteExplain writes the optimizer's rewrites of a validated job's plan,
// one per line (openstage validate --explain).
func WriteExplain(w io.Writer, job *openstage.Job) {
	rw := job.Rewrites()
	switch {
	case job.NoOptimize:
		fmt.Fprintln(w, "  plan: as written (--no-optimize)")
		return
	case len(rw) == 0:
		fmt.Fprintln(w, "  plan: as written (no rewrite applies)")
		return
	}
	fmt.Fprintf(w, "  plan: %s (--no-optimize runs it as written)\n", plural(len(rw), "rewrite"))
	for _, r := range rw {
		fmt.Fprintf(w, "    %s: %s\n", r.Rule, r.Detail)
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// WriteSchemas writes the schema of every pipe of a validated job as text
// or as a JSON array of report.PipeSchema.
func WriteSchemas(w io.Writer, job *openstage.Job, format string) error {
	schemas := report.Schemas(job)
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(schemas)
	}
	return report.WriteSchemas(w, schemas)
}

// NewReport starts the report of a run of the job in f: job, file,
// version, parameters with secret ones masked, the parameter set and the
// row limit. FromSummary or Invalid complete it.
func NewReport(f *jobfile.File, paramSet string) *report.Run {
	r := &report.Run{Job: f.Name, File: f.Path, Version: version(), ParamSet: paramSet, Params: report.Params(f.Params, f.IsSecretParam), Stages: []report.Stage{}, Pipes: []report.Pipe{}}
	if f.Job != nil {
		r.RowLimit = f.Job.RowLimit
	}
	return r
}

func runJob(path string, rf *runFlags, stderr io.Writer) int {
	start := time.Now()
	logw := newSwitchWriter(stderr)
	writeReport := func(r *report.Run, code int) int {
		if rf.report == "" {
			return code
		}
		if err := r.WriteFile(rf.report); err != nil {
			fmt.Fprintf(stderr, "openstage: --report: %v\n", err)
			return max(code, ExitFailed)
		}
		return code
	}
	f, logger, err := prepare(path, rf, logw)
	if err != nil {
		fmt.Fprintf(stderr, "openstage: %v\n", err)
		// The report of a job that never ran: its name is the file's.
		r := &report.Run{Job: strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), File: path, Version: version(), Params: map[string]any{}, ParamSet: rf.paramSet}
		r.Invalid(start, err)
		return writeReport(r, ExitInvalid)
	}
	job := f.Job
	if !rf.rn.local() {
		if _, err := rf.rn.runner(); err != nil {
			fmt.Fprintf(stderr, "openstage run: %v\n", err)
			return ExitInvalid
		}
	}
	job.RowLimit = rf.rows
	if rf.dryRun {
		job.DryRun = logw
	}
	if rf.maxRejects >= 0 {
		job.MaxRejects = new(rf.maxRejects)
	}
	rep := NewReport(f, rf.paramSet)
	rep.DryRun = rf.dryRun
	if logger != nil {
		logger.Info("job file loaded", "job", f.Name, "file", path, "parameters", rep.Params, "param_set", rf.paramSet)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var srv *metrics.Server
	if rf.metricsAddr != "" {
		var err error
		srv, err = metrics.Serve(rf.metricsAddr, metrics.NewCollector(job.Name, job.Stats, true).Registry())
		if err != nil {
			fmt.Fprintf(stderr, "openstage run: --metrics-addr: %v\n", err)
			return ExitInvalid
		}
		defer srv.Close()
		if logger != nil {
			logger.Info("serving metrics", "job", job.Name, "url", "http://"+srv.Addr.String()+"/metrics")
		}
	}
	var progress *Progress
	if !rf.quiet && IsTerminal(stderr) && rf.rn.local() {
		progress = StartProgress(stderr, job.Stats)
		logw.set(progress)
	}
	var summary *openstage.Summary
	if rf.rn.local() {
		err = job.Run(ctx)
		summary = job.Summary()
	} else {
		summary, err = rf.rn.run(ctx, f, rf, logw)
	}
	if progress != nil {
		progress.Stop()
		logw.set(stderr)
	}
	if rf.metricsPush != "" && job.Stats() != nil {
		if perr := metrics.Push(context.Background(), rf.metricsPush, metrics.NewCollector(job.Name, job.Stats, false)); perr != nil {
			fmt.Fprintf(stderr, "openstage: warning: --metrics-push: %v\n", perr)
		}
	}
	if s := summary; s != nil && !rf.quiet {
		s.WriteTable(stderr)
	}
	if s := summary; s != nil {
		rep.FromSummary(s, report.DefaultLayers)
	} else if err != nil {
		rep.Invalid(start, err)
	}
	switch {
	case err == nil && rf.dryRun:
		fmt.Fprintf(stderr, "openstage: dry run of job '%s': no request was sent and no output was committed\n", f.Name)
		return writeReport(rep, ExitOK)
	case err == nil:
		return writeReport(rep, ExitOK)
	case openstage.IsValidation(err):
		fmt.Fprintf(stderr, "openstage: invalid job: %v\n", sortProblems(err))
		return writeReport(rep, ExitInvalid)
	case errors.Is(err, openstage.ErrCancelled):
		fmt.Fprintf(stderr, "openstage: job '%s' cancelled; no output was committed\n", f.Name)
		return writeReport(rep, ExitFailed)
	}
	fmt.Fprintf(stderr, "openstage: job '%s' failed: %v\n", f.Name, err)
	return writeReport(rep, ExitFailed)
}
