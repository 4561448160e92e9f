package openstage_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

// foldingSource is an in-memory origin that applies a folded "id > n" itself,
// as a database origin adds it to its WHERE clause.
type foldingSource struct {
	openstagetest.Source
	accept bool
	folded *openstage.Condition
	calls  int
}

func (s *foldingSource) FoldFilter(c *openstage.Condition) (string, bool) {
	s.calls++
	s.folded = nil
	if c == nil || !s.accept || c.Column != "id" || c.Op != ">" {
		return "", false
	}
	s.folded = c
	return fmt.Sprintf("WHERE id > %v", c.Value), true
}

func (s *foldingSource) Pump(ctx context.Context, out *openstage.Outputs) error {
	src := s.Source
	if s.folded != nil {
		src.Rows = nil
		for _, r := range s.Rows {
			if r[0] != nil && r[0].(int64) > s.folded.Value.(int64) {
				src.Rows = append(src.Rows, r)
			}
		}
	}
	return src.Pump(ctx, out)
}

func foldJob(src *foldingSource, filter *openstage.Stage) (*openstage.Job, *openstagetest.Sink) {
	origin := openstage.NewStage("reader", src)
	sink := &openstagetest.Sink{}
	origin.AddOutputPipe(openstage.NewPipe("rows")).SetDestination(filter).
		AddOutputPipe(openstage.NewPipe("kept")).SetDestination(openstage.NewStage("sink", sink))
	return openstage.NewJob("fold", origin), sink
}

func TestFilterFolding(t *testing.T) {
	schema := openstage.NewSchema("id", openstage.Int64, "name", openstage.String)
	var rows [][]any
	for i := range 50 {
		var id any = int64(i)
		if i%7 == 3 {
			id = nil
		}
		rows = append(rows, []any{id, fmt.Sprint("n", i)})
	}
	run := func(t *testing.T, accept bool, filter *openstage.Stage) (*foldingSource, *openstage.Job, [][]any) {
		src := &foldingSource{Source: openstagetest.Source{Schema: schema, Rows: rows, BatchRows: 8}, accept: accept}
		job, sink := foldJob(src, filter)
		if err := job.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return src, job, sink.Rows
	}

	t.Run("folded gives the same rows", func(t *testing.T) {
		src, job, got := run(t, true, stages.NewFilter("big", "id", ">", 30))
		if src.folded == nil {
			t.Fatal("the origin was not asked to fold id > 30")
		}
		folds := job.Folds()
		if len(folds) != 1 || folds[0].Origin != "reader" || folds[0].Filter != "big" || folds[0].How != "WHERE id > 30" || folds[0].Condition.String() != "id > 30" {
			t.Fatalf("Folds() = %+v", folds)
		}
		_, _, want := run(t, false, stages.NewFilter("big", "id", ">", 30))
		if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != 16 {
			t.Fatalf("folded run gave %v, unfolded %v", got, want)
		}
	})
	t.Run("typed value", func(t *testing.T) {
		src, _, _ := run(t, true, stages.NewFilter("big", "id", ">", "30"))
		if v, ok := src.folded.Value.(int64); !ok || v != 30 {
			t.Fatalf("the folded value is %#v, want int64(30)", src.folded.Value)
		}
	})
	t.Run("not folded", func(t *testing.T) {
		for name, f := range map[string]*openstage.Stage{
			"expr":             stages.NewFilterExpr("big", "id > 30"),
			"inexact value":    stages.NewFilter("big", "id", ">", 30.5),
			"origin declines":  stages.NewFilter("big", "id", "<", 30),
			"another column":   stages.NewFilter("big", "name", "=", "n3"),
			"no value at fold": stages.NewFilter("big", "id", "is null", nil),
		} {
			src, job, _ := run(t, true, f)
			if src.folded != nil || len(job.Folds()) != 0 {
				t.Errorf("%s: folded %+v", name, src.folded)
			}
		}
	})
	t.Run("two outputs are not folded", func(t *testing.T) {
		src := &foldingSource{Source: openstagetest.Source{Schema: schema, Rows: rows}, accept: true}
		origin := openstage.NewStage("reader", src)
		sink, all := &openstagetest.Sink{}, &openstagetest.Sink{}
		origin.AddOutputPipe(openstage.NewPipe("rows")).SetDestination(stages.NewFilter("big", "id", ">", 30)).
			AddOutputPipe(openstage.NewPipe("kept")).SetDestination(openstage.NewStage("sink", sink))
		origin.AddOutputPipe(openstage.NewPipe("all")).SetDestination(openstage.NewStage("all", all))
		job := openstage.NewJob("fold", origin)
		if err := job.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if src.folded != nil || len(all.Rows) != len(rows) {
			t.Fatalf("folded %+v into an origin whose other pipe needs every row (%d rows)", src.folded, len(all.Rows))
		}
	})
	t.Run("withdrawn before each plan", func(t *testing.T) {
		src := &foldingSource{Source: openstagetest.Source{Schema: schema, Rows: rows}, accept: true}
		job, _ := foldJob(src, stages.NewFilter("big", "id", ">", 30))
		if err := job.Validate(context.Background()); err != nil {
			t.Fatal(err)
		}
		src.accept = false
		if err := job.Validate(context.Background()); err != nil {
			t.Fatal(err)
		}
		if src.folded != nil || len(job.Folds()) != 0 || src.calls < 3 {
			t.Fatalf("after a second plan that declines, folded=%+v folds=%v calls=%d", src.folded, job.Folds(), src.calls)
		}
	})
}
