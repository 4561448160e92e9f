package kernel

// Expression support shared by Filter's `expr:` and Transformer's `derive:`,
// built on github.com/expr-lang/expr.
//
// An expression sees the columns of the row as variables: int64 columns as
// int, float64 as float64, bool as bool, string as string, dates and
// timestamps as time.Time (UTC). It is compiled and type-checked once, at
// Plan, against the column types. It is sandboxed: the only variables are
// the row's columns, there are no custom functions, `date()` parses in UTC,
// and the expression may have at most ExprMaxNodes nodes (the VM also keeps
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

// ExprMaxNodes caps the size of an expression's syntax tree.
const ExprMaxNodes = 2000

var TimeType = reflect.TypeFor[time.Time]()

// ExprZero returns the value standing for a column of type t when an
// expression is type-checked.
func ExprZero(t arrow.DataType) any {
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

// ExprEnv is the set of variables an expression may use, in column order
// (for messages), with their check-time values.
type ExprEnv struct {
	names []string
	types map[string]any
}

func NewExprEnv(s *arrow.Schema) *ExprEnv {
	e := &ExprEnv{types: map[string]any{}}
	for _, f := range s.Fields() {
		e.Set(f.Name, ExprZero(f.Type))
	}
	return e
}

func (e *ExprEnv) Set(name string, zero any) {
	if _, ok := e.types[name]; !ok {
		e.names = append(e.names, name)
	}
	e.types[name] = zero
}

// ExprProgram is a compiled expression.
type ExprProgram struct {
	Src     string
	Program *vm.Program
	Refs    []string     // the columns it refers to, sorted
	Type    reflect.Type // its static result type (nil when unknown)
}

// CompileExpr compiles src against env. An unknown name is reported as
// openstage.FieldIndex reports a missing column.
func CompileExpr(src string, env *ExprEnv, extra ...expr.Option) (*ExprProgram, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("expression is empty")
	}
	opts := append([]expr.Option{expr.Env(env.types), expr.Timezone("UTC"), expr.MaxNodes(ExprMaxNodes)}, extra...)
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, ExprError(err, env.names)
	}
	p := &ExprProgram{Src: src, Program: prog, Type: prog.Node().Type()}
	if p.Type != nil && p.Type.Kind() == reflect.Interface {
		p.Type = nil
	}
	seen := map[string]bool{}
	idents := ExprIdents(prog.Node())
	for _, name := range idents {
		if name == "$env" { // the whole row: every column is used
			idents = env.names
			break
		}
	}
	for _, name := range idents {
		if _, isCol := env.types[name]; isCol && !seen[name] {
			seen[name] = true
			p.Refs = append(p.Refs, name)
		}
	}
	sort.Strings(p.Refs)
	return p, nil
}

// ExprError turns an expr compile or run error into one line.
func ExprError(err error, names []string) error {
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

type IdentVisitor struct{ names []string }

func (v *IdentVisitor) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok {
		v.names = append(v.names, id.Value)
	}
}

// ExprIdents returns the identifiers an expression tree uses.
func ExprIdents(n ast.Node) []string {
	v := &IdentVisitor{}
	ast.Walk(&n, v)
	return v.names
}

// ParseIdents parses src (without type checking) and returns its identifiers.
func ParseIdents(src string) ([]string, error) {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, ExprError(err, nil)
	}
	return ExprIdents(tree.Node), nil
}

// ExprArrowType maps the static type of an expression to a column type.
func ExprArrowType(t reflect.Type) (arrow.DataType, bool) {
	if t == nil {
		return nil, false
	}
	if t == TimeType {
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

// ExprReader returns value i of arr as an expression sees it (nil for null).
func ExprReader(arr arrow.Array) func(i int) any {
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

// ExprRow evaluates compiled expressions over the rows of one batch. It is
// used by one goroutine at a time.
type ExprRow struct {
	env     map[string]any
	vm      vm.VM
	names   []string
	readers []func(int) any
}

func NewExprRow(rec arrow.RecordBatch, refs []string) *ExprRow {
	r := &ExprRow{env: make(map[string]any, len(refs))}
	s := rec.Schema()
	for _, name := range refs {
		if idx := s.FieldIndices(name); len(idx) > 0 {
			r.names = append(r.names, name)
			r.readers = append(r.readers, ExprReader(rec.Column(idx[0])))
		}
	}
	return r
}

// Set sets variable name of the loaded row (a derived column that later
// expressions read).
func (r *ExprRow) Set(name string, v any) { r.env[name] = v }

// Load sets the variables of row i.
func (r *ExprRow) Load(i int) {
	for k, read := range r.readers {
		r.env[r.names[k]] = read(i)
	}
}

// eval runs p on the loaded row. A failure with a null among p's columns
// gives (nil, nil): see the package comment on nulls.
func (r *ExprRow) Eval(p *ExprProgram) (any, error) {
	v, err := r.vm.Run(p.Program, r.env)
	if err != nil {
		for _, name := range p.Refs {
			if r.env[name] == nil {
				return nil, nil
			}
		}
		return nil, ExprError(err, nil)
	}
	return v, nil
}

// describe formats the values of p's columns in the loaded row, to identify
// a row in an error message.
func (r *ExprRow) Describe(p *ExprProgram) string {
	parts := make([]string, 0, len(p.Refs))
	for _, name := range p.Refs {
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
