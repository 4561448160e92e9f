package sqlio

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/open-stage/openstage"
)

// The bulk-load paths (PostgreSQL's COPY FROM STDIN, MySQL's LOAD DATA
// LOCAL INFILE) read the same text format: one line per row, fields
// separated by tabs, backslash escapes, \N for NULL. textFormat says what
// differs between the two.
type textFormat struct {
	boolTrue, boolFalse string
	zone                bool   // timestamps end with +00 (PostgreSQL); MySQL takes none (the session is UTC)
	binaryPrefix        string // before the hex digits of binary values: \\x for PostgreSQL's bytea
	escapeNUL           bool   // MySQL reads \0 as a NUL byte; PostgreSQL text cannot hold one
}

var (
	pgText    = textFormat{boolTrue: "t", boolFalse: "f", zone: true, binaryPrefix: `\\x`}
	mysqlText = textFormat{boolTrue: "1", boolFalse: "0", escapeNUL: true} // binary columns go through UNHEX
)

// textLoader is an io.Reader of the rows of an input pipe in a textFormat,
// for a driver that streams a reader to the server. A goroutine receives
// and encodes the next batches while the driver sends the current one, so
// that encoding overlaps the server's work; Close stops it.
type textLoader struct {
	ctx  context.Context
	in   *openstage.Inputs
	f    textFormat
	rows int64
	err  error // the input's error (io.EOF at its end), seen by Read

	mu       sync.Mutex
	inputErr error // err, for the destination: the driver may still be in Read when it returns
	once     sync.Once
	cancel   context.CancelFunc
	ready    chan encoded
	free     chan []byte
	done     chan struct{}
	cur      []byte
	off      int
}

type encoded struct {
	buf  []byte
	rows int64
	err  error
}

func newTextLoader(ctx context.Context, in *openstage.Inputs, f textFormat) *textLoader {
	l := &textLoader{ctx: ctx, in: in, f: f}
	l.start()
	return l
}

// inErr returns the input's error that stopped Read, if any.
func (l *textLoader) inErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inputErr
}

func (l *textLoader) start() {
	ctx, cancel := context.WithCancel(l.ctx)
	l.cancel = cancel
	l.ready, l.free, l.done = make(chan encoded, 2), make(chan []byte, 3), make(chan struct{})
	for range 3 {
		l.free <- nil
	}
	go func() {
		defer close(l.done)
		for {
			var buf []byte
			select {
			case buf = <-l.free:
			case <-ctx.Done():
				return
			}
			dp, err := l.in.Recv(ctx)
			var e encoded
			if err != nil {
				e.err = err
			} else {
				e.buf, e.rows = l.f.appendBatch(buf[:0], dp.Batch), dp.Batch.NumRows()
				dp.Batch.Release()
			}
			select {
			case l.ready <- e:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
}

func (l *textLoader) Read(p []byte) (int, error) {
	for l.off == len(l.cur) {
		if l.err != nil {
			return 0, l.err
		}
		if l.cur != nil {
			l.free <- l.cur
			l.cur = nil
		}
		var e encoded
		select {
		case e = <-l.ready:
		case <-l.done: // stopped by cancellation, maybe without a word
			select {
			case e = <-l.ready:
			default:
				if e.err = l.ctx.Err(); e.err == nil {
					e.err = context.Canceled
				}
			}
		}
		if e.err != nil {
			l.err = e.err
			l.mu.Lock()
			l.inputErr = e.err
			l.mu.Unlock()
			return 0, e.err
		}
		l.cur, l.off = e.buf, 0
		l.rows += e.rows
	}
	n := copy(p, l.cur[l.off:])
	l.off += n
	return n, nil
}

// Close stops the encoding goroutine and waits for it.
func (l *textLoader) Close() {
	l.once.Do(func() {
		l.cancel()
		<-l.done
	})
}

var _ io.Reader = (*textLoader)(nil)

// appendBatch writes every row of rec.
func (f textFormat) appendBatch(buf []byte, rec arrow.RecordBatch) []byte {
	cols := rec.Columns()
	for i := range int(rec.NumRows()) {
		for c, col := range cols {
			if c > 0 {
				buf = append(buf, '\t')
			}
			buf = f.appendValue(buf, col, i)
		}
		buf = append(buf, '\n')
	}
	return buf
}

func (f textFormat) appendValue(buf []byte, col arrow.Array, i int) []byte {
	if col.IsNull(i) {
		return append(buf, `\N`...)
	}
	switch a := col.(type) {
	case *array.Int64:
		return strconv.AppendInt(buf, a.Value(i), 10)
	case *array.Float64:
		v := a.Value(i)
		switch {
		case math.IsNaN(v):
			return append(buf, "NaN"...)
		case math.IsInf(v, 1):
			return append(buf, "Infinity"...)
		case math.IsInf(v, -1):
			return append(buf, "-Infinity"...)
		}
		return strconv.AppendFloat(buf, v, 'g', -1, 64)
	case *array.Boolean:
		if a.Value(i) {
			return append(buf, f.boolTrue...)
		}
		return append(buf, f.boolFalse...)
	case *array.String:
		return f.appendEscaped(buf, a.Value(i))
	case *array.LargeString:
		return f.appendEscaped(buf, a.Value(i))
	case *array.Binary:
		buf = append(buf, f.binaryPrefix...)
		return hex.AppendEncode(buf, a.Value(i))
	case *array.LargeBinary:
		buf = append(buf, f.binaryPrefix...)
		return hex.AppendEncode(buf, a.Value(i))
	case *array.Date32:
		return a.Value(i).ToTime().AppendFormat(buf, "2006-01-02")
	case *array.Timestamp:
		t := a.Value(i).ToTime(a.DataType().(*arrow.TimestampType).Unit).UTC()
		buf = t.AppendFormat(buf, "2006-01-02 15:04:05.999999")
		if f.zone {
			buf = append(buf, "+00"...)
		}
		return buf
	}
	return f.appendEscaped(buf, col.ValueStr(i))
}

func (f textFormat) appendEscaped(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			buf = append(buf, '\\', '\\')
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\t':
			buf = append(buf, '\\', 't')
		case 0:
			if f.escapeNUL {
				buf = append(buf, '\\', '0')
			} else {
				buf = append(buf, 0)
			}
		default:
			buf = append(buf, c)
		}
	}
	return buf
}

// goValue returns value i of col as a database/sql argument: nil, int64,
// float64, bool, string, []byte or time.Time (UTC).
func goValue(col arrow.Array, i int) any {
	if col.IsNull(i) {
		return nil
	}
	switch a := col.(type) {
	case *array.LargeString:
		return a.Value(i)
	case *array.Binary:
		return append([]byte(nil), a.Value(i)...)
	case *array.LargeBinary:
		return append([]byte(nil), a.Value(i)...)
	}
	return openstage.Column{Array: col}.Value(i)
}

// dateText and timestampText are the texts SQLite stores dates and
// timestamps as (its date functions read them).
func dateText(t time.Time) string      { return t.Format("2006-01-02") }
func timestampText(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.999999-07:00") }

func errRow(first int64, err error) error {
	return fmt.Errorf("row %d: %w", first, err)
}
