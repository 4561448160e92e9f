package kernel

// Kernels of string, date, math and conversion functions, and the VM node
// that evaluates a node without a kernel row by row.

import (
	"bytes"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/expr-lang/expr/vm"
)

// ustr views b as a string without copying; it must not outlive b.
func ustr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// concatNode is a chain of string +.
type concatNode struct{ parts []vnode }

func (k *concatNode) outKind() vkind { return vStr }

func (k *concatNode) eval(st *VState, sel []int32) *vec {
	parts := make([]*vec, len(k.parts))
	for j, p := range k.parts {
		parts[j] = p.eval(st, sel)
	}
	out := st.newVec(vStr)
	out.fail = st.strictFail(out, sel, parts...)
	size := 0
	for _, p := range parts {
		if len(sel) > 0 {
			size += int(p.hi[sel[len(sel)-1]]) - int(p.lo[sel[0]])
		}
	}
	if size > 0 && cap(out.bdata) < size {
		out.bdata = make([]byte, 0, size+size/8)
	}
	buf := out.bdata[:0]
	for _, i := range sel {
		out.lo[i] = int32(len(buf))
		if out.fail == nil || !out.fail[i] {
			for _, p := range parts {
				buf = append(buf, p.data[p.lo[i]:p.hi[i]]...)
			}
		}
		out.hi[i] = int32(len(buf))
	}
	out.bdata, out.data = buf, buf
	return out
}

// caseNode is upper() or lower(): ASCII in place, anything else through
// strings.ToUpper/ToLower as the VM does.
type caseNode struct {
	upper bool
	a     vnode
}

func (k *caseNode) outKind() vkind { return vStr }

func (k *caseNode) eval(st *VState, sel []int32) *vec {
	a := k.a.eval(st, sel)
	out := st.newVec(vStr)
	out.fail = st.strictFail(out, sel, a)
	if len(sel) > 0 {
		if size := int(a.hi[sel[len(sel)-1]]) - int(a.lo[sel[0]]); size > 0 && cap(out.bdata) < size {
			out.bdata = make([]byte, 0, size+size/8)
		}
	}
	buf := out.bdata[:0]
	var lo, hi byte = 'a', 'z'
	if !k.upper {
		lo, hi = 'A', 'Z'
	}
	for _, i := range sel {
		out.lo[i] = int32(len(buf))
		if out.fail != nil && out.fail[i] {
			out.hi[i] = out.lo[i]
			continue
		}
		s := a.data[a.lo[i]:a.hi[i]]
		start := len(buf)
		buf = append(buf, s...)
		var or byte
		for j := start; j < len(buf); j++ {
			c := buf[j]
			or |= c
			if c-lo <= hi-lo {
				buf[j] = c ^ 0x20
			}
		}
		if or >= utf8.RuneSelf { // not ASCII: as the VM does
			buf = buf[:start]
			if k.upper {
				buf = append(buf, strings.ToUpper(ustr(s))...)
			} else {
				buf = append(buf, strings.ToLower(ustr(s))...)
			}
		}
		out.hi[i] = int32(len(buf))
	}
	out.bdata, out.data = buf, buf
	return out
}

// trimNode is trim (both forms), trimPrefix and trimSuffix.
type trimNode struct {
	fn   string // trimSpace, trim, trimPrefix, trimSuffix
	a, b vnode  // b is nil for trimSpace
}

func (k *trimNode) outKind() vkind { return vStr }

func (k *trimNode) eval(st *VState, sel []int32) *vec {
	a := k.a.eval(st, sel)
	var b *vec
	out := st.newVec(vStr)
	if k.b != nil {
		b = k.b.eval(st, sel)
		out.fail = st.strictFail(out, sel, a, b)
	} else {
		out.fail = st.strictFail(out, sel, a)
	}
	for _, i := range sel {
		if out.fail != nil && out.fail[i] {
			out.lo[i], out.hi[i] = 0, 0
			continue
		}
		s := ustr(a.str(i))
		switch k.fn {
		case "trimSpace":
			s = strings.TrimSpace(s)
		case "trim":
			s = strings.Trim(s, ustr(b.str(i)))
		case "trimPrefix":
			s = strings.TrimPrefix(s, ustr(b.str(i)))
		case "trimSuffix":
			s = strings.TrimSuffix(s, ustr(b.str(i)))
		}
		out.setStrS(i, s)
	}
	return out
}

// strPredNode is contains, startsWith, endsWith (the operators: nil gives
// false) and hasPrefix, hasSuffix (the builtins: nil fails).
type strPredNode struct {
	op       string
	a, b     vnode
	nilFalse bool
}

func (k *strPredNode) outKind() vkind { return vBool }

