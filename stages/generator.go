package stages

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// Generator makes rows from column patterns (DataStage's Row Generator), for
// tests, demos and benchmarks.
type Generator struct {
	Rows      int64       `param:"rows" required:"true" doc:"How many rows to generate."`
	Columns   []GenColumn `param:"columns" required:"true" doc:"The columns, each {name, type, pattern, ...}."`
	BatchRows int         `param:"batch_rows" default:"65536" doc:"Rows per batch."`

	schema *arrow.Schema
}

// GenColumn describes one generated column.
//
//   - sequence: start, start+step, start+2*step, ... (dates step in days,
//     timestamps in seconds; strings are prefix + the integer sequence;
//     bools alternate starting with false).
//   - cycle: the values list, repeated.
//   - random: uniform between min and max (inclusive for int64 and dates),
//     or a uniform choice among values; seed makes it reproducible.
//
// null_every: n makes every n-th row null (rows n, 2n, ...).
type GenColumn struct {
	Name      string  `param:"name" required:"true" doc:"Column name."`
	Type      string  `param:"type" default:"int64" enum:"int64,float64,bool,string,date,timestamp" doc:"Column type."`
	Pattern   string  `param:"pattern" default:"sequence" enum:"sequence,cycle,random" doc:"How values are made."`
	Start     any     `param:"start" doc:"sequence: first value (default 1; dates 2024-01-01)."`
	Step      float64 `param:"step" default:"1" doc:"sequence: increment (days for dates, seconds for timestamps)."`
	Prefix    string  `param:"prefix" doc:"sequence of strings: text before the number."`
	Values    []any   `param:"values" doc:"cycle and random: the values to use."`
	Min       any     `param:"min" doc:"random: lowest value."`
	Max       any     `param:"max" doc:"random: highest value."`
	Seed      int64   `param:"seed" default:"1" doc:"random: seed; the same seed gives the same rows."`
	NullEvery int64   `param:"null_every" doc:"Make every n-th row null (0: never)."`
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "Generator",
		Layer:   openstage.Extraction,
		Summary: "Generates rows from column patterns (sequence, cycle, random); DataStage's Row Generator.",
		New:     func() any { return &Generator{} },
		Example: `- name: numbers
  type: Generator
  rows: 1000
  columns:
    - {name: id, type: int64, pattern: sequence, start: 1}
    - {name: species, type: string, pattern: cycle, values: [setosa, versicolor, virginica]}
    - {name: amount, type: float64, pattern: random, min: 0, max: 100, seed: 7}`,
	})
}

// NewGenerator returns a Generator stage making rows rows of columns.
func NewGenerator(name string, rows int64, columns ...GenColumn) *openstage.Stage {
	return openstage.New(name, func(g *Generator) {
		g.Rows = rows
		for _, c := range columns {
			col := GenColumn{Type: "int64", Pattern: "sequence", Step: 1, Seed: 1}
			if err := openstage.ApplyDefaults(&col); err == nil {
				col = mergeGenColumn(col, c)
			}
			g.Columns = append(g.Columns, col)
		}
	})
}

// mergeGenColumn overlays the set fields of c on the defaults d.
func mergeGenColumn(d, c GenColumn) GenColumn {
	d.Name = c.Name
	if c.Type != "" {
		d.Type = c.Type
	}
	if c.Pattern != "" {
		d.Pattern = c.Pattern
	}
	if c.Step != 0 {
		d.Step = c.Step
	}
	if c.Seed != 0 {
		d.Seed = c.Seed
	}
	d.Start, d.Prefix, d.Values, d.Min, d.Max, d.NullEvery = c.Start, c.Prefix, c.Values, c.Min, c.Max, c.NullEvery
	return d
}

// Connectivity implements openstage's optional interface: one output.
func (g *Generator) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinOut: 1, MaxOut: 1}
}

// genValue is a column pattern compiled for one type: it returns the value
// of row i (0-based) as something openstage.AppendValue accepts.
type genValue func(i int64) any

// Plan implements openstage.Origin.
func (g *Generator) Plan(_ context.Context, p *openstage.Plan) error {
	if g.Rows < 0 {
		return fmt.Errorf("rows must be 0 or more, got %d", g.Rows)
	}
	if len(g.Columns) == 0 {
		return fmt.Errorf("columns: give at least one column")
	}
	fields := make([]arrow.Field, len(g.Columns))
	seen := map[string]bool{}
	for i, c := range g.Columns {
		if seen[c.Name] {
			return fmt.Errorf("column '%s' is declared twice", c.Name)
		}
		seen[c.Name] = true
		t, err := openstage.ParseType(c.Type)
		if err != nil {
			return fmt.Errorf("column '%s': %w", c.Name, err)
		}
		if _, err := c.compile(t); err != nil {
			return fmt.Errorf("column '%s': %w", c.Name, err)
		}
		fields[i] = arrow.Field{Name: c.Name, Type: t, Nullable: true}
	}
	g.schema = arrow.NewSchema(fields, nil)
	p.SetOutputs(g.schema)
	return nil
}

