package bqtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"

	bq "google.golang.org/api/bigquery/v2"
)

// Values exist in three forms here:
//
//   - the stored form, a SQLite value: int64 (INTEGER, BOOLEAN 0/1),
//     float64 (FLOAT; NUMERIC of at most 15 significant digits), []byte
//     (BYTES; NUMERIC of more digits, as decimal text, so that SQLite does
//     not round it), string (everything else, in a canonical text form that
//     sorts like the values: "2025-01-02 03:04:05.000000"), and for RECORD
//     and REPEATED fields JSON text whose leaves are text forms;
//   - the text form of a scalar: the canonical string a stored value stands
//     for ("42", "true", "2025-01-02 03:04:05.000000", base64 for BYTES);
//   - the REST form: what rows[].f[].v carries, a string for scalars
//     (TIMESTAMP as microseconds or float seconds, DATETIME with a T),
//     {"f": [...]} for records and [{"v": ...}] for repeated fields.

// convError is a value that does not fit its field, in the service's words.
type convError struct{ msg string }

func (e *convError) Error() string { return e.msg }

func convErr(format string, args ...any) error { return &convError{fmt.Sprintf(format, args...)} }

// storedFromJSON converts a value of a load row (decoded with UseNumber) to
// the stored form of field f.
func storedFromJSON(f *bq.TableFieldSchema, v any, ignoreUnknown bool) (any, error) {
	if f.Mode == "REPEATED" || f.Type == "RECORD" {
		n, err := nestedFromJSON(f, v, ignoreUnknown)
		if err != nil || n == nil {
			return nil, err
		}
		b, _ := json.Marshal(n)
		return string(b), nil
	}
	if v == nil {
		if f.Mode == "REQUIRED" {
			return nil, convErr("Missing required field: %s.", f.Name)
		}
		return nil, nil
	}
	text, err := textFromJSON(f, v)
	if err != nil {
		return nil, err
	}
	return storedFromText(f, text)
}

// nestedFromJSON converts a RECORD or REPEATED value to its JSON-text form
// (leaves as text forms), checking it against f.
func nestedFromJSON(f *bq.TableFieldSchema, v any, ignoreUnknown bool) (any, error) {
	if f.Mode == "REPEATED" {
		if v == nil {
			return []any{}, nil
		}
		list, ok := v.([]any)
		if !ok {
			return nil, convErr("Repeated field must be imported as a JSON array. Field: %s.", f.Name)
		}
		elem := *f
		elem.Mode = "REQUIRED"
		out := make([]any, len(list))
		for i, item := range list {
			if item == nil {
				return nil, convErr("Only optional fields can be set to NULL. Field: %s; Value: NULL", f.Name)
			}
			e, err := nestedFromJSON(&elem, item, ignoreUnknown)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	}
	if v == nil {
		if f.Mode == "REQUIRED" {
			return nil, convErr("Missing required field: %s.", f.Name)
		}
		return nil, nil
	}
	if f.Type == "RECORD" {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, convErr("JSON parsing error: expected a JSON object for record field %s.", f.Name)
		}
		out := map[string]any{}
		for k := range obj {
			if findField(f.Fields, k) == nil && !ignoreUnknown {
				return nil, convErr("No such field: %s.%s.", f.Name, k)
			}
		}
		for _, sub := range f.Fields {
			val, _ := lookupKey(obj, sub.Name)
			n, err := nestedFromJSON(sub, val, ignoreUnknown)
			if err != nil {
				return nil, err
			}
			out[sub.Name] = n
		}
		return out, nil
	}
	return textFromJSON(f, v)
}

func findField(fs []*bq.TableFieldSchema, name string) *bq.TableFieldSchema {
	for _, f := range fs {
		if strings.EqualFold(f.Name, name) {
			return f
		}
	}
	return nil
}

