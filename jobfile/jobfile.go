// Package jobfile loads Open-Stage jobs from YAML job files:
//
//	name: high_value_orders
//	params:                      # job parameters; `--param min_amount=500` overrides
//	  min_amount: 1000
//	stages:
//	  - name: orders_reader
//	    type: CSVOrigin          # the component type name
//	    path: data/orders.csv    # relative paths resolve against the job file's folder
//	  - name: high_value
//	    type: Filter
//	    field: total_amount
//	    condition: ">"
//	    value: ${min_amount}     # ${name} = job parameter, ${env:NAME} = environment variable
//	  - name: writer
//	    type: CSVDestination
//	    path: out/high_value.csv
//	pipes:
//	  - {name: orders_to_filter, from: orders_reader, to: high_value}
//	  - {name: filtered_to_writer, from: high_value, to: writer}
//
// A value that is only a reference (`${min_amount}`) keeps the parameter's
// type; a reference inside a longer string is replaced by its text. `$${`
// writes a literal `${`. Every problem is reported with the file and line.
// Component types are looked up in Options.Registry, by default
// openstage.DefaultRegistry(), which holds the components of every package
// imported (import components/all for all of them).
package jobfile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/open-stage/openstage"
)

// Options change how a job file is read.
type Options struct {
	// Params override the job's declared parameters (from --param k=v). The
	// text is read as a YAML scalar, so 500 is a number and true a bool.
	Params map[string]string
	// LookupEnv resolves ${env:NAME}; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// ParamSet chooses one of the job file's parameter sets (`param_sets:`,
	// the CLI's --param-set) to apply over the declared parameters.
	ParamSet string
	// ParamFile is a YAML file of parameter values (name: value), applied
	// over the parameter set; Params apply over it (the CLI's --param-file).
	ParamFile string
	// Registry holds the component types the file may use; nil means
	// openstage.DefaultRegistry(). The job built uses it too.
	Registry *openstage.Registry
}

func (o Options) registry() *openstage.Registry {
	if o.Registry != nil {
		return o.Registry
	}
	return openstage.DefaultRegistry()
}

// File is a loaded job file.
type File struct {
	Path        string
	Name        string
	Description string
	Params      map[string]any // every job parameter's value, overrides applied
	Job         *openstage.Job

	paramSets    []string
	secretParams map[string]bool
}

// Load reads, checks and builds the job in the file at path. It returns a
// *openstage.ValidationError listing every problem found in the file. The
// job's stages are not planned yet: call Job.Validate or Job.Run.
//
// When the file is valid YAML but has problems, Load returns them together
// with a File whose Job holds every stage and pipe, the stages with
// problems marked invalid (Stage.MarkInvalid): Job.Validate on it finds the
// problems that only planning shows (missing files, unknown columns) in
// the rest of the job, so that a user sees every problem at once. Such a
// job must not be run. An unparsable file gives no File.
func Load(path string, opts Options) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &openstage.ValidationError{Problems: []openstage.Problem{{Pos: openstage.Position{File: path}, Err: fmt.Errorf("cannot read job file: %w", errors.Unwrap(err))}}}
	}
	return Parse(data, path, opts)
}

// Parse builds the job in data; path names the file in messages and its
// folder anchors relative paths.
func Parse(data []byte, path string, opts Options) (*File, error) {
	l := &loader{path: path, dir: filepath.Dir(path), opts: opts}
	f := l.parse(data)
	if len(l.probs) > 0 {
		return f, &openstage.ValidationError{Problems: l.probs}
	}
	return f, nil
}

type loader struct {
	path   string
	dir    string
	opts   Options
	probs  []openstage.Problem
	params map[string]*yaml.Node

	paramSets  map[string]*yaml.Node // param_sets
	setNames   []string              // in file order
	secret     bool                  // substituting into a secret parameter
	secretRefs map[string]bool       // job parameters used in secret parameters
}

func (l *loader) errorf(line int, format string, args ...any) {
	l.probs = append(l.probs, openstage.Problem{Pos: openstage.Position{File: l.path, Line: line}, Err: fmt.Errorf(format, args...)})
}

var topKeys = []string{"name", "description", "params", "param_sets", "stages", "pipes"}

