package beam

import (
	"context"
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
	case openstage.Origin, openstage.Destination, *stages.Copy, *stages.Funnel,
		*stages.Sort, *stages.Aggregator, *stages.Joiner, *stages.Lookup, *stages.RemoveDuplicates:
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
	ctx       context.Context
	job       *openstage.Job
	spec      JobSpec
	scope     beamsdk.Scope
	parts     string // folder of the destinations' parts
	split     int64  // bytes per CSV part
	splitRows int64  // rows per Generator part
	ways      int    // ranges or buckets of a shuffle
	pcols     map[string]beamsdk.PCollection
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
		tasks, err := splitTasks(b.ctx, c, b.splitRows)
		if err != nil {
			return err
		}
		if len(tasks) == 0 { // read whole (or a split origin with no part)
			b.outputs(s, st, beamsdk.ParDo(s, &wholeOriginFn{stageBase: base}, beamsdk.Impulse(s)))
			return nil
		}
		col := beamsdk.Reshuffle(s, beamsdk.CreateList(s, tasks))
		b.outputs(s, st, beamsdk.ParDo(s, &splitOriginFn{stageBase: base}, col))
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
	case *stages.Sort:
		keys, err := b.keys(st.Inputs()[0].Name(), sortFields(c.Keys), sortDesc(c.Keys), c.Nulls == "first")
		if err != nil {
			return err
		}
		in := st.Inputs()[0].Name()
		b.outputs(s, st, beamsdk.ParDo(s, &groupRunFn{stageBase: base, Input: in}, b.byRange(s, b.pcols[in], keys)))
	case *stages.Aggregator:
		in := st.Inputs()[0].Name()
		names := c.Key
		if len(names) == 0 {
			names = c.Keys
		}
		if len(names) == 0 { // one group: the whole input, even empty
			b.outputs(s, st, beamsdk.ParDo(s, &gatherFn{stageBase: base, Input: in}, beamsdk.Impulse(s), beamsdk.SideInput{Input: b.pcols[in]}))
			return nil
		}
		keys, err := b.keys(in, names, nil, false)
		if err != nil {
			return err
		}
		b.outputs(s, st, beamsdk.ParDo(s, &groupRunFn{stageBase: base, Input: in}, b.byRange(s, b.pcols[in], keys)))
	case *stages.Joiner:
		lk, rk := c.LeftKey, c.RightKey
		if len(lk) == 0 {
			lk, rk = c.Key, c.Key
		}
		lkeys, err := b.keys(c.Left, lk, nil, false)
		if err != nil {
			return err
		}
		rkeys, err := b.keys(c.Right, rk, nil, false)
		if err != nil {
			return err
		}
		l := beamsdk.ParDo(s, &bucketFn{Keys: lkeys, Buckets: b.ways}, b.pcols[c.Left])
		r := beamsdk.ParDo(s, &bucketFn{Keys: rkeys, Buckets: b.ways}, b.pcols[c.Right])
		b.outputs(s, st, beamsdk.ParDo(s, &joinFn{stageBase: base, Left: c.Left, Right: c.Right}, beamsdk.CoGroupByKey(s, l, r)))
	case *stages.Lookup:
		stream := st.Inputs()[0].Name()
		if stream == c.Reference {
			stream = st.Inputs()[1].Name()
		}
		b.outputs(s, st, beamsdk.ParDo(s, &lookupFn{stageBase: base, Reference: c.Reference, Stream: stream}, b.pcols[stream], beamsdk.SideInput{Input: b.pcols[c.Reference]}))
	case *stages.RemoveDuplicates:
		in := st.Inputs()[0].Name()
		key, err := b.keys(in, c.Key, nil, false)
		if err != nil {
			return err
		}
		desc := make([]bool, len(c.SortBy))
		for i := range desc {
			switch {
			case len(c.Ascending) == 1:
				desc[i] = !c.Ascending[0]
			case len(c.Ascending) > i:
				desc[i] = !c.Ascending[i]
			}
		}
		order, err := b.keys(in, c.SortBy, desc, false)
		if err != nil {
			return err
		}
		last := c.Keep == "last"
		schema, _ := b.job.PipeSchema(in)
		cands := beamsdk.ParDo(s, &dedupBatchFn{Stage: st.Name(), Key: key, Sort: order, Last: last, Buckets: b.ways}, b.pcols[in])
		winners := beamsdk.ParDo(s, dropKey, beamsdk.CombinePerKey(s, &dedupCombineFn{Last: last}, cands))
		byCand := Keys{Cols: []keyCol{{Col: schema.NumFields() + dedupExtra - 1}}}
		b.outputs(s, st, beamsdk.ParDo(s, &sortRangeFn{stageBase: base, Keys: byCand, Drop: dedupExtra}, b.byRange(s, winners, byCand)))
	case openstage.Mapper, openstage.BatchProcessor:
		b.outputs(s, st, beamsdk.ParDo(s, &stageFn{stageBase: base, Input: st.Inputs()[0].Name()}, b.input(st, 0)))
	default:
		return translatable(st)
	}
	return nil
}

// keys plans a shuffle key: columns of pipe by name, descending where desc
// says so.
func (b *builder) keys(pipe string, names []string, desc []bool, nullsFirst bool) (Keys, error) {
	schema, _ := b.job.PipeSchema(pipe)
	if schema == nil {
		return Keys{}, fmt.Errorf("pipe '%s' has no schema", pipe)
	}
	k := Keys{NullsFirst: nullsFirst}
	for i, n := range names {
		idx, err := openstage.FieldIndex(schema, n)
		if err != nil {
			return Keys{}, err
		}
		k.Cols = append(k.Cols, keyCol{Col: idx, Desc: i < len(desc) && desc[i]})
	}
	return k, k.enc().check(schema)
}

// byRange range-partitions col by key: a sample of the keys chooses
// b.ways-1 bounds (a side input), each row goes to its range, and the
// ranges are grouped; ranges follow the key order.
func (b *builder) byRange(s beamsdk.Scope, col beamsdk.PCollection, keys Keys) beamsdk.PCollection {
	samples := beamsdk.GroupByKey(s, beamsdk.ParDo(s, &sampleFn{Keys: keys}, col))
	bounds := beamsdk.ParDo(s, &splittersFn{Ranges: b.ways}, samples)
	return beamsdk.GroupByKey(s, beamsdk.ParDo(s, &rangeFn{Keys: keys}, col, beamsdk.SideInput{Input: bounds}))
}

func sortFields(keys stages.SortKeys) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.Field
	}
	return out
}

func sortDesc(keys stages.SortKeys) []bool {
	out := make([]bool, len(keys))
	for i, k := range keys {
		out[i] = k.Descending
	}
	return out
}
