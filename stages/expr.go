package stages

// Expression support shared by Filter's `expr:` and Transformer's `derive:`,
// built on github.com/expr-lang/expr.
//
// An expression sees the columns of the row as variables: int64 columns as
// int, float64 as float64, bool as bool, string as string, dates and
// timestamps as time.Time (UTC). It is compiled and type-checked once, at
// Plan, against the column types. It is sandboxed: the only variables are
// the row's columns, there are no custom functions, `date()` parses in UTC,
// and the expression may have at most kExprMaxNodes nodes (the VM also keeps
// expr's default memory budget per evaluation).
//
// Nulls: a null value is passed as nil. `x == nil`, `x != nil` and `x ?? d`
// handle nulls explicitly. Any other operation on nil fails inside expr
// (`nil > 5`, `nil + 1`, `upper(nil)`); when an evaluation fails and one of
// the columns the expression refers to is null in that row, the result is
// null instead of an error — SQL's "null in, null out". A Filter keeps no row
// whose expression is null; a derived column is null. An evaluation that
// fails on a row without nulls is a real error.

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/open-stage/openstage"
)

// kExprMaxNodes caps the size of an expression's syntax tree.
const kExprMaxNodes = 2000

var kTimeType = reflect.TypeFor[time.Time]()

// kExprZero returns the value standing for a column of type t when an
// expression is type-checked.
func kExprZero(t arrow.DataType) any {
	switch t.ID() {
	case arrow.INT64:
		return int(0)
	case arrow.FLOAT64:
		return float64(0)
	case arrow.BOOL:
		return false
	case arrow.STRING:
		return ""
	case arrow.DATE32, arrow.TIMESTAMP:
		return time.Time{}
	}
	return nil // unknown: the checker lets anything through
}

// kExprEnv is the set of variables an expression may use, in column order
// (for messages), with their check-time values.
type kExprEnv struct {
	names []string
	types map[string]any
}

func kNewExprEnv(s *arrow.Schema) *kExprEnv {
	e := &kExprEnv{types: map[string]any{}}
	for _, f := range s.Fields() {
		e.set(f.Name, kExprZero(f.Type))
	}
	return e
}

func (e *kExprEnv) set(name string, zero any) {
	if _, ok := e.types[name]; !ok {
		e.names = append(e.names, name)
	}
	e.types[name] = zero
}

// kExprProgram is a compiled expression.
type kExprProgram struct {
	src  string
	prog *vm.Program
	refs []string     // the columns it refers to, sorted
	typ  reflect.Type // its static result type (nil when unknown)
}

// kCompileExpr compiles src against env. An unknown name is reported as
// openstage.FieldIndex reports a missing column.
func kCompileExpr(src string, env *kExprEnv, extra ...expr.Option) (*kExprProgram, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("expression is empty")
	}
	opts := append([]expr.Option{expr.Env(env.types), expr.Timezone("UTC"), expr.MaxNodes(kExprMaxNodes)}, extra...)
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, kExprError(err, env.names)
	}
	p := &kExprProgram{src: src, prog: prog, typ: prog.Node().Type()}
	if p.typ != nil && p.typ.Kind() == reflect.Interface {
		p.typ = nil
	}
	seen := map[string]bool{}
	idents := kExprIdents(prog.Node())
	for _, name := range idents {
		if name == "$env" { // the whole row: every column is used
			idents = env.names
			break
		}
	}
	for _, name := range idents {
		if _, isCol := env.types[name]; isCol && !seen[name] {
			seen[name] = true
			p.refs = append(p.refs, name)
		}
	}
	sort.Strings(p.refs)
	return p, nil
}

// kExprError turns an expr compile or run error into one line.
func kExprError(err error, names []string) error {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return err
	}
	if name, ok := strings.CutPrefix(fe.Message, "unknown name "); ok && !strings.ContainsAny(name, " (") {
		fields := make([]arrow.Field, len(names))
		for i, n := range names {
			fields[i] = arrow.Field{Name: n, Type: arrow.Null}
		}
		if _, ferr := openstage.FieldIndex(arrow.NewSchema(fields, nil), name); ferr != nil {
			return ferr
		}
	}
	if fe.Snippet == "" {
		return errors.New(fe.Message)
	}
	return fmt.Errorf("%s (at character %d)", fe.Message, fe.Column+1)
}

