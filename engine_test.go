package openstage_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
)

// double is a Node that doubles an int64 column "n".
type double struct{ failAt int64 }

func (d *double) Plan(_ context.Context, p *openstage.Plan) error {
	if _, err := openstage.FieldIndex(p.InputSchema(), "n"); err != nil {
		return err
	}
	p.SetOutputs(p.InputSchema())
	return nil
}

func (d *double) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	for {
		dp, err := in.Recv(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		col := openstage.View(dp.Batch).ColAt(0)
		b := openstage.NewBuilder(out.Allocator(), dp.Batch.Schema())
		for i := 0; i < col.Len(); i++ {
			if d.failAt > 0 && col.Int64(i) == d.failAt {
				b.Release()
				dp.Batch.Release()
				return errors.New("boom at " + "row")
			}
			b.Append(col.Int64(i) * 2)
		}
		rec := b.Build()
		b.Release()
		dp.Batch.Release()
		err = out.Send(ctx, rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
}

func intRows(n int) [][]any {
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{int64(i + 1)}
	}
	return rows
}

var nSchema = openstage.NewSchema("n", openstage.Int64)

func TestRunNodeDoubles(t *testing.T) {
	res, err := openstagetest.RunNode(t, &double{}, []openstagetest.Input{{Pipe: "in", Schema: nSchema, Rows: intRows(1000), BatchRows: 7}}, "out")
	if err != nil {
		t.Fatal(err)
	}
	rows := res.Outputs["out"].Rows
	if len(rows) != 1000 {
		t.Fatalf("got %d rows, want 1000", len(rows))
	}
	for i, r := range rows {
		if r[0].(int64) != int64(2*(i+1)) {
			t.Fatalf("row %d = %v, want %d", i, r[0], 2*(i+1))
		}
	}
	st, _ := res.Summary.Stage("stage")
	if st.RowsIn != 1000 || st.RowsOut != 1000 {
		t.Fatalf("summary in=%d out=%d, want 1000/1000", st.RowsIn, st.RowsOut)
	}
}

func TestFirstErrorCancelsJobAndNamesStage(t *testing.T) {
	_, err := openstagetest.RunNode(t, &double{failAt: 500}, []openstagetest.Input{{Pipe: "in", Schema: nSchema, Rows: intRows(100000), BatchRows: 10}}, "out")
	if err == nil || err.Error() != "double 'stage': boom at row" {
		t.Fatalf("err = %v", err)
	}
	var se *openstage.StageError
	if !errors.As(err, &se) || se.Stage.Name() != "stage" {
		t.Fatalf("not a StageError for 'stage': %#v", err)
	}
}

func TestPlanErrorNamesField(t *testing.T) {
	s := openstage.NewSchema("name", openstage.String, "age", openstage.Int64, "city", openstage.String)
	_, err := openstagetest.RunNode(t, &double{}, []openstagetest.Input{{Pipe: "in", Schema: s}}, "out")
	want := "double 'stage': field 'n' not found; available columns: name, age, city"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if !openstage.IsValidation(err) {
		t.Fatal("plan error is not a ValidationError")
	}
}

func TestSuggestion(t *testing.T) {
	s := openstage.NewSchema("name", openstage.String, "age", openstage.Int64, "city", openstage.String)
	_, err := openstage.FieldIndex(s, "Age")
	want := "field 'Age' not found; available columns: name, age, city (did you mean 'age'?)"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v", err)
	}
}

