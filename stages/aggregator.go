package stages

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
	"github.com/open-stage/openstage/internal/outofcore"
)

// Aggregator groups rows by key columns and computes aggregates per group
// (DataStage's Aggregator stage; SQL GROUP BY; pandas groupby().agg()).
//
// Two forms, exclusive: the seed's, with key, agg_field_name, agg_type and
// field_to_agg (NewAggregator("sum_by_user", "user_id", "total", "sum",
// "amount")), and a multi form with keys and aggregations, a list of {field,
// type, as}. key (or keys) is one column or a list; with none, the whole
// input is one group and the output is one row, even for an empty input.
//
// Functions: sum, count, mean, median, min, max, std, var, nunique, first,
// last. Nulls are skipped as pandas does (float NaN counts as null): count
// counts the non-null values of its field, or the rows when it has no field;
// sum of int64 (or bool) stays int64 and an all-null group sums to 0 (an
// overflow is an error); sum of float64 is float64; mean, median, std and var
// are float64 and null for a group without values; std and var are the
// sample statistics (ddof 1, as pandas), null for a group with one value;
// min, max, first and last keep the column's type (strings compare bytewise),
// first and last being the first and last non-null value in input order (as
// pandas' groupby first/last); nunique is int64 and ignores nulls.
//
// Null keys are kept: all rows whose key is null form one group (as
// DataStage and SQL GROUP BY do; pandas would drop them). The output is
// sorted by the keys, ascending, nulls last.
//
// Memory: one entry per group, except median, which keeps every value of
// each group, and nunique, which keeps each group's distinct values. When
// the estimated size of the groups passes the stage's memory budget (the
// job's MemoryLimit shared among the stages that accumulate), the groups
// held so far stay in memory and keep being updated, while the rows of any
// new key are written to temporary Arrow IPC files partitioned by a hash of
// the key; each partition is then aggregated on its own (partitioned again if
// it is itself too large, up to three levels) and the groups are sent in key
// order through an external sort. A group's rows are all in memory or all in
// one partition, in input order, so every function stays exact and the
// output is the same as in memory. The values that median and nunique keep
// for the groups in memory (after spilling starts, or without keys, or in a
// partition at the last level) go to sorted spill runs once they pass half
// the budget, and are merged back at the end (internal/outofcore). What stays
// in memory is one entry per group. The counters
// spilled_rows, spill_partitions and spill_runs report spilling. Sums and
// means use compensated summation; results agree with pandas and SQLite to
// about 1e-15 relative on ordinary data.
type Aggregator struct {
	Key          openstage.Strings `param:"key" doc:"Column or list of columns to group by (omit to aggregate the whole input into one row)."`
	AggFieldName string            `param:"agg_field_name" doc:"Seed form: name of the output column (default: field_to_agg + '_' + agg_type, or count)."`
	AggType      string            `param:"agg_type" enum:"sum,count,mean,median,min,max,std,var,nunique,first,last" hint:"avg|the average is mean|average|the average is mean" doc:"Seed form: the function: sum, count, mean, median, min, max, std, var, nunique, first, last."`
	FieldToAgg   string            `param:"field_to_agg" doc:"Seed form: the column to aggregate (not needed for count, which then counts rows)."`
	Keys         openstage.Strings `param:"keys" doc:"Multi form: same as key."`
	Aggregations []Aggregation     `param:"aggregations" doc:"Multi form: list of {field, type, as}."`

	keyCols []int
	specs   []aggSpec
	schema  *arrow.Schema
	budget  int64
	tempDir string
}

var _ openstage.Accumulator = (*Aggregator)(nil)

// Accumulates implements openstage.Accumulator: the Aggregator holds one
// entry per group (and median's values, nunique's distinct values).
func (a *Aggregator) Accumulates() bool { return true }

// Aggregation is one aggregate of the multi form.
type Aggregation struct {
	Field string `param:"field" doc:"Column to aggregate (omit for count of rows)."`
	Type  string `param:"type" required:"true" enum:"sum,count,mean,median,min,max,std,var,nunique,first,last" doc:"Function: sum, count, mean, median, min, max, std, var, nunique, first, last."`
	As    string `param:"as" doc:"Name of the output column (default: field + '_' + type, or count)."`
}

// aggSpec is a planned aggregate.
type aggSpec struct {
	col   int // -1: count of rows
	field string
	typ   string
	name  string
	in    arrow.DataType
	out   arrow.DataType
}

