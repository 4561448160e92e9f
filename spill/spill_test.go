package spill

import (
	"context"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var schema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

func batch(alloc memory.Allocator, keys []int64, tag string) arrow.RecordBatch {
	b := array.NewRecordBuilder(alloc, schema)
	defer b.Release()
	for i, k := range keys {
		b.Field(0).(*array.Int64Builder).Append(k)
		b.Field(1).(*array.StringBuilder).Append(tag + string(rune('a'+i%26)))
	}
	return b.NewRecordBatch()
}

func TestRunRoundTripAndNoFileLeft(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	w, err := NewWriter(dir, schema, mem)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		rec := batch(mem, []int64{int64(i), int64(i + 10)}, "x")
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	run, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("spill file is visible in the folder: %v", ents)
	}
	var got []int64
	for range 2 { // a run can be read twice
		got = got[:0]
		rd, err := run.Open(mem)
		if err != nil {
			t.Fatal(err)
		}
		for {
			rec, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, rec.Column(0).(*array.Int64).Int64Values()...)
			rec.Release()
		}
		rd.Close()
	}
	if !slices.Equal(got, []int64{0, 10, 1, 11, 2, 12}) || run.Rows() != 6 {
		t.Fatalf("got %v rows=%d", got, run.Rows())
	}
	run.Remove()
}

func TestMergeIsSortedAndStable(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r := rand.New(rand.NewPCG(1, 2))
	var runs []*Run
	var all []int64
	for run := range 5 {
		w, err := NewWriter(t.TempDir(), schema, mem)
		if err != nil {
			t.Fatal(err)
		}
		keys := make([]int64, 1000)
		for i := range keys {
			keys[i] = r.Int64N(50)
		}
		slices.Sort(keys)
		all = append(all, keys...)
		for i := 0; i < len(keys); i += 300 {
			rec := batch(mem, keys[i:min(i+300, len(keys))], string(rune('A'+run)))
			w.Write(rec)
			rec.Release()
		}
		rr, err := w.Finish()
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, rr)
	}
	cmp := func(a arrow.RecordBatch, i int, b arrow.RecordBatch, j int) int {
		x, y := a.Column(0).(*array.Int64).Value(i), b.Column(0).(*array.Int64).Value(j)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	var keys []int64
	var tags []string
	err := Merge(context.Background(), runs, mem, schema, cmp, 777, func(rec arrow.RecordBatch) error {
		if rec.NumRows() > 777 {
			t.Errorf("batch of %d rows, want at most 777", rec.NumRows())
		}
		keys = append(keys, rec.Column(0).(*array.Int64).Int64Values()...)
		s := rec.Column(1).(*array.String)
		for i := 0; i < s.Len(); i++ {
			tags = append(tags, s.Value(i)[:1])
		}
		rec.Release()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(all)
	if !slices.Equal(keys, all) {
		t.Fatal("merge output is not the sorted input")
	}
	// Stability: among equal keys, run A's rows come before run B's, etc.
	for i := 1; i < len(keys); i++ {
		if keys[i] == keys[i-1] && tags[i] < tags[i-1] {
			t.Fatalf("row %d: run %s after run %s for equal key %d", i, tags[i], tags[i-1], keys[i])
		}
	}
	for _, r := range runs {
		r.Remove()
	}
}

func TestPartitions(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	p, err := NewPartitions(t.TempDir(), schema, mem, 3)
	if err != nil {
		t.Fatal(err)
	}
	rec := batch(mem, []int64{0, 1, 2, 3, 4, 5, 6}, "p")
	part := []int32{0, 1, 2, 0, 1, 2, 0}
	if err := p.Write(rec, part); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	runs, err := p.Finish()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int64{{0, 3, 6}, {1, 4}, {2, 5}}
	for k, run := range runs {
		rd, _ := run.Open(mem)
		var got []int64
		for {
			rec, err := rd.Next()
			if err != nil {
				break
			}
			got = append(got, rec.Column(0).(*array.Int64).Int64Values()...)
			rec.Release()
		}
		rd.Close()
		run.Remove()
		if !slices.Equal(got, want[k]) {
			t.Errorf("partition %d = %v, want %v", k, got, want[k])
		}
	}
}
