package kernel

// Comparing rows one at a time, in the order of the sort kernel: for
// merging sorted runs and for keeping the best row of a key.

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// SortRef is a planned sort key: column index and direction.
type SortRef struct {
	Col  int
	Desc bool
}

// SortCols returns the sort columns of rec for refs.
func SortCols(rec arrow.RecordBatch, refs []SortRef) []SortCol {
	cols := make([]SortCol, len(refs))
	for i, r := range refs {
		cols[i] = SortCol{Arr: rec.Column(r.Col), Desc: r.Desc}
	}
	return cols
}

// Concat concatenates recs (which it releases) into one batch; nil for
// no batches.
func Concat(recs []arrow.RecordBatch, alloc memory.Allocator) (arrow.RecordBatch, error) {
	switch len(recs) {
	case 0:
		return nil, nil
	case 1:
		return recs[0], nil
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	var total int64
	for _, r := range recs {
		total += r.NumRows()
	}
	sch := recs[0].Schema()
	cols := make([]arrow.Array, sch.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	parts := make([]arrow.Array, len(recs))
	for c := range cols {
		for i, r := range recs {
			parts[i] = r.Column(c)
		}
		arr, err := array.Concatenate(parts, alloc)
		if err != nil {
			return nil, fmt.Errorf("column '%s': %w", sch.Field(c).Name, err)
		}
		cols[c] = arr
	}
	return array.NewRecordBatch(sch, cols, total), nil
}

// CompareRows returns the row order of SortIndex over keys: per key,
// nulls (and float NaN) first or last whatever the direction, then values
// (numbers, dates, timestamps by value with -0 = 0, strings bytewise,
// false before true), reversed for a descending key.
func CompareRows(keys []SortRef, nullsFirst bool) func(a arrow.RecordBatch, i int, b arrow.RecordBatch, j int) int {
	return func(a arrow.RecordBatch, i int, b arrow.RecordBatch, j int) int {
		for _, k := range keys {
			if c := CompareValue(a.Column(k.Col), i, b.Column(k.Col), j, k.Desc, nullsFirst); c != 0 {
				return c
			}
		}
		return 0
	}
}

// KeysEqual reports whether rows i of a and j of b have equal values
// in cols, with the equality of the grouping kernel (nulls and NaN equal
// each other, -0 = 0).
func KeysEqual(cols []int, a arrow.RecordBatch, i int, b arrow.RecordBatch, j int) bool {
	for _, c := range cols {
		if CompareValue(a.Column(c), i, b.Column(c), j, false, false) != 0 {
			return false
		}
	}
	return true
}

func IsNullOrNaN(a arrow.Array, i int) bool {
	if a.IsNull(i) {
		return true
	}
	if f, ok := a.(*array.Float64); ok {
		v := f.Value(i)
		return v != v
	}
	return false
}

func CompareValue(x arrow.Array, i int, y arrow.Array, j int, desc, nullsFirst bool) int {
	xn, yn := IsNullOrNaN(x, i), IsNullOrNaN(y, j)
	switch {
	case xn && yn:
		return 0
	case xn:
		if nullsFirst {
			return -1
		}
		return 1
	case yn:
		if nullsFirst {
			return 1
		}
		return -1
	}
	var c int
	switch a := x.(type) {
	case *array.Int64:
		c = cmp.Compare(a.Value(i), y.(*array.Int64).Value(j))
	case *array.Float64:
		u, v := a.Value(i), y.(*array.Float64).Value(j)
		switch {
		case u < v:
			c = -1
		case u > v:
			c = 1
		}
	case *array.String:
		c = strings.Compare(a.Value(i), y.(*array.String).Value(j))
	case *array.Boolean:
		c = cmp.Compare(B2i(a.Value(i)), B2i(y.(*array.Boolean).Value(j)))
	case *array.Date32:
		c = cmp.Compare(a.Value(i), y.(*array.Date32).Value(j))
	case *array.Timestamp:
		c = cmp.Compare(a.Value(i), y.(*array.Timestamp).Value(j))
	default:
		panic("CompareValue: unsupported type " + x.DataType().String())
	}
	if desc {
		c = -c
	}
	return c
}
