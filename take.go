package openstage

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Take returns a new batch made of rows idx of rec, in that order (a row may
// repeat). An index of -1 gives a row of nulls (used by outer joins).
func Take(alloc memory.Allocator, rec arrow.RecordBatch, idx []int32) arrow.RecordBatch {
	cols := make([]arrow.Array, rec.NumCols())
	for i := range cols {
		cols[i] = TakeArray(alloc, rec.Column(i), idx)
	}
	out := array.NewRecordBatch(rec.Schema(), cols, int64(len(idx)))
	for _, c := range cols {
		c.Release()
	}
	return out
}

// TakeArray returns values idx of arr (-1 gives a null) as a new array.
func TakeArray(alloc memory.Allocator, arr arrow.Array, idx []int32) arrow.Array {
	n := len(idx)
	switch a := arr.(type) {
	case *array.Int64:
		return takeFixed(alloc, a, a.Int64Values(), idx, arrow.Int64Traits.BytesRequired(n), func(b []byte) []int64 { return arrow.Int64Traits.CastFromBytes(b) })
	case *array.Int32:
		return takeFixed(alloc, a, a.Int32Values(), idx, arrow.Int32Traits.BytesRequired(n), func(b []byte) []int32 { return arrow.Int32Traits.CastFromBytes(b) })
	case *array.Dictionary:
		return takeDictionary(alloc, a, idx)
	case *array.Float64:
		return takeFixed(alloc, a, a.Float64Values(), idx, arrow.Float64Traits.BytesRequired(n), func(b []byte) []float64 { return arrow.Float64Traits.CastFromBytes(b) })
	case *array.Date32:
		return takeFixed(alloc, a, a.Date32Values(), idx, arrow.Date32Traits.BytesRequired(n), func(b []byte) []arrow.Date32 { return arrow.Date32Traits.CastFromBytes(b) })
	case *array.Timestamp:
		return takeFixed(alloc, a, a.TimestampValues(), idx, arrow.TimestampTraits.BytesRequired(n), func(b []byte) []arrow.Timestamp { return arrow.TimestampTraits.CastFromBytes(b) })
	case *array.String:
		return takeString(alloc, a, idx)
	case *array.Boolean:
		b := array.NewBooleanBuilder(alloc)
		defer b.Release()
		b.Reserve(n)
		for _, i := range idx {
			if i < 0 || a.IsNull(int(i)) {
				b.AppendNull()
			} else {
				b.UnsafeAppend(a.Value(int(i)))
			}
		}
		return b.NewArray()
	}
	panic(fmt.Sprintf("openstage.Take: unsupported type %s", arr.DataType()))
}

func takeFixed[T any](alloc memory.Allocator, arr arrow.Array, vals []T, idx []int32, nbytes int, cast func([]byte) []T) arrow.Array {
	n := len(idx)
	data := memory.NewResizableBuffer(alloc)
	data.Resize(nbytes)
	out := cast(data.Bytes())
	hasNulls := arr.NullN() > 0
	for k, i := range idx {
		if i < 0 {
			hasNulls = true
			var zero T
			out[k] = zero
			continue
		}
		out[k] = vals[i]
	}
	var valid *memory.Buffer
	nulls := 0
	if hasNulls {
		valid, nulls = takeValidity(alloc, arr, idx)
	}
	d := array.NewData(arr.DataType(), n, []*memory.Buffer{valid, data}, nil, nulls, 0)
	data.Release()
	if valid != nil {
		valid.Release()
	}
	defer d.Release()
	return array.MakeFromData(d)
}

// ErrorColumn is the name of the column added to rows sent to a reject pipe.
const ErrorColumn = "error"

// takeValidity returns the validity bitmap of arr taken at idx (an index
// below 0 is a null) and the number of nulls.
func takeValidity(alloc memory.Allocator, arr arrow.Array, idx []int32) (*memory.Buffer, int) {
	valid := memory.NewResizableBuffer(alloc)
	valid.Resize(int(bitutil.BytesForBits(int64(len(idx)))))
	bits := valid.Bytes()
	nulls := 0
	for k, i := range idx {
		if i >= 0 && arr.IsValid(int(i)) {
			bitutil.SetBit(bits, k)
		} else {
			bitutil.ClearBit(bits, k)
			nulls++
		}
	}
	return valid, nulls
}

// WithErrorColumn returns s with a string column "error" appended: the schema
// of a stage's reject pipe.
func WithErrorColumn(s *arrow.Schema) *arrow.Schema {
	fields := append(append([]arrow.Field{}, s.Fields()...), arrow.Field{Name: ErrorColumn, Type: String, Nullable: true})
	return arrow.NewSchema(fields, nil)
}

// Rejects returns rows idx of rec with an "error" column holding msgs[k] for
// row idx[k]: the batch a stage sends to its reject pipe.
func Rejects(alloc memory.Allocator, rec arrow.RecordBatch, idx []int32, msgs []string) arrow.RecordBatch {
	taken := Take(alloc, rec, idx)
	defer taken.Release()
	eb := array.NewStringBuilder(alloc)
	defer eb.Release()
	eb.AppendValues(msgs, nil)
	errs := eb.NewArray()
	defer errs.Release()
	cols := append(append([]arrow.Array{}, taken.Columns()...), errs)
	return array.NewRecordBatch(WithErrorColumn(rec.Schema()), cols, int64(len(idx)))
}

// takeString gathers strings by copying offsets and bytes directly into the
// new buffers (no builder, no string headers).
func takeString(alloc memory.Allocator, a *array.String, idx []int32) arrow.Array {
	n := len(idx)
	srcOff := a.ValueOffsets()
	srcData := a.ValueBytes() // starts at srcOff[0], not at 0, when a is a slice
	base := int32(0)
	if len(srcOff) > 0 {
		base = srcOff[0]
	}
	total := 0
	for _, i := range idx {
		if i >= 0 {
			total += int(srcOff[i+1] - srcOff[i])
		}
	}
	offBuf := memory.NewResizableBuffer(alloc)
	offBuf.Resize(arrow.Int32Traits.BytesRequired(n + 1))
	offs := arrow.Int32Traits.CastFromBytes(offBuf.Bytes())
	dataBuf := memory.NewResizableBuffer(alloc)
	dataBuf.Resize(total)
	data := dataBuf.Bytes()
	hasNulls := a.NullN() > 0
	pos := int32(0)
	for k, i := range idx {
		offs[k] = pos
		if i < 0 {
			hasNulls = true
			continue
		}
		pos += int32(copy(data[pos:], srcData[srcOff[i]-base:srcOff[i+1]-base]))
	}
	offs[n] = pos
	var valid *memory.Buffer
	nulls := 0
	if hasNulls {
		valid, nulls = takeValidity(alloc, a, idx)
	}
	d := array.NewData(a.DataType(), n, []*memory.Buffer{valid, offBuf, dataBuf}, nil, nulls, 0)
	offBuf.Release()
	dataBuf.Release()
	if valid != nil {
		valid.Release()
	}
	defer d.Release()
	return array.MakeFromData(d)
}
