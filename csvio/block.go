package csvio

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
)

// The block path: the chunk is first indexed (the positions of all
// separators outside quotes, found 64 bytes at a time without branching on
// the data), then runs of well-formed rows are validated from the index and
// converted column by column, so that the per-column type dispatch is out of
// the inner loops. Anything unusual (an empty line, a ragged row, a
// malformed quote, a value that does not convert, the last row without a
// newline) is left to the row-at-a-time path, which reports errors and
// rejects.

const blockRows = 4096 // rows converted per block (keeps the block in L2)

// noBlocks disables the block path (tests compare both paths).
var noBlocks bool

// index fills p.idx with -1 followed by the position of every separator
// (delimiter or LF) outside quotes, p.lfk with 0 followed by the p.idx
// index of every such LF, and p.qidx with the position of every quote.
// Every quote toggles the quoted state, as in the splitter.
func (p *parser) index(buf []byte) {
	n := len(buf)
	idx := p.idx[:0]
	if cap(idx) < n/4+128 {
		idx = make([]int32, 0, n/4+128)
	}
	p.idx = append(idx, -1)
	p.lfk = append(p.lfk[:0], 0)
	p.qidx = p.qidx[:0]
	p.inq = 0
	full := n &^ 63
	for base := 0; base < full; base += 64 {
		p.indexBlock(buf[base:base+64], base)
	}
	if full < n {
		var tail [64]byte // zero padding: never a separator or quote
		copy(tail[:], buf[full:])
		p.indexBlock(tail[:], full)
	}
}

func (p *parser) indexBlock(blk []byte, base int) {
	sep, lf, qm := p.spec.blockMasks(blk)
	if qm != 0 || p.inq != 0 {
		in := prefixXor(qm) ^ p.inq
		sep &^= in
		lf &^= in
		p.inq = uint64(int64(in) >> 63)
		for m := qm; m != 0; m &= m - 1 {
			p.qidx = append(p.qidx, int32(base+bits.TrailingZeros64(m)))
		}
	}
	if sep == 0 {
		return
	}
	idx := p.idx
	l := len(idx)
	for m := lf; m != 0; m &= m - 1 {
		b := uint(bits.TrailingZeros64(m))
		p.lfk = append(p.lfk, int32(l+bits.OnesCount64(sep&(1<<b-1))))
	}
	cnt := bits.OnesCount64(sep)
	if cap(idx) < l+cnt {
		idx = append(idx, make([]int32, cnt+len(idx)/2)...)[:l]
	}
	idx = idx[:l+cnt]
	w := idx[l:]
	for j := range w {
		w[j] = int32(base + bits.TrailingZeros64(sep))
		sep &= sep - 1
	}
	p.idx = idx
}

// block converts up to max consecutive well-formed rows. The first row's
// first separator is p.idx[k] (and p.idx[k-1]+1 is where the row starts).
// It returns the rows converted and the index entry after them; rows == 0
// with bad > 0 means that the first bad rows were well-formed but a value
// did not convert: the caller must parse them one at a time.
func (p *parser) block(buf []byte, k, max int) (rows, next, bad int) {
	idx := p.idx
	qidx := p.qidx
	cols := p.cols
	ncols := len(cols)

	// Validate: p.idx[k-1] is an LF (or the start); row j ends at the LF
	// that is ncols separators further.
	lfk := p.lfk
	li := p.li
	for li < len(lfk) && int(lfk[li]) < k-1 {
		li++
	}
	if li >= len(lfk) || int(lfk[li]) != k-1 {
		return 0, k, 0
	}
	p.li = li
	qi := p.qi
	nextQ := int32(math.MaxInt32)
	for qi < len(qidx) && int(qidx[qi]) <= int(idx[k-1]) {
		qi++
	}
	if qi < len(qidx) {
		nextQ = qidx[qi]
	}
	kk := k
	r := 0
	for r < max && li+1 < len(lfk) && int(lfk[li+1])-int(lfk[li]) == ncols {
		end := idx[lfk[li+1]]
		if ncols == 1 {
			start := int(idx[kk-1]) + 1
			if int(end) == start || int(end) == start+1 && buf[start] == '\r' {
				break // an empty line
			}
		}
		if nextQ < end {
			nq, ok := p.quotesValid(buf, kk, qi)
			if !ok {
				break
			}
			qi = nq
			nextQ = math.MaxInt32
			if qi < len(qidx) {
				nextQ = qidx[qi]
			}
		}
		kk += ncols
		li++
		r++
	}
	if r == 0 {
		return 0, k, 0
	}
	base := cols[0].n

	// Convert, column by column.
	if !p.convertBlock(buf, k, r) {
		goto fail
	}
	p.qi, p.li = qi, li
	return r, kk, 0

fail:
	for i := range cols {
		cols[i].truncate(base)
	}
	return 0, k, r
}

