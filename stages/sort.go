package stages

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
	"github.com/open-stage/openstage/internal/outofcore"
)

// Sort orders all its input by one or more columns (DataStage's Sort stage).
//
// Each key is ascending unless it says otherwise. Numbers, dates and
// timestamps order by value; strings bytewise in UTF-8 byte order (as
// SQLite's BINARY collation and pandas); false before true. Nulls (and float
// NaN) go last by default (pandas' na_position='last'), or first with
// nulls: first, whatever the direction of each key. The sort is stable: rows
// with equal keys keep their input order.
//
// Sort is a blocking stage. While its input fits its memory budget (the
// job's MemoryLimit shared among the stages that accumulate) it holds it in
// memory (as one concatenated record batch plus a 4-byte index per row,
// about twice the input while the batches are being concatenated), sorts the
// index, then sends the rows in batches of 65,536. Past the budget it is an
// external merge sort: each budget's worth of batches is sorted and written
// to a temporary Arrow IPC file (a run), and the runs are merged at the end
// of the input; the order, stability included, is the same. The counters
// spilled_rows and spill_runs report it.
type Sort struct {
	Keys  SortKeys `param:"keys" required:"true" doc:"Columns to sort by: a column name, or a list of names or of {field, ascending} (ascending defaults to true)."`
	Nulls string   `param:"nulls" default:"last" enum:"first,last" doc:"Where nulls go: first or last (the default), whatever each key's direction."`

	cols    []kernel.SortRef
	budget  int64
	tempDir string

	// Set by the plan optimizer (optimize.go): skip passes the rows on
	// unsorted, a later stage sorting instead; absorbed are the keys of a
	// Sort upstream whose order this one computes.
	skip     bool
	absorbed []SortKey
	in       *arrow.Schema
}

var _ openstage.Accumulator = (*Sort)(nil)

// Accumulates implements openstage.Accumulator: Sort holds its input (up to
// its memory budget, then spills sorted runs).
func (s *Sort) Accumulates() bool { return !s.skip }

// SortKey is one key of a Sort: a column and its direction.
type SortKey struct {
	Field      string
	Descending bool
}

// Asc returns an ascending sort key.
func Asc(field string) SortKey { return SortKey{Field: field} }

// Desc returns a descending sort key.
func Desc(field string) SortKey { return SortKey{Field: field, Descending: true} }

// SortKeys is the keys parameter of Sort: a column name, or a list whose
// items are column names or mappings {field: name, ascending: false}.
type SortKeys []SortKey

// DecodeParam implements openstage.ParamDecoder.
func (k *SortKeys) DecodeParam(v any) error {
	switch x := v.(type) {
	case string:
		*k = SortKeys{{Field: x}}
		return nil
	case []any:
		out := make(SortKeys, len(x))
		for i, item := range x {
			key, err := sortDecodeKey(item)
			if err != nil {
				return fmt.Errorf("item %d: %w", i+1, err)
			}
			out[i] = key
		}
		*k = out
		return nil
	}
	return fmt.Errorf("must be a column name or a list of column names or {field, ascending}, got %s", openstage.ValueKind(v))
}

func sortDecodeKey(item any) (SortKey, error) {
	switch x := item.(type) {
	case string:
		return SortKey{Field: x}, nil
	case map[string]any:
		var key SortKey
		for name, val := range x {
			switch name {
			case "field":
				s, ok := val.(string)
				if !ok || s == "" {
					return key, fmt.Errorf("field must be a column name, got %s", openstage.ValueKind(val))
				}
				key.Field = s
			case "ascending":
				b, ok := val.(bool)
				if !ok {
					return key, fmt.Errorf("ascending must be true or false, got %s", openstage.ValueKind(val))
				}
				key.Descending = !b
			default:
				return key, fmt.Errorf("unknown key '%s'; a sort key has field and ascending", name)
			}
		}
		if key.Field == "" {
			return key, errors.New("missing field")
		}
		return key, nil
	}
	return SortKey{}, fmt.Errorf("must be a column name or {field, ascending}, got %s", openstage.ValueKind(item))
}

