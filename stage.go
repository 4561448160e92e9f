package openstage

import (
	"context"
	"fmt"
	"reflect"
)

// Position is where something was declared in a job file. The zero Position
// means it was built in Go code.
type Position struct {
	File string
	Line int
}

func (p Position) String() string {
	if p.File == "" {
		return ""
	}
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// A Pipe is a named, one-way connection from one stage to another.
type Pipe struct {
	name     string
	from, to *Stage
	pos      Position
	refused  []*Stage // stages that refused a connection, kept so validation finds them
}

// NewPipe returns an unconnected pipe.
func NewPipe(name string) *Pipe { return &Pipe{name: name} }

// Name returns the pipe's name.
func (p *Pipe) Name() string { return p.name }

// Origin returns the stage the pipe comes from (nil if unconnected).
func (p *Pipe) Origin() *Stage { return p.from }

// Destination returns the stage the pipe goes to (nil if unconnected).
func (p *Pipe) Destination() *Stage { return p.to }

// SetPosition records where the pipe was declared, for error messages.
func (p *Pipe) SetPosition(pos Position) *Pipe { p.pos = pos; return p }

// SetDestination connects the pipe to the input side of s and returns s, so
// that connections chain:
//
//	reader.AddOutputPipe(p1).SetDestination(filter).AddOutputPipe(p2).SetDestination(writer)
//
// A connection the component does not allow (a second input of a Filter, an
// input of an Origin) is recorded on the stage and reported by Validate and Run.
func (p *Pipe) SetDestination(s *Stage) *Stage {
	s.AddInputPipe(p)
	return s
}

// A Stage is a named component placed in a job: an Origin, a Node or a
// Destination, with its pipes.
type Stage struct {
	name    string
	typ     string
	comp    any
	conn    Connectivity
	inputs  []*Pipe
	outputs []*Pipe
	errs    []error
	pos     Position
	invalid bool // MarkInvalid
}

// MarkInvalid records that the stage's definition has problems reported
// elsewhere (a job file's unknown type or parameter): Validate neither
// checks nor plans it, nor the stages downstream of it, and says nothing
// more about it, while it still finds every other problem of the job.
func (s *Stage) MarkInvalid() *Stage {
	s.invalid = true
	return s
}

// Kind is the role of a component.
type Kind int

// The kinds of component.
const (
	KindOrigin Kind = iota
	KindNode
	KindDestination
)

func (k Kind) String() string {
	return [...]string{"origin", "node", "destination"}[k]
}

// NewStage places component c in a job under name. c must implement Origin,
// Node or Destination. Its fields are used as they are; New also applies the
// defaults of the component's declared parameters.
func NewStage(name string, c any) *Stage {
	s := &Stage{name: name, comp: c, typ: typeName(c)}
	switch c.(type) {
	case Origin:
		s.conn = Connectivity{0, 0, 1, -1}
	case Node:
		s.conn = Connectivity{1, -1, 1, -1}
	case Destination:
		s.conn = Connectivity{1, -1, 0, 0}
	default:
		s.errs = append(s.errs, fmt.Errorf("%T implements none of Origin, Node, Destination", c))
	}
	if cc, ok := c.(interface{ Connectivity() Connectivity }); ok {
		s.conn = cc.Connectivity()
	}
	return s
}

// New returns a stage for a fresh component of type *C with the declared
// defaults of its parameters applied, then each configure function:
//
//	reader := openstage.New("reader", func(c *csvio.CSVOrigin) { c.Path = openstage.Strings{"data.csv"} })
func New[C any, P interface{ *C }](name string, configure ...func(P)) *Stage {
	c := P(new(C))
	if err := ApplyDefaults(c); err != nil {
		s := NewStage(name, c)
		s.errs = append(s.errs, err)
		return s
	}
	for _, f := range configure {
		f(c)
	}
	return NewStage(name, c)
}

func typeName(c any) string {
	if spec, ok := defaultRegistry.specByGoType(reflect.TypeOf(c)); ok {
		return spec.Type
	}
	t := reflect.TypeOf(c)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "<nil>"
	}
	return t.Name()
}

// Name returns the stage's name.
func (s *Stage) Name() string { return s.name }

// Type returns the component type name (Filter, CSVOrigin, ...).
func (s *Stage) Type() string { return s.typ }

// Component returns the component the stage runs.
func (s *Stage) Component() any { return s.comp }

// Kind returns whether the stage is an origin, a node or a destination.
func (s *Stage) Kind() Kind {
	switch s.comp.(type) {
	case Origin:
		return KindOrigin
	case Destination:
		return KindDestination
	}
	return KindNode
}

// Inputs returns the input pipes in connection order.
func (s *Stage) Inputs() []*Pipe { return s.inputs }

// Outputs returns the output pipes in connection order.
func (s *Stage) Outputs() []*Pipe { return s.outputs }

// Position returns where the stage was declared in a job file.
func (s *Stage) Position() Position { return s.pos }

// SetPosition records where the stage was declared, for error messages.
func (s *Stage) SetPosition(pos Position) *Stage { s.pos = pos; return s }

// String returns the stage as messages name it: Filter 'adults'.
func (s *Stage) String() string { return fmt.Sprintf("%s '%s'", s.typ, s.name) }

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// AddOutputPipe connects p to the output side of s and returns p.
func (s *Stage) AddOutputPipe(p *Pipe) *Pipe {
	switch {
	case p.from != nil && p.from != s:
		s.errs = append(s.errs, fmt.Errorf("pipe '%s' already comes from %s; a pipe has one origin", p.name, p.from))
	case s.conn.MaxOut == 0:
		s.errs = append(s.errs, fmt.Errorf("cannot have outputs (it is a %s); pipe '%s' cannot start here", s.Kind(), p.name))
		p.refused = append(p.refused, s)
	case s.conn.MaxOut > 0 && len(s.outputs) >= s.conn.MaxOut:
		s.errs = append(s.errs, fmt.Errorf("can only have %s; pipe '%s' would be output %d", plural(s.conn.MaxOut, "output"), p.name, len(s.outputs)+1))
		p.refused = append(p.refused, s)
	case p.from == s:
		// already connected: nothing to do
	default:
		p.from = s
		s.outputs = append(s.outputs, p)
	}
	return p
}

// AddInputPipe connects p to the input side of s and returns p.
func (s *Stage) AddInputPipe(p *Pipe) *Pipe {
	switch {
	case p.to != nil && p.to != s:
		s.errs = append(s.errs, fmt.Errorf("pipe '%s' already goes to %s; use a Copy stage to send the same rows to several stages", p.name, p.to))
	case s.conn.MaxIn == 0:
		s.errs = append(s.errs, fmt.Errorf("cannot have inputs (it is an %s); pipe '%s' cannot end here", s.Kind(), p.name))
		p.refused = append(p.refused, s)
	case s.conn.MaxIn > 0 && len(s.inputs) >= s.conn.MaxIn:
		s.errs = append(s.errs, fmt.Errorf("can only have %s; pipe '%s' would be input %d", plural(s.conn.MaxIn, "input"), p.name, len(s.inputs)+1))
		p.refused = append(p.refused, s)
	case p.to == s:
	default:
		p.to = s
		s.inputs = append(s.inputs, p)
	}
	return p
}

// Pump runs the job made of every stage connected to s, directly or not, once
// (the seed's origin.pump()). It is NewJob(s.Name(), s).Run(ctx).
func (s *Stage) Pump(ctx context.Context) error {
	return NewJob(s.name, s).Run(ctx)
}
