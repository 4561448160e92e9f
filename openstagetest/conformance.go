package openstagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"go.uber.org/goleak"

	"github.com/open-stage/openstage"
)

// hang is how long a cancelled job may take to return before the suites
// call it hung. It detects a deadlock, not slowness: a job that honours
// cancellation returns in milliseconds.
const hang = 30 * time.Second

// OriginCase describes an origin for TestOrigin.
type OriginCase struct {
	// New returns a fresh origin reading a source of at least two batches
	// (lower its batch size if needed), called once per check.
	New func(t *testing.T) any
	// Empty returns a fresh origin reading a source with no rows.
	Empty func(t *testing.T) any
	// Options are passed to every run.
	Options []Option
}

// TestOrigin is the conformance suite every origin's tests call. It checks,
// each time under a checked allocator (no leaked buffer) and with no
// goroutine left behind:
//   - the schema declared at Plan is the schema of every batch, and the
//     origin sends at least two batches;
//   - two runs of fresh origins give the same rows;
//   - an empty source gives zero rows and a valid schema;
//   - a job cancelled after the first batch returns promptly with
//     openstage.ErrCancelled;
//   - if the origin implements openstage.Projector, a downstream stage that
//     reads only some columns gets exactly those, with the same values.
func TestOrigin(t *testing.T, c OriginCase) {
	t.Helper()
	var full *Result
	t.Run("schema", func(t *testing.T) {
		defer noGoroutineLeft(t)()
		res, err := RunOrigin(t, c.New(t), c.Options...)
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		out := res.Outputs["out"]
		if out.Schema == nil || out.Schema.NumFields() == 0 {
			t.Fatalf("the origin declared no columns: %v", out.Schema)
		}
		if out.SchemaErr != nil {
			t.Fatal(out.SchemaErr)
		}
		if out.Batches < 2 {
			t.Fatalf("the origin sent %d batch(es); the suite needs a source of at least two batches to test cancellation mid-stream (lower its batch size)", out.Batches)
		}
		full = res
	})
	if full == nil {
		return
	}
	want := full.Outputs["out"]
	t.Run("repeatable", func(t *testing.T) {
		defer noGoroutineLeft(t)()
		res, err := RunOrigin(t, c.New(t), c.Options...)
		if err != nil {
			t.Fatalf("second run: %v", err)
		}
		if d := diffRows(want.Rows, res.Outputs["out"].Rows, true); d != "" {
			t.Fatalf("a second run gave other rows: %s", d)
		}
	})
	t.Run("empty", func(t *testing.T) {
		defer noGoroutineLeft(t)()
		if c.Empty == nil {
			t.Fatal("OriginCase.Empty is nil: every origin must be tested on an empty source")
		}
		res, err := RunOrigin(t, c.Empty(t), c.Options...)
		if err != nil {
			t.Fatalf("an empty source failed: %v", err)
		}
		out := res.Outputs["out"]
		if len(out.Rows) != 0 {
			t.Fatalf("an empty source gave %d rows", len(out.Rows))
		}
		if out.Schema == nil || out.Schema.NumFields() == 0 {
			t.Fatalf("an empty source declared no valid schema: %v", out.Schema)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		defer noGoroutineLeft(t)()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		origin := c.New(t)
		stage := openstage.NewStage("origin", origin)
		sink := &Sink{OnBatch: func(int) { cancel() }}
		stage.AddOutputPipe(openstage.NewPipe("out")).SetDestination(openstage.NewStage("sink", sink))
		job := openstage.NewJob("cancel", stage)
		err := runWithin(t, job, append(slices.Clone(c.Options), Context(ctx)))
		if !errors.Is(err, openstage.ErrCancelled) {
			t.Fatalf("a job cancelled mid-stream returned %v, want ErrCancelled", err)
		}
	})
	t.Run("project", func(t *testing.T) {
		defer noGoroutineLeft(t)()
		if _, ok := c.New(t).(openstage.Projector); !ok {
			t.Log("the origin does not implement openstage.Projector: it sends every column, which is always correct")
			return
		}
		all := want.Schema
		cols := []string{all.Field(all.NumFields() - 1).Name}
		if all.NumFields() > 2 {
			cols = []string{all.Field(0).Name, all.Field(all.NumFields() - 1).Name}
		}
		stage := openstage.NewStage("origin", c.New(t))
		sel := &selectCols{cols: cols}
		sink := &Sink{}
		stage.AddOutputPipe(openstage.NewPipe("out")).SetDestination(openstage.NewStage("select", sel)).
			AddOutputPipe(openstage.NewPipe("selected")).SetDestination(openstage.NewStage("sink", sink))
		job := openstage.NewJob("project", stage)
		if err := run(t, job, c.Options); err != nil {
			t.Fatalf("projected run: %v", err)
		}
		if sel.err != nil {
			t.Fatal(sel.err)
		}
		var proj []string
		for _, p := range job.Projections() {
			if p.Stage == "origin" {
				proj = p.Columns
			}
		}
		if !slices.Equal(proj, cols) {
			t.Fatalf("the origin was projected to %v, want %v", proj, cols)
		}
		if sel.seen == nil || sel.seen.NumFields() != len(cols) {
			t.Fatalf("the projected origin sent columns %v, want only %v", sel.seen, cols)
		}
		idx := make([]int, len(cols))
		for i, name := range cols {
			idx[i] = all.FieldIndices(name)[0]
		}
		expect := make([][]any, len(want.Rows))
		for r, row := range want.Rows {
			expect[r] = make([]any, len(idx))
			for i, j := range idx {
				expect[r][i] = row[j]
			}
		}
		if d := diffRows(expect, sink.Rows, true); d != "" {
			t.Fatalf("projected values differ from the full run's: %s", d)
		}
	})
}

// selectCols is a node that reads only cols (declared with Plan.Reads, so
// the engine projects its origin) and checks that each batch has the schema
// its input pipe declared.
type selectCols struct {
	cols []string
	in   *arrow.Schema
	seen *arrow.Schema
	err  error
}

func (s *selectCols) Plan(_ context.Context, p *openstage.Plan) error {
	s.in = p.InputSchema()
	var fields []arrow.Field
	for _, c := range s.cols {
		i, err := openstage.FieldIndex(s.in, c)
		if err != nil {
			return err
		}
		fields = append(fields, s.in.Field(i))
	}
	p.Reads(p.Inputs()[0].Pipe, s.cols...)
	p.SetOutputs(arrow.NewSchema(fields, nil))
	return nil
}

func (s *selectCols) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	return in.ForEach(ctx, func(dp openstage.DataPackage) error {
		sc := dp.Batch.Schema()
		if s.err == nil && !sc.Equal(s.in) {
			s.err = fmt.Errorf("the projected origin sent a batch with schema %v, but declared %v", sc, s.in)
		}
		s.seen = sc
		cols := make([]arrow.Array, len(s.cols))
		for i, c := range s.cols {
			cols[i] = dp.Batch.Column(sc.FieldIndices(c)[0])
		}
		fields := make([]arrow.Field, len(s.cols))
		for i, c := range s.cols {
			fields[i] = sc.Field(sc.FieldIndices(c)[0])
		}
		rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, dp.Batch.NumRows())
		defer rec.Release()
		return out.Send(ctx, rec)
	})
}

