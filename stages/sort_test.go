package stages_test

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/stages"
)

var sortSchema = openstage.NewSchema("id", openstage.Int64, "k", openstage.Int64, "x", openstage.Float64, "s", openstage.String, "d", openstage.Date, "b", openstage.Bool)

var sortRows = [][]any{
	{int64(1), int64(3), 0.0, "b", "2024-01-02", true},
	{int64(2), nil, -1.5, "a", nil, false},
	{int64(3), int64(-7), math.NaN(), "é", "2023-12-31", nil},
	{int64(4), int64(3), math.Copysign(0, -1), "B", "2024-01-02", true},
	{int64(5), int64(1 << 40), nil, nil, "1970-01-01", false},
	{int64(6), nil, 2.5, "ab", "2024-01-01", true},
	{int64(7), int64(3), 1e300, "a", "1969-12-31", false},
}

func sortIDs(t *testing.T, c any, rows [][]any, batch int) []int64 {
	t.Helper()
	got, s := ktRun(t, c, sortSchema, rows, batch)
	if !s.Equal(sortSchema) {
		t.Fatalf("schema %v", ktColumns(s))
	}
	ids := []int64{}
	for _, r := range got {
		ids = append(ids, r[0].(int64))
	}
	return ids
}

func TestSort(t *testing.T) {
	tests := []struct {
		name  string
		keys  stages.SortKeys
		nulls string
		want  []int64
	}{
		{"int asc, nulls last, stable", stages.SortKeys{stages.Asc("k")}, "", []int64{3, 1, 4, 7, 5, 2, 6}},
		{"int desc, nulls last", stages.SortKeys{stages.Desc("k")}, "last", []int64{5, 1, 4, 7, 3, 2, 6}},
		{"int asc, nulls first", stages.SortKeys{stages.Asc("k")}, "first", []int64{2, 6, 3, 1, 4, 7, 5}},
		{"float: NaN is null, -0 equals 0", stages.SortKeys{stages.Asc("x")}, "", []int64{2, 1, 4, 6, 7, 3, 5}},
		{"float desc", stages.SortKeys{stages.Desc("x")}, "", []int64{7, 6, 1, 4, 2, 3, 5}},
		{"string bytewise", stages.SortKeys{stages.Asc("s")}, "", []int64{4, 2, 7, 6, 1, 3, 5}},
		{"string desc, nulls first", stages.SortKeys{stages.Desc("s")}, "first", []int64{5, 3, 1, 6, 2, 7, 4}},
		{"date", stages.SortKeys{stages.Asc("d")}, "", []int64{7, 5, 3, 6, 1, 4, 2}},
		{"bool", stages.SortKeys{stages.Asc("b")}, "", []int64{2, 5, 7, 1, 4, 6, 3}},
		{"int then string desc", stages.SortKeys{stages.Asc("k"), stages.Desc("s")}, "", []int64{3, 1, 7, 4, 5, 6, 2}},
		{"string then int, nulls first", stages.SortKeys{stages.Asc("s"), stages.Asc("k")}, "first", []int64{5, 4, 2, 7, 6, 1, 3}},
		{"bool then float desc", stages.SortKeys{stages.Asc("b"), stages.Desc("x")}, "", []int64{7, 2, 5, 6, 1, 4, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, batch := range []int{0, 1, 3} {
				got := sortIDs(t, &stages.Sort{Keys: tc.keys, Nulls: tc.nulls}, sortRows, batch)
				if !slices.Equal(got, tc.want) {
					t.Fatalf("batch rows %d: order %v, want %v", batch, got, tc.want)
				}
			}
		})
	}
}

