package stages

import (
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/outofcore"
)

// Joiner joins two input pipes on key columns, like SQL's JOIN and pandas'
// merge (DataStage's Join stage).
//
// It is a hash join: it reads the build side (by default the right input,
// the left one for a right join) entirely into memory and indexes it by key,
// then streams the other input, the probe side, batch by batch. Output rows
// follow the probe side's order; the matches of one probe row come in build
// order; with an outer join, or a left (right) join building the left
// (right) side, the build rows that matched nothing come last. A build side
// larger than the stage's memory budget is partitioned to disk with the
// probe side, and joined partition by partition (internal/outofcore).
type Joiner struct {
	Left     string            `param:"left" required:"true" pipe:"input" doc:"Name of the input pipe that is the left side of the join."`
	Right    string            `param:"right" required:"true" pipe:"input" doc:"Name of the input pipe that is the right side of the join."`
	Key      openstage.Strings `param:"key" doc:"Key column, or list of key columns, with the same name on both sides. Use left_key and right_key instead when the names differ."`
	LeftKey  openstage.Strings `param:"left_key" doc:"Key column(s) of the left side, when their names differ from the right side's; pairs with right_key."`
	RightKey openstage.Strings `param:"right_key" doc:"Key column(s) of the right side, pairing in order with left_key."`
	JoinType string            `param:"join_type" default:"inner" enum:"inner,left,right,outer" doc:"inner keeps matched pairs; left also keeps left rows without a match (right columns null); right the reverse; outer keeps both kinds of unmatched rows."`
	Suffixes []string          `param:"suffixes" doc:"Two suffixes added to the names of columns, other than merged keys, that exist on both sides: the first to the left column, the second to the right one. Default [_x, _y], as pandas."`
	Build    string            `param:"build" default:"auto" enum:"auto,left,right" doc:"Which side is read into memory first: auto builds the right side, except for right joins (the left side). Build the smaller side."`

	plan outofcore.JoinPlan
	seq  outofcore.SeqConfig
}

var (
	_ openstage.Node        = (*Joiner)(nil)
	_ openstage.Accumulator = (*Joiner)(nil)
)

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "Joiner",
		Layer:   openstage.Transformation,
		Summary: "Joins two pipes on key columns (inner, left, right or outer), like SQL JOIN or pandas merge.",
		Doc: `Joiner has two input pipes, named by left and right, and one output pipe.

Keys: key names the key column(s) when they have the same name on both sides; left_key and right_key (lists of equal length) pair columns with different names. Paired key columns must have the same type: an int64 key cannot match a string key (convert one side first, with a Transformer or the origin's column types). Keys of any type match by equality; floats compare as numbers (-0 = 0).

Nulls: a null key matches nothing, not even another null (SQL semantics; pandas merge does match nulls with each other). A row with a null key still appears, unmatched, in the join types that keep unmatched rows of its side. NaN float keys behave as null.

Matches: every pair of matching rows produces a row, so a key repeated m times on the left and n times on the right produces m x n rows.

Output columns: the left columns then the right columns. A key column with the same name on both sides appears once, at its left position, holding the key of whichever side has the row, so it is never null when either side has a key. Key columns with different names are both kept. Any other column name present on both sides gets the suffixes (default _x for the left, _y for the right, as pandas); a suffixed name that collides with another column is a validation error.

Order and memory: Joiner is a hash join. It reads the build side entirely into memory (build: auto means the right side, or the left side for a right join; choose the smaller side), then streams the other side, keeping its row order: each probe row is followed by its matches in build order; unmatched build rows (outer joins, or a left join building the left side) come at the end. Output batches hold at most 65536 rows. When the build side outgrows the stage's share of the job's memory limit (--memory-limit), Joiner switches to a grace hash join: it writes both sides to temporary files in 32 partitions by key and joins them one partition at a time; the output then comes partition by partition, without the probe side's order, and the run summary counts the rows written as spilled_rows. When both inputs come, directly or not, from one upstream stage (a Copy, a Switcher, an origin with two output pipes), reading the build side alone could deadlock: the engine sees at validation that they meet again here — then it takes rows from whichever input has them and holds the other side's until its turn, in memory up to its share of the memory limit and beyond that in a temporary file, counting those rows as rows_buffered (and spilled_rows); otherwise the other side's upstream simply waits (backpressure) and nothing is held.`,
		Example: `- name: join_users_orders
  type: Joiner
  left: users_pipe
  right: orders_pipe
  key: user_id
  join_type: left`,
		New: func() any { return &Joiner{} },
	})
}

