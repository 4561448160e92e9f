package stages

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
	"github.com/open-stage/openstage/internal/outofcore"
)

// RemoveDuplicates keeps one row per distinct key (DataStage's Remove
// Duplicates stage; pandas' drop_duplicates).
//
// Without sort_by and with keep: first (the default) it streams: it keeps a
// set of the keys seen so far (one entry per distinct key) and passes on the
// first row of each key as batches arrive, in input order. keep: last
// without sort_by must hold the whole input, since a later row may replace
// an earlier one; it sends the last row of each key in input order (as
// pandas' drop_duplicates(keep='last')).
//
// With sort_by it is df.sort_values(sort_by, ascending).drop_duplicates(key,
// keep): the rows are sorted stably by sort_by (nulls last; ties keep input
// order), the first (or last) row of each key in that order is kept, and the
// output is in sort order.
//
// Memory: with sort_by, a streaming pass holds only the best row so far of
// each key (dedup_best.go) and sorts those at the end; when they would
// exceed the memory budget, it hands them and the rest of the input to the
// spilling path below. keep: last without sort_by holds the input in memory
// while it fits the stage's memory budget (the job's MemoryLimit shared among the
// stages that accumulate). Past it, the stage spills to temporary Arrow IPC
// files: an external sort by (key, sort_by, input position) puts the rows of
// each key together, the first (or last) of each is kept, and the kept rows
// are sorted again (spilling too) by (sort_by, input position); the output,
// order included, is the same as in memory. The counters spilled_rows and
// spill_runs report it. Streaming keep: first holds one entry per distinct
// key up to half the budget; then the key set is frozen and the rows of
// keys not in it take the gathering path (see stream).
//
// Nulls in a key equal each other, as in pandas: all rows whose key is null
// are one key. Float NaN counts as null.
type RemoveDuplicates struct {
	Key       openstage.Strings `param:"key" required:"true" doc:"Column or list of columns whose values identify duplicates."`
	SortBy    openstage.Strings `param:"sort_by" doc:"Column or list of columns to sort by before choosing the first or last row of each key; the output is then in this order."`
	Ascending Bools             `param:"ascending" doc:"Direction of sort_by: one bool for every column or one per column (default true)."`
	Keep      string            `param:"keep" default:"first" enum:"first,last" doc:"Which row of each key to keep: first or last (in sort_by order, or input order without sort_by)."`

	keyCols []int
	sortBy  []kernel.SortRef
	last    bool
	budget  int64
	tempDir string
	ncols   int
	// fullSort disables the streaming best-row pass (dedup_best.go) for
	// sort_by, so that tests can compare it with the full sort.
	fullSort bool
	// absorbed are the keys of a Sort upstream whose order this stage
	// computes itself (the plan optimizer, optimize.go): they follow
	// sort_by; in is the input planned.
	absorbed []SortKey
	in       *arrow.Schema
}

var _ openstage.Accumulator = (*RemoveDuplicates)(nil)

// Accumulates implements openstage.Accumulator: RemoveDuplicates holds its
// input (sort_by or keep: last) or the set of keys seen (streaming).
func (r *RemoveDuplicates) Accumulates() bool { return true }

// Bools is a parameter that is one bool or a list of them.
type Bools []bool

// DecodeParam implements openstage.ParamDecoder.
func (b *Bools) DecodeParam(v any) error {
	switch x := v.(type) {
	case bool:
		*b = Bools{x}
		return nil
	case []any:
		out := make(Bools, len(x))
		for i, item := range x {
			v, ok := item.(bool)
			if !ok {
				return fmt.Errorf("item %d must be true or false, got %s", i+1, openstage.ValueKind(item))
			}
			out[i] = v
		}
		*b = out
		return nil
	}
	return fmt.Errorf("must be true or false, or a list of them, got %s", openstage.ValueKind(v))
}

