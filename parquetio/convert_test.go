package parquetio

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// build returns the array of type t holding values (nil for null), then
// sliced from 1 to the end so that the converters see a non-zero offset.
func build(t *testing.T, mem memory.Allocator, typ arrow.DataType, values ...any) arrow.Array {
	t.Helper()
	if dt, ok := typ.(*arrow.DictionaryType); ok {
		return buildDict(t, mem, dt, values...)
	}
	b := array.NewBuilder(mem, typ)
	defer b.Release()
	b.AppendNull() // sliced away
	for _, v := range values {
		if v == nil {
			b.AppendNull()
			continue
		}
		switch bb := b.(type) {
		case *array.Int8Builder:
			bb.Append(int8(v.(int)))
		case *array.Uint32Builder:
			bb.Append(uint32(v.(int)))
		case *array.Float32Builder:
			bb.Append(float32(v.(float64)))
		case *array.Date64Builder:
			bb.Append(arrow.Date64(v.(int)))
		case *array.TimestampBuilder:
			bb.Append(arrow.Timestamp(v.(int)))
		case *array.BinaryBuilder: // binary and large binary
			bb.Append([]byte(v.(string)))
		case *array.LargeStringBuilder:
			bb.Append(v.(string))
		default:
			t.Fatalf("build: no case for %T", b)
		}
	}
	full := b.NewArray()
	defer full.Release()
	return array.NewSlice(full, 1, int64(full.Len()))
}

// buildDict builds a dictionary array by hand (arrow has no builder for
// every value type), sliced like build's.
func buildDict(t *testing.T, mem memory.Allocator, typ *arrow.DictionaryType, values ...any) arrow.Array {
	t.Helper()
	var entries []string
	index := map[string]int{}
	ib := array.NewInt16Builder(mem)
	defer ib.Release()
	ib.AppendNull() // sliced away
	for _, v := range values {
		if v == nil {
			ib.AppendNull()
			continue
		}
		s := v.(string)
		if _, ok := index[s]; !ok {
			index[s] = len(entries)
			entries = append(entries, s)
		}
		ib.Append(int16(index[s]))
	}
	// An entry no row uses, invalid UTF-8: it must not cause an error.
	entries = append(entries, "\xff unused")
	indices := ib.NewArray()
	defer indices.Release()
	db := array.NewBuilder(mem, typ.ValueType)
	defer db.Release()
	for _, e := range entries {
		switch bb := db.(type) {
		case *array.StringBuilder:
			bb.Append(e)
		case *array.LargeStringBuilder:
			bb.Append(e)
		case *array.BinaryBuilder:
			bb.Append([]byte(e))
		}
	}
	dict := db.NewArray()
	defer dict.Release()
	full := array.NewDictionaryArray(typ, indices, dict)
	defer full.Release()
	return array.NewSlice(full, 1, int64(full.Len()))
}

func day(y int, m time.Month, d int) int {
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).UnixMilli())
}

