package bigqueryio

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"cloud.google.com/go/bigquery"
)

var paramNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// paramTypes are the BigQuery types a typed parameter may name.
var paramTypes = []string{"INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC", "BOOL", "STRING", "BYTES", "DATE", "DATETIME", "TIME", "TIMESTAMP"}

var paramAliases = map[string]string{"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "DECIMAL": "NUMERIC", "BIGDECIMAL": "BIGNUMERIC"}

// queryParams turns the params parameter into named query parameters, in
// name order: a number, bool or text is an INT64, FLOAT64, BOOL or STRING
// parameter; {type: T, value: V} gives the type.
func queryParams(params map[string]any) ([]bigquery.QueryParameter, error) {
	var out []bigquery.QueryParameter
	for _, name := range slices.Sorted(maps.Keys(params)) {
		if !paramNameRe.MatchString(name) {
			return nil, fmt.Errorf("params: '%s' is not a valid parameter name (letters, digits and _, not starting with a digit)", name)
		}
		v := params[name]
		switch x := v.(type) {
		case int:
			out = append(out, bigquery.QueryParameter{Name: name, Value: int64(x)})
		case int64, float64, bool, string:
			out = append(out, bigquery.QueryParameter{Name: name, Value: x})
		case nil:
			return nil, fmt.Errorf("params: '%s' is null; NULL parameters are not supported: test for NULL in the query (IS NULL) instead", name)
		case map[string]any:
			p, err := typedParam(name, x)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		default:
			return nil, fmt.Errorf("params: '%s' must be a number, true/false, text, or {type: DATE, value: '2025-01-01'}, not %T", name, v)
		}
	}
	return out, nil
}

func typedParam(name string, m map[string]any) (bigquery.QueryParameter, error) {
	for k := range m {
		if k != "type" && k != "value" {
			return bigquery.QueryParameter{}, fmt.Errorf("params: '%s': unknown key '%s'; a typed parameter has only type and value", name, k)
		}
	}
	t, ok := m["type"].(string)
	if !ok {
		return bigquery.QueryParameter{}, fmt.Errorf("params: '%s': type is missing; write %s: {type: DATE, value: '2025-01-01'} (types: %s)", name, name, strings.Join(paramTypes, ", "))
	}
	typ := strings.ToUpper(t)
	if a, ok := paramAliases[typ]; ok {
		typ = a
	}
	if !slices.Contains(paramTypes, typ) {
		return bigquery.QueryParameter{}, fmt.Errorf("params: '%s': type '%s' is not one of %s", name, t, strings.Join(paramTypes, ", "))
	}
	val, present := m["value"]
	if !present {
		return bigquery.QueryParameter{}, fmt.Errorf("params: '%s': value is missing; write %s: {type: %s, value: ...}", name, name, typ)
	}
	pv := &bigquery.QueryParameterValue{Type: bigquery.StandardSQLDataType{TypeKind: typ}}
	switch x := val.(type) {
	case nil:
		return bigquery.QueryParameter{}, fmt.Errorf("params: '%s' is null; NULL parameters are not supported: test for NULL in the query (IS NULL) instead", name)
	case string, int, int64, float64, bool:
		pv.Value = fmt.Sprint(x)
	default:
		return bigquery.QueryParameter{}, fmt.Errorf("params: '%s': value must be a single value, not %T", name, val)
	}
	return bigquery.QueryParameter{Name: name, Value: pv}, nil
}
