package openstage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
)

// forward passes its input on unchanged to every output, reading column key.
type forward struct{ key string }

func (f *forward) Connectivity() openstage.Connectivity { return openstage.OneToMany }

func (f *forward) Plan(_ context.Context, p *openstage.Plan) error {
	in := p.Inputs()[0].Pipe
	if f.key != "" {
		if _, err := openstage.FieldIndex(p.InputSchema(), f.key); err != nil {
			return err
		}
		p.Reads(in, f.key)
	} else {
		p.Reads(in)
	}
	for _, o := range p.Outputs() {
		p.PassesThrough(in, o)
	}
	p.SetOutputs(p.InputSchema())
	return nil
}

func (f *forward) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	for {
		dp, err := in.Recv(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		err = out.Send(ctx, dp.Batch)
		dp.Batch.Release()
		if err != nil {
			return err
		}
	}
}

// total sums int64 column col into one row; it declares that it reads
// declared (which a buggy component may get wrong) and counts rows when col
// is "".
type total struct{ col, declared string }

func (s *total) Plan(_ context.Context, p *openstage.Plan) error {
	if s.col != "" {
		if _, err := openstage.FieldIndex(p.InputSchema(), s.col); err != nil {
			return err
		}
	}
	if s.declared != "" {
		p.Reads(p.Inputs()[0].Pipe, s.declared)
	} else {
		p.Reads(p.Inputs()[0].Pipe)
	}
	p.SetOutputs(arrow.NewSchema([]arrow.Field{{Name: "total", Type: openstage.Int64}}, nil))
	return nil
}

func (s *total) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	var sum int64
	for {
		dp, err := in.Recv(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		v := openstage.View(dp.Batch)
		if s.col == "" {
			sum += int64(v.Len())
		} else {
			c, err := v.Col(s.col)
			if err != nil {
				dp.Batch.Release()
				return err
			}
			for i := 0; i < v.Len(); i++ {
				sum += c.Int64(i)
			}
		}
		dp.Batch.Release()
	}
	b := openstage.NewBuilder(out.Allocator(), arrow.NewSchema([]arrow.Field{{Name: "total", Type: openstage.Int64}}, nil))
	defer b.Release()
	if err := b.Append(sum); err != nil {
		return err
	}
	rec := b.Build()
	defer rec.Release()
	return out.Send(ctx, rec)
}

func pushdownSource() *openstagetest.ProjectableSource {
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: openstage.Int64, Nullable: true},
		{Name: "b", Type: openstage.Int64, Nullable: true},
		{Name: "s", Type: openstage.String, Nullable: true},
		{Name: "k", Type: openstage.Int64, Nullable: true},
	}, nil)
	var rows [][]any
	for i := int64(1); i <= 100; i++ {
		rows = append(rows, []any{i, 2 * i, "x", i % 3})
	}
	return &openstagetest.ProjectableSource{Source: openstagetest.Source{Schema: sc, Rows: rows, BatchRows: 7}}
}

func runPushdown(t *testing.T, src *openstagetest.ProjectableSource, build func(o *openstage.Stage) []*openstagetest.Sink) ([]*openstagetest.Sink, string) {
	sinks, log, _ := runPushdownJob(t, src, build)
	return sinks, log
}

func runPushdownJob(t *testing.T, src *openstagetest.ProjectableSource, build func(o *openstage.Stage) []*openstagetest.Sink) ([]*openstagetest.Sink, string, *openstage.Job) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	o := openstage.NewStage("src", src)
	sinks := build(o)
	var log bytes.Buffer
	job := openstage.NewJob("pushdown", o)
	job.Allocator = mem
	job.Logger = slog.New(slog.NewTextHandler(&log, nil))
	if err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return sinks, log.String(), job
}

