package csvio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

var bom = []byte{0xEF, 0xBB, 0xBF}

// recordReader reads records one at a time from an io.Reader. It serves
// ReadHeader, InferSchema and the header of a Reader; the bulk of the data is
// read by the chunked pipeline.
type recordReader struct {
	cfg      *readConfig
	r        io.Reader
	buf      []byte
	pos, end int // unread data is buf[pos:end]
	eof      bool
	line     int64 // line of buf[pos]
	primed   bool
	fields   []fieldRef
	names    []string // column names for error messages, when known
	scratch  []byte
}

func newRecordReader(cfg *readConfig, r io.Reader, size int) *recordReader {
	return &recordReader{cfg: cfg, r: r, buf: make([]byte, size), line: 1}
}

// fill reads more input, compacting and growing the buffer as needed.
func (rr *recordReader) fill() error {
	if rr.eof {
		return nil
	}
	if rr.pos > 0 {
		copy(rr.buf, rr.buf[rr.pos:rr.end])
		rr.end -= rr.pos
		rr.pos = 0
	}
	if rr.end == len(rr.buf) {
		if len(rr.buf) >= rr.cfg.maxRow {
			return rr.cfg.errf(rr.line, "", "row or quoted field longer than %s (unclosed quote?)", sizeString(rr.cfg.maxRow))
		}
		nb := make([]byte, 2*len(rr.buf))
		copy(nb, rr.buf[:rr.end])
		rr.buf = nb
	}
	for {
		n, err := rr.r.Read(rr.buf[rr.end:])
		rr.end += n
		if err == io.EOF {
			rr.eof = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: read: %w", rr.cfg.pathOr("csv"), err)
		}
		if n > 0 {
			return nil
		}
	}
}

// prime strips a leading UTF-8 byte order mark (in UTF-8: in another
// encoding those bytes are characters).
func (rr *recordReader) prime() error {
	for !rr.primed {
		if rr.end-rr.pos >= len(bom) || rr.eof {
			if rr.cfg.enc.native && bytes.HasPrefix(rr.buf[rr.pos:rr.end], bom) {
				rr.pos += len(bom)
			}
			rr.primed = true
			break
		}
		if err := rr.fill(); err != nil {
			return err
		}
	}
	return nil
}

// next returns the next record's fields (valid until the next call) and the
// line it starts on; io.EOF at the end of input.
func (rr *recordReader) next() ([]fieldRef, int64, error) {
	if err := rr.prime(); err != nil {
		return nil, 0, err
	}
	d := &rr.cfg.d
	for {
		data := rr.buf[:rr.end]
		np, nl, more := skipEmpty(data, rr.pos, rr.eof)
		rr.pos = np
		rr.line += int64(nl)
		if more || rr.pos == rr.end {
			if rr.eof {
				return nil, 0, io.EOF
			}
			if err := rr.fill(); err != nil {
				return nil, 0, err
			}
			continue
		}
		fields, next, nl, t, at := d.scanRecord(data, rr.pos, rr.eof, rr.fields[:0])
		rr.fields = fields
		switch t {
		case termEOR:
			if err := rr.check(data, next, fields); err != nil {
				return nil, 0, err
			}
			line := rr.line
			rr.line += int64(nl)
			rr.pos = next
			return fields, line, nil
		case termMore:
			if err := rr.fill(); err != nil {
				return nil, 0, err
			}
			continue
		}
		return nil, 0, syntaxErr(rr.cfg, t, data, at, rr.colName(len(fields)), rr.line+int64(nl), false)
	}
}

// check refuses a record holding a NUL byte or, in UTF-8 without
// ReplaceInvalidUTF8, a byte of invalid UTF-8.
func (rr *recordReader) check(data []byte, end int, fields []fieldRef) error {
	cfg := rr.cfg
	rec := data[rr.pos:end]
	bad := findBad(rec, cfg.enc.native && !cfg.ReplaceInvalidUTF8)
	if bad.at < 0 {
		return nil
	}
	at := rr.pos + bad.at
	col := len(fields) - 1
	for i, f := range fields {
		if f.end >= at {
			col = i
			break
		}
	}
	line := rr.line + int64(bytes.Count(rec[:bad.at], nlBytes))
	return cfg.errf(line, rr.colName(col), "%s", bad.message(charOfLine(rec, bad.at)))
}

