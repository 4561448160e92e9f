package openstage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
)

// A BatchSource gives the batches of one input pipe to RunStage, in order:
// each call returns the next batch, which RunStage then owns, or io.EOF
// after the last one.
type BatchSource func() (arrow.RecordBatch, error)

// Batches returns a BatchSource over recs. RunStage releases each batch it
// takes, so the caller retains them first if it keeps them.
func Batches(recs ...arrow.RecordBatch) BatchSource {
	return func() (arrow.RecordBatch, error) {
		if len(recs) == 0 {
			return nil, io.EOF
		}
		rec := recs[0]
		recs = recs[1:]
		return rec, nil
	}
}

// RunStage runs the stage called name of a validated job once, by itself:
// its input pipes carry what inputs gives (an input pipe without a source
// is empty) and emit receives every batch the stage sends, with the name of
// the output pipe, in each pipe's order, on the caller's goroutine (emit
// must retain rec to keep it past its return). It returns the stage's named
// counters (Outputs.Count) and its error as a *StageError.
//
// It is how a runner other than the engine, such as the Beam translation
// (module beam/), runs a stage on each part of its input: the stage is the
// one Validate planned (projections included) and runs as the engine runs
// it (a Mapper or BatchProcessor on Job.Workers goroutines, panics turned
// into errors); it may be run again, but not by two goroutines at once. An
// origin runs its Pump, a destination its Sink; committing is the caller's
// business (Committer). Batches reach emit with plain string columns, never
// dictionary-encoded ones (see DictionaryOrigin).
func (j *Job) RunStage(ctx context.Context, name string, inputs map[string]BatchSource, emit func(pipe string, rec arrow.RecordBatch) error) (map[string]int64, error) {
	var s *Stage
	for st := range j.plans {
		if st.name == name {
			s = st
		}
	}
	if s == nil {
		return nil, fmt.Errorf("RunStage: no planned stage '%s' (call Validate first)", name)
	}
	for pipe := range inputs {
		if !containsPipe(s.inputs, pipe) {
			return nil, fmt.Errorf("RunStage: %s has no input pipe '%s'", s, pipe)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rt := &stageRT{stage: s, logger: j.stageLogger(s)}
	var feeders sync.WaitGroup
	feedErr := make(chan error, len(s.inputs))
	for _, p := range s.inputs {
		prt := &pipeRT{pipe: p, ch: make(chan arrow.RecordBatch, 2)}
		rt.in = append(rt.in, prt)
		src := inputs[p.name]
		feeders.Add(1)
		go func() {
			defer feeders.Done()
			defer close(prt.ch)
			if src == nil {
				return
			}
			for {
				rec, err := src()
				if err == io.EOF {
					return
				}
				if err != nil {
					feedErr <- fmt.Errorf("input pipe '%s': %w", p.name, err)
					cancel()
					return
				}
				select {
				case prt.ch <- rec:
				case <-ctx.Done():
					rec.Release()
					return
				}
			}
		}()
	}
	type sent struct {
		pipe string
		rec  arrow.RecordBatch
	}
	merged := make(chan sent, 2)
	var forwarders sync.WaitGroup
	for _, p := range s.outputs {
		prt := &pipeRT{pipe: p, ch: make(chan arrow.RecordBatch, 2), reject: j.plans[s].rejects[p.name]}
		rt.out = append(rt.out, prt)
		forwarders.Add(1)
		go func() {
			defer forwarders.Done()
			for rec := range prt.ch {
				merged <- sent{p.name, rec}
			}
		}()
	}
	stageErr := make(chan error, 1)
	go func() {
		err := j.runStage(ctx, rt)
		for _, p := range rt.out {
			close(p.ch)
		}
		// Stop the feeders and release what they queued.
		cancel()
		for _, p := range rt.in {
			for rec := range p.ch {
				rec.Release()
			}
		}
		feeders.Wait()
		forwarders.Wait()
		close(merged)
		stageErr <- err
	}()
	var emitErr error
	for m := range merged {
		if emitErr == nil {
			// The engine's dictionary-encoded columns (dictionary.go) stay
			// inside the engine: the caller gets plain strings.
			rec := DecodeDictionaries(j.alloc(), m.rec)
			if emitErr = emit(m.pipe, rec); emitErr != nil {
				cancel()
			}
			rec.Release()
		}
		m.rec.Release()
	}
	err := <-stageErr
	select {
	case ferr := <-feedErr:
		if err == nil || errors.Is(err, context.Canceled) {
			err = ferr
		}
	default:
	}
	if emitErr != nil {
		err = emitErr
	}
	counters := map[string]int64{}
	rt.counters.Range(func(k, v any) bool {
		counters[k.(string)] = v.(interface{ Load() int64 }).Load()
		return true
	})
	if err != nil {
		var se *StageError
		if !errors.As(err, &se) {
			err = &StageError{Stage: s, Err: j.redact.wrap(err)}
		}
		return counters, err
	}
	return counters, nil
}

func containsPipe(pipes []*Pipe, name string) bool {
	for _, p := range pipes {
		if p.name == name {
			return true
		}
	}
	return false
}
