package openstage

import "reflect"

// Value returns the current value of the parameter called name of
// component c (a pointer to a struct of this type), and whether the type
// has such a parameter.
func (s *Spec) Value(c any, name string) (any, bool) {
	p, ok := s.Param(name)
	if !ok {
		return nil, false
	}
	v := reflect.ValueOf(c)
	if v.Type() != s.gotype || v.Kind() != reflect.Pointer || v.IsNil() {
		return nil, false
	}
	return v.Elem().FieldByIndex(p.index).Interface(), true
}
