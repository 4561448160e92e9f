package stages

// A gather kernel: rows idx of a record batch, in that order, as a new
// batch. It does what openstage.Take does for the stages' own use (no -1
// indexes), faster: fixed-width values are gathered straight into the new
// buffer, and strings are copied in two passes (lengths, then bytes) instead
// of through a builder.

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// kTake returns rows idx (all >= 0) of rec as a new batch.
func kTake(alloc memory.Allocator, rec arrow.RecordBatch, idx []int32) arrow.RecordBatch {
	cols := make([]arrow.Array, rec.NumCols())
	for i := range cols {
		cols[i] = kTakeArray(alloc, rec.Column(i), idx)
	}
	out := array.NewRecordBatch(rec.Schema(), cols, int64(len(idx)))
	for _, c := range cols {
		c.Release()
	}
	return out
}

// kTakeValidity gathers the validity bitmap of arr; nil when arr has no nulls.
func kTakeValidity(alloc memory.Allocator, arr arrow.Array, idx []int32) (*memory.Buffer, int) {
	bits, off := kValidBits(arr)
	if bits == nil {
		return nil, 0
	}
	buf := memory.NewResizableBuffer(alloc)
	buf.Resize(int(bitutil.BytesForBits(int64(len(idx)))))
	out := buf.Bytes()
	clear(out)
	nulls := 0
	for k, i := range idx {
		if kIsValid(bits, off, int(i)) {
			out[k>>3] |= 1 << (uint(k) & 7)
		} else {
			nulls++
		}
	}
	return buf, nulls
}

func kTakeFixed[T ~int32 | ~int64 | ~float64](alloc memory.Allocator, arr arrow.Array, vals []T, idx []int32, width int) arrow.Array {
	data := memory.NewResizableBuffer(alloc)
	data.Resize(len(idx) * width)
	out := arrow.GetData[T](data.Bytes())
	for k, i := range idx {
		out[k] = vals[i]
	}
	valid, nulls := kTakeValidity(alloc, arr, idx)
	d := array.NewData(arr.DataType(), len(idx), []*memory.Buffer{valid, data}, nil, nulls, 0)
	data.Release()
	if valid != nil {
		valid.Release()
	}
	defer d.Release()
	return array.MakeFromData(d)
}

func kTakeString(alloc memory.Allocator, a *array.String, idx []int32) arrow.Array {
	offs := a.ValueOffsets() // the offsets of this (maybe sliced) array
	bytes := a.ValueBytes()  // its bytes, starting at offs[0]
	base := offs[0]
	total := 0
	for _, i := range idx {
		total += int(offs[i+1] - offs[i])
	}
	obuf := memory.NewResizableBuffer(alloc)
	obuf.Resize((len(idx) + 1) * 4)
	outOffs := arrow.Int32Traits.CastFromBytes(obuf.Bytes())
	dbuf := memory.NewResizableBuffer(alloc)
	dbuf.Resize(total)
	data := dbuf.Bytes()
	pos := int32(0)
	for k, i := range idx {
		outOffs[k] = pos
		pos += int32(copy(data[pos:], bytes[offs[i]-base:offs[i+1]-base]))
	}
	outOffs[len(idx)] = pos
	valid, nulls := kTakeValidity(alloc, a, idx)
	d := array.NewData(a.DataType(), len(idx), []*memory.Buffer{valid, obuf, dbuf}, nil, nulls, 0)
	obuf.Release()
	dbuf.Release()
	if valid != nil {
		valid.Release()
	}
	defer d.Release()
	return array.MakeFromData(d)
}

// kTakeArray returns values idx of arr as a new array.
func kTakeArray(alloc memory.Allocator, arr arrow.Array, idx []int32) arrow.Array {
	switch a := arr.(type) {
	case *array.Int64:
		return kTakeFixed(alloc, a, a.Int64Values(), idx, 8)
	case *array.Float64:
		return kTakeFixed(alloc, a, a.Float64Values(), idx, 8)
	case *array.Date32:
		return kTakeFixed(alloc, a, a.Date32Values(), idx, 4)
	case *array.Timestamp:
		return kTakeFixed(alloc, a, a.TimestampValues(), idx, 8)
	case *array.String:
		return kTakeString(alloc, a, idx)
	}
	return openstage.TakeArray(alloc, arr, idx) // bool and anything else
}
