package openstage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
)

// gated is an origin that sends batches of 10 rows, waiting on gate before
// each one after the first few, and reports progress.
type gated struct {
	batches, free int
	gate          chan struct{}
	read          atomic.Int64
}

func (g *gated) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(nSchema)
	p.Logger().Debug("planned")
	return nil
}

func (g *gated) Progress() (int64, int64) { return g.read.Load(), int64(g.batches) * 100 }

func (g *gated) Pump(ctx context.Context, out *openstage.Outputs) error {
	out.Logger().Warn("slow source", "attempt", 1)
	for i := range g.batches {
		if i >= g.free {
			select {
			case <-g.gate:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		b := openstage.NewBuilder(out.Allocator(), nSchema)
		for r := range 10 {
			b.Append(int64(i*10 + r))
		}
		rec := b.Build()
		b.Release()
		g.read.Add(100)
		err := out.Send(ctx, rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	out.Count(openstage.CounterInputTokens, 7)
	out.Count(openstage.CounterOutputTokens, 3)
	return nil
}

// Job.Stats reads the counts of a run while it runs: an origin held between
// batches has sent exactly what it was let send.
func TestStatsWhileRunning(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	g := &gated{batches: 5, free: 2, gate: make(chan struct{})}
	sink := &openstagetest.Sink{}
	src := openstage.NewStage("src", g)
	src.AddOutputPipe(openstage.NewPipe("p")).SetDestination(openstage.NewStage("sink", sink))
	job := openstage.NewJob("live", src)
	job.Allocator = mem
	if job.Stats() != nil {
		t.Fatal("Stats before Run is not nil")
	}
	done := make(chan error, 1)
	go func() { done <- job.Run(context.Background()) }()
	var s *openstage.Summary
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if s = job.Stats(); s != nil {
			if st, _ := s.Stage("sink"); st.RowsIn == 20 {
				break
			}
		}
	}
	if s == nil || !s.Running || s.Status() != "running" {
		t.Fatalf("Stats while running: %+v", s)
	}
	src1, _ := s.Stage("src")
	if src1.RowsOut != 20 || src1.BatchesOut != 2 || src1.BytesOut != 20*8 || !src1.Running() || src1.BytesRead != 200 || src1.BytesTotal != 500 {
		t.Errorf("src while held: %+v", src1)
	}
	if p, _ := s.Pipe("p"); p.Rows != 20 || p.Batches != 2 {
		t.Errorf("pipe p while held: %+v", p)
	}
	for range 3 {
		g.gate <- struct{}{}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s = job.Stats()
	if s.Running || s.Status() != "succeeded" || s.End.IsZero() {
		t.Fatalf("Stats after the run: %+v", s)
	}
	st, _ := s.Stage("src")
	sk, _ := s.Stage("sink")
	if st.RowsOut != 50 || st.BatchesOut != 5 || sk.RowsIn != 50 || sk.BatchesIn != 5 || sk.Batches() != 5 || st.Batches() != 5 {
		t.Errorf("after the run: src %+v sink %+v", st, sk)
	}
	if in, out, ok := st.Tokens(); !ok || in != 7 || out != 3 {
		t.Errorf("tokens = %d, %d, %v", in, out, ok)
	}
	if sk.RowsPerSecond() <= 0 || st.Rows() != 50 || sk.Rows() != 50 {
		t.Errorf("rows/s %v, rows %d %d", sk.RowsPerSecond(), st.Rows(), sk.Rows())
	}
	var table bytes.Buffer
	job.Summary().WriteTable(&table)
	for _, want := range []string{"batches", "rows/s", "tokens in/out", "7/3"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

// RowLimit stops each origin after that many rows, slicing the batch that
// crosses it, and the run succeeds.
func TestRowLimit(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sink := &openstagetest.Sink{}
	src := openstage.NewStage("src", &openstagetest.Source{Schema: nSchema, Rows: intRows(1000), BatchRows: 7})
	src.AddOutputPipe(openstage.NewPipe("p")).SetDestination(openstage.NewStage("sink", sink))
	job := openstage.NewJob("trial", src)
	job.Allocator, job.RowLimit = mem, 30
	if err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sink.Rows) != 30 || sink.Rows[29][0] != int64(30) {
		t.Fatalf("got %d rows (last %v), want 30", len(sink.Rows), sink.Rows[len(sink.Rows)-1])
	}
	if st, _ := job.Summary().Stage("src"); st.RowsOut != 30 || st.Err != nil {
		t.Errorf("src: %+v", st)
	}
}

// MaxRejects fails the job once more rows than that are rejected in total,
// naming the stage; at the limit it succeeds.
func TestMaxRejects(t *testing.T) {
	build := func(limit *int64) (*openstage.Job, *memory.CheckedAllocator) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		src := openstage.NewStage("src", &openstagetest.Source{Schema: nSchema, Rows: intRows(100), BatchRows: 10})
		node := openstage.NewStage("parity", &parity{})
		src.AddOutputPipe(openstage.NewPipe("in")).SetDestination(node)
		for _, o := range []string{"even", "odd", "reject"} {
			node.AddOutputPipe(openstage.NewPipe(o)).SetDestination(openstage.NewStage("sink_"+o, &openstagetest.Sink{}))
		}
		job := openstage.NewJob("rejects", src)
		job.Allocator, job.MaxRejects = mem, limit
		return job, mem
	}
	// 1..100 has 14 multiples of 7.
	job, mem := build(new(int64(14)))
	if err := job.Run(context.Background()); err != nil {
		t.Fatalf("14 rejects with a limit of 14: %v", err)
	}
	mem.AssertSize(t, 0)
	job, mem = build(new(int64(5)))
	err := job.Run(context.Background())
	if !errors.Is(err, openstage.ErrTooManyRejects) || !strings.HasPrefix(err.Error(), "parity 'parity': too many rejected rows: the job has rejected") {
		t.Fatalf("err = %v", err)
	}
	if st, _ := job.Summary().Stage("parity"); st.Err == nil {
		t.Errorf("the failing stage has no Err: %+v", st)
	}
	if st, _ := job.Summary().Stage("src"); st.Err != nil {
		t.Errorf("src was only cancelled, yet has Err %v", st.Err)
	}
	mem.AssertSize(t, 0)
}

// Every record of the job's logger carries the job; the stage records and
// what components log carry the stage and its type.
func TestLogRecords(t *testing.T) {
	var buf bytes.Buffer
	g := &gated{batches: 3, free: 3}
	src := openstage.NewStage("src", g)
	src.AddOutputPipe(openstage.NewPipe("p")).SetDestination(openstage.NewStage("sink", &openstagetest.Sink{}))
	job := openstage.NewJob("logged", src)
	job.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	msgs := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if rec["job"] != "logged" {
			t.Errorf("record without job: %s", line)
		}
		key := rec["msg"].(string)
		if s, ok := rec["stage"].(string); ok {
			key += " " + s
		}
		msgs[key] = rec
	}
	for _, want := range []string{"job started", "planned src", "stage started src", "slow source src", "stage finished src", "stage finished sink", "job finished"} {
		if msgs[want] == nil {
			t.Errorf("no record %q in:\n%s", want, buf.String())
		}
	}
	if r := msgs["stage finished sink"]; r["rows_in"] != 30.0 || r["batches_in"] != 3.0 || r["type"] != "Sink" {
		t.Errorf("stage finished sink: %v", r)
	}
	if r := msgs["slow source src"]; r["level"] != "WARN" || r["attempt"] != 1.0 || r["type"] != "gated" {
		t.Errorf("component record: %v", r)
	}
	if r := msgs["job finished"]; r["status"] != "succeeded" || r["input_tokens"] != 7.0 {
		t.Errorf("job finished: %v", r)
	}
}