// ParamType implements openstage.ParamTyper.
func (Bools) ParamType() string { return "bool or list of bool" }

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "RemoveDuplicates",
		Layer:   openstage.Transformation,
		Summary: "Keeps the first (or last) row of each distinct key, optionally after sorting by other columns.",
		Doc: `key names the column(s) that identify duplicates. Nulls in a key equal each
other (as pandas' drop_duplicates); float NaN counts as null.

Without sort_by, keep: first streams: one entry per distinct key is kept in
memory and the first row of each key is sent as batches arrive, in input
order. keep: last without sort_by holds the whole input and sends the last
row of each key, in input order.

With sort_by (and ascending: a bool or one per column, default true) the
stage is pandas' df.sort_values(sort_by, ascending).drop_duplicates(key,
keep): a stable sort (nulls last, ties in input order), then the first or
last row of each key in that order; the output is in sort order.

With sort_by or keep: last the input is held in memory within the stage's
memory budget (the job's memory limit shared among the stages that hold
data); past it, the stage sorts it through temporary files (by key, then
sort_by, then input position), keeps one row per key and sorts the kept rows
back into the documented order: the output is the same, order included. The
counters spilled_rows and spill_runs report it. Streaming keep: first holds
its key set within half the budget; past it, rows of keys already seen are
dropped as before, and rows of new keys are gathered (spilling past the other
half) and deduplicated at the end, still in input order: the output is the
same.`,
		Example: `- name: latest_order_per_user
  type: RemoveDuplicates
  key: user_id
  sort_by: order_date
  ascending: false
  keep: first`,
		New: func() any { return &RemoveDuplicates{} },
	})
}

// NewRemoveDuplicates returns a RemoveDuplicates stage. sortBy may be nil;
// ascending applies to every sort_by column; keep is "first" or "last".
//
//	stages.NewRemoveDuplicates("latest", []string{"user_id"}, []string{"order_date"}, false, "first")
func NewRemoveDuplicates(name string, key, sortBy []string, ascending bool, keep string) *openstage.Stage {
	return openstage.New(name, func(r *RemoveDuplicates) {
		r.Key, r.SortBy, r.Keep = key, sortBy, keep
		if len(sortBy) > 0 {
			r.Ascending = Bools{ascending}
		}
	})
}

// Connectivity implements the optional connectivity interface: one input, one output.
func (r *RemoveDuplicates) Connectivity() openstage.Connectivity { return openstage.OneToOne }

// Plan checks the key and sort columns.
func (r *RemoveDuplicates) Plan(_ context.Context, p *openstage.Plan) error {
	in := p.InputSchema()
	r.last = r.Keep == "last" // first is the default; the engine checked the enum
	r.keyCols = r.keyCols[:0]
	for _, k := range r.Key {
		idx, err := openstage.FieldIndex(in, k)
		if err != nil {
			return err
		}
		if _, ok := kernel.KeyKindOf(in.Field(idx).Type); !ok {
			return fmt.Errorf("cannot use column '%s' of type %s as a key", k, in.Field(idx).Type)
		}
		r.keyCols = append(r.keyCols, idx)
	}
	r.sortBy = nil
	switch {
	case len(r.SortBy) == 0 && len(r.Ascending) > 0:
		return errors.New("ascending applies to sort_by, which is not set")
	case len(r.Ascending) > 1 && len(r.Ascending) != len(r.SortBy):
		return fmt.Errorf("ascending has %d values but sort_by has %d columns; give one value or one per column", len(r.Ascending), len(r.SortBy))
	}
	if len(r.SortBy) > 0 || len(r.absorbed) > 0 {
		keys := make([]SortKey, len(r.SortBy), len(r.SortBy)+len(r.absorbed))
		for i, c := range r.SortBy {
			keys[i] = SortKey{Field: c}
			switch {
			case len(r.Ascending) == 1:
				keys[i].Descending = !r.Ascending[0]
			case len(r.Ascending) > 1:
				keys[i].Descending = !r.Ascending[i]
			}
		}
		keys = append(keys, r.absorbed...)
		cols, err := sortPlanKeys(in, keys, "sort by")
		if err != nil {
			return err
		}
		r.sortBy = cols
	}
	r.budget, r.tempDir, r.ncols, r.in = p.MemoryBudget(), p.TempDir(), in.NumFields(), in
	reads := slices.Concat(r.Key, r.SortBy)
	for _, k := range r.absorbed {
		reads = append(reads, k.Field)
	}
	passThrough(p, reads...)
	p.SetOutputs(in)
	return nil
}

// Process streams (keep first, no sort_by) or gathers the input; past the
// memory budget the gathering spills (see dedupSpilled).
func (r *RemoveDuplicates) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	if len(r.sortBy) == 0 && !r.last {
		return r.stream(ctx, in, out)
	}
	srt := r.dedup().Sorter(out.Allocator(), true)
	defer srt.Release()
	if len(r.sortBy) > 0 && !r.fullSort {
		done, err := r.dedupBest(ctx, in, out, srt)
		if done || err != nil {
			return err
		}
	}
	err := in.ForEach(ctx, func(dp openstage.DataPackage) error {
		dp.Batch.Retain() // the sorter keeps it
		return srt.Add(dp.Batch)
	})
	if err != nil {
		return err
	}
	return r.finishGathered(ctx, srt, out)
}

