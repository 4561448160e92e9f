package parquetio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/fileio"
)

// ParquetOrigin reads a Parquet file, one row group after another, so that
// memory holds about one row group of the columns read, whatever the size of
// the file. Plan reads only the file's footer (its schema); Pump reads the
// data. With columns, only those columns are read from the file, in the order
// given. Column types map to Open-Stage types as the package documentation
// describes; a column of another type is a validation error.
type ParquetOrigin struct {
	Path      string            `param:"path" path:"true" required:"true" doc:"The Parquet file to read."`
	Columns   openstage.Strings `param:"columns" doc:"Columns to read, in this order (default: every column, in the file's order). The others are not read from disk."`
	BatchRows int               `param:"batch_rows" default:"65536" doc:"Most rows per batch (a batch never spans two row groups); 0 means 65536."`

	schema   *arrow.Schema        // planned
	project  []string             // Project: the columns read downstream (nil: all)
	fold     *openstage.Condition // FoldFilter: row groups it rules out are skipped (filter.go)
	skipped  int64                // row groups skipped by the last Pump
	dictable []string             // planned: the string columns the file stores dictionary-encoded
	dict     []string             // SendDictionary: the columns Pump sends dictionary-encoded
}

// DictionaryColumns implements openstage.DictionaryOrigin: the string
// columns read whose every column chunk is dictionary-encoded (a dictionary
// page and no data page that fell back to plain encoding).
func (o *ParquetOrigin) DictionaryColumns() []string { return o.dictable }

// SendDictionary implements openstage.DictionaryOrigin: Pump sends cols as
// Arrow dictionary arrays, as the file stores them, instead of decoding
// them to plain strings.
func (o *ParquetOrigin) SendDictionary(cols []string) { o.dict = cols }

// dictionaryEncoded reports whether leaf column leaf is dictionary-encoded
// in every row group of the file.
func dictionaryEncoded(pq *file.Reader, leaf int) bool {
	md := pq.MetaData()
	if md.NumRowGroups() == 0 {
		return false
	}
	for rg := range md.NumRowGroups() {
		cc, err := md.RowGroup(rg).ColumnChunk(leaf)
		if err != nil || !cc.HasDictionaryPage() {
			return false
		}
		for _, st := range cc.EncodingStats() {
			// Page types of the Parquet format: 0 data page, 2 dictionary
			// page, 3 data page v2.
			if st.PageType == 0 || st.PageType == 3 {
				if st.Encoding != parquet.Encodings.RLEDict && st.Encoding != parquet.Encodings.PlainDict {
					return false
				}
			}
		}
	}
	return true
}

// Project implements openstage.Projector: columns no stage reads are not
// read from the file.
func (o *ParquetOrigin) Project(cols []string) { o.project = cols }

// column is one column the origin reads.
type column struct {
	name string
	leaf int            // the Parquet leaf column index
	file arrow.DataType // as pqarrow reads it
	conv converter      // to the Open-Stage type; nil when it already is
	dict bool           // read and sent dictionary-encoded (conv decodes a dictionary the engine does not carry)
}

const defaultBatchRows = 65536

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "ParquetOrigin",
		Layer:   openstage.Extraction,
		Summary: "Reads a Parquet file row group by row group, only the columns asked for.",
		Doc: `Validation reads only the file's footer: the column names and types, no data.
The run reads one row group at a time (batches of at most batch_rows rows,
never spanning two row groups), so memory holds about one row group of the
columns read, however large the file.

columns: [b, a] reads only those columns, in that order; the others are not
read from disk. A name that is not a column of the file is a validation
error listing the file's columns.

Types: int8, int16, int32, int64, uint8, uint16 and uint32 become int64;
float16, float32 and float64 become float64; bool stays bool; string,
large_string and binary (checked to be UTF-8 text), plain or
dictionary-encoded, become string; date32 and date64 become date; timestamps
of any unit and time zone become timestamp (microseconds, UTC: the instant is
kept, nanoseconds are rounded down; a timestamp without a zone is read as
UTC). Any other type (decimal, uint64, time, interval, fixed-size binary,
lists, maps, structs) is a validation error naming the column: leave it out
with columns. Nulls stay nulls.

A string column the file stores dictionary-encoded in every row group is
sent dictionary-encoded to stages that take it so (a Filter, a Copy, then
an Aggregator grouping by it): openstage validate --explain shows this
as the rewrite "dictionary". Every other stage receives plain strings.

A Filter (field, condition, value) reading this origin, directly or through
stages that pass its column unchanged, lets the origin skip every row group
whose statistics (min, max, null count) rule out all its rows: such a group
is not read (openstage validate --explain shows it; the counter
row_groups_skipped counts them; the Filter still runs on the others).
Timestamp and unsigned integer columns are not used for this.`,
		New: func() any { return &ParquetOrigin{} },
		Example: `- name: orders_reader
  type: ParquetOrigin
  path: data/orders.parquet
  columns: [order_id, amount, order_date]`,
	})
}

