package csvio_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/csvio"
	"github.com/open-stage/openstage/openstagetest"
)

// The CSV reader's parsers and the writer's formatters are the job's
// workers (Job.Workers, --workers), not GOMAXPROCS: the goroutines alive
// while the stage runs grow with the setting.
func TestCSVWorkersFollowTheJob(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "in.csv")
	var sb strings.Builder
	sb.WriteString("id,name\n")
	for i := range 20000 {
		fmt.Fprintf(&sb, "%d,name %d\n", i, i)
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	reading := func(workers int) int64 {
		var peak atomic.Int64
		sink := &openstagetest.Sink{OnBatch: func(int) { peak.Store(max(peak.Load(), int64(runtime.NumGoroutine()))) }}
		src := openstage.NewStage("reader", &csvio.CSVOrigin{Path: openstage.Strings{path}, Delimiter: ',', Header: true, Quoting: true, Quote: '"', SampleRows: 100, BatchRows: 1000})
		src.AddOutputPipe(openstage.NewPipe("p")).SetDestination(openstage.NewStage("sink", sink))
		job := openstage.NewJob("read", src)
		job.Workers = workers
		if err := job.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(sink.Rows) != 20000 {
			t.Fatalf("read %d rows, want 20000", len(sink.Rows))
		}
		return peak.Load()
	}
	writing := func(workers int) int64 {
		var peak atomic.Int64
		src := openstage.NewStage("source", &goroutineSource{peak: &peak})
		src.AddOutputPipe(openstage.NewPipe("p")).SetDestination(openstage.NewStage("writer", &csvio.CSVDestination{Path: filepath.Join(dir, fmt.Sprintf("out%d.csv", workers)), Delimiter: ',', Header: true, IfExists: "replace"}))
		job := openstage.NewJob("write", src)
		job.Workers = workers
		if err := job.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return peak.Load()
	}
	for name, run := range map[string]func(int) int64{"reader": reading, "writer": writing} {
		one, eight := run(1), run(8)
		t.Logf("%s: %d, %d", name, one, eight)
		if eight-one < 4 {
			t.Errorf("%s: at most %d goroutines with 1 worker, %d with 8; want at least 4 more (7 more workers)", name, one, eight)
		}
	}
}

// goroutineSource sends 50 batches and records the most goroutines alive
// while it sends them (the writer's formatters are started by then).
type goroutineSource struct{ peak *atomic.Int64 }

var goroutineSchema = openstage.NewSchema("id", openstage.Int64)

func (s *goroutineSource) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(goroutineSchema)
	return nil
}

func (s *goroutineSource) Pump(ctx context.Context, out *openstage.Outputs) error {
	for i := range 50 {
		b := openstage.NewBuilder(out.Allocator(), goroutineSchema)
		for j := range 100 {
			if err := b.Append(int64(i*100 + j)); err != nil {
				b.Release()
				return err
			}
		}
		rec := b.Build()
		b.Release()
		err := out.Send(ctx, rec)
		rec.Release()
		if err != nil {
			return err
		}
		s.peak.Store(max(s.peak.Load(), int64(runtime.NumGoroutine())))
	}
	return nil
}