func TestStructuralValidation(t *testing.T) {
	src := func(name string) *openstage.Stage {
		return openstage.NewStage(name, &openstagetest.Source{Schema: nSchema})
	}
	tests := []struct {
		name  string
		build func() *openstage.Job
		want  []string
	}{
		{"dangling pipe", func() *openstage.Job {
			s := src("reader")
			s.AddOutputPipe(openstage.NewPipe("p1"))
			return openstage.NewJob("j", s)
		}, []string{"pipe 'p1' has no destination: it comes from Source 'reader' but goes nowhere"}},
		{"cycle", func() *openstage.Job {
			a := openstage.NewStage("a", &double{})
			b := openstage.NewStage("b", &double{})
			s := src("reader")
			s.AddOutputPipe(openstage.NewPipe("p0")).SetDestination(a)
			a.AddOutputPipe(openstage.NewPipe("p1")).SetDestination(b)
			b.AddOutputPipe(openstage.NewPipe("p2")).SetDestination(a)
			return openstage.NewJob("j", s)
		}, []string{"the pipes form a cycle: a -> b -> a"}},
		{"duplicate names", func() *openstage.Job {
			s1, s2 := src("reader"), src("reader")
			k := openstage.NewStage("sink", &openstagetest.Sink{})
			s1.AddOutputPipe(openstage.NewPipe("p1")).SetDestination(k)
			s2.AddOutputPipe(openstage.NewPipe("p1")).SetDestination(k)
			return openstage.NewJob("j", s1, s2)
		}, []string{"duplicate stage name 'reader'", "duplicate pipe name 'p1'"}},
		{"origin with input", func() *openstage.Job {
			s1, s2 := src("a"), src("b")
			s1.AddOutputPipe(openstage.NewPipe("p1")).SetDestination(s2)
			return openstage.NewJob("j", s1)
		}, []string{"Source 'b': cannot have inputs (it is an origin); pipe 'p1' cannot end here"}},
		{"no outputs", func() *openstage.Job {
			return openstage.NewJob("j", src("lonely"))
		}, []string{"Source 'lonely': needs at least 1 output pipe, has 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.build().Validate(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

// oneOut allows one output only.
type oneOut struct{ double }

func (oneOut) Connectivity() openstage.Connectivity { return openstage.OneToOne }

func TestConnectivityEnforcedWhenConnecting(t *testing.T) {
	f := openstage.NewStage("adults", &oneOut{})
	f.AddOutputPipe(openstage.NewPipe("p1"))
	f.AddOutputPipe(openstage.NewPipe("p2"))
	err := openstage.NewJob("j", f).Validate(context.Background())
	if err == nil || !strings.Contains(err.Error(), "oneOut 'adults': can only have 1 output; pipe 'p2' would be output 2") {
		t.Fatalf("err = %v", err)
	}
}

// committer records Commit/Abort calls.
type committer struct {
	sink               openstagetest.Sink
	committed, aborted bool
}

func (c *committer) Plan(ctx context.Context, p *openstage.Plan) error { return c.sink.Plan(ctx, p) }
func (c *committer) Sink(ctx context.Context, in *openstage.Inputs) error {
	return c.sink.Sink(ctx, in)
}

func (c *committer) Commit(context.Context) error { c.committed = true; return nil }
func (c *committer) Abort() error                 { c.aborted = true; return nil }

func TestCommitOnlyOnSuccess(t *testing.T) {
	for _, fail := range []bool{false, true} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		d := &double{}
		if fail {
			d.failAt = 3
		}
		c := &committer{}
		src := openstage.NewStage("reader", &openstagetest.Source{Schema: nSchema, Rows: intRows(10), BatchRows: 2})
		src.AddOutputPipe(openstage.NewPipe("a")).SetDestination(openstage.NewStage("d", d)).
			AddOutputPipe(openstage.NewPipe("b")).SetDestination(openstage.NewStage("w", c))
		job := openstage.NewJob("j", src)
		job.Allocator = mem
		err := job.Run(context.Background())
		if (err != nil) != fail || c.committed == fail || c.aborted != fail {
			t.Errorf("fail=%v: err=%v committed=%v aborted=%v", fail, err, c.committed, c.aborted)
		}
		mem.AssertSize(t, 0)
	}
}

func TestCancelFromOutside(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	src := openstage.NewStage("reader", &endless{})
	c := &committer{}
	src.AddOutputPipe(openstage.NewPipe("a")).SetDestination(openstage.NewStage("w", c))
	job := openstage.NewJob("j", src)
	go cancel()
	err := job.Run(ctx)
	if !errors.Is(err, openstage.ErrCancelled) || !c.aborted || c.committed {
		t.Fatalf("err=%v aborted=%v committed=%v", err, c.aborted, c.committed)
	}
}

type endless struct{}

func (endless) Plan(_ context.Context, p *openstage.Plan) error { p.SetOutputs(nSchema); return nil }
func (endless) Pump(ctx context.Context, out *openstage.Outputs) error {
	b := array.NewInt64Builder(out.Allocator())
	defer b.Release()
	for {
		b.Append(1)
		arr := b.NewArray()
		rec := array.NewRecordBatch(nSchema, []arrow.Array{arr}, 1)
		arr.Release()
		err := out.Send(ctx, rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
}

// eofRecorder notes whether its input ended normally.
type eofRecorder struct{ sawEOF bool }

func (e *eofRecorder) Plan(context.Context, *openstage.Plan) error { return nil }
func (e *eofRecorder) Sink(ctx context.Context, in *openstage.Inputs) error {
	for {
		dp, err := in.Recv(ctx)
		if err == io.EOF {
			e.sawEOF = true
			return nil
		}
		if err != nil {
			return err
		}
		dp.Batch.Release()
	}
}

// A destination must never mistake an upstream failure for the end of the
// data (a Printer would print, a writer would finish a partial file).
func TestUpstreamFailureIsNotEndOfStream(t *testing.T) {
	for range 50 {
		rec := &eofRecorder{}
		src := openstage.NewStage("reader", &openstagetest.Source{Schema: nSchema, Rows: intRows(10), BatchRows: 5})
		src.AddOutputPipe(openstage.NewPipe("a")).SetDestination(openstage.NewStage("d", &double{failAt: 7})).
			AddOutputPipe(openstage.NewPipe("b")).SetDestination(openstage.NewStage("w", rec))
		err := openstage.NewJob("j", src).Run(context.Background())
		if err == nil || rec.sawEOF {
			t.Fatalf("err=%v, destination saw end of stream: %v", err, rec.sawEOF)
		}
	}
}

func TestSuggestPrefersSwapsAndSimilarLength(t *testing.T) {
	conds := []string{"<", ">", "<=", ">=", "!=", "="}
	cols := []string{"age", "country", "name"}
	for _, tt := range []struct {
		in    string
		cands []string
		want  string
	}{
		{"=>", conds, ">="}, {"=<", conds, "<="}, {"agee", cols, "age"}, {"Age", cols, "age"},
		{"contry", cols, "country"}, {"cuontry", cols, "country"}, {"zzzzzz", cols, ""},
	} {
		if got := openstage.Suggest(tt.in, tt.cands); got != tt.want {
			t.Errorf("Suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// passOn is a Mapper that passes batches on, with two inputs: the engine
// runs its Process, which is openstage.MapperProcess.
type passOn struct{}

func (passOn) Connectivity() openstage.Connectivity { return openstage.ManyToOne }

func (passOn) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(p.InputSchema())
	return nil
}

func (passOn) MapBatch(_ context.Context, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	if rec.NumRows() == 0 {
		return nil, nil
	}
	rec.Retain()
	return rec, nil
}

func (m passOn) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	return openstage.MapperProcess(ctx, m, in, out)
}

func TestMapperProcess(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := openstage.NewSchema("n", openstage.Int64)
	a := openstage.NewStage("a", &openstagetest.Source{Schema: schema, Rows: intRows(100), BatchRows: 7})
	b := openstage.NewStage("b", &openstagetest.Source{Schema: schema, Rows: intRows(50), BatchRows: 9})
	m := openstage.NewStage("m", passOn{})
	sink := &openstagetest.Sink{}
	a.AddOutputPipe(openstage.NewPipe("pa")).SetDestination(m)
	b.AddOutputPipe(openstage.NewPipe("pb")).SetDestination(m)
	m.AddOutputPipe(openstage.NewPipe("out")).SetDestination(openstage.NewStage("sink", sink))
	job := openstage.NewJob("mapper", a, b)
	job.Allocator = mem
	if err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, r := range sink.Rows {
		sum += r[0].(int64)
	}
	if len(sink.Rows) != 150 || sum != 100*101/2+50*51/2 {
		t.Fatalf("%d rows, sum %d", len(sink.Rows), sum)
	}
}