// text returns field f of the last record as a string, decoded.
func (rr *recordReader) text(f fieldRef) string {
	v := rr.value(f)
	if rr.cfg.enc.native && rr.cfg.ReplaceInvalidUTF8 && !utf8.Valid(v) {
		return string(replaceInvalidUTF8(nil, v))
	}
	return rr.cfg.enc.decodeString(v)
}

func (rr *recordReader) colName(i int) string {
	if i < len(rr.names) {
		return rr.names[i]
	}
	return "#" + strconv.Itoa(i+1)
}

// value returns field f of the last record (valid until the next call).
func (rr *recordReader) value(f fieldRef) []byte {
	v := rr.cfg.d.fieldValue(rr.buf, f, rr.scratch)
	if f.escaped {
		rr.scratch = v
	}
	return v
}

// syntaxErr builds the error for a structural problem found by scanField.
func syntaxErr(cfg *readConfig, t term, buf []byte, at int, col string, line int64, truncated bool) *ParseError {
	switch t {
	case termBareQuote:
		return cfg.errf(line, col, "bare quote in unquoted field (quote the whole field and double the quote, or set quoting: false to read quotes as ordinary characters)")
	case termAfterQuote:
		return cfg.errf(line, col, "unexpected %q after closing quote (a quote inside a quoted field must be doubled)", buf[at])
	case termUnclosed:
		return cfg.errf(line, col, "unclosed quote (the quoted field starts on this line)")
	case termMore:
		if truncated {
			return cfg.errf(line, col, "row or quoted field longer than %s (unclosed quote?)", sizeString(cfg.maxRow))
		}
		return cfg.errf(line, col, "unexpected end of data")
	}
	return cfg.errf(line, col, "malformed field")
}

func (c *readConfig) pathOr(s string) string {
	if c.Path != "" {
		return c.Path
	}
	return s
}

// ReadHeader reads only the header (honouring BOM, delimiter and quoting) and
// returns the column names. When opts.Header is false it reads the first
// record and returns column_1..column_n for its n fields. An input without
// any record is an error.
func ReadHeader(r io.Reader, opts ReadOptions) ([]string, error) {
	cfg, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	rr := newRecordReader(cfg, cfg.enc.wrapReader(r), 64<<10)
	names, _, err := rr.header()
	return names, err
}

// header reads the first record and returns the column names and the line of
// the header.
func (rr *recordReader) header() ([]string, int64, error) {
	fields, line, err := rr.next()
	if errors.Is(err, io.EOF) {
		return nil, 0, rr.cfg.errf(0, "", "empty file (expected a header row)")
	}
	if err != nil {
		return nil, 0, err
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		if rr.cfg.Header {
			names[i] = rr.text(f)
		} else {
			names[i] = "column_" + strconv.Itoa(i+1)
		}
	}
	if rr.cfg.Header {
		var err error
		if names, err = rr.cfg.dedupe(names, line); err != nil {
			return nil, 0, err
		}
	}
	return names, line, nil
}

// dedupe checks that the header names every column once, or renames the
// repeats (id, id_2, id_3) with RenameDuplicates.
func (c *readConfig) dedupe(names []string, line int64) ([]string, error) {
	first := make(map[string]int, len(names))
	for i, n := range names {
		j, dup := first[n]
		if !dup {
			first[n] = i
			continue
		}
		if !c.RenameDuplicates {
			return nil, c.errf(line, "", "the header names column '%s' twice, at positions %d and %d; rename one in the file, or set duplicate_columns: rename to read them as %s and %s_2", n, j+1, i+1, n, n)
		}
	}
	if len(first) == len(names) {
		return names, nil
	}
	out := make([]string, len(names))
	taken := make(map[string]bool, len(names))
	for _, n := range names {
		taken[n] = true
	}
	seen := map[string]int{}
	for i, n := range names {
		seen[n]++
		if seen[n] == 1 {
			out[i] = n
			continue
		}
		k := seen[n]
		for taken[n+"_"+strconv.Itoa(k)] {
			k++
		}
		seen[n] = k
		out[i] = n + "_" + strconv.Itoa(k)
		taken[out[i]] = true
	}
	return out, nil
}

func sizeString(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return strconv.Itoa(n>>20) + " MiB"
	}
	return strconv.Itoa(n) + " bytes"
}