// quotesValid checks the fields of the row whose first separator is
// p.idx[k], given the quotes of the row (p.qidx[qi:], the first at or after
// the row start): a field holding a quote must start with it and end with
// it, with only adjacent pairs in between. It returns the index of the
// first quote after the row.
func (p *parser) quotesValid(buf []byte, k, qi int) (int, bool) {
	qidx := p.qidx
	ncols := len(p.cols)
	for c := 0; c < ncols; c++ {
		s, e := int32(p.idx[k+c-1])+1, p.idx[k+c]
		if c == ncols-1 && e > s && buf[e-1] == '\r' {
			e-- // as in the conversion
		}
		if qi >= len(qidx) || qidx[qi] >= e {
			continue // no quote in the field
		}
		if qidx[qi] != s {
			return qi, false
		}
		qi++
		for {
			if qi >= len(qidx) || qidx[qi] >= e {
				return qi, false // not closed at the end of the field
			}
			if qidx[qi] == e-1 {
				qi++
				break
			}
			if qi+1 >= len(qidx) || qidx[qi+1] != qidx[qi]+1 || qidx[qi+1] >= e-1 {
				return qi, false
			}
			qi += 2
		}
	}
	return qi, true
}

// convertBlock converts the r validated rows whose first separator is
// p.idx[k], column by column; with a condition (ReadOptions.Where), its
// column first, then every column for the rows that pass only. It sets
// p.blockKept.
func (p *parser) convertBlock(buf []byte, k, r int) bool {
	cols := p.cols
	ncols := len(cols)
	idx := p.idx
	if w := p.where; w != nil {
		sel, ok := p.whereBlock(buf, idx[k+w.col-1:], ncols, r, w.col == ncols-1)
		if !ok {
			return false
		}
		if len(sel) < r {
			p.blockKept = len(sel)
			if len(sel) == 0 {
				return true
			}
			p.reserve(len(sel))
			for ci := range cols {
				ix := p.gather(idx[k+ci-1:], ncols, sel)
				if !p.convert(&cols[ci], buf, ix, 2, len(sel), ci == ncols-1) {
					return false
				}
			}
			return true
		}
	}
	p.blockKept = r
	p.reserve(r)
	for ci := range cols {
		ix := idx[k+ci-1:]
		if !p.convert(&cols[ci], buf, ix, ncols, r, ci == ncols-1) {
			return false
		}
	}
	return true
}

// reserve grows the columns to hold r more values.
func (p *parser) reserve(r int) {
	cols := p.cols
	for cols[0].n+r > cols[0].capN {
		for i := range cols {
			cols[i].grow()
		}
	}
}

// fieldAt returns the bounds of the field of row j: ix[j*step] is the
// separator before it (or the byte before the row), ix[j*step+1] the one
// after it. For the last column a CR before the LF is dropped.
func fieldAt(buf []byte, ix []int32, j, step int, last bool) (s, e int) {
	s, e = int(ix[j*step])+1, int(ix[j*step+1])
	if last && e > s && buf[e-1] == '\r' {
		e--
	}
	return s, e
}

