package outofcore

import (
	"context"
	"hash/maphash"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage/internal/kernel"
	"github.com/open-stage/openstage/spill"
)

// A Joiner whose build side outgrows its memory budget spills each side
// into 1<<joinPartitionBits partitions: each then holds about 1/32 of the
// build side.
const joinPartitionBits = 5

// joinSpill is a grace hash join: both sides are split by a hash of their
// key into the same number of partitions on disk, so that matching rows
// land in partitions of the same number, which are then joined one pair at
// a time in memory.
type joinSpill struct {
	seed         maphash.Seed
	build, probe *spill.Partitions
	buildRuns    []*spill.Run
	probeRuns    []*spill.Run
	parts        []int32
	enc          []byte
}

// startSpill moves the build batches held so far to partitions on disk.
func (r *HashJoin) startSpill() error {
	alloc := r.out.Allocator()
	s := &joinSpill{seed: maphash.MakeSeed()}
	var err error
	if s.build, err = spill.NewPartitions(r.plan.TempDir, r.buildSchema, alloc, 1<<joinPartitionBits); err != nil {
		return err
	}
	if s.probe, err = spill.NewPartitions(r.plan.TempDir, r.probeSchema, alloc, 1<<joinPartitionBits); err != nil {
		s.build.Abort()
		return err
	}
	r.spill = s
	held := r.batches
	r.batches, r.held = nil, 0
	for k, rec := range held {
		if err := s.write(s.build, rec, r.buildKeys); err != nil {
			for _, b := range held[k+1:] {
				b.Release()
			}
			return err
		}
	}
	return nil
}

// write sends the rows of rec to the partitions of their keys (columns
// keys of rec) and releases rec.
func (s *joinSpill) write(parts *spill.Partitions, rec arrow.RecordBatch, keys []int) error {
	defer rec.Release()
	cols := make([]kernel.JoinKey, len(keys))
	for c, i := range keys {
		cols[c] = kernel.PrepareJoinKey(rec.Column(i))
	}
	n := int(rec.NumRows())
	s.parts = s.parts[:0]
	for i := range n {
		s.parts = append(s.parts, s.partition(cols, i))
	}
	return parts.Write(rec, s.parts)
}

// partition returns the partition of row i: equal keys get equal
// partitions on both sides; rows with a null key, which match nothing, go
// to partition 0.
func (s *joinSpill) partition(cols []kernel.JoinKey, i int) int32 {
	var h uint64
	switch {
	case len(cols) == 1 && cols[0].Strs == nil:
		if cols[0].Null(i) {
			return 0
		}
		h = uint64(cols[0].Ints[i]) * 0x9E3779B97F4A7C15 // Fibonacci hashing
	case len(cols) == 1:
		if cols[0].Null(i) {
			return 0
		}
		h = maphash.String(s.seed, cols[0].Strs.Value(i))
	default:
		var ok bool
		if s.enc, ok = kernel.EncodeJoinKey(s.enc[:0], cols, i); !ok {
			return 0
		}
		h = maphash.Bytes(s.seed, s.enc)
	}
	return int32(h >> (64 - joinPartitionBits))
}

// joinPartitions joins the partitions of both sides pair by pair. Rows come
// out partition by partition, so the probe side's order is not kept.
func (r *HashJoin) joinPartitions(ctx context.Context) error {
	s := r.spill
	var err error
	if s.buildRuns, err = s.build.Finish(); err != nil {
		return err
	}
	s.build = nil
	if s.probeRuns, err = s.probe.Finish(); err != nil {
		return err
	}
	s.probe = nil
	var rows int64
	for k := range s.buildRuns {
		rows += s.buildRuns[k].Rows() + s.probeRuns[k].Rows()
	}
	r.out.Count("spilled_rows", rows)
	for k := range s.buildRuns {
		if err := r.joinPartition(ctx, s.buildRuns[k], s.probeRuns[k]); err != nil {
			return err
		}
		s.buildRuns[k].Remove()
		s.probeRuns[k].Remove()
		s.buildRuns[k], s.probeRuns[k] = nil, nil
	}
	return nil
}

// joinPartition joins one pair of partitions in memory.
func (r *HashJoin) joinPartition(ctx context.Context, build, probe *spill.Run) error {
	alloc := r.out.Allocator()
	err := joinReadRun(build, alloc, func(rec arrow.RecordBatch) error {
		r.batches = append(r.batches, rec)
		return nil
	})
	if err != nil {
		return err
	}
	if err := r.buildTable(); err != nil {
		return err
	}
	err = joinReadRun(probe, alloc, func(rec arrow.RecordBatch) error {
		defer rec.Release()
		return r.probe(ctx, rec)
	})
	if err != nil {
		return err
	}
	if err := r.emitUnmatchedBuild(ctx); err != nil {
		return err
	}
	r.build.Release()
	r.build, r.table, r.matched = nil, nil, nil
	return nil
}

// joinReadRun passes every batch of run to fn, which owns it.
func joinReadRun(run *spill.Run, alloc memory.Allocator, fn func(arrow.RecordBatch) error) error {
	rd, err := run.Open(alloc)
	if err != nil {
		return err
	}
	defer rd.Close()
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

// remove discards whatever is still on disk.
func (s *joinSpill) remove() {
	for _, p := range []*spill.Partitions{s.build, s.probe} {
		if p != nil {
			p.Abort()
		}
	}
	for _, runs := range [][]*spill.Run{s.buildRuns, s.probeRuns} {
		for _, run := range runs {
			if run != nil {
				run.Remove()
			}
		}
	}
}
