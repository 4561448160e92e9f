package stages

import "github.com/open-stage/openstage"

// passThrough declares, for a stage with one input that sends it on
// unchanged to every output (minus rows, or reordered), that it reads only
// cols of it: what projection pushdown needs to know (openstage.Plan.Reads).
func passThrough(p *openstage.Plan, cols ...string) {
	in := p.Inputs()[0].Pipe
	p.Reads(in, cols...)
	for _, o := range p.Outputs() {
		p.PassesThrough(in, o)
	}
}
