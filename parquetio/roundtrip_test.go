package parquetio

import (
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/open-stage/openstage"
)

var allTypes = openstage.NewSchema(
	"id", openstage.Int64,
	"amount", openstage.Float64,
	"ok", openstage.Bool,
	"name", openstage.String,
	"day", openstage.Date,
	"at", openstage.Timestamp,
)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// allTypesRows covers every type with nulls, extremes, empty versus null
// strings, unicode, dates before 1970 and microsecond timestamps.
func allTypesRows() [][]any {
	rows := [][]any{
		{int64(1), 1.5, true, "plain", date(2024, 2, 29), time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC)},
		{nil, nil, nil, nil, nil, nil},
		{int64(math.MaxInt64), math.MaxFloat64, false, "", date(1969, 12, 31), time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		{int64(math.MinInt64), -0.25, true, "héllo wörld — ünïcödé 日本語 😀🎉 e\u0301", date(1900, 1, 1), time.Date(1900, 1, 1, 0, 0, 0, 1000, time.UTC)},
		{int64(0), math.Inf(-1), nil, "tab\tnew\nline \"quoted\", comma", date(9999, 12, 31), time.Date(2262, 4, 11, 23, 47, 16, 854775000, time.UTC)},
		{int64(-7), math.SmallestNonzeroFloat64, false, "null", date(1, 1, 1), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	// Enough rows, repeated with variations, to fill several pages, batches
	// and row groups.
	for i := range 994 {
		var name any = fmt.Sprintf("row %d ✓", i)
		if i%7 == 0 {
			name = nil
		}
		var amount any = float64(i) / 8
		if i%11 == 0 {
			amount = nil
		}
		rows = append(rows, []any{int64(i * 1000), amount, i%3 == 0, name, date(2000, 1, 1).AddDate(0, 0, i), time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 1001 * time.Microsecond)})
	}
	return rows
}

func TestRoundTrip(t *testing.T) {
	rows := allTypesRows()
	for _, comp := range []string{"snappy", "zstd", "gzip", "none"} {
		t.Run(comp, func(t *testing.T) {
			path := tempPath(t, "all.parquet")
			mustWrite(t, path, allTypes, rows, 64, func(d *ParquetDestination) {
				d.Compression = comp
				d.RowGroupRows = 300
			})

			// The file is what was asked for: row groups of 300 rows, the codec.
			meta := fileMeta(t, path).MetaData()
			if got, want := meta.NumRowGroups(), 4; got != want {
				t.Errorf("row groups: got %d, want %d", got, want)
			}
			if got := meta.NumRows; got != int64(len(rows)) {
				t.Errorf("rows in footer: got %d, want %d", got, len(rows))
			}
			cc, err := meta.RowGroup(0).ColumnChunk(3)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := cc.Compression(), codecs[comp]; got != want {
				t.Errorf("compression: got %v, want %v", got, want)
			}

			sink := mustRead(t, path, func(o *ParquetOrigin) { o.BatchRows = 128 })
			if !sink.Schema.Equal(allTypes) {
				t.Fatalf("schema:\ngot  %s\nwant %s", sink.Schema, allTypes)
			}
			if len(sink.Rows) != len(rows) {
				t.Fatalf("got %d rows, want %d", len(sink.Rows), len(rows))
			}
			for i := range rows {
				if !reflect.DeepEqual(sink.Rows[i], rows[i]) {
					t.Fatalf("row %d:\ngot  %#v\nwant %#v", i+1, sink.Rows[i], rows[i])
				}
			}
			// 4 row groups of 300, 300, 300, 100 rows in batches of at
			// most 128: 3+3+3+1.
			if sink.Batches != 10 {
				t.Errorf("batches: got %d, want 10", sink.Batches)
			}
		})
	}
}

// TestRoundTripNaN checks NaN separately: it is not equal to itself.
func TestRoundTripNaN(t *testing.T) {
	path := tempPath(t, "nan.parquet")
	schema := openstage.NewSchema("x", openstage.Float64)
	mustWrite(t, path, schema, [][]any{{math.NaN()}, {math.Inf(1)}, {nil}}, 0)
	sink := mustRead(t, path)
	if len(sink.Rows) != 3 || !math.IsNaN(sink.Rows[0][0].(float64)) || sink.Rows[1][0] != math.Inf(1) || sink.Rows[2][0] != nil {
		t.Fatalf("got %v", sink.Rows)
	}
}

// TestEmptyInput: no rows still makes a valid file, with the columns.
func TestEmptyInput(t *testing.T) {
	path := tempPath(t, "empty.parquet")
	mustWrite(t, path, allTypes, nil, 0)
	if n := fileMeta(t, path).NumRowGroups(); n != 0 {
		t.Errorf("row groups: got %d, want 0", n)
	}
	sink := mustRead(t, path)
	if !sink.Schema.Equal(allTypes) || len(sink.Rows) != 0 || sink.Batches != 0 {
		t.Fatalf("got schema %s, %d rows, %d batches", sink.Schema, len(sink.Rows), sink.Batches)
	}
}

// TestDefaultRowGroup: the default row group holds 1,048,576 rows.
func TestDefaultRowGroup(t *testing.T) {
	d := &ParquetDestination{}
	if err := openstage.ApplyDefaults(d); err != nil {
		t.Fatal(err)
	}
	if d.RowGroupRows != 1<<20 || d.Compression != "snappy" || d.IfExists != "replace" {
		t.Fatalf("defaults: %+v", d)
	}
	props, err := d.writerProperties()
	if err != nil {
		t.Fatal(err)
	}
	if props.MaxRowGroupLength() != 1<<20 || props.Compression() != codecs["snappy"] {
		t.Fatalf("writer properties: %d rows, %v", props.MaxRowGroupLength(), props.Compression())
	}
	// The zero value (a component built in Go without defaults) behaves alike.
	props, err = (&ParquetDestination{}).writerProperties()
	if err != nil || props.MaxRowGroupLength() != 1<<20 || props.Compression() != codecs["snappy"] {
		t.Fatalf("zero value: %v, %v", props, err)
	}
}
