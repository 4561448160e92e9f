package parquetio

import (
	"fmt"
	"math"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// A converter turns one column of a batch as pqarrow reads it into the
// column's Open-Stage type. It returns a new array (owned by the caller) and
// does not take arr's reference. A failure on one value is a *valueError.
//
// The conversions are written out here rather than taken from arrow's compute
// package: there are few of them, each is a loop over one buffer, and the
// validity bitmap (and, for strings, the data buffer) is shared instead of
// copied.
type converter func(arr arrow.Array, mem memory.Allocator) (arrow.Array, error)

// valueError is a value that does not convert; row counts from 0 within the
// batch. The origin adds the file, row and column.
type valueError struct {
	row int
	msg string
}

func (e *valueError) Error() string { return e.msg }

// mapType returns the Open-Stage type of a column of file type t and the
// conversion to it (nil when the arrays already have that type). ok is false
// when Open-Stage has no type for t.
func mapType(t arrow.DataType) (out arrow.DataType, conv converter, ok bool) {
	switch t.ID() {
	case arrow.INT64:
		return openstage.Int64, nil, true
	case arrow.INT8:
		return openstage.Int64, widen[int8, int64](openstage.Int64), true
	case arrow.INT16:
		return openstage.Int64, widen[int16, int64](openstage.Int64), true
	case arrow.INT32:
		return openstage.Int64, widen[int32, int64](openstage.Int64), true
	case arrow.UINT8:
		return openstage.Int64, widen[uint8, int64](openstage.Int64), true
	case arrow.UINT16:
		return openstage.Int64, widen[uint16, int64](openstage.Int64), true
	case arrow.UINT32:
		return openstage.Int64, widen[uint32, int64](openstage.Int64), true
	case arrow.FLOAT64:
		return openstage.Float64, nil, true
	case arrow.FLOAT32:
		return openstage.Float64, widen[float32, float64](openstage.Float64), true
	case arrow.FLOAT16:
		return openstage.Float64, float16To64, true
	case arrow.BOOL:
		return openstage.Bool, nil, true
	case arrow.STRING:
		return openstage.String, nil, true
	case arrow.LARGE_STRING:
		return openstage.String, largeToString(false), true
	case arrow.BINARY:
		return openstage.String, binaryToString, true
	case arrow.LARGE_BINARY:
		return openstage.String, largeToString(true), true
	case arrow.DATE32:
		return openstage.Date, nil, true
	case arrow.DATE64:
		return openstage.Date, date64To32, true
	case arrow.TIMESTAMP:
		ts := t.(*arrow.TimestampType)
		if ts.Unit == arrow.Microsecond {
			if ts.TimeZone == "UTC" {
				return openstage.Timestamp, nil, true
			}
			// The values are already microseconds since the epoch: only
			// the zone of the type changes.
			return openstage.Timestamp, retype(openstage.Timestamp), true
		}
		return openstage.Timestamp, timestampToMicros(ts.Unit), true
	case arrow.DICTIONARY:
		dt := t.(*arrow.DictionaryType)
		switch dt.ValueType.ID() {
		case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
			return openstage.String, decodeDictionary, true
		}
	}
	return nil, nil, false
}

// newValues allocates the values buffer of an n-long array of T from mem.
func newValues[T arrow.FixedWidthType](mem memory.Allocator, n int) (*memory.Buffer, []T) {
	var zero T
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(n * int(unsafe.Sizeof(zero)))
	return buf, arrow.GetData[T](buf.Bytes())
}

// validity returns arr's validity bitmap starting at bit 0, shared when
// possible (nil when arr has no nulls). The caller releases it.
func validity(arr arrow.Array, mem memory.Allocator) *memory.Buffer {
	d := arr.Data()
	bm := d.Buffers()[0]
	if arr.NullN() == 0 || bm == nil {
		return nil
	}
	if d.Offset() == 0 {
		bm.Retain()
		return bm
	}
	out := memory.NewResizableBuffer(mem)
	out.Resize(int(bitutil.BytesForBits(int64(arr.Len()))))
	bitutil.CopyBitmap(bm.Bytes(), d.Offset(), arr.Len(), out.Bytes(), 0)
	return out
}

// makeArray assembles a fixed-width array of type t from a validity bitmap
// (may be nil) and values, taking both references.
func makeArray(t arrow.DataType, n, nulls int, valid, values *memory.Buffer) arrow.Array {
	data := array.NewData(t, n, []*memory.Buffer{valid, values}, nil, nulls, 0)
	if valid != nil {
		valid.Release()
	}
	values.Release()
	defer data.Release()
	return array.MakeFromData(data)
}

// widen converts a column of narrower integers or of float32 to t (int64 or
// float64); every value fits exactly.
func widen[From int8 | int16 | int32 | uint8 | uint16 | uint32 | float32, To int64 | float64](t arrow.DataType) converter {
	return func(arr arrow.Array, mem memory.Allocator) (arrow.Array, error) {
		src := arrow.GetValues[From](arr.Data(), 1)
		buf, dst := newValues[To](mem, arr.Len())
		for i, v := range src {
			dst[i] = To(v)
		}
		return makeArray(t, arr.Len(), arr.NullN(), validity(arr, mem), buf), nil
	}
}

func float16To64(arr arrow.Array, mem memory.Allocator) (arrow.Array, error) {
	src := arrow.GetValues[float16.Num](arr.Data(), 1)
	buf, dst := newValues[float64](mem, arr.Len())
	for i, v := range src {
		dst[i] = float64(v.Float32())
	}
	return makeArray(openstage.Float64, arr.Len(), arr.NullN(), validity(arr, mem), buf), nil
}

// retype returns the same buffers under another type of the same layout.
func retype(t arrow.DataType) converter {
	return func(arr arrow.Array, _ memory.Allocator) (arrow.Array, error) {
		d := arr.Data()
		data := array.NewData(t, d.Len(), d.Buffers(), nil, arr.NullN(), d.Offset())
		defer data.Release()
		return array.MakeFromData(data), nil
	}
}

const msPerDay = 24 * 60 * 60 * 1000

// date64To32 converts milliseconds since the epoch to days, rounding down
// (a date64 should hold midnights only).
func date64To32(arr arrow.Array, mem memory.Allocator) (arrow.Array, error) {
	src := arrow.GetValues[int64](arr.Data(), 1)
	buf, dst := newValues[int32](mem, arr.Len())
	for i, v := range src {
		d := floorDiv(v, msPerDay)
		if d < math.MinInt32 || d > math.MaxInt32 {
			if arr.IsValid(i) {
				buf.Release()
				return nil, &valueError{i, fmt.Sprintf("date64 value %d ms is outside the range of dates", v)}
			}
			d = 0
		}
		dst[i] = int32(d)
	}
	return makeArray(openstage.Date, arr.Len(), arr.NullN(), validity(arr, mem), buf), nil
}

// timestampToMicros converts timestamps of unit u to microseconds. Values
// are instants since the epoch in UTC whatever the zone of the type, so only
// the unit changes. Nanoseconds are rounded down to the microsecond; seconds
// and milliseconds beyond about ±292,000 years do not fit and are an error.
func timestampToMicros(u arrow.TimeUnit) converter {
	return func(arr arrow.Array, mem memory.Allocator) (arrow.Array, error) {
		src := arrow.GetValues[int64](arr.Data(), 1)
		buf, dst := newValues[int64](mem, arr.Len())
		switch u {
		case arrow.Nanosecond:
			for i, v := range src {
				dst[i] = floorDiv(v, 1000)
			}
		default:
			mul := int64(1000)
			if u == arrow.Second {
				mul = 1_000_000
			}
			limit := math.MaxInt64 / mul
			for i, v := range src {
				if v > limit || v < -limit {
					if arr.IsValid(i) {
						buf.Release()
						return nil, &valueError{i, fmt.Sprintf("timestamp %d %s is outside the range of microsecond timestamps", v, u)}
					}
					v = 0
				}
				dst[i] = v * mul
			}
		}
		return makeArray(openstage.Timestamp, arr.Len(), arr.NullN(), validity(arr, mem), buf), nil
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// binaryToString checks that every value is UTF-8 text and returns the same
// buffers as a string column (binary and string share their layout).
func binaryToString(arr arrow.Array, mem memory.Allocator) (arrow.Array, error) {
	a := arr.(*array.Binary)
	for i := 0; i < a.Len(); i++ {
		if a.IsValid(i) && !utf8.Valid(a.Value(i)) {
			return nil, notText(i)
		}
	}
	return retype(openstage.String)(arr, mem)
}

func notText(row int) error {
	return &valueError{row, "the column is binary and this value is not UTF-8 text; leave the column out with columns:"}
}

// largeToString narrows the 64-bit offsets of a large string or large binary
// column to the 32-bit offsets of a string column, sharing the data buffer.
// check says whether to verify the values are UTF-8 (binary columns).
func largeToString(check bool) converter {
	return func(arr arrow.Array, mem memory.Allocator) (arrow.Array, error) {
		if arr.Len() == 0 {
			return array.MakeArrayOfNull(mem, openstage.String, 0), nil
		}
		d := arr.Data()
		offs := arrow.GetOffsets[int64](d, 1)
		if offs[len(offs)-1] > math.MaxInt32 {
			return nil, &valueError{0, "a batch holds more than 2 GiB of text in this column; lower batch_rows"}
		}
		if check {
			data := d.Buffers()[2].Bytes()
			for i := 0; i < arr.Len(); i++ {
				if arr.IsValid(i) && !utf8.Valid(data[offs[i]:offs[i+1]]) {
					return nil, notText(i)
				}
			}
		}
		buf, dst := newValues[int32](mem, arr.Len()+1)
		for i, o := range offs {
			dst[i] = int32(o)
		}
		valid := validity(arr, mem)
		out := array.NewData(openstage.String, arr.Len(), []*memory.Buffer{valid, buf, d.Buffers()[2]}, nil, arr.NullN(), 0)
		if valid != nil {
			valid.Release()
		}
		buf.Release()
		defer out.Release()
		return array.MakeFromData(out), nil
	}
}

// decodeDictionary turns a dictionary-encoded text column into a plain
// string column. Binary dictionary entries are checked for UTF-8 once each,
// when first used.
func decodeDictionary(arr arrow.Array, mem memory.Allocator) (arrow.Array, error) {
	a := arr.(*array.Dictionary)
	var value func(int) string
	checkUTF8 := false
	switch d := a.Dictionary().(type) {
	case *array.String:
		value = d.Value
	case *array.LargeString:
		value = d.Value
	case *array.Binary:
		value = func(i int) string { return unsafeString(d.Value(i)) }
		checkUTF8 = true
	case *array.LargeBinary:
		value = func(i int) string { return unsafeString(d.Value(i)) }
		checkUTF8 = true
	default:
		return nil, fmt.Errorf("internal error: dictionary of %s", a.Dictionary().DataType())
	}
	var checked []bool
	if checkUTF8 {
		checked = make([]bool, a.Dictionary().Len())
	}
	dictValid := func(k int) bool { return a.Dictionary().IsValid(k) }

	size := 0
	for i := 0; i < a.Len(); i++ {
		if a.IsValid(i) {
			size += len(value(a.GetValueIndex(i)))
		}
	}
	b := array.NewStringBuilder(mem)
	defer b.Release()
	b.Reserve(a.Len())
	b.ReserveData(size)
	for i := 0; i < a.Len(); i++ {
		if a.IsNull(i) {
			b.AppendNull()
			continue
		}
		k := a.GetValueIndex(i)
		if !dictValid(k) {
			b.AppendNull()
			continue
		}
		s := value(k)
		if checkUTF8 && !checked[k] {
			if !utf8.ValidString(s) {
				return nil, notText(i)
			}
			checked[k] = true
		}
		b.Append(s)
	}
	return b.NewArray(), nil
}

func unsafeString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
