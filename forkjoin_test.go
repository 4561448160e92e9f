package openstage_test

import (
	"context"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
)

// probe is a Node that records Plan.ForkJoin and passes its first input on.
type probe struct {
	forward
	forkJoin bool
}

func (p *probe) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinIn: 1, MaxIn: -1, MinOut: 1, MaxOut: -1}
}

func (p *probe) Plan(ctx context.Context, pl *openstage.Plan) error {
	p.forkJoin = pl.ForkJoin()
	pl.SetOutputs(pl.InputSchema())
	return nil
}

func TestForkJoin(t *testing.T) {
	schema := openstage.NewSchema("a", openstage.Int64)
	src := func(name string) *openstage.Stage {
		return openstage.NewStage(name, &openstagetest.Source{Schema: schema})
	}
	node := func(name string) (*openstage.Stage, *probe) {
		p := &probe{}
		return openstage.NewStage(name, p), p
	}
	sink := func(name string) *openstage.Stage { return openstage.NewStage(name, &openstagetest.Sink{}) }
	pipe := func(name string, from, to *openstage.Stage) {
		from.AddOutputPipe(openstage.NewPipe(name)).SetDestination(to)
	}
	check := func(t *testing.T, roots []*openstage.Stage, want map[*probe]bool) {
		t.Helper()
		if err := openstage.NewJob("fj", roots...).Validate(context.Background()); err != nil {
			t.Fatal(err)
		}
		for p, w := range want {
			if p.forkJoin != w {
				t.Errorf("ForkJoin = %v, want %v", p.forkJoin, w)
			}
		}
	}

	t.Run("independent inputs", func(t *testing.T) {
		a, b := src("a"), src("b")
		mid, pm := node("mid")
		j, pj := node("join")
		pipe("p1", a, mid)
		pipe("p2", mid, j)
		pipe("p3", b, j)
		pipe("p4", j, sink("out"))
		check(t, []*openstage.Stage{a, b}, map[*probe]bool{pm: false, pj: false})
	})
	t.Run("two pipes from one stage", func(t *testing.T) {
		a := src("a")
		j, pj := node("join")
		pipe("p1", a, j)
		pipe("p2", a, j)
		pipe("p3", j, sink("out"))
		check(t, []*openstage.Stage{a}, map[*probe]bool{pj: true})
	})
	t.Run("fork through a stage, join", func(t *testing.T) {
		a := src("a")
		fork, pf := node("fork")
		hold, ph := node("hold")
		j, pj := node("join")
		pipe("p1", a, fork)
		pipe("p2", fork, hold)
		pipe("p3", hold, j)
		pipe("p4", fork, j)
		pipe("p5", j, sink("out"))
		check(t, []*openstage.Stage{a}, map[*probe]bool{pf: false, ph: false, pj: true})
	})
	t.Run("a join downstream of a join of independent inputs", func(t *testing.T) {
		a, b, c := src("a"), src("b"), src("c")
		j1, p1 := node("j1")
		j2, p2 := node("j2")
		pipe("p1", a, j1)
		pipe("p2", b, j1)
		pipe("p3", j1, j2)
		pipe("p4", c, j2)
		pipe("p5", j2, sink("out"))
		check(t, []*openstage.Stage{a, b, c}, map[*probe]bool{p1: false, p2: false})
	})
	t.Run("crossing forks", func(t *testing.T) {
		// s1 feeds r1 and r2, s2 feeds r2 and r1: no input of r1 shares an
		// ancestor with the other, yet r1 reading s1 first while r2 reads
		// s2 first deadlocks.
		s1, s2 := src("s1"), src("s2")
		r1, p1 := node("r1")
		r2, p2 := node("r2")
		pipe("a1", s1, r1)
		pipe("b1", s2, r1)
		pipe("a2", s2, r2)
		pipe("b2", s1, r2)
		pipe("o1", r1, sink("out1"))
		pipe("o2", r2, sink("out2"))
		check(t, []*openstage.Stage{s1, s2}, map[*probe]bool{p1: true, p2: true})
	})
}
