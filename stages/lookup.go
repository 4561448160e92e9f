package stages

import (
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
	"github.com/open-stage/openstage/internal/outofcore"
)

// Lookup enriches the rows of a stream pipe with the columns of the one row
// of a reference pipe that has the same key (DataStage's Lookup stage; the
// seed's "Joiner + caching"). The reference is read once into memory; the
// stream is matched batch by batch and keeps its order.
type Lookup struct {
	Reference    string            `param:"reference" required:"true" pipe:"input" doc:"Name of the input pipe holding the reference rows (read once into memory); the other input pipe is the stream."`
	Key          openstage.Strings `param:"key" required:"true" doc:"Key column(s) of the stream (and of the reference, unless reference_key is set)."`
	ReferenceKey openstage.Strings `param:"reference_key" doc:"Key column(s) of the reference, when named differently from key; pairs in order with key."`
	Columns      []string          `param:"columns" doc:"Reference columns to add to the stream rows (default: every reference column except its keys)."`
	OnMiss       string            `param:"on_miss" default:"fail" enum:"fail,drop,continue,reject" doc:"What to do with a stream row whose key is not in the reference: fail the job (naming the row and key), drop it (counted as dropped), continue with null reference columns (counted as missed), or reject it to the reject pipe."`
	Reject       string            `param:"reject" doc:"Name of the output pipe that receives the stream rows not found, with an added error column (with on_miss: reject)."`

	plan lookupPlan
	seq  outofcore.SeqConfig
}

// lookupPlan is what Lookup.Plan works out for the run.
type lookupPlan struct {
	refPipe, streamPipe string
	refSchema           *arrow.Schema
	streamKeys, refKeys []int
	keyNames            []string // stream key names, for messages
	refCols             []int    // reference columns added to the output
	schema              *arrow.Schema
	out                 string // main output pipe
	onMiss              string
}

var _ openstage.Node = (*Lookup)(nil)

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "Lookup",
		Layer:   openstage.Transformation,
		Summary: "Adds the columns of a matching reference row (held in memory) to each stream row, with a choice of what to do when none matches.",
		Doc: `Lookup has two input pipes: the reference, named by the reference parameter and read entirely into memory first (it never spills to disk: a reference is meant to fit in memory; use a Joiner for large ones), and the stream (the other input), matched batch by batch in its own order. Its output is the stream columns followed by the reference columns (every non-key column, or those listed in columns); a reference column whose name is already a stream column is a validation error (list the columns to add, or rename one upstream).

Keys: key names the stream's key column(s), reference_key the reference's when named differently; paired key columns must have the same type. Every reference key must be unique: a key found twice fails the job when the reference is loaded, naming the key and both rows (use RemoveDuplicates first, or a Joiner for one-to-many matches). Reference rows with a null key are ignored, and a null stream key matches nothing (SQL semantics).

on_miss says what happens to a stream row whose key is not in the reference: fail (the default, as in DataStage) stops the job with the row number and key; drop leaves the row out and counts it in the stage's dropped counter; continue keeps it with null reference columns and counts it as missed; reject sends it to the output pipe named by reject, with an error column saying which key was not found. A Lookup has one output pipe, or two with a reject pipe.

Lookup reads the whole reference before the stream. When both inputs come, directly or not, from one upstream stage, that could deadlock: the engine sees at validation that they meet again here — then it takes rows from whichever input has them and holds the other side's until its turn, in memory up to its share of the memory limit and beyond that in a temporary file, counting those rows as rows_buffered (and spilled_rows); otherwise the other side's upstream simply waits (backpressure) and nothing is held.`,
		Example: `- name: add_user
  type: Lookup
  reference: users_pipe
  key: user_id
  columns: [name, segment]
  on_miss: continue`,
		New: func() any { return &Lookup{} },
	})
}