func TestPushdown(t *testing.T) {
	sinkRows := func(s *openstagetest.Sink) [][]any { return s.Rows }
	t.Run("through a pass-through stage to one that reads one column", func(t *testing.T) {
		src := pushdownSource()
		sinks, log, job := runPushdownJob(t, src, func(o *openstage.Stage) []*openstagetest.Sink {
			sink := &openstagetest.Sink{}
			o.AddOutputPipe(openstage.NewPipe("p1")).SetDestination(openstage.NewStage("fwd", &forward{key: "k"})).
				AddOutputPipe(openstage.NewPipe("p2")).SetDestination(openstage.NewStage("sum", &total{col: "a", declared: "a"})).
				AddOutputPipe(openstage.NewPipe("p3")).SetDestination(openstage.NewStage("sink", sink))
			return []*openstagetest.Sink{sink}
		})
		if !reflect.DeepEqual(src.Projected, []string{"a", "k"}) {
			t.Fatalf("projected %v, want [a k]", src.Projected)
		}
		if got := sinkRows(sinks[0]); !reflect.DeepEqual(got, [][]any{{int64(5050)}}) {
			t.Fatalf("sum %v", got)
		}
		if !strings.Contains(log, "msg=projection job=pushdown stage=src type=ProjectableSource reads=a,k of=4") {
			t.Fatalf("log: %s", log)
		}
		if got := job.Projections(); !reflect.DeepEqual(got, []openstage.Projection{{Stage: "src", Columns: []string{"a", "k"}, Of: 4}}) {
			t.Fatalf("Projections() = %v", got)
		}
	})
	t.Run("a destination reads everything", func(t *testing.T) {
		src := pushdownSource()
		sinks, _ := runPushdown(t, src, func(o *openstage.Stage) []*openstagetest.Sink {
			sink := &openstagetest.Sink{}
			o.AddOutputPipe(openstage.NewPipe("p1")).SetDestination(openstage.NewStage("fwd", &forward{key: "k"})).
				AddOutputPipe(openstage.NewPipe("p2")).SetDestination(openstage.NewStage("sink", sink))
			return []*openstagetest.Sink{sink}
		})
		if src.Projected != nil || sinks[0].Schema.NumFields() != 4 || len(sinks[0].Rows) != 100 {
			t.Fatalf("projected %v, sink schema %v, %d rows", src.Projected, sinks[0].Schema, len(sinks[0].Rows))
		}
	})
	t.Run("branches: the union of what each reads", func(t *testing.T) {
		src := pushdownSource()
		sinks, _ := runPushdown(t, src, func(o *openstage.Stage) []*openstagetest.Sink {
			sa, sb := &openstagetest.Sink{}, &openstagetest.Sink{}
			fork := openstage.NewStage("fork", &forward{})
			o.AddOutputPipe(openstage.NewPipe("p1")).SetDestination(fork)
			fork.AddOutputPipe(openstage.NewPipe("pa")).SetDestination(openstage.NewStage("suma", &total{col: "a", declared: "a"})).
				AddOutputPipe(openstage.NewPipe("ra")).SetDestination(openstage.NewStage("sinka", sa))
			fork.AddOutputPipe(openstage.NewPipe("pb")).SetDestination(openstage.NewStage("sumb", &total{col: "b", declared: "b"})).
				AddOutputPipe(openstage.NewPipe("rb")).SetDestination(openstage.NewStage("sinkb", sb))
			return []*openstagetest.Sink{sa, sb}
		})
		if !reflect.DeepEqual(src.Projected, []string{"a", "b"}) {
			t.Fatalf("projected %v, want [a b]", src.Projected)
		}
		if !reflect.DeepEqual(sinks[0].Rows, [][]any{{int64(5050)}}) || !reflect.DeepEqual(sinks[1].Rows, [][]any{{int64(10100)}}) {
			t.Fatalf("sums %v %v", sinks[0].Rows, sinks[1].Rows)
		}
	})
	t.Run("a count reads no column: one is kept for the row count", func(t *testing.T) {
		src := pushdownSource()
		sinks, _ := runPushdown(t, src, func(o *openstage.Stage) []*openstagetest.Sink {
			sink := &openstagetest.Sink{}
			o.AddOutputPipe(openstage.NewPipe("p1")).SetDestination(openstage.NewStage("count", &total{})).
				AddOutputPipe(openstage.NewPipe("p2")).SetDestination(openstage.NewStage("sink", sink))
			return []*openstagetest.Sink{sink}
		})
		if !reflect.DeepEqual(src.Projected, []string{"a"}) || !reflect.DeepEqual(sinks[0].Rows, [][]any{{int64(100)}}) {
			t.Fatalf("projected %v, count %v", src.Projected, sinks[0].Rows)
		}
	})
	t.Run("a wrong declaration drops the projection, not the job", func(t *testing.T) {
		src := pushdownSource()
		sinks, log, job := runPushdownJob(t, src, func(o *openstage.Stage) []*openstagetest.Sink {
			sink := &openstagetest.Sink{}
			// reads b but declares a: planning again with only a fails
			o.AddOutputPipe(openstage.NewPipe("p1")).SetDestination(openstage.NewStage("sum", &total{col: "b", declared: "a"})).
				AddOutputPipe(openstage.NewPipe("p2")).SetDestination(openstage.NewStage("sink", sink))
			return []*openstagetest.Sink{sink}
		})
		if src.Projected != nil || !reflect.DeepEqual(sinks[0].Rows, [][]any{{int64(10100)}}) {
			t.Fatalf("projected %v, sum %v", src.Projected, sinks[0].Rows)
		}
		if !strings.Contains(log, "projection dropped") || !strings.Contains(log, "field 'b' not found") {
			t.Fatalf("log: %s", log)
		}
		if got := job.Projections(); got != nil {
			t.Fatalf("Projections() = %v after the projection was dropped", got)
		}
	})
}

