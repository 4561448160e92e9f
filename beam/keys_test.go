package beam

import (
	"bytes"
	"math"
	"math/rand"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
)

// TestKeyOrderIsSortOrder: on random batches with nulls, NaN, -0, strings
// with NUL bytes and prefixes, the bytewise order of the encoded keys is
// the order of the engine's comparator (kernel.CompareRows), for every
// direction and both null placements.
func TestKeyOrderIsSortOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	schema := openstage.NewSchema("i", openstage.Int64, "f", openstage.Float64, "s", openstage.String, "b", openstage.Bool, "d", openstage.Date)
	b := openstage.NewBuilder(memory.DefaultAllocator, schema)
	strs := []string{"", "a", "a\x00", "a\x00b", "ab", "b", "\xff", "a\x00\x00"}
	floats := []float64{math.NaN(), math.Copysign(0, -1), 0, -1.5, 2, math.Inf(1), math.Inf(-1)}
	for range 400 {
		row := []any{int64(rng.Intn(7) - 3), floats[rng.Intn(len(floats))], strs[rng.Intn(len(strs))], rng.Intn(2) == 0, int64(rng.Intn(5))}
		for c := range row {
			if rng.Intn(8) == 0 {
				row[c] = nil
			}
		}
		row[4] = nil
		if rng.Intn(2) == 0 {
			row[4] = "2024-01-0" + string(rune('1'+rng.Intn(5)))
		}
		if err := b.Append(row...); err != nil {
			t.Fatal(err)
		}
	}
	rec := b.Build()
	defer rec.Release()
	for _, nullsFirst := range []bool{false, true} {
		for mask := range 32 {
			var refs []kernel.SortRef
			var cols []keyCol
			for c := range 5 {
				desc := mask&(1<<c) != 0
				refs = append(refs, kernel.SortRef{Col: (c + mask) % 5, Desc: desc})
				cols = append(cols, keyCol{Col: (c + mask) % 5, Desc: desc})
			}
			cmp := kernel.CompareRows(refs, nullsFirst)
			enc := keyEncoder{cols: cols, nullsFirst: nullsFirst}
			for range 2000 {
				i, j := rng.Intn(int(rec.NumRows())), rng.Intn(int(rec.NumRows()))
				want := cmp(rec, i, rec, j)
				got := bytes.Compare(enc.append(nil, rec, i), enc.append(nil, rec, j))
				if sign(want) != got {
					t.Fatalf("nullsFirst %v mask %d rows %d, %d: comparator %d, keys %d", nullsFirst, mask, i, j, want, got)
				}
			}
		}
	}
}

func sign(c int) int {
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}

var _ = arrow.PrimitiveTypes
