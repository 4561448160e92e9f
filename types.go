package openstage

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// The data types a column can have. Every column can hold nulls.
var (
	Int64     arrow.DataType = arrow.PrimitiveTypes.Int64
	Float64   arrow.DataType = arrow.PrimitiveTypes.Float64
	Bool      arrow.DataType = arrow.FixedWidthTypes.Boolean
	String    arrow.DataType = arrow.BinaryTypes.String
	Date      arrow.DataType = arrow.FixedWidthTypes.Date32
	Timestamp arrow.DataType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
)

var typeNames = map[string]arrow.DataType{
	"int64": Int64, "int": Int64, "integer": Int64,
	"float64": Float64, "float": Float64, "double": Float64,
	"bool": Bool, "boolean": Bool,
	"string": String, "str": String, "text": String,
	"date":      Date,
	"timestamp": Timestamp, "datetime": Timestamp,
}

// TypeNames lists the canonical type names accepted in job files.
func TypeNames() []string {
	return []string{"int64", "float64", "bool", "string", "date", "timestamp"}
}

// ParseType returns the data type for a type name of a job file
// (int64, float64, bool, string, date, timestamp, and a few aliases).
func ParseType(name string) (arrow.DataType, error) {
	if t, ok := typeNames[strings.ToLower(strings.TrimSpace(name))]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("unknown type %q; use one of %s", name, strings.Join(TypeNames(), ", "))
}

// TypeName returns the job-file name of a data type.
func TypeName(t arrow.DataType) string {
	switch t.ID() {
	case arrow.INT64:
		return "int64"
	case arrow.FLOAT64:
		return "float64"
	case arrow.BOOL:
		return "bool"
	case arrow.STRING, arrow.LARGE_STRING:
		return "string"
	case arrow.DATE32:
		return "date"
	case arrow.TIMESTAMP:
		return "timestamp"
	}
	return t.String()
}

// Supported reports whether t is one of the data types Open-Stage stages handle.
func Supported(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT64, arrow.FLOAT64, arrow.BOOL, arrow.STRING, arrow.DATE32, arrow.TIMESTAMP:
		return true
	}
	return false
}

// IsNumeric reports whether t is int64 or float64.
func IsNumeric(t arrow.DataType) bool {
	return t.ID() == arrow.INT64 || t.ID() == arrow.FLOAT64
}

// FieldIndex returns the index of the column called name in s. When there is
// none, the error lists the available columns and suggests the closest name:
//
//	field 'Age' not found; available columns: name, age, city (did you mean 'age'?)
func FieldIndex(s *arrow.Schema, name string) (int, error) {
	if idx := s.FieldIndices(name); len(idx) > 0 {
		return idx[0], nil
	}
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	msg := fmt.Sprintf("field '%s' not found; available columns: %s", name, strings.Join(names, ", "))
	if s := Suggest(name, names); s != "" {
		msg += fmt.Sprintf(" (did you mean '%s'?)", s)
	}
	return -1, fmt.Errorf("%s", msg)
}

// Suggest returns the candidate closest to name (case-insensitive edit
// distance, counting a swap of two neighbours as one edit, of at most a third
// of its length and at least 2), or "" when none is close. Among equally
// close candidates it prefers the one whose length is nearest to name's.
func Suggest(name string, candidates []string) string {
	best, bestD, bestL := "", -1, 0
	limit := max(2, len(name)/3)
	for _, c := range candidates {
		d := editDistance(strings.ToLower(name), strings.ToLower(c))
		l := abs(len(c) - len(name))
		if d <= limit && (bestD < 0 || d < bestD || d == bestD && l < bestL) {
			best, bestD, bestL = c, d, l
		}
	}
	return best
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of two neighbours each cost one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// ColumnNames returns the names of s's columns, in order.
func ColumnNames(s *arrow.Schema) []string {
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return names
}