// lookupKey finds a JSON object's key without regard to case, as column
// names in BigQuery are.
func lookupKey(obj map[string]any, name string) (any, bool) {
	if v, ok := obj[name]; ok {
		return v, true
	}
	for k, v := range obj {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// textFromJSON converts a scalar JSON value to the text form of f's type.
func textFromJSON(f *bq.TableFieldSchema, v any) (string, error) {
	switch x := v.(type) {
	case map[string]any:
		if f.Type == "JSON" {
			b, _ := json.Marshal(x)
			return string(b), nil
		}
		return "", convErr("JSON object specified for non-record field: %s", f.Name)
	case []any:
		if f.Type == "JSON" {
			b, _ := json.Marshal(x)
			return string(b), nil
		}
		return "", convErr("Array specified for non-repeated field: %s.", f.Name)
	case bool:
		switch f.Type {
		case "BOOLEAN":
			return strconv.FormatBool(x), nil
		case "JSON", "STRING":
			return strconv.FormatBool(x), nil
		}
		return "", convErr("Could not convert value 'bool_value: %t' to %s. Field: %s; Value: %t", x, typeWord(f.Type), f.Name, x)
	case json.Number:
		if f.Type == "TIMESTAMP" {
			secs, err := strconv.ParseFloat(string(x), 64)
			if err != nil {
				return "", convErr("Couldn't convert value to timestamp: %s. Field: %s; Value: %s", x, f.Name, x)
			}
			t := time.UnixMicro(int64(math.Round(secs * 1e6))).UTC()
			return t.Format(tsLayout), nil
		}
		if f.Type == "BOOLEAN" || f.Type == "BYTES" || f.Type == "DATE" || f.Type == "TIME" || f.Type == "DATETIME" || f.Type == "GEOGRAPHY" {
			return "", convErr("Could not convert value 'double_value: %s' to %s. Field: %s; Value: %s", x, typeWord(f.Type), f.Name, x)
		}
		return textFromString(f, string(x))
	case string:
		if f.Type == "JSON" {
			b, _ := json.Marshal(x)
			return string(b), nil
		}
		return textFromString(f, x)
	}
	return "", convErr("Unexpected JSON value for field %s", f.Name)
}

func typeWord(t string) string {
	switch t {
	case "INTEGER":
		return "integer"
	case "FLOAT":
		return "double"
	case "BOOLEAN":
		return "bool"
	}
	return strings.ToLower(t)
}

const (
	tsLayout   = "2006-01-02 15:04:05.000000"
	timeLayout = "15:04:05.000000"
	dateLayout = "2006-01-02"
)

var (
	datetimeRe = regexp.MustCompile(`^(\d{4}-\d{1,2}-\d{1,2})(?:[T ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?)?$`)
	timeRe     = regexp.MustCompile(`^(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?$`)
	tsRe       = regexp.MustCompile(`^(\d{4}-\d{1,2}-\d{1,2})(?:[T ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?)?\s*(Z|z|UTC|[+-]\d{1,2}(?::?\d{2})?)?$`)
	intRe      = regexp.MustCompile(`^[+-]?\d+$`)
	numericRe  = regexp.MustCompile(`^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$`)
)

// textFromString parses a string as a value of f's type and returns its
// text form, or the service's conversion error.
func textFromString(f *bq.TableFieldSchema, s string) (string, error) {
	bad := func(what string) error {
		return convErr("Could not convert value 'string_value: \"%s\"' to %s. Field: %s; Value: %s", s, what, f.Name, s)
	}
	switch f.Type {
	case "STRING", "GEOGRAPHY":
		return s, nil
	case "JSON":
		if !json.Valid([]byte(s)) {
			return "", convErr("Invalid JSON value. Field: %s; Value: %s", f.Name, s)
		}
		return s, nil
	case "INTEGER":
		t := strings.TrimSpace(s)
		if !intRe.MatchString(t) {
			return "", bad("integer")
		}
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return "", convErr("Value %s is out of range for INT64. Field: %s", s, f.Name)
		}
		return strconv.FormatInt(n, 10), nil
	case "FLOAT":
		t := strings.TrimSpace(s)
		x, err := strconv.ParseFloat(t, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return "", bad("double")
		}
		return formatFloat(x), nil
	case "NUMERIC":
		return canonicalDecimal(f, s, 29, 9)
	case "BIGNUMERIC":
		return canonicalDecimal(f, s, 38, 38)
	case "BOOLEAN":
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true", "1":
			return "true", nil
		case "false", "0":
			return "false", nil
		}
		return "", bad("bool")
	case "BYTES":
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return "", convErr("Could not decode base64 string to bytes. Field: %s; Value: %s", f.Name, s)
		}
		return base64.StdEncoding.EncodeToString(b), nil
	case "DATE":
		if t, err := time.Parse(dateLayout, s); err == nil {
			return t.Format(dateLayout), nil
		}
		t, err := time.Parse("2006-1-2", strings.TrimSpace(s))
		if err != nil {
			return "", convErr("Invalid date string \"%s\" Field: %s; Value: %s", s, f.Name, s)
		}
		return t.Format(dateLayout), nil
	case "DATETIME":
		// The common spellings first, without the regular expressions.
		for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.Truncate(time.Microsecond).Format(tsLayout), nil
			}
		}
		t, ok := parseCivil(datetimeRe, strings.TrimSpace(s))
		if !ok {
			return "", convErr("Invalid datetime string \"%s\" Field: %s; Value: %s", s, f.Name, s)
		}
		return t.Format(tsLayout), nil
	case "TIME":
		m := timeRe.FindStringSubmatch(strings.TrimSpace(s))
		if m == nil {
			return "", convErr("Invalid time string \"%s\" Field: %s; Value: %s", s, f.Name, s)
		}
		t, ok := clock(m[1], m[2], m[3], m[4])
		if !ok {
			return "", convErr("Invalid time string \"%s\" Field: %s; Value: %s", s, f.Name, s)
		}
		return t.Format(timeLayout), nil
	case "TIMESTAMP":
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil && t.Year() >= 1 && t.Year() <= 9999 {
			return t.UTC().Truncate(time.Microsecond).Format(tsLayout), nil
		}
		t, ok := parseTimestamp(strings.TrimSpace(s))
		if !ok {
			return "", convErr("Couldn't convert value to timestamp: Could not parse '%s' as a timestamp. Required format is YYYY-MM-DD HH:MM[:SS[.SSSSSS]] or YYYY/MM/DD HH:MM[:SS[.SSSSSS]] Field: %s; Value: %s", s, f.Name, s)
		}
		return t.Format(tsLayout), nil
	}
	return "", convErr("bqtest cannot load values of type %s (field %s)", f.Type, f.Name)
}

