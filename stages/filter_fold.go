package stages

import (
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
)

// FoldCondition implements openstage.Conditioner, so that an origin that can
// filter at the source (a database origin's WHERE clause) may apply the
// field/condition/value form itself. The Filter still runs on what arrives.
// The value is given exactly in the column's type; a value that is not (17.5
// against an int64 column, a time of day against a date column) or an expr
// gives false: nothing is folded.
func (f *Filter) FoldCondition() (openstage.Condition, bool) {
	if f.pred == nil || f.Expr != "" || f.inType == nil {
		return openstage.Condition{}, false
	}
	c := openstage.Condition{Column: f.Field, Op: f.Condition}
	switch f.Condition {
	case "is null", "is not null":
		return c, true
	}
	list, isList := filterList(f.Value)
	if !isList {
		list = []any{f.Value}
	}
	typed := make([]any, len(list))
	for i, v := range list {
		tv, ok := foldValue(f.inType, v)
		if !ok {
			return openstage.Condition{}, false
		}
		typed[i] = tv
	}
	if isList {
		c.Value = typed
	} else {
		c.Value = typed[0]
	}
	return c, true
}

// foldValue returns v in the Go type of column type dt, when it is exactly
// a value of that type.
func foldValue(dt arrow.DataType, v any) (any, bool) {
	switch dt.ID() {
	case arrow.FLOAT64:
		return kernel.FloatValueOf(v)
	case arrow.STRING:
		return kernel.StringValueOf(v)
	case arrow.INT64, arrow.BOOL, arrow.DATE32, arrow.TIMESTAMP:
	default:
		return nil, false
	}
	iv, ok := kernel.IntValueOf(v, dt)
	if !ok {
		return nil, false
	}
	n, exact := iv.Exact()
	switch dt.ID() {
	case arrow.BOOL:
		return n == 1, exact
	case arrow.DATE32:
		return time.Unix(n*86400, 0).UTC(), exact
	case arrow.TIMESTAMP:
		if dt.(*arrow.TimestampType).Unit != arrow.Microsecond {
			return nil, false
		}
		return time.UnixMicro(n).UTC(), exact
	}
	return n, exact
}
