package csvio

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
)

// Reader reads CSV into arrow record batches, parsing chunks of the input in
// parallel and returning the batches in input order. A Reader is not safe for
// concurrent use; to interrupt a blocked Next from another goroutine, cancel
// the context given to NewReaderContext.
type Reader struct {
	cfg    *readConfig
	file   *arrow.Schema // every column of the file
	schema *arrow.Schema // the columns of the batches (ReadOptions.Select)
	kinds  []colKind
	forms  []form     // of every column of the file
	where  *whereTest // ReadOptions.Where
	src    io.Reader

	parent context.Context
	ctx    context.Context
	cancel context.CancelFunc

	order chan *chunk // chunks in input order, for the consumer
	jobs  chan *chunk // the same chunks, for the workers
	free  chan []byte // recycled chunk buffers
	wg    sync.WaitGroup

	started bool
	err     error  // sticky: returned by every later Next
	cur     *chunk // chunk whose result Next is waiting for
	rejects []Reject
	closed  bool
	dropped int64 // rows left out by ReadOptions.Where
}

// NewReader reads r from its start (including the header when opts.Header)
// with the given schema; see NewReaderContext.
func NewReader(r io.Reader, schema *arrow.Schema, opts ReadOptions) *Reader {
	return NewReaderContext(context.Background(), r, schema, opts)
}

// NewReaderContext is NewReader with a context: once ctx is done, Next
// returns ctx.Err() and the workers stop. Columns are matched to the schema
// by position; the schema's field count must equal the file's. Configuration
// and schema errors are returned by the first Next. Nothing is read before
// the first Next. The caller must Close the Reader (Close is safe before EOF
// and more than once); Close waits for an in-progress Read of r to return.
func NewReaderContext(ctx context.Context, r io.Reader, schema *arrow.Schema, opts ReadOptions) *Reader {
	rd := &Reader{file: schema, schema: schema, src: r, parent: ctx}
	cfg, err := opts.resolve()
	if err != nil {
		rd.err = err
		return rd
	}
	rd.cfg = cfg
	rd.src = cfg.enc.wrapReader(r)
	rd.kinds, rd.err = schemaKinds(schema)
	if rd.err == nil && len(rd.kinds) == 0 {
		rd.err = fmt.Errorf("csvio: schema has no fields")
	}
	if rd.err == nil {
		rd.forms = schemaForms(schema, rd.kinds)
		rd.kinds, rd.schema, rd.err = project(schema, rd.kinds, opts.Select)
	}
	if rd.err == nil && opts.Where != nil {
		rd.where, rd.err = compileWhere(opts.Where, schema, rd.kinds)
	}
	return rd
}

// Schema returns the schema of the batches: the schema given to
// NewReaderContext, or the selected part of it (ReadOptions.Select).
func (r *Reader) Schema() *arrow.Schema { return r.schema }

// Dropped returns how many rows ReadOptions.Where has left out so far.
func (r *Reader) Dropped() int64 { return r.dropped }

// Rejects returns the rows left out of the batch last returned by Next
// (CollectRejects only), in input order.
func (r *Reader) Rejects() []Reject { return r.rejects }

func (r *Reader) start() {
	r.started = true
	r.ctx, r.cancel = context.WithCancel(r.parent)
	w := r.cfg.workers
	q := w + 1
	r.order = make(chan *chunk, q)
	r.jobs = make(chan *chunk, q)
	r.free = make(chan []byte, q+w+2)
	r.wg.Add(1 + w)
	go r.split()
	for i := 0; i < w; i++ {
		go r.work()
	}
}

// Next returns the next batch, or io.EOF after the last one. The caller
// owns the batch and must Release it. Rows before a failing row are
// returned first; the error comes on the following call and on every call
// after it. With CollectRejects, a batch may have zero rows when all of its
// rows were rejected.
func (r *Reader) Next() (arrow.RecordBatch, error) {
	r.rejects = nil
	if r.err != nil {
		return nil, r.err
	}
	if !r.started {
		r.start()
	}
	for {
		var ch *chunk
		var ok bool
		select {
		case ch, ok = <-r.order:
		case <-r.ctx.Done():
			return nil, r.ctxErr()
		}
		if !ok {
			r.err = io.EOF
			return nil, io.EOF
		}
		r.cur = ch
		var res chunkResult
		select {
		case res = <-ch.res:
		case <-r.ctx.Done():
			return nil, r.ctxErr()
		}
		r.cur = nil
		r.dropped += int64(res.dropped)
		if res.err != nil {
			r.err = res.err
			r.cancel() // stop reading ahead
		}
		if res.batch != nil {
			r.rejects = res.rejects
			return res.batch, nil
		}
		if res.err != nil {
			return nil, res.err
		}
	}
}