// NewJoiner returns a Joiner stage joining input pipes left and right on the
// column key (same name on both sides) with joinType inner, left, right or
// outer — the seed's Joiner(name, left, right, key, join_type).
func NewJoiner(name, left, right, key, joinType string) *openstage.Stage {
	return openstage.New(name, func(j *Joiner) {
		j.Left, j.Right, j.Key, j.JoinType = left, right, openstage.Strings{key}, joinType
	})
}

// Connectivity implements the optional connectivity interface: two inputs, one output.
func (j *Joiner) Connectivity() openstage.Connectivity { return openstage.TwoToOne }

// Accumulates implements openstage.Accumulator: the build side is held in
// memory, within the stage's share of the job's memory limit.
func (j *Joiner) Accumulates() bool { return true }

// Plan checks the parameters against the two input schemas and declares the
// output schema.
func (j *Joiner) Plan(_ context.Context, p *openstage.Plan) error {
	pipes := make([]string, len(p.Inputs()))
	for i, in := range p.Inputs() {
		pipes[i] = in.Pipe
	}
	if err := joinPipeParam("left", j.Left, "input", pipes); err != nil {
		return err
	}
	if err := joinPipeParam("right", j.Right, "input", pipes); err != nil {
		return err
	}
	if j.Left == j.Right {
		return fmt.Errorf("left and right are both '%s'; they must name the two different input pipes (%s)", j.Left, joinListPipes(pipes))
	}
	joinType := j.JoinType
	if joinType == "" {
		joinType = "inner"
	}
	build := j.Build
	if build == "" {
		build = "auto"
	}
	suffixes := j.Suffixes
	if suffixes == nil {
		suffixes = []string{"_x", "_y"}
	}
	if len(suffixes) != 2 {
		return fmt.Errorf("suffixes must be a list of two strings (for the left and the right column), got %d", len(suffixes))
	}
	if suffixes[0] == suffixes[1] {
		return fmt.Errorf("suffixes must differ, both are '%s'", suffixes[0])
	}

	lport, _ := p.Input(j.Left)
	rport, _ := p.Input(j.Right)
	left, right := joinSide{"left", lport}, joinSide{"right", rport}
	for _, s := range []joinSide{left, right} {
		if err := joinCheckColumns(s); err != nil {
			return err
		}
	}
	lkeys, rkeys, err := joinKeyNames(j.Key, j.LeftKey, j.RightKey)
	if err != nil {
		return err
	}
	li, ri, err := joinResolveKeys(left, right, lkeys, rkeys)
	if err != nil {
		return err
	}

	pl := outofcore.JoinPlan{
		LKeys: li, RKeys: ri,
		KeepLeft:  joinType == "left" || joinType == "outer",
		KeepRight: joinType == "right" || joinType == "outer",
		BuildLeft: build == "left" || (build == "auto" && joinType == "right"),
		LeftPipe:  j.Left, RightPipe: j.Right,
		LSchema: lport.Schema, RSchema: rport.Schema,
		Budget: p.MemoryBudget(), TempDir: p.TempDir(),
	}
	pl.Out, pl.Schema, err = joinOutputSchema(left, right, li, ri, suffixes)
	if err != nil {
		return err
	}
	j.plan = pl
	j.seq = outofcore.SeqConfigOf(p)
	j.declareReads(p, lkeys, rkeys)
	p.SetOutputs(pl.Schema)
	return nil
}

// declareReads tells projection pushdown what the join reads: the keys, and
// every column it renames with a suffix (so that leaving out a column never
// changes another's name); the other columns pass through by name.
func (j *Joiner) declareReads(p *openstage.Plan, lkeys, rkeys []string) {
	pl := &j.plan
	reads := [2][]string{lkeys, rkeys}
	for k, c := range pl.Out {
		src := pl.RSchema
		side := 1
		if c.Left {
			src, side = pl.LSchema, 0
		}
		if name := src.Field(c.Col).Name; name != pl.Schema.Field(k).Name {
			reads[side] = append(reads[side], name)
		}
	}
	out := p.Outputs()[0]
	p.Reads(pl.LeftPipe, reads[0]...)
	p.Reads(pl.RightPipe, reads[1]...)
	p.PassesThrough(pl.LeftPipe, out)
	p.PassesThrough(pl.RightPipe, out)
}

