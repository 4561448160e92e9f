package csvio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/open-stage/openstage"
)

// CSVOrigin reads a CSV file. Column types are inferred from a sample of rows
// at validation (int64, float64, bool, date, timestamp, else string) unless
// given in column_types. A field that does not convert to its column's type
// fails the job with the file, line and column — or, when a reject pipe is
// declared, goes to that pipe as text with the line and the error. Columns
// that no stage reads are not converted (see Project).
type CSVOrigin struct {
	Path        string            `param:"path" path:"true" required:"true" doc:"The CSV file to read."`
	Delimiter   byte              `param:"delimiter" default:"," doc:"Field separator: one character; \\t for tab."`
	Header      bool              `param:"header" default:"true" doc:"Whether the first row holds the column names (otherwise columns are column_1, column_2, ...)."`
	Quoting     bool              `param:"quoting" default:"true" doc:"Whether double quotes delimit fields (RFC 4180); false reads quotes as ordinary characters."`
	Quote       byte              `param:"quote" default:"\"" doc:"The quote character."`
	NullValues  []string          `param:"null_values" doc:"Fields that mean null (default: an empty unquoted field). A quoted empty field \"\" is an empty string."`
	ColumnTypes map[string]string `param:"column_types" doc:"Column name → type (int64, float64, bool, string, date, timestamp), overriding inference."`
	SampleRows  int               `param:"sample_rows" default:"10000" doc:"How many rows type inference reads."`
	Reject      string            `param:"reject" doc:"Output pipe that receives rows whose fields do not convert (as text, plus line and error columns) instead of failing the job."`
	BatchRows   int               `param:"batch_rows" default:"65536" doc:"Rows per batch."`

	schema  *arrow.Schema // every column of the file
	project []string      // columns to read (Project); nil means all
	sel     []int         // their positions, set by Plan
	workers int           // parsers: the job's workers (Plan.Workers)
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "CSVOrigin",
		Layer:   openstage.Extraction,
		Summary: "Reads a CSV file (RFC 4180, UTF-8 with or without BOM), in parallel, with typed columns.",
		Doc: `Only the columns that some stage downstream reads are converted
(projection pushdown; openstage validate and --verbose show it): every field is still scanned, so a
ragged row or an unclosed quote fails the job with its line, but a value
that would not convert in a column nobody reads is not an error. With a
reject pipe every column is converted, so every row that does not convert
is rejected.`,
		New: func() any { return &CSVOrigin{} },
		Example: `- name: orders_reader
  type: CSVOrigin
  path: data/orders.csv
  column_types: {order_date: date}`,
	})
}

// NewCSVOrigin returns a CSVOrigin stage reading path with the defaults
// (comma, header, quotes, inferred types).
func NewCSVOrigin(name, path string) *openstage.Stage {
	return openstage.New(name, func(o *CSVOrigin) { o.Path = path })
}

// Connectivity implements openstage's optional interface: one output, and a
// second when a reject pipe is declared.
func (o *CSVOrigin) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinOut: 1, MaxOut: 2}
}

func (o *CSVOrigin) options() ReadOptions {
	opts := ReadOptions{Path: o.Path, Delimiter: o.Delimiter, Quote: o.Quote, NoQuoting: !o.Quoting, Header: o.Header, BatchRows: o.BatchRows, CollectRejects: o.Reject != ""}
	if o.NullValues != nil {
		opts.NullValues = o.NullValues
	}
	return opts
}

// openInput opens path with an error that says what to do.
func openInput(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err == nil {
		return f, nil
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("file '%s' does not exist; check the path (in a job file, relative paths start from the job file's folder)", path)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("cannot read '%s': permission denied", path)
	}
	return nil, fmt.Errorf("cannot open '%s': %w", path, errors.Unwrap(err))
}

// Project implements openstage.Projector: only cols are read, the other
// columns are scanned but not converted, so a value that would not convert
// there is not an error. With a reject pipe every column is read, so that
// every row that does not convert is rejected.
func (o *CSVOrigin) Project(cols []string) {
	o.project = cols
}