// convert appends r values of one column from a validated block.
func (p *parser) convert(col *column, buf []byte, ix []int32, step, r int, last bool) bool {
	switch col.kind {
	case kSkip:
		col.n += r
		return true
	case kString:
		return p.convString(col, buf, ix, step, r, last)
	case kInt64:
		return p.convInt(col, buf, ix, step, r, last)
	}
	return p.convOther(col, buf, ix, step, r, last)
}

// value returns the content of a (validated) field and whether it is
// quoted, unescaping into p.scratch when needed.
func (p *parser) value(v []byte) ([]byte, bool) {
	d := &p.cfg.d
	if !d.quoting || len(v) < 2 || v[0] != d.quote {
		return v, false
	}
	v = v[1 : len(v)-1]
	if bytes.IndexByte(v, d.quote) >= 0 {
		p.scratch = unescapeQuotes(p.scratch[:0], v, d.quote)
		v = p.scratch
	}
	return v, true
}

// The conversions below alternate a leaf loop over the rows that take the
// common path (no calls, so that everything stays in registers) with the
// general handling of one row.

func (p *parser) convString(col *column, buf []byte, ix []int32, step, r int, last bool) bool {
	cfg := p.cfg
	quote, quoting := cfg.d.quote, cfg.d.quoting
	nullEmpty, nullOthers := cfg.nullEmpty, len(cfg.nullOthers) > 0
	n0 := col.n
	for j := 0; ; j++ {
		if !nullOthers {
			var nulls int
			j, col.slen, nulls = strRun(col.offs[n0+1:n0+r+1], col.sdata, col.slen, col.valid, n0, buf, ix, step, j, last, quote, nullEmpty)
			col.nulls += nulls
		}
		if j >= r {
			break
		}
		col.n = n0 + j
		s, e := fieldAt(buf, ix, j, step, last)
		if quoting && e > s && buf[s] == quote {
			v := buf[s+1 : e-1]
			if !col.appendString(v, bytes.IndexByte(v, quote) >= 0, quote) {
				return false
			}
		} else if v := buf[s:e]; len(v) == 0 && nullEmpty || nullOthers && cfg.isNull(v) {
			col.appendNull(cfg.alloc)
		} else if !col.appendString(v, false, quote) {
			return false
		}
	}
	col.n = n0 + r
	return true
}

// strRun copies unquoted strings of up to 16 bytes from row j on, and
// empty ones as nulls once the column has a validity bitmap.
func strRun(offs []int32, sdata []byte, slen int, valid []byte, n0 int, buf []byte, ix []int32, step, j int, last bool, quote byte, nullEmpty bool) (int, int, int) {
	nulls := 0
	for ; j < len(offs); j++ {
		p := j * step
		s, e := int(ix[p])+1, int(ix[p+1])
		if last && e > s && buf[e-1] == '\r' {
			e--
		}
		l := e - s
		if l == 0 && nullEmpty && valid != nil {
			valid[(n0+j)>>3] &^= 1 << ((n0 + j) & 7)
			offs[j] = int32(slen)
			nulls++
			continue
		}
		if l <= 0 || l > 16 || buf[s] == quote || slen+32 > len(sdata) || s+16 > cap(buf) {
			return j, slen, nulls
		}
		src := buf[s : s+16]
		dst := sdata[slen : slen+16]
		binary.LittleEndian.PutUint64(dst, binary.LittleEndian.Uint64(src))
		binary.LittleEndian.PutUint64(dst[8:], binary.LittleEndian.Uint64(src[8:]))
		slen += l
		offs[j] = int32(slen)
		if valid != nil {
			valid[(n0+j)>>3] |= 1 << ((n0 + j) & 7)
		}
	}
	return j, slen, nulls
}

