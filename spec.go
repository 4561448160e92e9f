package openstage

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Layer is the architectural layer of a component, as in the seed's diagrams.
type Layer string

// The layers; graphs colour stages by layer.
const (
	Extraction     Layer = "extraction"
	Transformation Layer = "transformation"
	Routing        Layer = "routing"
	AI             Layer = "ai"
	Load           Layer = "load"
)

// A Spec declares a component type: its name in job files, its documentation
// and a constructor. Its parameters are declared once, as the exported fields
// of the component's struct, with tags:
//
//	Field string `param:"field" required:"true" doc:"Column to test."`
//	Rows  int    `param:"rows" default:"10" doc:"How many rows to print."`
//	Key   string `param:"api_key" secret:"true" doc:"..."`
//	Mode  string `param:"mode" default:"continuous" enum:"continuous,sequence" doc:"..."`
//	Path  string `param:"path" path:"true" doc:"..."` // resolved against the job file's folder
//
// The same declaration drives job-file decoding and validation, the
// `openstage stages` help and the generated reference documentation.
type Spec struct {
	Type    string     // component type name in job files: Filter, CSVOrigin, ...
	Layer   Layer      // for graph colours and docs
	Summary string     // one line
	Doc     string     // longer description (optional)
	New     func() any // returns a pointer to a new component struct
	Example string     // a YAML stage snippet (optional)

	params []Param
	gotype reflect.Type
}

// A Param is one declared parameter of a component type.
type Param struct {
	Name     string
	Type     string // as shown to users: string, int, float, bool, list of string, ...
	Doc      string
	Default  string // the default as written in YAML; "" means none
	Required bool
	Secret   bool              // never printed in logs, errors or summaries
	Path     bool              // a file location: job files resolve it against their folder
	Enum     []string          // allowed values, if restricted
	Pipe     string            // "input" when the value names an input pipe of the stage
	Hints    map[string]string // advice for likely wrong values of Enum ("==" → "equality is =")

	index []int
}

// A Registry holds component types by name, for job files, `openstage
// stages` and docs, and named Go functions that stages call by name (a
// Transformer's `function:`). Packages register their components in the
// default registry from an init function (MustRegister); a program that
// wants its own set builds one with NewRegistry and passes it to jobfile
// (jobfile.Options.Registry) and to the job (Job.Registry).
type Registry struct {
	mu       sync.RWMutex
	specs    map[string]*Spec
	byGoType map[reflect.Type]*Spec
	funcs    map[string]any
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{specs: map[string]*Spec{}, byGoType: map[reflect.Type]*Spec{}, funcs: map[string]any{}}
}

var defaultRegistry = NewRegistry()

// DefaultRegistry returns the registry that MustRegister fills and that job
// files use unless told otherwise: every component package imported (the
// CLI imports components/all) is in it.
func DefaultRegistry() *Registry { return defaultRegistry }

// MustRegister registers spec in the default registry and panics on error.
// Components call it from an init function, where an error is a bug of the
// component (a malformed tag, a name taken twice).
func MustRegister(spec Spec) {
	if err := defaultRegistry.Register(spec); err != nil {
		panic(err)
	}
}

// Register adds a component type. It fails if the type name is taken or
// the component's parameter tags are malformed.
func (r *Registry) Register(spec Spec) error {
	if spec.Type == "" || spec.New == nil {
		return fmt.Errorf("openstage: Register needs Type and New")
	}
	sample := spec.New()
	params, err := paramsOf(reflect.TypeOf(sample))
	if err != nil {
		return fmt.Errorf("openstage: Register %s: %w", spec.Type, err)
	}
	spec.params = params
	spec.gotype = reflect.TypeOf(sample)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.specs[spec.Type]; dup {
		return fmt.Errorf("openstage: component type %s is registered twice", spec.Type)
	}
	s := spec
	r.specs[spec.Type] = &s
	r.byGoType[s.gotype] = &s
	return nil
}

// Lookup returns the spec of a registered component type.
func (r *Registry) Lookup(typ string) (*Spec, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.specs[typ]
	return s, ok
}

// Types returns the registered component type names, sorted.
func (r *Registry) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Sorted(maps.Keys(r.specs))
}