var aggTypes = []string{"sum", "count", "mean", "median", "min", "max", "std", "var", "nunique", "first", "last"}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "Aggregator",
		Layer:   openstage.Transformation,
		Summary: "Groups rows by key columns and computes sum, count, mean, median, min, max, std, var, nunique, first, last.",
		Doc: `Seed form: key, agg_field_name, agg_type, field_to_agg (count without
field_to_agg counts rows). Multi form: keys and aggregations, a list of
{field, type, as}. The two forms are exclusive. key/keys is one column or a
list; without it the whole input is one group (one output row, even for an
empty input).

Nulls are skipped as pandas does (float NaN counts as null): count counts the
non-null values of its field (or rows without a field); sum of int64/bool is
int64 and an all-null group sums to 0; sum of float64 is float64; mean,
median, std, var are float64 and null when a group has no values; std and var
are sample statistics (ddof 1, as pandas), null for a single value; min, max,
first, last keep the column type (first/last: first/last non-null value in
input order); nunique is int64 and ignores nulls. sum, mean, median, std and
var need an int64, float64 or bool column.

Null keys form a group of their own (as DataStage and SQL GROUP BY; pandas
drops them). The output is sorted by the keys, ascending, nulls last, and has
the key columns then the aggregates.

Memory is one entry per group, except median (every value of each group) and
nunique (each group's distinct values). Past the stage's memory budget (the
job's memory limit shared among the stages that hold data), the groups held
so far stay in memory and the rows of new keys go to temporary files,
partitioned by a hash of the key, which are aggregated one at a time; the
output is the same, in key order. The values median and nunique keep for the
groups in memory (a global aggregate too) go to sorted temporary files past
half the budget and are merged back at the end: what stays in memory is one
entry per group. Float sums
and means use compensated summation, std/var Welford's algorithm.`,
		Example: `- name: sum_by_user
  type: Aggregator
  key: user_id
  agg_field_name: total_spent
  agg_type: sum
  field_to_agg: amount

- name: country_stats
  type: Aggregator
  keys: [country]
  aggregations:
    - {field: amount, type: sum, as: revenue}
    - {type: count, as: orders}
    - {field: user_id, type: nunique, as: buyers}`,
		New: func() any { return &Aggregator{} },
	})
}

// NewAggregator returns an Aggregator stage in the seed's positional form:
// NewAggregator("sum_by_user", "user_id", "total_spent", "sum", "amount").
// fieldToAgg may be "" for count (rows).
func NewAggregator(name, key, aggFieldName, aggType, fieldToAgg string) *openstage.Stage {
	return openstage.New(name, func(a *Aggregator) {
		if key != "" {
			a.Key = openstage.Strings{key}
		}
		a.AggFieldName, a.AggType, a.FieldToAgg = aggFieldName, aggType, fieldToAgg
	})
}

// Connectivity implements the optional connectivity interface: one input, one output.
func (a *Aggregator) Connectivity() openstage.Connectivity { return openstage.OneToOne }

// Plan checks keys and aggregates against the input and declares the output.
func (a *Aggregator) Plan(_ context.Context, p *openstage.Plan) error {
	in := p.InputSchema()
	keys := a.Key
	if len(a.Key) > 0 && len(a.Keys) > 0 {
		return errors.New("key and keys mean the same thing; set only one")
	}
	if len(a.Keys) > 0 {
		keys = a.Keys
	}
	seedForm := a.AggFieldName != "" || a.AggType != "" || a.FieldToAgg != ""
	var aggs []Aggregation
	switch {
	case seedForm && len(a.Aggregations) > 0:
		return errors.New("agg_field_name/agg_type/field_to_agg and aggregations are two forms of the same thing; use one")
	case seedForm:
		if a.AggType == "" {
			return fmt.Errorf("agg_type is required; use one of %s", strings.Join(aggTypes, ", "))
		}
		aggs = []Aggregation{{Field: a.FieldToAgg, Type: a.AggType, As: a.AggFieldName}}
	case len(a.Aggregations) > 0:
		aggs = a.Aggregations
	default:
		return errors.New("set agg_type (with agg_field_name and field_to_agg) or aggregations")
	}

	a.keyCols = a.keyCols[:0]
	var fields []arrow.Field
	names := map[string]string{} // output name -> what made it
	for _, k := range keys {
		idx, err := openstage.FieldIndex(in, k)
		if err != nil {
			return err
		}
		f := in.Field(idx)
		if _, ok := kernel.KeyKindOf(f.Type); !ok {
			return fmt.Errorf("cannot group by column '%s' of type %s", k, f.Type)
		}
		if _, dup := names[k]; dup {
			return fmt.Errorf("key column '%s' is listed twice", k)
		}
		names[k] = "key"
		a.keyCols = append(a.keyCols, idx)
		fields = append(fields, arrow.Field{Name: f.Name, Type: f.Type, Nullable: true})
	}

	a.specs = a.specs[:0]
	for i, ag := range aggs {
		where := ""
		if !seedForm {
			where = fmt.Sprintf("aggregation %d: ", i+1)
		}
		spec, err := aggPlanOne(in, ag, seedForm)
		if err != nil {
			return errors.New(where + err.Error())
		}
		if prev, dup := names[spec.name]; dup {
			if prev == "key" {
				return fmt.Errorf("%soutput column '%s' is also a key column; choose another name", where, spec.name)
			}
			return fmt.Errorf("%soutput column '%s' appears twice; give the aggregations different names with as", where, spec.name)
		}
		names[spec.name] = "agg"
		a.specs = append(a.specs, spec)
		fields = append(fields, arrow.Field{Name: spec.name, Type: spec.out, Nullable: true})
	}
	a.schema = arrow.NewSchema(fields, nil)
	a.budget, a.tempDir = p.MemoryBudget(), p.TempDir()
	reads := slices.Clone(keys)
	for _, ag := range aggs {
		if ag.Field != "" {
			reads = append(reads, ag.Field)
		}
	}
	p.Reads(p.Inputs()[0].Pipe, reads...)
	p.SetOutputs(a.schema)
	return nil
}

