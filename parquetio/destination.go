package parquetio

import (
	"bufio"
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/atomicfile"
)

// ParquetDestination writes its input to a Parquet file, atomically: the
// file is written unnamed (or hidden) in the target's folder and takes the
// target's place only once the whole job has succeeded; a failed or
// cancelled job leaves the target as it was.
//
// Rows are gathered into row groups of row_group_rows rows; one row group,
// encoded and compressed, is held in memory until it is complete.
//
// if_exists: replace (default) or fail. Appending is not possible: a Parquet
// file ends with a footer that describes every row group, so adding rows
// means rewriting the file.
type ParquetDestination struct {
	Path         string `param:"path" path:"true" required:"true" doc:"The Parquet file to write."`
	Compression  string `param:"compression" default:"snappy" enum:"snappy,zstd,gzip,none" doc:"Compression of the column data: snappy (fast), zstd (smaller), gzip, or none."`
	RowGroupRows int    `param:"row_group_rows" default:"1048576" doc:"Rows per row group (the last one may have fewer). Larger groups compress better and read faster; the writer holds one group in memory. 0 means 1048576."`
	IfExists     string `param:"if_exists" default:"replace" enum:"replace,fail" hint:"append|append is not possible for Parquet: a Parquet file ends with a footer describing all its rows, so adding rows means rewriting it; use replace, or write one file per run" doc:"What to do when the file exists: replace it, or fail. (Appending to a Parquet file is not possible.)"`

	schema *arrow.Schema
	alloc  memory.Allocator
	file   *atomicfile.File
}

const defaultRowGroupRows = 1 << 20

var codecs = map[string]compress.Compression{
	"snappy": compress.Codecs.Snappy,
	"zstd":   compress.Codecs.Zstd,
	"gzip":   compress.Codecs.Gzip,
	"none":   compress.Codecs.Uncompressed,
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "ParquetDestination",
		Layer:   openstage.Load,
		Summary: "Writes a Parquet file atomically: complete when the job succeeds, untouched when it fails.",
		Doc: `The rows are written to a temporary file in the target's folder (on Linux an
unnamed one), which takes the target's place only when the whole job has
succeeded. A failed or cancelled job leaves the target as it was, and no
temporary file behind.

Rows are gathered into row groups of row_group_rows rows (default 1,048,576;
the last group may have fewer). The writer holds one row group in memory,
encoded and compressed, until it is complete: lower row_group_rows to use
less memory, at some cost in file size and reading speed. Columns are
dictionary-encoded (falling back to plain encoding when a column's
dictionary outgrows 1 MB in a row group), then compressed (snappy by
default).

Types are written as Parquet's: int64 as INT64, float64 as DOUBLE, bool as
BOOLEAN, string as UTF-8 BYTE_ARRAY, date as DATE, timestamp as
TIMESTAMP(MICROS, UTC). ParquetOrigin reads them back unchanged. Other Arrow
types a Go component may produce are written as Apache Arrow's Parquet
writer maps them; a type Parquet cannot hold is a validation error.

if_exists: replace (default) or fail. append is not possible for Parquet:
a Parquet file ends with a footer describing all its row groups, so adding
rows means rewriting the whole file. Write one file per run instead (for
example with a date in the path: path: out/orders_${run_date}.parquet).`,
		New: func() any { return &ParquetDestination{} },
		Example: `- name: writer
  type: ParquetDestination
  path: out/high_value.parquet
  compression: zstd`,
	})
}

// NewParquetDestination returns a ParquetDestination stage writing path
// (snappy, row groups of 1,048,576 rows, replacing an existing file).
func NewParquetDestination(name, path string) *openstage.Stage {
	return openstage.New(name, func(d *ParquetDestination) { d.Path = path })
}

// Connectivity implements openstage's optional interface: one input.
func (d *ParquetDestination) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinIn: 1, MaxIn: 1}
}