// parseCivil parses a date with an optional time of day.
func parseCivil(re *regexp.Regexp, s string) (time.Time, bool) {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	d, err := time.Parse("2006-1-2", m[1])
	if err != nil {
		return time.Time{}, false
	}
	if m[2] == "" {
		return d, true
	}
	c, ok := clock(m[2], m[3], m[4], m[5])
	if !ok {
		return time.Time{}, false
	}
	return time.Date(d.Year(), d.Month(), d.Day(), c.Hour(), c.Minute(), c.Second(), c.Nanosecond(), time.UTC), true
}

// clock builds a time of day (on 0000-01-01 UTC) from its parts.
func clock(h, m, sec, frac string) (time.Time, bool) {
	hh, _ := strconv.Atoi(h)
	mm, _ := strconv.Atoi(m)
	ss := 0
	if sec != "" {
		ss, _ = strconv.Atoi(sec)
	}
	if hh > 23 || mm > 59 || ss > 59 {
		return time.Time{}, false
	}
	us := 0
	if frac != "" {
		frac = (frac + "000000")[:6] // microseconds; more digits are cut
		us, _ = strconv.Atoi(frac)
	}
	return time.Date(0, 1, 1, hh, mm, ss, us*1000, time.UTC), true
}

func parseTimestamp(s string) (time.Time, bool) {
	m := tsRe.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	t, ok := parseCivil(datetimeRe, strings.TrimSpace(strings.TrimSuffix(s, m[6])))
	if !ok {
		return time.Time{}, false
	}
	switch z := m[6]; {
	case z == "" || z == "Z" || z == "z" || z == "UTC":
	default:
		sign := 1
		if z[0] == '-' {
			sign = -1
		}
		z = strings.ReplaceAll(z[1:], ":", "")
		var hh, mm int
		switch len(z) {
		case 1, 2:
			hh, _ = strconv.Atoi(z)
		case 3, 4:
			hh, _ = strconv.Atoi(z[:len(z)-2])
			mm, _ = strconv.Atoi(z[len(z)-2:])
		}
		if hh > 14 || mm > 59 {
			return time.Time{}, false
		}
		t = t.Add(-time.Duration(sign) * (time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute))
	}
	if t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// canonicalDecimal checks a NUMERIC/BIGNUMERIC value (at most intDigits
// digits before the point; more than scale digits after it are rounded half
// away from zero, as the service does) and returns it without exponent,
// leading zeros or trailing zeros.
func canonicalDecimal(f *bq.TableFieldSchema, s string, intDigits, scale int) (string, error) {
	t := strings.TrimSpace(s)
	m := numericRe.FindStringSubmatch(t)
	if m == nil || m[2] == "" && m[3] == "" {
		return "", convErr("Invalid %s value: %s Field: %s; Value: %s", f.Type, s, f.Name, s)
	}
	r, ok := new(big.Rat).SetString(t)
	if !ok {
		return "", convErr("Invalid %s value: %s Field: %s; Value: %s", f.Type, s, f.Name, s)
	}
	// Round to scale digits, half away from zero.
	pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	num := new(big.Int).Mul(r.Num(), pow)
	q, rem := new(big.Int).QuoRem(num, r.Denom(), new(big.Int))
	if new(big.Int).Mul(new(big.Int).Abs(rem), big.NewInt(2)).Cmp(r.Denom()) >= 0 {
		if r.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	digits := new(big.Int).Abs(q).String()
	neg := q.Sign() < 0
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	ip, fp := digits[:len(digits)-scale], strings.TrimRight(digits[len(digits)-scale:], "0")
	if len(ip) > intDigits {
		return "", convErr("Invalid %s value: %s Field: %s; Value: %s (out of range)", f.Type, s, f.Name, s)
	}
	out := ip
	if fp != "" {
		out += "." + fp
	}
	if neg {
		out = "-" + out
	}
	return out, nil
}

func formatFloat(x float64) string {
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

// storedFromText converts a text form to the stored form of a scalar field.
func storedFromText(f *bq.TableFieldSchema, text string) (any, error) {
	switch f.Type {
	case "INTEGER":
		return strconv.ParseInt(text, 10, 64)
	case "BOOLEAN":
		if text == "true" {
			return int64(1), nil
		}
		return int64(0), nil
	case "FLOAT":
		return strconv.ParseFloat(text, 64)
	case "BYTES":
		return base64.StdEncoding.DecodeString(text)
	case "NUMERIC", "BIGNUMERIC":
		if significantDigits(text) <= 15 {
			x, err := strconv.ParseFloat(text, 64)
			if err == nil {
				return x, nil
			}
		}
		return []byte(text), nil // kept exact; see the package limits
	}
	return text, nil
}

func significantDigits(dec string) int {
	d := strings.Trim(strings.NewReplacer("-", "", ".", "").Replace(dec), "0")
	return len(d)
}

// textFromStored converts a stored value of a scalar field to its text form.
func textFromStored(f *bq.TableFieldSchema, v any) string {
	switch f.Type {
	case "BOOLEAN":
		switch x := v.(type) {
		case int64:
			return strconv.FormatBool(x != 0)
		case float64:
			return strconv.FormatBool(x != 0)
		}
	case "BYTES":
		if b, ok := v.([]byte); ok {
			return base64.StdEncoding.EncodeToString(b)
		}
	case "NUMERIC", "BIGNUMERIC":
		switch x := v.(type) {
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1e15 {
				return strconv.FormatInt(int64(x), 10)
			}
			return strconv.FormatFloat(x, 'f', -1, 64)
		case []byte:
			return string(x)
		}
	}
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return formatFloat(x)
	case []byte:
		return string(x)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// restFromText converts a text form to the string rows[].f[].v carries.
func restFromText(typ, text string, int64ts bool) string {
	switch typ {
	case "TIMESTAMP":
		t, err := time.Parse(tsLayout, text)
		if err != nil {
			return text
		}
		if int64ts {
			return strconv.FormatInt(t.UnixMicro(), 10)
		}
		return floatSeconds(t.UnixMicro())
	case "DATETIME":
		if len(text) > 10 && text[10] == ' ' {
			return trimFraction(text[:10] + "T" + text[11:])
		}
	case "TIME":
		return trimFraction(text)
	}
	return text
}

// floatSeconds writes microseconds since the epoch as the service's
// floating-point seconds: 1.7040672E9.
func floatSeconds(us int64) string {
	s := strconv.FormatFloat(float64(us)/1e6, 'E', -1, 64)
	mant, exp, _ := strings.Cut(s, "E")
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

func trimFraction(s string) string {
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	return s
}

// cellWriter writes rows[].f[].v values, by field schema.
type cellWriter struct {
	buf     *bytes.Buffer
	int64ts bool
}

// writeStored writes the REST form of a stored value of field f.
func (w *cellWriter) writeStored(f *bq.TableFieldSchema, v any) {
	if v == nil {
		w.buf.WriteString("null")
		return
	}
	if f.Mode == "REPEATED" || f.Type == "RECORD" {
		var n any
		text, ok := v.(string)
		if !ok || json.Unmarshal([]byte(text), &n) != nil {
			w.buf.WriteString("null")
			return
		}
		w.writeNested(f, n)
		return
	}
	w.writeString(restFromText(f.Type, textFromStored(f, v), w.int64ts))
}

func (w *cellWriter) writeNested(f *bq.TableFieldSchema, n any) {
	if n == nil {
		w.buf.WriteString("null")
		return
	}
	if f.Mode == "REPEATED" {
		list, _ := n.([]any)
		elem := *f
		elem.Mode = "REQUIRED"
		w.buf.WriteByte('[')
		for i, item := range list {
			if i > 0 {
				w.buf.WriteByte(',')
			}
			w.buf.WriteString(`{"v":`)
			w.writeNested(&elem, item)
			w.buf.WriteByte('}')
		}
		w.buf.WriteByte(']')
		return
	}
	if f.Type == "RECORD" {
		obj, _ := n.(map[string]any)
		w.buf.WriteString(`{"f":[`)
		for i, sub := range f.Fields {
			if i > 0 {
				w.buf.WriteByte(',')
			}
			w.buf.WriteString(`{"v":`)
			w.writeNested(sub, obj[sub.Name])
			w.buf.WriteByte('}')
		}
		w.buf.WriteString(`]}`)
		return
	}
	text, _ := n.(string)
	w.writeString(restFromText(f.Type, text, w.int64ts))
}

func (w *cellWriter) writeString(s string) {
	b, _ := json.Marshal(s)
	w.buf.Write(b)
}

// writeRows writes a JSON array of rows, each {"f":[{"v":...},...]}.
func (w *cellWriter) writeRows(schema []*bq.TableFieldSchema, rows [][]any) {
	w.buf.WriteByte('[')
	for i, row := range rows {
		if i > 0 {
			w.buf.WriteByte(',')
		}
		w.buf.WriteString(`{"f":[`)
		for j, f := range schema {
			if j > 0 {
				w.buf.WriteByte(',')
			}
			w.buf.WriteString(`{"v":`)
			w.writeStored(f, row[j])
			w.buf.WriteByte('}')
		}
		w.buf.WriteString(`]}`)
	}
	w.buf.WriteByte(']')
}
