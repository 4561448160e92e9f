package openstagetest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
)

// The suites must fail components that break their rules. Each broken
// component runs its suite in a child process (a failing suite fails the
// test that calls it); the parent asserts that the child failed, and why.

// leakyDestination writes straight into a shared slice: no Committer, so a
// failed job leaves its rows behind.
type leakyDestination struct{ target *memTarget }

type memTarget struct {
	mu   sync.Mutex
	rows [][]any
	ok   bool
}

func (d *leakyDestination) Plan(context.Context, *openstage.Plan) error { return nil }
func (d *leakyDestination) Sink(ctx context.Context, in *openstage.Inputs) error {
	return in.ForEach(ctx, func(dp openstage.DataPackage) error {
		d.target.mu.Lock()
		defer d.target.mu.Unlock()
		d.target.rows = append(d.target.rows, openstagetest.RowsOf(dp.Batch)...)
		d.target.ok = true
		return nil
	})
}

// liarOrigin declares one schema at Plan and sends batches of another.
type liarOrigin struct{ rows int }

func (o *liarOrigin) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(openstage.NewSchema("n", openstage.Int64))
	return nil
}
func (o *liarOrigin) Pump(ctx context.Context, out *openstage.Outputs) error {
	s := &openstagetest.Source{Schema: openstage.NewSchema("n", openstage.String), BatchRows: 2}
	for i := range o.rows {
		s.Rows = append(s.Rows, []any{strings.Repeat("x", i)})
	}
	return s.Pump(ctx, out)
}

// deafOrigin ignores cancellation of its sends and keeps goroutines running.
type deafOrigin struct{ stop chan struct{} }

func (o *deafOrigin) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(openstage.NewSchema("n", openstage.Int64))
	return nil
}
func (o *deafOrigin) Pump(ctx context.Context, out *openstage.Outputs) error {
	go func() { <-o.stop }() // never stopped: a leaked goroutine
	s := &openstagetest.Source{Schema: openstage.NewSchema("n", openstage.Int64), BatchRows: 1, Rows: [][]any{{int64(1)}, {int64(2)}, {int64(3)}}}
	return s.Pump(ctx, out)
}

func TestBrokenComponentsChild(t *testing.T) {
	switch os.Getenv("OPENSTAGETEST_BROKEN") {
	case "leaky_destination":
		target := &memTarget{}
		openstagetest.TestDestination(t, openstagetest.DestinationCase{
			New: func(*testing.T) any { return &leakyDestination{target: target} },
			Read: func(*testing.T) ([][]any, bool) {
				target.mu.Lock()
				defer target.mu.Unlock()
				return append([][]any{}, target.rows...), target.ok
			},
		})
	case "liar_origin":
		openstagetest.TestOrigin(t, openstagetest.OriginCase{
			New:   func(*testing.T) any { return &liarOrigin{rows: 6} },
			Empty: func(*testing.T) any { return &liarOrigin{} },
		})
	case "deaf_origin":
		openstagetest.TestOrigin(t, openstagetest.OriginCase{
			New:   func(*testing.T) any { return &deafOrigin{stop: make(chan struct{})} },
			Empty: func(*testing.T) any { return &liarOrigin{} },
		})
	default:
		t.Skip("runs only as the child of TestSuitesFailBrokenComponents")
	}
}

func TestSuitesFailBrokenComponents(t *testing.T) {
	for broken, want := range map[string]string{
		"leaky_destination": "after a failed job the target exists=true, before it was false",
		"liar_origin":       "but the plan declared",
		"deaf_origin":       "goroutines left behind",
	} {
		t.Run(broken, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenComponentsChild$", "-test.v")
			cmd.Env = append(os.Environ(), "OPENSTAGETEST_BROKEN="+broken)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a broken component (%s):\n%s", broken, out)
			}
			if !strings.Contains(string(out), want) {
				t.Fatalf("the suite failed %s, but not with %q:\n%s", broken, want, out)
			}
		})
	}
}