func (r *Registry) specByGoType(t reflect.Type) (*Spec, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.byGoType[t]
	return s, ok
}

// RegisterFunction makes a Go value available by name to the stages that
// look functions up (a Transformer's `function:` takes a stages.Function).
// The stage checks the value's type when it is planned.
func (r *Registry) RegisterFunction(name string, fn any) error {
	if name == "" || fn == nil {
		return fmt.Errorf("openstage: RegisterFunction needs a name and a function")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.funcs[name]; dup {
		return fmt.Errorf("openstage: function %s is registered twice", name)
	}
	r.funcs[name] = fn
	return nil
}

// Function returns the function registered under name.
func (r *Registry) Function(name string) (any, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f, ok := r.funcs[name]
	return f, ok
}

// Functions returns the names of the registered functions, sorted.
func (r *Registry) Functions() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Sorted(maps.Keys(r.funcs))
}

// NewStage places comp, a component of this type, in a job under name. The
// stage's type is the spec's, whichever registry the spec comes from.
func (s *Spec) NewStage(name string, comp any) *Stage {
	st := NewStage(name, comp)
	st.typ = s.Type
	return st
}

// Params returns the declared parameters in declaration order.
func (s *Spec) Params() []Param { return s.params }

// Param returns the parameter called name.
func (s *Spec) Param(name string) (Param, bool) {
	for _, p := range s.params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// Kind returns whether the type is an origin, a node or a destination.
func (s *Spec) Kind() Kind {
	return NewStage("", s.New()).Kind()
}

// Connectivity returns the pipe-count bounds of the type.
func (s *Spec) Connectivity() Connectivity {
	return NewStage("", s.New()).conn
}

// Set decodes value (as decoded from YAML: nil, bool, int, int64, float64,
// string, []any, map[string]any) into the parameter called name of component c.
func (s *Spec) Set(c any, name string, value any) error {
	p, ok := s.Param(name)
	if !ok {
		names := make([]string, len(s.params))
		for i, p := range s.params {
			names[i] = p.Name
		}
		msg := fmt.Sprintf("unknown parameter '%s' for %s", name, s.Type)
		if sug := Suggest(name, names); sug != "" {
			msg += fmt.Sprintf(" (did you mean '%s'?)", sug)
		} else {
			msg += fmt.Sprintf("; its parameters are: %s", strings.Join(names, ", "))
		}
		return fmt.Errorf("%s", msg)
	}
	f := reflect.ValueOf(c).Elem().FieldByIndex(p.index)
	if err := decodeValue(f, value); err != nil {
		if p.Secret {
			// The message could quote the value: say only what is expected.
			return fmt.Errorf("parameter '%s': invalid value (not shown, the parameter is secret); expected %s", name, p.Type)
		}
		return fmt.Errorf("parameter '%s': %w", name, err)
	}
	if len(p.Enum) > 0 && f.Kind() == reflect.String {
		v := f.String()
		if !contains(p.Enum, v) {
			return fmt.Errorf("parameter '%s': '%s' is not one of %s%s", name, v, strings.Join(p.Enum, ", "), p.enumHint(v))
		}
	}
	return nil
}

// parseHints reads a hint tag, value and advice in turn:
// `hint:"==|equality is =|avg|the average is mean"`.
func parseHints(tag string) map[string]string {
	if tag == "" {
		return nil
	}
	parts := strings.Split(tag, "|")
	hints := map[string]string{}
	for i := 0; i+1 < len(parts); i += 2 {
		hints[parts[i]] = parts[i+1]
	}
	return hints
}

// enumHint is what follows the message for a value outside p.Enum: the
// declared advice for that value, or the closest allowed value.
func (p Param) enumHint(v string) string {
	if h, ok := p.Hints[v]; ok {
		return " (" + h + ")"
	}
	if sug := Suggest(v, p.Enum); sug != "" {
		return fmt.Sprintf(" (did you mean '%s'?)", sug)
	}
	return ""
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// ApplyDefaults sets every parameter of component c (a pointer to a struct)
// that declares a default to that default.
func ApplyDefaults(c any) error {
	t := reflect.TypeOf(c)
	params, err := paramsOf(t)
	if err != nil {
		return err
	}
	v := reflect.ValueOf(c).Elem()
	for _, p := range params {
		if p.Default == "" {
			continue
		}
		if err := decodeValue(v.FieldByIndex(p.index), parseScalar(p.Default)); err != nil {
			return fmt.Errorf("default of parameter '%s': %w", p.Name, err)
		}
	}
	return nil
}

// parseScalar reads a default written in a tag the way YAML reads a plain scalar.
func parseScalar(s string) any {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	}
	return s
}

func paramsOf(t reflect.Type) ([]Param, error) {
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("component must be a pointer to a struct, not %v", t)
	}
	if ps, ok := paramCache.Load(t); ok {
		return ps.([]Param), nil
	}
	params, err := structParams(t.Elem(), nil)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, p := range params {
		if seen[p.Name] {
			return nil, fmt.Errorf("parameter '%s' is declared twice (an embedded block and the component both declare it?)", p.Name)
		}
		seen[p.Name] = true
	}
	paramCache.Store(t, params)
	return params, nil
}

