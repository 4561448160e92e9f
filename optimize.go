package openstage

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// The plan optimizer. After the job has been planned as written, and before
// any data moves, the engine looks for stage patterns that a cheaper plan
// computes exactly: a Sort whose order only matters to a stage that can
// produce the same output from unsorted input (RemoveDuplicates keeping the
// first or last row per key, a Head), projection pushdown (pushdown.go) and
// filters evaluated by the origin while it reads (fold.go). Each rewrite is
// a decision the components take part in through small optional
// interfaces, so the job's stages, pipes and names stay as the user wrote
// them: a Sort whose work was moved downstream still runs, and passes its
// rows on as they come. Job.NoOptimize (the CLI's --no-optimize) runs the
// job exactly as written; Job.Rewrites lists what was done (openstage
// validate --explain, --verbose).
//
// Every rewrite must give the same output, order included, as the plan
// without it; the tests of each compare both on random data.

// An OrderKey is one key of an ordering: a column and its direction.
type OrderKey struct {
	Column     string
	Descending bool
}

// An Ordering is how a sorting stage orders its rows: by Keys, most
// significant first, stably (rows with equal keys keep their input order),
// nulls (and float NaN) first or last whatever each key's direction.
type Ordering struct {
	Keys       []OrderKey
	NullsFirst bool
}

func (o Ordering) String() string {
	parts := make([]string, len(o.Keys))
	for i, k := range o.Keys {
		parts[i] = k.Column
		if k.Descending {
			parts[i] += " desc"
		}
	}
	s := strings.Join(parts, ", ")
	if o.NullsFirst {
		s += ", nulls first"
	}
	return s
}

// Orderer is an optional interface of a one-input, one-output Node that
// sends its input's rows, unchanged, stably sorted (Sort). After Plan,
// Ordering returns its order. When every stage its order reaches can
// produce its output from unsorted input (an OrderAbsorber, possibly
// through RowWise stages), the engine calls SkipSort(true): the stage then
// passes its rows on in arrival order, holding nothing. Before each plan
// the engine calls SkipSort(false).
type Orderer interface {
	Ordering() (Ordering, bool)
	SkipSort(skip bool)
}

// OrderAbsorber is an optional interface of a one-input Node that, given
// that its input would arrive sorted by o, can compute the same output from
// the rows in any order: RemoveDuplicates keeping the first or last row of
// each key (one streaming pass keeping the best row per key, then a sort of
// the rows kept), Head (a heap of the first rows in o's order), Sort (its
// own keys, then o's). AbsorbOrder answers whether it will, checking o
// against the input it was planned with, and says how (for openstage
// validate --explain); the next Plan then applies it. The engine calls
// AbsorbOrder(nil) before each plan, which withdraws it.
type OrderAbsorber interface {
	AbsorbOrder(o *Ordering) (how string, ok bool)
}

// RowWise is an optional interface of a Node whose every output row is one
// of its input rows (or computed from one input row alone), sent in input
// order, with no state carried between rows: Filter, Copy, DeleteColumns.
// Sorting its input or its outputs gives the same rows in the same order,
// so a sort may move past it (see Orderer).
type RowWise interface {
	RowWise() bool
}

// Limiter is an optional interface of a one-input Node that needs only the
// first rows of its input (Head): RowLimit says how many. When it reads an
// origin's only output, the origin stops after that many rows, as in a
// trial run (Job.RowLimit).
type Limiter interface {
	RowLimit() (int64, bool)
}

// ConditionPasser is an optional interface of a Node between an origin and
// a Filter (a Conditioner): PassesCondition reports whether dropping, from
// its input pipe in, the rows whose column col fails a condition drops
// exactly the rows of its output that fail the same condition on their
// column col, and no other: the column goes through unchanged (not renamed,
// not recomputed) and a row's fate does not depend on other rows. Sort and
// a field Filter pass any column, RemoveDuplicates and Aggregator their key
// columns, a Joiner the columns of a side whose rows it keeps (the left of a
// left join, both of an inner join) and its merged keys. The engine then
// lets the origin apply the Filter's condition while reading (a database
// origin in its query; FilterFolder), though the Filter is further down.
type ConditionPasser interface {
	PassesCondition(in, col string) bool
}

