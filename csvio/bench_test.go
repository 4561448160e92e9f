package csvio

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// benchRows gives ~57 MB of orders data.
const benchRows = 1_000_000

var (
	benchOnce sync.Once
	benchData []byte
)

func benchInput() []byte {
	benchOnce.Do(func() { benchData = genOrders(benchRows, 1) })
	return benchData
}

func BenchmarkReader(b *testing.B) { benchReader(b, nil) }

// BenchmarkReaderSelect reads 3 of the 8 columns (ReadOptions.Select, as
// projection pushdown asks): the bytes are the same, MB/s compare.
func BenchmarkReaderSelect(b *testing.B) { benchReader(b, []int{2, 3, 4}) }

func benchReader(b *testing.B, sel []int) {
	data := benchInput()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := NewReader(bytes.NewReader(data), ordersSchema, ReadOptions{Header: true, Alloc: memory.NewGoAllocator(), Select: sel})
		rows := int64(0)
		for {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rows += rec.NumRows()
			rec.Release()
		}
		r.Close()
		if rows != benchRows {
			b.Fatalf("rows = %d", rows)
		}
	}
}

// BenchmarkEncodingCSV parses the same bytes with encoding/csv (strings
// only, no conversion) on one goroutine, for the ratio.
func BenchmarkEncodingCSV(b *testing.B) {
	data := benchInput()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cr := csv.NewReader(bytes.NewReader(data))
		cr.ReuseRecord = true
		rows := 0
		for {
			_, err := cr.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rows++
		}
		if rows != benchRows+1 {
			b.Fatalf("rows = %d", rows)
		}
	}
}

func readBatches(tb testing.TB, data []byte) []arrow.RecordBatch {
	r := NewReader(bytes.NewReader(data), ordersSchema, ReadOptions{Header: true})
	defer r.Close()
	recs, _, err := readAll(tb, r)
	if err != nil {
		tb.Fatal(err)
	}
	return recs
}

func BenchmarkWriter(b *testing.B) {
	data := benchInput()
	recs := readBatches(b, data)
	defer releaseAll(recs)
	var out bytes.Buffer
	out.Grow(len(data) + len(data)/8)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out.Reset()
		w := NewWriter(&out, ordersSchema, WriteOptions{Header: true})
		for _, rec := range recs {
			if err := w.Write(rec); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// The output is not byte-identical to the input (12.30 is written
	// 12.3) but must read back to the same values.
	back := readBatches(b, out.Bytes())
	defer releaseAll(back)
	if got, want := cellStrings(back), cellStrings(recs); !reflect.DeepEqual(got, want) {
		b.Fatalf("written data reads back differently (%d vs %d rows)", len(got), len(want))
	}
}

// BenchmarkEncodingCSVWriter writes the same rows as strings with
// encoding/csv on one goroutine, for the ratio.
func BenchmarkEncodingCSVWriter(b *testing.B) {
	data := benchInput()
	cr := csv.NewReader(bytes.NewReader(data))
	all, err := cr.ReadAll()
	if err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	out.Grow(len(data) + len(data)/8)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out.Reset()
		cw := csv.NewWriter(&out)
		if err := cw.WriteAll(all); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriterFormat formats W7-shaped batches (the orders with
// amount_vat = amount * 1.21, a band and a label, as bench/jobs/w7.yaml
// derives them) on one goroutine: the writer's per-row cost without the
// io.Writer and the worker hand-off.
func BenchmarkWriterFormat(b *testing.B) {
	recs := readBatches(b, benchInput())
	defer releaseAll(recs)
	fields := append(ordersSchema.Fields(),
		arrow.Field{Name: "amount_vat", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		arrow.Field{Name: "band", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "label", Type: arrow.BinaryTypes.String, Nullable: true})
	schema := arrow.NewSchema(fields, nil)
	var derived []arrow.RecordBatch
	rows := 0
	for _, rec := range recs {
		amount := rec.Column(4).(*array.Float64)
		country, status := rec.Column(2).(*array.String), rec.Column(6).(*array.String)
		vat := array.NewFloat64Builder(memory.DefaultAllocator)
		band := array.NewStringBuilder(memory.DefaultAllocator)
		label := array.NewStringBuilder(memory.DefaultAllocator)
		for i := 0; i < amount.Len(); i++ {
			a := amount.Value(i)
			vat.Append(a * 1.21)
			switch {
			case a > 1000:
				band.Append("high")
			case a > 100:
				band.Append("mid")
			default:
				band.Append("low")
			}
			label.Append(strings.ToUpper(country.Value(i)) + "-" + status.Value(i))
		}
		cols := append(rec.Columns(), vat.NewArray(), band.NewArray(), label.NewArray())
		derived = append(derived, array.NewRecordBatch(schema, cols, rec.NumRows()))
		rows += int(rec.NumRows())
	}
	defer releaseAll(derived)
	w := NewWriter(io.Discard, schema, WriteOptions{})
	buf := make([]byte, 0, 64<<20)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		n := 0
		for _, rec := range derived {
			out, err := w.format(buf[:0], rec, 0, int(rec.NumRows()))
			if err != nil {
				b.Fatal(err)
			}
			n += len(out)
		}
		b.SetBytes(int64(n))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rows), "ns/row")
	// On a shared machine the wall time moves with the other load; the
	// process's CPU time moves less.
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/float64(rows), "cpu-ns/row")
}