var paramCache sync.Map // reflect.Type -> []Param

var secretType = reflect.TypeFor[Secret]()

// structParams lists the param-tagged fields of st. The fields of an
// embedded struct without a param tag (a shared block such as a connection
// or an HTTP client) are flattened into st's parameters, in place.
func structParams(st reflect.Type, prefix []int) ([]Param, error) {
	var params []Param
	for i := 0; i < st.NumField(); i++ {
		f := st.Field(i)
		index := append(append([]int{}, prefix...), i)
		name, tagged := f.Tag.Lookup("param")
		if !tagged {
			if f.Anonymous && f.Type.Kind() == reflect.Struct && f.IsExported() {
				inner, err := structParams(f.Type, index)
				if err != nil {
					return nil, err
				}
				params = append(params, inner...)
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			return nil, fmt.Errorf("field %s has an empty param tag", f.Name)
		}
		p := Param{
			Name:     name,
			Type:     describeType(f.Type),
			Doc:      f.Tag.Get("doc"),
			Default:  f.Tag.Get("default"),
			Required: f.Tag.Get("required") == "true",
			Secret:   f.Tag.Get("secret") == "true" || f.Type == secretType,
			Path:     f.Tag.Get("path") == "true",
			Pipe:     f.Tag.Get("pipe"),
			Hints:    parseHints(f.Tag.Get("hint")),
			index:    index,
		}
		if e := f.Tag.Get("enum"); e != "" {
			p.Enum = strings.Split(e, ",")
			if f.Type.Kind() != reflect.String {
				return nil, fmt.Errorf("parameter '%s': enum needs a string field, not %s", name, f.Type)
			}
			if p.Default != "" && !contains(p.Enum, p.Default) {
				return nil, fmt.Errorf("parameter '%s': default '%s' is not one of its enum %s", name, p.Default, e)
			}
		}
		params = append(params, p)
	}
	return params, nil
}

// checkParams enforces the declared rules that a job built in Go could
// break: required parameters set, enumerated ones within their values.
// Job files check the same while decoding, with the file's lines; the
// engine calls checkParams when it plans a stage, however it was built.
func checkParams(c any, inputs []Port) []error {
	t := reflect.TypeOf(c)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	params, err := paramsOf(t)
	if err != nil {
		return []error{err}
	}
	v := reflect.ValueOf(c).Elem()
	var errs []error
	for _, p := range params {
		f := v.FieldByIndex(p.index)
		if p.Required && (f.IsZero() || (f.Kind() == reflect.Slice || f.Kind() == reflect.Map) && f.Len() == 0) {
			msg := fmt.Sprintf("parameter '%s' is required", p.Name)
			if doc := strings.TrimSuffix(p.Doc, "."); doc != "" {
				msg += ": " + strings.ToLower(doc[:1]) + doc[1:]
			}
			if p.Pipe == "input" {
				names := make([]string, len(inputs))
				for i, in := range inputs {
					names[i] = "'" + in.Pipe + "'"
				}
				msg += "; connected inputs: " + strings.Join(names, ", ")
			}
			errs = append(errs, errors.New(msg))
			continue
		}
		if len(p.Enum) > 0 && f.String() != "" && !contains(p.Enum, f.String()) {
			msg := fmt.Sprintf("parameter '%s': '%s' is not one of %s", p.Name, f.String(), strings.Join(p.Enum, ", "))
			errs = append(errs, errors.New(msg+p.enumHint(f.String())))
		}
	}
	return errs
}

// secretsOf returns the revealed values of every secret of component c:
// each Secret anywhere in its exported fields (nested blocks included) and
// each plain string parameter tagged secret, for scrubbing from messages.
func secretsOf(c any) []string {
	var out []string
	walkSecrets(reflect.ValueOf(c), &out, 0)
	if params, err := paramsOf(reflect.TypeOf(c)); err == nil {
		v := reflect.ValueOf(c).Elem()
		for _, p := range params {
			if f := v.FieldByIndex(p.index); p.Secret && f.Kind() == reflect.String && f.String() != "" {
				out = append(out, f.String())
			}
		}
	}
	return out
}

func walkSecrets(v reflect.Value, out *[]string, depth int) {
	if !v.IsValid() || depth > 8 {
		return
	}
	if v.Type() == secretType {
		if s := v.Interface().(Secret).Reveal(); s != "" {
			*out = append(*out, s)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkSecrets(v.Elem(), out, depth+1)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				walkSecrets(v.Field(i), out, depth+1)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walkSecrets(v.Index(i), out, depth+1)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			walkSecrets(v.MapIndex(k), out, depth+1)
		}
	}
}

// ParamDecoder is implemented by parameter types that decode themselves from
// a YAML value (for instance a key that is one column name or a list of them).
type ParamDecoder interface {
	DecodeParam(value any) error
}

// ParamTyper names a parameter type in help and docs.
type ParamTyper interface {
	ParamType() string
}

var decoderType = reflect.TypeFor[ParamDecoder]()
var typerType = reflect.TypeFor[ParamTyper]()

func describeType(t reflect.Type) string {
	if t.Implements(typerType) {
		return reflect.Zero(t).Interface().(ParamTyper).ParamType()
	}
	if reflect.PointerTo(t).Implements(typerType) {
		return reflect.New(t).Interface().(ParamTyper).ParamType()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "int"
	case reflect.Float64, reflect.Float32:
		return "number"
	case reflect.Slice:
		return "list of " + describeType(t.Elem())
	case reflect.Map:
		return "map of " + describeType(t.Elem())
	case reflect.Pointer:
		return describeType(t.Elem())
	case reflect.Struct:
		return "object"
	case reflect.Interface:
		return "any"
	case reflect.Uint8:
		return "character"
	}
	return t.String()
}

// ValueKind describes a YAML-shaped value for messages: "a string", "a
// list", "an integer", "null", ... (what a ParamDecoder got instead of what
// it wants).
func ValueKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a bool"
	case int, int64, uint64:
		return "an integer"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}