func (k *strPredNode) eval(st *VState, sel []int32) *vec {
	a, b := k.a.eval(st, sel), k.b.eval(st, sel)
	out := st.newVec(vBool)
	if k.nilFalse {
		out.fail = st.orMask(out, true, sel, a.fail, b.fail)
	} else {
		out.fail = st.strictFail(out, sel, a, b)
	}
	for _, i := range sel {
		if a.isNull(i) || b.isNull(i) {
			out.b[i] = false
			continue
		}
		x, y := a.str(i), b.str(i)
		switch k.op {
		case "contains":
			out.b[i] = bytes.Contains(x, y)
		case "startsWith":
			out.b[i] = bytes.HasPrefix(x, y)
		default:
			out.b[i] = bytes.HasSuffix(x, y)
		}
	}
	return out
}

// matchNode is `matches` with a constant pattern; nil gives false.
type matchNode struct {
	a  vnode
	re *regexp.Regexp
}

func (k *matchNode) outKind() vkind { return vBool }

func (k *matchNode) eval(st *VState, sel []int32) *vec {
	a := k.a.eval(st, sel)
	out := st.newVec(vBool)
	out.fail = a.fail
	for _, i := range sel {
		out.b[i] = !a.isNull(i) && k.re.MatchString(ustr(a.str(i)))
	}
	return out
}

// indexNode is indexOf or lastIndexOf (byte offsets, -1 when absent).
type indexNode struct {
	last bool
	a, b vnode
}

func (k *indexNode) outKind() vkind { return vInt }

func (k *indexNode) eval(st *VState, sel []int32) *vec {
	a, b := k.a.eval(st, sel), k.b.eval(st, sel)
	out := st.newVec(vInt)
	out.fail = st.strictFail(out, sel, a, b)
	for _, i := range sel {
		if k.last {
			out.i[i] = int64(bytes.LastIndex(a.str(i), b.str(i)))
		} else {
			out.i[i] = int64(bytes.Index(a.str(i), b.str(i)))
		}
	}
	return out
}

// lenNode is len() of a string: its number of runes, as the builtin counts.
type lenNode struct{ a vnode }

func (k *lenNode) outKind() vkind { return vInt }

func (k *lenNode) eval(st *VState, sel []int32) *vec {
	a := k.a.eval(st, sel)
	out := st.newVec(vInt)
	out.fail = st.strictFail(out, sel, a)
	for _, i := range sel {
		out.i[i] = int64(utf8.RuneCount(a.str(i)))
	}
	return out
}

// sliceNode is s[from:to] on a string, in bytes, with runtime.Slice's
// clamping.
type sliceNode struct{ a, from, to vnode }

func (k *sliceNode) outKind() vkind { return vStr }

func (k *sliceNode) eval(st *VState, sel []int32) *vec {
	a := k.a.eval(st, sel)
	ops := []*vec{a}
	var from, to *vec
	if k.to != nil {
		to = k.to.eval(st, sel)
		ops = append(ops, to)
	}
	if k.from != nil {
		from = k.from.eval(st, sel)
		ops = append(ops, from)
	}
	out := st.newVec(vStr)
	out.fail = st.strictFail(out, sel, ops...)
	for _, i := range sel {
		if out.fail != nil && out.fail[i] {
			out.lo[i], out.hi[i] = 0, 0
			continue
		}
		s := a.str(i)
		n := int64(len(s))
		lo, hi := int64(0), n
		if from != nil {
			lo = from.i[i]
		}
		if to != nil {
			hi = to.i[i]
		}
		if lo < 0 {
			lo += n
		}
		if lo < 0 {
			lo = 0
		}
		if hi < 0 {
			hi += n
		}
		if hi < 0 {
			hi = 0
		}
		if hi > n {
			hi = n
		}
		if lo > hi {
			lo = hi
		}
		out.setStr(i, s[lo:hi])
	}
	return out
}

// toStringNode is string() of an int, a bool or a string (fmt's %v); nil
// gives "<nil>".
type toStringNode struct {
	a  vnode
	in vkind
}

func (k *toStringNode) outKind() vkind { return vStr }

func (k *toStringNode) eval(st *VState, sel []int32) *vec {
	a := k.a.eval(st, sel)
	out := st.newVec(vStr)
	out.fail = a.fail
	var tmp [24]byte
	for _, i := range sel {
		switch {
		case a.isNull(i) || a.kind == vNil:
			out.setStrS(i, "<nil>")
		case k.in == vInt:
			out.setStr(i, strconv.AppendInt(tmp[:0], a.i[i], 10))
		case k.in == vBool:
			out.setStrS(i, strconv.FormatBool(a.b[i]))
		default:
			out.setStr(i, a.str(i))
		}
	}
	return out
}

// mathNode is abs, ceil, floor or round.
type mathNode struct {
	fn   string
	a    vnode
	in   vkind
	kind vkind
}

func (k *mathNode) outKind() vkind { return k.kind }

