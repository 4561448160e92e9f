package stages

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
)

// Switcher sends each row to the output pipe that its value of one field
// maps to (DataStage's Switch stage).
type Switcher struct {
	Field       string          `param:"field" required:"true" doc:"Column whose value chooses the output pipe."`
	Mapping     SwitcherMapping `param:"mapping" required:"true" doc:"Value of field -> name of the output pipe for its rows. Several values may map to the same pipe."`
	Default     string          `param:"default" doc:"Output pipe for rows whose value is null or in no mapping."`
	OnUnmatched string          `param:"on_unmatched" default:"drop" enum:"drop,fail" doc:"Without a default pipe: drop rows whose value is in no mapping (counted as unmatched in the run summary), or fail the job at the first one."`

	plan switcherPlan
}

// SwitcherMapping maps values of a Switcher's field, written as text, to
// output pipe names. In a job file it is a YAML mapping; its keys may be
// numbers, booleans or dates, which are read as text and converted to the
// field's type when the job is validated.
type SwitcherMapping map[string]string

// DecodeParam implements openstage.ParamDecoder: YAML gives a mapping with
// non-string keys (1: small) as map[any]any.
func (m *SwitcherMapping) DecodeParam(v any) error {
	out := SwitcherMapping{}
	put := func(k, val any) error {
		if k == nil {
			return fmt.Errorf("a key is null; null values go to the default pipe")
		}
		key := fmt.Sprint(k)
		pipe, ok := val.(string)
		if !ok {
			return fmt.Errorf("key '%s': must be the name of an output pipe, got %v", key, val)
		}
		if _, dup := out[key]; dup {
			return fmt.Errorf("key '%s' appears twice", key)
		}
		out[key] = pipe
		return nil
	}
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if err := put(k, val); err != nil {
				return err
			}
		}
	case map[any]any:
		for k, val := range x {
			if err := put(k, val); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("must be a mapping of value to output pipe, got %T", v)
	}
	*m = out
	return nil
}

// ParamType implements openstage.ParamTyper.
func (SwitcherMapping) ParamType() string { return "map of value to output pipe" }

// switcherPlan is what Switcher.Plan works out for the run: the output index
// of every mapped value, by type family.
type switcherPlan struct {
	field  int
	name   string
	outs   []string
	def    int32 // output index of the default pipe, or -1
	fail   bool
	ints   map[int64]int32 // int64, date, timestamp and bool (0/1) fields
	floats map[float64]int32
	strs   map[string]int32
}

var (
	_ openstage.Node           = (*Switcher)(nil)
	_ openstage.BatchProcessor = (*Switcher)(nil)
)

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "Switcher",
		Layer:   openstage.Routing,
		Summary: "Routes each row to an output pipe chosen by the value of one field.",
		Doc: `Switcher has one input pipe and several output pipes. mapping lists, for values of field, the output pipe their rows go to; several values may go to the same pipe. Mapping keys are written as text (YAML keys) and converted to the field's type when the job is validated: a key that does not parse (abc for an int64 field), or two keys that are the same value (1 and 01), is a validation error. Every pipe named in mapping or default must be an output of the stage, and every output must be named (an output that could never receive rows is an error).

Rows whose value is null, or in no mapping, go to the default pipe when there is one. Without one they are dropped and counted in the stage's unmatched counter of the run summary — never lost silently — or, with on_unmatched: fail, the first such row fails the job with its row number and value.

Within each output pipe rows keep their input order, also when the engine routes several batches at once (--workers). A batch whose rows all go to one pipe is passed on without copying.`,
		Example: `- name: router
  type: Switcher
  field: species
  mapping:
    setosa: p_setosa
    versicolor: p_versicolor
    virginica: p_virginica`,
		New: func() any { return &Switcher{} },
	})
}

// NewSwitcher returns a Switcher stage routing rows by field according to
// mapping (value -> output pipe), the seed's Switcher(name, field, mapping).
func NewSwitcher(name, field string, mapping map[string]string) *openstage.Stage {
	return openstage.New(name, func(s *Switcher) {
		s.Field, s.Mapping = field, mapping
	})
}

// Connectivity implements the optional connectivity interface: one input,
// any number of outputs.
func (s *Switcher) Connectivity() openstage.Connectivity { return openstage.OneToMany }

