package stages

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// TestKTake checks the gather kernel value by value against its source, on
// whole and sliced batches (non-zero array offsets), with nulls.
func TestKTake(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := openstage.NewSchema("i", openstage.Int64, "f", openstage.Float64, "s", openstage.String,
		"d", openstage.Date, "ts", openstage.Timestamp, "b", openstage.Bool)
	r := rand.New(rand.NewPCG(3, 4))
	b := openstage.NewBuilder(mem, s)
	for i := range 500 {
		row := []any{int64(i), float64(i) / 3, string([]rune("añ東z")[:1+i%4]), time.Unix(int64(i)*86400, 0), time.Unix(int64(i), 1000), i%2 == 0}
		for c := range row {
			if r.IntN(6) == 0 {
				row[c] = nil
			}
		}
		if err := b.Append(row...); err != nil {
			t.Fatal(err)
		}
	}
	rec := b.Build()
	b.Release()
	defer rec.Release()
	for _, sl := range [][2]int64{{0, 500}, {37, 311}, {499, 500}, {100, 100}} {
		part := rec.NewSlice(sl[0], sl[1])
		n := int(part.NumRows())
		idx := make([]int32, 0, 2*n)
		for range 2 * n {
			idx = append(idx, int32(r.IntN(max(n, 1))))
		}
		if n == 0 {
			idx = idx[:0]
		}
		got := openstage.Take(mem, part, idx)
		if !got.Schema().Equal(part.Schema()) || got.NumRows() != int64(len(idx)) {
			t.Fatalf("slice %v: shape differs", sl)
		}
		for c := range int(got.NumCols()) {
			g, src := got.Column(c), part.Column(c)
			nulls := 0
			for k, i := range idx {
				if g.IsNull(k) != src.IsNull(int(i)) || (!g.IsNull(k) && g.ValueStr(k) != src.ValueStr(int(i))) {
					t.Fatalf("slice %v column %s row %d (source row %d): %s, want %s", sl, s.Field(c).Name, k, i, g.ValueStr(k), src.ValueStr(int(i)))
				}
				if src.IsNull(int(i)) {
					nulls++
				}
			}
			if g.NullN() != nulls {
				t.Fatalf("slice %v column %s: %d nulls, want %d", sl, s.Field(c).Name, g.NullN(), nulls)
			}
		}
		got.Release()
		part.Release()
	}
}
