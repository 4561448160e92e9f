package csvio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/fileio"
)

// CSVOrigin reads CSV files. Column types are inferred from a sample of rows
// at validation (int64, float64, bool, date, timestamp, else string; see
// InferSchema: inference never changes a value's text) unless given in
// column_types. A field that does not convert to its column's type fails the
// job with the file, line and column and the options that fix it — or, when
// a reject pipe is declared, goes to that pipe as text with the line and the
// error. Columns that no stage reads are not converted (see Project).
//
// path is one file, a glob or a list of them: the files are read one after
// another as one stream with one schema (every file must have the same
// header); filename_column adds the file each row came from.
type CSVOrigin struct {
	Path             openstage.Strings `param:"path" path:"true" required:"true" doc:"The CSV file to read; or a glob (data/2025-*.csv, matches in name order) or a list of files and globs (in the list's order), read one after another as one stream: every file must have the same header."`
	Delimiter        byte              `param:"delimiter" default:"," doc:"Field separator: one character; \\t for tab."`
	Header           bool              `param:"header" default:"true" doc:"Whether the first row holds the column names (otherwise columns are column_1, column_2, ...)."`
	Quoting          bool              `param:"quoting" default:"true" doc:"Whether double quotes delimit fields (RFC 4180); false reads quotes as ordinary characters."`
	Quote            byte              `param:"quote" default:"\"" doc:"The quote character."`
	NullValues       []string          `param:"null_values" doc:"Fields that mean null (default: an empty unquoted field). A quoted empty field \"\" is an empty string."`
	ColumnTypes      map[string]string `param:"column_types" doc:"Column name → type (int64, float64, bool, string, date, timestamp), overriding inference."`
	SampleRows       int               `param:"sample_rows" default:"10000" doc:"How many rows type inference reads (0: every row, across the files of path)."`
	Reject           string            `param:"reject" doc:"Output pipe that receives rows whose fields do not convert (as text, plus line and error columns) instead of failing the job."`
	BatchRows        int               `param:"batch_rows" default:"16384" doc:"Rows per batch (at most; fewer at the end of each 4 MB chunk of the file). Smaller batches stay in the processor caches: 16384 was faster and used less memory than 65536 on the benchmark (docs/benchmarks.md)."`
	Encoding         string            `param:"encoding" default:"utf-8" doc:"Character encoding of the files: utf-8, utf-8-sig, latin1 (iso-8859-1), windows-1252, utf-16 (with a byte order mark), or another name golang.org/x/text knows (iso-8859-15, windows-1250, shift_jis, gbk, big5, euc-kr, ...)."`
	InvalidUTF8      string            `param:"invalid_utf8" default:"error" enum:"error,replace" doc:"With encoding utf-8, what a byte that is not valid UTF-8 does: fail the job naming its line and character, or read as U+FFFD."`
	DuplicateColumns string            `param:"duplicate_columns" default:"error" enum:"error,rename" doc:"What a header naming a column twice does: fail, naming both positions, or rename the repeats id_2, id_3, ..."`
	Compression      string            `param:"compression" default:"auto" enum:"auto,none,gzip,zstd" doc:"Compression of the files; auto: gzip for .gz, zstd for .zst, none otherwise."`
	FilenameColumn   string            `param:"filename_column" doc:"Name of a column to add holding the file each row came from (as path gives it)."`

	files   []string             // path expanded, set by Plan
	schema  *arrow.Schema        // every column of the files
	project []string             // columns to read (Project); nil means all
	sel     []int                // their positions, set by Plan
	addName bool                 // the filename column is read
	fold    *openstage.Condition // FoldFilter: the condition applied while reading
	workers int                  // parsers: the job's workers (Plan.Workers)

	read, size atomic.Int64 // bytes read by Pump and the files' size (Progress)
}

// Progress implements openstage.ProgressReporter: the bytes of the files
// read so far and their total size (unknown, 0, when one is compressed: its
// size on disk does not say how many bytes it holds).
func (o *CSVOrigin) Progress() (read, total int64) { return o.read.Load(), o.size.Load() }

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// measure sets the total of Progress: the files' sizes.
func (o *CSVOrigin) measure() {
	o.read.Store(0)
	var total int64
	for _, path := range o.files {
		st, err := os.Stat(path)
		if err != nil || !st.Mode().IsRegular() || fileio.Resolve(path, o.Compression) != fileio.None {
			o.size.Store(0)
			return
		}
		total += st.Size()
	}
	o.size.Store(total)
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "CSVOrigin",
		Layer:   openstage.Extraction,
		Summary: "Reads CSV files (RFC 4180; UTF-8 or another encoding; plain, gzip or zstd), in parallel, with typed columns.",
		Doc: `Types are inferred from the first sample_rows rows without ever changing
a value's text: 00501 stays a string, 12.50 is a float64 written back as
12.50, 2025-01-31 10:00 a timestamp written back the same way; see the CSV
section of docs/job-files.md. A value later in the file that does not
convert fails the job with its file, line and column and the options that
fix it (column_types, sample_rows, a reject pipe).

Only the columns that some stage downstream reads are converted
(projection pushdown; openstage validate and --verbose show it): every field is still scanned, so a
ragged row or an unclosed quote fails the job with its line, but a value
that would not convert in a column nobody reads is not an error. With a
reject pipe every column is converted, so every row that does not convert
is rejected.

A Filter (field, condition, value) reading this origin, directly or through
stages that pass its column unchanged (Sort, a left join's left side, ...),
is applied while reading: its column is converted first and the other
columns of the rows it drops are not converted (openstage validate
--explain shows it; the Filter still runs). A value that would not convert
in a dropped row is then not an error either.`,
		New: func() any { return &CSVOrigin{} },
		Example: `- name: orders_reader
  type: CSVOrigin
  path: data/orders.csv
  column_types: {order_date: date}`,
	})
}

