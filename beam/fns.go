package beam

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	beamsdk "github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/csvio"
)

func init() {
	register.DoFn3x1[context.Context, []byte, func(Elem), error](&wholeOriginFn{})
	register.DoFn3x1[context.Context, []byte, func(Elem), error](&csvPartFn{})
	register.DoFn3x1[context.Context, Elem, func(Elem), error](&stageFn{})
	register.DoFn2x1[context.Context, Elem, error](&writePartFn{})
	beamsdk.RegisterType(reflect.TypeOf((*csvTask)(nil)).Elem())
}

// stageBase is what every DoFn of a stage carries: the job, the stage, its
// output pipes, and the counters of the run summary.
type stageBase struct {
	Spec    JobSpec
	Stage   string
	Outputs []string // output pipe names, in connection order
	Index   int      // the stage's place in the job, first part of its origins' positions

	job *openstage.Job
	in  beamsdk.Counter
	out []beamsdk.Counter // rows per output pipe
	bat []beamsdk.Counter // batches per output pipe
	bin beamsdk.Counter
}

func (b *stageBase) setup(ctx context.Context) error {
	job, err := b.Spec.load(ctx)
	if err != nil {
		return userErr(err)
	}
	b.job = job
	b.in = beamsdk.NewCounter(metricNS, metricName(b.Stage, "rows_in", ""))
	b.bin = beamsdk.NewCounter(metricNS, metricName(b.Stage, "batches_in", ""))
	b.out = make([]beamsdk.Counter, len(b.Outputs))
	b.bat = make([]beamsdk.Counter, len(b.Outputs))
	for i, p := range b.Outputs {
		b.out[i] = beamsdk.NewCounter(metricNS, metricName(b.Stage, "rows_out", p))
		b.bat[i] = beamsdk.NewCounter(metricNS, metricName(b.Stage, "batches_out", p))
	}
	return nil
}

func (b *stageBase) pipeIndex(pipe string) (int, error) {
	for i, p := range b.Outputs {
		if p == pipe {
			return i, nil
		}
	}
	return 0, fmt.Errorf("stage '%s' sent to pipe '%s', which is not one of its outputs %v", b.Stage, pipe, b.Outputs)
}

// send encodes rec for output pipe i at position p and counts it.
func (b *stageBase) send(ctx context.Context, i int, p []byte, rec arrow.RecordBatch, emit func(Elem)) error {
	data, err := encode(rec)
	if err != nil {
		return err
	}
	b.out[i].Inc(ctx, rec.NumRows())
	b.bat[i].Inc(ctx, 1)
	emit(Elem{Pipe: int32(i), Pos: p, Data: data, Rows: rec.NumRows()})
	return nil
}

func (b *stageBase) counters(ctx context.Context, cs map[string]int64) {
	for name, n := range cs {
		beamsdk.NewCounter(metricNS, metricName(b.Stage, "counter", name)).Inc(ctx, n)
	}
}

// run runs the stage on the given inputs, emitting each output batch at
// position prefix+(its number on its pipe).
func (b *stageBase) run(ctx context.Context, prefix []byte, inputs map[string]openstage.BatchSource, emit func(Elem)) error {
	ctx, done := workCtx(ctx)
	defer done()
	seq := make([]uint32, len(b.Outputs))
	cs, err := b.job.RunStage(ctx, b.Stage, inputs, func(pipe string, rec arrow.RecordBatch) error {
		i, err := b.pipeIndex(pipe)
		if err != nil {
			return err
		}
		p := pos(prefix, seq[i])
		seq[i]++
		return b.send(ctx, i, p, rec, emit)
	})
	b.counters(ctx, cs)
	return userErr(err)
}

// wholeOriginFn runs an origin that is not split: one worker reads it all.
type wholeOriginFn struct{ stageBase }

func (f *wholeOriginFn) Setup(ctx context.Context) error { return f.setup(ctx) }

