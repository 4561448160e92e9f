package csvio

import (
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

// bytesString views b as a string without copying. The result must not be
// retained after b changes.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// parseInt64 parses [+-]?[0-9]+ exactly like strconv.ParseInt(s, 10, 64).
// overflow reports a syntactically valid integer outside the int64 range.
func parseInt64(b []byte) (v int64, ok, overflow bool) {
	n := len(b)
	if n == 0 {
		return 0, false, false
	}
	i := 0
	neg := false
	if b[0] == '-' || b[0] == '+' {
		neg = b[0] == '-'
		i = 1
		if n == 1 {
			return 0, false, false
		}
	}
	if n-i > 18 {
		return parseInt64Slow(b)
	}
	var u uint64
	for ; i < n; i++ {
		c := b[i] - '0'
		if c > 9 {
			return 0, false, false
		}
		u = u*10 + uint64(c)
	}
	if neg {
		return -int64(u), true, false
	}
	return int64(u), true, false
}

func parseInt64Slow(b []byte) (int64, bool, bool) {
	v, err := strconv.ParseInt(bytesString(b), 10, 64)
	if err == nil {
		return v, true, false
	}
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
		return 0, false, true
	}
	return 0, false, false
}

// isIntSyntax reports whether b is [+-]?[0-9]+.
func isIntSyntax(b []byte) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c-'0' > 9 {
			return false
		}
	}
	return true
}

var pow10tab = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat64 returns exactly what strconv.ParseFloat(s, 64) returns, with
// a fast path for plain decimals ([+-]?digits[.digits]) of at most 19
// significant digits: when the digits fit in 53 bits and there are at most 22
// fraction digits, mantissa/10^k is a single correctly rounded division of two
// exact values, hence identical to strconv's result. Everything else goes to
// strconv.
func parseFloat64(b []byte) (float64, bool) {
	n := len(b)
	i := 0
	neg := false
	if n > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		i = 1
	}
	var m uint64
	start := i
	for ; i < n; i++ {
		c := b[i] - '0'
		if c > 9 {
			break
		}
		m = m*10 + uint64(c)
	}
	digits := i - start
	frac := 0
	if i < n && b[i] == '.' {
		i++
		fs := i
		for ; i < n; i++ {
			c := b[i] - '0'
			if c > 9 {
				break
			}
			m = m*10 + uint64(c)
		}
		frac = i - fs
		digits += frac
	}
	if i == n && digits > 0 && digits <= 19 && m <= 1<<53 && frac <= 22 {
		f := float64(m)
		if frac > 0 {
			f /= pow10tab[frac]
		}
		if neg {
			f = -f
		}
		return f, true
	}
	// On ErrRange strconv returns ±Inf or ±0 with the error: the text is a
	// number that float64 cannot hold; it is refused rather than changed.
	f, err := strconv.ParseFloat(bytesString(b), 64)
	return f, err == nil
}