// sortRef is a straightforward reference: a stable sort with a comparator
// over Go values (nil and NaN are null).
func sortRef(rows [][]any, cols []int, desc []bool, nullsFirst bool) [][]any {
	out := slices.Clone(rows)
	isNull := func(v any) bool {
		f, ok := v.(float64)
		return v == nil || (ok && math.IsNaN(f))
	}
	slices.SortStableFunc(out, func(a, b []any) int {
		for k, c := range cols {
			x, y := a[c], b[c]
			nx, ny := isNull(x), isNull(y)
			switch {
			case nx && ny:
				continue
			case nx || ny:
				if nx == nullsFirst {
					return -1
				}
				return 1
			}
			var d int
			switch v := x.(type) {
			case int64:
				d = cmp.Compare(v, y.(int64))
			case float64:
				d = cmp.Compare(v, y.(float64))
			case string:
				d = strings.Compare(v, y.(string))
			case time.Time:
				d = v.Compare(y.(time.Time))
			case bool:
				d = cmp.Compare(ktB2i(v), ktB2i(y.(bool)))
			}
			if desc[k] {
				d = -d
			}
			if d != 0 {
				return d
			}
		}
		return 0
	})
	return out
}

func ktB2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ktRandomRows makes n rows of sortSchema with few distinct values (many
// ties), nulls and unicode.
func ktRandomRows(n int, seed uint64) [][]any {
	r := rand.New(rand.NewPCG(seed, 1))
	words := []string{"a", "á", "b", "B", "ñ", "z", "Z", "東", "ab", ""}
	rows := make([][]any, n)
	for i := range rows {
		row := []any{int64(i), int64(r.IntN(20) - 10), float64(r.IntN(9)-4) / 2, words[r.IntN(len(words))], time.Date(2024, 1, 1+r.IntN(30), 0, 0, 0, 0, time.UTC), r.IntN(2) == 1}
		for c := 1; c < len(row); c++ {
			if r.IntN(10) == 0 {
				row[c] = nil
			}
		}
		if r.IntN(50) == 0 {
			row[2] = math.NaN()
		}
		rows[i] = row
	}
	return rows
}

func TestSortMatchesReference(t *testing.T) {
	rows := ktRandomRows(5000, 7)
	tests := []struct {
		keys stages.SortKeys
		cols []int
		desc []bool
	}{
		{stages.SortKeys{stages.Asc("k")}, []int{1}, []bool{false}},
		{stages.SortKeys{stages.Desc("x")}, []int{2}, []bool{true}},
		{stages.SortKeys{stages.Asc("s")}, []int{3}, []bool{false}},
		{stages.SortKeys{stages.Desc("d"), stages.Asc("s")}, []int{4, 3}, []bool{true, false}},
		{stages.SortKeys{stages.Asc("s"), stages.Desc("k"), stages.Asc("x")}, []int{3, 1, 2}, []bool{false, true, false}},
		{stages.SortKeys{stages.Asc("b"), stages.Asc("d")}, []int{5, 4}, []bool{false, false}},
		{stages.SortKeys{stages.Asc("id")}, []int{0}, []bool{false}}, // already sorted: zero-copy slices
	}
	for _, tc := range tests {
		for _, nulls := range []string{"first", "last"} {
			t.Run(tc.keys.String()+" nulls "+nulls, func(t *testing.T) {
				got, _ := ktRun(t, &stages.Sort{Keys: tc.keys, Nulls: nulls}, sortSchema, rows, 333)
				want := sortRef(rows, tc.cols, tc.desc, nulls == "first")
				ktEqualRows(t, got, want)
			})
		}
	}
}

func TestSortValidationAndParams(t *testing.T) {
	tests := []struct {
		name string
		s    stages.Sort
		want string
	}{
		{"no keys", stages.Sort{}, "parameter 'keys' is required: columns to sort by: a column name, or a list of names or of {field, ascending} (ascending defaults to true)"},
		{"unknown key", stages.Sort{Keys: stages.SortKeys{stages.Asc("kk")}}, "field 'kk' not found; available columns: id, k, x, s, d, b (did you mean 'k'?)"},
		{"bad nulls", stages.Sort{Keys: stages.SortKeys{stages.Asc("k")}, Nulls: "middle"}, `parameter 'nulls': 'middle' is not one of first, last`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			if got, want := ktErr(t, &s, sortSchema), "Sort 'stage': "+tc.want; got != want {
				t.Fatalf("error\n got: %s\nwant: %s", got, want)
			}
		})
	}
	spec, _ := openstage.DefaultRegistry().Lookup("Sort")
	s := &stages.Sort{}
	if err := spec.Set(s, "keys", []any{"k", map[string]any{"field": "x", "ascending": false}, map[string]any{"field": "s", "ascending": true}}); err != nil {
		t.Fatal(err)
	}
	if want := (stages.SortKeys{stages.Asc("k"), stages.Desc("x"), stages.Asc("s")}); !slices.Equal(s.Keys, want) {
		t.Fatalf("keys %v, want %v", s.Keys, want)
	}
	if err := spec.Set(s, "keys", "k"); err != nil || !slices.Equal(s.Keys, stages.SortKeys{stages.Asc("k")}) {
		t.Fatalf("keys: %v %v", err, s.Keys)
	}
	for _, tc := range []struct {
		value any
		want  string
	}{
		{5, "parameter 'keys': must be a column name or a list of column names or {field, ascending}, got an integer"},
		{[]any{map[string]any{"field": "k", "ascending": "no"}}, "parameter 'keys': item 1: ascending must be true or false, got a string"},
		{[]any{map[string]any{"ascending": false}}, "parameter 'keys': item 1: missing field"},
		{[]any{"k", map[string]any{"field": "x", "order": "desc"}}, "parameter 'keys': item 2: unknown key 'order'; a sort key has field and ascending"},
		{[]any{true}, "parameter 'keys': item 1: must be a column name or {field, ascending}, got a bool"},
	} {
		if err := spec.Set(&stages.Sort{}, "keys", tc.value); err == nil || err.Error() != tc.want {
			t.Errorf("Set keys %v:\n got: %v\nwant: %s", tc.value, err, tc.want)
		}
	}
	if err := spec.Set(s, "nulls", "middle"); err == nil || err.Error() != "parameter 'nulls': 'middle' is not one of first, last" {
		t.Fatalf("Set nulls: %v", err)
	}
}

