package kernel

// Kernels of variables, constants, arithmetic, comparisons, logic, ?:, ??
// and in.

import (
	"bytes"
	"math"
)

func (v *vec) setStr(i int32, s []byte) {
	v.lo[i] = int32(len(v.bdata))
	v.bdata = append(v.bdata, s...)
	v.hi[i] = int32(len(v.bdata))
	v.data = v.bdata
}

func (v *vec) setStrS(i int32, s string) {
	v.lo[i] = int32(len(v.bdata))
	v.bdata = append(v.bdata, s...)
	v.hi[i] = int32(len(v.bdata))
	v.data = v.bdata
}

// setNull and setFail mark row i, allocating the mask on first use; they
// are for masks the kernel owns (never a child's).
func (st *VState) setNull(v *vec, i int32) {
	if v.null == nil {
		v.null = st.bools(v, false)
	}
	v.null[i] = true
}

func (st *VState) setFail(v *vec, i int32) {
	if v.fail == nil {
		v.fail = st.bools(v, true)
	}
	v.fail[i] = true
}

// ownFail returns a copy of v.fail over sel that the kernel may change.
func (st *VState) ownFail(v *vec, sel []int32) {
	old := v.fail
	if len(old) > 0 && len(v.bfail) > 0 && &old[0] == &v.bfail[0] {
		return // already v's own
	}
	v.fail = st.bools(v, true)
	if old != nil {
		for _, i := range sel {
			v.fail[i] = old[i]
		}
	}
}

type identNode struct {
	slot int
	kind vkind
}

func (k *identNode) outKind() vkind                  { return k.kind }
func (k *identNode) eval(st *VState, _ []int32) *vec { return st.slot(k.slot) }

func (k *constNode) eval(st *VState, _ []int32) *vec { return st.constVec(k) }

// floats returns v's values as float64 (an int vector converted on sel).
func (st *VState) floats(v *vec, sel []int32) []float64 {
	if v.kind == vFloat {
		return v.f
	}
	out := st.newVec(vFloat)
	for _, i := range sel {
		out.f[i] = float64(v.i[i])
	}
	return out.f
}

type arithNode struct {
	op   byte // + - * / % and ^ for **
	a, b vnode
	kind vkind
}

func (k *arithNode) outKind() vkind { return k.kind }

func (k *arithNode) eval(st *VState, sel []int32) *vec {
	a, b := k.a.eval(st, sel), k.b.eval(st, sel)
	out := st.newVec(k.kind)
	out.fail = st.strictFail(out, sel, a, b)
	if k.kind == vInt {
		x, y, o := a.i, b.i, out.i
		switch k.op {
		case '+':
			for _, i := range sel {
				o[i] = x[i] + y[i]
			}
		case '-':
			for _, i := range sel {
				o[i] = x[i] - y[i]
			}
		case '*':
			for _, i := range sel {
				o[i] = x[i] * y[i]
			}
		case '%':
			zero := false
			for _, i := range sel {
				if y[i] == 0 {
					zero = true
					o[i] = 0
				} else {
					o[i] = x[i] % y[i]
				}
			}
			if zero { // integer divide by zero: the VM fails
				st.ownFail(out, sel)
				for _, i := range sel {
					if y[i] == 0 {
						out.fail[i] = true
					}
				}
			}
		}
		return out
	}
	x, y, o := st.floats(a, sel), st.floats(b, sel), out.f
	switch k.op {
	case '+':
		for _, i := range sel {
			o[i] = x[i] + y[i]
		}
	case '-':
		for _, i := range sel {
			o[i] = x[i] - y[i]
		}
	case '*':
		for _, i := range sel {
			o[i] = x[i] * y[i]
		}
	case '/':
		for _, i := range sel {
			o[i] = x[i] / y[i]
		}
	case '^':
		for _, i := range sel {
			o[i] = math.Pow(x[i], y[i])
		}
	}
	return out
}

type negNode struct {
	a    vnode
	kind vkind
}

func (k *negNode) outKind() vkind { return k.kind }

func (k *negNode) eval(st *VState, sel []int32) *vec {
	a := k.a.eval(st, sel)
	out := st.newVec(k.kind)
	out.fail = st.strictFail(out, sel, a)
	if k.kind == vInt {
		for _, i := range sel {
			out.i[i] = -a.i[i]
		}
	} else {
		for _, i := range sel {
			out.f[i] = -a.f[i]
		}
	}
	return out
}

