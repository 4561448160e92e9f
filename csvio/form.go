package csvio

import (
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// A text form records how the values of a column were written in the file
// they were read from, so that writing them again gives the same text:
// the number of decimals of a price column, the spelling of booleans, the
// separator, fraction and zone of timestamps. InferSchema puts the form of
// each typed column in the schema's metadata under FormKey+name;
// CSVDestination (and NewWriter) writes columns that carry a form in that
// form, and others in the default form described at Writer. Schema metadata
// (not field metadata) is used so that schemas compare equal with or
// without it; stages that pass the schema on keep it.
//
// The form of an int64 column is "int": the column was inferred from
// integers written without leading zeros or a plus sign, and the reader
// refuses such a value later in the file (it would not be written back the
// same) instead of converting it.
const FormKey = "openstage:form:"

// form is the parsed text form of one column. The zero value is the
// default form.
type form struct {
	strictInt bool   // int64: refuse non-canonical integers (inferred column)
	decimals  int    // float64: fixed decimals when > 0
	repr      bool   // float64: as Python's repr (pandas, Polars, DuckDB write so): 1977.0, 1e-05
	boolCase  uint8  // bool: 0 lower (true), 1 upper (TRUE), 2 title (True)
	ts        tsForm // timestamp
	hasTS     bool
}

// tsForm is the text shape of a timestamp column.
type tsForm struct {
	sep     byte // 'T' or ' '
	seconds bool
	frac    int // -1: as many digits as needed (none when zero); 0..9: that many
	zone    uint8
	offset  int32 // minutes east of UTC written for zoneColon/zoneNoColon
}

const (
	boolLower = 0
	boolUpper = 1
	boolTitle = 2
)

// String renders a form for the schema metadata.
func (t tsForm) String() string {
	var b strings.Builder
	b.WriteString("ts:")
	if t.sep == ' ' {
		b.WriteString("space")
	} else {
		b.WriteString("T")
	}
	if !t.seconds {
		b.WriteString(",nosec")
	}
	b.WriteString(",frac=")
	b.WriteString(strconv.Itoa(t.frac))
	switch t.zone {
	case zoneZ:
		b.WriteString(",zone=Z")
	case zoneColon:
		b.WriteString(",zone=colon,offset=" + strconv.Itoa(int(t.offset)))
	case zoneNoColon:
		b.WriteString(",zone=plain,offset=" + strconv.Itoa(int(t.offset)))
	}
	return b.String()
}

func parseTSForm(s string) (tsForm, bool) {
	t := tsForm{sep: 'T', seconds: true}
	parts := strings.Split(s, ",")
	if len(parts) == 0 {
		return t, false
	}
	switch parts[0] {
	case "T":
	case "space":
		t.sep = ' '
	default:
		return t, false
	}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(p, "=")
		switch k {
		case "nosec":
			t.seconds = false
		case "frac":
			n, err := strconv.Atoi(v)
			if err != nil || n < -1 || n > 9 {
				return t, false
			}
			t.frac = n
		case "zone":
			switch v {
			case "Z":
				t.zone = zoneZ
			case "colon":
				t.zone = zoneColon
			case "plain":
				t.zone = zoneNoColon
			default:
				return t, false
			}
		case "offset":
			n, err := strconv.Atoi(v)
			if err != nil || n < -24*60 || n > 24*60 {
				return t, false
			}
			t.offset = int32(n)
		default:
			return t, false
		}
	}
	return t, true
}

// formText renders the form of a column of kind k, "" for the default.
func formText(k colKind, f form) string {
	switch k {
	case kInt64:
		if f.strictInt {
			return "int"
		}
	case kFloat64:
		if f.decimals > 0 {
			return "decimals:" + strconv.Itoa(f.decimals)
		}
		if f.repr {
			return "repr"
		}
	case kBool:
		switch f.boolCase {
		case boolUpper:
			return "bool:upper"
		case boolTitle:
			return "bool:title"
		}
	case kTimestamp:
		if f.hasTS {
			return f.ts.String()
		}
	}
	return ""
}

// parseForm reads the form of a column of kind k; anything unknown or of
// another kind is the default form.
func parseForm(k colKind, s string) form {
	var f form
	kind, rest, _ := strings.Cut(s, ":")
	switch {
	case k == kInt64 && s == "int":
		f.strictInt = true
	case k == kFloat64 && s == "repr":
		f.repr = true
	case k == kFloat64 && kind == "decimals":
		if n, err := strconv.Atoi(rest); err == nil && n > 0 && n <= 17 {
			f.decimals = n
		}
	case k == kBool && s == "bool:upper":
		f.boolCase = boolUpper
	case k == kBool && s == "bool:title":
		f.boolCase = boolTitle
	case k == kTimestamp && kind == "ts":
		f.ts, f.hasTS = parseTSForm(rest)
	}
	return f
}

// schemaForms returns the form of every column of schema.
func schemaForms(schema *arrow.Schema, kinds []colKind) []form {
	forms := make([]form, len(kinds))
	md := schema.Metadata()
	if md.Len() == 0 {
		return forms
	}
	for i, f := range schema.Fields() {
		if j := md.FindKey(FormKey + f.Name); j >= 0 {
			forms[i] = parseForm(kinds[i], md.Values()[j])
		}
	}
	return forms
}

