package sqlio

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// Read is the parameter block every database origin shares after its
// connection: what to read and how to type it.
type Read struct {
	Query       string            `param:"query" doc:"The SQL query to run (SELECT ...). Placeholders ($1, $2 for PostgreSQL; ? for MySQL and SQLite; @p1 for SQL Server; :1 for Oracle) take the values of params."`
	Table       string            `param:"table" doc:"Instead of query: read a whole table (table or schema.table, as written: case matters)."`
	Params      []any             `param:"params" doc:"Values bound to the query's placeholders, in order. They are sent to the database apart from the SQL text, never spliced into it."`
	BatchRows   int               `param:"batch_rows" default:"65536" doc:"Rows per batch: the origin holds one batch at a time, whatever the size of the result."`
	Decimal     string            `param:"decimal" default:"float64" enum:"float64,string" doc:"How numeric/decimal columns are read: float64 (exact to about 15 significant digits) or string (every digit, as the database writes it)."`
	ColumnTypes map[string]string `param:"column_types" doc:"Column name → type (int64, float64, bool, string, date, timestamp), overriding the mapping of the database's type; for example a MySQL TINYINT(1) read as bool."`

	PartitionColumn string `param:"partition_column" doc:"An integer, date or timestamp column of the query's result: the origin reads the query in partitions ranges of this column, each on its own connection (in parallel up to --workers locally; one range per worker task on Beam), and sends the ranges in order. The first range also takes the rows below lower_bound and the NULLs of the column, the last the rows above upper_bound: every row is read once, whatever the bounds. PostgreSQL, MySQL/MariaDB and SQLite (not SQL Server or Oracle)."`
	Partitions      int    `param:"partitions" doc:"With partition_column: how many ranges (1 or more) the span lower_bound..upper_bound is cut into, of equal width."`
	LowerBound      any    `param:"lower_bound" doc:"With partition_column: where the ranges start (an integer, or a date/timestamp such as 2024-01-31 or 2024-01-31 12:00:00). Without it, SELECT min(column) over the query finds it when the job runs."`
	UpperBound      any    `param:"upper_bound" doc:"With partition_column: where the ranges end (as lower_bound). Without it, SELECT max(column) over the query finds it when the job runs."`
}

// a readCol is one column of a query's result.
type readCol struct {
	name   string
	dbType string         // as the database names it
	typ    arrow.DataType // what the origin sends
}

func (r *Read) check() error {
	switch {
	case r.Query == "" && r.Table == "":
		return errors.New("set query (a SELECT) or table (a table to read whole)")
	case r.Query != "" && r.Table != "":
		return errors.New("set query or table, not both")
	case r.BatchRows < 0:
		return fmt.Errorf("batch_rows must be 1 or more, got %d", r.BatchRows)
	}
	if err := r.checkPartition(); err != nil {
		return err
	}
	for name, t := range r.ColumnTypes {
		if _, err := openstage.ParseType(t); err != nil {
			return fmt.Errorf("column_types: column '%s': %w", name, err)
		}
	}
	return nil
}

func (r *Read) batchRows() int {
	if r.BatchRows <= 0 {
		return 65536
	}
	return r.BatchRows
}

// base returns the query the origin runs, before projection and folding.
func (r *Read) base(d *dialect) string {
	if r.Table != "" {
		return "SELECT * FROM " + d.table(r.Table)
	}
	return trimQuery(r.Query)
}

// override applies column_types and checks that it names real columns.
func (r *Read) override(cols []readCol) error {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	for name, t := range r.ColumnTypes {
		i := slices.Index(names, name)
		if i < 0 {
			msg := fmt.Sprintf("column_types: the query has no column '%s'; its columns: %s", name, strings.Join(names, ", "))
			if s := openstage.Suggest(name, names); s != "" {
				msg += fmt.Sprintf(" (did you mean '%s'?)", s)
			}
			return errors.New(msg)
		}
		cols[i].typ, _ = openstage.ParseType(t)
	}
	seen := map[string]bool{}
	for _, c := range cols {
		if seen[c.name] {
			return fmt.Errorf("the query returns two columns called '%s'; give them distinct names with AS", c.name)
		}
		seen[c.name] = true
	}
	return nil
}

// projection keeps the state an origin shares with the engine: the columns
// asked for (Projector) and the filter folded into its query.
type projection struct {
	cols  []string
	where string // the folded condition, in SQL with placeholders after the params'
	args  []any  // its values
}

