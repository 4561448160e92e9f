package parquetio

import (
	"context"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
)

// foreignSchema has the types other writers produce that Open-Stage maps.
var foreignSchema = arrow.NewSchema([]arrow.Field{
	{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
	{Name: "i16", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
	{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "u8", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
	{Name: "u16", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
	{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
	{Name: "f16", Type: arrow.FixedWidthTypes.Float16, Nullable: true},
	{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "dict", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, Nullable: true},
	{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "lstr", Type: arrow.BinaryTypes.LargeString, Nullable: true},
	{Name: "ts_ms_paris", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "Europe/Paris"}, Nullable: true},
	{Name: "ts_ns", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}, Nullable: true},
	{Name: "ts_us_ny", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "America/New_York"}, Nullable: true},
	{Name: "req", Type: arrow.PrimitiveTypes.Int32, Nullable: false},
}, nil)

// writeForeign writes a file with pqarrow directly, in two row groups.
// storeSchema adds the ARROW:schema footer entry (as pyarrow does), which
// makes the reader restore dictionary, large_string and zone types.
func writeForeign(t *testing.T, path string, storeSchema bool) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	opts := []pqarrow.WriterOption{pqarrow.WithAllocator(mem)}
	if storeSchema {
		opts = append(opts, pqarrow.WithStoreSchema())
	}
	w, err := pqarrow.NewFileWriter(foreignSchema, f, parquet.NewWriterProperties(parquet.WithAllocator(mem)), pqarrow.NewArrowWriterProperties(opts...))
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(mem, foreignSchema)
	defer b.Release()
	paris := time.Date(2024, 3, 31, 3, 30, 0, 123_000_000, time.FixedZone("CEST", 2*3600)) // 01:30:00.123 UTC
	rows := []func(){
		func() {
			b.Field(0).(*array.Int8Builder).Append(math.MinInt8)
			b.Field(1).(*array.Int16Builder).Append(math.MinInt16)
			b.Field(2).(*array.Int32Builder).Append(math.MinInt32)
			b.Field(3).(*array.Uint8Builder).Append(math.MaxUint8)
			b.Field(4).(*array.Uint16Builder).Append(math.MaxUint16)
			b.Field(5).(*array.Uint32Builder).Append(math.MaxUint32)
			b.Field(6).(*array.Float16Builder).Append(float16.New(1.5))
			b.Field(7).(*array.Float32Builder).Append(0.1)
			b.Field(8).(*array.BinaryDictionaryBuilder).AppendString("red")
			b.Field(9).(*array.BinaryBuilder).Append([]byte("bytes ✓"))
			b.Field(10).(*array.LargeStringBuilder).Append("large ü")
			b.Field(11).(*array.TimestampBuilder).Append(arrow.Timestamp(paris.UnixMilli()))
			b.Field(12).(*array.TimestampBuilder).Append(-1) // 1 ns before the epoch
			b.Field(13).(*array.TimestampBuilder).Append(arrow.Timestamp(time.Date(2024, 11, 3, 5, 30, 0, 7000, time.UTC).UnixMicro()))
			b.Field(14).(*array.Int32Builder).Append(1)
		},
		func() {
			for i := 0; i < 14; i++ {
				b.Field(i).AppendNull()
			}
			b.Field(14).(*array.Int32Builder).Append(2)
		},
		func() {
			b.Field(0).(*array.Int8Builder).Append(math.MaxInt8)
			b.Field(1).(*array.Int16Builder).Append(math.MaxInt16)
			b.Field(2).(*array.Int32Builder).Append(math.MaxInt32)
			b.Field(3).(*array.Uint8Builder).Append(0)
			b.Field(4).(*array.Uint16Builder).Append(0)
			b.Field(5).(*array.Uint32Builder).Append(0)
			b.Field(6).(*array.Float16Builder).Append(float16.New(-65504))
			b.Field(7).(*array.Float32Builder).Append(float32(math.Inf(-1)))
			b.Field(8).(*array.BinaryDictionaryBuilder).AppendString("blue")
			b.Field(9).(*array.BinaryBuilder).Append([]byte{})
			b.Field(10).(*array.LargeStringBuilder).Append("")
			b.Field(11).(*array.TimestampBuilder).Append(0)
			b.Field(12).(*array.TimestampBuilder).Append(1500) // 1.5 µs
			b.Field(13).(*array.TimestampBuilder).Append(-1)
			b.Field(14).(*array.Int32Builder).Append(3)
		},
		func() { // only dict set: its dictionary entry repeats
			for i := 0; i < 14; i++ {
				if i == 8 {
					b.Field(8).(*array.BinaryDictionaryBuilder).AppendString("red")
					continue
				}
				b.Field(i).AppendNull()
			}
			b.Field(14).(*array.Int32Builder).Append(4)
		},
	}
	for _, group := range [][]func(){rows[:2], rows[2:]} {
		for _, row := range group {
			row()
		}
		rec := b.NewRecordBatch()
		if err := w.Write(rec); err != nil { // one row group per Write
			t.Fatal(err)
		}
		rec.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReadForeignFile(t *testing.T) {
	ts := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	want := [][]any{
		{int64(math.MinInt8), int64(math.MinInt16), int64(math.MinInt32), int64(math.MaxUint8), int64(math.MaxUint16), int64(math.MaxUint32),
			1.5, float64(float32(0.1)), "red", "bytes ✓", "large ü",
			ts("2024-03-31T01:30:00.123Z"), ts("1969-12-31T23:59:59.999999Z"), ts("2024-11-03T05:30:00.000007Z"), int64(1)},
		{nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, int64(2)},
		{int64(math.MaxInt8), int64(math.MaxInt16), int64(math.MaxInt32), int64(0), int64(0), int64(0),
			-65504.0, math.Inf(-1), "blue", "", "",
			ts("1970-01-01T00:00:00Z"), ts("1970-01-01T00:00:00.000001Z"), ts("1969-12-31T23:59:59.999999Z"), int64(3)},
		{nil, nil, nil, nil, nil, nil, nil, nil, "red", nil, nil, nil, nil, nil, int64(4)},
	}
	wantSchema := openstage.NewSchema(
		"i8", openstage.Int64, "i16", openstage.Int64, "i32", openstage.Int64,
		"u8", openstage.Int64, "u16", openstage.Int64, "u32", openstage.Int64,
		"f16", openstage.Float64, "f32", openstage.Float64,
		"dict", openstage.String, "bin", openstage.String, "lstr", openstage.String,
		"ts_ms_paris", openstage.Timestamp, "ts_ns", openstage.Timestamp, "ts_us_ny", openstage.Timestamp,
		"req", openstage.Int64,
	)
	for _, store := range []bool{true, false} {
		name := "without stored arrow schema"
		if store {
			name = "with stored arrow schema"
		}
		t.Run(name, func(t *testing.T) {
			path := tempPath(t, "foreign.parquet")
			writeForeign(t, path, store)

			// Which paths of the reader this exercises: with the stored
			// schema, pqarrow hands out dictionary, large_string and zoned
			// arrays; without it, plain strings (the dictionary-encoded
			// pages decoded by pqarrow) and UTC or zoneless timestamps.
			r, err := openParquet(path, memory.DefaultAllocator)
			if err != nil {
				t.Fatal(err)
			}
			fs, err := r.fr.Schema()
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			wantFile := map[string]string{
				"dict": "utf8", "lstr": "utf8", "ts_ms_paris": "timestamp[ms, tz=UTC]", "ts_us_ny": "timestamp[us, tz=UTC]", "bin": "binary", "ts_ns": "timestamp[ns]",
			}
			if store {
				wantFile["dict"] = "dictionary<values=utf8, indices=int32, ordered=false>"
				wantFile["lstr"] = "large_utf8"
				wantFile["ts_ms_paris"] = "timestamp[ms, tz=Europe/Paris]"
				wantFile["ts_us_ny"] = "timestamp[us, tz=America/New_York]"
			}
			for col, typ := range wantFile {
				i, _ := openstage.FieldIndex(fs, col)
				if got := fs.Field(i).Type.String(); got != typ {
					t.Errorf("file type of %s: got %s, want %s", col, got, typ)
				}
			}
			cc, err := fileMeta(t, path).MetaData().RowGroup(0).ColumnChunk(8)
			if err != nil {
				t.Fatal(err)
			}
			if !cc.HasDictionaryPage() {
				t.Errorf("column dict has no dictionary page: the test does not cover dictionary-encoded pages")
			}

			sink := mustRead(t, path, func(o *ParquetOrigin) { o.BatchRows = 1 })
			if !sink.Schema.Equal(wantSchema) {
				t.Fatalf("schema:\ngot  %s\nwant %s", sink.Schema, wantSchema)
			}
			if len(sink.Rows) != len(want) {
				t.Fatalf("got %d rows, want %d", len(sink.Rows), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(sink.Rows[i], want[i]) {
					t.Errorf("row %d:\ngot  %#v\nwant %#v", i+1, sink.Rows[i], want[i])
				}
			}
			if sink.Batches != 4 {
				t.Errorf("batches: got %d, want 4 (batch_rows 1)", sink.Batches)
			}
		})
	}
}

// TestWrittenFileForPqarrow reads a file ParquetDestination wrote with
// pqarrow's own table reader: the Parquet types must be the standard ones.
func TestWrittenFileForPqarrow(t *testing.T) {
	path := tempPath(t, "all.parquet")
	rows := allTypesRows()
	mustWrite(t, path, allTypes, rows, 100)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	tbl, err := pqarrow.ReadTable(context.Background(), f, parquet.NewReaderProperties(mem), pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	// pqarrow adds PARQUET:field_id metadata: compare names and types.
	if got, want := describeTypes(tbl.Schema()), describeTypes(allTypes); got != want {
		t.Fatalf("schema as pqarrow reads it:\ngot  %s\nwant %s", got, want)
	}
	tr := array.NewTableReader(tbl, 0)
	defer tr.Release()
	var got [][]any
	for tr.Next() {
		got = append(got, openstagetest.RowsOf(tr.RecordBatch())...)
	}
	if !reflect.DeepEqual(got, rows) {
		t.Fatalf("values differ as pqarrow reads them")
	}
	leaf := fileMeta(t, path).MetaData().Schema.Column(5)
	if got := leaf.LogicalType().String(); got != `Timestamp(isAdjustedToUTC=true, timeUnit=microseconds, is_from_converted_type=false, force_set_converted_type=false)` {
		t.Errorf("timestamp logical type: %s", got)
	}
}

func describeTypes(s *arrow.Schema) string {
	var b strings.Builder
	for _, f := range s.Fields() {
		fmt.Fprintf(&b, "%s %s; ", f.Name, f.Type)
	}
	return b.String()
}
