// Package openstagetest helps test components: an in-memory origin and
// destination, and RunNode, which runs one component between them under
// Arrow's checked allocator so that every leaked buffer fails the test.
package openstagetest

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// Source is an Origin that sends rows held in memory, BatchRows at a time.
type Source struct {
	Schema    *arrow.Schema
	Rows      [][]any
	BatchRows int // 0 means all rows in one batch
}

// Plan implements openstage.Origin.
func (s *Source) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(s.Schema)
	return nil
}

// Pump implements openstage.Origin.
func (s *Source) Pump(ctx context.Context, out *openstage.Outputs) error {
	n := s.BatchRows
	if n <= 0 {
		n = max(1, len(s.Rows))
	}
	for start := 0; start < len(s.Rows); start += n {
		b := openstage.NewBuilder(out.Allocator(), s.Schema)
		for _, r := range s.Rows[start:min(start+n, len(s.Rows))] {
			if err := b.Append(r...); err != nil {
				b.Release()
				return err
			}
		}
		rec := b.Build()
		b.Release()
		err := out.Send(ctx, rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// ProjectableSource is a Source that implements openstage.Projector: after
// the engine's projection pushdown, it sends only the columns asked for, and
// Projected records them (nil when every column is read). Use it to test a
// component's Reads and PassesThrough declarations.
type ProjectableSource struct {
	Source
	Projected []string
}

// Project implements openstage.Projector.
func (s *ProjectableSource) Project(cols []string) { s.Projected = cols }

// Plan implements openstage.Origin.
func (s *ProjectableSource) Plan(_ context.Context, p *openstage.Plan) error {
	sc, _, err := s.projection()
	if err != nil {
		return err
	}
	p.SetOutputs(sc)
	return nil
}

func (s *ProjectableSource) projection() (*arrow.Schema, []int, error) {
	if s.Projected == nil {
		return s.Schema, nil, nil
	}
	var fields []arrow.Field
	var idx []int
	for _, c := range s.Projected {
		i, err := openstage.FieldIndex(s.Schema, c)
		if err != nil {
			return nil, nil, err
		}
		idx = append(idx, i)
		fields = append(fields, s.Schema.Field(i))
	}
	return arrow.NewSchema(fields, nil), idx, nil
}

// Pump implements openstage.Origin.
func (s *ProjectableSource) Pump(ctx context.Context, out *openstage.Outputs) error {
	sc, idx, err := s.projection()
	if err != nil || idx == nil {
		if err != nil {
			return err
		}
		return s.Source.Pump(ctx, out)
	}
	rows := make([][]any, len(s.Rows))
	for i, r := range s.Rows {
		rows[i] = make([]any, len(idx))
		for j, c := range idx {
			rows[i][j] = r[c]
		}
	}
	p := &Source{Schema: sc, Rows: rows, BatchRows: s.BatchRows}
	return p.Pump(ctx, out)
}

// Sink is a Destination that keeps every row it receives, as Go values
// (see openstage.Column.Value), and the schema of its input as planned.
// SchemaErr records the first batch whose schema differs from the planned
// one (the engine's contract: every batch has the planned schema).
type Sink struct {
	mu        sync.Mutex
	Schema    *arrow.Schema
	Rows      [][]any
	Batches   int
	SchemaErr error
	// OnBatch, when set, is called after each batch is kept (a test cancels
	// the job from it, say).
	OnBatch func(batches int)
}

// Plan implements openstage.Destination.
func (s *Sink) Plan(_ context.Context, p *openstage.Plan) error {
	s.Schema = p.InputSchema()
	return nil
}

// Sink implements openstage.Destination.
func (s *Sink) Sink(ctx context.Context, in *openstage.Inputs) error {
	return in.ForEach(ctx, func(dp openstage.DataPackage) error {
		s.mu.Lock()
		s.Rows = append(s.Rows, RowsOf(dp.Batch)...)
		s.Batches++
		if s.SchemaErr == nil && s.Schema != nil && !dp.Batch.Schema().Equal(s.Schema) {
			s.SchemaErr = fmt.Errorf("batch %d has schema %v, but the plan declared %v", s.Batches, dp.Batch.Schema(), s.Schema)
		}
		n := s.Batches
		s.mu.Unlock()
		if s.OnBatch != nil {
			s.OnBatch(n)
		}
		return nil
	})
}

// RowsOf returns the rows of rec as Go values.
func RowsOf(rec arrow.RecordBatch) [][]any {
	b := openstage.View(rec)
	rows := make([][]any, b.Len())
	for i := range rows {
		row := make([]any, rec.NumCols())
		for c := range row {
			row[c] = b.ColAt(c).Value(i)
		}
		rows[i] = row
	}
	return rows
}

// Input is the data of one input pipe of RunNode.
type Input struct {
	Pipe      string
	Schema    *arrow.Schema
	Rows      [][]any
	BatchRows int
}

// Result is what a run observed.
type Result struct {
	Outputs map[string]*Sink // by output pipe name
	Summary *openstage.Summary
	Job     *openstage.Job
}

// An Option changes how RunNode, RunOrigin and RunDestination run the job.
type Option func(*runConfig)

type runConfig struct {
	job *openstage.Job
	ctx context.Context
}

// MemoryLimit sets the job's memory limit (Job.MemoryLimit), so that a test
// can make a stage spill.
func MemoryLimit(bytes int64) Option { return func(c *runConfig) { c.job.MemoryLimit = bytes } }

// TempDir sets where spill files go (Job.TempDir).
func TempDir(dir string) Option { return func(c *runConfig) { c.job.TempDir = dir } }

// Workers sets how many goroutines parallel stages use (Job.Workers).
func Workers(n int) Option { return func(c *runConfig) { c.job.Workers = n } }

// Registry sets the job's registry (Job.Registry).
func Registry(r *openstage.Registry) Option { return func(c *runConfig) { c.job.Registry = r } }

// Context runs the job under ctx instead of context.Background() (a test
// that cancels the job mid-stream).
func Context(ctx context.Context) Option { return func(c *runConfig) { c.ctx = ctx } }

// run runs job under a checked allocator and fails t on leaked buffers.
func run(t testing.TB, job *openstage.Job, opts []Option) error {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	job.Allocator = mem
	cfg := &runConfig{job: job, ctx: context.Background()}
	for _, o := range opts {
		o(cfg)
	}
	return job.Run(cfg.ctx)
}

// RunNode runs component c (a Node or Destination) as a stage called "stage"
// fed by one Source per input, with a Sink on each named output pipe. It uses
// a checked allocator and fails t if any buffer leaks. The error is the job's
// (a validation or a runtime error).
func RunNode(t testing.TB, c any, inputs []Input, outputs ...string) (*Result, error) {
	t.Helper()
	return RunNodeWith(t, c, inputs, outputs)
}

// RunNodeWith is RunNode with options.
func RunNodeWith(t testing.TB, c any, inputs []Input, outputs []string, opts ...Option) (*Result, error) {
	t.Helper()
	stage := openstage.NewStage("stage", c)
	job := openstage.NewJob("test")
	for i, in := range inputs {
		src := openstage.NewStage(fmt.Sprintf("source_%d", i+1), &Source{Schema: in.Schema, Rows: in.Rows, BatchRows: in.BatchRows})
		src.AddOutputPipe(openstage.NewPipe(in.Pipe)).SetDestination(stage)
		job.Add(src)
	}
	res := &Result{Outputs: map[string]*Sink{}, Job: job}
	for _, o := range outputs {
		sink := &Sink{}
		res.Outputs[o] = sink
		stage.AddOutputPipe(openstage.NewPipe(o)).SetDestination(openstage.NewStage("sink_"+o, sink))
	}
	job.Add(stage)
	err := run(t, job, opts)
	res.Summary = job.Summary()
	return res, err
}

// RunOrigin runs origin as a stage called "origin" with a Sink on its output
// pipe "out" (and on each further pipe named with Outputs, such as a reject
// pipe), under a checked allocator.
func RunOrigin(t testing.TB, origin any, opts ...Option) (*Result, error) {
	t.Helper()
	return RunOriginTo(t, origin, []string{"out"}, opts...)
}

// RunOriginTo is RunOrigin with the output pipes named.
func RunOriginTo(t testing.TB, origin any, outputs []string, opts ...Option) (*Result, error) {
	t.Helper()
	stage := openstage.NewStage("origin", origin)
	res := &Result{Outputs: map[string]*Sink{}}
	for _, o := range outputs {
		sink := &Sink{}
		res.Outputs[o] = sink
		stage.AddOutputPipe(openstage.NewPipe(o)).SetDestination(openstage.NewStage("sink_"+o, sink))
	}
	res.Job = openstage.NewJob("test", stage)
	err := run(t, res.Job, opts)
	res.Summary = res.Job.Summary()
	return res, err
}

// RunDestination runs dest as a stage called "destination" fed by one Source
// per input, under a checked allocator.
func RunDestination(t testing.TB, dest any, inputs []Input, opts ...Option) (*Result, error) {
	t.Helper()
	return RunNodeWith(t, dest, inputs, nil, opts...)
}

// DryRun makes the run a dry run writing to w (Job.DryRun).
func DryRun(w io.Writer) Option { return func(c *runConfig) { c.job.DryRun = w } }