func TestConverters(t *testing.T) {
	ts := func(s string) any {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	dictOf := func(value arrow.DataType) arrow.DataType {
		return &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: value}
	}
	tests := []struct {
		name   string
		typ    arrow.DataType
		in     []any
		want   []any  // Open-Stage values
		errRow int    // for a failing conversion, the row (from 0) reported
		errMsg string // ... and the message
	}{
		{name: "int8", typ: arrow.PrimitiveTypes.Int8, in: []any{-128, nil, 127}, want: []any{int64(-128), nil, int64(127)}},
		{name: "uint32", typ: arrow.PrimitiveTypes.Uint32, in: []any{math.MaxUint32, nil}, want: []any{int64(math.MaxUint32), nil}},
		{name: "float32", typ: arrow.PrimitiveTypes.Float32, in: []any{0.5, nil, math.Inf(1)}, want: []any{0.5, nil, math.Inf(1)}},
		{name: "date64", typ: arrow.FixedWidthTypes.Date64, in: []any{day(2024, 2, 29), nil, day(1969, 12, 31)}, want: []any{ts("2024-02-29T00:00:00Z"), nil, ts("1969-12-31T00:00:00Z")}},
		{name: "date64 not at midnight rounds down", typ: arrow.FixedWidthTypes.Date64, in: []any{-1}, want: []any{ts("1969-12-31T00:00:00Z")}},
		{name: "date64 out of range", typ: arrow.FixedWidthTypes.Date64, in: []any{0, math.MaxInt64}, errRow: 1, errMsg: "date64 value 9223372036854775807 ms is outside the range of dates"},
		{name: "timestamp s", typ: &arrow.TimestampType{Unit: arrow.Second, TimeZone: "Asia/Tokyo"}, in: []any{-1, nil, 1}, want: []any{ts("1969-12-31T23:59:59Z"), nil, ts("1970-01-01T00:00:01Z")}},
		{name: "timestamp s out of range", typ: &arrow.TimestampType{Unit: arrow.Second}, in: []any{nil, math.MaxInt64 / 100}, errRow: 1, errMsg: "timestamp 92233720368547758 s is outside the range of microsecond timestamps"},
		{name: "timestamp ms", typ: &arrow.TimestampType{Unit: arrow.Millisecond}, in: []any{1, -1}, want: []any{ts("1970-01-01T00:00:00.001Z"), ts("1969-12-31T23:59:59.999Z")}},
		{name: "timestamp ns rounds down", typ: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}, in: []any{1999, -1, nil}, want: []any{ts("1970-01-01T00:00:00.000001Z"), ts("1969-12-31T23:59:59.999999Z"), nil}},
		{name: "timestamp us zoneless", typ: &arrow.TimestampType{Unit: arrow.Microsecond}, in: []any{7, nil}, want: []any{ts("1970-01-01T00:00:00.000007Z"), nil}},
		{name: "binary", typ: arrow.BinaryTypes.Binary, in: []any{"ok ✓", nil, ""}, want: []any{"ok ✓", nil, ""}},
		{name: "binary not utf-8", typ: arrow.BinaryTypes.Binary, in: []any{"ok", "\xff\xfe"}, errRow: 1, errMsg: "the column is binary and this value is not UTF-8 text; leave the column out with columns:"},
		{name: "large binary not utf-8", typ: arrow.BinaryTypes.LargeBinary, in: []any{"\xc3"}, errRow: 0, errMsg: "the column is binary and this value is not UTF-8 text; leave the column out with columns:"},
		{name: "large string", typ: arrow.BinaryTypes.LargeString, in: []any{"a", nil, "日本"}, want: []any{"a", nil, "日本"}},
		{name: "large string empty", typ: arrow.BinaryTypes.LargeString, in: []any{}, want: []any{}},
		{name: "dictionary of strings", typ: dictOf(arrow.BinaryTypes.String), in: []any{"x", nil, "y", "x"}, want: []any{"x", nil, "y", "x"}},
		{name: "dictionary of binary", typ: dictOf(arrow.BinaryTypes.Binary), in: []any{"x", "\xff", "x"}, errRow: 1, errMsg: "the column is binary and this value is not UTF-8 text; leave the column out with columns:"},
		{name: "dictionary of large strings", typ: dictOf(arrow.BinaryTypes.LargeString), in: []any{"é", "é"}, want: []any{"é", "é"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			in := build(t, mem, tt.typ, tt.in...)
			defer in.Release()
			outType, conv, ok := mapType(tt.typ)
			if !ok || conv == nil {
				t.Fatalf("mapType(%s): ok %v, converter %v", tt.typ, ok, conv != nil)
			}
			out, err := conv(in, mem)
			if tt.errMsg != "" {
				ve, isVE := err.(*valueError)
				if !isVE || ve.row != tt.errRow || ve.msg != tt.errMsg {
					t.Fatalf("error: got %#v, want row %d %q", err, tt.errRow, tt.errMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer out.Release()
			if !arrow.TypeEqual(out.DataType(), outType) {
				t.Fatalf("type: got %s, want %s", out.DataType(), outType)
			}
			if err := array.ValidateFull(out); err != nil {
				t.Fatalf("invalid array: %v", err)
			}
			col := openstage.Column{Name: "c", Array: out}
			got := make([]any, out.Len())
			for i := range got {
				got[i] = col.Value(i)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
			if out.NullN() != countNil(tt.want) {
				t.Fatalf("null count: got %d, want %d", out.NullN(), countNil(tt.want))
			}
		})
	}
}

func countNil(vs []any) int {
	n := 0
	for _, v := range vs {
		if v == nil {
			n++
		}
	}
	return n
}

// TestMapTypeRefuses lists types with no Open-Stage equivalent.
func TestMapTypeRefuses(t *testing.T) {
	for _, typ := range []arrow.DataType{
		arrow.PrimitiveTypes.Uint64,
		&arrow.Decimal128Type{Precision: 10, Scale: 2},
		arrow.FixedWidthTypes.Time64us,
		&arrow.FixedSizeBinaryType{ByteWidth: 16},
		arrow.ListOf(arrow.PrimitiveTypes.Int64),
		arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64}),
		arrow.Null,
		&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.PrimitiveTypes.Int64},
	} {
		if _, _, ok := mapType(typ); ok {
			t.Errorf("mapType(%s) accepted it", typ)
		}
	}
}
