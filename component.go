package openstage

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// A DataPackage is one batch travelling on a pipe: the pipe's name and the
// batch (the seed's DataPackage(pipe_name, df)).
type DataPackage struct {
	Pipe  string
	Batch arrow.RecordBatch
	// FirstRow is the position of the batch's first row in its pipe's
	// stream (0-based), so that a stage running on several workers can
	// still name rows by their place in the input ("row 17: ...").
	FirstRow int64
}

// Origin brings data into a job: it has no input pipes.
//
// Plan declares the schema of the output pipes; it may read a file header or
// sample a few rows, but moves no data. Pump sends batches with out.Send until
// the source is exhausted, then returns nil; a cancelled Pump returns ctx.Err().
type Origin interface {
	Plan(ctx context.Context, p *Plan) error
	Pump(ctx context.Context, out *Outputs) error
}

// Node transforms or routes data: N input pipes, M output pipes.
//
// Plan checks the parameters against the input schemas (p.Inputs) and declares
// the output schemas. Process receives batches with in.Recv until io.EOF and
// sends results with out.Send or out.SendTo. The engine closes the output pipes
// when Process returns; a Node never closes anything itself.
type Node interface {
	Plan(ctx context.Context, p *Plan) error
	Process(ctx context.Context, in *Inputs, out *Outputs) error
}

// Destination takes data out of a job: it has no output pipes.
//
// Sink receives every batch with in.Recv until io.EOF. A destination whose
// output must not be seen half-written also implements Committer.
type Destination interface {
	Plan(ctx context.Context, p *Plan) error
	Sink(ctx context.Context, in *Inputs) error
}

// Committer is implemented by destinations that write atomically. After every
// stage of the job has returned without error, the engine calls Commit on each
// committer; if anything failed (or a Commit failed), it calls Abort on the
// others, which must remove every trace of the partial output.
type Committer interface {
	Commit(ctx context.Context) error
	Abort() error
}

// Mapper is an optional interface of a one-input, one-output Node whose output
// for a batch depends only on that batch (Filter, DeleteColumns). The engine may then run MapBatch on several workers at once,
// keeping the batches in input order; Process is not called. MapBatch returns
// a batch the engine owns (nil means "nothing to send") and must not keep rec.
type Mapper interface {
	MapBatch(ctx context.Context, rec arrow.RecordBatch) (arrow.RecordBatch, error)
}

// BatchProcessor is an optional interface of a Node whose output for a batch
// depends only on that batch, but that may send it to several output pipes
// (a router such as Switcher, a stage with a reject pipe, a Transformer, an
// AI stage). The engine calls ProcessBatch on several workers at once
// (Job.Workers, or the component's own Concurrency() int when it has one)
// and delivers what each call emitted in input order: the stage's output,
// pipe by pipe, is the same as with one worker. Process is not called; it
// can be one line, `return openstage.BatchProcess(ctx, n, in, out)`.
//
// dp.Batch belongs to the engine: ProcessBatch must not release it, nor keep
// it past its return without retaining it. dp.FirstRow numbers its rows.
// ProcessBatch may be called concurrently: state shared between batches
// must be safe for that (counters go through out.Count).
type BatchProcessor interface {
	ProcessBatch(ctx context.Context, dp DataPackage, out *Emitter) error
}

// Rebatcher is an optional interface of a BatchProcessor that wants its input
// in batches of exactly BatchRows rows (the last may be shorter), whatever
// size its producer sends: an AI stage sending batch_rows rows per request,
// a destination posting batches of a fixed size. The engine slices larger
// batches (no copy) and concatenates smaller ones.
type Rebatcher interface {
	BatchRows() int
}

// Projector is an optional interface of an Origin that can leave columns out
// of its output (projection pushdown). After planning the job, the engine
// works out from the stages' Reads and PassesThrough declarations which
// columns of the origin are read at all; when that is fewer than the origin
// declared, it calls Project with their names, in the order of the origin's
// schema, and plans the job again. Plan must then declare only those
// columns on the origin's outputs (its reject pipe, if any, is not
// concerned). Project(nil) restores every column.
//
// The engine checks the second plan: every stage that reads whole batches
// must see the same schema as before. Should it not, the projection is
// dropped and the job runs unprojected.
type Projector interface {
	Project(cols []string)
}

// Closer is an optional interface: the engine calls Close once when the job
// ends, successfully or not, so a component can release what Plan acquired.
type Closer interface {
	Close() error
}

// Connectivity bounds the number of pipes of a component. A component may
// implement Connectivity() to override the default bounds of its kind: an
// Origin 0 inputs and at least 1 output, a Destination at least 1 input and 0
// outputs, a Node at least 1 of each.
type Connectivity struct {
	MinIn, MaxIn, MinOut, MaxOut int // Max < 0 means unlimited
}

// Connectivity presets.
var (
	OneToOne  = Connectivity{1, 1, 1, 1}
	OneToMany = Connectivity{1, 1, 1, -1}
	ManyToOne = Connectivity{1, -1, 1, 1}
	TwoToOne  = Connectivity{2, 2, 1, 1}
)

// A Port is an input pipe seen during planning: its name and schema.
type Port struct {
	Pipe   string
	Schema *arrow.Schema
}

// Plan is what a component sees at validation time.
type Plan struct {
	stage    *Stage
	inputs   []Port
	outputs  []string
	schemas  map[string]*arrow.Schema
	rejects  map[string]bool
	alloc    memory.Allocator
	budget   int64
	tempDir  string
	reads    map[string][]string // input pipe → columns read (Reads)
	through  map[string][]string // input pipe → output pipes it passes through to
	forkJoin bool
	workers  int
	registry *Registry
	logger   *slog.Logger
	dryRun   io.Writer
}