func (p *parser) convInt(col *column, buf []byte, ix []int32, step, r int, last bool) bool {
	cfg := p.cfg
	nullEmpty, nullOthers := cfg.nullEmpty, len(cfg.nullOthers) > 0
	n0 := col.n
	for j := 0; ; j++ {
		if col.fast {
			j = intRun(col.i64[n0:n0+r], col.valid, n0, buf, ix, step, j, last, col.strict)
		}
		if j >= r {
			break
		}
		col.n = n0 + j
		s, e := fieldAt(buf, ix, j, step, last)
		v, _ := p.value(buf[s:e])
		if len(v) == 0 && nullEmpty || nullOthers && cfg.isNull(v) {
			col.appendNull(cfg.alloc)
			continue
		}
		x, ok, _ := parseInt64(v)
		if !ok || col.strict && !canonicalInt(v) {
			return false
		}
		col.i64[col.n] = x
		col.setValid()
	}
	col.n = n0 + r
	return true
}

// intRun parses [-]digits of up to 8 bytes from row j on; with strict, it
// stops at a leading zero (other than 0 itself) or -0.
func intRun(out []int64, valid []byte, n0 int, buf []byte, ix []int32, step, j int, last, strict bool) int {
	n := len(buf)
	for ; j < len(out); j++ {
		p := j * step
		s, e := int(ix[p])+1, int(ix[p+1])
		if last && e > s && buf[e-1] == '\r' {
			e--
		}
		l := e - s
		if l <= 0 || l > 8 || s+8 > n {
			return j
		}
		w := binary.LittleEndian.Uint64(buf[s:])
		if strict && (byte(w) == '0' && l > 1 || byte(w) == '-' && byte(w>>8) == '0') {
			return j
		}
		x, ok := swarUint(w, l)
		if !ok {
			if l == 1 || byte(w) != '-' {
				return j
			}
			if x, ok = swarUint(w>>8, l-1); !ok {
				return j
			}
			x = -x
		}
		out[j] = int64(x)
		if valid != nil {
			valid[(n0+j)>>3] |= 1 << ((n0 + j) & 7)
		}
	}
	return j
}

func (p *parser) convOther(col *column, buf []byte, ix []int32, step, r int, last bool) bool {
	cfg := p.cfg
	nullEmpty, nullOthers := cfg.nullEmpty, len(cfg.nullOthers) > 0
	kind := col.kind
	n0 := col.n
	for j := 0; ; j++ {
		if col.fast {
			switch kind {
			case kFloat64:
				j = floatRun(col.f64[n0:n0+r], col.valid, n0, buf, ix, step, j, last)
			case kDate32:
				j = dateRun(col.i32[n0:n0+r], col.valid, n0, buf, ix, step, j, last)
			}
		}
		if j >= r {
			break
		}
		col.n = n0 + j
		s, e := fieldAt(buf, ix, j, step, last)
		v, _ := p.value(buf[s:e])
		if len(v) == 0 && nullEmpty || nullOthers && cfg.isNull(v) {
			col.appendNull(cfg.alloc)
			continue
		}
		var ok bool
		switch kind {
		case kFloat64:
			col.f64[col.n], ok = parseFloat64(v)
		case kDate32:
			col.i32[col.n], ok = parseDate32(v)
		case kTimestamp:
			col.i64[col.n], ok = parseTimestamp(v)
		case kBool:
			var x bool
			if x, ok = parseBool(v, true); x {
				col.bits[col.n>>3] |= 1 << (col.n & 7)
			} else {
				col.bits[col.n>>3] &^= 1 << (col.n & 7)
			}
		}
		if !ok {
			return false
		}
		col.setValid()
	}
	col.n = n0 + r
	return true
}

