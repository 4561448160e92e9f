package stages

// Transformer derive: decoding and ordering derivations, compiling them
// at Plan, and evaluating them on a batch.

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/expr-lang/expr/ast"
	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
)

// Derivation is one derived column of a Transformer: a new or replaced
// column computed by an expression. Type, when set (int64, float64, bool,
// string, date, timestamp), fixes the column type instead of inferring it.
type Derivation struct {
	Column string
	Expr   string
	Type   string
}

// Derivations is the derive parameter of a Transformer. In Go it is an
// ordered list. In a job file it is either a mapping
//
//	derive:
//	  category: 'amount > 1000 ? "high" : "low"'
//	  net: {expr: 'amount / 1.21', type: float64}
//
// or a list of one-entry mappings, evaluated in list order:
//
//	derive:
//	  - net: 'amount / 1.21'
//	  - tax: 'amount - net'
//
// YAML mappings have no order, so in the mapping form a derivation that
// names another derived column is evaluated after it (and sees its new
// value); a derivation naming its own column sees the input value; other
// ties are broken by name. Derivations that refer to each other in a cycle
// are an error: use the list form to give the order.
type Derivations []Derivation

// ParamType implements openstage.ParamTyper.
func (Derivations) ParamType() string {
	return "mapping of column to expression, or list of one-entry mappings"
}

// DecodeParam implements openstage.ParamDecoder.
func (d *Derivations) DecodeParam(v any) error {
	switch x := v.(type) {
	case map[string]any:
		list := make(Derivations, 0, len(x))
		for _, col := range trSortedKeys(x) {
			dv, err := trDecodeOne(col, x[col])
			if err != nil {
				return err
			}
			list = append(list, dv)
		}
		ordered, err := trDependencyOrder(list)
		if err != nil {
			return err
		}
		*d = ordered
		return nil
	case []any:
		list := make(Derivations, 0, len(x))
		for i, item := range x {
			m, ok := item.(map[string]any)
			if !ok || len(m) != 1 {
				return fmt.Errorf("item %d must be a one-entry mapping such as {category: 'amount > 1000'}, got %s", i+1, openstage.ValueKind(item))
			}
			for col, e := range m {
				dv, err := trDecodeOne(col, e)
				if err != nil {
					return fmt.Errorf("item %d: %w", i+1, err)
				}
				list = append(list, dv)
			}
		}
		*d = list
		return nil
	}
	return fmt.Errorf("must be a mapping of column to expression, or a list of one-entry mappings, got %s", openstage.ValueKind(v))
}

func trSortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func trDecodeOne(col string, v any) (Derivation, error) {
	switch x := v.(type) {
	case string:
		return Derivation{Column: col, Expr: x}, nil
	case map[string]any:
		d := Derivation{Column: col}
		for k, val := range x {
			s, ok := val.(string)
			if !ok {
				return d, fmt.Errorf("'%s': %s must be a string, got %s", col, k, openstage.ValueKind(val))
			}
			switch k {
			case "expr":
				d.Expr = s
			case "type":
				d.Type = s
			default:
				return d, fmt.Errorf("'%s': unknown key '%s'; use expr and type", col, k)
			}
		}
		if d.Expr == "" {
			return d, fmt.Errorf("'%s': missing expr", col)
		}
		return d, nil
	case bool, int64, int, float64:
		// A constant such as `flag: true` or `rate: 0.21`: its YAML text is
		// a valid expression.
		return Derivation{Column: col, Expr: fmt.Sprint(x)}, nil
	}
	return Derivation{}, fmt.Errorf("'%s' must be an expression string or {expr, type}, got %s", col, openstage.ValueKind(v))
}

// trDependencyOrder orders derivations so that each comes after the other
// derivations it names (Kahn's algorithm; ties by name).
func trDependencyOrder(list Derivations) (Derivations, error) {
	byName := map[string]int{}
	for i, d := range list {
		byName[d.Column] = i
	}
	deps := make([]map[int]bool, len(list))
	users := make([][]int, len(list))
	for i, d := range list {
		deps[i] = map[int]bool{}
		idents, err := kernel.ParseIdents(d.Expr)
		if err != nil {
			return nil, fmt.Errorf("'%s': %w", d.Column, err)
		}
		for _, id := range idents {
			if j, ok := byName[id]; ok && j != i && !deps[i][j] {
				deps[i][j] = true
				users[j] = append(users[j], i)
			}
		}
	}
	var out Derivations
	done := make([]bool, len(list))
	for len(out) < len(list) {
		progress := false
		for i := range list { // list is sorted by name: ties go by name
			if done[i] || len(deps[i]) > 0 {
				continue
			}
			done[i], progress = true, true
			out = append(out, list[i])
			for _, u := range users[i] {
				delete(deps[u], i)
			}
			break
		}
		if !progress {
			var cyc []string
			for i, d := range list {
				if !done[i] {
					cyc = append(cyc, "'"+d.Column+"'")
				}
			}
			return nil, fmt.Errorf("derivations %s refer to each other; write derive as a list (- column: expr) to set their order", strings.Join(cyc, ", "))
		}
	}
	return out, nil
}