// DecodeValue decodes a YAML-shaped value into dst (a pointer), with the
// rules of Spec.Set. Components with nested parameter objects use it.
func DecodeValue(dst any, value any) error {
	return decodeValue(reflect.ValueOf(dst).Elem(), value)
}

func decodeValue(f reflect.Value, v any) error {
	if f.CanAddr() && f.Addr().Type().Implements(decoderType) {
		return f.Addr().Interface().(ParamDecoder).DecodeParam(v)
	}
	switch f.Kind() {
	case reflect.Interface:
		if v == nil {
			f.SetZero()
		} else {
			f.Set(reflect.ValueOf(normalize(v)))
		}
		return nil
	case reflect.Pointer:
		if v == nil {
			f.SetZero()
			return nil
		}
		nv := reflect.New(f.Type().Elem())
		if err := decodeValue(nv.Elem(), v); err != nil {
			return err
		}
		f.Set(nv)
		return nil
	case reflect.String:
		switch x := v.(type) {
		case string:
			f.SetString(x)
		case int, int64, float64, bool:
			// YAML reads `code: 007` or `value: yes` as non-strings; a string
			// parameter takes their text.
			f.SetString(fmt.Sprint(x))
		default:
			return fmt.Errorf("must be a string, got %s", ValueKind(v))
		}
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("must be true or false, got %s", ValueKind(v))
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		switch x := v.(type) {
		case int:
			f.SetInt(int64(x))
		case int64:
			f.SetInt(x)
		case float64:
			if x != math.Trunc(x) {
				return fmt.Errorf("must be an integer, got %v", x)
			}
			f.SetInt(int64(x))
		default:
			return fmt.Errorf("must be an integer, got %s", ValueKind(v))
		}
	case reflect.Float64, reflect.Float32:
		switch x := v.(type) {
		case int:
			f.SetFloat(float64(x))
		case int64:
			f.SetFloat(float64(x))
		case float64:
			f.SetFloat(x)
		default:
			return fmt.Errorf("must be a number, got %s", ValueKind(v))
		}
	case reflect.Uint8: // a single character, such as a delimiter
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("must be a single character, got %s", ValueKind(v))
		}
		switch s {
		case `\t`, "tab":
			s = "\t"
		}
		if len(s) != 1 {
			return fmt.Errorf("must be a single one-byte character, got %q", s)
		}
		f.SetUint(uint64(s[0]))
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("must be a list, got %s", ValueKind(v))
		}
		out := reflect.MakeSlice(f.Type(), len(list), len(list))
		for i, item := range list {
			if err := decodeValue(out.Index(i), item); err != nil {
				return fmt.Errorf("item %d: %w", i+1, err)
			}
		}
		f.Set(out)
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("must be a mapping, got %s", ValueKind(v))
		}
		out := reflect.MakeMapWithSize(f.Type(), len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			ev := reflect.New(f.Type().Elem()).Elem()
			if err := decodeValue(ev, m[k]); err != nil {
				return fmt.Errorf("key '%s': %w", k, err)
			}
			out.SetMapIndex(reflect.ValueOf(k).Convert(f.Type().Key()), ev)
		}
		f.Set(out)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("must be a mapping, got %s", ValueKind(v))
		}
		return decodeStruct(f, m)
	default:
		return fmt.Errorf("unsupported parameter type %s", f.Type())
	}
	return nil
}