// NewLookup returns a Lookup stage matching the stream on column key against
// the input pipe reference, with on_miss onMiss (fail, drop, continue or
// reject; reject also needs Reject set, see openstage.New).
func NewLookup(name, reference, key, onMiss string) *openstage.Stage {
	return openstage.New(name, func(l *Lookup) {
		l.Reference, l.Key, l.OnMiss = reference, openstage.Strings{key}, onMiss
	})
}

// Connectivity implements the optional connectivity interface: two inputs,
// one output plus an optional reject pipe.
func (l *Lookup) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinIn: 2, MaxIn: 2, MinOut: 1, MaxOut: 2}
}

// Plan checks the parameters against the two input schemas and declares the
// output schemas.
func (l *Lookup) Plan(_ context.Context, p *openstage.Plan) error {
	pipes := make([]string, len(p.Inputs()))
	for i, in := range p.Inputs() {
		pipes[i] = in.Pipe
	}
	if err := joinPipeParam("reference", l.Reference, "input", pipes); err != nil {
		return err
	}
	onMiss := l.OnMiss
	if onMiss == "" {
		onMiss = "fail"
	}
	outs := p.Outputs()
	pl := lookupPlan{refPipe: l.Reference, onMiss: onMiss, out: outs[0]}
	switch {
	case onMiss == "reject" && l.Reject == "":
		return fmt.Errorf("on_miss: reject needs the parameter reject, the name of the output pipe for rows not found; outputs: %s", joinListPipes(outs))
	case l.Reject != "" && onMiss != "reject":
		return fmt.Errorf("reject pipe '%s' would receive no rows with on_miss: %s; set on_miss: reject or remove the reject parameter", l.Reject, onMiss)
	case l.Reject != "":
		if err := joinPipeParam("reject", l.Reject, "output", outs); err != nil {
			return err
		}
		if len(outs) != 2 {
			return fmt.Errorf("on_miss: reject needs two output pipes, the output and the reject pipe '%s'; connected outputs: %s", l.Reject, joinListPipes(outs))
		}
		if pl.out == l.Reject {
			pl.out = outs[1]
		}
	case len(outs) == 2:
		return fmt.Errorf("has two output pipes (%s) but no reject pipe; a Lookup has one output, or two with on_miss: reject and reject naming the second", joinListPipes(outs))
	}

	for _, in := range p.Inputs() {
		if in.Pipe != l.Reference {
			pl.streamPipe = in.Pipe
		}
	}
	ref, _ := p.Input(l.Reference)
	stream, _ := p.Input(pl.streamPipe)
	rs, ss := joinSide{"reference", ref}, joinSide{"stream", stream}
	for _, s := range []joinSide{rs, ss} {
		if err := joinCheckColumns(s); err != nil {
			return err
		}
	}
	refKey := l.ReferenceKey
	if len(refKey) == 0 {
		refKey = l.Key
	}
	if len(refKey) != len(l.Key) {
		return fmt.Errorf("key has %s but reference_key has %d; they pair in order", joinCount(len(l.Key), "column"), len(refKey))
	}
	var err error
	if pl.streamKeys, pl.refKeys, err = joinResolveKeys(ss, rs, l.Key, refKey); err != nil {
		return err
	}
	pl.keyNames = l.Key
	pl.refSchema = ref.Schema

	isKey := map[int]bool{}
	for _, k := range pl.refKeys {
		isKey[k] = true
	}
	if l.Columns == nil {
		for i := range ref.Schema.NumFields() {
			if !isKey[i] {
				pl.refCols = append(pl.refCols, i)
			}
		}
	} else {
		for k, name := range l.Columns {
			i, err := openstage.FieldIndex(ref.Schema, name)
			if err != nil {
				return fmt.Errorf("columns: reference pipe '%s': %w", l.Reference, err)
			}
			if isKey[i] {
				return fmt.Errorf("columns: '%s' is a key of the reference; the stream's key column already holds its value", name)
			}
			for _, prev := range l.Columns[:k] {
				if prev == name {
					return fmt.Errorf("columns: '%s' is listed twice", name)
				}
			}
			pl.refCols = append(pl.refCols, i)
		}
	}
	fields := append([]arrow.Field{}, stream.Schema.Fields()...)
	for _, i := range pl.refCols {
		f := ref.Schema.Field(i)
		if len(stream.Schema.FieldIndices(f.Name)) > 0 {
			return fmt.Errorf("reference column '%s' is also a column of the stream pipe '%s'; list the reference columns to add (columns: [...]) or rename one upstream", f.Name, pl.streamPipe)
		}
		f.Nullable = true
		fields = append(fields, f)
	}
	pl.schema = arrow.NewSchema(fields, nil)
	if err := p.SetOutput(pl.out, pl.schema); err != nil {
		return err
	}
	if l.Reject != "" {
		if len(stream.Schema.FieldIndices(openstage.ErrorColumn)) > 0 {
			return fmt.Errorf("the stream pipe '%s' has a column '%s', which the reject pipe adds; rename it upstream", pl.streamPipe, openstage.ErrorColumn)
		}
		p.MarkReject(l.Reject)
		if err := p.SetOutput(l.Reject, openstage.WithErrorColumn(stream.Schema)); err != nil {
			return err
		}
	}
	l.plan = pl
	l.seq = outofcore.SeqConfigOf(p)
	// Projection pushdown: the keys are read; the other columns pass
	// through by name (a reference column never shares a stream column's
	// name).
	p.Reads(pl.streamPipe, l.Key...)
	p.Reads(pl.refPipe, refKey...)
	for _, o := range p.Outputs() {
		p.PassesThrough(pl.streamPipe, o)
		p.PassesThrough(pl.refPipe, o)
	}
	return nil
}

