package parquetio

// Filters applied while reading (openstage.FilterFolder): the statistics
// of each row group's column chunk (min, max, null count) say when no row
// of the group can satisfy a Filter's condition; such a group is not read
// at all. The Filter still runs on the rows of the other groups.

import (
	"math"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"

	"github.com/open-stage/openstage"
)

// FoldFilter implements openstage.FilterFolder: row groups whose
// statistics exclude the condition are skipped. Timestamp and unsigned
// integer columns are not folded.
func (o *ParquetOrigin) FoldFilter(c *openstage.Condition) (string, bool) {
	o.fold = nil
	if c == nil || o.schema == nil || len(o.schema.FieldIndices(c.Column)) != 1 {
		return "", false
	}
	if _, ok := statsValues(c); !ok {
		return "", false
	}
	cc := *c
	o.fold = &cc
	return "row groups whose statistics (min, max, null count) rule every row out are not read", true
}

// statsValues returns the condition's values in the domain of the
// statistics: int64 (integers, dates as days, bools as 0/1), float64 or
// string.
func statsValues(c *openstage.Condition) ([]any, bool) {
	var vals []any
	switch c.Op {
	case "is null", "is not null":
		return nil, true
	case "in", "not in", "between":
		l, ok := c.Value.([]any)
		if !ok {
			return nil, false
		}
		vals = l
	default:
		vals = []any{c.Value}
	}
	out := make([]any, len(vals))
	for i, v := range vals {
		switch x := v.(type) {
		case int64, float64, string:
			out[i] = x
		case bool:
			out[i] = int64(0)
			if x {
				out[i] = int64(1)
			}
		case time.Time:
			if x.Unix()%86400 != 0 || x.Nanosecond() != 0 {
				return nil, false // a timestamp: not folded
			}
			out[i] = x.Unix() / 86400
		default:
			return nil, false
		}
	}
	return out, true
}

// foldableType reports whether the statistics of a column read as t can
// be compared with a condition in the Open-Stage type (the unsigned
// integers' and the timestamps' cannot, here).
func foldableType(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.FLOAT32, arrow.FLOAT64,
		arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY, arrow.DATE32, arrow.BOOL:
		return true
	case arrow.DICTIONARY:
		return foldableType(t.(*arrow.DictionaryType).ValueType)
	}
	return false
}

// skipRowGroup reports whether no row of row group rg can satisfy the
// folded condition, from its statistics.
func (o *ParquetOrigin) skipRowGroup(pq *file.Reader, cols []column, rg int) bool {
	c := o.fold
	if c == nil {
		return false
	}
	i := slices.IndexFunc(cols, func(x column) bool { return x.name == c.Column })
	if i < 0 || !foldableType(cols[i].file) {
		return false
	}
	meta := pq.MetaData().RowGroup(rg)
	cc, err := meta.ColumnChunk(cols[i].leaf)
	if err != nil {
		return false
	}
	st, err := cc.Statistics()
	if err != nil || st == nil {
		return false
	}
	rows := meta.NumRows()
	nulls, knownNulls := st.NullCount(), st.HasNullCount()
	switch c.Op {
	case "is null":
		// NaN counts as null, and the null count does not count it.
		float := st.Type() == parquet.Types.Float || st.Type() == parquet.Types.Double
		return knownNulls && nulls == 0 && !float
	case "is not null":
		return knownNulls && nulls == rows
	}
	if knownNulls && nulls == rows {
		return true // nulls never satisfy a comparison
	}
	if !st.HasMinMax() {
		return false
	}
	vals, ok := statsValues(c)
	if !ok {
		return false
	}
	switch s := st.(type) {
	case *metadata.Int32Statistics:
		return skipInts(c.Op, vals, int64(s.Min()), int64(s.Max()))
	case *metadata.Int64Statistics:
		return skipInts(c.Op, vals, s.Min(), s.Max())
	case *metadata.BooleanStatistics:
		return skipInts(c.Op, vals, b2i(s.Min()), b2i(s.Max()))
	case *metadata.Float32Statistics:
		return skipFloats(c.Op, vals, float64(s.Min()), float64(s.Max()))
	case *metadata.Float64Statistics:
		return skipFloats(c.Op, vals, s.Min(), s.Max())
	case *metadata.ByteArrayStatistics:
		strs := make([]string, len(vals))
		for k, v := range vals {
			x, ok := v.(string)
			if !ok {
				return false
			}
			strs[k] = x
		}
		return skipRange(c.Op, strs, string(s.Min()), string(s.Max()))
	}
	return false
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func skipInts(op string, vals []any, lo, hi int64) bool {
	ints := make([]int64, len(vals))
	for k, v := range vals {
		x, ok := v.(int64)
		if !ok {
			return false
		}
		ints[k] = x
	}
	return skipRange(op, ints, lo, hi)
}

func skipFloats(op string, vals []any, lo, hi float64) bool {
	if math.IsNaN(lo) || math.IsNaN(hi) {
		return false // a writer that counted NaN: the bounds say nothing
	}
	fs := make([]float64, len(vals))
	for k, v := range vals {
		switch x := v.(type) {
		case float64:
			fs[k] = x
		case int64:
			fs[k] = float64(x)
		default:
			return false
		}
	}
	return skipRange(op, fs, lo, hi)
}

// skipRange reports whether no value in [lo, hi] satisfies op against
// vals.
func skipRange[T int64 | float64 | string](op string, vals []T, lo, hi T) bool {
	switch op {
	case "=":
		return vals[0] < lo || vals[0] > hi
	case "!=":
		return lo == hi && lo == vals[0]
	case "<":
		return lo >= vals[0]
	case "<=":
		return lo > vals[0]
	case ">":
		return hi <= vals[0]
	case ">=":
		return hi < vals[0]
	case "between":
		return len(vals) == 2 && (vals[1] < lo || vals[0] > hi || vals[0] > vals[1])
	case "in":
		for _, v := range vals {
			if v >= lo && v <= hi {
				return false
			}
		}
		return true
	case "not in":
		return lo == hi && slices.Contains(vals, lo)
	}
	return false
}
