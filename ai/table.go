package ai

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// TableMarker starts the table in the user message of table mode, before
// the CSV of the batch: "Input table (CSV, 100 rows):".
const TableMarker = "Input table (CSV, "

const tableSystem = `You are the transformation step of a data pipeline. You receive an instruction and a table in CSV (RFC 4180) with a header row. Apply the instruction to the table. Keep the rows, columns and values that the instruction does not ask you to change exactly as they are; remove or add rows only when the instruction asks for it. Answer in the format the user message asks for, with nothing else: no explanation, no Markdown.`

// planTable resolves the output columns and prompts of table mode.
func (s *Stage) planTable(rt *runtime) error {
	switch s.ResponseFormat {
	case "", "csv":
		rt.format = "csv"
	case "json":
		rt.format = "json"
	default:
		return fmt.Errorf("response_format: %s is for mode: row; table mode answers as csv or json", s.ResponseFormat)
	}
	fields, err := tableColumns(rt.in, s.OutputColumns)
	if err != nil {
		return err
	}
	rt.out = arrow.NewSchema(fields, nil)
	rt.added = fields
	rt.system = tableSystem
	if s.System != "" {
		rt.system = s.System
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	var note strings.Builder
	if rt.format == "json" {
		rt.schema = tableSchema(fields)
		fmt.Fprintf(&note, "Answer with a JSON object {\"rows\": [...]}: one object per row of the resulting table, each with exactly the keys %s (null for a missing value).", strings.Join(quoted(names), ", "))
	} else {
		var head strings.Builder
		w := csv.NewWriter(&head)
		w.Write(names)
		w.Flush()
		fmt.Fprintf(&note, "Answer with the resulting table only, as CSV with a header row. The header row must be exactly:\n%s", head.String())
		note.WriteString("Leave a cell empty when it has no value. No explanation, no Markdown, no code fences.")
	}
	fmt.Fprintf(&note, "\nColumn types: %s.", typeList(fields))
	rt.note = note.String()
	return nil
}

// tableColumns is the output of table mode: output_columns with "*"
// expanded, or the input's columns.
func tableColumns(in *arrow.Schema, cols Columns) ([]arrow.Field, error) {
	if len(cols) == 0 {
		return append([]arrow.Field{}, in.Fields()...), nil
	}
	listed := map[string]bool{}
	stars := 0
	for _, c := range cols {
		switch {
		case c.Name == "*":
			stars++
		case c.Name == "":
			return nil, errors.New("output_columns: a column has no name")
		case listed[c.Name]:
			return nil, fmt.Errorf("output_columns: column '%s' is listed twice", c.Name)
		}
		listed[c.Name] = true
	}
	if stars > 1 {
		return nil, errors.New(`output_columns: "*" is listed twice`)
	}
	var fields []arrow.Field
	for _, c := range cols {
		if c.Name == "*" {
			for _, f := range in.Fields() {
				if !listed[f.Name] {
					fields = append(fields, f)
				}
			}
			continue
		}
		f, err := outField(in, c)
		if err != nil {
			return nil, err
		}
		fields = append(fields, f)
	}
	return fields, nil
}

// outField is the field of one listed column: its type, or the input
// column's, or string.
func outField(in *arrow.Schema, c Column) (arrow.Field, error) {
	t := c.Type
	if t == nil {
		t = openstage.String
		if idx := in.FieldIndices(c.Name); len(idx) > 0 {
			t = in.Field(idx[0]).Type
		}
	}
	if !openstage.Supported(t) {
		return arrow.Field{}, fmt.Errorf("output_columns: column '%s' has type %s; use one of %s", c.Name, t, strings.Join(openstage.TypeNames(), ", "))
	}
	return arrow.Field{Name: c.Name, Type: t, Nullable: true}, nil
}

func typeList(fields []arrow.Field) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = f.Name + " " + typeWord(f.Type)
	}
	return strings.Join(parts, ", ")
}

// typeWord names a type for a model.
func typeWord(t arrow.DataType) string {
	switch t.ID() {
	case arrow.INT64:
		return "integer"
	case arrow.FLOAT64:
		return "number"
	case arrow.BOOL:
		return "true/false"
	case arrow.DATE32:
		return "date YYYY-MM-DD"
	case arrow.TIMESTAMP:
		return "timestamp RFC 3339"
	}
	return "text"
}

func quoted(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strconv.Quote(n)
	}
	return out
}

// tablePrompt is the user message for one batch.
func (s *Stage) tablePrompt(rec arrow.RecordBatch) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(s.Prompt))
	b.WriteString("\n\n")
	b.WriteString(s.rt.note)
	fmt.Fprintf(&b, "\n\n%s%d rows):\n", TableMarker, rec.NumRows())
	writeCSV(&b, rec)
	return b.String()
}