func (l *loader) parse(data []byte) *File {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := yamlLine.ReplaceAllString(strings.TrimPrefix(err.Error(), "yaml: "), "")
		l.errorf(yamlErrLine(err), "invalid YAML: %s", msg)
		return nil
	}
	if len(doc.Content) == 0 {
		l.errorf(1, "the job file is empty; it needs name, stages and pipes")
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		l.errorf(root.Line, "a job file is a mapping with name, params, stages and pipes")
		return nil
	}
	l.duplicateKeys(root)
	f := &File{Path: l.path, Params: map[string]any{}}
	var stagesNode, pipesNode *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "name":
			f.Name = v.Value
		case "description":
			f.Description = v.Value
		case "params":
			l.readParams(v)
		case "param_sets":
			l.readParamSets(v)
		case "stages":
			stagesNode = v
		case "pipes":
			pipesNode = v
		default:
			l.errorf(k.Line, "unknown top-level key '%s'%s", k.Value, hint(k.Value, topKeys))
		}
	}
	if f.Name == "" {
		f.Name = strings.TrimSuffix(filepath.Base(l.path), filepath.Ext(l.path))
	}
	l.applySetAndFile()
	l.applyOverrides()
	for name, n := range l.params {
		var v any
		if err := n.Decode(&v); err == nil {
			f.Params[name] = v
		}
	}
	if stagesNode == nil {
		l.errorf(root.Line, "the job has no 'stages' list")
		return nil
	}
	stages := l.readStages(stagesNode)
	if pipesNode != nil {
		l.readPipes(pipesNode, stages)
	}
	roots := make([]*openstage.Stage, 0, len(stages))
	for _, s := range stages {
		roots = append(roots, s)
	}
	sort.Slice(roots, func(i, j int) bool { return roots[i].Position().Line < roots[j].Position().Line })
	f.paramSets, f.secretParams = l.setNames, l.secretRefs
	f.Job = openstage.NewJob(f.Name, roots...)
	f.Job.Registry = l.opts.Registry
	return f
}

func hint(name string, valid []string) string {
	if s := openstage.Suggest(name, valid); s != "" {
		return fmt.Sprintf(" (did you mean '%s'?)", s)
	}
	return "; valid keys: " + strings.Join(valid, ", ")
}

var yamlLine = regexp.MustCompile(`line (\d+): `)

func yamlErrLine(err error) int {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		var n int
		fmt.Sscan(m[1], &n)
		return n
	}
	return 0
}

func (l *loader) readParams(n *yaml.Node) {
	l.params = map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		if n.Tag != "!!null" {
			l.errorf(n.Line, "'params' must be a mapping of parameter names to values")
		}
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		l.params[n.Content[i].Value] = n.Content[i+1]
	}
}

func (l *loader) applyOverrides() {
	if l.params == nil {
		l.params = map[string]*yaml.Node{}
	}
	for _, name := range slices.Sorted(maps.Keys(l.opts.Params)) {
		text := l.opts.Params[name]
		if _, ok := l.params[name]; !ok {
			l.probs = append(l.probs, openstage.Problem{Err: fmt.Errorf("--param %s: the job declares no parameter '%s'%s", name, name, declared(l.params))})
			continue
		}
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(text), &n); err != nil || len(n.Content) == 0 || n.Content[0].Kind != yaml.ScalarNode {
			// Not a plain scalar: take the text as a string.
			l.params[name] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: text}
			continue
		}
		l.params[name] = n.Content[0]
	}
}

func declared(params map[string]*yaml.Node) string {
	if len(params) == 0 {
		return " (it declares none under 'params')"
	}
	return "; declared: " + strings.Join(slices.Sorted(maps.Keys(params)), ", ")
}

var ref = regexp.MustCompile(`\$\$\{|\$\{([^}]*)\}`)

// substitute replaces ${...} references in every scalar under n.
func (l *loader) substitute(n *yaml.Node) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			l.substitute(c)
		}
		return
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			l.substitute(n.Content[i])
		}
		return
	case yaml.AliasNode:
		return
	}
	if !strings.Contains(n.Value, "${") {
		return
	}
	// A value that is exactly one job parameter keeps the parameter's type.
	if m := ref.FindStringSubmatchIndex(n.Value); m != nil && m[0] == 0 && m[1] == len(n.Value) && m[2] >= 0 {
		name := n.Value[m[2]:m[3]]
		if !strings.HasPrefix(name, "env:") {
			if p, ok := l.lookupParam(n.Line, name); ok {
				*n = *cloneNode(p, n.Line)
			}
			return
		}
	}
	n.Value = ref.ReplaceAllStringFunc(n.Value, func(m string) string {
		if m == "$${" {
			return "${"
		}
		name := m[2 : len(m)-1]
		if env, ok := strings.CutPrefix(name, "env:"); ok {
			lookup := l.opts.LookupEnv
			if lookup == nil {
				lookup = os.LookupEnv
			}
			v, ok := lookup(env)
			if !ok {
				l.errorf(n.Line, "environment variable %s is not set (referenced as ${env:%s})", env, env)
			}
			return v
		}
		p, ok := l.lookupParam(n.Line, name)
		if !ok {
			return m
		}
		if p.Kind != yaml.ScalarNode {
			l.errorf(n.Line, "parameter '%s' is a list or mapping and cannot be placed inside a string", name)
			return m
		}
		return p.Value
	})
	n.Tag = "!!str"
	n.Style = 0
}

