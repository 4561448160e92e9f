package openstage

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// The value normaliser: the one set of rules by which a Go value becomes a
// value of a column (Builder, Generator, Transformer's derive and row
// functions). It converts where no information is lost and fails otherwise:
//
//   - int64: every Go integer type (a uint64 above 2^63-1 fails), an
//     integral float64 or float32 in [-2^63, 2^63), a string of decimal
//     digits. The float boundary: -2^63 (-9223372036854775808) is the
//     smallest int64 and converts; 2^63 (9223372036854775808) is one past
//     the largest and fails, and so does float64(2^63-1), which is 2^63
//     once rounded to a float; NaN and ±Inf fail.
//   - float64: every Go integer type (rounded to the nearest float64, as Go
//     converts), float32, float64 (NaN and ±Inf included), a string that
//     strconv.ParseFloat reads.
//   - bool: bool, a string that strconv.ParseBool reads.
//   - string: a string, a fmt.Stringer's String(), anything else as fmt.Sprint.
//   - date, timestamp: time.Time (in UTC), a string ParseTime reads.
//
// nil is a null in every column.

// NormalizeValue converts v to what a column of type dt stores: nil,
// int64, float64, bool, string, arrow.Date32 or arrow.Timestamp (in the
// column's unit), following the rules above. It fails, rather than
// appending half a row, when v does not fit.
func NormalizeValue(dt arrow.DataType, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch dt.ID() {
	case arrow.INT64:
		return valueInt64(v)
	case arrow.FLOAT64:
		return valueFloat64(v)
	case arrow.BOOL:
		return valueBool(v)
	case arrow.STRING:
		return valueString(v), nil
	case arrow.DATE32:
		t, err := valueTime(v, dt)
		if err != nil {
			return nil, err
		}
		return arrow.Date32FromTime(t), nil
	case arrow.TIMESTAMP:
		t, err := valueTime(v, dt)
		if err != nil {
			return nil, err
		}
		return arrow.TimestampFromTime(t, dt.(*arrow.TimestampType).Unit)
	}
	return nil, fmt.Errorf("unsupported column type %s", dt)
}

// AppendValue appends a Go value to an Arrow builder of one of the
// supported types, converting it as NormalizeValue does; nil appends a
// null. On error nothing is appended.
func AppendValue(bld array.Builder, v any) error {
	if v == nil {
		bld.AppendNull()
		return nil
	}
	switch b := bld.(type) {
	case *array.Int64Builder:
		x, err := valueInt64(v)
		if err != nil {
			return err
		}
		b.Append(x)
	case *array.Float64Builder:
		x, err := valueFloat64(v)
		if err != nil {
			return err
		}
		b.Append(x)
	case *array.BooleanBuilder:
		x, err := valueBool(v)
		if err != nil {
			return err
		}
		b.Append(x)
	case *array.StringBuilder:
		b.Append(valueString(v))
	case *array.Date32Builder:
		t, err := valueTime(v, b.Type())
		if err != nil {
			return err
		}
		b.Append(arrow.Date32FromTime(t))
	case *array.TimestampBuilder:
		t, err := valueTime(v, b.Type())
		if err != nil {
			return err
		}
		ts, err := arrow.TimestampFromTime(t, b.Type().(*arrow.TimestampType).Unit)
		if err != nil {
			return err
		}
		b.Append(ts)
	default:
		return fmt.Errorf("unsupported column type %s", bld.Type())
	}
	return nil
}

// AppendNormalized appends a value returned by NormalizeValue for the
// builder's type (it panics on anything else).
func AppendNormalized(bld array.Builder, v any) {
	if v == nil {
		bld.AppendNull()
		return
	}
	switch b := bld.(type) {
	case *array.Int64Builder:
		b.Append(v.(int64))
	case *array.Float64Builder:
		b.Append(v.(float64))
	case *array.BooleanBuilder:
		b.Append(v.(bool))
	case *array.StringBuilder:
		b.Append(v.(string))
	case *array.Date32Builder:
		b.Append(v.(arrow.Date32))
	case *array.TimestampBuilder:
		b.Append(v.(arrow.Timestamp))
	default:
		panic(fmt.Sprintf("AppendNormalized: unsupported builder %T", bld))
	}
}

// AnyInt returns v as an int64 when it is a Go integer that fits.
func AnyInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint:
		if uint64(x) <= math.MaxInt64 {
			return int64(x), true
		}
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

// FloatToInt64 converts an integral x in [-2^63, 2^63) to int64; NaN, ±Inf,
// fractions and values outside the range report false. The upper bound is
// exclusive because 2^63 is not an int64 (the largest, 2^63-1, has no
// float64 of its own: it rounds to 2^63).
func FloatToInt64(x float64) (int64, bool) {
	if x != math.Trunc(x) || x < -0x1p63 || x >= 0x1p63 { // NaN fails the first test, ±Inf the others
		return 0, false
	}
	return int64(x), true
}

func valueInt64(v any) (int64, error) {
	if i, ok := AnyInt(v); ok {
		return i, nil
	}
	switch x := v.(type) {
	case float64:
		if i, ok := FloatToInt64(x); ok {
			return i, nil
		}
		return 0, fmt.Errorf("%v is not an integer", x)
	case float32:
		if i, ok := FloatToInt64(float64(x)); ok {
			return i, nil
		}
		return 0, fmt.Errorf("%v is not an integer", x)
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cannot convert %q to int64", x)
		}
		return n, nil
	case uint, uint64:
		return 0, fmt.Errorf("%v is larger than the largest int64 (9223372036854775807)", x)
	}
	return 0, fmt.Errorf("cannot store %T in an int64 column", v)
}

func valueFloat64(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case uint:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, fmt.Errorf("cannot convert %q to float64", x)
		}
		return f, nil
	}
	if i, ok := AnyInt(v); ok {
		return float64(i), nil
	}
	return 0, fmt.Errorf("cannot store %T in a float64 column", v)
}

func valueBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		b, err := strconv.ParseBool(x)
		if err != nil {
			return false, fmt.Errorf("cannot convert %q to bool", x)
		}
		return b, nil
	}
	return false, fmt.Errorf("cannot store %T in a bool column", v)
}

func valueString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

func valueTime(v any, dt arrow.DataType) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case string:
		t, err := ParseTime(x)
		if err != nil {
			return time.Time{}, fmt.Errorf("cannot convert %q to a date or timestamp", x)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("cannot store %T in a %s column", v, TypeName(dt))
}
