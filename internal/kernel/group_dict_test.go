package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestGrouperDictionary: grouping by a dictionary-encoded string column
// (alone or with another key, whole or sliced batches, each batch with its
// own dictionary) gives the group ids and key values that grouping by the
// same strings plain gives.
func TestGrouperDictionary(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r := rand.New(rand.NewPCG(9, 10))
	values := []string{"ES", "", "España", "日本", "PT"}
	dictType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	batch := func(n int) (plain, dict arrow.RecordBatch) {
		pb := array.NewStringBuilder(mem)
		db := array.NewDictionaryBuilder(mem, dictType).(*array.BinaryDictionaryBuilder)
		ib := array.NewInt64Builder(mem)
		defer pb.Release()
		defer db.Release()
		defer ib.Release()
		for range n {
			ib.Append(int64(r.IntN(3)))
			if r.IntN(7) == 0 {
				pb.AppendNull()
				db.AppendNull()
				continue
			}
			v := values[r.IntN(len(values))]
			pb.Append(v)
			_ = db.AppendString(v)
		}
		p, d, i := pb.NewArray(), db.NewArray(), ib.NewArray()
		defer p.Release()
		defer d.Release()
		defer i.Release()
		ps := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}, {Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
		ds := arrow.NewSchema([]arrow.Field{{Name: "s", Type: dictType, Nullable: true}, {Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
		full := func(s *arrow.Schema, a arrow.Array) arrow.RecordBatch {
			rec := array.NewRecordBatch(s, []arrow.Array{a, i}, int64(n))
			defer rec.Release()
			return rec.NewSlice(int64(n/5), int64(n))
		}
		return full(ps, p), full(ds, d)
	}
	for _, cols := range [][]int{{0}, {0, 1}, {1, 0}} {
		var gp, gd *Grouper
		var idsP, idsD []int32
		for b := range 6 {
			p, d := batch(50 + 100*b)
			if gp == nil {
				gp, gd = NewGrouper(p.Schema(), cols, true), NewGrouper(d.Schema(), cols, true)
			}
			idsP, idsD = gp.IDs(p, idsP), gd.IDs(d, idsD)
			if fmt.Sprint(idsP) != fmt.Sprint(idsD) {
				t.Fatalf("keys %v, batch %d: ids %v, want %v", cols, b, idsD, idsP)
			}
			p.Release()
			d.Release()
		}
		kp, kd := gp.KeyArrays(mem), gd.KeyArrays(mem)
		for k := range kp {
			if !array.Equal(kp[k], kd[k]) {
				t.Fatalf("keys %v: key values %v, want %v", cols, kd[k], kp[k])
			}
			kp[k].Release()
			kd[k].Release()
		}
	}
}
