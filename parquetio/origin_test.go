package parquetio

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/open-stage/openstage"
)

var abc = openstage.NewSchema("a", openstage.Int64, "b", openstage.String, "c", openstage.String)

func abcRows(n int) [][]any {
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{int64(i), fmt.Sprintf("b%d", i), strings.Repeat(fmt.Sprintf("c%d-", i), 5)}
	}
	return rows
}

func TestProjection(t *testing.T) {
	path := tempPath(t, "abc.parquet")
	rows := abcRows(5000)
	mustWrite(t, path, abc, rows, 1000, func(d *ParquetDestination) { d.RowGroupRows = 2000 })

	// Damage every chunk of column c: reading c must now fail, and a
	// projection that leaves c out must not touch it.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	meta := fileMeta(t, path).MetaData()
	for rg := range meta.NumRowGroups() {
		cc, err := meta.RowGroup(rg).ColumnChunk(2)
		if err != nil {
			t.Fatal(err)
		}
		start := cc.DataPageOffset()
		if cc.HasDictionaryPage() {
			start = min(start, cc.DictionaryPageOffset())
		}
		if _, err := f.WriteAt([]byte(strings.Repeat("\xab", int(cc.TotalCompressedSize()))), start); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()

	sink := mustRead(t, path, func(o *ParquetOrigin) { o.Columns = openstage.Strings{"b", "a"} })
	if want := openstage.NewSchema("b", openstage.String, "a", openstage.Int64); !sink.Schema.Equal(want) {
		t.Fatalf("schema: got %s, want %s", sink.Schema, want)
	}
	if len(sink.Rows) != len(rows) {
		t.Fatalf("got %d rows, want %d", len(sink.Rows), len(rows))
	}
	for i, r := range rows {
		if want := []any{r[1], r[0]}; !reflect.DeepEqual(sink.Rows[i], want) {
			t.Fatalf("row %d: got %v, want %v", i+1, sink.Rows[i], want)
		}
	}

	_, err = readFile(t, path)
	if err == nil || !strings.HasPrefix(err.Error(), fmt.Sprintf("ParquetOrigin 'reader': reading '%s', row group 1: ", path)) {
		t.Fatalf("reading the damaged column: got %v", err)
	}
}

func TestProjectionErrors(t *testing.T) {
	path := tempPath(t, "abc.parquet")
	mustWrite(t, path, abc, abcRows(3), 0)
	for _, tt := range []struct {
		columns openstage.Strings
		want    string
	}{
		{openstage.Strings{"b", "nope"}, "ParquetOrigin 'reader': columns: field 'nope' not found; available columns: a, b, c"},
		{openstage.Strings{"B"}, "ParquetOrigin 'reader': columns: field 'B' not found; available columns: a, b, c (did you mean 'b'?)"},
		{openstage.Strings{"a", "a"}, "ParquetOrigin 'reader': columns: 'a' is listed twice"},
		{openstage.Strings{}, "ParquetOrigin 'reader': columns is empty; list the columns to read, or leave the parameter out to read them all"},
	} {
		_, err := readFile(t, path, func(o *ParquetOrigin) { o.Columns = tt.columns })
		if err == nil || err.Error() != tt.want {
			t.Errorf("columns %v:\ngot  %v\nwant %s", tt.columns, err, tt.want)
		}
		if !openstage.IsValidation(err) {
			t.Errorf("columns %v: not a validation error", tt.columns)
		}
	}
}

func TestStreaming(t *testing.T) {
	path := tempPath(t, "many.parquet")
	const rows, perGroup = 200_000, 5_000
	mustWrite(t, path, abc, abcRows(rows), 10_000, func(d *ParquetDestination) { d.RowGroupRows = perGroup })
	groups := fileMeta(t, path).NumRowGroups()
	if groups != rows/perGroup {
		t.Fatalf("row groups: got %d, want %d", groups, rows/perGroup)
	}

	for _, tt := range []struct {
		batchRows   int
		wantBatches int64
	}{
		{0, int64(groups)},        // default 65536: one batch per row group, never spanning two
		{perGroup, int64(groups)}, // exactly one row group
		{4999, int64(groups) * 2}, // 4999 + 1
		{2048, int64(groups) * 3}, // 2048 + 2048 + 904
		{1000, int64(groups) * 5},
	} {
		t.Run(fmt.Sprint(tt.batchRows), func(t *testing.T) {
			checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer checked.AssertSize(t, 0)
			mem := &peakAllocator{Allocator: checked}
			c := &counter{}
			org := openstage.New("reader", func(o *ParquetOrigin) { o.Path = path; o.BatchRows = tt.batchRows })
			org.AddOutputPipe(openstage.NewPipe("rows")).SetDestination(openstage.NewStage("count", c))
			job := openstage.NewJob("stream", org)
			job.Allocator = mem
			if err := job.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if c.rows.Load() != rows {
				t.Fatalf("rows: got %d, want %d", c.rows.Load(), rows)
			}
			if c.batches.Load() != tt.wantBatches || c.batches.Load() < int64(groups) {
				t.Fatalf("batches: got %d, want %d (row groups: %d)", c.batches.Load(), tt.wantBatches, groups)
			}
			// Memory: the decoded columns of the whole file take about
			// rows * (8 + 4 + 6 + 4 + 40) bytes; what is allocated at once
			// must stay near a few row groups' worth.
			whole := int64(rows * 62)
			if peak := mem.peak.Load(); peak > whole/4 {
				t.Fatalf("peak allocation %d bytes, more than a quarter of the decoded file (%d)", peak, whole)
			} else {
				t.Logf("peak allocation %d bytes (decoded file about %d)", peak, whole)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	path := tempPath(t, "many.parquet")
	mustWrite(t, path, abc, abcRows(100_000), 10_000, func(d *ParquetDestination) { d.RowGroupRows = 1000 })
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &counter{cancelAfter: 3, cancel: cancel}
	org := NewParquetOrigin("reader", path)
	org.AddOutputPipe(openstage.NewPipe("rows")).SetDestination(openstage.NewStage("count", c))
	job := openstage.NewJob("cancel", org)
	job.Allocator = checked
	err := job.Run(ctx)
	if !errors.Is(err, openstage.ErrCancelled) {
		t.Fatalf("got %v, want a cancellation", err)
	}
	if n := c.batches.Load(); n >= 100 {
		t.Fatalf("the origin read all %d batches despite the cancellation", n)
	}
}

// writeWithPqarrow writes records with pqarrow directly, one row group
// each (for types ParquetDestination never writes).
func writeWithPqarrow(t *testing.T, path string, recs ...arrow.RecordBatch) {
	t.Helper()
	rec := recs[0]
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(rec.Schema(), f, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// unsupportedFile writes columns id (int64), price (decimal), tags (list of
// int64) and name (string).
func unsupportedFile(t *testing.T, path string) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "price", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}, Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).Append(1)
	b.Field(1).(*array.Decimal128Builder).Append(decimal128.FromI64(1999))
	lb := b.Field(2).(*array.ListBuilder)
	lb.Append(true)
	lb.ValueBuilder().(*array.Int64Builder).Append(7)
	b.Field(3).(*array.StringBuilder).Append("x")
	rec := b.NewRecordBatch()
	defer rec.Release()
	writeWithPqarrow(t, path, rec)
}

func TestOriginErrors(t *testing.T) {
	dir := t.TempDir()
	at := func(name string) string { return dir + "/" + name }

	csv := at("orders.parquet") // a CSV file under a Parquet name
	if err := os.WriteFile(csv, []byte("id,name\n1,x\n2,y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := at("good.parquet")
	mustWrite(t, good, abc, abcRows(100), 0)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	truncated := at("truncated.parquet")
	if err := os.WriteFile(truncated, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	badFooter := at("badfooter.parquet") // right markers, garbage footer
	damaged := append([]byte{}, data...)
	for i := len(damaged) - 40; i < len(damaged)-8; i++ {
		damaged[i] = 0xff
	}
	if err := os.WriteFile(badFooter, damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	empty := at("empty.parquet")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	unsupported := at("unsupported.parquet")
	unsupportedFile(t, unsupported)

	for _, tt := range []struct {
		name    string
		path    string
		columns openstage.Strings
		want    string
	}{
		{"missing file", at("nope.parquet"), nil,
			"ParquetOrigin 'reader': file '" + at("nope.parquet") + "' does not exist; check the path (in a job file, relative paths start from the job file's folder)"},
		{"a folder", dir, nil,
			"ParquetOrigin 'reader': '" + dir + "' is a folder, not a Parquet file"},
		{"not a parquet file", csv, nil,
			"ParquetOrigin 'reader': '" + csv + "' is not a Parquet file (it does not start with the Parquet marker PAR1); check the path, or use the origin that matches its format"},
		{"empty file", empty, nil,
			"ParquetOrigin 'reader': '" + empty + "' is empty, not a Parquet file"},
		{"incomplete file", truncated, nil,
			"ParquetOrigin 'reader': '" + truncated + "' is an incomplete Parquet file: it has no footer (was it still being written, or truncated?)"},
		{"unsupported types", unsupported, nil,
			"ParquetOrigin 'reader': columns 'price' (decimal(10, 2)) and 'tags' (list<element: int64, nullable>) have types Open-Stage cannot read; leave them out by listing the columns to read: columns: [id, name]"},
		{"unsupported type listed", unsupported, openstage.Strings{"name", "price"},
			"ParquetOrigin 'reader': column 'price' (decimal(10, 2)) has a type Open-Stage cannot read; remove it from columns"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readFile(t, tt.path, func(o *ParquetOrigin) { o.Columns = tt.columns })
			if err == nil || err.Error() != tt.want {
				t.Fatalf("\ngot  %v\nwant %s", err, tt.want)
			}
			if !openstage.IsValidation(err) {
				t.Fatalf("not a validation error: %v", err)
			}
		})
	}

	t.Run("damaged footer", func(t *testing.T) {
		_, err := readFile(t, badFooter)
		want := "ParquetOrigin 'reader': cannot read the footer of Parquet file '" + badFooter + "' (is it damaged?): "
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("\ngot  %v\nwant %s...", err, want)
		}
	})

	t.Run("unsupported types left out", func(t *testing.T) {
		sink := mustRead(t, unsupported, func(o *ParquetOrigin) { o.Columns = openstage.Strings{"name", "id"} })
		if want := [][]any{{"x", int64(1)}}; !reflect.DeepEqual(sink.Rows, want) {
			t.Fatalf("got %v, want %v", sink.Rows, want)
		}
	})

	t.Run("value that does not convert", func(t *testing.T) {
		// Binary values must be UTF-8 text: the third row of the second
		// row group (row 5 of the file) is not.
		path := at("binary.parquet")
		schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, {Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true}}, nil)
		var recs []arrow.RecordBatch
		for _, vals := range [][]string{{"a", "b"}, {"c", "d", "\xff", "e"}} {
			b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
			for i, v := range vals {
				b.Field(0).(*array.Int64Builder).Append(int64(i))
				b.Field(1).(*array.BinaryBuilder).Append([]byte(v))
			}
			recs = append(recs, b.NewRecordBatch())
			b.Release()
		}
		writeWithPqarrow(t, path, recs...)
		for _, r := range recs {
			r.Release()
		}
		_, err := readFile(t, path)
		want := "ParquetOrigin 'reader': '" + path + "', row 5: column 'bin': the column is binary and this value is not UTF-8 text; leave the column out with columns:"
		if err == nil || err.Error() != want {
			t.Fatalf("\ngot  %v\nwant %s", err, want)
		}
		sink := mustRead(t, path, func(o *ParquetOrigin) { o.Columns = openstage.Strings{"id"} })
		if len(sink.Rows) != 6 {
			t.Fatalf("rows without the binary column: got %d, want 6", len(sink.Rows))
		}
	})

	t.Run("file changed after validation", func(t *testing.T) {
		path := at("changing.parquet")
		mustWrite(t, path, abc, abcRows(3), 0)
		org := NewParquetOrigin("reader", path)
		org.AddOutputPipe(openstage.NewPipe("rows")).SetDestination(openstage.NewStage("count", &counter{}))
		job := openstage.NewJob("changing", org)
		if err := job.Validate(context.Background()); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, path, openstage.NewSchema("a", openstage.String), [][]any{{"x"}}, 0)
		// Run plans again, so call Pump as the engine would after a Plan
		// made before the change.
		o := org.Component().(*ParquetOrigin)
		err := o.pump(context.Background(), memory.DefaultAllocator, func(arrow.RecordBatch) error { return nil })
		want := "'" + path + "' changed since the job was validated: its columns are now a string instead of a int64, b string, c string; run the job again"
		if err == nil || err.Error() != want {
			t.Fatalf("\ngot  %v\nwant %s", err, want)
		}
	})
}
