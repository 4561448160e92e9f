package parquetio

import (
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// The benchmarks move 1,000,000 orders-shaped rows: MB/s is of the decoded
// Arrow data (buffer bytes), rows/s of rows, file_MB the Parquet file's size.
const benchRows = 1_000_000

var benchSchema = openstage.NewSchema(
	"order_id", openstage.Int64,
	"user_id", openstage.Int64,
	"country", openstage.String,
	"age", openstage.Int64,
	"amount", openstage.Float64,
	"order_date", openstage.Date,
	"status", openstage.String,
	"note", openstage.String,
)

var (
	benchOnce    sync.Once
	benchBatches []arrow.RecordBatch
	benchBytes   int64
)

// ordersBatches returns the benchmark rows in batches of 65,536, built
// once (with the Go allocator, outside any checked allocator).
func ordersBatches() ([]arrow.RecordBatch, int64) {
	benchOnce.Do(func() {
		rng := rand.New(rand.NewSource(1))
		countries := []string{"US", "DE", "FR", "GB", "JP", "BR", "IN", "CN", "NL", "ES"}
		statuses := []string{"shipped", "pending", "cancelled", "delivered", "returned"}
		words := []string{"gift", "fragile", "call first", "leave at door", "express", "note", "ok"}
		b := array.NewRecordBuilder(memory.NewGoAllocator(), benchSchema)
		defer b.Release()
		flush := func() {
			rec := b.NewRecordBatch()
			for _, c := range rec.Columns() {
				for _, buf := range c.Data().Buffers() {
					if buf != nil {
						benchBytes += int64(buf.Len())
					}
				}
			}
			benchBatches = append(benchBatches, rec)
		}
		for i := range benchRows {
			b.Field(0).(*array.Int64Builder).Append(int64(i + 1))
			b.Field(1).(*array.Int64Builder).Append(int64(rng.Intn(1_000_000)))
			b.Field(2).(*array.StringBuilder).Append(countries[rng.Intn(len(countries))])
			b.Field(3).(*array.Int64Builder).Append(int64(18 + rng.Intn(70)))
			b.Field(4).(*array.Float64Builder).Append(float64(rng.Intn(1_000_000)) / 100)
			b.Field(5).(*array.Date32Builder).Append(arrow.Date32(18262 + rng.Intn(1826)))
			b.Field(6).(*array.StringBuilder).Append(statuses[rng.Intn(len(statuses))])
			if r := rng.Intn(12); r < 4 {
				b.Field(7).(*array.StringBuilder).Append("")
			} else {
				b.Field(7).(*array.StringBuilder).Append(words[rng.Intn(len(words))] + " " + words[rng.Intn(len(words))])
			}
			if (i+1)%65536 == 0 {
				flush()
			}
		}
		if b.Field(0).Len() > 0 {
			flush()
		}
	})
	return benchBatches, benchBytes
}

// replay is an origin that sends prepared batches.
type replay struct{ batches []arrow.RecordBatch }

func (r *replay) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(benchSchema)
	return nil
}

func (r *replay) Pump(ctx context.Context, out *openstage.Outputs) error {
	for _, rec := range r.batches {
		if err := out.Send(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

func writeBench(b *testing.B, path, compression string) {
	batches, _ := ordersBatches()
	src := openstage.NewStage("orders", &replay{batches})
	dst := openstage.New("writer", func(d *ParquetDestination) { d.Path = path; d.Compression = compression })
	src.AddOutputPipe(openstage.NewPipe("rows")).SetDestination(dst)
	if err := openstage.NewJob("write", src).Run(context.Background()); err != nil {
		b.Fatal(err)
	}
}

func fileMB(b *testing.B, path string) float64 {
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return float64(st.Size()) / 1e6
}

func BenchmarkParquetWrite(b *testing.B) {
	_, size := ordersBatches()
	for _, comp := range []string{"snappy", "zstd", "none"} {
		b.Run(comp, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "orders.parquet")
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				writeBench(b, path, comp)
			}
			b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(fileMB(b, path), "file_MB")
		})
	}
}

func BenchmarkParquetRead(b *testing.B) {
	_, size := ordersBatches()
	for _, tt := range []struct {
		name    string
		comp    string
		columns openstage.Strings
	}{
		{"snappy", "snappy", nil},
		{"zstd", "zstd", nil},
		{"none", "none", nil},
		{"snappy/2_columns", "snappy", openstage.Strings{"amount", "country"}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "orders.parquet")
			writeBench(b, path, tt.comp)
			if tt.columns == nil {
				b.SetBytes(size)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				c := &counter{}
				org := openstage.New("reader", func(o *ParquetOrigin) { o.Path = path; o.Columns = tt.columns })
				org.AddOutputPipe(openstage.NewPipe("rows")).SetDestination(openstage.NewStage("count", c))
				if err := openstage.NewJob("read", org).Run(context.Background()); err != nil {
					b.Fatal(err)
				}
				if c.rows.Load() != benchRows {
					b.Fatalf("rows: %d", c.rows.Load())
				}
			}
			b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(fileMB(b, path), "file_MB")
		})
	}
}
