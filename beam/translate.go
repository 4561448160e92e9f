package beam

import (
	"fmt"

	beamsdk "github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/csvio"
	"github.com/open-stage/openstage/stages"
)

// translatable says why a stage cannot run on Beam (nil if it can).
func translatable(s *openstage.Stage) error {
	c := s.Component()
	switch c := c.(type) {
	case openstage.Origin, openstage.Destination, *stages.Copy, *stages.Funnel:
		return nil
	case interface{ Concurrency() int }:
		if c.Concurrency() == 1 {
			if _, isTr := c.(*stages.Transformer); isTr {
				return fmt.Errorf("has no Beam translation with function: (a Go function sees the rows in input order, one at a time, which a distributed runner does not keep); use derive:, or run it with --runner local")
			}
			return fmt.Errorf("has no Beam translation: it runs on one goroutine to see its rows in input order, which a distributed runner does not keep; runners that can run it: local")
		}
	}
	switch c.(type) {
	case openstage.Mapper, openstage.BatchProcessor:
		return nil
	}
	return fmt.Errorf("has no Beam translation; runners that can run it: local")
}

// builder adds the job's stages to a pipeline.
type builder struct {
	job   *openstage.Job
	spec  JobSpec
	scope beamsdk.Scope
	parts string // folder of the destinations' parts
	split int64  // bytes per CSV part
	pcols map[string]beamsdk.PCollection
}

func (b *builder) base(i int, s *openstage.Stage) stageBase {
	var outs []string
	for _, p := range s.Outputs() {
		outs = append(outs, p.Name())
	}
	return stageBase{Spec: b.spec, Stage: s.Name(), Outputs: outs, Index: i}
}

// outputs records col as the stage's outputs: one pipe, or partitioned by
// Elem.Pipe.
func (b *builder) outputs(s beamsdk.Scope, st *openstage.Stage, col beamsdk.PCollection) {
	outs := st.Outputs()
	if len(outs) == 1 {
		b.pcols[outs[0].Name()] = col
		return
	}
	for i, c := range beamsdk.Partition(s, len(outs), pipeOf, col) {
		b.pcols[outs[i].Name()] = c
	}
}

func (b *builder) input(st *openstage.Stage, i int) beamsdk.PCollection {
	return b.pcols[st.Inputs()[i].Name()]
}

func (b *builder) stage(i int, st *openstage.Stage) error {
	s := b.scope.Scope(st.Name())
	base := b.base(i, st)
	switch c := st.Component().(type) {
	case *csvio.CSVOrigin:
		tasks, err := csvTasks(c, b.split)
		if err != nil {
			return err
		}
		col := beamsdk.Reshuffle(s, beamsdk.CreateList(s, tasks))
		b.outputs(s, st, beamsdk.ParDo(s, &csvPartFn{stageBase: base, Reject: c.Reject}, col))
	case openstage.Origin:
		b.outputs(s, st, beamsdk.ParDo(s, &wholeOriginFn{stageBase: base}, beamsdk.Impulse(s)))
	case openstage.Destination:
		for _, in := range st.Inputs() {
			beamsdk.ParDo0(s, &writePartFn{Stage: st.Name(), Dir: partDir(b.parts, st.Name(), in.Name())}, b.pcols[in.Name()])
		}
	case *stages.Copy:
		for _, out := range st.Outputs() {
			b.pcols[out.Name()] = b.input(st, 0)
		}
	case *stages.Funnel:
		var cols []beamsdk.PCollection
		for k, in := range st.Inputs() {
			cols = append(cols, beamsdk.ParDo(s, &stageFn{stageBase: base, Input: in.Name(), Prefix: pos(nil, uint32(k))}, b.pcols[in.Name()]))
		}
		b.outputs(s, st, beamsdk.Flatten(s, cols...))
	case openstage.Mapper, openstage.BatchProcessor:
		b.outputs(s, st, beamsdk.ParDo(s, &stageFn{stageBase: base, Input: st.Inputs()[0].Name()}, b.input(st, 0)))
	default:
		return translatable(st)
	}
	return nil
}
