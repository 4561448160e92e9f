package ai

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/open-stage/openstage"
)

const rowSystem = `You are the transformation step of a data pipeline. You receive a request about one record. Answer with the answer only: no preamble, no explanation, no Markdown.`

// template is a row-mode prompt: literal text and ${column} references.
type template struct {
	parts []string // literal, column, literal, column, ..., literal
	cols  []int    // input column of each reference
}

// parseTemplate reads ${column} references of in's columns.
func parseTemplate(text string, in *arrow.Schema) (template, error) {
	var t template
	rest := text
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			t.parts = append(t.parts, rest)
			return t, nil
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return t, fmt.Errorf("prompt: '${' at %q is not closed with '}'", clip(rest[i:], 30))
		}
		name := strings.TrimSpace(rest[i+2 : i+j])
		idx, err := openstage.FieldIndex(in, name)
		if err != nil {
			return t, fmt.Errorf("prompt: ${%s}: %w", name, err)
		}
		t.parts = append(t.parts, rest[:i])
		t.cols = append(t.cols, idx)
		rest = rest[i+j+1:]
	}
}

func (t template) expand(b openstage.Batch, row int) string {
	var sb strings.Builder
	for k, part := range t.parts {
		sb.WriteString(part)
		if k < len(t.cols) {
			sb.WriteString(cellText(b.ColAt(t.cols[k]), row))
		}
	}
	return sb.String()
}

// planRow resolves the added columns and prompts of row mode.
func (s *Stage) planRow(rt *runtime) error {
	tmpl, err := parseTemplate(s.Prompt, rt.in)
	if err != nil {
		return err
	}
	if len(tmpl.cols) == 0 {
		return errors.New("prompt: row mode needs a template with at least one ${column} of the input (in a job file $${column}); for a prompt about the whole batch use mode: table")
	}
	rt.tmpl = tmpl
	switch {
	case s.ResponseFormat == "csv":
		return errors.New("response_format: csv is for mode: table; row mode answers as text or json")
	case s.ResponseFormat == "text" && len(s.OutputColumns) > 0:
		return errors.New("output_columns in row mode are parsed from a JSON answer: set response_format: json (or leave it out), or use output_column for a text answer")
	case s.ResponseFormat == "json" && len(s.OutputColumns) == 0:
		return errors.New("response_format: json needs output_columns: the keys and types of the answer")
	case len(s.OutputColumns) > 0:
		rt.format = "json"
	default:
		rt.format = "text"
	}
	if rt.format == "json" {
		for _, c := range s.OutputColumns {
			if c.Name == "*" || c.Name == "" {
				return errors.New(`output_columns: in row mode they are the columns added to each row; "*" and empty names do not apply`)
			}
			f, err := outField(arrow.NewSchema(nil, nil), c)
			if err != nil {
				return err
			}
			for _, g := range rt.added {
				if g.Name == f.Name {
					return fmt.Errorf("output_columns: column '%s' is listed twice", f.Name)
				}
			}
			rt.added = append(rt.added, f)
		}
	} else {
		name := s.OutputColumn
		if name == "" {
			name = "answer"
		}
		rt.added = []arrow.Field{{Name: name, Type: openstage.String, Nullable: true}}
	}
	// The output is the input with the added columns: one named like an
	// input column replaces it in place, the others are appended.
	fields := append([]arrow.Field{}, rt.in.Fields()...)
	rt.srcOf = make([]int, len(fields))
	for i := range fields {
		rt.srcOf[i] = i
	}
	for k, f := range rt.added {
		if idx := rt.in.FieldIndices(f.Name); len(idx) > 0 {
			fields[idx[0]] = f
			rt.srcOf[idx[0]] = -2 - k
		} else {
			fields = append(fields, f)
			rt.srcOf = append(rt.srcOf, -2-k)
		}
	}
	rt.out = arrow.NewSchema(fields, nil)
	rt.system = rowSystem
	if s.System != "" {
		rt.system = s.System
	}
	if rt.format == "json" {
		rt.schema = objectSchema(rt.added)
		names := make([]string, len(rt.added))
		for i, f := range rt.added {
			names[i] = f.Name
		}
		rt.note = fmt.Sprintf("Answer with a JSON object with exactly the keys %s (null for a missing value). Types: %s.", strings.Join(quoted(names), ", "), typeList(rt.added))
	}
	return nil
}