func (l *loader) lookupParam(line int, name string) (*yaml.Node, bool) {
	if l.secret {
		l.markSecret(name)
	}
	p, ok := l.params[name]
	if !ok {
		l.errorf(line, "unknown job parameter '%s' in ${%s}%s", name, name, declared(l.params))
	}
	return p, ok
}

func cloneNode(n *yaml.Node, line int) *yaml.Node {
	c := *n
	c.Line = line
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, ch := range n.Content {
		c.Content[i] = cloneNode(ch, line)
	}
	return &c
}

// duplicateKeys reports every key that a mapping under n holds twice.
func (l *loader) duplicateKeys(n *yaml.Node) {
	switch n.Kind {
	case yaml.MappingNode:
		first := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.ScalarNode {
				if line, dup := first[k.Value]; dup {
					l.errorf(k.Line, "key '%s' appears twice in the same mapping, at lines %d and %d; keep one", k.Value, line, k.Line)
				} else {
					first[k.Value] = k.Line
				}
			}
			l.duplicateKeys(n.Content[i+1])
		}
	case yaml.SequenceNode, yaml.DocumentNode:
		for _, c := range n.Content {
			l.duplicateKeys(c)
		}
	}
}

// invalidStage stands in a job for a stage that could not be built (an
// unknown type): it keeps the stage's pipes connected, so that they and the
// stages around it are not reported as dangling, and the engine does not
// plan it (Stage.MarkInvalid).
type invalidStage struct{ typ string }

func (*invalidStage) Plan(context.Context, *openstage.Plan) error { return errInvalid }
func (*invalidStage) Process(context.Context, *openstage.Inputs, *openstage.Outputs) error {
	return errInvalid
}
func (*invalidStage) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinIn: 0, MaxIn: -1, MinOut: 0, MaxOut: -1}
}

var errInvalid = errors.New("the stage's definition has problems")

// readStages builds the stages. A stage with a problem is still placed in
// the job, marked invalid.
func (l *loader) readStages(n *yaml.Node) (stages map[string]*openstage.Stage) {
	stages = map[string]*openstage.Stage{}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n.Line, "'stages' must be a list of stages, each with a name and a type")
		return stages
	}
	placeholder := func(name, typ string, line int) {
		stages[name] = openstage.NewStage(name, &invalidStage{typ}).SetPosition(openstage.Position{File: l.path, Line: line}).MarkInvalid()
	}
	for _, sn := range n.Content {
		if sn.Kind != yaml.MappingNode {
			l.errorf(sn.Line, "a stage must be a mapping with name, type and parameters")
			continue
		}
		var name, typ string
		var typLine int
		for i := 0; i+1 < len(sn.Content); i += 2 {
			switch sn.Content[i].Value {
			case "name":
				name = sn.Content[i+1].Value
			case "type":
				typ, typLine = sn.Content[i+1].Value, sn.Content[i+1].Line
			}
		}
		if name == "" {
			l.errorf(sn.Line, "stage has no name")
			continue
		}
		if _, dup := stages[name]; dup {
			l.errorf(sn.Line, "duplicate stage name '%s' (first declared at line %d); stage names must be unique", name, stages[name].Position().Line)
			continue
		}
		if typ == "" {
			l.errorf(sn.Line, "stage '%s' has no type; available types: %s", name, strings.Join(l.opts.registry().Types(), ", "))
			placeholder(name, "", sn.Line)
			continue
		}
		spec, ok := l.opts.registry().Lookup(typ)
		if !ok {
			msg := fmt.Sprintf("stage '%s': unknown stage type '%s'", name, typ)
			if s := openstage.Suggest(typ, l.opts.registry().Types()); s != "" {
				msg += fmt.Sprintf(" (did you mean '%s'?)", s)
			} else {
				msg += "; available types: " + strings.Join(l.opts.registry().Types(), ", ")
			}
			l.errorf(typLine, "%s", msg)
			placeholder(name, typ, sn.Line)
			continue
		}
		before := len(l.probs)
		comp := spec.New()
		if err := openstage.ApplyDefaults(comp); err != nil {
			l.errorf(sn.Line, "stage '%s': %v", name, err)
			placeholder(name, typ, sn.Line)
			continue
		}
		set := map[string]bool{}
		for i := 0; i+1 < len(sn.Content); i += 2 {
			k, v := sn.Content[i], sn.Content[i+1]
			if k.Value == "name" || k.Value == "type" {
				continue
			}
			set[k.Value] = true
			p, known := spec.Param(k.Value)
			l.secret = known && secretParam(p)
			l.substitute(v)
			l.secret = false
			var val any
			if err := v.Decode(&val); err != nil {
				l.errorf(v.Line, "%s '%s': parameter '%s': %v", typ, name, k.Value, err)
				continue
			}
			val = stringKeys(val)
			if known && p.Path {
				val = l.resolvePath(val)
			}
			if err := spec.Set(comp, k.Value, val); err != nil {
				l.errorf(k.Line, "%s '%s': %v", typ, name, err)
			}
		}
		for _, p := range spec.Params() {
			if p.Required && !set[p.Name] {
				l.errorf(sn.Line, "%s '%s': missing required parameter '%s' (%s)", typ, name, p.Name, p.Doc)
			}
		}
		st := spec.NewStage(name, comp).SetPosition(openstage.Position{File: l.path, Line: sn.Line})
		if len(l.probs) > before {
			st.MarkInvalid()
		}
		stages[name] = st
	}
	return stages
}

