package csvio

import "bytes"

// Byte classes of the scanner's lookup table.
const (
	clsPlain = 0
	clsDelim = 1
	clsNL    = 2
	clsQuote = 3
)

type dialect struct {
	delim, quote byte
	quoting      bool
	cls          [256]uint8
}

func newDialect(delim, quote byte, quoting bool) dialect {
	d := dialect{delim: delim, quote: quote, quoting: quoting}
	d.cls['\n'] = clsNL
	d.cls[delim] = clsDelim
	if quoting {
		d.cls[quote] = clsQuote
	}
	return d
}

// term tells how a field ended.
type term uint8

const (
	termDelim      term = iota // a delimiter follows: more fields in the record
	termEOR                    // end of record: newline (LF or CRLF) or end of input
	termMore                   // the buffer ended inside the field and more input may follow
	termBareQuote              // error: quote inside an unquoted field
	termAfterQuote             // error: a character other than delimiter/newline after a closing quote
	termUnclosed               // error: input ended inside a quoted field
)

// fieldRef locates one field in a buffer. For a quoted field, [start,end) is
// the content between the quotes, with doubled quotes still doubled when
// escaped is set.
type fieldRef struct {
	start, end int
	quoted     bool
	escaped    bool
}

// scanField scans the field starting at buf[pos]. It returns the field, the
// index after its terminator, the number of newlines consumed (in quoted
// content and the terminating newline) and how the field ended. eof says that
// buf holds the rest of the input. For the error terms, next is the index of
// the offending byte.
//
// Rules: an unquoted field ends at the delimiter or newline; a CR before the
// LF is not part of it (neither is a lone CR at the very end of the input).
// A field that starts with the quote is quoted: it ends at a quote not
// followed by another quote, which must be followed by the delimiter, a
// newline (LF or CRLF) or the end of input. A quote anywhere else in an
// unquoted field is an error.
func (d *dialect) scanField(buf []byte, pos int, eof bool) (f fieldRef, next, nl int, t term) {
	n := len(buf)
	if d.quoting && pos < n && buf[pos] == d.quote {
		return d.scanQuoted(buf, pos, eof)
	}
	i := pos
	for i < n && d.cls[buf[i]] == clsPlain {
		i++
	}
	if i == n {
		if !eof {
			return fieldRef{start: pos, end: i}, i, 0, termMore
		}
		end := i
		if end > pos && buf[end-1] == '\r' {
			end--
		}
		return fieldRef{start: pos, end: end}, i, 0, termEOR
	}
	switch d.cls[buf[i]] {
	case clsDelim:
		return fieldRef{start: pos, end: i}, i + 1, 0, termDelim
	case clsNL:
		end := i
		if end > pos && buf[end-1] == '\r' {
			end--
		}
		return fieldRef{start: pos, end: end}, i + 1, 1, termEOR
	}
	return fieldRef{start: pos, end: i}, i, 0, termBareQuote
}

func (d *dialect) scanQuoted(buf []byte, pos int, eof bool) (f fieldRef, next, nl int, t term) {
	n := len(buf)
	q := d.quote
	f = fieldRef{start: pos + 1, quoted: true}
	i := pos + 1
	for {
		j := bytes.IndexByte(buf[i:], q)
		if j < 0 {
			nl += bytes.Count(buf[i:], nlBytes)
			f.end = n
			if !eof {
				return f, n, nl, termMore
			}
			return f, n, nl, termUnclosed
		}
		nl += bytes.Count(buf[i:i+j], nlBytes)
		i += j
		k := i + 1
		if k == n {
			f.end = i
			if !eof {
				return f, k, nl, termMore
			}
			return f, k, nl, termEOR
		}
		c := buf[k]
		if c == q {
			f.escaped = true
			i = k + 1
			continue
		}
		f.end = i
		switch {
		case c == d.delim:
			return f, k + 1, nl, termDelim
		case c == '\n':
			return f, k + 1, nl + 1, termEOR
		case c == '\r':
			if k+1 < n && buf[k+1] == '\n' {
				return f, k + 2, nl + 1, termEOR
			}
			if k+1 == n {
				if !eof {
					return f, k, nl, termMore
				}
				return f, k + 1, nl, termEOR
			}
		}
		return f, k, nl, termAfterQuote
	}
}

var nlBytes = []byte{'\n'}

// skipEmpty skips empty lines (LF, CRLF, and a lone CR at the end of input)
// starting at pos. more reports that the buffer ended on a CR that may start
// a CRLF.
func skipEmpty(buf []byte, pos int, eof bool) (next, nl int, more bool) {
	n := len(buf)
	for pos < n {
		switch buf[pos] {
		case '\n':
			pos++
			nl++
			continue
		case '\r':
			if pos+1 < n {
				if buf[pos+1] == '\n' {
					pos += 2
					nl++
					continue
				}
			} else if eof {
				pos++
				continue
			} else {
				return pos, nl, true
			}
		}
		break
	}
	return pos, nl, false
}

// scanRecord scans the fields of the record starting at buf[pos] (which must
// not be the start of an empty line), appending them to fields. It returns
// the index after the record, the newlines consumed, and termEOR, termMore or
// an error term; on an error, out holds the fields before the bad one, nl the
// newlines before it and errAt the index of the offending byte.
func (d *dialect) scanRecord(buf []byte, pos int, eof bool, fields []fieldRef) (out []fieldRef, next, nl int, t term, errAt int) {
	for {
		f, nx, n, tt := d.scanField(buf, pos, eof)
		nl += n
		switch tt {
		case termDelim:
			fields = append(fields, f)
			pos = nx
			continue
		case termEOR:
			fields = append(fields, f)
			return fields, nx, nl, termEOR, 0
		default:
			// nl counts only the newlines before the bad field.
			return fields, nx, nl - n, tt, nx
		}
	}
}

// fieldValue returns the content of f, unescaping doubled quotes into scratch
// when needed.
func (d *dialect) fieldValue(buf []byte, f fieldRef, scratch []byte) []byte {
	v := buf[f.start:f.end]
	if !f.escaped {
		return v
	}
	return unescapeQuotes(scratch[:0], v, d.quote)
}

// unescapeQuotes appends v to dst with each doubled quote collapsed.
func unescapeQuotes(dst, v []byte, q byte) []byte {
	for {
		j := bytes.IndexByte(v, q)
		if j < 0 {
			return append(dst, v...)
		}
		dst = append(dst, v[:j+1]...)
		v = v[j+1:]
		if len(v) > 0 && v[0] == q {
			v = v[1:]
		}
	}
}
