package kernel

// Vectorised expressions: the checked expr-lang syntax tree of an
// ExprProgram compiled into a tree of column kernels (vnode) that evaluate
// a whole batch at once over the columns' value slices.
//
// The kernels reproduce the row evaluator (ExprRow, expr's VM) exactly. A
// row's value at a node is one of three things: a value, nil (a null
// column, a nil literal, a branch that gives nil) or a failure (what makes
// the VM stop with an error: an operation on nil such as nil > 5 or
// upper(nil), an integer modulo by zero, a string that int() cannot read).
// A failure travels up to the root, except through the branches that the VM
// does not evaluate: && and || short-circuit, ?: evaluates one branch and
// ?? its right side only where the left is nil, and the kernels do the same
// by evaluating each child on a selection of rows (a list of row numbers).
// At the root, a failure on a row where a column the expression refers to is
// null is a null result; a failure on a row without nulls is an error, and
// the stages then run the row evaluator on that row for the exact message.
//
// How each operator treats nil follows the VM's opcodes: == and != between
// two ints or two strings fail on nil (OpEqualInt, OpEqualString), between
// other types they compare nil as a value (nil == nil, nil != 5);
// contains, startsWith, endsWith and matches give false; `in` over a
// constant list of ints or strings looks nil up as 0 or ""; everything else
// fails. Integer arithmetic wraps around as Go's does; / always divides as
// float64; ** is math.Pow.
//
// A node without a kernel (an operator or builtin not listed here, a value
// of a type the kernels do not carry, such as a duration or an array) is
// evaluated by expr's VM row by row, for that node only: its children that
// have kernels are computed as columns first and passed to it as variables.
// A node whose children are evaluated conditionally (a predicate builtin
// such as filter or all, ?: or ?? over mixed types) falls back with its
// whole subtree. A subtree without columns is evaluated once, when the
// expression is compiled.

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	exprcompiler "github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// vkind is what a vector holds.
type vkind uint8

const (
	vNil   vkind = iota // every row is nil
	vInt                // int64 (expr's int)
	vFloat              // float64
	vBool               // bool
	vStr                // string bytes
	vTime               // time.Time in UTC as Unix seconds and nanoseconds
	vAny                // boxed values (a fallback node's results)
)

func (k vkind) String() string {
	return [...]string{"nil", "int", "float", "bool", "string", "time", "any"}[k]
}

// kindOf maps a node's static type to the kind of its vector.
func kindOf(t reflect.Type) vkind {
	if t == nil {
		return vAny
	}
	if t == TimeType {
		return vTime
	}
	if t.PkgPath() != "" { // a named type such as time.Duration or time.Month
		return vAny
	}
	switch t.Kind() {
	case reflect.Int:
		return vInt
	case reflect.Float64:
		return vFloat
	case reflect.Bool:
		return vBool
	case reflect.String:
		return vStr
	}
	return vAny
}

// nodeKind is the kind of an AST node: a column's, vNil for a nil literal.
func (c *vcompiler) nodeKind(n ast.Node) vkind {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		if slot, ok := c.env.byName[x.Value]; ok {
			return kindOfColumn(c.env.types[slot])
		}
	case *ast.BinaryNode: // the optimizer's rewrites (in 1..10) leave these untyped
		switch x.Operator {
		case "<", ">", "<=", ">=", "==", "!=", "in", "contains", "startsWith", "endsWith", "matches":
			return vBool
		}
	case *ast.UnaryNode:
		if x.Operator == "!" || x.Operator == "not" {
			return vBool
		}
	}
	if _, ok := n.(*ast.NilNode); ok {
		return vNil
	}
	if n.Nature().Nil {
		return vNil
	}
	return kindOf(n.Type())
}

// kindOfColumn is the kind an expression sees a column of type dt as.
func kindOfColumn(dt arrow.DataType) vkind {
	switch dt.ID() {
	case arrow.INT64:
		return vInt
	case arrow.FLOAT64:
		return vFloat
	case arrow.BOOL:
		return vBool
	case arrow.STRING:
		return vStr
	case arrow.DATE32, arrow.TIMESTAMP:
		return vTime
	}
	return vAny
}