// ParamType implements openstage.ParamTyper.
func (SortKeys) ParamType() string {
	return "column name, or list of column names or {field, ascending}"
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "Sort",
		Layer:   openstage.Transformation,
		Summary: "Sorts all rows by one or more columns, ascending or descending, stable, nulls last (or first).",
		Doc: `keys lists the columns to sort by, most significant first; each is a column
name (ascending) or {field: name, ascending: false}.

Numbers, dates and timestamps order by value; strings bytewise in UTF-8 byte
order (SQLite's BINARY collation, pandas); false before true. Nulls and float
NaN go last by default, or first with nulls: first, regardless of each key's
direction. The sort is stable: rows with equal keys keep their input order.

Sort sends the sorted rows in batches of 65,536 once its input has ended.
Within its memory budget (the job's memory limit shared among the stages that
hold data) it sorts in memory (about twice the input while batches are
concatenated). Past it, it sorts each budget's worth of input into a run in a
temporary file (in the job's temp dir) and merges the runs at the end, with
the same order and stability; the counters spilled_rows and spill_runs say
so.`,
		Example: `- name: by_country_then_amount
  type: Sort
  keys:
    - country
    - {field: amount, ascending: false}
  nulls: last`,
		New: func() any { return &Sort{} },
	})
}

// NewSort returns a Sort stage: NewSort("ranked", stages.Asc("country"), stages.Desc("amount")).
func NewSort(name string, keys ...SortKey) *openstage.Stage {
	return openstage.New(name, func(s *Sort) { s.Keys = keys })
}

// Connectivity implements the optional connectivity interface: one input, one output.
func (s *Sort) Connectivity() openstage.Connectivity { return openstage.OneToOne }

// Plan checks the keys against the input schema.
func (s *Sort) Plan(_ context.Context, p *openstage.Plan) error {
	in := p.InputSchema()
	if _, err := sortNullsFirst(s.Nulls); err != nil {
		return err
	}
	keys := s.allKeys()
	cols, err := sortPlanKeys(in, keys, "sort by")
	if err != nil {
		return err
	}
	s.cols, s.in = cols, in
	s.budget, s.tempDir = p.MemoryBudget(), p.TempDir()
	reads := make([]string, len(keys))
	for i, k := range keys {
		reads[i] = k.Field
	}
	passThrough(p, reads...)
	p.SetOutputs(in)
	return nil
}

// sortNullsFirst reads the nulls parameter ("" means last).
func sortNullsFirst(v string) (bool, error) {
	switch v {
	case "", "last":
		return false, nil
	case "first":
		return true, nil
	}
	return false, fmt.Errorf("nulls must be first or last, got %q", v)
}

// sortPlanKeys resolves sort keys against a schema.
func sortPlanKeys(s *arrow.Schema, keys []SortKey, verb string) ([]kernel.SortRef, error) {
	cols := make([]kernel.SortRef, len(keys))
	for i, k := range keys {
		idx, err := openstage.FieldIndex(s, k.Field)
		if err != nil {
			return nil, err
		}
		if _, ok := kernel.KeyKindOf(s.Field(idx).Type); !ok {
			return nil, fmt.Errorf("cannot %s column '%s' of type %s", verb, k.Field, s.Field(idx).Type)
		}
		cols[i] = kernel.SortRef{Col: idx, Desc: k.Descending}
	}
	return cols, nil
}

// Process gathers the input, sorts it and sends it; past the memory budget
// it sorts runs to spill files and merges them.
func (s *Sort) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	if s.skip {
		return in.ForEach(ctx, func(dp openstage.DataPackage) error {
			return out.Send(ctx, dp.Batch)
		})
	}
	nullsFirst, _ := sortNullsFirst(s.Nulls)
	srt := &outofcore.Sorter{Budget: s.budget, Dir: s.tempDir, Alloc: out.Allocator(), Keys: s.cols, NullsFirst: nullsFirst}
	defer srt.Release()
	err := in.ForEach(ctx, func(dp openstage.DataPackage) error {
		dp.Batch.Retain() // the sorter keeps it
		return srt.Add(dp.Batch)
	})
	if err != nil {
		return err
	}
	if !srt.SpilledAny() {
		rec, err := srt.TakeHeld()
		if err != nil || rec == nil {
			return err
		}
		defer rec.Release()
		idx := kernel.SortIndex(kernel.SortCols(rec, s.cols), int(rec.NumRows()), nullsFirst)
		return kernel.SendPermuted(ctx, out, rec, idx)
	}
	err = srt.Merge(ctx, func(rec arrow.RecordBatch) error {
		defer rec.Release()
		return out.Send(ctx, rec)
	})
	out.Count("spilled_rows", srt.SpilledRows())
	out.Count("spill_runs", int64(srt.Runs()))
	return err
}

// String describes the keys, for messages and logs.
func (k SortKeys) String() string {
	parts := make([]string, len(k))
	for i, key := range k {
		parts[i] = key.Field
		if key.Descending {
			parts[i] += " desc"
		}
	}
	return strings.Join(parts, ", ")
}
