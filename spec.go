package openstage

import (
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
	Secret   bool     // never printed in logs, errors or summaries
	Path     bool     // a file location: job files resolve it against their folder
	Enum     []string // allowed values, if restricted

	index []int
}

var (
	registryMu sync.RWMutex
	registry   = map[string]*Spec{}
	byGoType   = map[reflect.Type]*Spec{}
)

// Register makes a component type available to job files. It panics if the
// type is registered twice or its struct tags are malformed; components
// register in an init function.
func Register(spec Spec) {
	if spec.Type == "" || spec.New == nil {
		panic("openstage: Register needs Type and New")
	}
	sample := spec.New()
	params, err := paramsOf(reflect.TypeOf(sample))
	if err != nil {
		panic(fmt.Sprintf("openstage: Register %s: %v", spec.Type, err))
	}
	spec.params = params
	spec.gotype = reflect.TypeOf(sample)
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[spec.Type]; dup {
		panic("openstage: Register called twice for " + spec.Type)
	}
	s := spec
	registry[spec.Type] = &s
	byGoType[s.gotype] = &s
}

// Lookup returns the spec of a registered component type.
func Lookup(typ string) (*Spec, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	s, ok := registry[typ]
	return s, ok
}

// Types returns the registered component type names, sorted.
func Types() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return slices.Sorted(maps.Keys(registry))
}

func specByGoType(t reflect.Type) (*Spec, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	s, ok := byGoType[t]
	return s, ok
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
			msg := fmt.Sprintf("parameter '%s': '%s' is not one of %s", name, v, strings.Join(p.Enum, ", "))
			if sug := Suggest(v, p.Enum); sug != "" {
				msg += fmt.Sprintf(" (did you mean '%s'?)", sug)
			}
			return fmt.Errorf("%s", msg)
		}
	}
	return nil
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
	var params []Param
	st := t.Elem()
	for i := 0; i < st.NumField(); i++ {
		f := st.Field(i)
		name, ok := f.Tag.Lookup("param")
		if !ok || !f.IsExported() {
			continue
		}
		p := Param{
			Name:     name,
			Type:     describeType(f.Type),
			Doc:      f.Tag.Get("doc"),
			Default:  f.Tag.Get("default"),
			Required: f.Tag.Get("required") == "true",
			Secret:   f.Tag.Get("secret") == "true",
			Path:     f.Tag.Get("path") == "true",
			index:    f.Index,
		}
		if e := f.Tag.Get("enum"); e != "" {
			p.Enum = strings.Split(e, ",")
		}
		params = append(params, p)
	}
	return params, nil
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

func kindOf(v any) string {
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
			return fmt.Errorf("must be a string, got %s", kindOf(v))
		}
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("must be true or false, got %s", kindOf(v))
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
			return fmt.Errorf("must be an integer, got %s", kindOf(v))
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
			return fmt.Errorf("must be a number, got %s", kindOf(v))
		}
	case reflect.Uint8: // a single character, such as a delimiter
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("must be a single character, got %s", kindOf(v))
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
			return fmt.Errorf("must be a list, got %s", kindOf(v))
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
			return fmt.Errorf("must be a mapping, got %s", kindOf(v))
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
			return fmt.Errorf("must be a mapping, got %s", kindOf(v))
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
				return fmt.Errorf("item %d must be a string, got %s", i+1, kindOf(item))
			}
			out[i] = str
		}
		*s = out
	default:
		return fmt.Errorf("must be a string or a list of strings, got %s", kindOf(v))
	}
	return nil
}

// ParamType implements ParamTyper.
func (Strings) ParamType() string { return "string or list of string" }