// trDerived is a planned derivation.
type trDerived struct {
	name   string
	prog   *kernel.ExprProgram
	vprog  *kernel.VProgram
	slot   int // the derived column's variable in t.venv
	typ    arrow.DataType
	outIdx int
}

func (t *Transformer) planDerive(in *arrow.Schema) (*arrow.Schema, error) {
	venv := kernel.NewVEnv(in)
	env := venv.ExprEnv()
	t.rowOnly = false
	types := map[string]arrow.DataType{}
	fields := append([]arrow.Field{}, in.Fields()...)
	pos := map[string]int{}
	for i, f := range fields {
		types[f.Name] = f.Type
		pos[f.Name] = i
	}
	seen := map[string]bool{}
	refs := map[string]bool{}
	for _, d := range t.Derive {
		if d.Column == "" {
			return nil, errors.New("derive: a derivation has no column name")
		}
		if seen[d.Column] {
			return nil, fmt.Errorf("derive '%s': the column is derived twice", d.Column)
		}
		seen[d.Column] = true
		prog, err := kernel.CompileExpr(d.Expr, env)
		if err != nil {
			return nil, fmt.Errorf("derive '%s': %w", d.Column, err)
		}
		var dt arrow.DataType
		if d.Type != "" {
			if dt, err = openstage.ParseType(d.Type); err != nil {
				return nil, fmt.Errorf("derive '%s': %w", d.Column, err)
			}
		} else if id, ok := prog.Program.Node().(*ast.IdentifierNode); ok && types[id.Value] != nil && types[id.Value].ID() == arrow.DATE32 {
			dt = openstage.Date // a copy of a date column stays a date
		} else if dt, ok = kernel.ExprArrowType(prog.Type); !ok {
			what := "cannot be known before the data is seen"
			if prog.Type != nil {
				what = "is " + prog.Type.String()
			}
			return nil, fmt.Errorf("derive '%s': the type of %q %s; set it with {expr: ..., type: int64|float64|bool|string|date|timestamp} or convert with int(), float() or string()", d.Column, d.Expr, what)
		}
		vprog := kernel.CompileVector(prog, venv)
		t.rowOnly = t.rowOnly || vprog.UsesEnv
		slot := venv.Define(d.Column, dt)
		types[d.Column] = dt
		f := arrow.Field{Name: d.Column, Type: dt, Nullable: true}
		idx, ok := pos[d.Column]
		if ok {
			fields[idx] = f
		} else {
			idx = len(fields)
			pos[d.Column] = idx
			fields = append(fields, f)
		}
		for _, r := range prog.Refs {
			refs[r] = true
		}
		t.derived = append(t.derived, trDerived{name: d.Column, prog: prog, vprog: vprog, slot: slot, typ: dt, outIdx: idx})
	}
	t.states = &sync.Pool{New: func() any { return venv.NewState() }}
	for r := range refs {
		t.rowRefs = append(t.rowRefs, r)
	}
	sort.Strings(t.rowRefs)
	return arrow.NewSchema(fields, nil), nil
}

// Explain says how each derivation runs (openstage validate --verbose).
func (t *Transformer) Explain() []string {
	var out []string
	for _, d := range t.derived {
		how := d.vprog.Explain()
		if t.rowOnly {
			how = "row by row (a derivation reads $env)"
		}
		out = append(out, fmt.Sprintf("derive '%s' (%s): %s", d.name, d.prog.Src, how))
	}
	return out
}

