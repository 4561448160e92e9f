package openstage

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// Projection pushdown: after a first plan, work out backwards from the
// destinations which columns each pipe must carry, and let origins that
// implement Projector leave the others out. A CSV origin then skips the
// conversion of unread columns, and every stage between it and the first
// stage that reads whole batches moves narrower batches.

// need is the set of columns a pipe must carry; all means every column.
type need struct {
	all  bool
	cols map[string]bool
}

// needs computes, in reverse topological order, what each pipe must carry
// according to the declarations of the stage it feeds.
func (j *Job) needs(order []*Stage) map[*Pipe]need {
	out := map[*Pipe]need{}
	for i := len(order) - 1; i >= 0; i-- {
		s := order[i]
		p := j.plans[s]
		for k, in := range s.inputs {
			reads, declared := p.reads[in.name]
			if !declared {
				out[in] = need{all: true}
				continue
			}
			n := need{cols: map[string]bool{}}
			for _, c := range reads {
				n.cols[c] = true
			}
			schema := p.inputs[k].Schema
			for _, o := range p.through[in.name] {
				on, ok := out[s.output(o)]
				if !ok || on.all {
					n = need{all: true}
					break
				}
				for c := range on.cols {
					if schema.HasField(c) {
						n.cols[c] = true
					}
				}
			}
			out[in] = n
		}
	}
	return out
}

// output returns the output pipe called name (nil when there is none).
func (s *Stage) output(name string) *Pipe {
	for _, o := range s.outputs {
		if o.name == name {
			return o
		}
	}
	return nil
}

// pushDown projects the origins that can be projected and plans the job
// again; if the second plan is not consistent with the first, it restores
// the first. It never fails a job that planned without it.
func (j *Job) pushDown(ctx context.Context, order []*Stage) {
	j.projections = nil
	needs := j.needs(order)
	type projection struct {
		s    *Stage
		cols []string
		of   int
	}
	var projected []projection
	for _, s := range order {
		pr, ok := s.comp.(Projector)
		if !ok || len(s.outputs) == 0 {
			continue
		}
		p := j.plans[s]
		union := map[string]bool{}
		all := false
		var schema *arrow.Schema
		for _, o := range s.outputs {
			if p.rejects[o.name] {
				continue
			}
			n := needs[o]
			if n.all {
				all = true
				break
			}
			for c := range n.cols {
				union[c] = true
			}
			schema = p.schemas[o.name]
		}
		if all || schema == nil {
			continue
		}
		var cols []string
		for _, f := range schema.Fields() {
			if union[f.Name] {
				cols = append(cols, f.Name)
			}
		}
		if len(cols) == schema.NumFields() {
			continue
		}
		if len(cols) == 0 {
			// Only the row count is read (a count without keys): keep one
			// column so batches still have a length.
			cols = []string{schema.Field(0).Name}
		}
		pr.Project(cols)
		projected = append(projected, projection{s, cols, schema.NumFields()})
	}
	if len(projected) == 0 {
		return
	}
	before := j.plans
	probs := j.planStages(ctx, order)
	reason := ""
	if len(probs) > 0 {
		reason = probs[0].Error()
	} else {
		reason = consistent(order, before, j.plans, needs)
	}
	if reason == "" {
		for _, pr := range projected {
			if s := j.plans[pr.s].mainOutput(); s != nil && s.NumFields() < pr.of {
				names := make([]string, s.NumFields())
				for i, f := range s.Fields() {
					names[i] = f.Name
				}
				j.projections = append(j.projections, Projection{Stage: pr.s.name, Columns: names, Of: pr.of})
				if j.Logger != nil {
					j.Logger.Info("projection", "job", j.Name, "stage", pr.s.name, "type", pr.s.typ, "reads", strings.Join(names, ","), "of", pr.of)
				}
			}
		}
		return
	}
	for _, pr := range projected {
		pr.s.comp.(Projector).Project(nil)
	}
	if j.Logger != nil {
		j.Logger.Warn("projection dropped (this is a bug; please report it)", "job", j.Name, "reason", reason)
	}
	if probs := j.planStages(ctx, order); len(probs) > 0 {
		// Planned once already with every column: keep that plan's verdict.
		j.plans = before
	}
}

// mainOutput returns the schema of the first output that is not a reject pipe.
func (p *Plan) mainOutput() *arrow.Schema {
	for _, o := range p.outputs {
		if !p.rejects[o] {
			return p.schemas[o]
		}
	}
	return nil
}

// consistent compares the plans before and after projection: a pipe whose
// consumer reads it whole must have the same schema, any other pipe must
// still carry the columns it needs with the same types. It returns why not,
// or "".
func consistent(order []*Stage, before, after map[*Stage]*Plan, needs map[*Pipe]need) string {
	for _, s := range order {
		b, a := before[s], after[s]
		if a == nil {
			return fmt.Sprintf("stage '%s' was not planned", s.name)
		}
		for k, in := range s.inputs {
			bs, as := b.inputs[k].Schema, a.inputs[k].Schema
			n := needs[in]
			if n.all {
				if !bs.Equal(as) {
					return fmt.Sprintf("stage '%s' reads pipe '%s' whole and its schema changed from %s to %s", s.name, in.name, bs, as)
				}
				continue
			}
			for c := range n.cols {
				fb, _ := bs.FieldsByName(c)
				fa, _ := as.FieldsByName(c)
				if len(fa) != 1 || len(fb) != 1 || !arrow.TypeEqual(fa[0].Type, fb[0].Type) {
					return fmt.Sprintf("pipe '%s' lost or changed column '%s'", in.name, c)
				}
			}
		}
	}
	return ""
}
