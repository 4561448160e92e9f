package kernel

// The evaluation state of vectorised expressions: the variables of one
// batch as vectors, and the buffers the kernels reuse from batch to batch.

import (
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/expr-lang/expr/vm"
)

// VState evaluates the programs compiled against one VEnv on one batch at a
// time. It is used by one goroutine at a time; keep one per worker (a
// sync.Pool) so that its buffers are reused.
type VState struct {
	env    *VEnv
	rec    arrow.RecordBatch
	n      int
	schema *arrow.Schema
	cols   []int // slot -> column of rec (-1: none)
	slots  []*vec
	arrs   []arrow.Array // what a slot was loaded from

	vecs   []*vec
	used   int
	sels   [][]int32
	usedS  int
	consts []*vec
	ident  []int32

	vm       vm.VM
	vmEnv    map[string]any
	mismatch bool // a fallback returned a value of another type than its static one
}

// NewState returns an evaluation state for the programs compiled against e.
func (e *VEnv) NewState() *VState {
	return &VState{env: e, vmEnv: map[string]any{}}
}

// Reset starts a batch: the input slots are read from rec's columns of the
// same names, when the programs first use them.
func (st *VState) Reset(rec arrow.RecordBatch) {
	st.rec, st.n = rec, int(rec.NumRows())
	if st.schema != rec.Schema() || len(st.cols) != len(st.env.names) {
		st.schema = rec.Schema()
		st.cols = st.cols[:0]
		for i, name := range st.env.names {
			col := -1
			if st.env.input[i] {
				if idx := rec.Schema().FieldIndices(name); len(idx) > 0 {
					col = idx[0]
				}
			}
			st.cols = append(st.cols, col)
		}
	}
	if cap(st.slots) < len(st.env.names) {
		st.slots = make([]*vec, len(st.env.names))
		st.arrs = make([]arrow.Array, len(st.env.names))
	}
	st.slots = st.slots[:len(st.env.names)]
	st.arrs = st.arrs[:len(st.env.names)]
	clear(st.slots)
	clear(st.arrs)
	st.used, st.usedS, st.mismatch = 0, 0, false
	if cap(st.ident) < st.n {
		st.ident = make([]int32, st.n)
		for i := range st.ident {
			st.ident[i] = int32(i)
		}
	}
}

// Release drops the references to the batch.
func (st *VState) Release() {
	st.rec = nil
	clear(st.slots)
	clear(st.arrs)
	clear(st.vmEnv)
	for _, v := range st.vecs {
		clear(v.ba)
		v.a = nil
	}
}

// All returns the selection of every row of the batch.
func (st *VState) All() []int32 { return st.ident[:st.n] }

// SetSlot sets a derived column's slot to arr (a column of the batch's
// length).
func (st *VState) SetSlot(slot int, arr arrow.Array) {
	st.arrs[slot] = arr
	st.slots[slot] = st.view(arr)
}

func (st *VState) slot(s int) *vec {
	if v := st.slots[s]; v != nil {
		return v
	}
	col := st.cols[s]
	if col < 0 { // a derived column not set (cannot happen) or a missing input: all nil
		v := st.newVec(vNil)
		st.slots[s] = v
		return v
	}
	arr := st.rec.Column(col)
	st.arrs[s] = arr
	st.slots[s] = st.view(arr)
	return st.slots[s]
}

// view returns arr as a vector, sharing its value buffers where the
// representation allows.
func (st *VState) view(arr arrow.Array) *vec {
	n := arr.Len()
	var v *vec
	switch a := arr.(type) {
	case *array.Int64:
		v = st.newVec(vNil)
		v.kind, v.i = vInt, a.Int64Values()
	case *array.Float64:
		v = st.newVec(vNil)
		v.kind, v.f = vFloat, a.Float64Values()
	case *array.Boolean:
		v = st.newVec(vBool)
		for i := range n {
			v.b[i] = a.Value(i)
		}
	case *array.String:
		v = st.newVec(vNil)
		off := a.ValueOffsets()
		v.kind, v.lo, v.hi = vStr, off[:n], off[1:n+1]
		if bufs := a.Data().Buffers(); len(bufs) > 2 && bufs[2] != nil {
			v.data = bufs[2].Bytes()
		}
	case *array.Date32:
		v = st.newVec(vTime)
		for i, d := range a.Date32Values() {
			v.i[i], v.ns[i] = int64(d)*86400, 0
		}
	case *array.Timestamp:
		v = st.newVec(vTime)
		unit := a.DataType().(*arrow.TimestampType).Unit
		for i, t := range a.TimestampValues() {
			tt := t.ToTime(unit)
			v.i[i], v.ns[i] = tt.Unix(), int32(tt.Nanosecond())
		}
	default:
		v = st.newVec(vAny)
		read := ExprReader(arr)
		for i := range n {
			v.a[i] = read(i)
		}
		return v
	}
	if arr.NullN() > 0 {
		v.null = st.bools(v, false)
		for i := range n {
			v.null[i] = arr.IsNull(i)
		}
	}
	return v
}

// newVec returns a vector of kind k with value slices of the batch's
// length (their contents are left over from earlier batches).
func (st *VState) newVec(k vkind) *vec {
	if st.used == len(st.vecs) {
		st.vecs = append(st.vecs, &vec{})
	}
	v := st.vecs[st.used]
	st.used++
	n := st.n
	*v = vec{kind: k, bi: v.bi, bff: v.bff, bb: v.bb, bns: v.bns, blo: v.blo, bhi: v.bhi,
		bdata: v.bdata[:0], ba: v.ba, bnull: v.bnull, bfail: v.bfail}
	switch k {
	case vInt:
		v.i = grow(&v.bi, n)
	case vFloat:
		v.f = grow(&v.bff, n)
	case vBool:
		v.b = grow(&v.bb, n)
	case vStr:
		v.lo, v.hi, v.data = grow(&v.blo, n), grow(&v.bhi, n), v.bdata
	case vTime:
		v.i, v.ns = grow(&v.bi, n), grow(&v.bns, n)
	case vAny:
		v.a = grow(&v.ba, n)
	}
	return v
}