// parseBool accepts true/false in any case, and 1/0 when loose.
func parseBool(b []byte, loose bool) (v, ok bool) {
	switch len(b) {
	case 1:
		if loose {
			switch b[0] {
			case '1':
				return true, true
			case '0':
				return false, true
			}
		}
	case 4:
		if b[0]|0x20 == 't' && b[1]|0x20 == 'r' && b[2]|0x20 == 'u' && b[3]|0x20 == 'e' {
			return true, true
		}
	case 5:
		if b[0]|0x20 == 'f' && b[1]|0x20 == 'a' && b[2]|0x20 == 'l' && b[3]|0x20 == 's' && b[4]|0x20 == 'e' {
			return false, true
		}
	}
	return false, false
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

var monthDays = [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// daysFromCivil returns days since 1970-01-01 of a proleptic Gregorian date.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := m + 9
	if m > 2 {
		mp = m - 3
	}
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int64) (y, m, d int) {
	z += 719468
	era := z
	if era < 0 {
		era -= 146096
	}
	era /= 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	yy := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	if m <= 2 {
		yy++
	}
	return int(yy), m, d
}

func digits2(b []byte) (int, bool) {
	d0, d1 := b[0]-'0', b[1]-'0'
	if d0 > 9 || d1 > 9 {
		return 0, false
	}
	return int(d0)*10 + int(d1), true
}

// parseDateParts parses YYYY-MM-DD at the start of b (which has >= 10 bytes).
func parseDateParts(b []byte) (int64, bool) {
	if b[4] != '-' || b[7] != '-' {
		return 0, false
	}
	y1, ok1 := digits2(b[0:2])
	y2, ok2 := digits2(b[2:4])
	m, ok3 := digits2(b[5:7])
	d, ok4 := digits2(b[8:10])
	if !(ok1 && ok2 && ok3 && ok4) || m < 1 || m > 12 || d < 1 {
		return 0, false
	}
	y := y1*100 + y2
	md := monthDays[m]
	if m == 2 && isLeap(y) {
		md = 29
	}
	if d > md {
		return 0, false
	}
	return daysFromCivil(y, m, d), true
}

// parseDate32 parses YYYY-MM-DD into days since the epoch.
func parseDate32(b []byte) (int32, bool) {
	if len(b) != 10 {
		return 0, false
	}
	v, ok := parseDateParts(b)
	return int32(v), ok
}

const usPerDay = 86400 * 1000000

// parseTimestamp parses YYYY-MM-DD, optionally followed by [T or space]
// HH:MM, optional :SS, an optional fraction of 1-9 digits after the seconds
// (digits past the sixth must be zero: the unit is the microsecond) and an
// optional zone Z or ±HH:MM (or ±HHMM). No zone means UTC. The result is
// microseconds since the epoch, UTC.
func parseTimestamp(b []byte) (int64, bool) {
	t, ok := parseTimestampParts(b)
	return t.us, ok
}

// Zone styles of a timestamp's text.
const (
	zoneNone    = iota // no zone: read as UTC
	zoneZ              // Z
	zoneColon          // ±HH:MM
	zoneNoColon        // ±HHMM
)

// tsParts is a parsed timestamp and the shape of its text.
type tsParts struct {
	us       int64
	dateOnly bool
	sep      byte // 'T' or ' '
	seconds  bool
	frac     int  // fraction digits written (0: none)
	fracTrim bool // the fraction has no trailing zero (or there is none)
	zone     uint8
	offset   int32 // minutes east of UTC (zoneColon, zoneNoColon)
}

func parseTimestampParts(b []byte) (t tsParts, ok bool) {
	n := len(b)
	if n < 10 {
		return t, false
	}
	days, ok := parseDateParts(b)
	if !ok {
		return t, false
	}
	t.us = days * usPerDay
	t.fracTrim = true
	if n == 10 {
		t.dateOnly = true
		return t, true
	}
	if n < 16 || (b[10] != 'T' && b[10] != ' ') || b[13] != ':' {
		return t, false
	}
	t.sep = b[10]
	hh, ok1 := digits2(b[11:13])
	mm, ok2 := digits2(b[14:16])
	if !(ok1 && ok2) || hh > 23 || mm > 59 {
		return t, false
	}
	ss := 0
	i := 16
	if i < n && b[i] == ':' {
		if n < 19 {
			return t, false
		}
		var ok3 bool
		ss, ok3 = digits2(b[17:19])
		if !ok3 || ss > 59 {
			return t, false
		}
		t.seconds = true
		i = 19
	}
	t.us += int64(hh*3600+mm*60+ss) * 1000000
	if t.seconds && i < n && b[i] == '.' {
		i++
		fs := i
		var frac int64
		for i < n && b[i]-'0' <= 9 {
			if i-fs < 6 {
				frac = frac*10 + int64(b[i]-'0')
			} else if b[i] != '0' {
				return t, false // sub-microsecond precision would be lost
			}
			i++
		}
		nd := i - fs
		if nd == 0 || nd > 9 {
			return t, false
		}
		t.frac = nd
		t.fracTrim = b[i-1] != '0'
		for k := nd; k < 6; k++ {
			frac *= 10
		}
		t.us += frac
	}
	if i == n {
		return t, true
	}
	switch b[i] {
	case 'Z':
		t.zone = zoneZ
		return t, i+1 == n
	case '+', '-':
		sign := int64(1)
		if b[i] == '-' {
			sign = -1
		}
		z := b[i+1:]
		var oh, om int
		switch {
		case len(z) == 5 && z[2] == ':':
			oh, ok1 = digits2(z[0:2])
			om, ok2 = digits2(z[3:5])
			t.zone = zoneColon
		case len(z) == 4:
			oh, ok1 = digits2(z[0:2])
			om, ok2 = digits2(z[2:4])
			t.zone = zoneNoColon
		default:
			return t, false
		}
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return t, false
		}
		off := sign * int64(oh*60+om)
		t.offset = int32(off)
		// local = UTC + offset, so UTC = local - offset.
		t.us -= off * 60 * 1000000
		return t, true
	}
	return t, false
}

// appendDate appends YYYY-MM-DD. ok is false outside years 0000-9999.
func appendDate(dst []byte, days int64) ([]byte, bool) {
	y, m, d := civilFromDays(days)
	if y < 0 || y > 9999 {
		return dst, false
	}
	dst = append(dst,
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-',
		byte('0'+d/10), byte('0'+d%10))
	return dst, true
}

// appendTimestamp appends YYYY-MM-DDTHH:MM:SS[.ffffff]Z.
func appendTimestamp(dst []byte, us int64) ([]byte, bool) {
	days := us / usPerDay
	rem := us % usPerDay
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
	dst = append(dst, 'T',
		byte('0'+h/10), byte('0'+h%10), ':',
		byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+s/10), byte('0'+s%10))
	if frac != 0 {
		dst = append(dst, '.',
			byte('0'+frac/100000), byte('0'+frac/10000%10), byte('0'+frac/1000%10),
			byte('0'+frac/100%10), byte('0'+frac/10%10), byte('0'+frac%10))
	}
	return append(dst, 'Z'), true
}