// NewParquetOrigin returns a ParquetOrigin stage reading every column of path.
func NewParquetOrigin(name, path string) *openstage.Stage {
	return openstage.New(name, func(o *ParquetOrigin) { o.Path = path })
}

// Connectivity implements openstage's optional interface: one output.
func (o *ParquetOrigin) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinOut: 1, MaxOut: 1}
}

// Plan implements openstage.Origin: it reads the file's footer, checks the
// columns and declares the output schema.
func (o *ParquetOrigin) Plan(_ context.Context, p *openstage.Plan) error {
	if o.BatchRows < 0 {
		return fmt.Errorf("batch_rows must be 1 or more (or 0 for the default), got %d", o.BatchRows)
	}
	if o.Columns != nil && len(o.Columns) == 0 {
		return fmt.Errorf("columns is empty; list the columns to read, or leave the parameter out to read them all")
	}
	r, err := openParquet(o.Path, p.Allocator())
	if err != nil {
		return err
	}
	defer r.Close()
	cols, schema, err := o.resolve(r)
	if err != nil {
		return err
	}
	o.schema = schema
	o.dictable = nil
	for _, c := range cols {
		if c.file.ID() == arrow.STRING && dictionaryEncoded(r.pq, c.leaf) {
			o.dictable = append(o.dictable, c.name)
		}
	}
	p.SetOutputs(schema)
	return nil
}

// reader is an open Parquet file.
type reader struct {
	pq *file.Reader
	fr *pqarrow.FileReader
}

func (r *reader) Close() error { return r.pq.Close() }

// openParquet opens path and reads its footer, with errors that say what is
// wrong and what to do. Buffers are allocated from mem.
func openParquet(path string, mem memory.Allocator) (*reader, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, fmt.Errorf("'%s' is a folder, not a Parquet file", path)
	}
	f, err := fileio.OpenFile(path)
	if err != nil {
		return nil, err
	}
	if err := checkMagic(f, path); err != nil {
		f.Close()
		return nil, err
	}
	props := parquet.NewReaderProperties(mem)
	pq, err := file.NewParquetReader(f, file.WithReadProps(props))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot read the footer of Parquet file '%s' (is it damaged?): %w", path, err)
	}
	// Dictionary-encoded text is decoded to plain strings: SetReadDict is
	// off here, and set by readDictionaries for the columns the engine lets
	// the origin send encoded. A file whose stored Arrow schema declares a
	// dictionary still comes out as a dictionary; mapType decodes it.
	fr, err := pqarrow.NewFileReader(pq, pqarrow.ArrowReadProperties{Parallel: true}, mem)
	if err != nil {
		pq.Close()
		return nil, fmt.Errorf("cannot read the schema of Parquet file '%s': %w", path, err)
	}
	return &reader{pq: pq, fr: fr}, nil
}

var (
	magic          = []byte("PAR1")
	magicEncrypted = []byte("PARE")
)

// checkMagic tells apart a file that is not Parquet at all, one that is
// incomplete (a Parquet file starts and ends with PAR1, the footer being
// written last) and an encrypted one, which the parquet library's own
// message does not.
func checkMagic(f *os.File, path string) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cannot read '%s': %w", path, err)
	}
	head := make([]byte, 4)
	tail := make([]byte, 4)
	size := st.Size()
	if size >= 4 {
		if _, err := f.ReadAt(head, 0); err != nil {
			return fmt.Errorf("cannot read '%s': %w", path, err)
		}
		if _, err := f.ReadAt(tail, size-4); err != nil {
			return fmt.Errorf("cannot read '%s': %w", path, err)
		}
	}
	switch {
	case size == 0:
		return fmt.Errorf("'%s' is empty, not a Parquet file", path)
	case bytes.Equal(tail, magicEncrypted):
		return fmt.Errorf("'%s' is an encrypted Parquet file; ParquetOrigin reads only unencrypted files", path)
	case !bytes.Equal(head, magic) && !bytes.Equal(head, magicEncrypted):
		return fmt.Errorf("'%s' is not a Parquet file (it does not start with the Parquet marker PAR1); check the path, or use the origin that matches its format", path)
	case size < 12 || !bytes.Equal(tail, magic):
		return fmt.Errorf("'%s' is an incomplete Parquet file: it has no footer (was it still being written, or truncated?)", path)
	}
	return nil
}

