package bigqueryio

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/jsontext"
)

// Reading: BigQuery columns become Open-Stage columns as the package
// documentation's table says. Each column gets an appender that adds one
// value of the client's representation to an Arrow builder.

// appender adds one value (as the Go client returns it) to a builder.
type appender func(b array.Builder, v bigquery.Value) error

// readColumn maps a result column to an Open-Stage type and its appender.
func readColumn(f *bigquery.FieldSchema) (arrow.DataType, appender, error) {
	if f.Repeated || f.Type == bigquery.RecordFieldType {
		return openstage.String, func(b array.Builder, v bigquery.Value) error {
			if v == nil {
				b.AppendNull()
				return nil
			}
			j, err := nestedJSON(f, v, f.Repeated)
			if err != nil {
				return err
			}
			raw, _ := json.Marshal(j)
			b.(*array.StringBuilder).Append(string(raw))
			return nil
		}, nil
	}
	switch f.Type {
	case bigquery.IntegerFieldType:
		return openstage.Int64, func(b array.Builder, v bigquery.Value) error {
			switch x := v.(type) {
			case nil:
				b.AppendNull()
			case int64:
				b.(*array.Int64Builder).Append(x)
			default:
				return unexpected(f, v)
			}
			return nil
		}, nil
	case bigquery.FloatFieldType:
		return openstage.Float64, func(b array.Builder, v bigquery.Value) error {
			switch x := v.(type) {
			case nil:
				b.AppendNull()
			case float64:
				b.(*array.Float64Builder).Append(x)
			default:
				return unexpected(f, v)
			}
			return nil
		}, nil
	case bigquery.BooleanFieldType:
		return openstage.Bool, func(b array.Builder, v bigquery.Value) error {
			switch x := v.(type) {
			case nil:
				b.AppendNull()
			case bool:
				b.(*array.BooleanBuilder).Append(x)
			default:
				return unexpected(f, v)
			}
			return nil
		}, nil
	case bigquery.DateFieldType:
		return openstage.Date, func(b array.Builder, v bigquery.Value) error {
			switch x := v.(type) {
			case nil:
				b.AppendNull()
			case civil.Date:
				b.(*array.Date32Builder).Append(arrow.Date32FromTime(x.In(time.UTC)))
			default:
				return unexpected(f, v)
			}
			return nil
		}, nil
	case bigquery.TimestampFieldType:
		return openstage.Timestamp, func(b array.Builder, v bigquery.Value) error {
			switch x := v.(type) {
			case nil:
				b.AppendNull()
			case time.Time:
				b.(*array.TimestampBuilder).Append(arrow.Timestamp(x.UnixMicro()))
			default:
				return unexpected(f, v)
			}
			return nil
		}, nil
	case bigquery.DateTimeFieldType:
		return openstage.Timestamp, func(b array.Builder, v bigquery.Value) error {
			switch x := v.(type) {
			case nil:
				b.AppendNull()
			case civil.DateTime:
				b.(*array.TimestampBuilder).Append(arrow.Timestamp(x.In(time.UTC).UnixMicro()))
			default:
				return unexpected(f, v)
			}
			return nil
		}, nil
	case bigquery.StringFieldType, bigquery.JSONFieldType, bigquery.GeographyFieldType,
		bigquery.NumericFieldType, bigquery.BigNumericFieldType, bigquery.BytesFieldType,
		bigquery.TimeFieldType, bigquery.IntervalFieldType, bigquery.RangeFieldType:
		return openstage.String, func(b array.Builder, v bigquery.Value) error {
			if v == nil {
				b.AppendNull()
				return nil
			}
			s, err := scalarText(f, v)
			if err != nil {
				return err
			}
			b.(*array.StringBuilder).Append(s)
			return nil
		}, nil
	}
	return nil, nil, fmt.Errorf("column '%s' has BigQuery type %s, which Open-Stage cannot read; leave it out of the query or CAST it (to STRING, for instance)", f.Name, f.Type)
}

func unexpected(f *bigquery.FieldSchema, v bigquery.Value) error {
	return fmt.Errorf("column '%s' (%s): the client returned a %T", f.Name, f.Type, v)
}

// scalarText is the text an Open-Stage string column holds for a BigQuery
// value of a type read as text.
func scalarText(f *bigquery.FieldSchema, v bigquery.Value) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []byte:
		return base64.StdEncoding.EncodeToString(x), nil
	case *big.Rat:
		scale := 9
		if f.Type == bigquery.BigNumericFieldType {
			scale = 38
		}
		return decimalText(x, scale), nil
	case civil.Time:
		return timeText(x), nil
	case *bigquery.IntervalValue:
		return x.String(), nil
	case *bigquery.RangeValue:
		return fmt.Sprintf("[%s, %s)", rangeEnd(x.Start), rangeEnd(x.End)), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return jsonFloat(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	case civil.Date:
		return x.String(), nil
	case civil.DateTime:
		return x.Date.String() + "T" + timeText(x.Time), nil
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05.999999Z07:00"), nil
	}
	return "", unexpected(f, v)
}