// tableBatch asks for one batch, splitting it in half while the answer is
// truncated, and emits the answer's rows (or rejects the batch).
func (s *Stage) tableBatch(ctx context.Context, rec arrow.RecordBatch, first int64, out *openstage.Emitter) error {
	n := rec.NumRows()
	if n == 0 {
		return nil
	}
	req := s.newRequest(s.tablePrompt(rec))
	rep, key, cached, err := s.ask(ctx, req, out)
	if err == nil && rep.Truncated {
		if n == 1 {
			err = fmt.Errorf("row %d: the answer for this row alone does not fit in max_tokens (%d; the model stopped with %s); raise max_tokens", first+1, s.maxTokens(), rep.Stop)
			return s.emitFailure(ctx, rec, err, out)
		}
		out.Count("splits", 1)
		h := n / 2
		a, b := rec.NewSlice(0, h), rec.NewSlice(h, n)
		defer a.Release()
		defer b.Release()
		if err := s.tableBatch(ctx, a, first, out); err != nil {
			return err
		}
		return s.tableBatch(ctx, b, first+h, out)
	}
	if err == nil {
		var res arrow.RecordBatch
		if s.rt.format == "json" {
			res, err = parseJSONTable(out.Allocator(), rep.Text, s.rt.out)
		} else {
			res, err = parseCSVTable(out.Allocator(), rep.Text, s.rt.out)
		}
		if err == nil {
			defer res.Release()
			if err := s.remember(key, cached, rep); err != nil {
				return err
			}
			out.Send(res)
			return nil
		}
		err = fmt.Errorf("the answer cannot be used: %w", err)
	}
	return s.emitFailure(ctx, rec, fmt.Errorf("%s: %w", rowRange(first, n), err), out)
}

func rowRange(first, n int64) string {
	if n == 1 {
		return fmt.Sprintf("row %d", first+1)
	}
	return fmt.Sprintf("rows %d-%d", first+1, first+n)
}

func (s *Stage) newRequest(prompt string) Request {
	r := s.rt.request(prompt)
	r.MaxTokens = s.maxTokens()
	return r
}

// writeCSV writes rec as CSV with a header; nulls are empty cells.
func writeCSV(b *strings.Builder, rec arrow.RecordBatch) {
	w := csv.NewWriter(b)
	sc := rec.Schema()
	row := make([]string, sc.NumFields())
	for i, f := range sc.Fields() {
		row[i] = f.Name
	}
	w.Write(row)
	v := openstage.View(rec)
	for r := 0; r < v.Len(); r++ {
		for c := range row {
			row[c] = cellText(v.ColAt(c), r)
		}
		w.Write(row)
	}
	w.Flush()
}

// cellText is a value as the model sees it.
func cellText(c openstage.Column, i int) string {
	if c.IsNull(i) {
		return ""
	}
	switch a := c.Array.(type) {
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'f', -1, 64)
	case *array.Boolean:
		return strconv.FormatBool(a.Value(i))
	case *array.String:
		return a.Value(i)
	case *array.Date32:
		return a.Value(i).ToTime().Format("2006-01-02")
	case *array.Timestamp:
		return c.Time(i).Format(time.RFC3339Nano)
	}
	return c.Array.ValueStr(i)
}

// parseCSVTable reads a CSV answer into a batch of schema sc. It tolerates
// a code fence around the table, prose before the header and after a blank
// line that ends the table, header columns in another order and in another
// case; every row must have every column and every value must read as its
// column's type.
func parseCSVTable(alloc memory.Allocator, text string, sc *arrow.Schema) (arrow.RecordBatch, error) {
	body := unfence(text)
	lines := strings.Split(body, "\n")
	want := make([]string, sc.NumFields())
	for i, f := range sc.Fields() {
		want[i] = f.Name
	}
	start, order, err := findHeader(lines, want)
	if err != nil {
		return nil, err
	}
	table := tableLines(lines[start+1:], len(want))
	r := csv.NewReader(strings.NewReader(table))
	r.FieldsPerRecord = -1
	b := openstage.NewBuilder(alloc, sc)
	defer b.Release()
	for n := 1; ; n++ {
		rec, err := r.Read()
		if err != nil {
			if err == io.EOF {
				break
			}
			return nil, fmt.Errorf("answer row %d is not valid CSV: %v", n, unwrapCSV(err))
		}
		if len(rec) != len(want) {
			return nil, fmt.Errorf("answer row %d has %d values, the header %d: %s", n, len(rec), len(want), clip(strings.Join(rec, ","), 120))
		}
		for c, src := range order {
			v, err := convertText(rec[src], sc.Field(c).Type)
			if err != nil {
				return nil, fmt.Errorf("answer row %d, column '%s': %w", n, want[c], err)
			}
			if err := openstage.AppendValue(b.Field(c), v); err != nil {
				return nil, fmt.Errorf("answer row %d, column '%s': %w", n, want[c], err)
			}
		}
	}
	return b.Build(), nil
}