// resolve maps the file's columns (or those o.Columns asks for) to
// Open-Stage columns and returns the output schema.
func (o *ParquetOrigin) resolve(r *reader) ([]column, *arrow.Schema, error) {
	fileSchema, err := r.fr.Schema()
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read the schema of Parquet file '%s': %w", o.Path, err)
	}
	if fileSchema.NumFields() == 0 {
		return nil, nil, fmt.Errorf("Parquet file '%s' has no columns", o.Path)
	}
	var picked []int
	if o.Columns == nil {
		for i := range fileSchema.NumFields() {
			picked = append(picked, i)
		}
	} else {
		seen := map[string]bool{}
		for _, name := range o.Columns {
			i, err := openstage.FieldIndex(fileSchema, name)
			if err != nil {
				return nil, nil, fmt.Errorf("columns: %w", err)
			}
			if seen[name] {
				return nil, nil, fmt.Errorf("columns: '%s' is listed twice", name)
			}
			seen[name] = true
			picked = append(picked, i)
		}
	}
	if o.project != nil {
		keep := map[string]bool{}
		for _, c := range o.project {
			keep[c] = true
		}
		picked = slices.DeleteFunc(picked, func(i int) bool { return !keep[fileSchema.Field(i).Name] })
	}
	var (
		cols     []column
		fields   []arrow.Field
		bad      []string // "'name' (type)" of the columns Open-Stage cannot read
		names    = map[string]bool{}
		readable []string // the file's columns Open-Stage can read, for the suggestion
	)
	for i, f := range fileSchema.Fields() {
		if _, _, ok := mapType(f.Type); ok && r.fr.Manifest.Fields[i].IsLeaf() {
			readable = append(readable, f.Name)
		}
	}
	for _, i := range picked {
		f := fileSchema.Field(i)
		sf := r.fr.Manifest.Fields[i]
		out, conv, ok := mapType(f.Type)
		if !ok || !sf.IsLeaf() {
			bad = append(bad, fmt.Sprintf("'%s' (%s)", f.Name, f.Type))
			continue
		}
		if names[f.Name] {
			return nil, nil, fmt.Errorf("the file has two columns called '%s'; list the columns to read with columns (the first of the two is read)", f.Name)
		}
		names[f.Name] = true
		cols = append(cols, column{name: f.Name, leaf: sf.ColIndex, file: f.Type, conv: conv})
		fields = append(fields, arrow.Field{Name: f.Name, Type: out, Nullable: true})
	}
	if len(bad) > 0 {
		msg := fmt.Sprintf("column %s has a type Open-Stage cannot read", bad[0])
		it := "it"
		if len(bad) > 1 {
			msg = fmt.Sprintf("columns %s and %s have types Open-Stage cannot read", strings.Join(bad[:len(bad)-1], ", "), bad[len(bad)-1])
			it = "them"
		}
		if o.Columns != nil {
			return nil, nil, fmt.Errorf("%s; remove %s from columns", msg, it)
		}
		if len(readable) == 0 {
			return nil, nil, fmt.Errorf("%s, and the file has no other column", msg)
		}
		return nil, nil, fmt.Errorf("%s; leave %s out by listing the columns to read: columns: [%s]", msg, it, strings.Join(readable, ", "))
	}
	return cols, arrow.NewSchema(fields, nil), nil
}

// Pump implements openstage.Origin: it sends the file's rows one row group
// after the other, in batches of at most batch_rows rows.
func (o *ParquetOrigin) Pump(ctx context.Context, out *openstage.Outputs) error {
	err := o.pump(ctx, out.Allocator(), func(rec arrow.RecordBatch) error { return out.Send(ctx, rec) })
	if o.skipped > 0 {
		out.Count("row_groups_skipped", o.skipped)
	}
	return err
}

