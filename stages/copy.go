package stages

import (
	"context"

	"github.com/open-stage/openstage"
)

// Copy sends every row of its input pipe to each of its output pipes
// (DataStage's Copy stage). The outputs share the batches: nothing is copied.
type Copy struct{}

var _ openstage.Node = (*Copy)(nil)

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "Copy",
		Layer:   openstage.Routing,
		Summary: "Sends every row of its input to each of its output pipes.",
		Doc:     `Copy has one input pipe and one or more output pipes, each of which receives every row, in input order, with the input's schema. The outputs share the same batches (read-only), so a copy costs no memory; the slowest consumer sets the pace of all of them (backpressure).`,
		Example: `- name: splitter
  type: Copy`,
		New: func() any { return &Copy{} },
	})
}

// NewCopy returns a Copy stage, the seed's Copy(name).
func NewCopy(name string) *openstage.Stage { return openstage.New[Copy](name) }

// Connectivity implements the optional connectivity interface: one input,
// any number of outputs.
func (c *Copy) Connectivity() openstage.Connectivity { return openstage.OneToMany }

// Plan declares every output with the input's schema.
func (c *Copy) Plan(_ context.Context, p *openstage.Plan) error {
	passThrough(p)
	p.SetOutputs(p.InputSchema())
	return nil
}

// Process passes every batch to every output.
func (c *Copy) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	return in.ForEach(ctx, func(dp openstage.DataPackage) error {
		return out.Send(ctx, dp.Batch)
	})
}

// AcceptsDictionary implements openstage.DictionaryReader: Copy sends every
// batch on as it is, so a dictionary-encoded column goes through to each
// output, whose readers must take it too.
func (c *Copy) AcceptsDictionary(_, _ string) (accept, passes bool) { return true, true }