// Plan checks field, the mapping's values and pipes, and declares every
// output with the input's schema.
func (s *Switcher) Plan(_ context.Context, p *openstage.Plan) error {
	in := p.InputSchema()
	field, err := openstage.FieldIndex(in, s.Field)
	if err != nil {
		return err
	}
	if err := joinCheckColumns(joinSide{"input", p.Inputs()[0]}); err != nil {
		return err
	}
	outs := p.Outputs()
	pl := switcherPlan{field: field, name: s.Field, outs: outs, def: -1, fail: s.OnUnmatched == "fail"}
	index := map[string]int32{}
	for i, o := range outs {
		index[o] = int32(i)
	}
	used := make([]bool, len(outs))
	keys := make([]string, 0, len(s.Mapping))
	for k := range s.Mapping {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		pipe := s.Mapping[k]
		i, ok := index[pipe]
		if !ok {
			msg := fmt.Sprintf("mapping sends '%s' to pipe '%s', which is not an output of this stage; outputs: %s", k, pipe, joinListPipes(outs))
			if sug := openstage.Suggest(pipe, outs); sug != "" {
				msg += fmt.Sprintf(" (did you mean '%s'?)", sug)
			}
			return fmt.Errorf("%s", msg)
		}
		used[i] = true
	}
	if s.Default != "" {
		if err := joinPipeParam("default", s.Default, "output", outs); err != nil {
			return err
		}
		pl.def = index[s.Default]
		used[pl.def] = true
		if pl.fail {
			return fmt.Errorf("on_unmatched: fail has no effect with a default pipe ('%s' receives every unmatched row); remove one of them", s.Default)
		}
	}
	for i, u := range used {
		if !u {
			return fmt.Errorf("output pipe '%s' is named in neither mapping nor default, so it would never receive rows; map a value to it or remove it", outs[i])
		}
	}
	if err := pl.parseKeys(in.Field(field).Type, s.Mapping, keys, index); err != nil {
		return err
	}
	s.plan = pl
	passThrough(p, s.Field)
	p.SetOutputs(in)
	return nil
}

// parseKeys converts the mapping's keys to the field's type.
func (pl *switcherPlan) parseKeys(t arrow.DataType, mapping SwitcherMapping, keys []string, index map[string]int32) error {
	seen := map[any]string{}
	for _, k := range keys {
		v, hint := switcherParse(t, k)
		if v == nil {
			msg := fmt.Sprintf("mapping key '%s' is not a valid value for field '%s', which is %s", k, pl.name, openstage.TypeName(t))
			if hint != "" {
				msg += "; " + hint
			}
			return fmt.Errorf("%s", msg)
		}
		if prev, dup := seen[v]; dup {
			return fmt.Errorf("mapping keys '%s' and '%s' are the same %s value %v; keep one", prev, k, openstage.TypeName(t), v)
		}
		seen[v] = k
		out := index[mapping[k]]
		switch x := v.(type) {
		case int64:
			if pl.ints == nil {
				pl.ints = map[int64]int32{}
			}
			pl.ints[x] = out
		case float64:
			if pl.floats == nil {
				pl.floats = map[float64]int32{}
			}
			pl.floats[x] = out
		case string:
			if pl.strs == nil {
				pl.strs = map[string]int32{}
			}
			pl.strs[x] = out
		}
	}
	return nil
}