// Plan implements openstage.Origin: it reads the header and a sample of rows.
func (o *CSVOrigin) Plan(_ context.Context, p *openstage.Plan) error {
	o.workers = p.Workers()
	if st, err := os.Stat(o.Path); err == nil && st.IsDir() {
		return fmt.Errorf("'%s' is a folder, not a CSV file", o.Path)
	}
	overrides := map[string]arrow.DataType{}
	for _, name := range slices.Sorted(maps.Keys(o.ColumnTypes)) {
		t, err := openstage.ParseType(o.ColumnTypes[name])
		if err != nil {
			return fmt.Errorf("column_types: column '%s': %w", name, err)
		}
		overrides[name] = t
	}
	f, err := openInput(o.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	schema, err := InferSchema(f, o.options(), o.SampleRows, overrides)
	if err != nil {
		return err
	}
	for name := range overrides {
		if _, err := openstage.FieldIndex(schema, name); err != nil {
			return fmt.Errorf("column_types: %w", err)
		}
	}
	o.schema = schema
	o.sel = nil
	if o.project != nil && o.Reject == "" {
		fields := make([]arrow.Field, 0, len(o.project))
		for _, name := range o.project {
			i, err := openstage.FieldIndex(schema, name)
			if err != nil {
				return fmt.Errorf("projection: %w", err)
			}
			if len(o.sel) > 0 && i <= o.sel[len(o.sel)-1] {
				return fmt.Errorf("projection: columns %v are not in the file's order", o.project)
			}
			o.sel = append(o.sel, i)
			fields = append(fields, schema.Field(i))
		}
		p.SetOutputs(arrow.NewSchema(fields, nil))
		return nil
	}
	if o.Reject != "" {
		if !p.HasOutput(o.Reject) {
			return fmt.Errorf("reject pipe '%s' is not an output of this stage; outputs: %v", o.Reject, p.Outputs())
		}
		if len(p.Outputs()) != 2 {
			return fmt.Errorf("with a reject pipe the stage needs exactly one other output pipe, has %d", len(p.Outputs())-1)
		}
		p.MarkReject(o.Reject)
		if err := p.SetOutput(o.Reject, rejectSchema(schema)); err != nil {
			return err
		}
	} else if len(p.Outputs()) > 1 {
		return fmt.Errorf("has %d output pipes; give it one, or declare the second as its reject pipe (reject: %s)", len(p.Outputs()), p.Outputs()[1])
	}
	p.SetOutputs(schema)
	return nil
}

// rejectSchema is the schema of a CSVOrigin's reject pipe: every column as
// text (the value could not be converted), the line and the error.
func rejectSchema(s *arrow.Schema) *arrow.Schema {
	fields := make([]arrow.Field, 0, s.NumFields()+2)
	for _, f := range s.Fields() {
		fields = append(fields, arrow.Field{Name: f.Name, Type: openstage.String, Nullable: true})
	}
	fields = append(fields,
		arrow.Field{Name: "line", Type: openstage.Int64, Nullable: true},
		arrow.Field{Name: openstage.ErrorColumn, Type: openstage.String, Nullable: true})
	return arrow.NewSchema(fields, nil)
}

// Pump implements openstage.Origin.
func (o *CSVOrigin) Pump(ctx context.Context, out *openstage.Outputs) error {
	f, err := openInput(o.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	opts := o.options()
	opts.Alloc = out.Allocator()
	opts.Select = o.sel
	opts.Workers = o.workers
	r := NewReaderContext(ctx, f, o.schema, opts)
	defer r.Close()
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		err = out.Send(ctx, rec)
		rec.Release()
		if err != nil {
			return err
		}
		if rejects := r.Rejects(); len(rejects) > 0 {
			if err := o.sendRejects(ctx, out, rejects); err != nil {
				return err
			}
		}
	}
}

func (o *CSVOrigin) sendRejects(ctx context.Context, out *openstage.Outputs, rejects []Reject) error {
	schema := rejectSchema(o.schema)
	b := openstage.NewBuilder(out.Allocator(), schema)
	defer b.Release()
	n := o.schema.NumFields()
	for _, rj := range rejects {
		for c := 0; c < n; c++ {
			sb := b.Field(c).(*array.StringBuilder)
			if c < len(rj.Record) {
				sb.Append(rj.Record[c])
			} else {
				sb.AppendNull()
			}
		}
		b.Field(n).(*array.Int64Builder).Append(rj.Line)
		b.Field(n + 1).(*array.StringBuilder).Append(rj.Err.Error())
	}
	rec := b.Build()
	defer rec.Release()
	return out.SendTo(ctx, o.Reject, rec)
}
