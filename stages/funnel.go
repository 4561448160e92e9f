package stages

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/outofcore"
)

// Funnel concatenates the rows of its input pipes into one output pipe
// (DataStage's Funnel stage). Columns are matched by name, so inputs may
// list them in different orders.
type Funnel struct {
	Mode string `param:"mode" default:"continuous" enum:"continuous,sequence" doc:"continuous passes on batches as they arrive from any input; sequence passes on every row of the first input, then of the second, in the order the pipes were connected."`

	schema *arrow.Schema
	perms  map[string][]int // per input pipe: its column for each output column; nil when already in order
	pipes  []string
	seq    outofcore.SeqConfig
}

var _ openstage.Node = (*Funnel)(nil)

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "Funnel",
		Layer:   openstage.Routing,
		Summary: "Concatenates the rows of several input pipes into one output pipe.",
		Doc: `Funnel has any number of input pipes and one output pipe. Every input must have the same set of column names with the same types; the output has the columns in the order of the first input pipe, and batches of inputs that order their columns differently are reordered without copying data. A missing, extra or differently typed column is a validation error naming the pipe and the columns.

mode: continuous (the default) passes on each batch as soon as any input delivers it, so the rows of different inputs interleave in no fixed order. sequence passes on all the rows of the first connected input, then all of the second, and so on, each in its own order; meanwhile the later inputs' upstream stages wait (backpressure). When two inputs come, directly or not, from one upstream stage, that could deadlock: the engine sees at validation that they meet again here — then it takes rows from whichever input has them and holds the other side's until its turn, in memory up to its share of the memory limit and beyond that in a temporary file, counting those rows as rows_buffered (and spilled_rows); otherwise the other side's upstream simply waits (backpressure) and nothing is held.`,
		Example: `- name: combine
  type: Funnel
  mode: sequence`,
		New: func() any { return &Funnel{} },
	})
}

// NewFunnel returns a Funnel stage in continuous mode, the seed's Funnel(name).
func NewFunnel(name string) *openstage.Stage {
	return openstage.New[Funnel](name)
}

// Connectivity implements the optional connectivity interface: any number
// of inputs, one output.
func (f *Funnel) Connectivity() openstage.Connectivity { return openstage.ManyToOne }

// Plan checks that every input has the columns of the first one and declares
// the output schema.
func (f *Funnel) Plan(_ context.Context, p *openstage.Plan) error {
	ins := p.Inputs()
	first := ins[0]
	var probs []string
	misaligned := false
	f.perms = map[string][]int{}
	f.pipes = nil
	f.seq = outofcore.SeqConfigOf(p)
	for _, in := range ins {
		f.pipes = append(f.pipes, in.Pipe)
		if dup := funnelDuplicate(in.Schema); dup != "" {
			probs = append(probs, fmt.Sprintf("pipe '%s' has two columns named '%s'", in.Pipe, dup))
			continue
		}
		if in.Pipe == first.Pipe {
			continue
		}
		perm, msg := funnelAlign(first, in)
		if msg != "" {
			probs = append(probs, msg)
			misaligned = true
			continue
		}
		f.perms[in.Pipe] = perm
	}
	if misaligned {
		probs = append(probs, "every input of a Funnel needs the same column names with the same types")
	}
	if len(probs) > 0 {
		return fmt.Errorf("%s", strings.Join(probs, "; "))
	}
	fields := append([]arrow.Field{}, first.Schema.Fields()...)
	f.schema = arrow.NewSchema(fields, nil)
	p.SetOutputs(f.schema)
	// Projection pushdown: a Funnel reads no column itself and passes every
	// input on, so each input carries what the output's consumers need.
	for _, in := range ins {
		p.Reads(in.Pipe)
		for _, o := range p.Outputs() {
			p.PassesThrough(in.Pipe, o)
		}
	}
	return nil
}

func funnelDuplicate(s *arrow.Schema) string {
	seen := map[string]bool{}
	for _, fl := range s.Fields() {
		if seen[fl.Name] {
			return fl.Name
		}
		seen[fl.Name] = true
	}
	return ""
}

// funnelAlign maps the columns of first to those of in, or explains how
// their columns differ.
func funnelAlign(first, in openstage.Port) ([]int, string) {
	perm := make([]int, first.Schema.NumFields())
	inOrder := first.Schema.NumFields() == in.Schema.NumFields()
	var missing, types []string
	for k, fl := range first.Schema.Fields() {
		idx := in.Schema.FieldIndices(fl.Name)
		if len(idx) == 0 {
			missing = append(missing, "'"+fl.Name+"'")
			continue
		}
		got := in.Schema.Field(idx[0]).Type
		if !arrow.TypeEqual(got, fl.Type) {
			gn, wn := joinTypeNames(got, fl.Type)
			types = append(types, fmt.Sprintf("column '%s' as %s but pipe '%s' has %s", fl.Name, gn, first.Pipe, wn))
		}
		perm[k] = idx[0]
		inOrder = inOrder && idx[0] == k
	}
	var extra []string
	for _, fl := range in.Schema.Fields() {
		if len(first.Schema.FieldIndices(fl.Name)) == 0 {
			extra = append(extra, "'"+fl.Name+"'")
		}
	}
	var parts []string
	if len(types) > 0 {
		parts = append(parts, "has "+strings.Join(types, ", "))
	}
	if len(missing) > 0 {
		parts = append(parts, fmt.Sprintf("lacks %s of pipe '%s'", strings.Join(missing, ", "), first.Pipe))
	}
	if len(extra) > 0 {
		parts = append(parts, fmt.Sprintf("has %s that pipe '%s' lacks", strings.Join(extra, ", "), first.Pipe))
	}
	if len(parts) > 0 {
		return nil, fmt.Sprintf("pipe '%s' %s", in.Pipe, strings.Join(parts, " and "))
	}
	if inOrder {
		return nil, ""
	}
	return perm, ""
}

// Process passes on the batches of every input, in arrival order or in
// pipe order.
func (f *Funnel) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	next := func() (arrow.RecordBatch, string, error) {
		dp, err := in.Recv(ctx)
		return dp.Batch, dp.Pipe, err
	}
	if f.Mode == "sequence" {
		rd := outofcore.NewSeqReader(in, out, f.seq, f.pipes...)
		defer rd.Release()
		next = func() (arrow.RecordBatch, string, error) {
			rec, i, err := rd.Next(ctx)
			if err != nil {
				return nil, "", err
			}
			return rec, f.pipes[i], nil
		}
	}
	for {
		rec, pipe, err := next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		err = f.send(ctx, out, rec, pipe)
		rec.Release()
		if err != nil {
			return err
		}
	}
}

// send passes rec on with its columns in the output order (no data copied).
func (f *Funnel) send(ctx context.Context, out *openstage.Outputs, rec arrow.RecordBatch, pipe string) error {
	perm := f.perms[pipe]
	if perm == nil && rec.Schema().Equal(f.schema) {
		return out.Send(ctx, rec)
	}
	cols := make([]arrow.Array, len(f.schema.Fields()))
	for k := range cols {
		if perm == nil {
			cols[k] = rec.Column(k)
		} else {
			cols[k] = rec.Column(perm[k])
		}
	}
	// NewRecordBatch retains the columns; releasing it drops only that.
	aligned := array.NewRecordBatch(f.schema, cols, rec.NumRows())
	defer aligned.Release()
	return out.Send(ctx, aligned)
}