func grow[T any](buf *[]T, n int) []T {
	if cap(*buf) < n {
		*buf = make([]T, n, n+n/8)
	}
	return (*buf)[:n]
}

// bools returns v's null (fail false) or fail (fail true) buffer, cleared.
func (st *VState) bools(v *vec, fail bool) []bool {
	p := &v.bnull
	if fail {
		p = &v.bfail
	}
	b := grow(p, st.n)
	clear(b)
	return b
}

// sel returns an empty selection with room for every row.
func (st *VState) sel() []int32 {
	if st.usedS == len(st.sels) {
		st.sels = append(st.sels, nil)
	}
	s := grow(&st.sels[st.usedS], st.n)
	st.usedS++
	return s[:0]
}

// orMask returns the union of masks over the rows of sel: nil when every
// mask is nil, the mask itself when only one is set.
func (st *VState) orMask(v *vec, fail bool, sel []int32, masks ...[]bool) []bool {
	var one []bool
	count := 0
	for _, m := range masks {
		if m != nil {
			one = m
			count++
		}
	}
	switch count {
	case 0:
		return nil
	case 1:
		return one
	}
	out := st.bools(v, fail)
	for _, m := range masks {
		if m == nil {
			continue
		}
		for _, i := range sel {
			out[i] = out[i] || m[i]
		}
	}
	return out
}

// strictFail is the fail mask of a kernel that fails where any operand is
// nil or failed.
func (st *VState) strictFail(out *vec, sel []int32, ops ...*vec) []bool {
	masks := make([]([]bool), 0, 2*len(ops))
	for _, o := range ops {
		masks = append(masks, o.null, o.fail)
	}
	return st.orMask(out, true, sel, masks...)
}

// constVec returns the vector of a constant, kept from batch to batch.
func (st *VState) constVec(k *constNode) *vec {
	for len(st.consts) <= k.id {
		st.consts = append(st.consts, nil)
	}
	v := st.consts[k.id]
	if v != nil && len(v.bnull) >= st.n && v.kind == k.kind {
		return trimVec(v, st.n)
	}
	n := st.n + st.n/8
	v = &vec{kind: k.kind}
	switch k.kind {
	case vNil:
		v.null = make([]bool, n)
		for i := range v.null {
			v.null[i] = true
		}
	case vInt:
		v.i = make([]int64, n)
		for i := range v.i {
			v.i[i] = k.iv
		}
	case vFloat:
		v.f = make([]float64, n)
		for i := range v.f {
			v.f[i] = k.fv
		}
	case vBool:
		v.b = make([]bool, n)
		for i := range v.b {
			v.b[i] = k.bv
		}
	case vStr:
		v.data = []byte(k.sv)
		v.lo, v.hi = make([]int32, n), make([]int32, n)
		for i := range v.hi {
			v.hi[i] = int32(len(k.sv))
		}
	case vTime:
		v.i, v.ns = make([]int64, n), make([]int32, n)
		s, ns := k.tv.Unix(), int32(k.tv.Nanosecond())
		for i := range v.i {
			v.i[i], v.ns[i] = s, ns
		}
	}
	if k.failAll {
		v.fail = make([]bool, n)
		for i := range v.fail {
			v.fail[i] = true
		}
	}
	v.bnull = make([]bool, n) // only its length is used: the rows v covers
	st.consts[k.id] = v
	return trimVec(v, st.n)
}

// trimVec returns a vector of c's first n rows.
func trimVec(c *vec, n int) *vec {
	v := &vec{kind: c.kind}
	if c.i != nil {
		v.i = c.i[:n]
	}
	if c.f != nil {
		v.f = c.f[:n]
	}
	if c.b != nil {
		v.b = c.b[:n]
	}
	if c.ns != nil {
		v.ns = c.ns[:n]
	}
	if c.lo != nil {
		v.lo, v.hi, v.data = c.lo[:n], c.hi[:n], c.data
	}
	if c.null != nil {
		v.null = c.null[:n]
	}
	if c.fail != nil {
		v.fail = c.fail[:n]
	}
	return v
}

// box returns row i of v as expr's VM sees it.
func box(v *vec, i int32) any {
	if v.isNull(i) {
		return nil
	}
	switch v.kind {
	case vInt:
		return int(v.i[i])
	case vFloat:
		return v.f[i]
	case vBool:
		return v.b[i]
	case vStr:
		return string(v.str(i))
	case vTime:
		return time.Unix(v.i[i], int64(v.ns[i])).UTC()
	case vAny:
		return v.a[i]
	}
	return nil
}

// unbox stores x as row i of v (of a concrete kind), reporting false when x
// is of another type.
func unbox(v *vec, i int32, x any) bool {
	if v.kind == vAny {
		v.a[i] = x
		return true
	}
	if x == nil {
		v.null[i] = true
		return true
	}
	switch v.kind {
	case vInt:
		y, ok := x.(int)
		v.i[i] = int64(y)
		return ok
	case vFloat:
		y, ok := x.(float64)
		v.f[i] = y
		return ok
	case vBool:
		y, ok := x.(bool)
		v.b[i] = y
		return ok
	case vTime:
		y, ok := x.(time.Time)
		v.i[i], v.ns[i] = y.Unix(), int32(y.Nanosecond())
		return ok && y.Location() == time.UTC
	case vAny:
		v.a[i] = x
		return true
	}
	return false
}
