package csvio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// Writer writes arrow record batches as CSV. Batches are cut into blocks of
// rows that are formatted in parallel and written to the io.Writer in order,
// each with a single Write call. A Writer is not safe for concurrent use.
//
// Formatting rules:
//   - records end with "\n"; fields are separated by the delimiter;
//   - a null is an empty field; an empty (non-null) string is written "";
//   - a string is quoted (RFC 4180) when it contains the delimiter, the quote
//     '"', CR or LF; quotes inside are doubled; other strings are written
//     as they are;
//   - int64 in decimal;
//   - a column whose form is in the schema's metadata (FormKey: what
//     InferSchema found) is written in that form: floats with a fixed
//     number of decimals, booleans in that spelling, timestamps with that
//     separator, fraction and zone; otherwise:
//   - float64 as the shortest decimal that reads back as the same value:
//     plain notation for zero and 1e-7 <= |v| < 1e21 (like strconv 'f', -1:
//     1234.5, 0.01, -0), exponent notation otherwise (1e+21, 5e-324); NaN,
//     Inf and -Inf as such;
//   - bool as true/false;
//   - date32 as YYYY-MM-DD, timestamp[us] as YYYY-MM-DDTHH:MM:SS[.ffffff]Z
//     (the fraction only when non-zero, always in UTC); dates outside the
//     years 0000-9999 are an error;
//   - the header holds the field names, quoted by the same rule.
//
// With the default NullValues, reading the output back gives the same values,
// with one exception: in a single-column file of strings a null is an empty
// line, which readers skip (a null of another type is written "").
type Writer struct {
	w       io.Writer
	schema  *arrow.Schema
	kinds   []colKind
	forms   []form
	enc     *textEncoding
	delim   byte
	special [256]bool // bytes that make a string need quotes
	opts    WriteOptions

	workers int
	jobs    chan *wjob
	order   chan *wjob
	wg      sync.WaitGroup
	bufs    sync.Pool

	started bool
	closed  bool
	rows    atomic.Int64
	rowEst  atomic.Int64 // bytes per row seen so far (for block sizing)

	mu  sync.Mutex
	err error
}

type wjob struct {
	rec    arrow.RecordBatch
	lo, hi int
	out    []byte
	err    error
	done   chan struct{}
}

// NewWriter returns a Writer of batches of the given schema. Schema and
// option errors are returned by the first Write or by Close. Close must be
// called; it does not close w.
func NewWriter(w io.Writer, schema *arrow.Schema, opts WriteOptions) *Writer {
	wr := &Writer{w: w, schema: schema, opts: opts, delim: opts.Delimiter}
	if wr.delim == 0 {
		wr.delim = ','
	}
	for _, c := range []byte{wr.delim, '"', '\n', '\r', 0} {
		wr.special[c] = true
	}
	if wr.delim == '"' || wr.delim == '\n' || wr.delim == '\r' {
		wr.err = fmt.Errorf("csvio: invalid delimiter %q", wr.delim)
	}
	if wr.err == nil {
		wr.kinds, wr.err = schemaKinds(schema)
	}
	if wr.err == nil {
		wr.forms = schemaForms(schema, wr.kinds)
		if wr.enc, wr.err = lookupEncoding(opts.Encoding); wr.err != nil {
			wr.err = fmt.Errorf("csvio: %w", wr.err)
		}
	}
	wr.workers = opts.Workers
	if wr.workers <= 0 {
		wr.workers = runtime.GOMAXPROCS(0)
	}
	if wr.opts.BufferSize <= 0 {
		wr.opts.BufferSize = defaultWriteBuf
	}
	return wr
}