func (s *Stage) rowPrompt(b openstage.Batch, i int) string {
	p := s.rt.tmpl.expand(b, i)
	if s.rt.note != "" {
		p += "\n\n" + s.rt.note
	}
	return p
}

// rowBatch asks once per row, in order, and emits the rows with their
// answers; a row that fails goes to reject (or fails the job).
func (s *Stage) rowBatch(ctx context.Context, dp openstage.DataPackage, out *openstage.Emitter) error {
	rt := s.rt
	rec := dp.Batch
	b := openstage.View(rec)
	var good, bad []int32
	var msgs []string
	vals := make([][]any, len(rt.added)) // per added column, per good row
	for i := 0; i < b.Len(); i++ {
		req := s.newRequest(s.rowPrompt(b, i))
		rep, key, cached, err := s.ask(ctx, req, out)
		var v []any
		switch {
		case err != nil:
		case rep.Truncated:
			err = fmt.Errorf("the answer does not fit in max_tokens (%d; the model stopped with %s); raise max_tokens", s.maxTokens(), rep.Stop)
		default:
			v, err = s.rowAnswer(rep.Text)
			if err == nil {
				err = s.remember(key, cached, rep)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			err = rt.scrubErr(fmt.Errorf("row %d: %w", dp.FirstRow+int64(i)+1, err))
			if s.Reject == "" {
				return err
			}
			bad = append(bad, int32(i))
			msgs = append(msgs, err.Error())
			continue
		}
		good = append(good, int32(i))
		for k := range vals {
			vals[k] = append(vals[k], v[k])
		}
	}
	if len(good) > 0 {
		res, err := s.rowOutput(out, rec, good, vals)
		if err != nil {
			return err
		}
		out.Send(res)
		res.Release()
	}
	if len(bad) > 0 {
		rej := openstage.Rejects(out.Allocator(), rec, bad, msgs)
		defer rej.Release()
		return out.SendTo(s.Reject, rej)
	}
	return nil
}

// rowAnswer reads one answer into the values of the added columns.
func (s *Stage) rowAnswer(text string) ([]any, error) {
	if s.rt.format == "text" {
		a := strings.TrimSpace(text)
		if a == "" {
			return []any{nil}, nil
		}
		return []any{a}, nil
	}
	var obj map[string]any
	if err := decodeJSON(text, &obj); err != nil {
		return nil, fmt.Errorf("the answer cannot be used: %w", err)
	}
	v, err := objectValues(obj, s.rt.added)
	if err != nil {
		return nil, fmt.Errorf("the answer cannot be used: %w", err)
	}
	return v, nil
}

// rowOutput builds the output batch: the good rows of rec and the added
// columns' values.
func (s *Stage) rowOutput(out *openstage.Emitter, rec arrow.RecordBatch, good []int32, vals [][]any) (arrow.RecordBatch, error) {
	rt := s.rt
	alloc := out.Allocator()
	taken := openstage.Take(alloc, rec, good)
	defer taken.Release()
	added := make([]arrow.Array, len(rt.added))
	defer func() {
		for _, a := range added {
			if a != nil {
				a.Release()
			}
		}
	}()
	for k, f := range rt.added {
		bld := array.NewBuilder(alloc, f.Type)
		for _, v := range vals[k] {
			if err := openstage.AppendValue(bld, v); err != nil {
				bld.Release()
				return nil, fmt.Errorf("column '%s': %w", f.Name, err)
			}
		}
		added[k] = bld.NewArray()
		bld.Release()
	}
	cols := make([]arrow.Array, len(rt.srcOf))
	for i, src := range rt.srcOf {
		if src >= 0 {
			cols[i] = taken.Column(src)
		} else {
			cols[i] = added[-2-src]
		}
	}
	return array.NewRecordBatch(rt.out, cols, int64(len(good))), nil
}
