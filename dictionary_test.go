package openstage

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// randomDictionary returns the same n random strings (nulls, empty
// strings, non-ASCII) as a plain string array and as a dictionary array.
func randomDictionary(r *rand.Rand, mem memory.Allocator, n int) (arrow.Array, arrow.Array) {
	values := []string{"ES", "", "España", "日本", "a longer value than the others"}
	pb := array.NewStringBuilder(mem)
	defer pb.Release()
	db := array.NewDictionaryBuilder(mem, &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}).(*array.BinaryDictionaryBuilder)
	defer db.Release()
	for range n {
		if r.IntN(6) == 0 {
			pb.AppendNull()
			db.AppendNull()
			continue
		}
		v := values[r.IntN(len(values))]
		pb.Append(v)
		if err := db.AppendString(v); err != nil {
			panic(err)
		}
	}
	return pb.NewArray(), db.NewArray()
}

func showArray(a arrow.Array) string {
	s := make([]string, a.Len())
	for i := range s {
		if a.IsNull(i) {
			s[i] = "<null>"
		} else {
			s[i] = fmt.Sprintf("%q", a.GetOneForMarshal(i))
		}
	}
	return fmt.Sprint(s)
}

// TestDictionaryDecodeAndTake: decoding a dictionary column, and gathering
// rows of it, give what the same operations give on the plain column, on
// whole and sliced arrays.
func TestDictionaryDecodeAndTake(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 17, 1000} {
		plain, dict := randomDictionary(r, mem, n)
		for _, cut := range [][2]int{{0, n}, {n / 3, n - n/4}} {
			p := array.NewSlice(plain, int64(cut[0]), int64(cut[1]))
			d := array.NewSlice(dict, int64(cut[0]), int64(cut[1]))
			dec := DecodeDictionary(mem, d)
			if dec.DataType().ID() != arrow.STRING || showArray(dec) != showArray(p) {
				t.Fatalf("n=%d %v: decoded %s\nwant %s", n, cut, showArray(dec), showArray(p))
			}
			idx := make([]int32, 2*p.Len())
			for i := range idx {
				idx[i] = int32(r.IntN(p.Len()+1)) - 1 // -1 gives a null
			}
			tp, td := TakeArray(mem, p, idx), TakeArray(mem, d, idx)
			if !IsDictionary(td) {
				t.Fatalf("Take of a dictionary column gave %s", td.DataType())
			}
			tdd := DecodeDictionary(mem, td)
			if showArray(tdd) != showArray(tp) {
				t.Fatalf("n=%d %v: taken %s\nwant %s", n, cut, showArray(tdd), showArray(tp))
			}
			for _, a := range []arrow.Array{p, d, dec, tp, td, tdd} {
				a.Release()
			}
		}
		schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: dict.DataType(), Nullable: true}, {Name: "p", Type: String, Nullable: true}}, nil)
		rec := array.NewRecordBatch(schema, []arrow.Array{dict, plain}, int64(n))
		out := DecodeDictionaries(mem, rec)
		if !arrow.TypeEqual(out.Schema().Field(0).Type, String) || showArray(out.Column(0)) != showArray(plain) || out.Column(1) != plain {
			t.Fatalf("DecodeDictionaries: %s", out.Schema())
		}
		out.Release()
		rec.Release()
		plain.Release()
		dict.Release()
	}
}
