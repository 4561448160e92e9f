package kernel

// Running a vectorised expression: Filter's selection and Transformer's
// derived column.

import (
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// eval evaluates p on every row of the batch st was reset to.
func (p *VProgram) eval(st *VState) *vec {
	return p.root.eval(st, st.All())
}

// refNull reports whether one of the columns p refers to is null in row i:
// a failure there is a null result, not an error.
func (p *VProgram) refNull(st *VState, i int32) bool {
	for _, s := range p.refSlots {
		if st.slot(s).isNull(i) {
			return true
		}
	}
	return false
}

// Select evaluates p, a Filter's expression, on the batch st was reset to
// and appends to keep the rows where it is true. bad is the first row where
// the row evaluator would fail (an error without a null among p's columns,
// or a value that is not a bool), -1 if none; the caller runs the row
// evaluator there for the message. ok is false when the batch must be
// evaluated row by row instead (a fallback returned an unexpected type).
func (p *VProgram) Select(st *VState, keep []int32) (_ []int32, bad int, ok bool) {
	v := p.eval(st)
	if st.mismatch {
		return keep, -1, false
	}
	n := int32(st.n)
	switch v.kind {
	case vBool:
		if v.null == nil && v.fail == nil {
			for i := range n {
				if v.b[i] {
					keep = append(keep, i)
				}
			}
			return keep, -1, true
		}
		for i := range n {
			switch {
			case v.failed(i):
				if !p.refNull(st, i) {
					return keep, int(i), true
				}
			case v.isNull(i):
			case v.b[i]:
				keep = append(keep, i)
			}
		}
	case vNil:
	case vAny:
		for i := range n {
			if v.failed(i) {
				if !p.refNull(st, i) {
					return keep, int(i), true
				}
				continue
			}
			switch b := v.a[i].(type) {
			case bool:
				if b {
					keep = append(keep, i)
				}
			case nil:
			default:
				return keep, int(i), true
			}
		}
	default: // a static type other than bool is refused at Plan
		return keep, -1, false
	}
	return keep, -1, true
}

// Column evaluates p on the batch st was reset to and returns its value as
// a column of type dt, converted as openstage.NormalizeValue converts. It
// sets bad[i] (allocating bad when nil) where the row evaluator would fail:
// an error without a null among p's columns, or a value that does not fit
// dt. ok is false when the batch must be evaluated row by row instead.
func (p *VProgram) Column(st *VState, alloc memory.Allocator, dt arrow.DataType, bad []bool) (arrow.Array, []bool, bool) {
	v := p.eval(st)
	if st.mismatch {
		return nil, bad, false
	}
	n := st.n
	markBad := func(i int) {
		if bad == nil {
			bad = make([]bool, n)
		}
		bad[i] = true
	}
	// valid[i]: row i has a value; a failure on a row with a null column is
	// a null, on another row an error.
	valid := make([]bool, n)
	for i := range int32(n) {
		switch {
		case v.failed(i):
			if !p.refNull(st, i) {
				markBad(int(i))
			}
		case v.kind == vNil || v.isNull(i):
		case v.kind == vAny && v.a[i] == nil:
		default:
			valid[i] = true
		}
	}
	same := v.kind == kindOfColumn(dt) && v.kind != vAny && dt.ID() != arrow.DATE32
	if !same {
		return p.convertColumn(v, alloc, dt, valid, markBad), bad, true
	}
	switch v.kind {
	case vInt:
		b := array.NewInt64Builder(alloc)
		defer b.Release()
		b.AppendValues(v.i[:n], valid)
		return b.NewArray(), bad, true
	case vFloat:
		b := array.NewFloat64Builder(alloc)
		defer b.Release()
		b.AppendValues(v.f[:n], valid)
		return b.NewArray(), bad, true
	case vBool:
		b := array.NewBooleanBuilder(alloc)
		defer b.Release()
		b.AppendValues(v.b[:n], valid)
		return b.NewArray(), bad, true
	case vStr:
		return stringArray(alloc, v, valid), bad, true
	case vTime:
		b := array.NewTimestampBuilder(alloc, dt.(*arrow.TimestampType))
		defer b.Release()
		b.Reserve(n)
		unit := dt.(*arrow.TimestampType).Unit
		for i := range n {
			if !valid[i] {
				b.AppendNull()
				continue
			}
			ts, err := arrow.TimestampFromTime(time.Unix(v.i[i], int64(v.ns[i])).UTC(), unit)
			if err != nil {
				markBad(i)
				b.AppendNull()
				continue
			}
			b.Append(ts)
		}
		return b.NewArray(), bad, true
	}
	return nil, bad, false
}

// convertColumn converts row by row, through openstage.NormalizeValue.
func (p *VProgram) convertColumn(v *vec, alloc memory.Allocator, dt arrow.DataType, valid []bool, markBad func(int)) arrow.Array {
	b := array.NewBuilder(alloc, dt)
	defer b.Release()
	b.Reserve(len(valid))
	for i, ok := range valid {
		if !ok {
			b.AppendNull()
			continue
		}
		x, err := openstage.NormalizeValue(dt, box(v, int32(i)))
		if err != nil {
			markBad(i)
			b.AppendNull()
			continue
		}
		openstage.AppendNormalized(b, x)
	}
	return b.NewArray()
}

// stringArray builds a string column from v's rows straight into Arrow
// buffers.
func stringArray(alloc memory.Allocator, v *vec, valid []bool) arrow.Array {
	n := len(valid)
	size, nulls := 0, 0
	for i, ok := range valid {
		if ok {
			size += int(v.hi[i] - v.lo[i])
		} else {
			nulls++
		}
	}
	offBuf := memory.NewResizableBuffer(alloc)
	offBuf.Resize(arrow.Int32Traits.BytesRequired(n + 1))
	dataBuf := memory.NewResizableBuffer(alloc)
	dataBuf.Resize(size)
	offs := arrow.Int32Traits.CastFromBytes(offBuf.Bytes())
	data := dataBuf.Bytes()
	var validBuf *memory.Buffer
	var bits []byte
	if nulls > 0 {
		validBuf = memory.NewResizableBuffer(alloc)
		validBuf.Resize(int(bitutil.BytesForBits(int64(n))))
		bits = validBuf.Bytes()
		clear(bits)
	}
	// Rows laid out one after the other in v's data (what the string
	// kernels write) are copied at once.
	contiguous := nulls == 0 && n > 0
	for i := 1; contiguous && i < n; i++ {
		contiguous = v.lo[i] == v.hi[i-1]
	}
	if contiguous {
		base := v.lo[0]
		copy(data, v.data[base:v.hi[n-1]])
		for i := range n {
			offs[i] = v.lo[i] - base
		}
		offs[n] = v.hi[n-1] - base
	} else {
		pos := int32(0)
		for i, ok := range valid {
			offs[i] = pos
			if ok {
				pos += int32(copy(data[pos:], v.data[v.lo[i]:v.hi[i]]))
				if bits != nil {
					bitutil.SetBit(bits, i)
				}
			}
		}
		offs[n] = pos
	}
	d := array.NewData(arrow.BinaryTypes.String, n, []*memory.Buffer{validBuf, offBuf, dataBuf}, nil, nulls, 0)
	defer d.Release()
	offBuf.Release()
	dataBuf.Release()
	if validBuf != nil {
		validBuf.Release()
	}
	return array.NewStringData(d)
}

// vChunk is the number of rows the kernels evaluate at a time: a batch is
// cut into chunks of this size, so that the kernels' intermediate vectors
// stay small (in cache, and a few MB per worker). Tests make it smaller.
var vChunk = 8192

// chunks calls fn on each chunk of rec (rec itself when it is one chunk)
// with the number of its first row; fn's false stops.
func chunks(rec arrow.RecordBatch, fn func(c arrow.RecordBatch, lo int) bool) {
	n := int(rec.NumRows())
	if n <= vChunk {
		fn(rec, 0)
		return
	}
	for lo := 0; lo < n; lo += vChunk {
		c := rec.NewSlice(int64(lo), int64(min(lo+vChunk, n)))
		more := fn(c, lo)
		c.Release()
		if !more {
			return
		}
	}
}

// SelectBatch is Select over every row of rec, chunk by chunk; the rows
// kept and bad are numbered over rec.
func (p *VProgram) SelectBatch(st *VState, rec arrow.RecordBatch, keep []int32) (_ []int32, bad int, ok bool) {
	bad, ok = -1, true
	chunks(rec, func(c arrow.RecordBatch, lo int) bool {
		st.Reset(c)
		k0 := len(keep)
		var b int
		keep, b, ok = p.Select(st, keep)
		st.Release()
		for j := k0; j < len(keep); j++ {
			keep[j] += int32(lo)
		}
		if b >= 0 {
			bad = lo + b
		}
		return ok && b < 0
	})
	return keep, bad, ok
}

// DeriveBatch evaluates progs in order on every row of rec, chunk by chunk:
// the value of progs[k] becomes a column of type dts[k], which the later
// programs see as slot slots[k] (VEnv.Define). bad marks the rows where the
// row evaluator would fail (nil: none). ok is false when the batch must be
// evaluated row by row instead.
func DeriveBatch(st *VState, rec arrow.RecordBatch, alloc memory.Allocator, progs []*VProgram, dts []arrow.DataType, slots []int) (cols []arrow.Array, bad []bool, ok bool) {
	n := int(rec.NumRows())
	parts := make([][]arrow.Array, len(progs))
	release := func() {
		for _, ps := range parts {
			for _, a := range ps {
				a.Release()
			}
		}
	}
	ok = true
	chunks(rec, func(c arrow.RecordBatch, lo int) bool {
		st.Reset(c)
		defer st.Release()
		var cbad []bool
		for k, p := range progs {
			var arr arrow.Array
			arr, cbad, ok = p.Column(st, alloc, dts[k], cbad)
			if !ok {
				return false
			}
			parts[k] = append(parts[k], arr)
			st.SetSlot(slots[k], arr)
		}
		if cbad != nil {
			if bad == nil {
				bad = make([]bool, n)
			}
			copy(bad[lo:], cbad)
		}
		return true
	})
	if !ok {
		release()
		return nil, nil, false
	}
	cols = make([]arrow.Array, len(progs))
	for k, ps := range parts {
		if len(ps) == 1 {
			cols[k] = ps[0]
			parts[k] = nil
			continue
		}
		arr, err := array.Concatenate(ps, alloc)
		if err != nil { // cannot happen: the chunks have one type
			for _, c := range cols {
				if c != nil {
					c.Release()
				}
			}
			release()
			return nil, nil, false
		}
		cols[k] = arr
	}
	release()
	return cols, bad, true
}
