package ai

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// columnSchema is the JSON schema of one value of type t, null allowed.
func columnSchema(t arrow.DataType) map[string]any {
	js := map[string]any{}
	switch t.ID() {
	case arrow.INT64:
		js["type"] = []any{"integer", "null"}
	case arrow.FLOAT64:
		js["type"] = []any{"number", "null"}
	case arrow.BOOL:
		js["type"] = []any{"boolean", "null"}
	case arrow.DATE32:
		js["type"] = []any{"string", "null"}
		js["format"] = "date"
	case arrow.TIMESTAMP:
		js["type"] = []any{"string", "null"}
		js["format"] = "date-time"
	default:
		js["type"] = []any{"string", "null"}
	}
	return js
}

// objectSchema is the schema of an object with exactly the given columns.
func objectSchema(fields []arrow.Field) map[string]any {
	props := map[string]any{}
	req := make([]any, len(fields))
	for i, f := range fields {
		props[f.Name] = columnSchema(f.Type)
		req[i] = f.Name
	}
	return map[string]any{"type": "object", "properties": props, "required": req, "additionalProperties": false}
}

// tableSchema is the schema of a table answer: {"rows": [object, ...]}.
func tableSchema(fields []arrow.Field) map[string]any {
	return map[string]any{
		"type":                 "object",
		"properties":           map[string]any{"rows": map[string]any{"type": "array", "items": objectSchema(fields)}},
		"required":             []any{"rows"},
		"additionalProperties": false,
	}
}

// decodeJSON reads a JSON answer, tolerating a code fence and prose
// around the outermost object.
func decodeJSON(text string, v any) error {
	body := strings.TrimSpace(unfence(text))
	if i := strings.IndexByte(body, '{'); i > 0 {
		body = body[i:]
	}
	if j := strings.LastIndexByte(body, '}'); j >= 0 && j < len(body)-1 {
		body = body[:j+1]
	}
	if body == "" {
		return errors.New("it is empty")
	}
	d := json.NewDecoder(strings.NewReader(body))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("it is not the JSON object asked for: %v; it begins: %s", err, clip(text, 120))
	}
	return nil
}

// parseJSONTable reads {"rows": [...]} into a batch of schema sc.
func parseJSONTable(alloc memory.Allocator, text string, sc *arrow.Schema) (arrow.RecordBatch, error) {
	var doc struct {
		Rows []map[string]any `json:"rows"`
	}
	if err := decodeJSON(text, &doc); err != nil {
		return nil, err
	}
	if doc.Rows == nil {
		return nil, errors.New(`it has no "rows" array`)
	}
	b := openstage.NewBuilder(alloc, sc)
	defer b.Release()
	for n, obj := range doc.Rows {
		vals, err := objectValues(obj, sc.Fields())
		if err != nil {
			return nil, fmt.Errorf("answer row %d: %w", n+1, err)
		}
		for c, v := range vals {
			if err := openstage.AppendValue(b.Field(c), v); err != nil {
				return nil, fmt.Errorf("answer row %d, column '%s': %w", n+1, sc.Field(c).Name, err)
			}
		}
	}
	return b.Build(), nil
}

// objectValues reads the values of fields from one answer object, which
// must have exactly those keys.
func objectValues(obj map[string]any, fields []arrow.Field) ([]any, error) {
	var extra []string
	for k := range obj {
		found := false
		for _, f := range fields {
			if f.Name == k {
				found = true
				break
			}
		}
		if !found {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return nil, fmt.Errorf("unexpected keys %s (expected %s)", strings.Join(extra, ", "), fieldNames(fields))
	}
	vals := make([]any, len(fields))
	for i, f := range fields {
		raw, ok := obj[f.Name]
		if !ok {
			return nil, fmt.Errorf("key '%s' is missing (expected %s)", f.Name, fieldNames(fields))
		}
		v, err := jsonValue(raw, f.Type)
		if err != nil {
			return nil, fmt.Errorf("column '%s': %w", f.Name, err)
		}
		vals[i] = v
	}
	return vals, nil
}

func fieldNames(fields []arrow.Field) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// jsonValue converts one decoded JSON value to a value for type t.
func jsonValue(raw any, t arrow.DataType) (any, error) {
	switch x := raw.(type) {
	case nil:
		return nil, nil
	case json.Number:
		switch t.ID() {
		case arrow.INT64:
			if n, err := x.Int64(); err == nil {
				return n, nil
			}
			f, err := x.Float64()
			if err != nil || f != float64(int64(f)) {
				return nil, fmt.Errorf("%s is not an integer", x)
			}
			return int64(f), nil
		case arrow.FLOAT64:
			return x.Float64()
		case arrow.STRING:
			return x.String(), nil
		}
		return convertText(x.String(), t)
	case bool:
		if t.ID() == arrow.STRING {
			return fmt.Sprint(x), nil
		}
		if t.ID() != arrow.BOOL {
			return nil, fmt.Errorf("%v is not a %s", x, typeWord(t))
		}
		return x, nil
	case string:
		if t.ID() == arrow.STRING {
			return x, nil
		}
		return convertText(x, t)
	}
	return nil, fmt.Errorf("a JSON %T is not a %s", raw, typeWord(t))
}