// vec is the value of a node over the rows of a batch. Only the rows of the
// selection the node was evaluated on are meaningful. Vectors are never
// changed once made, so a kernel may return a child's masks as its own.
type vec struct {
	kind vkind
	i    []int64   // vInt; vTime: Unix seconds
	f    []float64 // vFloat
	b    []bool    // vBool
	ns   []int32   // vTime: nanoseconds in the second
	lo   []int32   // vStr: row i is data[lo[i]:hi[i]]
	hi   []int32
	data []byte
	a    []any  // vAny
	null []bool // nil: no row is nil
	fail []bool // nil: no row failed

	// The buffers behind the slices, kept for the next batch.
	bi       []int64
	bff      []float64
	bb       []bool
	bns      []int32
	blo, bhi []int32
	bdata    []byte
	ba       []any
	bnull    []bool
	bfail    []bool
}

func (v *vec) str(i int32) []byte { return v.data[v.lo[i]:v.hi[i]] }

func (v *vec) isNull(i int32) bool { return v.null != nil && v.null[i] }
func (v *vec) failed(i int32) bool { return v.fail != nil && v.fail[i] }

// VEnv is the set of variables of the expressions compiled against it: the
// input columns and, for a Transformer, the derived columns. Each variable
// is a slot; a derived column gets a new slot, so that the expressions
// compiled before it see the input column of the same name.
type VEnv struct {
	names  []string
	types  []arrow.DataType
	input  []bool
	byName map[string]int
	exprs  *ExprEnv
	nconst int // constants compiled against the environment (their ids)
}

// NewVEnv returns the variables of the columns of s.
func NewVEnv(s *arrow.Schema) *VEnv {
	e := &VEnv{byName: map[string]int{}, exprs: NewExprEnv(s)}
	for _, f := range s.Fields() {
		e.add(f.Name, f.Type, true)
	}
	return e
}

func (e *VEnv) add(name string, dt arrow.DataType, input bool) int {
	e.names = append(e.names, name)
	e.types = append(e.types, dt)
	e.input = append(e.input, input)
	e.byName[name] = len(e.names) - 1
	return len(e.names) - 1
}

// Define adds a derived column: the expressions compiled after it see it
// under name. It returns the slot to set with VState.SetSlot.
func (e *VEnv) Define(name string, dt arrow.DataType) int {
	e.exprs.Set(name, ExprZero(dt))
	return e.add(name, dt, false)
}

// ExprEnv is the row evaluator's view of the same variables.
func (e *VEnv) ExprEnv() *ExprEnv { return e.exprs }

// VProgram is an expression compiled into column kernels.
type VProgram struct {
	Prog      *ExprProgram
	root      vnode
	kind      vkind
	refSlots  []int
	Fallbacks []string // the nodes evaluated row by row, as source text
	Whole     bool     // the whole expression is evaluated row by row
	UsesEnv   bool     // it reads $env (the stages then evaluate it row by row)
}