// foldTarget finds the Conditioner whose condition origin s may apply: the
// first one down the chain of single-input, single-output stages from s's
// output, every stage before it passing the condition's column. It returns
// that stage, its condition and the stages in between.
func (j *Job) foldTarget(s *Stage) (*Stage, Condition, []string, bool) {
	var path []*Stage
	pipe := s.outputs[0]
	for range len(j.plans) {
		t := pipe.to
		if t == nil || j.plans[t] == nil {
			break
		}
		if cn, ok := t.comp.(Conditioner); ok && len(t.inputs) == 1 {
			if c, ok := cn.FoldCondition(); ok && j.passes(s, path, t, c.Column) {
				names := make([]string, len(path))
				for i, p := range path {
					names[i] = p.name
				}
				return t, c, names, true
			}
		}
		// Walk on; each stage on the way is checked against the column of
		// the condition found further down.
		if _, ok := t.comp.(ConditionPasser); !ok || len(t.inputs) > 2 || len(t.outputs) != 1 || j.plans[t].rejects[t.outputs[0].name] {
			break
		}
		path = append(path, t)
		pipe = t.outputs[0]
	}
	return nil, Condition{}, nil, false
}

// passes reports whether every stage of path, from origin s to the
// Conditioner t, passes column col, and the origin's column has the type
// t sees.
func (j *Job) passes(s *Stage, path []*Stage, t *Stage, col string) bool {
	in := s.outputs[0]
	for _, st := range path {
		if !st.comp.(ConditionPasser).PassesCondition(in.name, col) {
			return false
		}
		in = st.outputs[0]
	}
	src := j.plans[s].schemas[s.outputs[0].name]
	dst := j.plans[t].inputs[0].Schema
	a, b := src.FieldIndices(col), dst.FieldIndices(col)
	return len(a) == 1 && len(b) == 1 && arrow.TypeEqual(src.Field(a[0]).Type, dst.Field(b[0]).Type)
}

// A Rewrite is one change the optimizer made to the plan of a job.
type Rewrite struct {
	Rule   string   // what kind of rewrite: "sort absorbed", "limit", "projection", "filter at source"
	Stages []string // the stages concerned, upstream first
	Detail string   // what the plan does instead, in the words of the job file
}

func (r Rewrite) String() string { return r.Rule + ": " + r.Detail }

// Rewrites returns every change the optimizer made to the plan of the last
// Validate or Run, in the order of the stages (projections and folded
// filters included, as Projections and Folds also return them). It is
// empty with NoOptimize.
func (j *Job) Rewrites() []Rewrite {
	out := append([]Rewrite(nil), j.rewrites...)
	for _, p := range j.projections {
		out = append(out, Rewrite{Rule: "projection", Stages: []string{p.Stage},
			Detail: fmt.Sprintf("%s reads %d of %d columns: %s (no stage uses the others)", p.Stage, len(p.Columns), p.Of, strings.Join(p.Columns, ", "))})
	}
	for _, f := range j.folds {
		through := ""
		if len(f.Through) > 0 {
			through = " (through " + strings.Join(f.Through, ", ") + ")"
		}
		out = append(out, Rewrite{Rule: "filter at source", Stages: append(append([]string{f.Origin}, f.Through...), f.Filter),
			Detail: fmt.Sprintf("%s applies the filter of %s (%s)%s at the source: %s", f.Origin, f.Filter, f.Condition, through, f.How)})
	}
	return out
}

// withdraw undoes every optimizer decision on the components, before a plan.
func withdraw(order []*Stage) {
	for _, s := range order {
		if pr, ok := s.comp.(Projector); ok {
			pr.Project(nil)
		}
		if ff, ok := s.comp.(FilterFolder); ok {
			ff.FoldFilter(nil)
		}
		if do, ok := s.comp.(DictionaryOrigin); ok {
			do.SendDictionary(nil)
		}
		if oa, ok := s.comp.(OrderAbsorber); ok {
			oa.AbsorbOrder(nil)
		}
		if or, ok := s.comp.(Orderer); ok {
			or.SkipSort(false)
		}
	}
}

// optimize applies the rewrites that change how stages compute (not what
// they read: that is pushDown's), then plans the job again. Should the new
// plan fail or change a schema, every rewrite is withdrawn and the job runs
// as written.
func (j *Job) optimize(ctx context.Context, order []*Stage) {
	j.rewrites, j.limits = nil, nil
	defer j.limitOrigins(order)
	for _, s := range order {
		if _, ok := s.comp.(Orderer); ok {
			j.absorbSort(s)
		}
	}
	if len(j.rewrites) == 0 {
		return
	}
	before := j.plans
	reason := ""
	if probs := j.planStages(ctx, order); len(probs) > 0 {
		reason = probs[0].Error()
	} else {
		reason = sameSchemas(order, before, j.plans)
	}
	if reason == "" {
		for _, r := range j.rewrites {
			if j.Logger != nil {
				j.Logger.Info("rewrite", "job", j.Name, "rule", r.Rule, "stages", strings.Join(r.Stages, ","), "detail", r.Detail)
			}
		}
		return
	}
	for _, s := range order {
		if oa, ok := s.comp.(OrderAbsorber); ok {
			oa.AbsorbOrder(nil)
		}
		if or, ok := s.comp.(Orderer); ok {
			or.SkipSort(false)
		}
	}
	j.rewrites = nil
	if j.Logger != nil {
		j.Logger.Warn("plan rewrite dropped (this is a bug; please report it)", "job", j.Name, "reason", reason)
	}
	if probs := j.planStages(ctx, order); len(probs) > 0 {
		j.plans = before
	}
}

