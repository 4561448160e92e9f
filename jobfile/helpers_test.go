package jobfile_test

import "reflect"

// fieldString returns the string field called name of the struct c points to.
func fieldString(c any, name string) string {
	return reflect.ValueOf(c).Elem().FieldByName(name).String()
}
