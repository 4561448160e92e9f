package bigqueryio

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/bqtest"
)

// benchRows is the size of the load-and-query benchmark.
const benchRows = 1_000_000

// genOrigin sends n rows of peopleSchema, built column by column.
type genOrigin struct{ n, batch int }

func (g *genOrigin) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(peopleSchema)
	return nil
}

func (g *genOrigin) Pump(ctx context.Context, out *openstage.Outputs) error {
	b := array.NewRecordBuilder(out.Allocator(), peopleSchema)
	defer b.Release()
	day0 := arrow.Date32FromTime(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	ts0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	for start := 0; start < g.n; start += g.batch {
		for i := start; i < min(start+g.batch, g.n); i++ {
			b.Field(0).(*array.Int64Builder).Append(int64(i))
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("customer %d", i%5000))
			b.Field(2).(*array.Float64Builder).Append(float64(i%100000) / 100)
			b.Field(3).(*array.BooleanBuilder).Append(i%3 == 0)
			b.Field(4).(*array.Date32Builder).Append(day0 + arrow.Date32(i%1500))
			b.Field(5).(*array.TimestampBuilder).Append(arrow.Timestamp(ts0 + int64(i)*1_000_003))
		}
		rec := b.NewRecordBatch()
		err := out.Send(ctx, rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// countSink counts the rows it receives.
type countSink struct{ rows int64 }

func (c *countSink) Plan(context.Context, *openstage.Plan) error { return nil }
func (c *countSink) Sink(ctx context.Context, in *openstage.Inputs) error {
	return in.ForEach(ctx, func(p openstage.DataPackage) error {
		c.rows += p.Batch.NumRows()
		p.Batch.Release()
		return nil
	})
}

// BenchmarkBigQuery1M loads 1,000,000 rows (six columns, one of each
// Open-Stage type) into a table of the local server with
// GCPBigQueryDestination, then reads them back with GCPBigQueryOrigin
// (SELECT *), and reports rows/s for both directions with the time the
// server spent handling requests shown apart from the rest (the stage, the
// client library and HTTP). The server pages 20,000 rows at a time here
// (Google's pages are up to 10 MB). Not a test: run it with
//
//	go test ./bigqueryio -run '^$' -bench BigQuery1M -benchtime 1x
func BenchmarkBigQuery1M(b *testing.B) {
	for range b.N {
		srv := bqtest.New(bqtest.Options{PageRows: 20000})
		if err := srv.CreateDataset(testProject, "ds"); err != nil {
			b.Fatal(err)
		}
		conn := Conn{ProjectID: testProject, Endpoint: srv.URL()}

		src := openstage.NewStage("gen", &genOrigin{n: benchRows, batch: 10000})
		dst := openstage.New("writer", func(d *GCPBigQueryDestination) {
			d.Conn, d.Dataset, d.Table, d.WriteDisposition, d.CreateDisposition = conn, "ds", "bench", "WRITE_TRUNCATE", "CREATE_IF_NEEDED"
			d.ChunkSize = 16 << 20
		})
		connect(src, dst)
		s0 := srv.Stats()
		c0 := cpuTime()
		start := time.Now()
		if err := openstage.NewJob("load", src, dst).Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		load := time.Since(start)
		c1 := cpuTime()
		s1 := srv.Stats()

		sink := &countSink{}
		o := openstage.New("reader", func(o *GCPBigQueryOrigin) {
			o.Conn, o.Query, o.BatchRows = conn, "SELECT * FROM ds.bench", 20000
		})
		out := openstage.NewStage("sink", sink)
		connect(o, out)
		start = time.Now()
		if err := openstage.NewJob("query", o, out).Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		query := time.Since(start)
		c2 := cpuTime()
		s2 := srv.Stats()
		srv.Close()
		if sink.rows != benchRows {
			b.Fatalf("read %d rows, want %d", sink.rows, benchRows)
		}
		report(b, "load ", load, s1.ServerTime-s0.ServerTime, c1-c0, s1.Requests-s0.Requests, s1.UploadBytes-s0.UploadBytes)
		report(b, "query", query, s2.ServerTime-s1.ServerTime, c2-c1, s2.Requests-s1.Requests, 0)
		b.ReportMetric(float64(benchRows)/load.Seconds(), "load_rows/s")
		b.ReportMetric(float64(benchRows)/query.Seconds(), "query_rows/s")
		b.ReportMetric((s1.ServerTime - s0.ServerTime).Seconds(), "load_server_s")
		b.ReportMetric((s2.ServerTime - s1.ServerTime).Seconds(), "query_server_s")
	}
}

// report prints one direction's figures: wall time and rows/s, the
// server's share, and the rest (stage, client library, HTTP).
func report(b *testing.B, what string, wall, server, cpu time.Duration, requests, bytes int64) {
	rest := wall - server
	line := fmt.Sprintf("%s %d rows in %6.2fs = %8.0f rows/s | server %6.2fs (%d requests) | stage+client+HTTP %6.2fs = %8.0f rows/s | process CPU %6.2fs",
		what, benchRows, wall.Seconds(), float64(benchRows)/wall.Seconds(), server.Seconds(), requests, rest.Seconds(), float64(benchRows)/rest.Seconds(), cpu.Seconds())
	if bytes > 0 {
		line += fmt.Sprintf(" | %.0f MB of NDJSON", float64(bytes)/1e6)
	}
	fmt.Println(line)
}

// cpuTime is the CPU time (user and system) the process has used: on a
// shared machine it says how much work a run was, whatever the wait.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
