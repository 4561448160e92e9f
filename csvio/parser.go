package csvio

import (
	"bytes"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// chunk is a run of whole rows cut from the input by the splitter.
type chunk struct {
	buf       []byte // the pooled buffer holding data
	data      []byte // the rows
	startLine int64  // physical line of data[0]
	rowsHint  int    // upper bound of the rows in data
	eof       bool   // data runs to the end of the input
	truncated bool   // data was cut without a row boundary (row longer than maxRow)
	res       chan chunkResult
}

type chunkResult struct {
	batch   arrow.RecordBatch // nil when there are no rows and no rejects
	rejects []Reject
	err     error // reported after batch
	dropped int   // rows left out by ReadOptions.Where
}

// parser turns chunks into record batches. One per worker.
type parser struct {
	cfg     *readConfig
	schema  *arrow.Schema // of the batches: the columns not skipped
	cols    []column      // every column of the file
	kept    int           // columns not skipped
	scratch []byte
	fields  []fieldRef
	spec    swarSpec
	idx     []int32 // block path: separator positions
	qidx    []int32 // block path: quote positions
	qi      int     // block path: next quote to look at
	lfk     []int32 // block path: p.idx index of each LF
	li      int     // block path: next LF to look at
	inq     uint64  // block path: all ones inside quotes
	tbuf    []byte  // the chunk decoded to UTF-8, when it had to be
	bad     badByte // the first NUL or invalid byte of the chunk

	// Filtering while reading (where.go).
	where     *whereTest
	wscratch  column  // the condition's column of a block
	wsel      []int32 // the rows of a block that pass
	wix       []int32 // their separator index, one column at a time
	blockKept int     // rows the last block kept
	wkept     float64 // the share of rows the previous chunk kept
}

func newParser(cfg *readConfig, file, schema *arrow.Schema, kinds []colKind, forms []form) *parser {
	p := &parser{cfg: cfg, schema: schema, cols: make([]column, len(kinds)), kept: schema.NumFields(), spec: newSwarSpec(&cfg.d)}
	for i, k := range kinds {
		f := file.Field(i)
		p.cols[i] = column{kind: k, dtype: f.Type, name: f.Name, strict: forms[i].strictInt}
	}
	return p
}

func (p *parser) countWord() string {
	if p.cfg.Header {
		return "header has"
	}
	return "schema has"
}

func (p *parser) colName(i int) string {
	if i < len(p.cols) {
		return p.cols[i].name
	}
	return fmt.Sprintf("#%d", i+1)
}

// parse converts one chunk into a batch (and rejects, or an error after the
// rows that precede the bad one).
func (p *parser) parse(ch *chunk) (res chunkResult) {
	cfg := p.cfg
	mem := cfg.alloc
	buf, eof := p.prepare(ch)
	n := len(buf)
	line := ch.startLine
	d := &cfg.d
	cls := &d.cls
	quote := d.quote
	cols := p.cols
	ncols := len(cols)
	nullEmpty, nullOthers := cfg.nullEmpty, len(cfg.nullOthers) > 0
	hint := ch.rowsHint
	if p.where != nil && p.wkept > 0 {
		// Size the columns for the share of rows the condition kept in
		// the previous chunk (they grow if more pass).
		hint = min(hint, int(float64(hint)*p.wkept*1.15)+256)
	}
	for i := range cols {
		cols[i].begin(mem, hint)
		cols[i].fast = cfg.fastPath(cols[i].kind)
	}
	rows := 0
	capRows := cols[0].capN
	pos := 0
	// reject and error handling state
	var failErr *ParseError

	p.index(buf)
	p.qi, p.li = 0, 0
	k := 1          // next separator entry in p.idx
	slowUntil := -1 // rows up to here go through the row-at-a-time path
rowLoop:
	for pos < n {
		for k < len(p.idx) && int(p.idx[k]) < pos {
			k++
		}
		if !noBlocks && pos > slowUntil && int(p.idx[k-1]) == pos-1 {
			r, kk, bad := p.block(buf, k, blockRows)
			if r > 0 {
				end := int(p.idx[kk-1]) + 1
				line += int64(bytes.Count(buf[pos:end], nlBytes))
				pos, k = end, kk
				rows += p.blockKept
				res.dropped += r - p.blockKept
				capRows = cols[0].capN
				continue
			}
			if bad > 0 {
				slowUntil = int(p.idx[k+bad*ncols-1])
			}
		}
		c0 := buf[pos]
		if c0 == '\n' || c0 == '\r' {
			np, nl, _ := skipEmpty(buf, pos, eof)
			if np != pos {
				pos = np
				line += int64(nl)
				continue
			}
		}
		if rows == capRows {
			for i := range cols {
				cols[i].grow()
			}
			capRows = cols[0].capN
		}
		if next, nl, ok := p.fastRow(buf, pos, eof); ok {
			pos = next
			line += int64(nl)
			if p.where != nil && !p.where.keep(&cols[p.where.col], rows) {
				p.rollback(ncols, rows)
				res.dropped++
				continue
			}
			rows++
			continue
		}
		p.rollback(ncols, rows)
		rowStart, rowLine := pos, line
		for ci := 0; ci < ncols; ci++ {
			col := &cols[ci]
			fieldLine := line
			var fs, fe int
			var quoted, escaped bool
			var t term
			// Fast path: an unquoted field ended by the delimiter or a newline.
			i := pos
			for i < n && cls[buf[i]] == clsPlain {
				i++
			}
			if i < n && cls[buf[i]] == clsDelim {
				fs, fe, t = pos, i, termDelim
				pos = i + 1
			} else if i < n && cls[buf[i]] == clsNL {
				fs, fe, t = pos, i, termEOR
				if fe > fs && buf[fe-1] == '\r' {
					fe--
				}
				pos = i + 1
				line++
			} else {
				f, next, nl, tt := d.scanField(buf, pos, eof)
				if tt >= termMore {
					failErr = p.syntaxErr(ch, tt, buf, next, p.colName(ci), fieldLine)
					p.rollback(ci, rows)
					break rowLoop
				}
				fs, fe, quoted, escaped, t = f.start, f.end, f.quoted, f.escaped, tt
				pos = next
				line += int64(nl)
			}
			if (t == termEOR) != (ci == ncols-1) {
				// Ragged row: count its fields.
				nf := ci + 1
				if t == termDelim {
					more, next, nl, tt, at := d.scanRecord(buf, pos, eof, p.fields[:0])
					p.fields = more
					line += int64(nl)
					if tt != termEOR {
						failErr = p.syntaxErr(ch, tt, buf, at, p.colName(ci+1+len(more)), line)
						p.rollback(ci, rows)
						break rowLoop
					}
					pos = next
					nf += len(more)
				}
				e := cfg.errf(rowLine, "", "row has %d fields, %s %d", nf, p.countWord(), ncols)
				p.rollback(ci, rows)
				if !cfg.CollectRejects {
					failErr = e
					break rowLoop
				}
				res.rejects = append(res.rejects, Reject{Line: rowLine, Record: p.record(buf, rowStart, eof), Err: e})
				continue rowLoop
			}
			v := buf[fs:fe]
			var bad bool
			var overflow, notCanon bool
			switch col.kind {
			case kSkip:
				col.n++
				continue
			case kString:
				if !quoted && (len(v) == 0 && nullEmpty || nullOthers && cfg.isNull(v)) {
					col.appendNull(mem)
				} else if !col.appendString(v, escaped, quote) {
					failErr = cfg.errf(fieldLine, col.name, "more than 2 GiB of string data in one batch")
					p.rollback(ci, rows)
					break rowLoop
				}
				continue
			}
			if escaped {
				p.scratch = unescapeQuotes(p.scratch[:0], v, quote)
				v = p.scratch
			}
			if len(v) == 0 && nullEmpty || nullOthers && cfg.isNull(v) {
				col.appendNull(mem)
				continue
			}
			switch col.kind {
			case kInt64:
				x, ok, of := parseInt64(v)
				if ok && col.strict && !canonicalInt(v) {
					ok, notCanon = false, true
				}
				if ok {
					col.i64[col.n] = x
					col.setValid()
				} else {
					bad, overflow = true, of
				}
			case kFloat64:
				x, ok := parseFloat64(v)
				if ok {
					col.f64[col.n] = x
					col.setValid()
				} else {
					bad = true
				}
			case kDate32:
				x, ok := parseDate32(v)
				if ok {
					col.i32[col.n] = x
					col.setValid()
				} else {
					bad = true
				}
			case kTimestamp:
				x, ok := parseTimestamp(v)
				if ok {
					col.i64[col.n] = x
					col.setValid()
				} else {
					bad = true
				}
			case kBool:
				x, ok := parseBool(v, true)
				if ok {
					col.appendBool(x)
				} else {
					bad = true
				}
			}
			if !bad {
				continue
			}
			// Conversion failure. Find the end of the row first: a
			// structural problem later in the row takes precedence.
			e := p.convError(col, v, overflow, notCanon, fieldLine)
			nf := ci + 1
			if t == termDelim {
				more, next, nl, tt, at := d.scanRecord(buf, pos, eof, p.fields[:0])
				p.fields = more
				line += int64(nl)
				if tt != termEOR {
					failErr = p.syntaxErr(ch, tt, buf, at, p.colName(ci+1+len(more)), line)
					p.rollback(ci, rows)
					break rowLoop
				}
				pos = next
				nf += len(more)
			}
			if nf != ncols {
				e = cfg.errf(rowLine, "", "row has %d fields, %s %d", nf, p.countWord(), ncols)
			} else if w := p.where; w != nil && w.col != ci {
				// A row the condition drops is not converted: not an error.
				var fails bool
				if w.col < ci {
					fails = !w.keep(&cols[w.col], rows)
				} else {
					f := p.fields[w.col-ci-1]
					fails = p.whereRaw(d.fieldValue(buf, f, p.scratch), f.quoted)
				}
				if fails {
					p.rollback(ci, rows)
					res.dropped++
					continue rowLoop
				}
			}
			p.rollback(ci, rows)
			if !cfg.CollectRejects {
				failErr = e
				break rowLoop
			}
			res.rejects = append(res.rejects, Reject{Line: rowLine, Record: p.record(buf, rowStart, eof), Err: e})
			continue rowLoop
		}
		if p.where != nil && !p.where.keep(&cols[p.where.col], rows) {
			p.rollback(ncols, rows)
			res.dropped++
			continue
		}
		rows++
	}
	if p.where != nil && ch.rowsHint > 0 {
		p.wkept = float64(rows) / float64(ch.rowsHint)
	}
	if failErr == nil && p.bad.at >= 0 {
		failErr = p.badErr(ch, buf[:cap(buf)], p.colName(0))
	}
	if failErr != nil {
		res.err = failErr
	}
	if rows == 0 && len(res.rejects) == 0 {
		for i := range cols {
			cols[i].release()
		}
		return res
	}
	arrs := make([]arrow.Array, 0, p.kept)
	for i := range cols {
		if cols[i].kind == kSkip {
			cols[i].release()
			continue
		}
		arrs = append(arrs, cols[i].finish())
	}
	res.batch = array.NewRecordBatch(p.schema, arrs, int64(rows))
	for _, a := range arrs {
		a.Release()
	}
	return res
}

// prepare returns the chunk's data as UTF-8 (decoded or with invalid bytes
// replaced, as the options say) and whether it runs to the end of the
// input. The data stops before the first NUL or invalid byte (p.bad), and
// is then never at the end: the rows before it are parsed, the row holding
// it ends early, and the error names the byte.
func (p *parser) prepare(ch *chunk) ([]byte, bool) {
	cfg := p.cfg
	buf := ch.data
	enc := cfg.enc
	checkUTF8 := false
	switch {
	case enc.dec != nil:
		if hasHigh(buf) {
			p.tbuf = enc.decodeTo(p.tbuf[:0], buf)
			buf = p.slack()
		}
	case enc.native && cfg.ReplaceInvalidUTF8:
		if !utf8.Valid(buf) {
			p.tbuf = replaceInvalidUTF8(p.tbuf[:0], buf)
			buf = p.slack()
		}
	case enc.native:
		checkUTF8 = true
	}
	p.bad = findBad(buf, checkUTF8)
	if p.bad.at >= 0 {
		return buf[:p.bad.at], false
	}
	return buf, ch.eof
}

// slack returns p.tbuf with room after it for the 16-byte loads of the
// conversions.
func (p *parser) slack() []byte {
	n := len(p.tbuf)
	p.tbuf = slices.Grow(p.tbuf, 64)
	return p.tbuf[:n]
}

// badErr is the error for p.bad; buf holds the chunk's data up to it.
func (p *parser) badErr(ch *chunk, buf []byte, col string) *ParseError {
	at := p.bad.at
	line := ch.startLine + int64(bytes.Count(buf[:at], nlBytes))
	return p.cfg.errf(line, col, "%s", p.bad.message(charOfLine(buf, at)))
}

// syntaxErr is the error for a field that ended with term t: the bad byte
// when the data was cut there, else the syntax error.
func (p *parser) syntaxErr(ch *chunk, t term, buf []byte, at int, col string, line int64) *ParseError {
	if t == termMore && p.bad.at >= 0 {
		return p.badErr(ch, buf[:cap(buf)], col)
	}
	return syntaxErr(p.cfg, t, buf, at, col, line, ch.truncated)
}

// rollback drops the values the current row put in columns [0, upto).
func (p *parser) rollback(upto, rows int) {
	for i := 0; i < upto; i++ {
		p.cols[i].truncate(rows)
	}
}

func (p *parser) convError(col *column, v []byte, overflow, notCanon bool, line int64) *ParseError {
	var msg string
	switch col.kind {
	case kInt64:
		msg = fmt.Sprintf("cannot parse %s as int64", quoteValue(v))
		if overflow {
			msg += ": value out of range"
		}
		if notCanon {
			msg = fmt.Sprintf("%s has a leading zero or a sign that an int64 would not keep", quoteValue(v))
		}
	case kFloat64:
		msg = fmt.Sprintf("cannot parse %s as float64", quoteValue(v))
	case kBool:
		msg = fmt.Sprintf("cannot parse %s as bool (want true, false, 1 or 0)", quoteValue(v))
	case kDate32:
		msg = fmt.Sprintf("cannot parse %s as date (want YYYY-MM-DD)", quoteValue(v))
	case kTimestamp:
		msg = fmt.Sprintf("cannot parse %s as timestamp (want YYYY-MM-DD[THH:MM:SS[.ffffff]][Z|±HH:MM])", quoteValue(v))
	}
	e := p.cfg.errf(line, col.name, "%s", msg)
	e.Conversion = true
	return e
}

// record returns the unquoted fields of the (well-formed) row at pos.
func (p *parser) record(buf []byte, pos int, eof bool) []string {
	d := &p.cfg.d
	fields, _, _, _, _ := d.scanRecord(buf, pos, eof, nil)
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = string(d.fieldValue(buf, f, p.scratch))
	}
	return out
}