func (k *mathNode) eval(st *VState, sel []int32) *vec {
	a := k.a.eval(st, sel)
	out := st.newVec(k.kind)
	out.fail = st.strictFail(out, sel, a)
	switch {
	case k.fn == "abs" && k.in == vInt:
		for _, i := range sel {
			x := a.i[i]
			if x < 0 {
				x = -x
			}
			out.i[i] = x
		}
	case k.fn == "abs":
		for _, i := range sel {
			x := a.f[i]
			if x < 0 {
				x = -x
			}
			out.f[i] = x
		}
	case k.in == vInt: // ceil, floor, round of an int: the int as a float
		for _, i := range sel {
			out.f[i] = float64(a.i[i])
		}
	default:
		f := math.Ceil
		switch k.fn {
		case "floor":
			f = math.Floor
		case "round":
			f = math.Round
		}
		for _, i := range sel {
			out.f[i] = f(a.f[i])
		}
	}
	return out
}

// convNode is int() or float() of a number or a string.
type convNode struct {
	toInt bool
	a     vnode
	in    vkind
}

func (k *convNode) outKind() vkind {
	if k.toInt {
		return vInt
	}
	return vFloat
}

func (k *convNode) eval(st *VState, sel []int32) *vec {
	a := k.a.eval(st, sel)
	out := st.newVec(k.outKind())
	out.fail = st.strictFail(out, sel, a)
	switch {
	case k.toInt && k.in == vInt:
		copy(out.i, a.i) // rows outside sel are copied too: harmless
	case k.toInt && k.in == vFloat:
		for _, i := range sel {
			out.i[i] = int64(int(a.f[i]))
		}
	case !k.toInt && k.in == vInt:
		for _, i := range sel {
			out.f[i] = float64(a.i[i])
		}
	case !k.toInt && k.in == vFloat:
		copy(out.f, a.f)
	default: // from a string: a string that does not parse fails
		owned := false
		for _, i := range sel {
			if out.fail != nil && out.fail[i] {
				continue
			}
			var err error
			if k.toInt {
				var x int
				x, err = strconv.Atoi(ustr(a.str(i)))
				out.i[i] = int64(x)
			} else {
				out.f[i], err = strconv.ParseFloat(ustr(a.str(i)), 64)
			}
			if err != nil {
				if !owned {
					st.ownFail(out, sel)
					owned = true
				}
				out.fail[i] = true
			}
		}
	}
	return out
}

// timePartNode is a time.Time method returning an int (Year, Day, ...).
type timePartNode struct {
	part string
	a    vnode
}

func (k *timePartNode) outKind() vkind { return vInt }

func (k *timePartNode) eval(st *VState, sel []int32) *vec {
	a := k.a.eval(st, sel)
	out := st.newVec(vInt)
	out.fail = st.strictFail(out, sel, a)
	for _, i := range sel {
		t := time.Unix(a.i[i], int64(a.ns[i])).UTC()
		var x int
		switch k.part {
		case "Year":
			x = t.Year()
		case "Day":
			x = t.Day()
		case "Hour":
			x = t.Hour()
		case "Minute":
			x = t.Minute()
		case "Second":
			x = t.Second()
		case "Nanosecond":
			x = t.Nanosecond()
		case "YearDay":
			x = t.YearDay()
		}
		out.i[i] = int64(x)
	}
	return out
}

// vmNode evaluates a node without a kernel on expr's VM, row by row. Its
// holes are children computed by kernels and passed as variables; a row
// where one of them failed fails without running the VM (the VM would have
// evaluated that child first).
type vmNode struct {
	prog  *vm.Program
	slots []int // the columns the node reads
	holes []vmHole
	kind  vkind
}

type vmHole struct {
	name string
	node vnode
}

func (k *vmNode) outKind() vkind { return k.kind }

func (k *vmNode) eval(st *VState, sel []int32) *vec {
	holes := make([]*vec, len(k.holes))
	var fails [][]bool
	for j, h := range k.holes {
		holes[j] = h.node.eval(st, sel)
		if holes[j].fail != nil {
			fails = append(fails, holes[j].fail)
		}
	}
	cols := make([]*vec, len(k.slots))
	for j, s := range k.slots {
		cols[j] = st.slot(s)
	}
	out := st.newVec(k.kind)
	out.fail = st.orMask(out, true, sel, fails...)
	if out.fail != nil && len(fails) == 1 {
		st.ownFail(out, sel)
	}
	if out.null == nil && k.kind != vAny {
		out.null = st.bools(out, false)
	}
	env := st.vmEnv
	for _, i := range sel {
		if out.fail != nil && out.fail[i] {
			if k.kind == vStr {
				out.lo[i], out.hi[i] = 0, 0
			}
			continue
		}
		for j, s := range k.slots {
			env[st.env.names[s]] = box(cols[j], i)
		}
		for j, h := range k.holes {
			env[h.name] = box(holes[j], i)
		}
		v, err := st.vm.Run(k.prog, env)
		if err != nil {
			st.setFail(out, i)
			if k.kind == vStr {
				out.lo[i], out.hi[i] = 0, 0
			}
			continue
		}
		if k.kind == vStr {
			switch s := v.(type) {
			case string:
				out.setStrS(i, s)
			case nil:
				out.null[i] = true
				out.lo[i], out.hi[i] = 0, 0
			default:
				st.mismatch = true
			}
			continue
		}
		if !unbox(out, i, v) {
			st.mismatch = true
		}
	}
	return out
}