// DestinationCase describes a destination for TestDestination.
type DestinationCase struct {
	// New returns a fresh destination writing to the case's target; it is
	// called once per check, always for the same target.
	New func(t *testing.T) any
	// Read returns what the target holds now: its rows as Go values (nil,
	// int64, float64, bool, string, time.Time), in the order written, and
	// whether the target exists at all.
	Read func(t *testing.T) (rows [][]any, exists bool)
	// Schema and Rows are the input; nil means DefaultSchema and
	// DefaultRows. BatchRows (0 means 10) cuts them into batches: keep at
	// least two.
	Schema    *arrow.Schema
	Rows      [][]any
	BatchRows int
	// Unordered compares rows as multisets (a table without an order).
	Unordered bool
	// NotAtomic names why the destination cannot take back what it sent
	// (an HTTP API): a failed or cancelled job must still fail, but the
	// suite does not require the target unchanged, and says so in the log.
	NotAtomic string
	// Options are passed to every run.
	Options []Option
}

// TestDestination is the conformance suite every destination's tests call.
// In this order, each run under a checked allocator and with no goroutine
// left behind:
//   - a job whose upstream fails after sending a batch fails and leaves the
//     target as it was, usually absent (Abort leaves no trace);
//   - an empty input succeeds and adds no rows;
//   - a successful job makes every row visible (Commit), values equal;
//   - a failing job after that leaves the committed rows as they were;
//   - a job cancelled mid-stream returns promptly with
//     openstage.ErrCancelled and leaves the target as it was.
func TestDestination(t *testing.T, c DestinationCase) {
	t.Helper()
	schema, rows := c.Schema, c.Rows
	if schema == nil {
		schema, rows = DefaultSchema, DefaultRows()
	}
	batch := c.BatchRows
	if batch <= 0 {
		batch = 10
	}
	if len(rows) <= batch {
		t.Fatalf("DestinationCase: %d rows in batches of %d is one batch; the suite needs at least two", len(rows), batch)
	}
	input := []Input{{Pipe: "in", Schema: schema, Rows: rows, BatchRows: batch}}
	unchanged := func(t *testing.T, what string, beforeRows [][]any, beforeExists bool) {
		t.Helper()
		after, exists := c.Read(t)
		if c.NotAtomic != "" {
			t.Logf("not checking that the target is unchanged after %s: %s", what, c.NotAtomic)
			return
		}
		if exists != beforeExists {
			t.Fatalf("after %s the target exists=%v, before it was %v", what, exists, beforeExists)
		}
		if d := diffRows(beforeRows, after, c.Unordered); d != "" {
			t.Fatalf("after %s the target changed: %s", what, d)
		}
	}
	failing := func(t *testing.T) {
		t.Helper()
		defer noGoroutineLeft(t)()
		before, existed := c.Read(t)
		// Whether the destination has received the batch sent before the
		// failure when the engine cancels it depends on scheduling; three
		// runs make it very unlikely that a destination writing without a
		// commit goes unnoticed.
		for range 3 {
			dest := openstage.NewStage("destination", c.New(t))
			src := openstage.NewStage("source", &FailingSource{Source: Source{Schema: schema, Rows: rows, BatchRows: batch}, After: 1})
			src.AddOutputPipe(openstage.NewPipe("in")).SetDestination(dest)
			err := run(t, openstage.NewJob("abort", src), c.Options)
			if err == nil || !strings.Contains(err.Error(), errFailingSource.Error()) {
				t.Fatalf("a job whose source failed returned %v", err)
			}
			unchanged(t, "a failed job", before, existed)
		}
	}

	t.Run("abort_new", failing)
	t.Run("empty", func(t *testing.T) {
		defer noGoroutineLeft(t)()
		before, _ := c.Read(t)
		if _, err := RunDestination(t, c.New(t), []Input{{Pipe: "in", Schema: schema}}, c.Options...); err != nil {
			t.Fatalf("an empty input failed: %v", err)
		}
		after, _ := c.Read(t)
		if len(after) > len(before) {
			t.Fatalf("an empty input added %d rows", len(after)-len(before))
		}
	})
	t.Run("commit", func(t *testing.T) {
		defer noGoroutineLeft(t)()
		if _, err := RunDestination(t, c.New(t), input, c.Options...); err != nil {
			t.Fatalf("run: %v", err)
		}
		got, exists := c.Read(t)
		if !exists {
			t.Fatal("after a successful job the target does not exist")
		}
		if d := diffRows(rows, got, c.Unordered); d != "" {
			t.Fatalf("the committed target differs from the input: %s", d)
		}
	})
	t.Run("abort_after_commit", failing)
	t.Run("cancel", func(t *testing.T) {
		defer noGoroutineLeft(t)()
		before, existed := c.Read(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		dest := openstage.NewStage("destination", c.New(t))
		src := openstage.NewStage("source", &FailingSource{Source: Source{Schema: schema, Rows: rows, BatchRows: batch}, After: 1, Cancel: cancel})
		src.AddOutputPipe(openstage.NewPipe("in")).SetDestination(dest)
		err := runWithin(t, openstage.NewJob("cancel", src), append(slices.Clone(c.Options), Context(ctx)))
		if !errors.Is(err, openstage.ErrCancelled) {
			t.Fatalf("a job cancelled mid-stream returned %v, want ErrCancelled", err)
		}
		unchanged(t, "a cancelled job", before, existed)
	})
}

var errFailingSource = errors.New("openstagetest: the source failed on purpose")

// FailingSource is a Source that sends After batches, then fails (or, with
// Cancel set, cancels the job and waits for the cancellation to reach it):
// for testing that a destination leaves nothing behind.
type FailingSource struct {
	Source
	After  int
	Cancel context.CancelFunc
}

// Pump implements openstage.Origin.
func (s *FailingSource) Pump(ctx context.Context, out *openstage.Outputs) error {
	n := s.BatchRows
	if n <= 0 {
		n = max(1, len(s.Rows))
	}
	first := &Source{Schema: s.Schema, Rows: s.Rows[:min(len(s.Rows), s.After*n)], BatchRows: n}
	if err := first.Pump(ctx, out); err != nil {
		return err
	}
	if s.Cancel != nil {
		s.Cancel()
		<-ctx.Done()
		return ctx.Err()
	}
	return errFailingSource
}

// runWithin runs job and fails t if it has not returned after hang.
func runWithin(t *testing.T, job *openstage.Job, opts []Option) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- run(t, job, opts) }()
	select {
	case err := <-done:
		return err
	case <-time.After(hang):
		t.Fatalf("the cancelled job had not returned after %v: it hangs", hang)
		return nil
	}
}