// aggPlanOne checks one aggregate and works out its output name and type.
func aggPlanOne(in *arrow.Schema, ag Aggregation, seedForm bool) (aggSpec, error) {
	known := false
	for _, t := range aggTypes {
		known = known || t == ag.Type
	}
	typeParam, fieldParam := "type", "field"
	if seedForm {
		typeParam, fieldParam = "agg_type", "field_to_agg"
	}
	if !known {
		return aggSpec{}, fmt.Errorf("unknown %s '%s'; use one of %s", typeParam, ag.Type, strings.Join(aggTypes, ", "))
	}
	spec := aggSpec{col: -1, typ: ag.Type, name: ag.As, out: openstage.Int64}
	if ag.Field == "" {
		if ag.Type != "count" {
			return aggSpec{}, fmt.Errorf("%s '%s' needs %s (only count can go without one, to count rows)", typeParam, ag.Type, fieldParam)
		}
		if spec.name == "" {
			spec.name = "count"
		}
		return spec, nil
	}
	idx, err := openstage.FieldIndex(in, ag.Field)
	if err != nil {
		return aggSpec{}, err
	}
	dt := in.Field(idx).Type
	spec.col, spec.in, spec.field = idx, dt, ag.Field
	if spec.name == "" {
		spec.name = ag.Field + "_" + ag.Type
	}
	if _, ok := kernel.KeyKindOf(dt); !ok {
		return aggSpec{}, fmt.Errorf("cannot compute %s of column '%s' of type %s", ag.Type, ag.Field, dt)
	}
	numeric := dt.ID() == arrow.INT64 || dt.ID() == arrow.FLOAT64 || dt.ID() == arrow.BOOL
	switch ag.Type {
	case "sum", "mean", "median", "std", "var":
		if !numeric {
			return aggSpec{}, fmt.Errorf("cannot compute %s of column '%s': it is %s; %s needs an int64, float64 or bool column", ag.Type, ag.Field, openstage.TypeName(dt), ag.Type)
		}
		spec.out = openstage.Float64
		if ag.Type == "sum" && dt.ID() != arrow.FLOAT64 {
			spec.out = openstage.Int64
		}
	case "count", "nunique":
		spec.out = openstage.Int64
	default: // min, max, first, last
		spec.out = dt
	}
	return spec, nil
}

// newState returns the accumulator of a planned aggregate.
func (s aggSpec) newState() kernel.Agg {
	if s.col < 0 {
		return kernel.NewAgg(s.typ, nil, "")
	}
	return kernel.NewAgg(s.typ, s.in, s.field)
}

// Process aggregates the whole input, then sends the groups sorted by key.
// Past the memory budget it spills (hybrid hash aggregation, package
// internal/outofcore).
func (a *Aggregator) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	next := func() (arrow.RecordBatch, error) {
		dp, err := in.Recv(ctx)
		if err != nil {
			return nil, err
		}
		return dp.Batch, nil
	}
	cols := make([]int, len(a.specs))
	for i, s := range a.specs {
		cols[i] = s.col
	}
	ag := outofcore.Aggregation{
		Keys: a.keyCols, Cols: cols, Schema: a.schema, Budget: a.budget, TempDir: a.tempDir,
		New: func() []kernel.Agg {
			states := make([]kernel.Agg, len(a.specs))
			for i, s := range a.specs {
				states[i] = s.newState()
			}
			return states
		},
	}
	return ag.Run(ctx, next, out)
}

// AcceptsDictionary implements openstage.DictionaryReader: a column that
// no aggregate reads may arrive dictionary-encoded: a key column is grouped
// by index (each distinct value of a batch looked up once), another is not
// read at all (and decoded with the rest of the batch should it spill); the
// output holds plain strings.
func (a *Aggregator) AcceptsDictionary(_, col string) (accept, passes bool) {
	if a.schema == nil {
		return false, false
	}
	for _, s := range a.specs {
		if s.field == col {
			return false, false
		}
	}
	return true, false
}
