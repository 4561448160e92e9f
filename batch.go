package openstage

import (
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Batch is a read-only view of a record batch that spares custom components
// the Arrow array types: columns by name, typed access, rows as maps.
// It does not retain the batch.
type Batch struct {
	rec arrow.RecordBatch
}

// View returns a Batch view of rec.
func View(rec arrow.RecordBatch) Batch { return Batch{rec: rec} }

// Len returns the number of rows.
func (b Batch) Len() int { return int(b.rec.NumRows()) }

// Schema returns the batch's schema.
func (b Batch) Schema() *arrow.Schema { return b.rec.Schema() }

// Record returns the underlying record batch.
func (b Batch) Record() arrow.RecordBatch { return b.rec }

// Col returns the column called name, or an error listing the columns.
func (b Batch) Col(name string) (Column, error) {
	i, err := FieldIndex(b.rec.Schema(), name)
	if err != nil {
		return Column{}, err
	}
	return b.ColAt(i), nil
}

// ColAt returns column i.
func (b Batch) ColAt(i int) Column {
	return Column{Name: b.rec.Schema().Field(i).Name, Array: b.rec.Column(i)}
}

// Row returns row i as a map from column name to value (see Column.Value).
func (b Batch) Row(i int) Row {
	r := make(Row, b.rec.NumCols())
	for c := 0; c < int(b.rec.NumCols()); c++ {
		r[b.rec.Schema().Field(c).Name] = b.ColAt(c).Value(i)
	}
	return r
}

// Row is one row as a map from column name to value: nil for null, int64,
// float64, bool, string, or time.Time for dates and timestamps.
type Row map[string]any

// Column is one column of a Batch.
type Column struct {
	Name  string
	Array arrow.Array
}

// Type returns the column's data type.
func (c Column) Type() arrow.DataType { return c.Array.DataType() }

// Len returns the number of values.
func (c Column) Len() int { return c.Array.Len() }

// IsNull reports whether value i is null.
func (c Column) IsNull(i int) bool { return c.Array.IsNull(i) }

// Int64 returns value i of an int64 column (0 if null).
func (c Column) Int64(i int) int64 { return c.Array.(*array.Int64).Value(i) }

// Float64 returns value i of a float64 column (0 if null).
func (c Column) Float64(i int) float64 { return c.Array.(*array.Float64).Value(i) }

// Bool returns value i of a bool column (false if null).
func (c Column) Bool(i int) bool { return c.Array.(*array.Boolean).Value(i) }

// Str returns value i of a string column ("" if null).
func (c Column) Str(i int) string { return c.Array.(*array.String).Value(i) }

// Time returns value i of a date or timestamp column, in UTC.
func (c Column) Time(i int) time.Time {
	switch a := c.Array.(type) {
	case *array.Date32:
		return a.Value(i).ToTime()
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return a.Value(i).ToTime(unit).UTC()
	}
	panic(fmt.Sprintf("column '%s' is %s, not a date or timestamp", c.Name, c.Type()))
}

// Value returns value i as nil (null), int64, float64, bool, string or time.Time.
func (c Column) Value(i int) any {
	if c.Array.IsNull(i) {
		return nil
	}
	switch a := c.Array.(type) {
	case *array.Int64:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.String:
		return a.Value(i)
	case *array.Date32, *array.Timestamp:
		return c.Time(i)
	}
	return c.Array.ValueStr(i)
}

// Builder builds a record batch row by row, converting Go values to the
// schema's column types.
type Builder struct {
	rb     *array.RecordBuilder
	schema *arrow.Schema
}

// NewBuilder returns a builder of batches with schema s. Release it when done.
func NewBuilder(alloc memory.Allocator, s *arrow.Schema) *Builder {
	return &Builder{rb: array.NewRecordBuilder(alloc, s), schema: s}
}

// Append adds one row; values are in column order, nil for null.
func (b *Builder) Append(values ...any) error {
	if len(values) != b.schema.NumFields() {
		return fmt.Errorf("row has %d values, schema has %d columns", len(values), b.schema.NumFields())
	}
	for i, v := range values {
		if err := AppendValue(b.rb.Field(i), v); err != nil {
			return fmt.Errorf("column '%s': %w", b.schema.Field(i).Name, err)
		}
	}
	return nil
}

// AppendRow adds one row given as a map; absent columns are null. Keys that
// are not columns are an error.
func (b *Builder) AppendRow(r Row) error {
	for k := range r {
		if _, err := FieldIndex(b.schema, k); err != nil {
			return err
		}
	}
	for i, f := range b.schema.Fields() {
		if err := AppendValue(b.rb.Field(i), r[f.Name]); err != nil {
			return fmt.Errorf("column '%s': %w", f.Name, err)
		}
	}
	return nil
}

// Field returns the Arrow builder of column i, for typed bulk appends.
func (b *Builder) Field(i int) array.Builder { return b.rb.Field(i) }

// Len returns the number of rows appended since the last Build.
func (b *Builder) Len() int {
	if b.schema.NumFields() == 0 {
		return 0
	}
	return b.rb.Field(0).Len()
}

// Build returns the rows appended so far as a batch (owned by the caller) and
// resets the builder.
func (b *Builder) Build() arrow.RecordBatch { return b.rb.NewRecordBatch() }

// Release frees the builder's memory.
func (b *Builder) Release() { b.rb.Release() }

// ParseTime reads a date (2006-01-02) or a timestamp (RFC 3339, with T or a
// space, optional fraction and zone; no zone means UTC).
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02", time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read %q as a date or timestamp", s)
}

// NewSchema returns a schema of nullable columns: NewSchema("id", Int64, "name", String).
func NewSchema(nameTypePairs ...any) *arrow.Schema {
	fields := make([]arrow.Field, 0, len(nameTypePairs)/2)
	for i := 0; i+1 < len(nameTypePairs); i += 2 {
		fields = append(fields, arrow.Field{Name: nameTypePairs[i].(string), Type: nameTypePairs[i+1].(arrow.DataType), Nullable: true})
	}
	return arrow.NewSchema(fields, nil)
}
