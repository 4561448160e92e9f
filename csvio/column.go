package csvio

import (
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// column accumulates the values of one column of one batch directly in
// allocator-owned arrow buffers. Every column of a batch holds the same
// number of values at the start of each row.
type column struct {
	kind  colKind
	dtype arrow.DataType
	name  string

	n     int // values held
	nulls int
	capN  int // capacity in values

	validBuf *memory.Buffer // nil until the first null
	valid    []byte

	dataBuf *memory.Buffer // values, or string bytes
	offBuf  *memory.Buffer // string offsets

	i64   []int64
	f64   []float64
	i32   []int32
	bits  []byte
	offs  []int32
	sdata []byte
	slen  int

	bytesPerRow float64 // string bytes per row seen in the previous batch (size hint)
	fast        bool    // fused fast path allowed
	strict      bool    // int64: refuse integers with a leading zero or a sign (form "int")
}

func newBuffer(mem memory.Allocator, size int) *memory.Buffer {
	b := memory.NewResizableBuffer(mem)
	b.Reserve(size)
	return b
}

// begin allocates room for rows values.
func (c *column) begin(mem memory.Allocator, rows int) {
	if rows < 16 {
		rows = 16
	}
	c.n, c.nulls, c.slen = 0, 0, 0
	c.capN = rows
	c.validBuf, c.valid = nil, nil
	switch c.kind {
	case kString:
		c.offBuf = newBuffer(mem, (rows+1)*4)
		c.offs = arrow.Int32Traits.CastFromBytes(c.offBuf.Buf())
		c.offs[0] = 0
		est := int(c.bytesPerRow*float64(rows)*1.1) + 1024
		c.dataBuf = newBuffer(mem, est)
		c.sdata = c.dataBuf.Buf()
	case kInt64, kTimestamp:
		c.dataBuf = newBuffer(mem, rows*8)
		c.i64 = arrow.Int64Traits.CastFromBytes(c.dataBuf.Buf())
	case kFloat64:
		c.dataBuf = newBuffer(mem, rows*8)
		c.f64 = arrow.Float64Traits.CastFromBytes(c.dataBuf.Buf())
	case kDate32:
		c.dataBuf = newBuffer(mem, rows*4)
		c.i32 = arrow.Int32Traits.CastFromBytes(c.dataBuf.Buf())
	case kBool:
		c.dataBuf = newBuffer(mem, (rows+7)/8)
		c.bits = c.dataBuf.Buf()
	}
}

// grow doubles the value capacity.
func (c *column) grow() {
	rows := c.capN * 2
	c.capN = rows
	if c.validBuf != nil {
		c.validBuf.Reserve((rows + 7) / 8)
		c.valid = c.validBuf.Buf()
	}
	switch c.kind {
	case kString:
		c.offBuf.Reserve((rows + 1) * 4)
		c.offs = arrow.Int32Traits.CastFromBytes(c.offBuf.Buf())
	case kInt64, kTimestamp:
		c.dataBuf.Reserve(rows * 8)
		c.i64 = arrow.Int64Traits.CastFromBytes(c.dataBuf.Buf())
	case kFloat64:
		c.dataBuf.Reserve(rows * 8)
		c.f64 = arrow.Float64Traits.CastFromBytes(c.dataBuf.Buf())
	case kDate32:
		c.dataBuf.Reserve(rows * 4)
		c.i32 = arrow.Int32Traits.CastFromBytes(c.dataBuf.Buf())
	case kBool:
		c.dataBuf.Reserve((rows + 7) / 8)
		c.bits = c.dataBuf.Buf()
	}
}

// growString makes room for need more string bytes. It reports false when
// the batch would exceed the int32 offsets of an arrow String.
func (c *column) growString(need int) bool {
	want := c.slen + need
	if want > math.MaxInt32 {
		return false
	}
	nc := 2 * len(c.sdata)
	if nc < want {
		nc = want
	}
	if nc > math.MaxInt32 {
		nc = math.MaxInt32
	}
	c.dataBuf.Reserve(nc)
	c.sdata = c.dataBuf.Buf()
	return true
}

func (c *column) setValid() {
	if c.valid != nil {
		c.valid[c.n>>3] |= 1 << (c.n & 7)
	}
	c.n++
}

func (c *column) appendNull(mem memory.Allocator) {
	if c.valid == nil {
		c.validBuf = newBuffer(mem, (c.capN+7)/8)
		c.valid = c.validBuf.Buf()
		full := c.n >> 3
		for i := 0; i < full; i++ {
			c.valid[i] = 0xff
		}
		for i := full; i < len(c.valid); i++ {
			c.valid[i] = 0
		}
		for i := full << 3; i < c.n; i++ {
			c.valid[i>>3] |= 1 << (i & 7)
		}
	}
	c.valid[c.n>>3] &^= 1 << (c.n & 7)
	switch c.kind {
	case kString:
		c.offs[c.n+1] = int32(c.slen)
	case kInt64, kTimestamp:
		c.i64[c.n] = 0
	case kFloat64:
		c.f64[c.n] = 0
	case kDate32:
		c.i32[c.n] = 0
	case kBool:
		c.bits[c.n>>3] &^= 1 << (c.n & 7)
	}
	c.n++
	c.nulls++
}

// appendString copies v (unescaping doubled quotes q when escaped).
func (c *column) appendString(v []byte, escaped bool, q byte) bool {
	if c.slen+len(v)+16 > len(c.sdata) && !c.growString(len(v)+16) {
		return false
	}
	if escaped {
		w := c.slen
		for i := 0; i < len(v); i++ {
			b := v[i]
			c.sdata[w] = b
			w++
			if b == q {
				i++ // skip the second quote of the pair
			}
		}
		c.slen = w
	} else {
		c.slen += copySmall(c.sdata[c.slen:], v)
	}
	c.offs[c.n+1] = int32(c.slen)
	c.setValid()
	return true
}

func (c *column) appendBool(v bool) {
	if v {
		c.bits[c.n>>3] |= 1 << (c.n & 7)
	} else {
		c.bits[c.n>>3] &^= 1 << (c.n & 7)
	}
	c.setValid()
}

// truncate drops the values from row k on (k <= n).
func (c *column) truncate(k int) {
	if c.valid != nil {
		for i := k; i < c.n; i++ {
			if c.valid[i>>3]&(1<<(i&7)) == 0 {
				c.nulls--
			}
		}
	}
	c.n = k
	if c.kind == kString {
		c.slen = int(c.offs[k])
	}
}

// finish turns the accumulated values into an array and resets the column.
func (c *column) finish() arrow.Array {
	n := c.n
	var bufs []*memory.Buffer
	var valid *memory.Buffer
	nulls := c.nulls
	if c.validBuf != nil {
		if nulls > 0 {
			c.validBuf.ResizeNoShrink((n + 7) / 8)
			valid = c.validBuf
		}
	}
	switch c.kind {
	case kString:
		c.offBuf.ResizeNoShrink((n + 1) * 4)
		c.dataBuf.ResizeNoShrink(c.slen)
		bufs = []*memory.Buffer{valid, c.offBuf, c.dataBuf}
		if n > 0 {
			c.bytesPerRow = float64(c.slen) / float64(n)
		}
	case kInt64, kTimestamp, kFloat64:
		c.dataBuf.ResizeNoShrink(n * 8)
		bufs = []*memory.Buffer{valid, c.dataBuf}
	case kDate32:
		c.dataBuf.ResizeNoShrink(n * 4)
		bufs = []*memory.Buffer{valid, c.dataBuf}
	case kBool:
		c.dataBuf.ResizeNoShrink((n + 7) / 8)
		bufs = []*memory.Buffer{valid, c.dataBuf}
	}
	data := array.NewData(c.dtype, n, bufs, nil, nulls, 0)
	arr := array.MakeFromData(data)
	data.Release()
	c.release()
	return arr
}

// release drops the column's references to its buffers.
func (c *column) release() {
	for _, b := range []*memory.Buffer{c.validBuf, c.dataBuf, c.offBuf} {
		if b != nil {
			b.Release()
		}
	}
	c.validBuf, c.dataBuf, c.offBuf = nil, nil, nil
	c.valid, c.i64, c.f64, c.i32, c.bits, c.offs, c.sdata = nil, nil, nil, nil, nil, nil, nil
	c.n, c.nulls, c.slen, c.capN = 0, 0, 0, 0
}