// deriveBatch evaluates the derivations on the whole batch with the column
// kernels, one derivation after the other. The rows where the kernels find
// an error are evaluated again by the row evaluator, which words the error
// (and, the kernels matching it, fails on the same rows); if the kernels
// give up on the batch, the row evaluator does all of it.
func (t *Transformer) deriveBatch(rec arrow.RecordBatch, offset int64, alloc memory.Allocator) (good, bad arrow.RecordBatch, err error) {
	if t.rowOnly {
		return t.deriveRows(rec, offset, alloc)
	}
	n := int(rec.NumRows())
	progs := make([]*kernel.VProgram, len(t.derived))
	dts := make([]arrow.DataType, len(t.derived))
	slots := make([]int, len(t.derived))
	for k, d := range t.derived {
		progs[k], dts[k], slots[k] = d.vprog, d.typ, d.slot
	}
	st := t.states.Get().(*kernel.VState)
	derived, failed, ok := kernel.DeriveBatch(st, rec, alloc, progs, dts, slots)
	t.states.Put(st)
	if !ok {
		return t.deriveRows(rec, offset, alloc)
	}
	defer func() {
		for _, a := range derived {
			a.Release()
		}
	}()
	var rej trRejects
	kept := make([]int32, 0, n)
	if failed != nil {
		row := kernel.NewExprRow(rec, t.rowRefs)
		vals := make([]any, len(t.derived))
		for i := range n {
			if !failed[i] {
				kept = append(kept, int32(i))
				continue
			}
			if err := t.deriveRow(row, i, vals); err == nil {
				return t.deriveRows(rec, offset, alloc) // cannot happen: the kernels match the row evaluator
			} else if ferr := t.fail(&rej, offset, i, err); ferr != nil {
				return nil, nil, ferr
			}
		}
	}
	bad = rej.batch(alloc, rec)
	if n == 0 || failed != nil && len(kept) == 0 {
		return nil, bad, nil
	}
	cols := make([]arrow.Array, len(t.out.Fields()))
	defer releaseArrays(cols)
	all := failed == nil || len(kept) == n
	for k, d := range t.derived {
		if all {
			derived[k].Retain()
			cols[d.outIdx] = derived[k]
		} else {
			cols[d.outIdx] = openstage.TakeArray(alloc, derived[k], kept)
		}
	}
	t.passThrough(rec, cols, kept, all, alloc)
	rows := int64(n)
	if !all {
		rows = int64(len(kept))
	}
	return array.NewRecordBatch(t.out, cols, rows), bad, nil
}

// passThrough fills the output columns that are not derived with the input
// columns of the same names (their kept rows).
func (t *Transformer) passThrough(rec arrow.RecordBatch, cols []arrow.Array, kept []int32, all bool, alloc memory.Allocator) {
	for i := range cols {
		if cols[i] != nil {
			continue
		}
		src := rec.Column(t.in.FieldIndices(t.out.Field(i).Name)[0])
		if all {
			src.Retain()
			cols[i] = src
		} else {
			cols[i] = openstage.TakeArray(alloc, src, kept)
		}
	}
}

// deriveRow evaluates every derivation on row i with the row evaluator,
// into vals; the values are normalised for their columns.
func (t *Transformer) deriveRow(row *kernel.ExprRow, i int, vals []any) error {
	row.Load(i)
	for k, d := range t.derived {
		v, err := row.Eval(d.prog)
		if err == nil {
			v, err = openstage.NormalizeValue(d.typ, v)
		}
		if err != nil {
			return fmt.Errorf("derive '%s': %w", d.name, err)
		}
		vals[k] = v
		row.Set(d.name, trExprValue(v))
	}
	return nil
}

// deriveRows evaluates the derivations row by row.
func (t *Transformer) deriveRows(rec arrow.RecordBatch, offset int64, alloc memory.Allocator) (good, bad arrow.RecordBatch, err error) {
	n := int(rec.NumRows())
	builders := make([]array.Builder, len(t.derived))
	for i, d := range t.derived {
		builders[i] = array.NewBuilder(alloc, d.typ)
		builders[i].Reserve(n)
	}
	defer func() {
		for _, b := range builders {
			b.Release()
		}
	}()
	row := kernel.NewExprRow(rec, t.rowRefs)
	vals := make([]any, len(t.derived))
	var rej trRejects
	kept := make([]int32, 0, n)
	for i := range n {
		if err := t.deriveRow(row, i, vals); err != nil {
			if ferr := t.fail(&rej, offset, i, err); ferr != nil {
				return nil, nil, ferr
			}
			continue
		}
		for k, v := range vals {
			openstage.AppendNormalized(builders[k], v)
		}
		kept = append(kept, int32(i))
	}
	bad = rej.batch(alloc, rec)
	if len(kept) == 0 {
		return nil, bad, nil
	}
	cols := make([]arrow.Array, len(t.out.Fields()))
	defer releaseArrays(cols)
	for k, d := range t.derived {
		cols[d.outIdx] = builders[k].NewArray()
	}
	t.passThrough(rec, cols, kept, len(kept) == n, alloc)
	return array.NewRecordBatch(t.out, cols, int64(len(kept))), bad, nil
}

// trExprValue turns a normalised column value back into what expressions see.
func trExprValue(v any) any {
	switch x := v.(type) {
	case int64:
		return int(x)
	case arrow.Date32:
		return x.ToTime()
	case arrow.Timestamp:
		return x.ToTime(arrow.Microsecond).UTC()
	}
	return v
}

// releaseArrays releases the arrays of cols that are set.
func releaseArrays(cols []arrow.Array) {
	for _, c := range cols {
		if c != nil {
			c.Release()
		}
	}
}