// NewCSVOrigin returns a CSVOrigin stage reading path (a file or a glob;
// several are read in turn) with the defaults (comma, header, quotes,
// inferred types, UTF-8).
func NewCSVOrigin(name string, path ...string) *openstage.Stage {
	return openstage.New(name, func(o *CSVOrigin) { o.Path = path })
}

// Connectivity implements openstage's optional interface: one output, and a
// second when a reject pipe is declared.
func (o *CSVOrigin) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinOut: 1, MaxOut: 2}
}

func (o *CSVOrigin) options(path string) ReadOptions {
	opts := ReadOptions{Path: path, Delimiter: o.Delimiter, Quote: o.Quote, NoQuoting: !o.Quoting, Header: o.Header, BatchRows: o.BatchRows, CollectRejects: o.Reject != "",
		Encoding: o.Encoding, ReplaceInvalidUTF8: o.InvalidUTF8 == "replace", RenameDuplicates: o.DuplicateColumns == "rename"}
	if o.NullValues != nil {
		opts.NullValues = o.NullValues
	}
	return opts
}

// open opens one of the files, decompressed.
func (o *CSVOrigin) open(path string) (io.ReadCloser, error) {
	return fileio.Open(path, fileio.Resolve(path, o.Compression))
}

// Project implements openstage.Projector: only cols are read, the other
// columns are scanned but not converted, so a value that would not convert
// there is not an error. With a reject pipe every column is read, so that
// every row that does not convert is rejected.
func (o *CSVOrigin) Project(cols []string) {
	o.project = cols
}