// cmpNode is <, >, <=, >= between numbers, strings or times; nil fails.
type cmpNode struct {
	op   string
	a, b vnode
}

func (k *cmpNode) outKind() vkind { return vBool }

func (k *cmpNode) eval(st *VState, sel []int32) *vec {
	a, b := k.a.eval(st, sel), k.b.eval(st, sel)
	out := st.newVec(vBool)
	out.fail = st.strictFail(out, sel, a, b)
	o := out.b
	switch {
	case a.kind == vInt && b.kind == vInt:
		x, y := a.i, b.i
		switch k.op {
		case "<":
			for _, i := range sel {
				o[i] = x[i] < y[i]
			}
		case ">":
			for _, i := range sel {
				o[i] = x[i] > y[i]
			}
		case "<=":
			for _, i := range sel {
				o[i] = x[i] <= y[i]
			}
		case ">=":
			for _, i := range sel {
				o[i] = x[i] >= y[i]
			}
		}
	case a.kind == vStr:
		for _, i := range sel {
			c := bytes.Compare(a.str(i), b.str(i))
			o[i] = cmpResult(k.op, c)
		}
	case a.kind == vTime:
		for _, i := range sel {
			c := cmpTime(a, b, i)
			o[i] = cmpResult(k.op, c)
		}
	default:
		x, y := st.floats(a, sel), st.floats(b, sel)
		switch k.op {
		case "<":
			for _, i := range sel {
				o[i] = x[i] < y[i]
			}
		case ">":
			for _, i := range sel {
				o[i] = x[i] > y[i]
			}
		case "<=":
			for _, i := range sel {
				o[i] = x[i] <= y[i]
			}
		case ">=":
			for _, i := range sel {
				o[i] = x[i] >= y[i]
			}
		}
	}
	return out
}

func cmpResult(op string, c int) bool {
	switch op {
	case "<":
		return c < 0
	case ">":
		return c > 0
	case "<=":
		return c <= 0
	}
	return c >= 0
}

func cmpTime(a, b *vec, i int32) int {
	switch {
	case a.i[i] < b.i[i]:
		return -1
	case a.i[i] > b.i[i]:
		return 1
	case a.ns[i] < b.ns[i]:
		return -1
	case a.ns[i] > b.ns[i]:
		return 1
	}
	return 0
}

// eqNode is == or !=. Between two ints or two strings the VM's typed
// opcodes fail on nil (strict); otherwise nil equals only nil and values
// of different kinds are never equal.
type eqNode struct {
	neg, strict bool
	a, b        vnode
}

func (k *eqNode) outKind() vkind { return vBool }

func (k *eqNode) eval(st *VState, sel []int32) *vec {
	a, b := k.a.eval(st, sel), k.b.eval(st, sel)
	out := st.newVec(vBool)
	o, neg := out.b, k.neg
	if k.strict {
		out.fail = st.strictFail(out, sel, a, b)
		if a.kind == vInt {
			x, y := a.i, b.i
			for _, i := range sel {
				o[i] = (x[i] == y[i]) != neg
			}
		} else {
			for _, i := range sel {
				o[i] = bytes.Equal(a.str(i), b.str(i)) != neg
			}
		}
		return out
	}
	out.fail = st.orMask(out, true, sel, a.fail, b.fail)
	if a.null == nil && b.null == nil && a.kind == vFloat && b.kind == vFloat {
		x, y := a.f, b.f
		for _, i := range sel {
			o[i] = (x[i] == y[i]) != neg
		}
		return out
	}
	for _, i := range sel {
		o[i] = equalAt(a, b, i) != neg
	}
	return out
}

// equalAt is runtime.Equal on row i of a and b.
func equalAt(a, b *vec, i int32) bool {
	an, bn := a.isNull(i) || a.kind == vNil, b.isNull(i) || b.kind == vNil
	if an || bn {
		return an && bn
	}
	switch {
	case a.kind == vInt && b.kind == vInt:
		return a.i[i] == b.i[i]
	case isNumeric(a.kind) && isNumeric(b.kind):
		return numAt(a, i) == numAt(b, i)
	case a.kind != b.kind:
		return false
	case a.kind == vBool:
		return a.b[i] == b.b[i]
	case a.kind == vStr:
		return bytes.Equal(a.str(i), b.str(i))
	case a.kind == vTime:
		return a.i[i] == b.i[i] && a.ns[i] == b.ns[i]
	}
	return false
}