// canonicalInt reports whether b is an integer as the writer writes it:
// no plus sign, no leading zero, no "-0".
func canonicalInt(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if b[0] == '+' {
		return false
	}
	d := b
	if d[0] == '-' {
		d = d[1:]
		if len(d) == 1 && d[0] == '0' {
			return false
		}
	}
	return len(d) > 0 && (d[0] != '0' || len(d) == 1)
}

// appendFixed appends v with exactly n decimals when that text reads back
// as v, else the shortest text that does (appendFloat).
func appendFixed(dst []byte, v float64, n int) []byte {
	if n <= 0 || n >= len(pow10tab) || v != v || math.IsInf(v, 0) {
		return appendFloat(dst, v)
	}
	p := pow10tab[n]
	r := math.Round(v * p)
	// r/p is a correctly rounded division of two exact values, so when it
	// equals v the n-decimal text r/10^n reads back as v.
	if math.Abs(r) >= 1<<53 || r/p != v {
		return appendFloat(dst, v)
	}
	if r == 0 && math.Signbit(v) {
		dst = append(dst, '-')
	}
	ir := int64(r)
	if ir < 0 {
		dst = append(dst, '-')
		ir = -ir
	}
	q := uint64(ir) / pow10u64[n]
	rem := uint64(ir) % pow10u64[n]
	dst = appendInt(dst, int64(q))
	dst = append(dst, '.')
	for d := n - 1; d >= 0; d-- {
		dst = append(dst, byte('0'+rem/pow10u64[d]%10))
	}
	return dst
}

// appendRepr appends v as Python's repr does: the shortest digits, in
// exponent notation below 1e-4 and from 1e16 on, else with at least one
// decimal (1977.0); nan, inf, -inf.
func appendRepr(dst []byte, v float64) []byte {
	switch {
	case v != v:
		return append(dst, "nan"...)
	case math.IsInf(v, 1):
		return append(dst, "inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-inf"...)
	}
	a := math.Abs(v)
	if a != 0 && (a < 1e-4 || a >= 1e16) {
		return strconv.AppendFloat(dst, v, 'e', -1, 64)
	}
	n := len(dst)
	dst = appendFloat(dst, v)
	for _, c := range dst[n:] {
		if c == '.' {
			return dst
		}
	}
	return append(dst, '.', '0')
}

// appendBoolForm appends v in the spelling of case c.
func appendBoolForm(dst []byte, v bool, c uint8) []byte {
	switch {
	case c == boolUpper && v:
		return append(dst, "TRUE"...)
	case c == boolUpper:
		return append(dst, "FALSE"...)
	case c == boolTitle && v:
		return append(dst, "True"...)
	case c == boolTitle:
		return append(dst, "False"...)
	case v:
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}

// appendTimestampForm appends us (microseconds, UTC) in form f. A value
// that the form cannot hold exactly (seconds in a form without them, more
// fraction digits than the form's) gets the digits it needs.
func appendTimestampForm(dst []byte, us int64, f *tsForm) ([]byte, bool) {
	local := us
	if f.zone == zoneColon || f.zone == zoneNoColon {
		local += int64(f.offset) * 60 * 1000000
	}
	days := local / usPerDay
	rem := local % usPerDay
	if rem < 0 {
		rem += usPerDay
		days--
	}
	dst, ok := appendDate(dst, days)
	if !ok {
		return dst, false
	}
	secs := int(rem / 1000000)
	frac := int(rem % 1000000)
	h, mi, s := secs/3600, secs/60%60, secs%60
	dst = append(dst, f.sep,
		byte('0'+h/10), byte('0'+h%10), ':',
		byte('0'+mi/10), byte('0'+mi%10))
	if f.seconds || s != 0 || frac != 0 {
		dst = append(dst, ':', byte('0'+s/10), byte('0'+s%10))
	}
	digits := f.frac
	if digits < 0 || (frac != 0 && digits < 6) {
		// The digits the value needs.
		need := 0
		if frac != 0 {
			need = 6
			for x := frac; x%10 == 0; x /= 10 {
				need--
			}
		}
		if digits < 0 || need > digits {
			digits = need
		}
	}
	if digits > 0 {
		dst = append(dst, '.')
		x := frac
		for d := 0; d < digits; d++ {
			if d < 6 {
				dst = append(dst, byte('0'+x/100000%10))
				x = x % 100000 * 10
			} else {
				dst = append(dst, '0')
			}
		}
	}
	switch f.zone {
	case zoneZ:
		dst = append(dst, 'Z')
	case zoneColon, zoneNoColon:
		off := f.offset
		if off < 0 {
			dst = append(dst, '-')
			off = -off
		} else {
			dst = append(dst, '+')
		}
		oh, om := off/60, off%60
		dst = append(dst, byte('0'+oh/10), byte('0'+oh%10))
		if f.zone == zoneColon {
			dst = append(dst, ':')
		}
		dst = append(dst, byte('0'+om/10), byte('0'+om%10))
	}
	return dst, true
}

// canonicalAt reports whether the integer fastInt parsed at buf[pos] is
// canonical (see canonicalInt); buf holds at least its terminator after it.
func canonicalAt(buf []byte, pos int) bool {
	c := buf[pos]
	if c == '-' {
		return buf[pos+1] != '0'
	}
	return c != '0' || pos+1 >= len(buf) || buf[pos+1]-'0' > 9
}