// joinKeyNames returns the key columns of both sides, from key or from
// left_key and right_key.
func joinKeyNames(key, lkey, rkey openstage.Strings) ([]string, []string, error) {
	const lname, rname = "left_key", "right_key"
	switch {
	case len(key) > 0 && (len(lkey) > 0 || len(rkey) > 0):
		return nil, nil, fmt.Errorf("set either key (same column names on both sides) or %s and %s, not both", lname, rname)
	case len(key) > 0:
		return key, key, nil
	case len(lkey) == 0 && len(rkey) == 0:
		return nil, nil, fmt.Errorf("no join key: set key (the key column(s), same name on both sides) or %s and %s", lname, rname)
	case len(lkey) == 0 || len(rkey) == 0:
		return nil, nil, fmt.Errorf("%s and %s go together: set both, or key when the names are the same", lname, rname)
	case len(lkey) != len(rkey):
		return nil, nil, fmt.Errorf("%s has %s but %s has %d; they pair in order", lname, joinCount(len(lkey), "column"), rname, len(rkey))
	}
	return lkey, rkey, nil
}

// joinOutputSchema lays out the output columns: left columns, then right
// columns except keys merged into the left ones, with suffixes on other
// names present on both sides.
func joinOutputSchema(l, r joinSide, li, ri []int, suffixes []string) ([]outofcore.JoinOutCol, *arrow.Schema, error) {
	ls, rs := l.port.Schema, r.port.Schema
	lmerged := map[int]int{} // left column -> key index, for merged keys
	rmerged := map[int]bool{}
	for k := range li {
		if ls.Field(li[k]).Name == rs.Field(ri[k]).Name {
			lmerged[li[k]] = k
			rmerged[ri[k]] = true
		}
	}
	lnames := map[string]bool{}
	for i, f := range ls.Fields() {
		if _, m := lmerged[i]; !m {
			lnames[f.Name] = true
		}
	}
	rnames := map[string]bool{}
	for i, f := range rs.Fields() {
		if !rmerged[i] {
			rnames[f.Name] = true
		}
	}
	var cols []outofcore.JoinOutCol
	var fields []arrow.Field
	add := func(left bool, col, key int, f arrow.Field, name string) {
		f.Name, f.Nullable = name, true
		cols = append(cols, outofcore.JoinOutCol{Left: left, Col: col, Key: key})
		fields = append(fields, f)
	}
	for i, f := range ls.Fields() {
		switch k, m := lmerged[i]; {
		case m:
			add(true, i, k, f, f.Name)
		case rnames[f.Name]:
			add(true, i, -1, f, f.Name+suffixes[0])
		default:
			add(true, i, -1, f, f.Name)
		}
	}
	for i, f := range rs.Fields() {
		switch {
		case rmerged[i]:
		case lnames[f.Name]:
			add(false, i, -1, f, f.Name+suffixes[1])
		default:
			add(false, i, -1, f, f.Name)
		}
	}
	// A suffixed name may collide with a column of either side.
	seen := map[string]int{}
	for k, f := range fields {
		if prev, dup := seen[f.Name]; dup {
			a, b := joinDescribeOut(l, r, cols[prev], fields[prev].Name), joinDescribeOut(l, r, cols[k], f.Name)
			return nil, nil, fmt.Errorf("output column '%s' would come twice: from %s and from %s; choose other suffixes (suffixes: [_left, _right]) or rename a column upstream", f.Name, a, b)
		}
		seen[f.Name] = k
	}
	return cols, arrow.NewSchema(fields, nil), nil
}

func joinDescribeOut(l, r joinSide, c outofcore.JoinOutCol, name string) string {
	s := r
	if c.Left {
		s = l
	}
	orig := s.port.Schema.Field(c.Col).Name
	if orig == name {
		return fmt.Sprintf("column '%s' of pipe '%s'", orig, s.port.Pipe)
	}
	return fmt.Sprintf("column '%s' of pipe '%s' (suffixed)", orig, s.port.Pipe)
}

// Process reads the build side, then joins the probe side batch by batch.
func (j *Joiner) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	pl := &j.plan
	buildPipe, probePipe := pl.RightPipe, pl.LeftPipe
	if pl.BuildLeft {
		buildPipe, probePipe = pl.LeftPipe, pl.RightPipe
	}
	rd := outofcore.NewSeqReader(in, out, j.seq, buildPipe, probePipe)
	defer rd.Release()
	run := outofcore.NewHashJoin(pl, out)
	defer run.Release()
	for {
		rec, side, err := rd.Next(ctx)
		if err == io.EOF {
			return run.Finish(ctx)
		}
		if err != nil {
			return err
		}
		if side == 0 {
			err = run.AddBuild(rec)
		} else {
			err = run.AddProbe(ctx, rec)
		}
		if err != nil {
			return err
		}
	}
}
