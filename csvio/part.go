package csvio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage/internal/fileio"
)

// A Part is a piece of a planned CSVOrigin's input that can be read on its
// own, by another process: a byte range of one file that starts and ends at
// a record boundary, or a whole file when it cannot be cut (compressed, or
// in an encoding other than UTF-8). Distributed runners (the Beam
// translation) read the parts of an origin in parallel.
type Part struct {
	File   int    // index of the file in the origin's files, in reading order
	Path   string // the file, as path gives it
	Offset int64  // first byte of the part; 0 with Whole
	Length int64  // bytes in the part; 0 with Whole
	Line   int64  // line of the file on which the part starts
	Whole  bool   // the part is the whole file, header included
}

// Parts cuts the origin's files (Plan must have run) into parts of about
// size bytes each, cut after a newline outside quotes: the quote state is
// tracked from the start of each file, as the parallel reader does, so a
// newline inside a quoted field never cuts a record. Each part knows the
// line it starts on, so that errors name the file's lines. A file that
// cannot be cut is one Whole part.
func (o *CSVOrigin) Parts(size int64) ([]Part, error) {
	if size <= 0 {
		size = 32 << 20
	}
	var parts []Part
	for i, path := range o.files {
		opts := o.options(path)
		cfg, err := opts.resolve()
		if err != nil {
			return nil, err
		}
		if fileio.Resolve(path, o.Compression) != fileio.None || !cfg.enc.native {
			parts = append(parts, Part{File: i, Path: path, Line: 1, Whole: true})
			continue
		}
		ps, err := cutFile(i, path, cfg, size)
		if err != nil {
			return nil, err
		}
		parts = append(parts, ps...)
	}
	return parts, nil
}

// cutFile finds the parts of one uncompressed UTF-8 file.
func cutFile(index int, path string, cfg *readConfig, size int64) ([]Part, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Find where the data starts: after the byte order mark and the header.
	cr := &countReader{r: f}
	rr := newRecordReader(cfg, cr, 64<<10)
	if cfg.Header {
		if _, _, err := rr.header(); err != nil {
			return nil, err
		}
	} else if err := rr.prime(); err != nil {
		return nil, err
	}
	start := cr.n - int64(rr.end-rr.pos)
	line := rr.line
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return nil, err
	}
	var parts []Part
	d := &cfg.d
	buf := make([]byte, 4<<20)
	off := start // file offset of buf[0]
	partStart := start
	partLine := line
	inQuote := false
	for {
		n, err := io.ReadFull(f, buf)
		if n == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF) {
			break
		}
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%s: read: %w", path, err)
		}
		b := buf[:n]
		i := 0
		for i < len(b) {
			if inQuote {
				j := bytes.IndexByte(b[i:], d.quote)
				if j < 0 {
					line += int64(bytes.Count(b[i:], nlBytes))
					i = len(b)
					break
				}
				line += int64(bytes.Count(b[i:i+j], nlBytes))
				i += j + 1
				inQuote = false
				continue
			}
			// Outside quotes: cut at the first newline once the part is
			// big enough.
			end := len(b)
			q := -1
			if d.quoting {
				if q = bytes.IndexByte(b[i:], d.quote); q >= 0 {
					end = i + q
				}
			}
			seg := b[i:end]
			if want := partStart + size - (off + int64(i)); want <= int64(len(seg)) {
				from := max(0, int(want)-1)
				if k := bytes.IndexByte(seg[from:], '\n'); k >= 0 {
					cut := i + from + k + 1
					line += int64(bytes.Count(b[i:cut], nlBytes))
					parts = append(parts, Part{File: index, Path: cfg.Path, Offset: partStart, Length: off + int64(cut) - partStart, Line: partLine})
					partStart, partLine = off+int64(cut), line
					i = cut
					continue
				}
			}
			line += int64(bytes.Count(seg, nlBytes))
			if q < 0 {
				i = len(b)
				break
			}
			i = end + 1
			inQuote = true
		}
		off += int64(n)
		if err != nil {
			break
		}
	}
	if off > partStart || len(parts) == 0 {
		parts = append(parts, Part{File: index, Path: cfg.Path, Offset: partStart, Length: off - partStart, Line: partLine})
	}
	return parts, nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ReadPart reads one part of the origin as Pump reads its files (the same
// schema, projection, filename column and rejects): send receives each
// batch, with reject true for the batches of the reject pipe, and owns it.
// Lines in errors and rejects are the file's.
func (o *CSVOrigin) ReadPart(ctx context.Context, alloc memory.Allocator, part Part, send func(rec arrow.RecordBatch, reject bool) error) error {
	if part.File < 0 || part.File >= len(o.files) {
		return fmt.Errorf("part of file %d of %d: the origin's files changed since the parts were cut", part.File, len(o.files))
	}
	path := o.files[part.File]
	opts := o.options(path)
	opts.Alloc = alloc
	opts.Select = o.sel
	opts.Workers = o.workers
	opts.Where = o.fold
	var src io.Reader
	if part.Whole {
		f, err := o.open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		src = f
	} else {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		src = io.NewSectionReader(f, part.Offset, part.Length)
		opts.Header = false
	}
	shift := func(line int64) int64 {
		if part.Whole || line <= 0 {
			return line
		}
		return line + part.Line - 1
	}
	r := NewReaderContext(ctx, src, o.schema, opts)
	defer r.Close()
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var pe *ParseError
			if errors.As(err, &pe) {
				pe.Line = shift(pe.Line)
			}
			return o.hint(err)
		}
		if o.addName {
			rec = withName(alloc, rec, o.FilenameColumn, path)
		}
		if err := send(rec, false); err != nil {
			return err
		}
		if rejects := r.Rejects(); len(rejects) > 0 {
			for i := range rejects {
				rejects[i].Line = shift(rejects[i].Line)
				var pe *ParseError
				if errors.As(rejects[i].Err, &pe) {
					pe.Line = shift(pe.Line)
				}
			}
			if err := send(o.rejectBatch(alloc, rejects), true); err != nil {
				return err
			}
		}
	}
}