func schemaOf(cols []readCol) *arrow.Schema {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.name, Type: c.typ, Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

// projected returns the columns of all that proj keeps (all when nil).
func projected(all []readCol, proj []string) []readCol {
	if proj == nil {
		return all
	}
	var out []readCol
	for _, c := range all {
		if slices.Contains(proj, c.name) {
			out = append(out, c)
		}
	}
	return out
}

// a sendFunc sends a batch (the caller releases it after).
type sendFunc func(ctx context.Context, rec arrow.RecordBatch) error

// batcher builds the batches of an origin, sending one each batchRows rows.
type batcher struct {
	schema *arrow.Schema
	rb     *array.RecordBuilder
	n, max int
	send   sendFunc
}

func newBatcher(alloc memory.Allocator, schema *arrow.Schema, rows int, send sendFunc) *batcher {
	b := &batcher{schema: schema, rb: array.NewRecordBuilder(alloc, schema), max: rows, send: send}
	b.rb.Reserve(min(rows, 4096))
	return b
}

func (b *batcher) field(i int) array.Builder { return b.rb.Field(i) }

// row counts a row appended; when the batch is full it is sent.
func (b *batcher) row(ctx context.Context) error {
	b.n++
	if b.n < b.max {
		return nil
	}
	return b.flush(ctx)
}

func (b *batcher) flush(ctx context.Context) error {
	if b.n == 0 {
		return nil
	}
	rec := b.rb.NewRecordBatch()
	b.n = 0
	err := b.send(ctx, rec)
	rec.Release()
	return err
}

func (b *batcher) release() { b.rb.Release() }

// appendValue appends a value as database/sql drivers give them (nil,
// int64, float64, bool, []byte, string, time.Time, and a few others) to a
// builder of the column's type.
func appendValue(bld array.Builder, v any) error {
	if v == nil {
		bld.AppendNull()
		return nil
	}
	switch b := bld.(type) {
	case *array.BinaryBuilder:
		switch x := v.(type) {
		case []byte:
			b.Append(x)
		case string:
			b.AppendString(x)
		default:
			return fmt.Errorf("cannot store %T in a binary column", v)
		}
		return nil
	case *array.StringBuilder:
		switch x := v.(type) {
		case []byte:
			b.BinaryBuilder.Append(x)
			return nil
		case time.Time:
			b.Append(x.Format(time.RFC3339Nano))
			return nil
		case float64:
			b.Append(strconv.FormatFloat(x, 'g', -1, 64))
			return nil
		case float32:
			b.Append(strconv.FormatFloat(float64(x), 'g', -1, 32))
			return nil
		}
	case *array.BooleanBuilder:
		switch x := v.(type) {
		case int64:
			b.Append(x != 0)
			return nil
		case []byte:
			return appendValue(bld, string(x))
		case string:
			switch strings.ToLower(x) {
			case "1", "t", "true", "y", "yes", "on":
				b.Append(true)
				return nil
			case "0", "f", "false", "n", "no", "off":
				b.Append(false)
				return nil
			}
			return fmt.Errorf("cannot read %q as a bool", x)
		}
	case *array.Float64Builder:
		if x, ok := v.([]byte); ok {
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil {
				return fmt.Errorf("cannot read %q as a float64", x)
			}
			b.Append(f)
			return nil
		}
		if x, ok := v.(float32); ok {
			b.Append(float64(x))
			return nil
		}
	case *array.Int64Builder:
		switch x := v.(type) {
		case []byte:
			return appendValue(bld, string(x))
		case uint64:
			if x > math.MaxInt64 {
				return fmt.Errorf("%d is too large for an int64", x)
			}
			b.Append(int64(x))
			return nil
		case bool:
			if x {
				b.Append(1)
			} else {
				b.Append(0)
			}
			return nil
		}
	case *array.Date32Builder, *array.TimestampBuilder:
		if x, ok := v.([]byte); ok {
			v = string(x)
		}
		if s, ok := v.(string); ok {
			t, err := parseDBTime(s)
			if err != nil {
				return err
			}
			v = t
		}
	}
	return openstage.AppendValue(bld, v)
}

// parseDBTime reads a date or timestamp as databases write them as text:
// 2024-01-31, 2024-01-31 12:00:00.123456, with T or a space, an optional
// zone (Z, +00, +01:00); no zone means UTC.
func parseDBTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07", "2006-01-02 15:04:05.999999999 -0700 MST"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read %q as a date or timestamp", s)
}

// foldSQL writes a condition in SQL for d, with placeholders numbered from
// first, and returns its values. colExpr gives the SQL of the column in
// the comparison (a cast or collation that makes the database compare as
// the Filter does); ok is false when the condition cannot be written.
func foldSQL(d *dialect, c *openstage.Condition, col string, first int, bind func(v any) (string, any)) (string, []any) {
	var args []any
	ph := func(v any) string {
		text, arg := bind(v)
		args = append(args, arg)
		return strings.ReplaceAll(text, "?", d.placeholder(first+len(args)-1))
	}
	switch c.Op {
	case "is null":
		return col + " IS NULL", nil
	case "is not null":
		return col + " IS NOT NULL", nil
	case "in", "not in":
		list := c.Value.([]any)
		ps := make([]string, len(list))
		for i, v := range list {
			ps[i] = ph(v)
		}
		op := " IN "
		if c.Op == "not in" {
			op = " NOT IN "
		}
		return col + op + "(" + strings.Join(ps, ", ") + ")", args
	case "between":
		list := c.Value.([]any)
		lo := ph(list[0])
		hi := ph(list[1])
		return col + " BETWEEN " + lo + " AND " + hi, args
	case "!=":
		return col + " <> " + ph(c.Value), args
	}
	return col + " " + c.Op + " " + ph(c.Value), args
}

// describeFold writes a folded condition for `openstage validate`: the SQL
// with its values after it.
func describeFold(where string, args []any) string {
	if len(args) == 0 {
		return "WHERE " + where
	}
	vals := make([]string, len(args))
	for i, a := range args {
		switch x := a.(type) {
		case string:
			vals[i] = strconv.Quote(x)
		case time.Time:
			vals[i] = x.Format(time.RFC3339Nano)
		default:
			vals[i] = fmt.Sprint(x)
		}
	}
	return "WHERE " + where + " (values " + strings.Join(vals, ", ") + ")"
}