// appendFloat appends the shortest decimal that strconv.ParseFloat reads
// back as exactly v: plain notation (strconv 'f', -1) for 1e-7 <= |v| < 1e21
// and for zero, exponent notation (strconv 'e', -1) otherwise; NaN, Inf and
// -Inf as such.
func appendFloat(dst []byte, v float64) []byte {
	a := math.Abs(v) // NaN fails every comparison below
	if a < 1e13 && a >= 1e-2 {
		// Two-decimal fast path (integers included): r/100 is the float
		// nearest to the decimal r/100, and below 1e13 two distinct
		// multiples of 0.01 are more than one ulp apart, so no shorter
		// decimal rounds to v: the digits are the ones strconv's shortest
		// formatting gives.
		// (RoundToEven is one instruction on amd64; it differs from Round on
		// halves only, where neither gives a decimal that rounds to v.)
		r := math.RoundToEven(v * 100)
		if r/100 == v {
			return appendCents(dst, r)
		}
		// Four-decimal fast path, for products of two-decimal values
		// (amount * 1.21): below 1e11 an ulp is under 1e-4, so at most one
		// multiple of 1e-4 rounds to v, and a decimal with fewer digits
		// would be such a multiple; when r/10^4 rounds to v, its digits
		// without trailing zeros are strconv's shortest.
		if a < 1e11 {
			r = math.RoundToEven(v * 1e4)
			if r/1e4 == v {
				return appendFrac4(dst, r)
			}
		}
	} else if a == 0 && !math.Signbit(v) {
		return append(dst, '0')
	}
	switch {
	case v != v:
		return append(dst, "NaN"...)
	case math.IsInf(v, 1):
		return append(dst, "Inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-Inf"...)
	case a == 0:
		return append(dst, "-0"...)
	case a < 1e-7 || a >= 1e21:
		return strconv.AppendFloat(dst, v, 'e', -1, 64)
	}
	return appendPlain(dst, v)
}

// appendCents appends r/100 (r an integer, |r| < 2^53) with the fraction's
// trailing zeros dropped, and no point when there is no fraction.
func appendCents(dst []byte, r float64) []byte {
	if r < 0 {
		dst = append(dst, '-')
		r = -r
	}
	u := uint64(r)
	q, f := u/100, u%100
	dst = appendUint(dst, q)
	switch {
	case f == 0:
		return dst
	case f%10 == 0:
		return append(dst, '.', byte('0'+f/10))
	}
	return append(dst, '.', digitPairs[2*f], digitPairs[2*f+1])
}

// appendFrac4 appends r/10^4 (r an integer, |r| < 2^53) with the
// fraction's trailing zeros dropped, and no point when there is no
// fraction.
func appendFrac4(dst []byte, r float64) []byte {
	if r < 0 {
		dst = append(dst, '-')
		r = -r
	}
	u := uint64(r)
	q, f := u/10000, u%10000
	dst = appendUint(dst, q)
	if f == 0 {
		return dst
	}
	hi, lo := f/100, f%100
	n := 5 // the point and four digits, less the trailing zeros
	switch {
	case lo == 0 && hi%10 == 0:
		n = 2
	case lo == 0:
		n = 3
	case lo%10 == 0:
		n = 4
	}
	l := len(dst)
	dst = append(dst, '.', digitPairs[2*hi], digitPairs[2*hi+1], digitPairs[2*lo], digitPairs[2*lo+1])
	return dst[:l+n]
}

// appendInt appends v in decimal, as strconv.AppendInt(dst, v, 10) does,
// writing the digits in place two at a time.
func appendInt(dst []byte, v int64) []byte {
	u := uint64(v)
	if v < 0 {
		dst = append(dst, '-')
		u = -u
	}
	return appendUint(dst, u)
}

// appendUint appends u in decimal, writing the digits in place two at a
// time.
func appendUint(dst []byte, u uint64) []byte {
	if u < 10 {
		return append(dst, byte('0'+u))
	}
	n := decimalLen(u)
	l := len(dst)
	if cap(dst)-l < n {
		dst = slices.Grow(dst, n)
	}
	dst = dst[:l+n]
	i := l + n
	for u >= 100 {
		q := u / 100
		r := (u - q*100) * 2
		i -= 2
		dst[i], dst[i+1] = digitPairs[r], digitPairs[r+1]
		u = q
	}
	if u >= 10 {
		dst[i-2], dst[i-1] = digitPairs[u*2], digitPairs[u*2+1]
	} else {
		dst[i-1] = byte('0' + u)
	}
	return dst
}

const digitPairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// decimalLen returns the number of decimal digits of u (u > 0).
func decimalLen(u uint64) int {
	// bits.Len64 * 1233 >> 12 approximates log10; one comparison corrects it.
	n := (bits.Len64(u) * 1233) >> 12
	if u >= pow10u64[n] {
		n++
	}
	return n
}

var pow10u64 = [...]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
	1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

func indexByteString(s string, c byte) int { return strings.IndexByte(s, c) }
