// Package report is the run report of a job (`openstage run --report
// run.json`) and the description of the schema on each pipe (`openstage
// schema`), as Go values with a stable JSON form. The CLI writes them; the
// graph pictures read a report back to label pipes with row counts; a web
// front end can serve the same values.
package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/atomicfile"
)

// Masked is what a report shows for a secret parameter's value.
const Masked = "***"

// Run is the report of one run of a job.
type Run struct {
	Job     string `json:"job"`
	File    string `json:"file,omitempty"` // the job file, when the job came from one
	Version string `json:"openstage_version,omitempty"`
	// Params are the job parameters with the values the run used (after
	// parameter sets, parameter files and --param); secret ones are "***".
	Params   map[string]any `json:"parameters"`
	ParamSet string         `json:"param_set,omitempty"`
	Start    time.Time      `json:"start"`
	End      time.Time      `json:"end"`
	Elapsed  float64        `json:"elapsed_seconds"`
	// Status is succeeded, failed, cancelled or invalid (the job did not
	// get past validation, so no stage ran).
	Status   string  `json:"status"`
	Error    string  `json:"error,omitempty"`
	RowLimit int64   `json:"row_limit,omitempty"` // --rows: a trial run
	DryRun   bool    `json:"dry_run,omitempty"`   // --dry-run: no request sent, nothing committed
	Stages   []Stage `json:"stages"`
	Pipes    []Pipe  `json:"pipes"`
}

// Stage is one stage's figures in a run.
type Stage struct {
	Name          string           `json:"name"`
	Type          string           `json:"type"`
	Layer         string           `json:"layer,omitempty"`
	RowsIn        int64            `json:"rows_in"`
	RowsOut       int64            `json:"rows_out"`
	Rejected      int64            `json:"rejected"`
	BatchesIn     int64            `json:"batches_in"`
	BatchesOut    int64            `json:"batches_out"`
	BytesOut      int64            `json:"bytes_out"`
	RowsPerSecond float64          `json:"rows_per_second"`
	InputTokens   int64            `json:"input_tokens,omitempty"`
	OutputTokens  int64            `json:"output_tokens,omitempty"`
	Counters      map[string]int64 `json:"counters,omitempty"`
	Start         *time.Time       `json:"start,omitempty"`
	End           *time.Time       `json:"end,omitempty"`
	Elapsed       float64          `json:"elapsed_seconds"`
	Error         string           `json:"error,omitempty"` // the stage's own failure
}

// Pipe is one pipe's figures in a run.
type Pipe struct {
	Name    string `json:"name"`
	From    string `json:"from"`
	To      string `json:"to"`
	Rows    int64  `json:"rows"`
	Batches int64  `json:"batches"`
	Bytes   int64  `json:"bytes"`
	Reject  bool   `json:"reject,omitempty"`
}

// Layers gives a stage type's layer (nil: none are recorded).
type Layers func(typ string) openstage.Layer

// DefaultLayers looks types up in the default registry.
func DefaultLayers(typ string) openstage.Layer {
	if s, ok := openstage.DefaultRegistry().Lookup(typ); ok {
		return s.Layer
	}
	return ""
}

// Params returns the job parameters for a report: secret ones (those
// secret reports true for) masked.
func Params(params map[string]any, secret func(name string) bool) map[string]any {
	out := make(map[string]any, len(params))
	for k, v := range params {
		if secret != nil && secret(k) {
			v = Masked
		}
		out[k] = v
	}
	return out
}

// FromSummary fills the stages, pipes, times, status and error of r from
// a run's summary (Job.Summary after Run, or Job.Stats during it).
func (r *Run) FromSummary(s *openstage.Summary, layers Layers) {
	r.Start, r.End = s.Start, s.End
	if r.End.IsZero() && !s.Running {
		r.End = s.Start.Add(s.Elapsed)
	}
	r.Elapsed = s.Elapsed.Seconds()
	r.Status = s.Status()
	if s.Err != nil {
		r.Error = s.Err.Error()
	}
	r.Stages, r.Pipes = r.Stages[:0], r.Pipes[:0]
	for _, st := range s.Stages {
		rs := Stage{
			Name: st.Stage, Type: st.Type, RowsIn: st.RowsIn, RowsOut: st.RowsOut, Rejected: st.Rejected,
			BatchesIn: st.BatchesIn, BatchesOut: st.BatchesOut, BytesOut: st.BytesOut,
			RowsPerSecond: st.RowsPerSecond(), Elapsed: st.Elapsed.Seconds(),
		}
		if layers != nil {
			rs.Layer = string(layers(st.Type))
		}
		rs.InputTokens, rs.OutputTokens, _ = st.Tokens()
		for k, v := range st.Counters {
			if k == openstage.CounterInputTokens || k == openstage.CounterOutputTokens {
				continue
			}
			if rs.Counters == nil {
				rs.Counters = map[string]int64{}
			}
			rs.Counters[k] = v
		}
		if !st.Start.IsZero() {
			rs.Start = &st.Start
		}
		if !st.End.IsZero() {
			rs.End = &st.End
		}
		if st.Err != nil {
			rs.Error = st.Err.Error()
		}
		r.Stages = append(r.Stages, rs)
	}
	for _, p := range s.Pipes {
		r.Pipes = append(r.Pipes, Pipe{Name: p.Pipe, From: p.From, To: p.To, Rows: p.Rows, Batches: p.Batches, Bytes: p.Bytes, Reject: p.Reject})
	}
}

// Invalid marks r as the report of a run that did not get past validation:
// no stage ran.
func (r *Run) Invalid(at time.Time, err error) {
	r.Start, r.End, r.Elapsed = at, time.Now(), time.Since(at).Seconds()
	r.Status, r.Error = "invalid", err.Error()
	if r.Stages == nil {
		r.Stages = []Stage{}
	}
	if r.Pipes == nil {
		r.Pipes = []Pipe{}
	}
}

// Pipe returns the pipe called name.
func (r *Run) Pipe(name string) (Pipe, bool) {
	i := slices.IndexFunc(r.Pipes, func(p Pipe) bool { return p.Name == name })
	if i < 0 {
		return Pipe{}, false
	}
	return r.Pipes[i], true
}

// Stage returns the stage called name.
func (r *Run) Stage(name string) (Stage, bool) {
	i := slices.IndexFunc(r.Stages, func(s Stage) bool { return s.Name == name })
	if i < 0 {
		return Stage{}, false
	}
	return r.Stages[i], true
}

// WriteFile writes the report as indented JSON to path, atomically (a
// reader never sees half a report).
func (r *Run) WriteFile(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(path, append(data, '\n'))
}

func writeFile(path string, data []byte) error {
	f, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return fmt.Errorf("cannot write '%s': %w", path, errors.Unwrap(err))
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return fmt.Errorf("cannot write '%s': %w", path, err)
	}
	return f.Commit()
}

// ReadFile reads a report written by WriteFile.
func ReadFile(path string) (*Run, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read run report: %w", errors.Unwrap(err))
	}
	var r Run
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("'%s' is not a run report (openstage run --report writes one): %v", path, err)
	}
	if r.Job == "" && r.Stages == nil {
		return nil, fmt.Errorf("'%s' is not a run report (openstage run --report writes one): no job and no stages", path)
	}
	return &r, nil
}