// sameSchemas returns why the plans before and after a rewrite differ in
// the schema of some pipe, or "".
func sameSchemas(order []*Stage, before, after map[*Stage]*Plan) string {
	for _, s := range order {
		b, a := before[s], after[s]
		if a == nil || b == nil {
			return fmt.Sprintf("stage '%s' was not planned", s.name)
		}
		for k, in := range s.inputs {
			if !b.inputs[k].Schema.Equal(a.inputs[k].Schema) {
				return fmt.Sprintf("pipe '%s' changed from %s to %s", in.name, b.inputs[k].Schema, a.inputs[k].Schema)
			}
		}
	}
	return ""
}

// absorbSort moves the work of the Orderer s into the stages its order
// reaches, when every one of them can absorb it: the rows of s then go on
// unsorted, and each absorber computes from them what it would have
// computed from the sorted rows.
func (j *Job) absorbSort(s *Stage) {
	or := s.comp.(Orderer)
	ord, ok := or.Ordering()
	if !ok || len(s.outputs) != 1 || len(s.inputs) != 1 || j.plans[s] == nil {
		return
	}
	type absorbed struct {
		s   *Stage
		how string
	}
	var taken []absorbed
	var walk func(p *Pipe) bool
	walk = func(p *Pipe) bool {
		t := p.to
		if t == nil || len(t.inputs) != 1 || j.plans[t] == nil {
			return false
		}
		if oa, ok := t.comp.(OrderAbsorber); ok {
			how, ok := oa.AbsorbOrder(&ord)
			if !ok {
				return false
			}
			taken = append(taken, absorbed{t, how})
			return true
		}
		if rw, ok := t.comp.(RowWise); !ok || !rw.RowWise() || len(t.outputs) == 0 {
			return false
		}
		for _, o := range t.outputs {
			if !walk(o) {
				return false
			}
		}
		return true
	}
	if !walk(s.outputs[0]) {
		for _, a := range taken {
			a.s.comp.(OrderAbsorber).AbsorbOrder(nil)
		}
		return
	}
	or.SkipSort(true)
	for _, a := range taken {
		j.rewrites = append(j.rewrites, Rewrite{Rule: "sort absorbed", Stages: []string{s.name, a.s.name},
			Detail: fmt.Sprintf("%s passes its rows on unsorted; %s %s", s, a.s, a.how)})
	}
}

// limitOrigins has an origin whose only output goes to a Limiter stop
// after the rows the Limiter needs.
func (j *Job) limitOrigins(order []*Stage) {
	for _, s := range order {
		if s.Kind() != KindOrigin || len(s.outputs) != 1 || s.outputs[0].to == nil {
			continue
		}
		t := s.outputs[0].to
		lim, ok := t.comp.(Limiter)
		if !ok || len(t.inputs) != 1 || j.plans[t] == nil {
			continue
		}
		n, ok := lim.RowLimit()
		if !ok || n <= 0 {
			continue
		}
		if j.limits == nil {
			j.limits = map[*Stage]int64{}
		}
		j.limits[s] = n
		r := Rewrite{Rule: "limit", Stages: []string{s.name, t.name}, Detail: fmt.Sprintf("%s stops reading after %s, all that %s passes on", s, plural(int(n), "row"), t)}
		j.rewrites = append(j.rewrites, r)
		if j.Logger != nil {
			j.Logger.Info("rewrite", "job", j.Name, "rule", r.Rule, "stages", strings.Join(r.Stages, ","), "detail", r.Detail)
		}
	}
}

// originLimit is the row limit of origin s in this run: the trial run's
// (RowLimit) or the one a Limiter downstream needs, the smaller one.
func (j *Job) originLimit(s *Stage) int64 {
	n := j.RowLimit
	if l, ok := j.limits[s]; ok && (n <= 0 || l < n) {
		n = l
	}
	return n
}