func numAt(v *vec, i int32) float64 {
	if v.kind == vInt {
		return float64(v.i[i])
	}
	return v.f[i]
}

type notNode struct{ a vnode }

func (k *notNode) outKind() vkind { return vBool }

func (k *notNode) eval(st *VState, sel []int32) *vec {
	a := k.a.eval(st, sel)
	out := st.newVec(vBool)
	out.fail = st.strictFail(out, sel, a)
	for _, i := range sel {
		out.b[i] = !a.b[i]
	}
	return out
}

// logicNode is && (and) or || (or), evaluating its right side only on the
// rows the left side does not decide. A nil left side fails (the VM's jump
// needs a bool); the right side's value, nil included, is the result.
type logicNode struct {
	and  bool
	a, b vnode
}

func (k *logicNode) outKind() vkind { return vBool }

func (k *logicNode) eval(st *VState, sel []int32) *vec {
	a := k.a.eval(st, sel)
	out := st.newVec(vBool)
	rest := st.sel()
	decided := !k.and // the result where the left side decides
	if a.null == nil && a.fail == nil {
		for _, i := range sel {
			if a.b[i] == decided {
				out.b[i] = decided
			} else {
				rest = append(rest, i)
			}
		}
	} else {
		for _, i := range sel {
			switch {
			case a.isNull(i) || a.failed(i):
				st.setFail(out, i)
				out.b[i] = false
			case a.b[i] == decided:
				out.b[i] = decided
			default:
				rest = append(rest, i)
			}
		}
	}
	if len(rest) == 0 {
		return out
	}
	b := k.b.eval(st, rest)
	if b.kind == vNil {
		for _, i := range rest {
			st.setNull(out, i)
		}
		return out
	}
	for _, i := range rest {
		out.b[i] = b.b[i]
	}
	if b.null != nil {
		for _, i := range rest {
			if b.null[i] {
				st.setNull(out, i)
			}
		}
	}
	if b.fail != nil {
		for _, i := range rest {
			if b.fail[i] {
				st.setFail(out, i)
			}
		}
	}
	return out
}

// pick copies rows of src into out (of the same kind, or src all nil).
func (st *VState) pick(out, src *vec, rows []int32) {
	if src.kind == vNil {
		for _, i := range rows {
			st.setNull(out, i)
		}
	} else {
		switch out.kind {
		case vInt:
			for _, i := range rows {
				out.i[i] = src.i[i]
			}
		case vFloat:
			for _, i := range rows {
				out.f[i] = src.f[i]
			}
		case vBool:
			for _, i := range rows {
				out.b[i] = src.b[i]
			}
		case vStr:
			buf, lo, hi := out.bdata, out.lo, out.hi
			for _, i := range rows {
				lo[i] = int32(len(buf))
				buf = append(buf, src.data[src.lo[i]:src.hi[i]]...)
				hi[i] = int32(len(buf))
			}
			out.bdata, out.data = buf, buf
		case vTime:
			for _, i := range rows {
				out.i[i], out.ns[i] = src.i[i], src.ns[i]
			}
		}
		if src.null != nil {
			for _, i := range rows {
				if src.null[i] {
					st.setNull(out, i)
				}
			}
		}
	}
	if src.fail != nil {
		for _, i := range rows {
			if src.fail[i] {
				st.setFail(out, i)
			}
		}
	}
}

// condNode is c ? a : b, each branch evaluated on its rows.
type condNode struct {
	cond, a, b vnode
	kind       vkind
}

func (k *condNode) outKind() vkind { return k.kind }

func (k *condNode) eval(st *VState, sel []int32) *vec {
	c := k.cond.eval(st, sel)
	out := st.newVec(k.kind)
	if out.kind == vStr && cap(out.bdata) < len(sel)*4 {
		out.bdata = make([]byte, 0, len(sel)*4)
	}
	yes, no := st.sel(), st.sel()
	if c.null == nil && c.fail == nil {
		cb := c.b
		for _, i := range sel {
			if cb[i] {
				yes = append(yes, i)
			} else {
				no = append(no, i)
			}
		}
		sel = sel[:0] // nothing left to sort out below
	}
	for _, i := range sel {
		switch {
		case c.isNull(i) || c.failed(i):
			st.setFail(out, i)
			if out.kind == vStr {
				out.lo[i], out.hi[i] = 0, 0
			}
		case c.b[i]:
			yes = append(yes, i)
		default:
			no = append(no, i)
		}
	}
	var a, b *vec
	if len(yes) > 0 {
		a = k.a.eval(st, yes)
	}
	if len(no) > 0 {
		b = k.b.eval(st, no)
	}
	if out.kind == vStr && a != nil && b != nil && a.kind == vStr && b.kind == vStr {
		st.mergeStr(out, a, yes, b, no)
		return out
	}
	if a != nil {
		st.pick(out, a, yes)
	}
	if b != nil {
		st.pick(out, b, no)
	}
	return out
}

