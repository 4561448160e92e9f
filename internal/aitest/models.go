package aitest

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// tableMarker is how the stage's table-mode user message introduces the
// batch (ai.TableMarker).
const tableMarker = "Input table (CSV, "

// TableOf reads the CSV table of a table-mode user message.
func TableOf(prompt string) (header []string, rows [][]string, err error) {
	i := strings.LastIndex(prompt, tableMarker)
	if i < 0 {
		return nil, nil, fmt.Errorf("the prompt has no %q", tableMarker)
	}
	rest := prompt[i:]
	nl := strings.IndexByte(rest, '\n')
	if nl < 0 {
		return nil, nil, fmt.Errorf("the prompt has no table after %q", tableMarker)
	}
	recs, err := csv.NewReader(strings.NewReader(rest[nl+1:])).ReadAll()
	if err != nil {
		return nil, nil, err
	}
	if len(recs) == 0 {
		return nil, nil, fmt.Errorf("the table has no header")
	}
	return recs[0], recs[1:], nil
}

// CSV writes a table as CSV.
func CSV(header []string, rows [][]string) string {
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Write(header)
	w.WriteAll(rows)
	return b.String()
}

// JSONTable writes a table as the stage's JSON answer {"rows": [...]},
// with numbers and booleans where schema's columns say so.
func JSONTable(header []string, rows [][]string, schema map[string]any) string {
	items := make([]map[string]any, len(rows))
	types := schemaTypes(schema)
	for i, r := range rows {
		obj := map[string]any{}
		for c, h := range header {
			obj[h] = typed(r[c], types[h])
		}
		items[i] = obj
	}
	b, _ := json.Marshal(map[string]any{"rows": items})
	return string(b)
}

// schemaTypes reads the column types of a table or object schema.
func schemaTypes(schema map[string]any) map[string]string {
	out := map[string]string{}
	props, _ := schema["properties"].(map[string]any)
	if rows, ok := props["rows"].(map[string]any); ok {
		if items, ok := rows["items"].(map[string]any); ok {
			props, _ = items["properties"].(map[string]any)
		}
	}
	for name, v := range props {
		m, _ := v.(map[string]any)
		switch t := m["type"].(type) {
		case string:
			out[name] = t
		case []any:
			if len(t) > 0 {
				out[name], _ = t[0].(string)
			}
		}
	}
	return out
}

func typed(s, typ string) any {
	if s == "" {
		return nil
	}
	switch typ {
	case "integer":
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	case "number":
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
	case "boolean":
		if b, err := strconv.ParseBool(s); err == nil {
			return b
		}
	}
	return s
}

// TableFunc transforms a table: header and rows in, header and rows out.
type TableFunc func(header []string, rows [][]string) ([]string, [][]string)

// Table is a model for table mode: it reads the batch from the prompt,
// applies fn and answers with CSV, or with JSON when the request carries a
// schema. A prompt without a table gets a 400.
func Table(fn TableFunc) Model {
	return func(req Request) Reply {
		h, rows, err := TableOf(req.Prompt)
		if err != nil {
			return Reply{Status: 400, ErrorMessage: "test model: " + err.Error()}
		}
		h, rows = fn(h, rows)
		if req.Schema != nil {
			return Reply{Text: JSONTable(h, rows, req.Schema)}
		}
		return Reply{Text: CSV(h, rows)}
	}
}

// Echo is a table model that answers with the table it was sent.
var Echo = Table(func(h []string, rows [][]string) ([]string, [][]string) { return h, rows })

// Fraud is the model of the design document's Example 3: "Filter only
// high-risk transactions and add a fraud_score column" (amount over 10,000,
// a foreign country, or several transactions of one customer in a short
// time; fraud_score LOW, MEDIUM or HIGH), played by rules so that a test
// knows the answer: a row is kept when amount > 10000 or country is not
// home; its score is HIGH when both hold, MEDIUM when the amount alone,
// LOW otherwise.
func Fraud(home string) TableFunc {
	return func(h []string, rows [][]string) ([]string, [][]string) {
		amount, country := index(h, "amount"), index(h, "country")
		out := [][]string{}
		for _, r := range rows {
			a, _ := strconv.ParseFloat(r[amount], 64)
			big, foreign := a > 10000, r[country] != home
			if !big && !foreign {
				continue
			}
			score := "LOW"
			switch {
			case big && foreign:
				score = "HIGH"
			case big:
				score = "MEDIUM"
			}
			out = append(out, append(append([]string{}, r...), score))
		}
		return append(append([]string{}, h...), "fraud_score"), out
	}
}

func index(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}