// Plan implements openstage.Origin: it reads the header of every file and a
// sample of rows.
func (o *CSVOrigin) Plan(_ context.Context, p *openstage.Plan) error {
	o.workers = p.Workers()
	files, err := fileio.Expand(o.Path)
	if err != nil {
		return err
	}
	if _, err := lookupEncoding(o.Encoding); err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	overrides := map[string]arrow.DataType{}
	for _, name := range slices.Sorted(maps.Keys(o.ColumnTypes)) {
		t, err := openstage.ParseType(o.ColumnTypes[name])
		if err != nil {
			return fmt.Errorf("column_types: column '%s': %w", name, err)
		}
		overrides[name] = t
	}
	inf, err := NewInference(o.options(files[0]), o.SampleRows)
	if err != nil {
		return err
	}
	var first []string
	for i, path := range files {
		f, err := o.open(path)
		if err != nil {
			return err
		}
		var names []string
		if i == 0 || !inf.Full() {
			names, err = inf.Sample(f, path)
		} else {
			names, err = readHeader(f, o.options(path))
		}
		f.Close()
		if err != nil {
			return err
		}
		if i == 0 {
			first = names
			continue
		}
		if !slices.Equal(names, first) {
			if !o.Header {
				return fmt.Errorf("'%s' has %d columns but '%s' has %d; the files of path are read as one table and must have the same columns", path, len(names), files[0], len(first))
			}
			return fmt.Errorf("'%s' has the columns %s but '%s' has %s; the files of path are read as one table and must have the same header", path, strings.Join(names, ", "), files[0], strings.Join(first, ", "))
		}
	}
	schema, err := inf.Schema(overrides)
	if err != nil {
		return err
	}
	for name := range overrides {
		if _, err := openstage.FieldIndex(schema, name); err != nil {
			return fmt.Errorf("column_types: %w", err)
		}
	}
	if c := o.FilenameColumn; c != "" {
		if slices.Contains(first, c) {
			return fmt.Errorf("filename_column '%s' is also a column of the file; choose another name", c)
		}
	}
	o.files = files
	o.schema = schema
	o.sel = nil
	o.addName = o.FilenameColumn != ""
	if o.project != nil && o.Reject == "" {
		fields := make([]arrow.Field, 0, len(o.project))
		o.addName = false
		for _, name := range o.project {
			if name == o.FilenameColumn && o.FilenameColumn != "" {
				o.addName = true
				continue
			}
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
		if o.addName {
			fields = append(fields, o.nameField())
		}
		md := schema.Metadata()
		p.SetOutputs(arrow.NewSchema(fields, &md))
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
	p.SetOutputs(o.outSchema())
	return nil
}

func (o *CSVOrigin) nameField() arrow.Field {
	return arrow.Field{Name: o.FilenameColumn, Type: arrow.BinaryTypes.String, Nullable: true}
}

// outSchema is the schema of the main output without projection.
func (o *CSVOrigin) outSchema() *arrow.Schema {
	if !o.addName {
		return o.schema
	}
	md := o.schema.Metadata()
	return arrow.NewSchema(append(slices.Clone(o.schema.Fields()), o.nameField()), &md)
}

// readHeader reads the header of r.
func readHeader(r io.Reader, opts ReadOptions) ([]string, error) {
	return ReadHeader(r, opts)
}

// hint adds to a value that does not convert the options that fix it.
func (o *CSVOrigin) hint(err error) error {
	var pe *ParseError
	if !errors.As(err, &pe) || !pe.Conversion || pe.Column == "" {
		return err
	}
	i := o.schema.FieldIndices(pe.Column)
	if len(i) == 0 {
		return err
	}
	typ := openstage.TypeName(o.schema.Field(i[0]).Type)
	col := pe.Column
	if strings.ContainsAny(col, " :,{}[]'\"#") {
		col = strconv.Quote(col)
	}
	if _, declared := o.ColumnTypes[pe.Column]; declared {
		return fmt.Errorf("%w; column_types declares it %s: declare another type (column_types: {%s: string} keeps any text), or connect a reject pipe (reject: PIPE) to set such rows aside", err, typ, col)
	}
	sample := "every row"
	if o.SampleRows > 0 {
		sample = fmt.Sprintf("the first %d rows", o.SampleRows)
	}
	return fmt.Errorf("%w; the column was inferred as %s from %s (sample_rows): declare its type (column_types: {%s: string} keeps any text), raise sample_rows (0 reads every row), or connect a reject pipe (reject: PIPE) to set such rows aside", err, typ, sample, col)
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
	o.measure()
	for _, path := range o.files {
		if err := o.pumpFile(ctx, out, path); err != nil {
			return err
		}
	}
	return nil
}

func (o *CSVOrigin) pumpFile(ctx context.Context, out *openstage.Outputs, path string) error {
	f, err := o.open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	opts := o.options(path)
	opts.Alloc = out.Allocator()
	opts.Select = o.sel
	opts.Workers = o.workers
	opts.Where = o.fold
	r := NewReaderContext(ctx, countingReader{f, &o.read}, o.schema, opts)
	defer r.Close()
	if o.fold != nil {
		// How many rows the Filter folded here did not need to see.
		defer func() { out.Count("rows_filtered", r.Dropped()) }()
	}
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return o.hint(err)
		}
		if o.addName {
			rec = withName(out.Allocator(), rec, o.FilenameColumn, path)
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

// withName returns rec with a last column holding name in every row; it
// releases rec.
func withName(mem memory.Allocator, rec arrow.RecordBatch, col, name string) arrow.RecordBatch {
	defer rec.Release()
	n := int(rec.NumRows())
	b := array.NewStringBuilder(mem)
	defer b.Release()
	b.ReserveData(n * len(name))
	b.Reserve(n)
	for range n {
		b.Append(name)
	}
	a := b.NewArray()
	defer a.Release()
	fields := append(slices.Clone(rec.Schema().Fields()), arrow.Field{Name: col, Type: arrow.BinaryTypes.String, Nullable: true})
	md := rec.Schema().Metadata()
	cols := append(slices.Clone(rec.Columns()), a)
	return array.NewRecordBatch(arrow.NewSchema(fields, &md), cols, int64(n))
}

func (o *CSVOrigin) sendRejects(ctx context.Context, out *openstage.Outputs, rejects []Reject) error {
	rec := o.rejectBatch(out.Allocator(), rejects)
	defer rec.Release()
	return out.SendTo(ctx, o.Reject, rec)
}

// rejectBatch builds the reject pipe's batch of rejects.
func (o *CSVOrigin) rejectBatch(mem memory.Allocator, rejects []Reject) arrow.RecordBatch {
	schema := rejectSchema(o.schema)
	b := openstage.NewBuilder(mem, schema)
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
	return b.Build()
}

// FoldFilter implements openstage.FilterFolder: the condition is tested
// while parsing, on its column converted first, and the other columns of
// the rows that fail are not converted (ReadOptions.Where). Not with a
// reject pipe (every row that does not convert must be rejected), nor on
// the filename column or a column left out by projection.
func (o *CSVOrigin) FoldFilter(c *openstage.Condition) (string, bool) {
	o.fold = nil
	if c == nil || o.Reject != "" || o.schema == nil || c.Column == o.FilenameColumn && o.FilenameColumn != "" {
		return "", false
	}
	idx := o.schema.FieldIndices(c.Column)
	if len(idx) != 1 || o.sel != nil && !slices.Contains(o.sel, idx[0]) {
		return "", false
	}
	kinds, err := schemaKinds(o.schema)
	if err != nil {
		return "", false
	}
	if _, err := compileWhere(c, o.schema, kinds); err != nil {
		return "", false
	}
	cc := *c
	o.fold = &cc
	return fmt.Sprintf("rows that fail are dropped as they are parsed; their other columns are not converted"), true
}