func TestSortEmptyAndOneRow(t *testing.T) {
	if got := sortIDs(t, &stages.Sort{Keys: stages.SortKeys{stages.Asc("k")}}, nil, 0); len(got) != 0 {
		t.Fatalf("empty input gave %v", got)
	}
	if got := sortIDs(t, &stages.Sort{Keys: stages.SortKeys{stages.Desc("s"), stages.Asc("k")}}, sortRows[2:3], 0); !slices.Equal(got, []int64{3}) {
		t.Fatalf("one row gave %v", got)
	}
	st := stages.NewSort("ranked", stages.Asc("country"), stages.Desc("amount"))
	if st.Type() != "Sort" || st.Component().(*stages.Sort).Keys.String() != "country, amount desc" {
		t.Fatalf("NewSort gave %s %v", st, st.Component().(*stages.Sort).Keys)
	}
}

func TestSortManyDistinctStrings(t *testing.T) {
	// Enough distinct strings to take the comparison-sort path instead of
	// the dictionary-encoded radix sort.
	r := rand.New(rand.NewPCG(11, 12))
	rows := ktRandomRows(6000, 9)
	for _, row := range rows {
		if row[3] != nil {
			row[3] = string(rune(0x41+r.IntN(40))) + string(rune(0xe0+r.IntN(60))) + string(rune(0x4e00+r.IntN(3)))
		}
	}
	for _, tc := range []struct {
		keys stages.SortKeys
		cols []int
		desc []bool
	}{
		{stages.SortKeys{stages.Asc("s")}, []int{3}, []bool{false}},
		{stages.SortKeys{stages.Desc("s")}, []int{3}, []bool{true}},
		{stages.SortKeys{stages.Asc("b"), stages.Desc("s"), stages.Asc("k")}, []int{5, 3, 1}, []bool{false, true, false}},
	} {
		t.Run(tc.keys.String(), func(t *testing.T) {
			got, _ := ktRun(t, &stages.Sort{Keys: tc.keys}, sortSchema, rows, 1000)
			ktEqualRows(t, got, sortRef(rows, tc.cols, tc.desc, false))
		})
	}
}