// DryRun returns where a stage that calls a paid or remote service writes
// what it would send, when the job is a dry run (Job.DryRun, the CLI's
// run --dry-run); nil when it is not. In a dry run such a stage sends no
// request and emits no rows; writes to the writer are serialised.
func (p *Plan) DryRun() io.Writer { return p.dryRun }

// Workers returns how many goroutines the job gives a stage that can work
// in parallel (Job.Workers, the CLI's --workers): a stage with its own pool,
// such as the CSV reader, sizes it with this.
func (p *Plan) Workers() int { return p.workers }

// Registry returns the registry of the job, where a stage looks up what it
// finds by name (a Transformer's Go functions).
func (p *Plan) Registry() *Registry { return p.registry }

// ForkJoin reports whether two input pipes of the stage are connected other
// than through the stage itself: one stage forks (a Copy, a Switcher, an
// origin read twice) and the branches meet again here, or two such forks
// cross. A stage that reads one input to its end before the next (a Joiner's
// build side first, a Funnel in sequence) must then take batches from
// whichever input has them and hold the later inputs' batches until their
// turn, or the job can deadlock: a stage upstream waits for room on a pipe
// that nobody reads. Without ForkJoin, reading one input at a time is safe
// and holds nothing.
func (p *Plan) ForkJoin() bool { return p.forkJoin }

// MemoryBudget returns the bytes this stage may hold before it must spill to
// disk (package spill): the job's MemoryLimit shared among its Accumulators.
func (p *Plan) MemoryBudget() int64 { return p.budget }

// TempDir returns the folder for spill files ("" means the system's
// temporary folder).
func (p *Plan) TempDir() string { return p.tempDir }

// Stage returns the name of the stage being planned.
func (p *Plan) Stage() string { return p.stage.name }

// Inputs returns the input pipes in the order they were connected.
func (p *Plan) Inputs() []Port { return p.inputs }

// Input returns the input pipe called name.
func (p *Plan) Input(name string) (Port, bool) {
	for _, in := range p.inputs {
		if in.Pipe == name {
			return in, true
		}
	}
	return Port{}, false
}

// InputSchema returns the schema of the only input pipe (or the first one).
func (p *Plan) InputSchema() *arrow.Schema {
	if len(p.inputs) == 0 {
		return nil
	}
	return p.inputs[0].Schema
}

// Outputs returns the names of the output pipes in the order they were connected.
func (p *Plan) Outputs() []string { return p.outputs }

// HasOutput reports whether an output pipe called name is connected.
func (p *Plan) HasOutput(name string) bool {
	for _, o := range p.outputs {
		if o == name {
			return true
		}
	}
	return false
}

// SetOutput declares the schema of one output pipe.
func (p *Plan) SetOutput(pipe string, s *arrow.Schema) error {
	if !p.HasOutput(pipe) {
		return fmt.Errorf("no output pipe '%s'; connected outputs: %v", pipe, p.outputs)
	}
	p.schemas[pipe] = s
	return nil
}

// SetOutputs declares s as the schema of every output pipe not yet declared.
func (p *Plan) SetOutputs(s *arrow.Schema) {
	for _, o := range p.outputs {
		if _, ok := p.schemas[o]; !ok {
			p.schemas[o] = s
		}
	}
}

// RowsOutput checks the outputs of a stage that sends its rows to one
// output and, when its reject parameter names one, the rows it cannot
// process to a second: reject must be an output, two outputs need a reject
// pipe. It returns the output the rows go to.
func (p *Plan) RowsOutput(reject string) (string, error) {
	outs := p.outputs
	switch {
	case reject != "" && !p.HasOutput(reject):
		return "", fmt.Errorf("reject pipe '%s' is not an output of this stage; its outputs are: %s", reject, strings.Join(outs, ", "))
	case reject != "" && len(outs) != 2:
		return "", fmt.Errorf("reject pipe '%s' is the only output; connect a second output for the rows that succeed", reject)
	case reject == "" && len(outs) > 1:
		return "", fmt.Errorf("has %d outputs (%s) but no reject pipe; set reject to the output that receives failing rows", len(outs), strings.Join(outs, ", "))
	case len(outs) == 0:
		return "", fmt.Errorf("has no output pipe; connect one")
	}
	for _, o := range outs {
		if o != reject {
			return o, nil
		}
	}
	return outs[0], nil
}

// MarkReject records that output pipe name is the stage's reject pipe: it
// carries rows the stage could not process, with an added "error" column.
// The run summary reports its rows as rejected.
func (p *Plan) MarkReject(pipe string) { p.rejects[pipe] = true }

// Reads declares the only columns of input pipe in that the stage reads: its
// outputs depend on that input through these columns and through the
// columns it passes on unchanged (PassesThrough), nothing else. A stage that
// declares nothing for an input is taken to read all of it. The engine uses
// these declarations to leave out, at an origin that implements Projector,
// the columns no stage reads.
func (p *Plan) Reads(in string, cols ...string) {
	p.reads[in] = append(p.reads[in], cols...)
}

// PassesThrough declares that every column of output pipe out that has the
// name of a column of input pipe in is that column, unchanged (Filter, Sort,
// Copy pass their input through; an Aggregator does not). It only matters
// together with Reads.
func (p *Plan) PassesThrough(in, out string) {
	p.through[in] = append(p.through[in], out)
}

// Allocator returns the memory allocator components must build batches with.
func (p *Plan) Allocator() memory.Allocator { return p.alloc }
