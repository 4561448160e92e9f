package restio

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/valyala/fastjson"

	"github.com/open-stage/openstage"
)

// outColumn is one column of the origin's output.
type outColumn struct {
	name     string
	typ      arrow.DataType
	declared bool // its type comes from column_types: values are converted (and checked)
}

// converter appends records to Arrow builders with a known schema.
type converter struct {
	cols    []outColumn
	flat    *flattener
	rb      *array.RecordBuilder
	schema  *arrow.Schema
	scratch []byte
	rows    int
}

func newConverter(alloc memory.Allocator, cols []outColumn, explode string) *converter {
	names := make([]string, len(cols))
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		names[i] = c.name
		fields[i] = arrow.Field{Name: c.name, Type: c.typ, Nullable: true}
	}
	schema := arrow.NewSchema(fields, nil)
	return &converter{cols: cols, flat: newFlattener(names, false, explode), rb: array.NewRecordBuilder(alloc, schema), schema: schema}
}

func (c *converter) release() { c.rb.Release() }

// add appends the rows of record rec (record number n of its page, from 1).
func (c *converter) add(rec *fastjson.Value, where string, n int) error {
	return c.flat.rows(rec, func() error {
		for i := range c.cols {
			if err := c.append(i, c.flat.slots[i]); err != nil {
				// Keep the builders aligned: pad the columns not yet
				// appended for this row, which is then dropped with the
				// batch (the job fails).
				for k := i; k < len(c.cols); k++ {
					c.rb.Field(k).AppendNull()
				}
				c.rows++
				return fmt.Errorf("%s, record %d: column '%s': %w", where, n, c.cols[i].name, err)
			}
		}
		c.rows++
		return nil
	})
}

// build returns the rows appended so far as a batch.
func (c *converter) build() arrow.RecordBatch {
	c.rows = 0
	return c.rb.NewRecordBatch()
}

func (c *converter) append(i int, v *fastjson.Value) error {
	b := c.rb.Field(i)
	if v == nil || v.Type() == fastjson.TypeNull {
		b.AppendNull()
		return nil
	}
	col := &c.cols[i]
	// The value's JSON kind fits the column (always so for an inferred
	// column): append it directly.
	switch bb := b.(type) {
	case *array.StringBuilder:
		if v.Type() == fastjson.TypeString {
			s, _ := v.StringBytes()
			bb.BinaryBuilder.Append(s)
		} else {
			c.scratch = v.MarshalTo(c.scratch[:0])
			bb.BinaryBuilder.Append(c.scratch)
		}
		return nil
	case *array.Int64Builder:
		if v.Type() == fastjson.TypeNumber {
			if n, err := v.Int64(); err == nil {
				bb.Append(n)
				return nil
			}
		}
	case *array.Float64Builder:
		if v.Type() == fastjson.TypeNumber {
			if f, err := v.Float64(); err == nil {
				bb.Append(f)
				return nil
			}
		}
	case *array.BooleanBuilder:
		switch v.Type() {
		case fastjson.TypeTrue:
			bb.Append(true)
			return nil
		case fastjson.TypeFalse:
			bb.Append(false)
			return nil
		}
	}
	// A declared type: convert the JSON value the way job files convert
	// (numbers between int64 and float64 without loss, strings parsed).
	var gv any
	switch v.Type() {
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		gv = string(s)
	case fastjson.TypeTrue:
		gv = true
	case fastjson.TypeFalse:
		gv = false
	case fastjson.TypeNumber:
		var k kinds
		k, c.scratch = kindOf(v, c.scratch)
		if k == kInt {
			gv, _ = v.Int64()
		} else {
			f, err := v.Float64()
			if err != nil {
				return fmt.Errorf("number %s does not fit a float64", v.MarshalTo(nil))
			}
			gv = f
		}
	default:
		return fmt.Errorf("%s cannot be stored in a %s column (column_types)", typeWord(v), openstage.TypeName(col.typ))
	}
	if err := openstage.AppendValue(b, gv); err != nil {
		return fmt.Errorf("%w (column_types says %s)", err, openstage.TypeName(col.typ))
	}
	return nil
}