func rangeEnd(v bigquery.Value) string {
	if v == nil {
		return "UNBOUNDED"
	}
	s, _ := scalarText(&bigquery.FieldSchema{}, v)
	return s
}

// decimalText writes a NUMERIC/BIGNUMERIC value exactly, without trailing
// zeros: 1.5, -3, 0.000000001.
func decimalText(r *big.Rat, scale int) string {
	s := r.FloatString(scale)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// timeText writes a time of day: 15:04:05, or 15:04:05.25 with a fraction.
func timeText(t civil.Time) string {
	s := fmt.Sprintf("%02d:%02d:%02d", t.Hour, t.Minute, t.Second)
	if us := t.Nanosecond / 1000; us != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%06d", us), "0")
	}
	return s
}

func jsonFloat(x float64) string {
	switch {
	case math.IsNaN(x):
		return "NaN"
	case math.IsInf(x, 1):
		return "Infinity"
	case math.IsInf(x, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

// nestedJSON is the JSON value of a RECORD or REPEATED value: objects with
// the fields' names, arrays, numbers for INT64, FLOAT64, NUMERIC and
// BIGNUMERIC, strings for the others (times as in the package
// documentation), JSON values embedded.
func nestedJSON(f *bigquery.FieldSchema, v bigquery.Value, repeated bool) (any, error) {
	if v == nil {
		return nil, nil
	}
	if repeated {
		list, ok := v.([]bigquery.Value)
		if !ok {
			return nil, unexpected(f, v)
		}
		out := make([]any, len(list))
		for i, item := range list {
			e, err := nestedJSON(f, item, false)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	}
	if f.Type == bigquery.RecordFieldType {
		vals, ok := v.([]bigquery.Value)
		if !ok || len(vals) != len(f.Schema) {
			return nil, unexpected(f, v)
		}
		obj := make(orderedObject, len(vals))
		for i, sub := range f.Schema {
			e, err := nestedJSON(sub, vals[i], sub.Repeated)
			if err != nil {
				return nil, err
			}
			obj[i] = member{sub.Name, e}
		}
		return obj, nil
	}
	switch x := v.(type) {
	case int64:
		return json.Number(strconv.FormatInt(x, 10)), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return jsonFloat(x), nil
		}
		return json.Number(jsonFloat(x)), nil
	case *big.Rat:
		s, _ := scalarText(f, x)
		return json.Number(s), nil
	case bool:
		return x, nil
	case string:
		if f.Type == bigquery.JSONFieldType {
			if json.Valid([]byte(x)) {
				return json.RawMessage(x), nil
			}
		}
		return x, nil
	}
	return scalarText(f, v)
}

// orderedObject is a JSON object that keeps its members in schema order.
type orderedObject []member

type member struct {
	name  string
	value any
}

func (o orderedObject) MarshalJSON() ([]byte, error) {
	buf := []byte{'{'}
	for i, m := range o {
		if i > 0 {
			buf = append(buf, ',')
		}
		k, _ := json.Marshal(m.name)
		buf = append(buf, k...)
		buf = append(buf, ':')
		v, err := json.Marshal(m.value)
		if err != nil {
			return nil, err
		}
		buf = append(buf, v...)
	}
	return append(buf, '}'), nil
}

// Writing: each pipeline column is written into a column of the table,
// whose BigQuery type decides how the value is written in the
// newline-delimited JSON the load job reads.

// newFieldType is the BigQuery type of a column the destination creates.
func newFieldType(t arrow.DataType) (bigquery.FieldType, bool) {
	switch t.ID() {
	case arrow.INT64:
		return bigquery.IntegerFieldType, true
	case arrow.FLOAT64:
		return bigquery.FloatFieldType, true
	case arrow.BOOL:
		return bigquery.BooleanFieldType, true
	case arrow.STRING, arrow.LARGE_STRING:
		return bigquery.StringFieldType, true
	case arrow.DATE32:
		return bigquery.DateFieldType, true
	case arrow.TIMESTAMP:
		return bigquery.TimestampFieldType, true
	}
	return "", false
}

// accepts lists the BigQuery types a column of each Open-Stage type can be
// written into. Text goes into any column: BigQuery parses it.
var accepts = map[arrow.Type][]bigquery.FieldType{
	arrow.INT64:     {bigquery.IntegerFieldType, bigquery.FloatFieldType, bigquery.NumericFieldType, bigquery.BigNumericFieldType, bigquery.StringFieldType},
	arrow.FLOAT64:   {bigquery.FloatFieldType, bigquery.NumericFieldType, bigquery.BigNumericFieldType, bigquery.StringFieldType},
	arrow.BOOL:      {bigquery.BooleanFieldType, bigquery.StringFieldType},
	arrow.DATE32:    {bigquery.DateFieldType, bigquery.DateTimeFieldType, bigquery.TimestampFieldType, bigquery.StringFieldType},
	arrow.TIMESTAMP: {bigquery.TimestampFieldType, bigquery.DateTimeFieldType, bigquery.StringFieldType},
}

// canWrite reports whether a column of type t can be written into field f.
func canWrite(t arrow.DataType, f *bigquery.FieldSchema) bool {
	if t.ID() == arrow.STRING || t.ID() == arrow.LARGE_STRING {
		return f.Type != bigquery.IntervalFieldType && f.Type != bigquery.RangeFieldType
	}
	if f.Repeated || f.Type == bigquery.RecordFieldType {
		return false
	}
	for _, ok := range accepts[t.ID()] {
		if ok == f.Type {
			return true
		}
	}
	return false
}

// jsonWriter appends the JSON value of row i of a column to buf; it
// returns an error for a value BigQuery would refuse (text that must be
// JSON and is not).
type jsonWriter func(buf []byte, col arrow.Array, i int) ([]byte, error)

// writerFor returns how values of type t are written into field f.
func writerFor(t arrow.DataType, f *bigquery.FieldSchema) jsonWriter {
	switch t.ID() {
	case arrow.INT64:
		if f.Type == bigquery.StringFieldType {
			return func(buf []byte, col arrow.Array, i int) ([]byte, error) {
				buf = append(buf, '"')
				buf = strconv.AppendInt(buf, col.(*array.Int64).Value(i), 10)
				return append(buf, '"'), nil
			}
		}
		return func(buf []byte, col arrow.Array, i int) ([]byte, error) {
			return strconv.AppendInt(buf, col.(*array.Int64).Value(i), 10), nil
		}
	case arrow.FLOAT64:
		quoted := f.Type == bigquery.StringFieldType
		return func(buf []byte, col arrow.Array, i int) ([]byte, error) {
			x := col.(*array.Float64).Value(i)
			if math.IsNaN(x) || math.IsInf(x, 0) || quoted {
				return strconv.AppendQuote(buf, jsonFloat(x)), nil
			}
			if f.Type == bigquery.NumericFieldType || f.Type == bigquery.BigNumericFieldType {
				return strconv.AppendFloat(buf, x, 'f', -1, 64), nil
			}
			return strconv.AppendFloat(buf, x, 'g', -1, 64), nil
		}
	case arrow.BOOL:
		quoted := f.Type == bigquery.StringFieldType
		return func(buf []byte, col arrow.Array, i int) ([]byte, error) {
			v := col.(*array.Boolean).Value(i)
			if quoted {
				buf = append(buf, '"')
			}
			buf = strconv.AppendBool(buf, v)
			if quoted {
				buf = append(buf, '"')
			}
			return buf, nil
		}
	case arrow.DATE32:
		layout := "2006-01-02"
		if f.Type == bigquery.DateTimeFieldType || f.Type == bigquery.TimestampFieldType {
			layout = "2006-01-02T00:00:00"
		}
		return func(buf []byte, col arrow.Array, i int) ([]byte, error) {
			buf = append(buf, '"')
			buf = col.(*array.Date32).Value(i).ToTime().AppendFormat(buf, layout)
			return append(buf, '"'), nil
		}
	case arrow.TIMESTAMP:
		unit := t.(*arrow.TimestampType).Unit
		layout := "2006-01-02T15:04:05.999999Z07:00"
		if f.Type == bigquery.DateTimeFieldType {
			layout = "2006-01-02T15:04:05.999999" // the instant's UTC wall time
		}
		return func(buf []byte, col arrow.Array, i int) ([]byte, error) {
			buf = append(buf, '"')
			buf = col.(*array.Timestamp).Value(i).ToTime(unit).UTC().AppendFormat(buf, layout)
			return append(buf, '"'), nil
		}
	case arrow.STRING:
		if f.Repeated || f.Type == bigquery.RecordFieldType || f.Type == bigquery.JSONFieldType {
			return func(buf []byte, col arrow.Array, i int) ([]byte, error) {
				s := col.(*array.String).Value(i)
				if !json.Valid([]byte(s)) {
					return buf, fmt.Errorf("is not JSON text, which column '%s' (%s) needs: %.60q", f.Name, describeField(f), s)
				}
				if f.Type == bigquery.JSONFieldType && !f.Repeated {
					// A JSON column's value: the text, embedded as it is.
					return append(buf, s...), nil
				}
				want := byte('{')
				if f.Repeated {
					want = '['
				}
				if t := strings.TrimSpace(s); t == "null" {
					return append(buf, "null"...), nil
				} else if t == "" || t[0] != want {
					return buf, fmt.Errorf("is not a JSON %s, which column '%s' (%s) needs: %.60q", map[byte]string{'{': "object", '[': "array"}[want], f.Name, describeField(f), s)
				}
				return append(buf, s...), nil
			}
		}
		return func(buf []byte, col arrow.Array, i int) ([]byte, error) {
			return jsontext.AppendString(buf, col.(*array.String).Value(i)), nil
		}
	}
	return nil
}

// describeField writes a field's type as BigQuery's DDL does:
// ARRAY<INT64>, STRUCT<...>.
func describeField(f *bigquery.FieldSchema) string {
	t := string(f.Type)
	if f.Type == bigquery.RecordFieldType {
		t = "STRUCT"
	}
	if f.Repeated {
		return "ARRAY<" + t + ">"
	}
	return t
}