// Pump implements openstage.Origin.
func (g *Generator) Pump(ctx context.Context, out *openstage.Outputs) error {
	return g.PumpRange(ctx, out.Allocator(), 0, g.Rows, func(rec arrow.RecordBatch) error { return out.Send(ctx, rec) })
}

// Ranges cuts the rows of a planned Generator into ranges [start, end) of
// about perRange rows each (a whole number of batches), which PumpRange
// makes independently: the rows of every range are those Pump makes at
// the same places, since each value depends only on its row number.
// Distributed runners (the Beam translation) make the ranges in parallel.
func (g *Generator) Ranges(perRange int64) [][2]int64 {
	batch := g.batchRows()
	if perRange < batch {
		perRange = batch
	}
	perRange -= perRange % batch
	var out [][2]int64
	for start := int64(0); start < g.Rows; start += perRange {
		out = append(out, [2]int64{start, min(start+perRange, g.Rows)})
	}
	return out
}

func (g *Generator) batchRows() int64 {
	if g.BatchRows <= 0 {
		return 65536
	}
	return int64(g.BatchRows)
}

// PumpRange makes rows start to end-1 (0-based) of a planned Generator in
// batches of batch_rows, built from mem and given to send, which does not
// take their reference.
func (g *Generator) PumpRange(ctx context.Context, mem memory.Allocator, start, end int64, send func(arrow.RecordBatch) error) error {
	gens := make([]genValue, len(g.Columns))
	for i, c := range g.Columns {
		gens[i], _ = c.compile(g.schema.Field(i).Type)
	}
	batch := g.batchRows()
	end = min(end, g.Rows)
	b := openstage.NewBuilder(mem, g.schema)
	defer b.Release()
	for ; start < end; start += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		stop := min(start+batch, end)
		for c, gen := range gens {
			fb := b.Field(c)
			fb.Reserve(int(stop - start))
			every := g.Columns[c].NullEvery
			for i := start; i < stop; i++ {
				if every > 0 && (i+1)%every == 0 {
					fb.AppendNull()
					continue
				}
				if err := openstage.AppendValue(fb, gen(i)); err != nil {
					return fmt.Errorf("column '%s', row %d: %w", g.Columns[c].Name, i+1, err)
				}
			}
		}
		rec := b.Build()
		err := send(rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

func (c GenColumn) compile(t arrow.DataType) (genValue, error) {
	switch c.Pattern {
	case "cycle":
		if len(c.Values) == 0 {
			return nil, fmt.Errorf("pattern cycle needs values: [...]")
		}
		vals, err := convertAll(c.Values, t)
		if err != nil {
			return nil, err
		}
		return func(i int64) any { return vals[i%int64(len(vals))] }, nil
	case "random":
		return c.compileRandom(t)
	case "sequence", "":
		return c.compileSequence(t)
	}
	return nil, fmt.Errorf("unknown pattern '%s'; use sequence, cycle or random", c.Pattern)
}

// convertAll checks that every value fits the column type, once at Plan.
func convertAll(values []any, t arrow.DataType) ([]any, error) {
	out := make([]any, len(values))
	b := array.NewBuilder(memory.DefaultAllocator, t)
	defer b.Release()
	for i, v := range values {
		if s, ok := v.(string); ok && (t.ID() == arrow.DATE32 || t.ID() == arrow.TIMESTAMP) {
			tm, err := openstage.ParseTime(s)
			if err != nil {
				return nil, fmt.Errorf("value %d: %w", i+1, err)
			}
			v = tm
		}
		if err := openstage.AppendValue(b, v); err != nil {
			return nil, fmt.Errorf("value %d (%v): %w", i+1, v, err)
		}
		out[i] = v
	}
	return out, nil
}

func (c GenColumn) compileSequence(t arrow.DataType) (genValue, error) {
	step := c.Step
	switch t.ID() {
	case arrow.INT64:
		start, err := intOr(c.Start, 1)
		if err != nil {
			return nil, err
		}
		if step != math.Trunc(step) {
			return nil, fmt.Errorf("step %v must be a whole number for an int64 sequence", step)
		}
		s := int64(step)
		return func(i int64) any { return start + i*s }, nil
	case arrow.FLOAT64:
		start, err := floatOr(c.Start, 1)
		if err != nil {
			return nil, err
		}
		return func(i int64) any { return start + float64(i)*step }, nil
	case arrow.STRING:
		start, err := intOr(c.Start, 1)
		if err != nil {
			return nil, err
		}
		s := int64(step)
		return func(i int64) any { return c.Prefix + strconv.FormatInt(start+i*s, 10) }, nil
	case arrow.BOOL:
		return func(i int64) any { return i%2 == 1 }, nil
	case arrow.DATE32, arrow.TIMESTAMP:
		start, err := timeOr(c.Start, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			return nil, err
		}
		unit := time.Second
		if t.ID() == arrow.DATE32 {
			unit = 24 * time.Hour
		}
		d := time.Duration(step * float64(unit))
		return func(i int64) any { return start.Add(time.Duration(i) * d) }, nil
	}
	return nil, fmt.Errorf("unsupported type %s", t)
}

func (c GenColumn) compileRandom(t arrow.DataType) (genValue, error) {
	// One generator per column: the rows do not depend on batch size or on
	// the other columns. Row i is a pure function of (seed, i) so that
	// batches could be made in any order.
	seed := uint64(c.Seed)
	rnd := func(i int64) *rand.Rand { return rand.New(rand.NewPCG(seed, uint64(i))) }
	if len(c.Values) > 0 {
		vals, err := convertAll(c.Values, t)
		if err != nil {
			return nil, err
		}
		return func(i int64) any { return vals[rnd(i).IntN(len(vals))] }, nil
	}
	switch t.ID() {
	case arrow.INT64:
		lo, err := intOr(c.Min, 0)
		if err != nil {
			return nil, err
		}
		hi, err := intOr(c.Max, 100)
		if err != nil {
			return nil, err
		}
		if hi < lo {
			return nil, fmt.Errorf("min %d is greater than max %d", lo, hi)
		}
		span := uint64(hi-lo) + 1
		return func(i int64) any {
			if span == 0 { // the whole int64 range
				return int64(rnd(i).Uint64())
			}
			return lo + int64(rnd(i).Uint64N(span))
		}, nil
	case arrow.FLOAT64:
		lo, err := floatOr(c.Min, 0)
		if err != nil {
			return nil, err
		}
		hi, err := floatOr(c.Max, 1)
		if err != nil {
			return nil, err
		}
		if hi < lo {
			return nil, fmt.Errorf("min %v is greater than max %v", lo, hi)
		}
		return func(i int64) any { return lo + rnd(i).Float64()*(hi-lo) }, nil
	case arrow.BOOL:
		return func(i int64) any { return rnd(i).IntN(2) == 1 }, nil
	case arrow.STRING:
		lo, err := intOr(c.Min, 0)
		if err != nil {
			return nil, err
		}
		hi, err := intOr(c.Max, 1000000)
		if err != nil {
			return nil, err
		}
		return func(i int64) any { return c.Prefix + strconv.FormatInt(lo+rnd(i).Int64N(hi-lo+1), 10) }, nil
	case arrow.DATE32, arrow.TIMESTAMP:
		lo, err := timeOr(c.Min, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			return nil, err
		}
		hi, err := timeOr(c.Max, time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC))
		if err != nil {
			return nil, err
		}
		unit := time.Second
		if t.ID() == arrow.DATE32 {
			unit = 24 * time.Hour
		}
		span := int64(hi.Sub(lo)/unit) + 1
		if span <= 0 {
			return nil, fmt.Errorf("min %s is after max %s", lo.Format(time.RFC3339), hi.Format(time.RFC3339))
		}
		return func(i int64) any { return lo.Add(time.Duration(rnd(i).Int64N(span)) * unit) }, nil
	}
	return nil, fmt.Errorf("unsupported type %s", t)
}

// intOr reads a numeric parameter as an int64 (openstage.NormalizeValue's
// rules), def when it is not set.
func intOr(v any, def int64) (int64, error) {
	if v == nil {
		return def, nil
	}
	x, err := openstage.NormalizeValue(openstage.Int64, v)
	if err != nil {
		return 0, err
	}
	return x.(int64), nil
}

// floatOr reads a numeric parameter as a float64, def when it is not set.
func floatOr(v any, def float64) (float64, error) {
	if v == nil {
		return def, nil
	}
	x, err := openstage.NormalizeValue(openstage.Float64, v)
	if err != nil {
		return 0, err
	}
	return x.(float64), nil
}

func timeOr(v any, def time.Time) (time.Time, error) {
	switch x := v.(type) {
	case nil:
		return def, nil
	case string:
		return openstage.ParseTime(x)
	case time.Time:
		return x.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%v is not a date (write it as 2024-01-31)", v)
}