// Plan implements openstage.Destination: it checks the parameters, that
// Parquet can hold every column and that the output folder exists.
func (d *ParquetDestination) Plan(_ context.Context, p *openstage.Plan) error {
	d.schema = p.InputSchema()
	d.alloc = p.Allocator()
	if _, err := d.writerProperties(); err != nil {
		return err
	}
	if d.RowGroupRows < 0 {
		return fmt.Errorf("row_group_rows must be 1 or more (or 0 for the default), got %d", d.RowGroupRows)
	}
	if d.schema.NumFields() == 0 {
		return fmt.Errorf("the input has no columns")
	}
	seen := map[string]bool{}
	for _, f := range d.schema.Fields() {
		if seen[f.Name] {
			return fmt.Errorf("the input has two columns called '%s'; a Parquet file needs distinct column names", f.Name)
		}
		seen[f.Name] = true
		one := arrow.NewSchema([]arrow.Field{f}, nil)
		if _, err := pqarrow.ToParquet(one, nil, pqarrow.DefaultWriterProps()); err != nil {
			return fmt.Errorf("column '%s' has type %s, which Parquet cannot hold", f.Name, f.Type)
		}
	}
	_, err := atomicfile.PlanTarget(d.Path, d.IfExists, "replace")
	return err
}

// writerProperties returns the Parquet writer settings from the parameters.
func (d *ParquetDestination) writerProperties() (*parquet.WriterProperties, error) {
	name := d.Compression
	if name == "" {
		name = "snappy"
	}
	codec, ok := codecs[name]
	if !ok {
		return nil, fmt.Errorf("compression: '%s' is not one of snappy, zstd, gzip, none", d.Compression)
	}
	rows := int64(d.RowGroupRows)
	if rows == 0 {
		rows = defaultRowGroupRows
	}
	return parquet.NewWriterProperties(
		parquet.WithAllocator(d.alloc),
		parquet.WithCompression(codec),
		parquet.WithMaxRowGroupLength(rows),
	), nil
}

// Sink implements openstage.Destination: it writes every batch into the
// temporary file. Commit publishes it.
func (d *ParquetDestination) Sink(ctx context.Context, in *openstage.Inputs) error {
	props, err := d.writerProperties()
	if err != nil {
		return err
	}
	f, err := atomicfile.Create(d.Path, 0o644)
	if err != nil {
		return fmt.Errorf("cannot create a file in '%s': %w", atomicfile.Dir(d.Path), errors.Unwrap(err))
	}
	d.file = f
	// Page headers and pages are written separately: buffer them. The
	// bufio.Writer is not an io.Closer, so closing the Parquet writer does
	// not close the file, which Commit still needs.
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := pqarrow.NewFileWriter(d.schema, bw, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(d.alloc)))
	if err != nil {
		return fmt.Errorf("writing '%s': %w", d.Path, err)
	}
	err = in.ForEach(ctx, func(dp openstage.DataPackage) error {
		rec := openstage.DecodeDictionaries(d.alloc, dp.Batch) // the file gets plain strings, as planned
		defer rec.Release()
		if err := d.write(w, rec); err != nil {
			return fmt.Errorf("writing '%s': %w", d.Path, err)
		}
		return nil
	})
	if err != nil {
		w.Close() // releases the row group held in memory
		return err
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("writing '%s': %w", d.Path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing '%s': %w", d.Path, err)
	}
	return nil
}

// AcceptsDictionary implements openstage.DictionaryReader: any column may
// arrive dictionary-encoded; only the rows that reach the destination are
// decoded (after a Filter, say), as they are written.
func (d *ParquetDestination) AcceptsDictionary(_, _ string) (accept, passes bool) { return true, false }

// write adds rec to the current row group, starting new ones every
// row_group_rows rows. The writer insists on its own schema object, field
// metadata included: a batch whose columns have the planned types is
// re-labelled with it; other batches are an error (a component broke its
// promise), not a corrupt file.
func (d *ParquetDestination) write(w *pqarrow.FileWriter, rec arrow.RecordBatch) error {
	if !rec.Schema().Equal(d.schema) {
		if rec.NumCols() != int64(d.schema.NumFields()) {
			return fmt.Errorf("a batch has %d columns, the planned schema %d", rec.NumCols(), d.schema.NumFields())
		}
		for i, c := range rec.Columns() {
			if !arrow.TypeEqual(c.DataType(), d.schema.Field(i).Type) {
				return fmt.Errorf("column '%s' of a batch has type %s, the planned schema %s", d.schema.Field(i).Name, c.DataType(), d.schema.Field(i).Type)
			}
		}
		rec = array.NewRecordBatch(d.schema, rec.Columns(), rec.NumRows())
		defer rec.Release()
	}
	return w.WriteBuffered(rec)
}

// Commit implements openstage.Committer: the file takes the target's place.
func (d *ParquetDestination) Commit(context.Context) error {
	return d.file.Publish(d.IfExists == "fail")
}

// Abort implements openstage.Committer: the temporary file is discarded.
func (d *ParquetDestination) Abort() error { return d.file.Abort() }
