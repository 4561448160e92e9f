package csvio

// fastRow parses the row at buf[pos] when every field is of the common
// shape: unquoted (or a quoted string), ended by the expected terminator,
// converting without error, and fitting the buffers. It returns ok=false
// as soon as a field is not, leaving values in the columns that the caller
// rolls back before parsing the row again with the general path. nl counts
// the newlines consumed.
func (p *parser) fastRow(buf []byte, pos int, eof bool) (next, nl int, ok bool) {
	cols := p.cols
	d := &p.cfg.d
	cls := &d.cls
	delim := d.delim
	quote := d.quote
	quoting := d.quoting
	nullEmpty := p.cfg.nullEmpty
	nullOthers := len(p.cfg.nullOthers) > 0
	n := len(buf)
	lastCol := len(cols) - 1
	for ci := range cols {
		col := &cols[ci]
		last := ci == lastCol
		if col.fast {
			switch col.kind {
			case kInt64:
				x, nx, ok := fastInt(buf, pos, delim, last)
				if !ok || col.strict && !canonicalAt(buf, pos) {
					return 0, 0, false
				}
				col.i64[col.n] = x
				col.setValid()
				pos = nx
				if last {
					nl++
				}
				continue
			case kFloat64:
				x, nx, ok := fastFloat(buf, pos, delim, last)
				if !ok {
					return 0, 0, false
				}
				col.f64[col.n] = x
				col.setValid()
				pos = nx
				if last {
					nl++
				}
				continue
			case kDate32:
				x, nx, ok := fastDate(buf, pos, delim, last)
				if !ok {
					return 0, 0, false
				}
				col.i32[col.n] = x
				col.setValid()
				pos = nx
				if last {
					nl++
				}
				continue
			}
		}
		var v []byte
		if quoting && pos < n && buf[pos] == quote {
			if col.kind != kString && col.kind != kSkip {
				return 0, 0, false
			}
			f, nx, nq, t := d.scanQuoted(buf, pos, eof)
			if t != termDelim && t != termEOR || (t == termEOR) != last {
				return 0, 0, false
			}
			if col.kind == kSkip {
				col.n++
			} else if !col.appendString(buf[f.start:f.end], f.escaped, quote) {
				return 0, 0, false
			}
			nl += nq // includes the terminating newline
			pos = nx
			continue
		}
		i := pos
		for i < n && cls[buf[i]] == clsPlain {
			i++
		}
		if i >= n {
			return 0, 0, false
		}
		end := i
		if last {
			if cls[buf[i]] != clsNL {
				return 0, 0, false
			}
			if end > pos && buf[end-1] == '\r' {
				end--
			}
			nl++
		} else if cls[buf[i]] != clsDelim {
			return 0, 0, false
		}
		v = buf[pos:end]
		pos = i + 1
		if col.kind == kSkip {
			col.n++
			continue
		}
		if len(v) == 0 && nullEmpty || nullOthers && p.cfg.isNull(v) {
			col.appendNull(p.cfg.alloc)
			continue
		}
		switch col.kind {
		case kString:
			if col.slen+len(v)+16 > len(col.sdata) {
				return 0, 0, false
			}
			col.slen += copySmall(col.sdata[col.slen:], v)
			col.offs[col.n+1] = int32(col.slen)
			col.setValid()
		case kInt64:
			x, ok, _ := parseInt64(v)
			if !ok || col.strict && !canonicalInt(v) {
				return 0, 0, false
			}
			col.i64[col.n] = x
			col.setValid()
		case kFloat64:
			x, ok := parseFloat64(v)
			if !ok {
				return 0, 0, false
			}
			col.f64[col.n] = x
			col.setValid()
		case kDate32:
			x, ok := parseDate32(v)
			if !ok {
				return 0, 0, false
			}
			col.i32[col.n] = x
			col.setValid()
		case kTimestamp:
			x, ok := parseTimestamp(v)
			if !ok {
				return 0, 0, false
			}
			col.i64[col.n] = x
			col.setValid()
		case kBool:
			x, ok := parseBool(v, true)
			if !ok {
				return 0, 0, false
			}
			col.appendBool(x)
		}
	}
	return pos, nl, true
}