// Explain says how p runs: vectorised, with the nodes that fall back.
func (p *VProgram) Explain() string {
	switch {
	case p.Whole:
		return "row by row (no kernel for " + quoteList(p.Fallbacks) + ")"
	case len(p.Fallbacks) == 0:
		return "vectorised"
	}
	return "vectorised, except " + quoteList(p.Fallbacks) + " evaluated row by row"
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// vnode is a kernel: it evaluates its node on the rows in sel.
type vnode interface {
	eval(st *VState, sel []int32) *vec
	outKind() vkind
}

// CompileVector compiles the checked tree of p, which was compiled against
// env's ExprEnv. It cannot fail: what has no kernel runs on expr's VM.
func CompileVector(p *ExprProgram, env *VEnv) *VProgram {
	c := &vcompiler{env: env, vp: &VProgram{Prog: p}}
	for _, k := range p.Program.Constants {
		if f, ok := k.(float64); ok && f == 0 {
			c.zero = f
			break
		}
	}
	root := p.Program.Node()
	vp := c.vp
	for _, name := range ExprIdents(root) {
		vp.UsesEnv = vp.UsesEnv || name == "$env"
	}
	func() {
		defer func() {
			if r := recover(); r != nil { // a subtree expr could not compile on its own
				c.vp.Fallbacks = []string{root.String()}
				vp.root = &vmNode{prog: p.Program, slots: c.slotsOf(root), kind: c.nodeKind(root)}
				vp.Whole = true
			}
		}()
		if vp.UsesEnv { // the VM's $env is the whole row: no kernels
			vp.root = &vmNode{prog: p.Program, slots: c.slotsOf(root), kind: c.nodeKind(root)}
			vp.Fallbacks = []string{root.String()}
			return
		}
		vp.root = c.compile(root)
	}()
	vp.kind = vp.root.outKind()
	if fb, ok := vp.root.(*vmNode); ok && len(fb.holes) == 0 {
		vp.Whole = true
	}
	for _, name := range p.Refs {
		if s, ok := env.byName[name]; ok {
			vp.refSlots = append(vp.refSlots, s)
		}
	}
	return vp
}

type vcompiler struct {
	env *VEnv
	vp  *VProgram
	// zero is the float zero every float constant 0 of the program has on
	// expr's VM: its compiler keeps one constant per value, and +0 and -0
	// are one map key there, so the first zero it meets (-0.0 or 0.0)
	// stands for all of them (string(-0.0) gives "0" after a 0.0).
	zero float64
}

// compile returns the kernel of n, or a VM node.
func (c *vcompiler) compile(n ast.Node) vnode {
	if isConstTree(n) {
		return c.constant(n)
	}
	if k := c.kernel(n); k != nil {
		return k
	}
	return c.fallback(n)
}

// isConstTree reports whether n refers to no variable and calls nothing
// that changes between calls (now()).
func isConstTree(n ast.Node) bool {
	ok := true
	ast.Find(n, func(x ast.Node) bool {
		switch y := x.(type) {
		case *ast.IdentifierNode, *ast.PointerNode, *ast.VariableDeclaratorNode:
			ok = false
		case *ast.BuiltinNode:
			if y.Name == "now" {
				ok = false
			}
		case *ast.CallNode:
			ok = false
		}
		return !ok
	})
	return ok
}

// constant evaluates a subtree without variables once.
func (c *vcompiler) constant(n ast.Node) vnode {
	k := &constNode{id: c.env.nconst, kind: c.nodeKind(n)}
	c.env.nconst++
	switch x := n.(type) { // literals need no VM
	case *ast.NilNode:
		k.kind = vNil
		return k
	case *ast.IntegerNode:
		switch kindOf(x.Type()) {
		case vInt:
			k.iv = int64(x.Value)
			return k
		case vFloat:
			k.fv = c.float(float64(x.Value))
			return k
		}
	case *ast.FloatNode:
		if k.kind == vFloat {
			k.fv = c.float(x.Value)
			return k
		}
	case *ast.StringNode:
		k.sv = x.Value
		return k
	case *ast.BoolNode:
		k.bv = x.Value
		return k
	}
	prog, err := c.compileTree(n, nil)
	if err != nil {
		panic(err)
	}
	v, err := vm.Run(prog, map[string]any{})
	if err != nil {
		k.failAll = true
		return k
	}
	if !k.setValue(v) {
		return c.fallback(n) // a value the kernels do not carry
	}
	return k
}

// compileTree compiles a checked subtree on its own; extra are the
// variables standing for its children computed as columns.
func (c *vcompiler) compileTree(n ast.Node, extra map[string]any) (*vm.Program, error) {
	env := make(map[string]any, len(c.env.exprs.types)+len(extra))
	for k, v := range c.env.exprs.types {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	cfg := conf.CreateNew()
	cfg.WithEnv(env)
	prog, err := exprcompiler.Compile(&parser.Tree{Node: n, Source: file.NewSource(n.String())}, cfg)
	if err == nil { // the subtree's zeros are the whole program's (vcompiler.zero)
		for i, k := range prog.Constants {
			if f, ok := k.(float64); ok && f == 0 {
				prog.Constants[i] = c.zero
			}
		}
	}
	return prog, err
}

// float returns a float constant as expr's VM has it in the program.
func (c *vcompiler) float(v float64) float64 {
	if v == 0 {
		return c.zero
	}
	return v
}

// kernel returns the kernel of n, or nil when there is none.
func (c *vcompiler) kernel(n ast.Node) vnode {
	out := c.nodeKind(n)
	switch x := n.(type) {
	case *ast.IdentifierNode:
		slot, ok := c.env.byName[x.Value]
		if !ok {
			return nil
		}
		return &identNode{slot: slot, kind: kindOfColumn(c.env.types[slot])}
	case *ast.UnaryNode:
		return c.unary(x)
	case *ast.BinaryNode:
		return c.binary(x, out)
	case *ast.ConditionalNode:
		if c.nodeKind(x.Cond) != vBool {
			return nil
		}
		a, b := c.compile(x.Exp1), c.compile(x.Exp2)
		if !mergeable(out, a.outKind(), b.outKind()) {
			return nil
		}
		return &condNode{cond: c.compile(x.Cond), a: a, b: b, kind: out}
	case *ast.BuiltinNode:
		return c.builtin(x, out)
	case *ast.CallNode:
		return c.call(x, out)
	case *ast.SliceNode:
		return c.slice(x)
	}
	return nil
}

// mergeable reports whether branches of kinds a and b make a vector of kind out.
func mergeable(out, a, b vkind) bool {
	if out == vAny || out == vNil && (a != vNil || b != vNil) {
		return false
	}
	return (a == out || a == vNil) && (b == out || b == vNil)
}

func (c *vcompiler) unary(x *ast.UnaryNode) vnode {
	k := c.nodeKind(x.Node)
	switch x.Operator {
	case "!", "not":
		if k == vBool {
			return &notNode{a: c.compile(x.Node)}
		}
	case "-":
		if k == vInt || k == vFloat {
			return &negNode{a: c.compile(x.Node), kind: k}
		}
	case "+":
		if k != vAny {
			return c.compile(x.Node)
		}
	}
	return nil
}

func isNumeric(k vkind) bool { return k == vInt || k == vFloat }

func (c *vcompiler) binary(x *ast.BinaryNode, out vkind) vnode {
	lk, rk := c.nodeKind(x.Left), c.nodeKind(x.Right)
	switch x.Operator {
	case "&&", "and", "||", "or":
		if lk != vBool || (rk != vBool && rk != vNil) {
			return nil
		}
		return &logicNode{and: x.Operator == "&&" || x.Operator == "and", a: c.compile(x.Left), b: c.compile(x.Right)}
	case "??":
		if out == vAny {
			return nil
		}
		a, b := c.compile(x.Left), c.compile(x.Right)
		if !mergeable(out, a.outKind(), b.outKind()) {
			return nil
		}
		return &coalesceNode{a: a, b: b, kind: out}
	case "+", "-", "*", "/", "%", "**", "^":
		op := x.Operator
		if op == "^" {
			op = "**"
		}
		if lk == vStr && rk == vStr && op == "+" {
			return &concatNode{parts: c.concatParts(x)}
		}
		if !isNumeric(lk) || !isNumeric(rk) {
			return nil
		}
		if op == "%" && (lk != vInt || rk != vInt) {
			return nil
		}
		k := vFloat
		if lk == vInt && rk == vInt && op != "/" && op != "**" {
			k = vInt
		}
		if out != k {
			return nil
		}
		opc := op[0]
		if op == "**" {
			opc = '^'
		}
		return &arithNode{op: opc, a: c.compile(x.Left), b: c.compile(x.Right), kind: k}
	case "<", ">", "<=", ">=":
		if !(isNumeric(lk) && isNumeric(rk) || lk == rk && (lk == vStr || lk == vTime)) {
			return nil
		}
		return &cmpNode{op: x.Operator, a: c.compile(x.Left), b: c.compile(x.Right)}
	case "==", "!=":
		strict := lk == rk && (lk == vInt || lk == vStr) && simpleType(x.Left) && simpleType(x.Right)
		if lk == vAny || rk == vAny {
			return nil
		}
		return &eqNode{neg: x.Operator == "!=", strict: strict, a: c.compile(x.Left), b: c.compile(x.Right)}
	case "in":
		return c.in(x, lk)
	case "contains", "startsWith", "endsWith":
		if lk != vStr || rk != vStr {
			return nil
		}
		return &strPredNode{op: x.Operator, a: c.compile(x.Left), b: c.compile(x.Right), nilFalse: true}
	case "matches":
		s, ok := x.Right.(*ast.StringNode)
		if lk != vStr || !ok {
			return nil
		}
		re, err := regexp.Compile(s.Value)
		if err != nil {
			return nil
		}
		return &matchNode{a: c.compile(x.Left), re: re}
	}
	return nil
}

func simpleType(n ast.Node) bool {
	t := n.Type()
	return t != nil && t.PkgPath() == ""
}

// concatParts flattens a chain of string + into its operands.
func (c *vcompiler) concatParts(x *ast.BinaryNode) []vnode {
	var parts []vnode
	var walk func(n ast.Node)
	walk = func(n ast.Node) {
		if b, ok := n.(*ast.BinaryNode); ok && b.Operator == "+" && c.nodeKind(b.Left) == vStr && c.nodeKind(b.Right) == vStr && !isConstTree(b) {
			walk(b.Left)
			walk(b.Right)
			return
		}
		parts = append(parts, c.compile(n))
	}
	walk(x)
	return parts
}

func (c *vcompiler) in(x *ast.BinaryNode, lk vkind) vnode {
	switch r := x.Right.(type) {
	case *ast.ConstantNode:
		switch m := r.Value.(type) {
		case map[int]struct{}:
			if lk == vInt {
				k := &inNode{a: c.compile(x.Left), ints: m}
				if len(m) <= 8 {
					for v := range m {
						k.small = append(k.small, int64(v))
					}
				}
				return k
			}
		case map[string]struct{}:
			if lk == vStr {
				return &inNode{a: c.compile(x.Left), strs: m}
			}
		case []any: // a folded list of literals
			if lk == vAny {
				return nil
			}
			var list []*constNode
			for _, e := range m {
				k := &constNode{id: c.env.nconst}
				c.env.nconst++
				if !k.setValue(e) {
					return nil
				}
				list = append(list, k)
			}
			return &inNode{a: c.compile(x.Left), list: list}
		}
	case *ast.ArrayNode:
		if lk == vAny {
			return nil
		}
		var list []*constNode
		for _, e := range r.Nodes {
			switch e.(type) {
			case *ast.IntegerNode, *ast.FloatNode, *ast.StringNode, *ast.BoolNode, *ast.NilNode:
			default:
				return nil
			}
			k, ok := c.constant(e).(*constNode)
			if !ok || k.kind == vAny {
				return nil
			}
			list = append(list, k)
		}
		return &inNode{a: c.compile(x.Left), list: list}
	}
	return nil
}

var stringBuiltins = map[string]bool{"upper": true, "lower": true, "trim": true, "trimPrefix": true, "trimSuffix": true,
	"hasPrefix": true, "hasSuffix": true, "len": true, "indexOf": true, "lastIndexOf": true}

func (c *vcompiler) builtin(x *ast.BuiltinNode, out vkind) vnode {
	args := x.Arguments
	kinds := make([]vkind, len(args))
	for i, a := range args {
		kinds[i] = c.nodeKind(a)
	}
	allStr := len(args) > 0
	for _, k := range kinds {
		allStr = allStr && k == vStr
	}
	switch x.Name {
	case "upper", "lower":
		if len(args) == 1 && allStr {
			return &caseNode{upper: x.Name == "upper", a: c.compile(args[0])}
		}
	case "trim", "trimPrefix", "trimSuffix":
		if !allStr || len(args) > 2 {
			return nil
		}
		t := &trimNode{fn: x.Name, a: c.compile(args[0])}
		switch {
		case len(args) == 2:
			t.b = c.compile(args[1])
		case x.Name == "trim":
			t.fn = "trimSpace"
		default:
			t.b = &constNode{id: c.env.nconst, kind: vStr, sv: " "}
			c.env.nconst++
		}
		return t
	case "hasPrefix", "hasSuffix":
		if len(args) == 2 && allStr {
			op := "startsWith"
			if x.Name == "hasSuffix" {
				op = "endsWith"
			}
			return &strPredNode{op: op, a: c.compile(args[0]), b: c.compile(args[1])}
		}
	case "indexOf", "lastIndexOf":
		if len(args) == 2 && allStr {
			return &indexNode{last: x.Name == "lastIndexOf", a: c.compile(args[0]), b: c.compile(args[1])}
		}
	case "len":
		if len(args) == 1 && allStr {
			return &lenNode{a: c.compile(args[0])}
		}
	case "abs", "ceil", "floor", "round":
		if len(args) == 1 && isNumeric(kinds[0]) {
			return &mathNode{fn: x.Name, a: c.compile(args[0]), in: kinds[0], kind: out}
		}
	case "int", "float":
		if len(args) == 1 && (isNumeric(kinds[0]) || kinds[0] == vStr) {
			return &convNode{toInt: x.Name == "int", a: c.compile(args[0]), in: kinds[0]}
		}
	case "string":
		if len(args) == 1 && (kinds[0] == vInt || kinds[0] == vStr || kinds[0] == vBool) {
			return &toStringNode{a: c.compile(args[0]), in: kinds[0]}
		}
	}
	return nil
}

// timeMethods are the time.Time methods with a kernel; they return int.
var timeMethods = map[string]bool{"Year": true, "Day": true, "Hour": true, "Minute": true, "Second": true,
	"Nanosecond": true, "YearDay": true}

func (c *vcompiler) call(x *ast.CallNode, out vkind) vnode {
	m, ok := x.Callee.(*ast.MemberNode)
	if !ok || len(x.Arguments) != 0 || m.Optional || out != vInt {
		return nil
	}
	p, ok := m.Property.(*ast.StringNode)
	if !ok || !timeMethods[p.Value] || c.nodeKind(m.Node) != vTime {
		return nil
	}
	return &timePartNode{part: p.Value, a: c.compile(m.Node)}
}

func (c *vcompiler) slice(x *ast.SliceNode) vnode {
	if c.nodeKind(x.Node) != vStr {
		return nil
	}
	s := &sliceNode{a: c.compile(x.Node)}
	if x.From != nil {
		if c.nodeKind(x.From) != vInt {
			return nil
		}
		s.from = c.compile(x.From)
	}
	if x.To != nil {
		if c.nodeKind(x.To) != vInt {
			return nil
		}
		s.to = c.compile(x.To)
	}
	return s
}

// strictChildren returns pointers to the children of n that expr's VM
// always evaluates before n's own operation, or ok false when it evaluates
// some conditionally (then n falls back with its whole subtree).
func strictChildren(n ast.Node) (clone ast.Node, kids []*ast.Node, ok bool) {
	switch x := n.(type) {
	case *ast.UnaryNode:
		y := *x
		return &y, []*ast.Node{&y.Node}, true
	case *ast.BinaryNode:
		switch x.Operator {
		case "&&", "and", "||", "or", "??":
			return nil, nil, false
		}
		y := *x
		return &y, []*ast.Node{&y.Left, &y.Right}, true
	case *ast.BuiltinNode:
		if f, isFn := builtinFunc(x.Name); !isFn || f.Predicate {
			return nil, nil, false
		}
		y := *x
		y.Arguments = append([]ast.Node(nil), x.Arguments...)
		kids := make([]*ast.Node, len(y.Arguments))
		for i := range y.Arguments {
			kids[i] = &y.Arguments[i]
		}
		return &y, kids, true
	case *ast.CallNode:
		y := *x
		y.Arguments = append([]ast.Node(nil), x.Arguments...)
		var kids []*ast.Node
		if m, isMember := x.Callee.(*ast.MemberNode); isMember && !m.Optional {
			mm := *m
			y.Callee = &mm
			kids = append(kids, &mm.Node)
		}
		for i := range y.Arguments {
			kids = append(kids, &y.Arguments[i])
		}
		return &y, kids, true
	case *ast.MemberNode:
		if x.Optional {
			return nil, nil, false
		}
		y := *x
		return &y, []*ast.Node{&y.Node, &y.Property}, true
	case *ast.SliceNode:
		y := *x
		kids := []*ast.Node{&y.Node}
		if y.From != nil {
			kids = append(kids, &y.From)
		}
		if y.To != nil {
			kids = append(kids, &y.To)
		}
		return &y, kids, true
	}
	return nil, nil, false
}

func builtinFunc(name string) (*builtin.Function, bool) {
	id, ok := builtin.Index[name]
	if !ok {
		return nil, false
	}
	return builtin.Builtins[id], true
}

// fallback evaluates n on expr's VM row by row. Its strict children with
// kernels are computed first and given to it as variables.
func (c *vcompiler) fallback(n ast.Node) vnode {
	fb := &vmNode{kind: c.nodeKind(n)}
	if fb.kind == vNil {
		fb.kind = vAny
	}
	tree := n
	extra := map[string]any{}
	if clone, kids, ok := strictChildren(n); ok {
		for _, k := range kids {
			child := *k
			switch child.(type) {
			case *ast.IdentifierNode, *ast.IntegerNode, *ast.FloatNode, *ast.StringNode, *ast.BoolNode, *ast.NilNode, *ast.ConstantNode:
				continue // the VM loads these as cheaply as a variable
			}
			if c.nodeKind(child) == vNil {
				continue
			}
			kn := c.compile(child)
			name := fmt.Sprintf("\x00%d", len(fb.holes))
			id := &ast.IdentifierNode{Value: name}
			id.SetNature(*child.Nature())
			*k = id
			fb.holes = append(fb.holes, vmHole{name: name, node: kn})
			extra[name] = reflect.Zero(child.Type()).Interface()
		}
		tree = clone
	}
	prog, err := c.compileTree(tree, extra)
	if err != nil {
		panic(err)
	}
	fb.prog = prog
	fb.slots = c.slotsOf(tree)
	c.vp.Fallbacks = append(c.vp.Fallbacks, n.String())
	return fb
}

// slotsOf returns the variables a subtree reads.
func (c *vcompiler) slotsOf(n ast.Node) []int {
	var out []int
	seen := map[int]bool{}
	for _, name := range ExprIdents(n) {
		if name == "$env" {
			out = out[:0]
			for _, s := range c.env.byName {
				out = append(out, s)
			}
			return out
		}
		if s, ok := c.env.byName[name]; ok && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// constNode is a value known when the expression is compiled.
type constNode struct {
	id      int
	kind    vkind
	iv      int64
	fv      float64
	bv      bool
	sv      string
	tv      time.Time
	av      any
	failAll bool // evaluating it fails
}

func (k *constNode) outKind() vkind { return k.kind }

// setValue stores v, reporting false when it is not of a kind with kernels.
func (k *constNode) setValue(v any) bool {
	switch x := v.(type) {
	case nil:
		k.kind = vNil
	case int:
		k.kind, k.iv = vInt, int64(x)
	case float64:
		k.kind, k.fv = vFloat, x
	case bool:
		k.kind, k.bv = vBool, x
	case string:
		k.kind, k.sv = vStr, x
	case time.Time:
		if x.Location() != time.UTC {
			return false
		}
		k.kind, k.tv = vTime, x
	default:
		return false
	}
	return true
}

// box returns the constant as the VM sees it.
func (k *constNode) box() any {
	switch k.kind {
	case vInt:
		return int(k.iv)
	case vFloat:
		return k.fv
	case vBool:
		return k.bv
	case vStr:
		return k.sv
	case vTime:
		return k.tv
	}
	return nil
}