func unwrapCSV(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// unfence returns the content of the first Markdown code fence of text, or
// text; line ends become \n.
func unfence(text string) string {
	text = strings.TrimPrefix(strings.ReplaceAll(text, "\r\n", "\n"), "\ufeff")
	i := strings.Index(text, "```")
	if i < 0 {
		return text
	}
	rest := text[i+3:]
	nl := strings.IndexByte(rest, '\n')
	if nl < 0 {
		return text
	}
	rest = rest[nl+1:] // past the fence's language tag
	if j := strings.Index(rest, "```"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// findHeader finds the header line among lines: the first whose fields
// are the wanted names (in any order and case). order[c] is the field of
// the answer holding wanted column c.
func findHeader(lines []string, want []string) (int, []int, error) {
	firstCSV := -1
	var firstFields []string
	for i, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		fields, err := csv.NewReader(strings.NewReader(line)).Read()
		if err != nil {
			continue
		}
		if firstCSV < 0 && (len(fields) > 1 || len(want) == 1) {
			firstCSV, firstFields = i, fields
		}
		if order, ok := matchHeader(fields, want); ok {
			return i, order, nil
		}
	}
	if strings.TrimSpace(strings.Join(lines, "")) == "" {
		return 0, nil, errors.New("it is empty")
	}
	if firstCSV < 0 {
		return 0, nil, fmt.Errorf("it has no CSV header %s; it begins: %s", strings.Join(want, ","), clip(strings.Join(lines, " "), 120))
	}
	got := make([]string, len(firstFields))
	for i, f := range firstFields {
		got[i] = strings.TrimSpace(f)
	}
	msg := fmt.Sprintf("its columns are %s, expected %s", strings.Join(got, ","), strings.Join(want, ","))
	var extra, missing []string
	for _, g := range got {
		if indexFold(want, g) < 0 {
			extra = append(extra, g)
		}
	}
	for _, w := range want {
		if indexFold(got, w) < 0 {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		msg += fmt.Sprintf(" (missing: %s)", strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		msg += fmt.Sprintf(" (not expected: %s; if the prompt adds columns, declare them, e.g. output_columns: [\"*\", {%s: string}])", strings.Join(extra, ", "), extra[0])
	}
	return 0, nil, errors.New(msg)
}

func matchHeader(fields, want []string) ([]int, bool) {
	if len(fields) != len(want) {
		return nil, false
	}
	order := make([]int, len(want))
	used := make([]bool, len(fields))
	for c, w := range want {
		j := -1
		for k, f := range fields {
			if !used[k] && strings.TrimSpace(f) == w {
				j = k
				break
			}
		}
		if j < 0 {
			for k, f := range fields {
				if !used[k] && strings.EqualFold(strings.TrimSpace(f), w) {
					j = k
					break
				}
			}
		}
		if j < 0 {
			return nil, false
		}
		used[j] = true
		order[c] = j
	}
	return order, true
}

func indexFold(list []string, s string) int {
	for i, x := range list {
		if strings.EqualFold(x, s) {
			return i
		}
	}
	return -1
}

// tableLines joins the lines after the header, leaving out prose that
// follows the table after a blank line: a tail whose lines do not all read
// as rows of n values.
func tableLines(lines []string, n int) string {
	end := len(lines)
	for end > 0 && strings.TrimSpace(lines[end-1]) == "" {
		end--
	}
	lines = lines[:end]
	for i := len(lines) - 1; i > 0; i-- {
		if strings.TrimSpace(lines[i]) != "" {
			continue
		}
		tail := strings.Join(lines[i+1:], "\n")
		r := csv.NewReader(strings.NewReader(tail))
		r.FieldsPerRecord = n
		if _, err := r.ReadAll(); err != nil {
			lines = lines[:i]
		}
		break
	}
	return strings.Join(lines, "\n")
}

// convertText reads one CSV cell as a value of type t: "" (and, for
// non-string types, null) is a null.
func convertText(s string, t arrow.DataType) (any, error) {
	if t.ID() == arrow.STRING {
		if s == "" {
			return nil, nil
		}
		return s, nil
	}
	v := strings.TrimSpace(s)
	if v == "" || strings.EqualFold(v, "null") {
		return nil, nil
	}
	switch t.ID() {
	case arrow.INT64:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n, nil
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil && f == float64(int64(f)) {
			return int64(f), nil
		}
		return nil, fmt.Errorf("cannot read %q as an integer", clip(s, 60))
	case arrow.FLOAT64:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("cannot read %q as a number", clip(s, 60))
		}
		return f, nil
	case arrow.BOOL:
		switch strings.ToLower(v) {
		case "true", "yes", "1", "t", "y":
			return true, nil
		case "false", "no", "0", "f", "n":
			return false, nil
		}
		return nil, fmt.Errorf("cannot read %q as true or false", clip(s, 60))
	case arrow.DATE32, arrow.TIMESTAMP:
		tm, err := openstage.ParseTime(v)
		if err != nil {
			return nil, fmt.Errorf("cannot read %q as a date or timestamp", clip(s, 60))
		}
		return tm, nil
	}
	return v, nil
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