func (w *Writer) getErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *Writer) setErr(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

// Rows returns the number of data rows written to the io.Writer so far
// (all of them once Close has returned without error).
func (w *Writer) Rows() int64 { return w.rows.Load() }

func (w *Writer) start() {
	w.started = true
	q := 2 * w.workers
	w.order = make(chan *wjob, q)
	w.jobs = make(chan *wjob, q+2)
	w.wg.Add(1 + w.workers)
	go w.output()
	for i := 0; i < w.workers; i++ {
		go w.work()
	}
	if bom := w.enc.bomBytes(); bom != nil && !w.opts.NoBOM {
		j := &wjob{out: bom, done: make(chan struct{})}
		close(j.done)
		w.order <- j
	}
	if w.opts.Header {
		j := &wjob{done: make(chan struct{})}
		for i, f := range w.schema.Fields() {
			if i > 0 {
				j.out = append(j.out, w.delim)
			}
			j.out, _ = w.appendString(j.out, f.Name)
		}
		j.out = append(j.out, '\n')
		if en := w.enc.newEncoder(); en != nil {
			out, r, ok := en.encode(j.out)
			if !ok {
				j.out, j.err = nil, fmt.Errorf("csvio: the header: character %q (U+%04X) cannot be written in %s; choose an encoding that has it (encoding: utf-8)", r, r, w.enc.name)
			} else {
				j.out = append([]byte(nil), out...)
			}
		}
		close(j.done)
		w.order <- j
	}
}

func (w *Writer) work() {
	defer w.wg.Done()
	en := w.enc.newEncoder()
	for j := range w.jobs {
		if w.getErr() == nil {
			var buf []byte
			if b, ok := w.bufs.Get().(*[]byte); ok {
				buf = (*b)[:0]
			}
			j.out, j.err = w.format(buf, j.rec, j.lo, j.hi)
			if j.err == nil && en != nil {
				j.err = w.encode(en, j)
			}
		}
		j.rec.Release()
		j.rec = nil
		close(j.done)
	}
}

func (w *Writer) output() {
	defer w.wg.Done()
	for j := range w.order {
		<-j.done
		if j.err != nil {
			w.setErr(j.err)
		} else if j.out != nil && w.getErr() == nil {
			if _, err := w.w.Write(j.out); err != nil {
				w.setErr(err)
			} else if j.hi > j.lo {
				w.rows.Add(int64(j.hi - j.lo))
				w.rowEst.Store(int64(len(j.out)/(j.hi-j.lo)) + 1)
			}
		}
		if j.rec != nil { // never formatted
			j.rec.Release()
		}
		if j.out != nil && j.hi > j.lo {
			b := j.out[:0]
			w.bufs.Put(&b)
		}
	}
}

// Write queues rec for writing. It retains rec and releases it once
// formatted, so the caller may Release it right after Write returns. Errors
// (formatting or from the io.Writer) surface on a later Write or on Close.
func (w *Writer) Write(rec arrow.RecordBatch) error {
	if w.closed {
		return ErrClosed
	}
	if err := w.getErr(); err != nil {
		return err
	}
	if int(rec.NumCols()) != len(w.kinds) {
		return fmt.Errorf("csvio: batch has %d columns, schema has %d", rec.NumCols(), len(w.kinds))
	}
	for i := range w.kinds {
		if !arrow.TypeEqual(rec.Column(i).DataType(), w.schema.Field(i).Type) {
			return fmt.Errorf("csvio: column '%s': batch type %s, schema type %s", w.schema.Field(i).Name, rec.Column(i).DataType(), w.schema.Field(i).Type)
		}
	}
	if !w.started {
		w.start()
	}
	n := int(rec.NumRows())
	est := w.rowEst.Load()
	if est <= 0 {
		est = int64(8 * len(w.kinds))
	}
	step := int(int64(w.opts.BufferSize) / est)
	if step < 256 {
		step = 256
	}
	for lo := 0; lo < n; lo += step {
		hi := min(lo+step, n)
		rec.Retain()
		j := &wjob{rec: rec, lo: lo, hi: hi, done: make(chan struct{})}
		w.order <- j
		w.jobs <- j
	}
	return nil
}

// Close writes the header if nothing was written, waits for all queued
// batches to be written and returns the first error.
func (w *Writer) Close() error {
	if w.closed {
		return w.getErr()
	}
	w.closed = true
	if w.getErr() == nil && !w.started {
		w.start()
	}
	if w.started {
		close(w.jobs)
		close(w.order)
		w.wg.Wait()
	}
	return w.getErr()
}

var errYearRange = errors.New("outside the years 0000-9999")

// encode replaces j.out by its encoding, or names the first value that the
// encoding cannot hold.
func (w *Writer) encode(en *encoder, j *wjob) error {
	out, r, ok := en.encode(j.out)
	if ok {
		j.out = append(j.out[:0], out...)
		return nil
	}
	for row := j.lo; row < j.hi; row++ {
		for ci, k := range w.kinds {
			if k != kString || j.rec.Column(ci).IsNull(row) {
				continue
			}
			if s := j.rec.Column(ci).(*array.String).Value(row); !en.canEncode(s) {
				return fmt.Errorf("csvio: column '%s': row %d: a character of %s cannot be written in %s; choose an encoding that has it (encoding: utf-8)", w.schema.Field(ci).Name, row+1, quoteValue([]byte(s)), w.enc.name)
			}
		}
	}
	return fmt.Errorf("csvio: character %q (U+%04X) cannot be written in %s; choose an encoding that has it (encoding: utf-8)", r, r, w.enc.name)
}

// format appends rows [lo, hi) of rec to dst.
func (w *Writer) format(dst []byte, rec arrow.RecordBatch, lo, hi int) ([]byte, error) {
	type col struct {
		kind  colKind
		nulls bool
		valid []byte // validity bitmap, when nulls
		off   int    // the array's offset into valid
		i64   []int64
		f64   []float64
		d32   []arrow.Date32
		ts    []arrow.Timestamp
		b     *array.Boolean
		s     *array.String
		offs  []int32 // string value offsets (of row r: offs[r], offs[r+1])
		vals  []byte  // the whole string value buffer offs point into
	}
	cols := make([]col, len(w.kinds))
	for i, k := range w.kinds {
		a := rec.Column(i)
		c := col{kind: k, nulls: a.NullN() > 0, off: a.Data().Offset()}
		if c.nulls {
			c.valid = a.NullBitmapBytes()
		}
		switch k {
		case kInt64:
			c.i64 = a.(*array.Int64).Int64Values()
		case kFloat64:
			c.f64 = a.(*array.Float64).Float64Values()
		case kDate32:
			c.d32 = a.(*array.Date32).Date32Values()
		case kTimestamp:
			c.ts = a.(*array.Timestamp).TimestampValues()
		case kBool:
			c.b = a.(*array.Boolean)
		case kString:
			c.s = a.(*array.String)
			c.offs = c.s.ValueOffsets()
			if b := a.Data().Buffers()[2]; b != nil {
				c.vals = b.Bytes()
			}
		}
		cols[i] = c
	}
	sp := newWriteSpec(w.delim)
	if est := w.rowEst.Load(); dst == nil || est > 0 && cap(dst) > 2*(hi-lo)*int(est) {
		// A block's size from the rows written so far (a batch is often
		// far smaller than BufferSize), with room for longer rows; a
		// recycled buffer more than twice that is dropped.
		size := w.opts.BufferSize + w.opts.BufferSize/4
		if est > 0 {
			size = min(size, (hi-lo)*int(est)*5/4+4096)
		}
		dst = make([]byte, 0, size)
	}
	delim := w.delim
	var ok bool
	var dates *dateCache
	for r := lo; r < hi; r++ {
		for ci := range cols {
			c := &cols[ci]
			if ci > 0 {
				dst = append(dst, delim)
			}
			if c.nulls && !bitutil.BitIsSet(c.valid, c.off+r) {
				if len(cols) == 1 && c.kind != kString {
					// An empty line would be skipped by readers; "" in a
					// column that is not a string reads as null.
					dst = append(dst, '"', '"')
				}
				continue
			}
			switch c.kind {
			case kInt64:
				dst = appendInt(dst, c.i64[r])
			case kFloat64:
				if d := w.forms[ci].decimals; d > 0 {
					dst = appendFixed(dst, c.f64[r], d)
				} else if w.forms[ci].repr {
					dst = appendRepr(dst, c.f64[r])
				} else {
					dst = appendFloat(dst, c.f64[r])
				}
			case kString:
				// Short strings without a byte that needs quotes (most
				// of them) are copied in two 8-byte moves.
				o0, o1 := int(c.offs[r]), int(c.offs[r+1])
				if n, l := o1-o0, len(dst); n > 0 && n <= 16 && o0+16 <= len(c.vals) && cap(dst)-l >= 16 {
					w0 := binary.LittleEndian.Uint64(c.vals[o0:])
					w1 := binary.LittleEndian.Uint64(c.vals[o0+8:])
					if !sp.special(w0, w1, n) {
						dst = dst[:l+16]
						binary.LittleEndian.PutUint64(dst[l:], w0)
						binary.LittleEndian.PutUint64(dst[l+8:], w1)
						dst = dst[:l+n]
						continue
					}
				}
				if dst, ok = w.appendString(dst, c.s.Value(r)); !ok {
					return dst, fmt.Errorf("csvio: column '%s': row %d: the string holds a NUL character, which a CSV file cannot hold (readers refuse it); remove it first", w.schema.Field(ci).Name, r)
				}
			case kBool:
				dst = appendBoolForm(dst, c.b.Value(r), w.forms[ci].boolCase)
			case kDate32:
				if dates == nil {
					dates = new(dateCache)
				}
				if dst, ok = dates.append(dst, c.d32[r]); !ok {
					return dst, fmt.Errorf("csvio: column '%s': row %d: date %w", w.schema.Field(ci).Name, r, errYearRange)
				}
			case kTimestamp:
				if f := &w.forms[ci]; f.hasTS {
					dst, ok = appendTimestampForm(dst, int64(c.ts[r]), &f.ts)
				} else {
					dst, ok = appendTimestamp(dst, int64(c.ts[r]))
				}
				if !ok {
					return dst, fmt.Errorf("csvio: column '%s': row %d: timestamp %w", w.schema.Field(ci).Name, r, errYearRange)
				}
			}
		}
		dst = append(dst, '\n')
	}
	return dst, nil
}

// appendString appends s, quoted when it must be; ok is false when s holds
// a NUL.
func (w *Writer) appendString(dst []byte, s string) ([]byte, bool) {
	if len(s) == 0 {
		return append(dst, '"', '"'), true
	}
	need := false
	special := &w.special
	for i := 0; i < len(s); i++ {
		if special[s[i]] {
			need = true
			break
		}
	}
	if !need {
		return append(dst, s...), true
	}
	if strings.IndexByte(s, 0) >= 0 {
		return dst, false
	}
	dst = append(dst, '"')
	for {
		i := indexByteString(s, '"')
		if i < 0 {
			dst = append(dst, s...)
			break
		}
		dst = append(dst, s[:i+1]...)
		dst = append(dst, '"')
		s = s[i+1:]
	}
	return append(dst, '"'), true
}

// writeSpec finds, in 8-byte words, the bytes that make a string need
// quotes: the delimiter, '"', and any byte below 0x20 (LF, CR and NUL among
// them; a string with another control byte takes the exact path).
type writeSpec struct{ d, q uint64 }

func newWriteSpec(delim byte) writeSpec {
	return writeSpec{d: ones8 * uint64(delim), q: ones8 * '"'}
}

// special reports whether one of the first n bytes (1 <= n <= 16) of the
// 16 held in w0, w1 may need quotes.
func (s writeSpec) special(w0, w1 uint64, n int) bool {
	m0 := s.marks(w0)
	if n < 8 {
		return m0&(1<<(8*n)-1) != 0
	}
	m1 := s.marks(w1)
	if n < 16 {
		m1 &= 1<<(8*(n-8)) - 1
	}
	return m0|m1 != 0
}

// marks sets the high bit of each byte of x that is special (exactly).
func (s writeSpec) marks(x uint64) uint64 {
	const hi = 0x8080808080808080
	below := ^(((x & lo7) + (0x80-0x20)*ones8) | x) & hi
	return below | zeroBytes(x^s.d) | zeroBytes(x^s.q)
}

// dateCache holds the text of the dates a block wrote last, by day number
// modulo its size: the dates of a file mostly fall within a few years, and
// copying ten bytes is several times cheaper than appendDate's calendar
// arithmetic.
type dateCache struct {
	days [1024]arrow.Date32
	set  [1024]bool
	text [1024][10]byte
}

// append appends the YYYY-MM-DD text of days, as appendDate does.
func (c *dateCache) append(dst []byte, days arrow.Date32) ([]byte, bool) {
	i := uint32(days) & 1023
	if c.set[i] && c.days[i] == days {
		return append(dst, c.text[i][:]...), true
	}
	n := len(dst)
	dst, ok := appendDate(dst, int64(days))
	if ok {
		copy(c.text[i][:], dst[n:])
		c.days[i], c.set[i] = days, true
	}
	return dst, ok
}
