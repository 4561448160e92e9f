package openstage_test

import (
	"context"
	"io"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// repeat is an Origin sending the same one-row batch n times.
type repeat struct{ n int }

func (r *repeat) Plan(_ context.Context, p *openstage.Plan) error { p.SetOutputs(nSchema); return nil }
func (r *repeat) Pump(ctx context.Context, out *openstage.Outputs) error {
	b := array.NewInt64Builder(out.Allocator())
	b.Append(1)
	arr := b.NewArray()
	b.Release()
	rec := array.NewRecordBatch(nSchema, []arrow.Array{arr}, 1)
	arr.Release()
	defer rec.Release()
	for range r.n {
		if err := out.Send(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

// pass forwards batches.
type pass struct{}

func (pass) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(p.InputSchema())
	return nil
}
func (pass) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
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

// passMapper forwards batches through the engine's parallel, ordered Mapper path.
type passMapper struct{ pass }

func (passMapper) MapBatch(_ context.Context, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	rec.Retain()
	return rec, nil
}

// drop is a Destination that releases what it gets.
type drop struct{}

func (drop) Plan(context.Context, *openstage.Plan) error { return nil }
func (drop) Sink(ctx context.Context, in *openstage.Inputs) error {
	for {
		dp, err := in.Recv(ctx)
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		dp.Batch.Release()
	}
}

// BenchmarkEngineOverheadPerBatch measures what the engine costs per batch
// crossing a stage: origin → 3 pass-through nodes → sink, one-row batches.
func BenchmarkEngineOverheadPerBatch(b *testing.B) {
	for _, tc := range []struct {
		name string
		node func() any
	}{{"process", func() any { return pass{} }}, {"mapper", func() any { return passMapper{} }}} {
		b.Run(tc.name, func(b *testing.B) {
			src := openstage.NewStage("src", &repeat{n: b.N})
			last := src
			for i := range 3 {
				n := openstage.NewStage(string(rune('a'+i)), tc.node())
				last.AddOutputPipe(openstage.NewPipe("p" + n.Name())).SetDestination(n)
				last = n
			}
			last.AddOutputPipe(openstage.NewPipe("out")).SetDestination(openstage.NewStage("sink", drop{}))
			job := openstage.NewJob("bench", src)
			job.Allocator = memory.NewGoAllocator()
			b.ResetTimer()
			if err := job.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/4, "ns/batch/hop")
		})
	}
}
