package jobfile_test

import (
	"reflect"
	"strings"
)

// fieldString returns a string field, or a list of strings joined by ",".
func fieldString(c any, name string) string {
	v := reflect.ValueOf(c).Elem().FieldByName(name)
	if v.Kind() == reflect.Slice {
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = v.Index(i).String()
		}
		return strings.Join(parts, ",")
	}
	return v.String()
}