// decodeStruct decodes a mapping into a struct whose fields carry param tags,
// applying their defaults first.
func decodeStruct(f reflect.Value, m map[string]any) error {
	params, err := paramsOf(reflect.PointerTo(f.Type()))
	if err != nil {
		return err
	}
	names := make([]string, len(params))
	for i, p := range params {
		names[i] = p.Name
		if p.Default != "" {
			if err := decodeValue(f.FieldByIndex(p.index), parseScalar(p.Default)); err != nil {
				return err
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		i := indexOf(names, k)
		if i < 0 {
			msg := fmt.Sprintf("unknown key '%s'", k)
			if sug := Suggest(k, names); sug != "" {
				msg += fmt.Sprintf(" (did you mean '%s'?)", sug)
			} else {
				msg += "; valid keys: " + strings.Join(names, ", ")
			}
			return fmt.Errorf("%s", msg)
		}
		p := params[i]
		if err := decodeValue(f.FieldByIndex(p.index), m[k]); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		if len(p.Enum) > 0 && !contains(p.Enum, fmt.Sprint(m[k])) {
			return fmt.Errorf("%s: '%v' is not one of %s", k, m[k], strings.Join(p.Enum, ", "))
		}
	}
	for _, p := range params {
		if _, ok := m[p.Name]; !ok && p.Required {
			return fmt.Errorf("missing required key '%s'", p.Name)
		}
	}
	return nil
}

func indexOf(list []string, v string) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return -1
}

// normalize turns int into int64 so that `any` parameters hold one integer type.
func normalize(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = normalize(x[i])
		}
		return out
	}
	return v
}

// Strings is a parameter that is one string or a list of them
// (key: user_id, or key: [user_id, country]).
type Strings []string

// DecodeParam implements ParamDecoder.
func (s *Strings) DecodeParam(v any) error {
	switch x := v.(type) {
	case string:
		*s = Strings{x}
	case []any:
		out := make(Strings, len(x))
		for i, item := range x {
			str, ok := item.(string)
			if !ok {
				return fmt.Errorf("item %d must be a string, got %s", i+1, ValueKind(item))
			}
			out[i] = str
		}
		*s = out
	default:
		return fmt.Errorf("must be a string or a list of strings, got %s", ValueKind(v))
	}
	return nil
}

// ParamType implements ParamTyper.
func (Strings) ParamType() string { return "string or list of string" }