// dedup is the plan of the spilling path.
func (r *RemoveDuplicates) dedup() *outofcore.Dedup {
	return &outofcore.Dedup{KeyCols: r.keyCols, SortBy: r.sortBy, NCols: r.ncols, Last: r.last, Budget: r.budget, TempDir: r.tempDir}
}

// finishGathered keeps the first (or last) row of each key among the rows
// gathered in srt, in memory or through the spilling path.
func (r *RemoveDuplicates) finishGathered(ctx context.Context, srt *outofcore.Sorter, out *openstage.Outputs) error {
	if srt.SpilledAny() {
		return r.dedup().Finish(ctx, srt, out)
	}
	rec, err := srt.TakeHeld()
	if err != nil || rec == nil {
		return err
	}
	defer rec.Release()
	n := int(rec.NumRows())
	grouper := kernel.NewGrouper(rec.Schema(), r.keyCols, false)
	gids := grouper.IDs(rec, nil)
	order := kernel.Identity(n)
	if len(r.sortBy) > 0 {
		order = kernel.SortIndex(kernel.SortCols(rec, r.sortBy), n, false)
	}
	kept := make([]int32, 0, grouper.Groups())
	if r.last {
		lastPos := make([]int32, grouper.Groups())
		for pos, row := range order {
			lastPos[gids[row]] = int32(pos)
		}
		for pos, row := range order {
			if lastPos[gids[row]] == int32(pos) {
				kept = append(kept, row)
			}
		}
	} else {
		seen := make([]bool, grouper.Groups())
		for _, row := range order {
			if !seen[gids[row]] {
				seen[gids[row]] = true
				kept = append(kept, row)
			}
		}
	}
	return kernel.SendPermuted(ctx, out, rec, kept)
}

// stream keeps the first row of each key as batches arrive. Group ids are
// given in order of first appearance, so a row is the first of its key
// exactly when its id is the next unused one.
//
// When the set of keys seen outgrows half the memory budget, it is frozen:
// a row of a key in it is a duplicate, as before; a row of any other key
// comes after every row sent so far, and goes to the gathering (and, past
// the other half of the budget, spilling) path, which at the end keeps the
// first row of each of those keys in input order. The output is the same.
func (r *RemoveDuplicates) stream(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	var grouper *kernel.Grouper
	var gids, sel []int32
	var srt *outofcore.Sorter // rows of new keys once the key set is frozen
	defer func() {
		if srt != nil {
			srt.Release()
		}
	}()
	for {
		dp, err := in.Recv(ctx)
		if err == io.EOF {
			if srt != nil {
				return r.finishGathered(ctx, srt, out)
			}
			return nil
		}
		if err != nil {
			return err
		}
		rec := dp.Batch
		if grouper == nil {
			grouper = kernel.NewGrouper(rec.Schema(), r.keyCols, false)
		}
		next := int32(grouper.Groups())
		gids = grouper.IDs(rec, gids)
		sel = sel[:0]
		if grouper.Frozen {
			for i, id := range gids {
				if id < 0 {
					sel = append(sel, int32(i))
				}
			}
			var err error
			switch len(sel) {
			case 0:
				rec.Release()
			case len(gids):
				err = srt.Add(rec)
			default:
				err = srt.Add(openstage.Take(out.Allocator(), rec, sel))
				rec.Release()
			}
			if err != nil {
				return err
			}
			continue
		}
		for i, id := range gids {
			if id == next {
				sel = append(sel, int32(i))
				next++
			}
		}
		if r.budget > 0 && grouper.HeldBytes() > r.budget/2 {
			grouper.Frozen = true
			srt = r.dedup().Sorter(out.Allocator(), true)
			srt.Budget = max(1, r.budget/2)
		}
		var res arrow.RecordBatch
		switch len(sel) {
		case 0:
		case len(gids):
			res = rec
			res.Retain()
		default:
			res = openstage.Take(out.Allocator(), rec, sel)
		}
		rec.Release()
		if res != nil {
			err = out.Send(ctx, res)
			res.Release()
			if err != nil {
				return err
			}
		}
	}
}