type kIdentVisitor struct{ names []string }

func (v *kIdentVisitor) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok {
		v.names = append(v.names, id.Value)
	}
}

// kExprIdents returns the identifiers an expression tree uses.
func kExprIdents(n ast.Node) []string {
	v := &kIdentVisitor{}
	ast.Walk(&n, v)
	return v.names
}

// kParseIdents parses src (without type checking) and returns its identifiers.
func kParseIdents(src string) ([]string, error) {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, kExprError(err, nil)
	}
	return kExprIdents(tree.Node), nil
}

// kExprArrowType maps the static type of an expression to a column type.
func kExprArrowType(t reflect.Type) (arrow.DataType, bool) {
	if t == nil {
		return nil, false
	}
	if t == kTimeType {
		return openstage.Timestamp, true
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return openstage.Int64, true
	case reflect.Float32, reflect.Float64:
		return openstage.Float64, true
	case reflect.Bool:
		return openstage.Bool, true
	case reflect.String:
		return openstage.String, true
	}
	return nil, false
}

// kExprReader returns value i of arr as an expression sees it (nil for null).
func kExprReader(arr arrow.Array) func(i int) any {
	switch a := arr.(type) {
	case *array.Int64:
		return func(i int) any {
			if a.IsNull(i) {
				return nil
			}
			return int(a.Value(i))
		}
	case *array.Float64:
		return func(i int) any {
			if a.IsNull(i) {
				return nil
			}
			return a.Value(i)
		}
	case *array.Boolean:
		return func(i int) any {
			if a.IsNull(i) {
				return nil
			}
			return a.Value(i)
		}
	case *array.String:
		return func(i int) any {
			if a.IsNull(i) {
				return nil
			}
			return a.Value(i)
		}
	case *array.Date32:
		return func(i int) any {
			if a.IsNull(i) {
				return nil
			}
			return a.Value(i).ToTime()
		}
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return func(i int) any {
			if a.IsNull(i) {
				return nil
			}
			return a.Value(i).ToTime(unit).UTC()
		}
	}
	return func(i int) any {
		if arr.IsNull(i) {
			return nil
		}
		return arr.ValueStr(i)
	}
}

// kExprRow evaluates compiled expressions over the rows of one batch. It is
// used by one goroutine at a time.
type kExprRow struct {
	env     map[string]any
	vm      vm.VM
	names   []string
	readers []func(int) any
}

func kNewExprRow(rec arrow.RecordBatch, refs []string) *kExprRow {
	r := &kExprRow{env: make(map[string]any, len(refs))}
	s := rec.Schema()
	for _, name := range refs {
		if idx := s.FieldIndices(name); len(idx) > 0 {
			r.names = append(r.names, name)
			r.readers = append(r.readers, kExprReader(rec.Column(idx[0])))
		}
	}
	return r
}

// load sets the variables of row i.
func (r *kExprRow) load(i int) {
	for k, read := range r.readers {
		r.env[r.names[k]] = read(i)
	}
}

// eval runs p on the loaded row. A failure with a null among p's columns
// gives (nil, nil): see the package comment on nulls.
func (r *kExprRow) eval(p *kExprProgram) (any, error) {
	v, err := r.vm.Run(p.prog, r.env)
	if err != nil {
		for _, name := range p.refs {
			if r.env[name] == nil {
				return nil, nil
			}
		}
		return nil, kExprError(err, nil)
	}
	return v, nil
}

// describe formats the values of p's columns in the loaded row, to identify
// a row in an error message.
func (r *kExprRow) describe(p *kExprProgram) string {
	parts := make([]string, 0, len(p.refs))
	for _, name := range p.refs {
		v := r.env[name]
		switch x := v.(type) {
		case nil:
			parts = append(parts, name+"=null")
		case string:
			parts = append(parts, fmt.Sprintf("%s=%q", name, x))
		case time.Time:
			parts = append(parts, name+"="+x.Format(time.RFC3339Nano))
		default:
			parts = append(parts, fmt.Sprintf("%s=%v", name, x))
		}
	}
	return strings.Join(parts, ", ")
}