// pump is Pump with its dependencies on the engine spelled out: batches are
// built from mem and given to send, which does not take their reference.
func (o *ParquetOrigin) pump(ctx context.Context, mem memory.Allocator, send func(arrow.RecordBatch) error) error {
	o.skipped = 0
	r, cols, schema, leaves, err := o.open(mem, o.dict)
	if err != nil {
		return err
	}
	defer r.Close()
	var row int64 // rows sent so far
	for rg := range r.pq.NumRowGroups() {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := o.readRowGroup(ctx, mem, send, r, cols, schema, leaves, rg, row)
		row += n
		if err != nil {
			return err
		}
	}
	return nil
}

// open opens the file for reading its data and checks that it still has
// the schema planned. The columns dict are read as dictionary arrays.
func (o *ParquetOrigin) open(mem memory.Allocator, dict []string) (*reader, []column, *arrow.Schema, []int, error) {
	r, err := openParquet(o.Path, mem)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	// The file may have changed since Plan: the schema promised downstream
	// must still be what the file holds.
	cols, schema, err := o.resolve(r)
	if err == nil && !schema.Equal(o.schema) {
		err = fmt.Errorf("'%s' changed since the job was validated: its columns are now %s instead of %s; run the job again", o.Path, describe(schema), describe(o.schema))
	}
	if err != nil {
		r.Close()
		return nil, nil, nil, nil, err
	}
	if len(dict) > 0 {
		if err := readDictionaries(r, cols, dict, mem); err != nil {
			r.Close()
			return nil, nil, nil, nil, fmt.Errorf("cannot read the schema of Parquet file '%s': %w", o.Path, err)
		}
	}
	r.fr.Props.BatchSize = int64(o.BatchRows)
	if o.BatchRows == 0 {
		r.fr.Props.BatchSize = defaultBatchRows
	}
	leaves := make([]int, len(cols))
	for i, c := range cols {
		leaves[i] = c.leaf
	}
	return r, cols, schema, leaves, nil
}

// readDictionaries has r read the columns dict (dictionary-encoded string
// columns of cols) as dictionary arrays, and sends them on so.
func readDictionaries(r *reader, cols []column, dict []string, mem memory.Allocator) error {
	props := pqarrow.ArrowReadProperties{Parallel: true}
	for _, c := range cols {
		if slices.Contains(dict, c.name) {
			props.SetReadDict(c.leaf, true)
		}
	}
	fr, err := pqarrow.NewFileReader(r.pq, props, mem)
	if err != nil {
		return err
	}
	fs, err := fr.Schema()
	if err != nil {
		return err
	}
	for i, c := range cols {
		if !slices.Contains(dict, c.name) {
			continue
		}
		for k, f := range fs.Fields() {
			if f.Name == c.name && fr.Manifest.Fields[k].ColIndex == c.leaf {
				cols[i].file, cols[i].conv, cols[i].dict = f.Type, decodeDictionary, true
			}
		}
	}
	r.fr = fr
	return nil
}

// readRowGroup sends row group rg unless it is empty or its statistics
// rule it out (counted in o.skipped); row is the number of rows before it.
// It returns the group's number of rows.
func (o *ParquetOrigin) readRowGroup(ctx context.Context, mem memory.Allocator, send func(arrow.RecordBatch) error, r *reader, cols []column, schema *arrow.Schema, leaves []int, rg int, row int64) (int64, error) {
	rows := r.pq.MetaData().RowGroup(rg).NumRows()
	if rows == 0 {
		return 0, nil
	}
	if o.skipRowGroup(r.pq, cols, rg) {
		o.skipped++
		return rows, nil
	}
	return o.pumpRowGroup(ctx, mem, send, r, cols, schema, leaves, rg, row)
}

// RowGroups returns the number of row groups of the file of a planned
// origin: the parts ReadRowGroup reads independently. Distributed runners
// (the Beam translation) read the row groups in parallel.
func (o *ParquetOrigin) RowGroups() (int, error) {
	r, err := openParquet(o.Path, memory.DefaultAllocator)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return r.pq.NumRowGroups(), nil
}

