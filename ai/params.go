package ai

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
)

// Column is one entry of output_columns: a column name and its type (nil:
// the input column's type, or string for a new column). The name "*"
// stands for every input column not listed by name.
type Column struct {
	Name string
	Type arrow.DataType
}

// Columns is the output_columns parameter. In a job file it is a list whose
// items are a column name or a one-entry mapping of name to type:
//
//	output_columns:
//	  - "*"                # every input column, in the input's order
//	  - fraud_score: string
//	  - risk: float64
type Columns []Column

// Col returns a Column for Go code: Col("fraud_score", openstage.String),
// Col("*", nil).
func Col(name string, typ arrow.DataType) Column { return Column{Name: name, Type: typ} }

// ParamType implements openstage.ParamTyper.
func (Columns) ParamType() string { return "list of column names or {name: type}" }

// DecodeParam implements openstage.ParamDecoder.
func (c *Columns) DecodeParam(v any) error {
	list, ok := v.([]any)
	if !ok {
		if s, isStr := v.(string); isStr {
			list = []any{s}
		} else {
			return fmt.Errorf(`must be a list of column names or one-entry mappings such as {fraud_score: string}; use "*" for the input's columns`)
		}
	}
	out := make(Columns, 0, len(list))
	for i, item := range list {
		switch x := item.(type) {
		case string:
			out = append(out, Column{Name: x})
		case map[string]any:
			if len(x) != 1 {
				return fmt.Errorf("item %d must be a one-entry mapping such as {fraud_score: string}, got %d entries", i+1, len(x))
			}
			for name, tv := range x {
				ts, ok := tv.(string)
				if !ok {
					return fmt.Errorf("item %d: the type of '%s' must be a type name (%s)", i+1, name, strings.Join(openstage.TypeNames(), ", "))
				}
				t, err := openstage.ParseType(ts)
				if err != nil {
					return fmt.Errorf("item %d: column '%s': %w", i+1, name, err)
				}
				out = append(out, Column{Name: name, Type: t})
			}
		default:
			return fmt.Errorf("item %d must be a column name or a one-entry mapping {name: type}", i+1)
		}
	}
	*c = out
	return nil
}

// Duration is a parameter holding a duration: "90s", "10m", "1h30m", or a
// number of seconds.
type Duration time.Duration

// ParamType implements openstage.ParamTyper.
func (Duration) ParamType() string { return "duration" }

// DecodeParam implements openstage.ParamDecoder.
func (d *Duration) DecodeParam(v any) error {
	switch x := v.(type) {
	case string:
		if s, err := strconv.ParseFloat(x, 64); err == nil {
			*d = Duration(s * float64(time.Second))
			return nil
		}
		t, err := time.ParseDuration(x)
		if err != nil || t < 0 {
			return fmt.Errorf("cannot read %q as a duration; write for example 30s, 10m or 1h", x)
		}
		*d = Duration(t)
	case int:
		*d = Duration(time.Duration(x) * time.Second)
	case int64:
		*d = Duration(time.Duration(x) * time.Second)
	case float64:
		*d = Duration(x * float64(time.Second))
	default:
		return fmt.Errorf("must be a duration such as 30s or 10m")
	}
	return nil
}

// String prints the duration as Go does (1m30s).
func (d Duration) String() string { return time.Duration(d).String() }