func (f *wholeOriginFn) ProcessElement(ctx context.Context, _ []byte, emit func(Elem)) error {
	return f.run(ctx, pos(nil, uint32(f.Index), 0), nil, emit)
}

// csvTask is one part of a CSVOrigin, as JSON.
type csvTask struct {
	N    uint32
	Part csvio.Part
}

// csvPartFn reads one part of a CSVOrigin.
type csvPartFn struct {
	stageBase
	Reject string // the reject pipe, if any
}

func (f *csvPartFn) Setup(ctx context.Context) error { return f.setup(ctx) }

func (f *csvPartFn) ProcessElement(ctx context.Context, task []byte, emit func(Elem)) error {
	var t csvTask
	if err := json.Unmarshal(task, &t); err != nil {
		return err
	}
	o, ok := f.job.Stage(f.Stage).Component().(*csvio.CSVOrigin)
	if !ok {
		return fmt.Errorf("stage '%s' is not a CSVOrigin on this worker", f.Stage)
	}
	ctx, done := workCtx(ctx)
	defer done()
	seq := make([]uint32, len(f.Outputs))
	err := o.ReadPart(ctx, memory.DefaultAllocator, t.Part, func(rec arrow.RecordBatch, reject bool) error {
		defer rec.Release()
		i := 0
		if reject {
			var err error
			if i, err = f.pipeIndex(f.Reject); err != nil {
				return err
			}
		} else if f.Reject != "" && f.Outputs[0] == f.Reject {
			i = 1
		}
		p := pos(nil, uint32(f.Index), t.N, seq[i])
		seq[i]++
		return f.send(ctx, i, p, rec, emit)
	})
	if err != nil {
		return userErr(&openstage.StageError{Stage: f.job.Stage(f.Stage), Err: err})
	}
	return nil
}

// stageFn runs a node batch by batch: each element is the whole input of
// one run of the stage, on input pipe Input.
type stageFn struct {
	stageBase
	Input  string
	Prefix []byte // put before the element's position (a Funnel's input index)
}

func (f *stageFn) Setup(ctx context.Context) error { return f.setup(ctx) }

func (f *stageFn) ProcessElement(ctx context.Context, e Elem, emit func(Elem)) error {
	rec, err := decode(e.Data, memory.DefaultAllocator)
	if err != nil {
		return err
	}
	f.in.Inc(ctx, rec.NumRows())
	f.bin.Inc(ctx, 1)
	prefix := append(append([]byte{}, f.Prefix...), e.Pos...)
	return f.run(ctx, prefix, map[string]openstage.BatchSource{f.Input: openstage.Batches(rec)}, emit)
}

// writePartFn writes each batch reaching a destination to a part file
// named by its position, for the launcher to commit in order.
type writePartFn struct {
	Stage string
	Dir   string // the destination's folder of parts for this input pipe

	in, bin beamsdk.Counter
}

func (f *writePartFn) Setup(context.Context) error {
	f.in = beamsdk.NewCounter(metricNS, metricName(f.Stage, "rows_in", ""))
	f.bin = beamsdk.NewCounter(metricNS, metricName(f.Stage, "batches_in", ""))
	return os.MkdirAll(f.Dir, 0o755)
}

func (f *writePartFn) ProcessElement(ctx context.Context, e Elem) error {
	rec, err := decode(e.Data, memory.DefaultAllocator)
	if err != nil {
		return err
	}
	f.in.Inc(ctx, rec.NumRows())
	f.bin.Inc(ctx, 1)
	rec.Release()
	name := filepath.Join(f.Dir, hex.EncodeToString(e.Pos)+".arrow")
	// A retried bundle writes the same name again: write aside, rename.
	tmp, err := os.CreateTemp(f.Dir, ".part-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(e.Data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), name)
}

const metricNS = "openstage"

// metricName names a counter of a stage: stage|kind|pipe-or-counter.
func metricName(stage, kind, what string) string { return stage + "|" + kind + "|" + what }