// floatRun parses short decimals (swarFloat) from row j on.
func floatRun(out []float64, valid []byte, n0 int, buf []byte, ix []int32, step, j int, last bool) int {
	n := len(buf)
	for ; j < len(out); j++ {
		p := j * step
		s, e := int(ix[p])+1, int(ix[p+1])
		if last && e > s && buf[e-1] == '\r' {
			e--
		}
		l := e - s
		if l <= 0 || l > 8 || s+8 > n {
			return j
		}
		x, ok := swarFloat(binary.LittleEndian.Uint64(buf[s:]), l)
		if !ok {
			return j
		}
		out[j] = x
		if valid != nil {
			valid[(n0+j)>>3] |= 1 << ((n0 + j) & 7)
		}
	}
	return j
}

// dateRun parses YYYY-MM-DD from row j on.
func dateRun(out []int32, valid []byte, n0 int, buf []byte, ix []int32, step, j int, last bool) int {
	n := len(buf)
	for ; j < len(out); j++ {
		p := j * step
		s, e := int(ix[p])+1, int(ix[p+1])
		if last && e > s && buf[e-1] == '\r' {
			e--
		}
		if e-s != 10 || s+10 > n {
			return j
		}
		x, ok := swarDate(buf[s : s+10])
		if !ok {
			return j
		}
		out[j] = x
		if valid != nil {
			valid[(n0+j)>>3] |= 1 << ((n0 + j) & 7)
		}
	}
	return j
}

// swarFloat parses [-]digits[.digits] of l (1..8) bytes at the bottom of w:
// at most 7 digits, so mantissa/10^k is exact as in parseFloat64.
func swarFloat(w uint64, l int) (float64, bool) {
	neg := false
	if byte(w) == '-' {
		neg = true
		w >>= 8
		l--
	}
	if l <= 0 {
		return 0, false
	}
	dots := zeroBytes(w^(ones8*'.')) & (^uint64(0) >> (uint(8-l) * 8))
	var m uint64
	var frac int
	if dots == 0 {
		var ok bool
		if m, ok = swarUint(w, l); !ok {
			return 0, false
		}
	} else {
		dot := bits.TrailingZeros64(dots) >> 3
		frac = l - dot - 1
		if dot+frac == 0 {
			return 0, false // "." alone
		}
		ip, ok1 := swarUint(w, dot)
		fp, ok2 := swarUint(w>>(uint(dot+1)*8), frac)
		if !ok1 || !ok2 {
			return 0, false
		}
		m = ip*uint64(pow10int[frac]) + fp
	}
	f := float64(m)
	if frac > 0 {
		f /= pow10tab[frac]
	}
	if neg {
		f = -f
	}
	return f, true
}

var pow10int = [...]uint32{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000}

// swarDate parses the 10 bytes YYYY-MM-DD.
func swarDate(b []byte) (int32, bool) {
	w := binary.LittleEndian.Uint64(b)
	if (w>>32)&0xff != '-' || (w>>56)&0xff != '-' {
		return 0, false
	}
	y, ok1 := swarUint(w, 4)
	m, ok2 := swarUint(w>>40, 2)
	d, ok3 := swarUint(uint64(binary.LittleEndian.Uint16(b[8:])), 2)
	if !(ok1 && ok2 && ok3) || m < 1 || m > 12 || d < 1 {
		return 0, false
	}
	md := monthDays[m]
	if m == 2 && isLeap(int(y)) {
		md = 29
	}
	if int(d) > md {
		return 0, false
	}
	return int32(daysFromCivil(int(y), int(m), int(d))), true
}

// swarUint parses the l (0..8) bytes at the bottom of w as decimal digits
// (l == 0 gives 0).
func swarUint(w uint64, l int) (uint64, bool) {
	sh := uint(8-l) * 8
	// Digits in the top l bytes, zero bytes (leading zeros) below; then
	// each byte's value: 0..9 for a digit.
	t := (w << sh) ^ (0x3030303030303030 << sh)
	if ((t+0x7676767676767676)|t)&0x8080808080808080 != 0 {
		return 0, false
	}
	t = (t * 2561) >> 8
	t = ((t & 0x00FF00FF00FF00FF) * 6553601) >> 16
	return ((t & 0x0000FFFF0000FFFF) * 42949672960001) >> 32, true
}