var pipeKeys = []string{"name", "from", "to"}

func (l *loader) readPipes(n *yaml.Node, stages map[string]*openstage.Stage) {
	if n.Kind != yaml.SequenceNode {
		l.errorf(n.Line, "'pipes' must be a list of {name, from, to}")
		return
	}
	names := make([]string, 0, len(stages))
	for k := range stages {
		names = append(names, k)
	}
	sort.Strings(names)
	seen := map[string]int{}
	for _, pn := range n.Content {
		if pn.Kind != yaml.MappingNode {
			l.errorf(pn.Line, "a pipe must be a mapping {name, from, to}")
			continue
		}
		fields := map[string]string{}
		for i := 0; i+1 < len(pn.Content); i += 2 {
			k := pn.Content[i].Value
			if indexOf(pipeKeys, k) < 0 {
				l.errorf(pn.Content[i].Line, "unknown pipe key '%s'%s", k, hint(k, pipeKeys))
				continue
			}
			fields[k] = pn.Content[i+1].Value
		}
		name := fields["name"]
		if name == "" {
			l.errorf(pn.Line, "pipe has no name")
			continue
		}
		if line, dup := seen[name]; dup {
			l.errorf(pn.Line, "duplicate pipe name '%s' (first declared at line %d); pipe names must be unique", name, line)
			continue
		}
		seen[name] = pn.Line
		from, to := l.endpoint(pn.Line, name, "from", fields["from"], stages, names), l.endpoint(pn.Line, name, "to", fields["to"], stages, names)
		if from == nil || to == nil {
			continue
		}
		p := openstage.NewPipe(name).SetPosition(openstage.Position{File: l.path, Line: pn.Line})
		from.AddOutputPipe(p).SetDestination(to)
	}
}

func (l *loader) endpoint(line int, pipe, end, name string, stages map[string]*openstage.Stage, names []string) *openstage.Stage {
	if name == "" {
		l.errorf(line, "pipe '%s' has no '%s' stage", pipe, end)
		return nil
	}
	s, ok := stages[name]
	if !ok {
		msg := fmt.Sprintf("pipe '%s': %s stage '%s' does not exist", pipe, end, name)
		if sug := openstage.Suggest(name, names); sug != "" {
			msg += fmt.Sprintf(" (did you mean '%s'?)", sug)
		} else {
			msg += "; stages: " + strings.Join(names, ", ")
		}
		l.errorf(line, "%s", msg)
	}
	return s
}

// resolvePath anchors a relative path (or each of a list of them) at the
// job file's folder.
func (l *loader) resolvePath(val any) any {
	switch x := val.(type) {
	case string:
		if x != "" && !filepath.IsAbs(x) {
			return filepath.Join(l.dir, x)
		}
	case []any:
		for i := range x {
			x[i] = l.resolvePath(x[i])
		}
	}
	return val
}

func indexOf(list []string, v string) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return -1
}

// stringKeys turns mappings with non-string keys (YAML reads `1: small` with
// an integer key) into mappings with the keys' text, as parameters expect.
func stringKeys(v any) any {
	switch x := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = stringKeys(e)
		}
		return m
	case map[string]any:
		for k, e := range x {
			x[k] = stringKeys(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = stringKeys(e)
		}
		return x
	}
	return v
}
