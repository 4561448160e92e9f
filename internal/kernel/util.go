package kernel

// Helpers shared by the Filter, Aggregator, Sort and RemoveDuplicates kernels:
// selection-vector pooling, gathering a whole input into one record batch,
// sending a (permuted) record in chunks, and reading columns as typed values.

import (
	"context"
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// ChunkRows is how many rows the blocking stages (Sort, Aggregator,
// RemoveDuplicates with buffering) put in each batch they send.
const ChunkRows = 1 << 16

// SelPool recycles selection vectors so that a Filter does not allocate one
// per batch.
var SelPool = sync.Pool{New: func() any { return new([]int32) }}

// GetSel returns a pooled selection vector of length n (contents undefined).
func GetSel(n int) *[]int32 {
	p := SelPool.Get().(*[]int32)
	if cap(*p) < n {
		*p = make([]int32, n)
	}
	*p = (*p)[:n]
	return p
}

func PutSel(p *[]int32) { SelPool.Put(p) }

// SendPermuted sends rows idx of rec, in that order, in batches of at most
// ChunkRows rows. When idx is the identity it sends zero-copy slices.
func SendPermuted(ctx context.Context, out *openstage.Outputs, rec arrow.RecordBatch, idx []int32) error {
	identity := len(idx) == int(rec.NumRows())
	for i, v := range idx {
		if int(v) != i {
			identity = false
			break
		}
	}
	for start := 0; start < len(idx); start += ChunkRows {
		end := min(start+ChunkRows, len(idx))
		var chunk arrow.RecordBatch
		if identity {
			chunk = rec.NewSlice(int64(start), int64(end))
		} else {
			chunk = openstage.Take(out.Allocator(), rec, idx[start:end])
		}
		err := out.Send(ctx, chunk)
		chunk.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// Identity returns 0..n-1.
func Identity(n int) []int32 {
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	return idx
}

// ValidBits returns the validity bitmap and offset of arr, or nil when arr
// has no nulls.
func ValidBits(arr arrow.Array) ([]byte, int) {
	if arr.NullN() == 0 {
		return nil, 0
	}
	return arr.NullBitmapBytes(), arr.Data().Offset()
}

// IsValid reads bit i (+offset) of a validity bitmap; a nil bitmap means valid.
func IsValid(bits []byte, off, i int) bool {
	if bits == nil {
		return true
	}
	j := off + i
	return bits[j>>3]&(1<<(uint(j)&7)) != 0
}

// B2i converts a bool to 0 or 1; the compiler turns it into a SETcc, which
// keeps the selection loops free of unpredictable branches.
func B2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// IntLike reports whether values of t are stored as integers that order
// like the values: int64, date, timestamp (and bool, as 0 and 1).
func IntLike(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT64, arrow.DATE32, arrow.TIMESTAMP, arrow.BOOL:
		return true
	}
	return false
}

// Int64At returns value i of an int-like array as int64.
func Int64At(arr arrow.Array, i int) int64 {
	switch a := arr.(type) {
	case *array.Int64:
		return a.Value(i)
	case *array.Date32:
		return int64(a.Value(i))
	case *array.Timestamp:
		return int64(a.Value(i))
	case *array.Boolean:
		if a.Value(i) {
			return 1
		}
		return 0
	}
	panic(fmt.Sprintf("Int64At: %s is not int-like", arr.DataType()))
}

// BuildInt64Like builds an array of type dt (int64, date, timestamp or
// bool) from int64 values; valid[i] false gives a null (valid nil: none).
func BuildInt64Like(alloc memory.Allocator, dt arrow.DataType, vals []int64, valid []bool) arrow.Array {
	isValid := func(i int) bool { return valid == nil || valid[i] }
	switch dt.ID() {
	case arrow.INT64:
		b := array.NewInt64Builder(alloc)
		defer b.Release()
		b.Reserve(len(vals))
		for i, v := range vals {
			if isValid(i) {
				b.UnsafeAppend(v)
			} else {
				b.UnsafeAppendBoolToBitmap(false)
			}
		}
		return b.NewArray()
	case arrow.DATE32:
		b := array.NewDate32Builder(alloc)
		defer b.Release()
		b.Reserve(len(vals))
		for i, v := range vals {
			if isValid(i) {
				b.UnsafeAppend(arrow.Date32(v))
			} else {
				b.UnsafeAppendBoolToBitmap(false)
			}
		}
		return b.NewArray()
	case arrow.TIMESTAMP:
		b := array.NewTimestampBuilder(alloc, dt.(*arrow.TimestampType))
		defer b.Release()
		b.Reserve(len(vals))
		for i, v := range vals {
			if isValid(i) {
				b.UnsafeAppend(arrow.Timestamp(v))
			} else {
				b.UnsafeAppendBoolToBitmap(false)
			}
		}
		return b.NewArray()
	case arrow.BOOL:
		b := array.NewBooleanBuilder(alloc)
		defer b.Release()
		b.Reserve(len(vals))
		for i, v := range vals {
			if isValid(i) {
				b.UnsafeAppend(v != 0)
			} else {
				b.UnsafeAppendBoolToBitmap(false)
			}
		}
		return b.NewArray()
	}
	panic(fmt.Sprintf("BuildInt64Like: %s is not int-like", dt))
}

// BuildFloat64 builds a float64 array; valid nil means no nulls.
func BuildFloat64(alloc memory.Allocator, vals []float64, valid []bool) arrow.Array {
	b := array.NewFloat64Builder(alloc)
	defer b.Release()
	b.AppendValues(vals, valid)
	return b.NewArray()
}

// BuildString builds a string array; valid nil means no nulls.
func BuildString(alloc memory.Allocator, vals []string, valid []bool) arrow.Array {
	b := array.NewStringBuilder(alloc)
	defer b.Release()
	b.AppendValues(vals, valid)
	return b.NewArray()
}

// FloatKey normalises a float for hashing and ordering: -0 becomes 0 (they
// are equal), and ok is false for NaN, which the stages treat as null, as
// pandas does.
func FloatKey(v float64) (float64, bool) {
	if v != v {
		return 0, false
	}
	if v == 0 {
		return 0, true
	}
	return v, true
}
