package beam

import (
	"context"
	"fmt"
	"math/rand"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestDedupCombine: RemoveDuplicates' combine keeps, per key, the row a
// brute-force pass over the whole input keeps (the first or last row in
// input order, or the best by sort_by with ties going to input order),
// however the batches are spread over bundles and merged: many duplicates
// per key across 60 batches (enough rows that the accumulators drop their
// losing rows on the way), null keys and null sort values, accumulators
// encoded and decoded between merges as a runner does. The output is in
// candidate order, the order the local engine sends the kept rows in.
func TestDedupCombine(t *testing.T) {
	const batches, rows = 60, 3000
	rng := rand.New(rand.NewSource(7))
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "s", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	type row struct {
		k, s     int64
		kn, sn   bool
		id       int64
		batch, i int
	}
	var all []row
	var elems []Elem
	id := int64(0)
	for b := range batches {
		kb := array.NewInt64Builder(memory.DefaultAllocator)
		sb := array.NewInt64Builder(memory.DefaultAllocator)
		ib := array.NewInt64Builder(memory.DefaultAllocator)
		for i := range rows {
			r := row{k: int64(rng.Intn(40)), s: int64(rng.Intn(5)), id: id, batch: b, i: i}
			r.kn, r.sn = rng.Intn(30) == 0, rng.Intn(20) == 0
			id++
			all = append(all, r)
			if r.kn {
				kb.AppendNull()
			} else {
				kb.Append(r.k)
			}
			if r.sn {
				sb.AppendNull()
			} else {
				sb.Append(r.s)
			}
			ib.Append(r.id)
		}
		rec := array.NewRecordBatch(schema, []arrow.Array{kb.NewArray(), sb.NewArray(), ib.NewArray()}, rows)
		data, err := encode(rec)
		if err != nil {
			t.Fatal(err)
		}
		elems = append(elems, Elem{Pos: pos(nil, 3, uint32(b)), Data: data})
	}
	for _, tc := range []struct {
		name       string
		sorted     bool
		desc, last bool
	}{
		{"first in input order", false, false, false},
		{"last in input order", false, false, true},
		{"best by s descending, ties first", true, true, false},
		{"last by s ascending", true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The reference: one pass in input order. Nulls sort last
			// (the local engine's default), ties keep input order.
			less := func(a, b row) bool { // a before b in sort_by order
				if !tc.sorted || a.sn != b.sn {
					return !a.sn && b.sn && tc.sorted
				}
				if a.sn || a.s == b.s {
					return false
				}
				return (a.s < b.s) != tc.desc
			}
			want := map[string]int64{}
			best := map[string]row{}
			for _, r := range all {
				k := fmt.Sprint(r.k)
				if r.kn {
					k = "null"
				}
				old, seen := best[k]
				switch {
				case !seen:
					best[k] = r
				case tc.last && !less(r, old):
					best[k] = r
				case !tc.last && less(r, old):
					best[k] = r
				}
			}
			for k, r := range best {
				want[k] = r.id
			}
			sortKeys := Keys{}
			if tc.sorted {
				sortKeys = Keys{Cols: []keyCol{{Col: 1, Desc: tc.desc}}}
			}
			fn := &dedupBatchFn{Stage: "d", Key: Keys{Cols: []keyCol{{Col: 0}}}, Sort: sortKeys, Last: tc.last, Buckets: 1}
			fn.Setup()
			cf := &dedupCombineFn{Last: tc.last}
			// Bundles of 1 to 9 batches in a shuffled order, each bundle's
			// accumulator encoded and decoded, then merged in random order.
			order := rng.Perm(batches)
			var accs []dedupAcc
			for len(order) > 0 {
				n := min(len(order), 1+rng.Intn(9))
				acc := cf.CreateAccumulator()
				for _, b := range order[:n] {
					err := fn.ProcessElement(context.Background(), elems[b], func(_ int, e Elem) {
						var err error
						if acc, err = cf.AddInput(acc, e); err != nil {
							t.Fatal(err)
						}
					})
					if err != nil {
						t.Fatal(err)
					}
				}
				order = order[n:]
				data, err := encodeDedupAcc(acc)
				if err != nil {
					t.Fatal(err)
				}
				if acc, err = decodeDedupAcc(data); err != nil {
					t.Fatal(err)
				}
				accs = append(accs, acc)
			}
			for len(accs) > 1 {
				i, j := rng.Intn(len(accs)), rng.Intn(len(accs)-1)
				if j >= i {
					j++
				}
				accs[i] = cf.MergeAccumulators(accs[i], accs[j])
				accs = append(accs[:j], accs[j+1:]...)
			}
			out, err := cf.ExtractOutput(accs[0])
			if err != nil {
				t.Fatal(err)
			}
			rec, err := decode(out.Data, memory.DefaultAllocator)
			if err != nil {
				t.Fatal(err)
			}
			defer rec.Release()
			if int(rec.NumRows()) != len(want) {
				t.Fatalf("%d rows kept, want %d (one per key)", rec.NumRows(), len(want))
			}
			ks, ids := rec.Column(0).(*array.Int64), rec.Column(2).(*array.Int64)
			var prev *row
			for i := range int(rec.NumRows()) {
				k := fmt.Sprint(ks.Value(i))
				if ks.IsNull(i) {
					k = "null"
				}
				if ids.Value(i) != want[k] {
					t.Errorf("key %s: kept row id %d, want %d", k, ids.Value(i), want[k])
				}
				r := all[ids.Value(i)]
				if prev != nil && (less(r, *prev) || !less(*prev, r) && r.id < prev.id) {
					t.Errorf("row id %d comes after id %d: not in sort_by then input order", r.id, prev.id)
				}
				prev = &r
			}
		})
	}
}