// Process loads the reference, then looks up every stream batch.
func (l *Lookup) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	pl := &l.plan
	rd := outofcore.NewSeqReader(in, out, l.seq, pl.refPipe, pl.streamPipe)
	defer rd.Release()
	run := &lookupRun{plan: pl, out: out, reject: l.Reject}
	defer run.release()
	// The counter shows in the run summary even when it stays 0.
	switch pl.onMiss {
	case "continue":
		out.Count("missed", 0)
	case "drop":
		out.Count("dropped", 0)
	}
	for {
		rec, side, err := rd.Next(ctx)
		if err == io.EOF {
			if run.table == nil {
				// No stream rows: still check the reference's keys.
				return run.load()
			}
			return nil
		}
		if err != nil {
			return err
		}
		if side == 0 {
			run.batches = append(run.batches, rec)
			continue
		}
		if run.table == nil {
			if err := run.load(); err != nil {
				rec.Release()
				return err
			}
		}
		err = run.lookup(ctx, rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
}

// lookupRun is the state of one run of a Lookup.
type lookupRun struct {
	plan    *lookupPlan
	out     *openstage.Outputs
	reject  string
	batches []arrow.RecordBatch // reference as received
	ref     arrow.RecordBatch   // reference as one batch
	table   *kernel.HashTable
	heads   []int32
	rows    int // stream rows seen
}

func (r *lookupRun) release() {
	for _, b := range r.batches {
		b.Release()
	}
	r.batches = nil
	if r.ref != nil {
		r.ref.Release()
		r.ref = nil
	}
}

// load indexes the reference and checks that its keys are unique.
func (r *lookupRun) load() error {
	ref, err := kernel.ConcatBuild(r.out.Allocator(), r.batches, r.plan.refSchema, "the reference")
	for _, b := range r.batches {
		b.Release()
	}
	r.batches = nil
	if err != nil {
		return err
	}
	r.ref = ref
	keys := kernel.Columns(ref, r.plan.refKeys)
	r.table = kernel.NewHashTable(keys)
	// Chains list rows in order, so the first row with a successor is the
	// first occurrence of the first duplicated key.
	for row, next := range r.table.Next {
		if next >= 0 {
			names := make([]string, len(r.plan.refKeys))
			for k, c := range r.plan.refKeys {
				names[k] = r.plan.refSchema.Field(c).Name
			}
			return fmt.Errorf("reference key %s appears twice (rows %d and %d); a lookup needs unique keys — use RemoveDuplicates first or a Joiner",
				kernel.FormatKey(names, keys, row), row+1, next+1)
		}
	}
	return nil
}

// lookup matches one stream batch.
func (r *lookupRun) lookup(ctx context.Context, rec arrow.RecordBatch) error {
	pl := r.plan
	keys := kernel.Columns(rec, pl.streamKeys)
	r.heads = r.table.Probe(keys, r.heads)
	first := r.rows
	r.rows += int(rec.NumRows())
	var kept, missed []int32
	nmiss := 0
	for _, h := range r.heads {
		if h < 0 {
			nmiss++
		}
	}
	if nmiss > 0 && pl.onMiss != "continue" {
		kept = make([]int32, 0, len(r.heads)-nmiss)
		missed = make([]int32, 0, nmiss)
		for i, h := range r.heads {
			if h >= 0 {
				kept = append(kept, int32(i))
			} else {
				missed = append(missed, int32(i))
			}
		}
	}
	switch {
	case nmiss == 0:
	case pl.onMiss == "fail":
		i := int(missed[0])
		return fmt.Errorf("stream row %d: key %s not found in reference pipe '%s'%s; set on_miss to continue, drop or reject to keep going",
			first+i+1, kernel.FormatKey(pl.keyNames, keys, i), pl.refPipe, lookupNullNote(keys, i))
	case pl.onMiss == "continue":
		r.out.Count("missed", int64(nmiss))
	case pl.onMiss == "drop":
		r.out.Count("dropped", int64(nmiss))
	case pl.onMiss == "reject":
		msgs := make([]string, len(missed))
		for k, i := range missed {
			msgs[k] = fmt.Sprintf("key %s not found in reference pipe '%s'%s", kernel.FormatKey(pl.keyNames, keys, int(i)), pl.refPipe, lookupNullNote(keys, int(i)))
		}
		rej := openstage.Rejects(r.out.Allocator(), rec, missed, msgs)
		err := r.out.SendTo(ctx, r.reject, rej)
		rej.Release()
		if err != nil {
			return err
		}
	}
	return r.send(ctx, rec, kept)
}

// send sends rows kept of rec (every row when kept is nil) with their
// reference columns.
func (r *lookupRun) send(ctx context.Context, rec arrow.RecordBatch, kept []int32) error {
	alloc := r.out.Allocator()
	refIdx := r.heads
	var cols []arrow.Array
	if kept == nil {
		for _, c := range rec.Columns() {
			c.Retain()
			cols = append(cols, c)
		}
	} else {
		if len(kept) == 0 {
			return nil
		}
		refIdx = make([]int32, len(kept))
		for k, i := range kept {
			refIdx[k] = r.heads[i]
		}
		for _, c := range rec.Columns() {
			cols = append(cols, openstage.TakeArray(alloc, c, kept))
		}
	}
	for _, c := range r.plan.refCols {
		cols = append(cols, openstage.TakeArray(alloc, r.ref.Column(c), refIdx))
	}
	out := array.NewRecordBatch(r.plan.schema, cols, int64(len(refIdx)))
	for _, c := range cols {
		c.Release()
	}
	err := r.out.SendTo(ctx, r.plan.out, out)
	out.Release()
	return err
}

// lookupNullNote explains why a row with a null key found nothing.
func lookupNullNote(keys []arrow.Array, i int) string {
	for _, k := range keys {
		if k.IsNull(i) {
			return " (null keys never match)"
		}
	}
	return ""
}