// noGoroutineLeft fails t if goroutines started during the test are still
// running (after goleak's retries), such as a reader left blocked on a
// channel or a connection never closed.
// Call it at the start of a test and defer what it returns:
//
//	defer noGoroutineLeft(t)()
func noGoroutineLeft(t *testing.T) func() {
	before := goleak.IgnoreCurrent()
	return func() {
		t.Helper()
		if t.Failed() {
			return
		}
		if err := goleak.Find(before); err != nil {
			t.Errorf("goroutines left behind: %v", err)
		}
	}
}

// DefaultSchema is the input TestDestination writes unless told otherwise:
// one column of each of the six column types.
var DefaultSchema = openstage.NewSchema(
	"id", openstage.Int64, "name", openstage.String, "amount", openstage.Float64,
	"ok", openstage.Bool, "day", openstage.Date, "at", openstage.Timestamp)

// DefaultRows returns 25 rows of DefaultSchema with nulls, unicode, quotes,
// commas, newlines, negative and fractional numbers.
func DefaultRows() [][]any {
	names := []string{"Ana", "José, \"el\" grande", "日本語", "line\nbreak", "", "Zoë"}
	rows := make([][]any, 25)
	base := time.Date(2025, 1, 31, 0, 0, 0, 0, time.UTC)
	for i := range rows {
		row := []any{int64(i + 1), names[i%len(names)], float64(i)*12.25 - 100, i%2 == 0,
			base.AddDate(0, 0, i), base.Add(time.Duration(i)*time.Hour + 123456*time.Microsecond)}
		if i%5 == 3 {
			row[1+(i/5)%5] = nil // a null in a different column each time
		}
		rows[i] = row
	}
	return rows
}

// diffRows describes the first difference between want and got ("" when
// equal); unordered compares them as multisets.
func diffRows(want, got [][]any, unordered bool) string {
	w, g := canonical(want), canonical(got)
	if unordered {
		slices.Sort(w)
		slices.Sort(g)
	}
	for i := 0; i < min(len(w), len(g)); i++ {
		if w[i] != g[i] {
			return fmt.Sprintf("row %d: want %s, got %s", i+1, w[i], g[i])
		}
	}
	if len(w) != len(g) {
		return fmt.Sprintf("want %d rows, got %d", len(w), len(g))
	}
	return ""
}

func canonical(rows [][]any) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		parts := make([]string, len(r))
		for j, v := range r {
			switch x := v.(type) {
			case nil:
				parts[j] = "NULL"
			case time.Time:
				parts[j] = x.UTC().Format(time.RFC3339Nano)
			case string:
				parts[j] = fmt.Sprintf("%q", x)
			default:
				parts[j] = fmt.Sprint(x)
			}
		}
		out[i] = strings.Join(parts, " | ")
	}
	return out
}
