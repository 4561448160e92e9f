package csvio

import "encoding/binary"

// Fused fast paths: parse a value while scanning for its terminator. They
// accept only the common shape (an unquoted, non-empty value followed by the
// expected terminator: the delimiter, or for the last column LF or CRLF) and
// report ok=false for anything else, in which case the caller takes the
// general path from the same position. next is the index after the
// terminator.

// fastTerm checks the terminator at buf[i].
func fastTerm(buf []byte, i int, delim byte, last bool) (next int, ok bool) {
	if i >= len(buf) {
		return 0, false
	}
	c := buf[i]
	if !last {
		return i + 1, c == delim
	}
	if c == '\n' {
		return i + 1, true
	}
	if c == '\r' && i+1 < len(buf) && buf[i+1] == '\n' {
		return i + 2, true
	}
	return 0, false
}

func fastInt(buf []byte, pos int, delim byte, last bool) (v int64, next int, ok bool) {
	i := pos
	n := len(buf)
	neg := false
	if i < n && buf[i] == '-' {
		neg = true
		i++
	}
	start := i
	var u uint64
	for i < n {
		c := buf[i] - '0'
		if c > 9 {
			break
		}
		u = u*10 + uint64(c)
		i++
	}
	if nd := i - start; nd == 0 || nd > 18 {
		return 0, 0, false
	}
	next, ok = fastTerm(buf, i, delim, last)
	if neg {
		return -int64(u), next, ok
	}
	return int64(u), next, ok
}

func fastFloat(buf []byte, pos int, delim byte, last bool) (v float64, next int, ok bool) {
	i := pos
	n := len(buf)
	neg := false
	if i < n && buf[i] == '-' {
		neg = true
		i++
	}
	start := i
	var m uint64
	for i < n {
		c := buf[i] - '0'
		if c > 9 {
			break
		}
		m = m*10 + uint64(c)
		i++
	}
	frac := 0
	if i < n && buf[i] == '.' {
		i++
		fs := i
		for i < n {
			c := buf[i] - '0'
			if c > 9 {
				break
			}
			m = m*10 + uint64(c)
			i++
		}
		frac = i - fs
		start++ // the dot is not a digit
	}
	if nd := i - start; nd == 0 || nd > 19 || m > 1<<53 || frac > 22 {
		return 0, 0, false
	}
	next, ok = fastTerm(buf, i, delim, last)
	v = float64(m)
	if frac > 0 {
		v /= pow10tab[frac]
	}
	if neg {
		v = -v
	}
	return v, next, ok
}

func fastDate(buf []byte, pos int, delim byte, last bool) (v int32, next int, ok bool) {
	if pos+10 >= len(buf) {
		return 0, 0, false
	}
	next, ok = fastTerm(buf, pos+10, delim, last)
	if !ok {
		return 0, 0, false
	}
	d, ok := parseDateParts(buf[pos : pos+10])
	return int32(d), next, ok
}

// copySmall copies src to dst[0:len(src)] using 8-byte moves when both have
// 16 spare bytes; it may write past len(src) within dst's length.
func copySmall(dst, src []byte) int {
	if len(src) <= 16 && len(dst) >= 16 && cap(src) >= 16 {
		s := src[:16]
		binary.LittleEndian.PutUint64(dst, binary.LittleEndian.Uint64(s))
		binary.LittleEndian.PutUint64(dst[8:], binary.LittleEndian.Uint64(s[8:]))
		return len(src)
	}
	return copy(dst, src)
}
