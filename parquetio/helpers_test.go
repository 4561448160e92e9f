package parquetio

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
)

// runJob runs the job made of stages under a checked allocator and fails
// the test if any buffer is left allocated. It returns the job's error.
func runJob(t testing.TB, stages ...*openstage.Stage) error {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	job := openstage.NewJob("test", stages...)
	job.Allocator = mem
	return job.Run(context.Background())
}

// writeFile writes rows to path through a ParquetDestination configured by
// configure, in batches of batchRows rows.
func writeFile(t testing.TB, path string, schema *arrow.Schema, rows [][]any, batchRows int, configure ...func(*ParquetDestination)) error {
	t.Helper()
	src := openstage.NewStage("source", &openstagetest.Source{Schema: schema, Rows: rows, BatchRows: batchRows})
	dst := openstage.New("writer", append([]func(*ParquetDestination){func(d *ParquetDestination) { d.Path = path }}, configure...)...)
	src.AddOutputPipe(openstage.NewPipe("rows")).SetDestination(dst)
	return runJob(t, src)
}

// readFile reads path through a ParquetOrigin configured by configure.
func readFile(t testing.TB, path string, configure ...func(*ParquetOrigin)) (*openstagetest.Sink, error) {
	t.Helper()
	sink := &openstagetest.Sink{}
	org := openstage.New("reader", append([]func(*ParquetOrigin){func(o *ParquetOrigin) { o.Path = path }}, configure...)...)
	org.AddOutputPipe(openstage.NewPipe("rows")).SetDestination(openstage.NewStage("sink", sink))
	return sink, runJob(t, org)
}

// mustWrite is writeFile that fails the test on error.
func mustWrite(t testing.TB, path string, schema *arrow.Schema, rows [][]any, batchRows int, configure ...func(*ParquetDestination)) {
	t.Helper()
	if err := writeFile(t, path, schema, rows, batchRows, configure...); err != nil {
		t.Fatal(err)
	}
}

// mustRead is readFile that fails the test on error.
func mustRead(t testing.TB, path string, configure ...func(*ParquetOrigin)) *openstagetest.Sink {
	t.Helper()
	sink, err := readFile(t, path, configure...)
	if err != nil {
		t.Fatal(err)
	}
	return sink
}

// dirEntries lists the names in dir, hidden files included.
func dirEntries(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// fileMeta opens path with the parquet library itself.
func fileMeta(t testing.TB, path string) *file.Reader {
	t.Helper()
	r, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// failingSource sends its batches, then fails.
type failingSource struct {
	openstagetest.Source
}

var errBoom = errors.New("boom")

func (s *failingSource) Pump(ctx context.Context, out *openstage.Outputs) error {
	if err := s.Source.Pump(ctx, out); err != nil {
		return err
	}
	return errBoom
}

// counter is a destination that counts rows and batches, keeping nothing.
type counter struct {
	rows, batches atomic.Int64
	cancelAfter   int64 // cancel the job after this many batches (0: never)
	cancel        context.CancelFunc
}

func (c *counter) Plan(context.Context, *openstage.Plan) error { return nil }

func (c *counter) Sink(ctx context.Context, in *openstage.Inputs) error {
	for {
		dp, err := in.Recv(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		c.rows.Add(dp.Batch.NumRows())
		n := c.batches.Add(1)
		dp.Batch.Release()
		if c.cancelAfter > 0 && n == c.cancelAfter {
			c.cancel()
		}
	}
}

// peakAllocator records the most bytes allocated at once.
type peakAllocator struct {
	memory.Allocator
	cur, peak atomic.Int64
}

func (a *peakAllocator) add(n int64) {
	c := a.cur.Add(n)
	for {
		p := a.peak.Load()
		if c <= p || a.peak.CompareAndSwap(p, c) {
			return
		}
	}
}

func (a *peakAllocator) Allocate(n int) []byte {
	a.add(int64(n))
	return a.Allocator.Allocate(n)
}

func (a *peakAllocator) Reallocate(n int, b []byte) []byte {
	a.add(int64(n - len(b)))
	return a.Allocator.Reallocate(n, b)
}

func (a *peakAllocator) Free(b []byte) {
	a.add(-int64(len(b)))
	a.Allocator.Free(b)
}

func tempPath(t testing.TB, name string) string {
	return filepath.Join(t.TempDir(), name)
}
