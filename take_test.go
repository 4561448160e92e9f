package openstage_test

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
)

func TestTakeAllTypesWithNullsAndMissingRows(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := openstage.NewSchema("i", openstage.Int64, "f", openstage.Float64, "b", openstage.Bool, "s", openstage.String, "d", openstage.Date, "t", openstage.Timestamp)
	bld := openstage.NewBuilder(mem, s)
	rows := [][]any{
		{int64(1), 1.5, true, "añb", "2024-01-02", "2024-01-02T03:04:05Z"},
		{nil, nil, nil, nil, nil, nil},
		{int64(3), -2.0, false, "", "1969-12-31", "1960-01-01T00:00:00.000001Z"},
	}
	for _, r := range rows {
		if err := bld.Append(r...); err != nil {
			t.Fatal(err)
		}
	}
	rec := bld.Build()
	bld.Release()
	defer rec.Release()
	out := openstage.Take(mem, rec, []int32{2, -1, 0, 1, 2})
	defer out.Release()
	got := openstagetest.RowsOf(out)
	src := openstagetest.RowsOf(rec)
	want := [][]any{src[2], {nil, nil, nil, nil, nil, nil}, src[0], src[1], src[2]}
	if len(got) != len(want) {
		t.Fatalf("%d rows", len(got))
	}
	for i := range want {
		for c := range want[i] {
			if got[i][c] != want[i][c] {
				t.Errorf("row %d col %d = %#v, want %#v", i, c, got[i][c], want[i][c])
			}
		}
	}
	if out.Column(3).NullN() != 2 || out.Column(3).(interface{ ValueStr(int) string }).ValueStr(3) != "(null)" {
		t.Errorf("string nulls: %d", out.Column(3).NullN())
	}
}

// A slice of a batch has offsets that do not start at zero.
func TestTakeFromSlice(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := openstage.NewSchema("s", openstage.String)
	bld := openstage.NewBuilder(mem, s)
	for _, v := range []any{"aa", "bb", nil, "dd"} {
		bld.Append(v)
	}
	rec := bld.Build()
	bld.Release()
	defer rec.Release()
	sl := rec.NewSlice(1, 4)
	defer sl.Release()
	out := openstage.Take(mem, sl, []int32{2, 0, 1, -1})
	defer out.Release()
	got := openstagetest.RowsOf(out)
	want := []any{"dd", "bb", nil, nil}
	for i := range want {
		if got[i][0] != want[i] {
			t.Errorf("row %d = %#v, want %#v", i, got[i][0], want[i])
		}
	}
}