func (r *Reader) ctxErr() error {
	if r.err == nil {
		r.err = r.parent.Err()
		if r.err == nil {
			r.err = ErrClosed
		}
	}
	return r.err
}

// Close stops the workers, waits for them and releases every batch not
// handed out. It is safe to call before EOF and more than once.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.started {
		r.cancel()
		r.wg.Wait()
		drain := func(ch *chunk) {
			select {
			case res := <-ch.res:
				if res.batch != nil {
					res.batch.Release()
				}
			default:
			}
		}
		if r.cur != nil {
			drain(r.cur)
			r.cur = nil
		}
		for ch := range r.order {
			drain(ch)
		}
	}
	r.err = ErrClosed
	r.rejects = nil
	return nil
}

func (r *Reader) work() {
	defer r.wg.Done()
	p := newParser(r.cfg, r.file, r.schema, r.kinds, r.forms)
	p.where = r.where
	for ch := range r.jobs {
		if r.ctx.Err() != nil {
			r.putBuf(ch.buf)
			continue
		}
		res := p.parse(ch)
		r.putBuf(ch.buf)
		ch.res <- res
	}
}

// getBuf returns an empty buffer of at least size bytes: a recycled one
// unless it is too small or more than twice as large (the first chunks of a
// file are read larger than the later ones, whose size the batches set).
func (r *Reader) getBuf(size int) []byte {
	select {
	case b := <-r.free:
		if cap(b) >= size && cap(b) <= 2*size {
			return b[:0]
		}
	default:
	}
	return make([]byte, 0, size)
}

// carryBuf returns a buffer holding a copy of rest, with room for a chunk
// of size bytes (rest included), rounded up so that recycled buffers fit the
// next chunks too.
func (r *Reader) carryBuf(rest []byte, size int) []byte {
	size = max(size, len(rest)+len(rest)/2, 16)
	size += size / 8
	if size > 256<<10 {
		size = (size + 64<<10 - 1) &^ (64<<10 - 1)
	}
	return append(r.getBuf(size), rest...)
}

func (r *Reader) putBuf(b []byte) {
	if b == nil || cap(b) > 2*r.cfg.chunkSize {
		return
	}
	select {
	case r.free <- b:
	default:
	}
}

// send queues a chunk for the workers and the consumer.
func (r *Reader) send(ch *chunk) bool {
	select {
	case r.order <- ch:
	case <-r.ctx.Done():
		return false
	}
	if ch.data == nil {
		return true // a pre-made result
	}
	select {
	case r.jobs <- ch:
		return true
	case <-r.ctx.Done():
		return false
	}
}

func (r *Reader) fail(err error) {
	ch := &chunk{res: make(chan chunkResult, 1)}
	ch.res <- chunkResult{err: err}
	r.send(ch)
}