// switcherParse reads a mapping key as a value of type t: an int64 for
// integer, date (days), timestamp (units since the epoch) and bool (0 or 1)
// fields, a float64 or a string. It returns nil and maybe a hint when k is
// not a value of type t.
func switcherParse(t arrow.DataType, k string) (any, string) {
	k2 := strings.TrimSpace(k)
	switch t.ID() {
	case arrow.STRING:
		return k, ""
	case arrow.INT64:
		if v, err := strconv.ParseInt(k2, 10, 64); err == nil {
			return v, ""
		}
	case arrow.FLOAT64:
		f, err := strconv.ParseFloat(k2, 64)
		switch {
		case err != nil:
		case math.IsNaN(f):
			return nil, "NaN equals no value; null and NaN rows go to the default pipe"
		case f == 0:
			return 0.0, "" // -0 is 0
		default:
			return f, ""
		}
	case arrow.BOOL:
		if b, err := strconv.ParseBool(k2); err == nil {
			if b {
				return int64(1), ""
			}
			return int64(0), ""
		}
		return nil, "write true or false"
	case arrow.DATE32:
		tm, err := openstage.ParseTime(k2)
		if err == nil && arrow.Date32FromTime(tm).ToTime().Equal(tm) {
			return int64(arrow.Date32FromTime(tm)), ""
		}
		return nil, "write dates as 2006-01-02"
	case arrow.TIMESTAMP:
		if tm, err := openstage.ParseTime(k2); err == nil {
			if ts, err := arrow.TimestampFromTime(tm, t.(*arrow.TimestampType).Unit); err == nil {
				return int64(ts), ""
			}
		}
		return nil, "write timestamps as 2006-01-02T15:04:05Z (RFC 3339)"
	}
	return nil, ""
}

// Process is the Switcher's Node method; the engine runs ProcessBatch on
// several workers instead.
func (s *Switcher) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	return openstage.BatchProcess(ctx, s, in, out)
}

// ProcessBatch implements openstage.BatchProcessor: it routes the rows of
// one batch (the engine keeps the batches in input order on every output).
func (s *Switcher) ProcessBatch(_ context.Context, dp openstage.DataPackage, out *openstage.Emitter) error {
	pl := &s.plan
	rec := dp.Batch
	targets := pl.route(rec.Column(pl.field), make([]int32, 0, rec.NumRows()))
	idx := make([][]int32, len(pl.outs))
	unmatched := 0
	for i, t := range targets {
		if t < 0 {
			if pl.fail {
				return switcherUnmatched(rec.Column(pl.field), i, dp.FirstRow, pl.name)
			}
			unmatched++
			continue
		}
		idx[t] = append(idx[t], int32(i))
	}
	if pl.def < 0 && !pl.fail {
		out.Count("unmatched", int64(unmatched)) // shown in the summary even when 0
	}
	for k, rows := range idx {
		if len(rows) == 0 {
			continue
		}
		var err error
		if len(rows) == int(rec.NumRows()) {
			err = out.SendTo(pl.outs[k], rec) // every row: no copy
		} else {
			part := openstage.Take(out.Allocator(), rec, rows)
			err = out.SendTo(pl.outs[k], part)
			part.Release()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// route sets targets[i] to the output index of row i of col, or -1.
func (pl *switcherPlan) route(col arrow.Array, targets []int32) []int32 {
	n := col.Len()
	targets = targets[:0]
	lookup := func(i int, t int32, ok bool) {
		if !ok || col.IsNull(i) {
			t = pl.def
		}
		targets = append(targets, t)
	}
	switch a := col.(type) {
	case *array.String:
		for i := range n {
			t, ok := pl.strs[a.Value(i)]
			lookup(i, t, ok)
		}
	case *array.Int64:
		for i, v := range a.Int64Values() {
			t, ok := pl.ints[v]
			lookup(i, t, ok)
		}
	case *array.Float64:
		for i, v := range a.Float64Values() {
			t, ok := pl.floats[v]
			lookup(i, t, ok)
		}
	case *array.Boolean:
		for i := range n {
			v := int64(0)
			if a.Value(i) {
				v = 1
			}
			t, ok := pl.ints[v]
			lookup(i, t, ok)
		}
	case *array.Date32:
		for i, v := range a.Date32Values() {
			t, ok := pl.ints[int64(v)]
			lookup(i, t, ok)
		}
	case *array.Timestamp:
		for i, v := range a.TimestampValues() {
			t, ok := pl.ints[int64(v)]
			lookup(i, t, ok)
		}
	}
	return targets
}

func switcherUnmatched(col arrow.Array, i int, first int64, field string) error {
	if col.IsNull(i) {
		return fmt.Errorf("row %d: field '%s' is null, which matches no mapping, and there is no default pipe", first+int64(i)+1, field)
	}
	return fmt.Errorf("row %d: value %s of field '%s' matches no mapping and there is no default pipe", first+int64(i)+1, kernel.FormatValue(col, i), field)
}