// ReadRowGroup reads row group rg (0-based) of a planned origin as Pump
// reads it (the same columns, projection, batches and skipping by
// statistics): send receives each batch and does not take its reference.
// Row numbers in errors count from the start of the file. It returns the
// number of row groups skipped (0 or 1).
func (o *ParquetOrigin) ReadRowGroup(ctx context.Context, mem memory.Allocator, rg int, send func(arrow.RecordBatch) error) (skipped int64, err error) {
	r, cols, schema, leaves, err := o.open(mem, nil) // plain strings: the engine's rewrite concerns Pump only
	if err != nil {
		return 0, err
	}
	defer r.Close()
	if rg < 0 || rg >= r.pq.NumRowGroups() {
		return 0, fmt.Errorf("'%s' has %d row groups, not %d: it changed since the job was validated; run the job again", o.Path, r.pq.NumRowGroups(), rg+1)
	}
	var row int64
	for i := range rg {
		row += r.pq.MetaData().RowGroup(i).NumRows()
	}
	before := o.skipped
	_, err = o.readRowGroup(ctx, mem, send, r, cols, schema, leaves, rg, row)
	skipped = o.skipped - before
	o.skipped = before
	return skipped, err
}

// pumpRowGroup sends the rows of row group rg; row is the number of rows
// before it, for messages. It returns the number of rows sent.
func (o *ParquetOrigin) pumpRowGroup(ctx context.Context, mem memory.Allocator, send func(arrow.RecordBatch) error, r *reader, cols []column, schema *arrow.Schema, leaves []int, rg int, row int64) (int64, error) {
	rr, err := r.fr.GetRecordReader(ctx, leaves, []int{rg})
	if err != nil {
		return 0, fmt.Errorf("reading '%s', row group %d: %w", o.Path, rg+1, err)
	}
	defer rr.Release()
	var sent int64
	for {
		rec, err := rr.Read() // owned by rr until the next Read
		if err == io.EOF {
			return sent, nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return sent, ctx.Err()
			}
			return sent, fmt.Errorf("reading '%s', row group %d: %w", o.Path, rg+1, err)
		}
		batch, err := convert(rec, cols, schema, mem)
		if err != nil {
			var ve *valueError
			if errors.As(err, &ve) {
				return sent, fmt.Errorf("'%s', row %d: %w", o.Path, row+sent+int64(ve.row)+1, err)
			}
			return sent, fmt.Errorf("reading '%s': %w", o.Path, err)
		}
		err = send(batch)
		sent += batch.NumRows()
		batch.Release()
		if err != nil {
			return sent, err
		}
	}
}

// convert returns rec's columns as Open-Stage columns, in a new batch.
func convert(rec arrow.RecordBatch, cols []column, schema *arrow.Schema, mem memory.Allocator) (arrow.RecordBatch, error) {
	arrs := make([]arrow.Array, len(cols))
	defer func() {
		for _, a := range arrs {
			if a != nil {
				a.Release()
			}
		}
	}()
	for i, c := range cols {
		a := rec.Column(i)
		if !arrow.TypeEqual(a.DataType(), c.file) {
			return nil, fmt.Errorf("column '%s' came as %s, expected %s", c.name, a.DataType(), c.file)
		}
		if c.conv == nil || (c.dict && engineDictionary(a)) {
			a.Retain()
			arrs[i] = a
			continue
		}
		conv, err := c.conv(a, mem)
		if err != nil {
			var ve *valueError
			if errors.As(err, &ve) {
				return nil, &valueError{ve.row, fmt.Sprintf("column '%s': %s", c.name, ve.msg)}
			}
			return nil, fmt.Errorf("column '%s': %w", c.name, err)
		}
		arrs[i] = conv
	}
	for i, a := range arrs {
		if !arrow.TypeEqual(a.DataType(), schema.Field(i).Type) { // a dictionary column
			fields := slices.Clone(schema.Fields())
			for k, a := range arrs {
				fields[k].Type = a.DataType()
			}
			schema = arrow.NewSchema(fields, nil)
			break
		}
	}
	return array.NewRecordBatch(schema, arrs, rec.NumRows()), nil
}

// engineDictionary reports whether a is a dictionary column as the engine
// carries it (openstage.DictionaryStrings: int32 indices, string values
// without nulls).
func engineDictionary(a arrow.Array) bool {
	vals, _, ok := openstage.DictionaryStrings(a)
	return ok && vals.NullN() == 0
}

// describe lists a schema's columns with their types: id int64, name string.
func describe(s *arrow.Schema) string {
	parts := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		parts[i] = f.Name + " " + openstage.TypeName(f.Type)
	}
	return strings.Join(parts, ", ")
}