// split reads the input in large chunks, cuts them at row boundaries and
// hands them out. The quote state is tracked from the start of the input,
// so quoted newlines never cut a row.
func (r *Reader) split() {
	defer r.wg.Done()
	defer close(r.jobs)
	defer close(r.order)
	cfg := r.cfg
	rr := newRecordReader(cfg, r.src, 64<<10)
	if cfg.Header {
		names, line, err := rr.header()
		if err != nil {
			r.fail(err)
			return
		}
		if len(names) != len(r.kinds) {
			r.fail(cfg.errf(line, "", "header has %d columns, schema has %d", len(names), len(r.kinds)))
			return
		}
	} else if err := rr.prime(); err != nil {
		r.fail(err)
		return
	}
	eof := rr.eof
	line := rr.line
	limit := cfg.batchRows
	size := cfg.chunkSize
	target := size
	d := &cfg.d
	// b holds the bytes carried over from the previous chunk.
	b := r.carryBuf(rr.buf[rr.pos:rr.end], size)
	for {
		if eof && len(b) == 0 {
			return
		}
		if target > cap(b) {
			target = cap(b)
		}
		var st splitState
		var cut, rowsHint, lines int // lines: newlines in b[:cut]
		truncated, byRows := false, false
		for {
			if !eof && len(b) < target {
				n, err := io.ReadFull(r.src, b[len(b):target])
				b = b[:len(b)+n]
				if err == io.EOF || err == io.ErrUnexpectedEOF {
					eof = true
				} else if err != nil {
					r.fail(fmt.Errorf("%s: read: %w", cfg.pathOr("csv"), err))
					return
				}
				if r.ctx.Err() != nil {
					return
				}
			}
			if k := st.scan(b, d, limit); k > 0 {
				cut, rowsHint, byRows = k, limit, true
				lines = limit + st.quotedNL
				break
			}
			if eof {
				cut, rowsHint = len(b), st.rows+1
				lines = st.rows + st.quotedNL
				break
			}
			if st.lastNL > 0 {
				cut, rowsHint = st.lastNL, st.lastNLRows
				lines = st.lastNLRows + st.lastNLQuoted
				break
			}
			if target < cap(b) {
				target = cap(b)
				continue
			}
			if len(b) >= cfg.maxRow {
				cut, rowsHint, truncated = len(b), 1, true
				lines = st.rows + st.quotedNL
				break
			}
			nb := make([]byte, len(b), max(2*cap(b), 16))
			copy(nb, b)
			b = nb
			target = cap(b)
		}
		ch := &chunk{
			buf:       b,
			data:      b[:cut],
			startLine: line,
			rowsHint:  rowsHint,
			eof:       eof && cut == len(b),
			truncated: truncated,
			res:       make(chan chunkResult, 1),
		}
		line += int64(lines)
		if byRows {
			// Read about one batch worth next time, so that little is
			// carried over.
			target = cut + cut/8 + 4096
			if target > size {
				target = size
			}
		} else {
			target = size
		}
		next := r.carryBuf(b[cut:], target)
		if !r.send(ch) || truncated {
			return
		}
		b = next
	}
}

// splitState scans a buffer for row boundaries, resuming where it stopped
// when the buffer grows. Every quote toggles the quoted state (a doubled quote
// toggles twice), which is exactly the parser's state for valid input; on
// invalid input the parser reports the error before any mis-cut matters.
type splitState struct {
	pos          int
	inQuote      bool
	rows         int // newlines outside quotes seen
	quotedNL     int // newlines inside quotes seen
	lastNL       int // index after the last newline outside quotes (0: none)
	lastNLRows   int
	lastNLQuoted int // quotedNL at lastNL
}

// scan returns the index after the limit-th newline outside quotes, or 0.
func (s *splitState) scan(b []byte, d *dialect, limit int) int {
	n := len(b)
	for s.pos < n {
		if s.inQuote {
			j := bytes.IndexByte(b[s.pos:], d.quote)
			if j < 0 {
				s.quotedNL += bytes.Count(b[s.pos:], nlBytes)
				s.pos = n
				break
			}
			s.quotedNL += bytes.Count(b[s.pos:s.pos+j], nlBytes)
			s.pos += j + 1
			s.inQuote = false
			continue
		}
		end, q := n, -1
		if d.quoting {
			if q = bytes.IndexByte(b[s.pos:], d.quote); q >= 0 {
				end = s.pos + q
			}
		}
		seg := b[s.pos:end]
		if c := bytes.Count(seg, nlBytes); c > 0 {
			if s.rows+c >= limit {
				k := s.pos
				for need := limit - s.rows; need > 0; need-- {
					k += bytes.IndexByte(b[k:end], '\n') + 1
				}
				s.rows = limit
				return k
			}
			s.rows += c
			s.lastNL = s.pos + bytes.LastIndexByte(seg, '\n') + 1
			s.lastNLRows = s.rows
			s.lastNLQuoted = s.quotedNL
		}
		if q < 0 {
			s.pos = n
			break
		}
		s.pos = end + 1
		s.inQuote = true
	}
	return 0
}