// mergeStr copies the strings of rows ra from a and rb from b (both
// ascending) into out in row order, so that out's rows lie one after the
// other in its buffer (the result column is then one copy).
func (st *VState) mergeStr(out, a *vec, ra []int32, b *vec, rb []int32) {
	buf, lo, hi := out.bdata, out.lo, out.hi
	x, y := 0, 0
	for x < len(ra) || y < len(rb) {
		var i int32
		var src *vec
		if y == len(rb) || x < len(ra) && ra[x] < rb[y] {
			i, src = ra[x], a
			x++
		} else {
			i, src = rb[y], b
			y++
		}
		lo[i] = int32(len(buf))
		buf = append(buf, src.data[src.lo[i]:src.hi[i]]...)
		hi[i] = int32(len(buf))
	}
	out.bdata, out.data = buf, buf
	for _, part := range []struct {
		v    *vec
		rows []int32
	}{{a, ra}, {b, rb}} {
		if part.v.null != nil {
			for _, i := range part.rows {
				if part.v.null[i] {
					st.setNull(out, i)
				}
			}
		}
		if part.v.fail != nil {
			for _, i := range part.rows {
				if part.v.fail[i] {
					st.setFail(out, i)
				}
			}
		}
	}
}

// coalesceNode is a ?? b: b evaluated on the rows where a is nil.
type coalesceNode struct {
	a, b vnode
	kind vkind
}

func (k *coalesceNode) outKind() vkind { return k.kind }

func (k *coalesceNode) eval(st *VState, sel []int32) *vec {
	a := k.a.eval(st, sel)
	if a.null == nil && a.kind != vNil {
		return a
	}
	out := st.newVec(k.kind)
	have, rest := st.sel(), st.sel()
	for _, i := range sel {
		switch {
		case a.failed(i):
			st.setFail(out, i)
			if out.kind == vStr {
				out.lo[i], out.hi[i] = 0, 0
			}
		case a.kind == vNil || a.null[i]:
			rest = append(rest, i)
		default:
			have = append(have, i)
		}
	}
	if len(have) > 0 {
		st.pick(out, a, have)
	}
	if len(rest) > 0 {
		st.pick(out, k.b.eval(st, rest), rest)
	}
	return out
}

// inNode is `x in [...]` over constants. The optimizer turns lists of ints
// or strings into sets, where the VM looks nil up as the key's zero value;
// other lists compare as ==.
type inNode struct {
	a     vnode
	ints  map[int]struct{}
	strs  map[string]struct{}
	list  []*constNode
	small []int64 // ints, when there are few: searched linearly
}

func (k *inNode) outKind() vkind { return vBool }

func (k *inNode) eval(st *VState, sel []int32) *vec {
	a := k.a.eval(st, sel)
	out := st.newVec(vBool)
	out.fail = a.fail
	o := out.b
	switch {
	case k.ints != nil:
		for _, i := range sel {
			var x int64
			if !a.isNull(i) && a.kind != vNil {
				x = a.i[i]
			}
			if k.small != nil {
				found := false
				for _, v := range k.small {
					found = found || v == x
				}
				o[i] = found
			} else {
				_, o[i] = k.ints[int(x)]
			}
		}
	case k.strs != nil:
		for _, i := range sel {
			var x []byte
			if !a.isNull(i) && a.kind != vNil {
				x = a.str(i)
			}
			_, o[i] = k.strs[string(x)]
		}
	default:
		list := make([]*vec, len(k.list))
		for j, c := range k.list {
			list[j] = st.constVec(c)
		}
		for _, i := range sel {
			found := false
			for _, cv := range list {
				if equalAt(cv, a, i) {
					found = true
					break
				}
			}
			o[i] = found
		}
	}
	return out
}