// TestPushdownValidateOnly: Validate plans with the projection too, and a
// job that fails validation is reported as before.
func TestPushdownValidationError(t *testing.T) {
	src := pushdownSource()
	o := openstage.NewStage("src", src)
	o.AddOutputPipe(openstage.NewPipe("p1")).SetDestination(openstage.NewStage("sum", &total{col: "nope", declared: "nope"})).
		AddOutputPipe(openstage.NewPipe("p2")).SetDestination(openstage.NewStage("sink", &openstagetest.Sink{}))
	err := openstage.NewJob("bad", o).Validate(context.Background())
	var v *openstage.ValidationError
	if !errors.As(err, &v) || !strings.Contains(err.Error(), "field 'nope' not found") || src.Projected != nil {
		t.Fatalf("err %v, projected %v", err, src.Projected)
	}
}

// A job validated (and so projected), then given a stage that reads another
// column, plans from every column again: the earlier projection does not
// make the new stage's column disappear.
func TestPushdownRecomputedEachPlan(t *testing.T) {
	src := pushdownSource()
	o := openstage.NewStage("src", src)
	fwd := openstage.NewStage("fwd", &forward{key: "k"})
	sa := &openstagetest.Sink{}
	o.AddOutputPipe(openstage.NewPipe("p1")).SetDestination(fwd).
		AddOutputPipe(openstage.NewPipe("p2")).SetDestination(openstage.NewStage("suma", &total{col: "a", declared: "a"})).
		AddOutputPipe(openstage.NewPipe("p3")).SetDestination(openstage.NewStage("sinka", sa))
	job := openstage.NewJob("again", o)
	if err := job.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(src.Projected, []string{"a", "k"}) {
		t.Fatalf("projected %v", src.Projected)
	}
	sb := &openstagetest.Sink{}
	fwd.AddOutputPipe(openstage.NewPipe("p4")).SetDestination(openstage.NewStage("sumb", &total{col: "b", declared: "b"})).
		AddOutputPipe(openstage.NewPipe("p5")).SetDestination(openstage.NewStage("sinkb", sb))
	if err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(src.Projected, []string{"a", "b", "k"}) || !reflect.DeepEqual(sb.Rows, [][]any{{int64(10100)}}) {
		t.Fatalf("projected %v, sum of b %v", src.Projected, sb.Rows)
	}
}
