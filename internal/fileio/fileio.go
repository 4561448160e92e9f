// Package fileio is what the file stages (CSV, JSON, Excel) share: a path
// that is a file, a glob or a list of them; compression chosen by name or
// by the file's extension; reading with a decompressor that runs ahead in
// its own goroutine; and output written atomically (internal/atomicfile)
// through a compressor.
package fileio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/atomicfile"
)

// Compression settings of the `compression` parameter.
const (
	Auto = "auto"
	None = "none"
	Gzip = "gzip"
	Zstd = "zstd"
)

// Enum is the `enum` tag value of a `compression` parameter.
const Enum = "auto,none,gzip,zstd"

// Resolve returns the compression of path for a setting: auto means gzip
// for .gz, zstd for .zst and .zstd, none otherwise.
func Resolve(path, setting string) string {
	if setting != "" && setting != Auto {
		return setting
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".gz", ".gzip":
		return Gzip
	case ".zst", ".zstd":
		return Zstd
	}
	return None
}

// IsGlob reports whether p holds glob metacharacters.
func IsGlob(p string) bool { return strings.ContainsAny(p, "*?[") }

// Expand returns the files of a path parameter: each item is a file or a
// glob; a glob's matches come in name order, the items in their order. A
// glob that matches nothing, a malformed glob and a folder are errors; a
// missing file is reported by Open, with advice.
func Expand(items []string) ([]string, error) {
	if len(items) == 0 {
		return nil, errors.New("path is empty; give a file, a glob (data/*.csv) or a list of them")
	}
	var out []string
	for _, p := range items {
		if p == "" {
			return nil, errors.New("path has an empty item")
		}
		if !IsGlob(p) {
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				return nil, fmt.Errorf("'%s' is a folder, not a file; to read its files give a glob such as '%s'", p, filepath.Join(p, "*"))
			}
			out = append(out, p)
			continue
		}
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("path '%s' is not a valid glob: %v", p, err)
		}
		files := m[:0]
		for _, f := range m {
			if st, err := os.Stat(f); err == nil && !st.IsDir() {
				files = append(files, f)
			}
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("path '%s' matches no file (in a job file, relative paths start from the job file's folder)", p)
		}
		sort.Strings(files)
		out = append(out, files...)
	}
	return out, nil
}

// OpenFile opens path with an error that says what to do.
func OpenFile(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err == nil {
		return f, nil
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("file '%s' does not exist; check the path (in a job file, relative paths start from the job file's folder)", path)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("cannot read '%s': permission denied", path)
	}
	return nil, fmt.Errorf("cannot open '%s': %w", path, errors.Unwrap(err))
}

// Open opens path for reading, decompressed as comp says (a resolved
// compression: none, gzip or zstd). Decompression runs ahead in its own
// goroutine, so that it overlaps with the parsing of what it produced.
func Open(path, comp string) (io.ReadCloser, error) {
	f, err := OpenFile(path)
	if err != nil {
		return nil, err
	}
	switch comp {
	case None, "":
		return f, nil
	case Gzip:
		zr, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("'%s' is not a gzip file (%v); set compression: none if it is not compressed", path, err)
		}
		return newReadAhead(&gzipReader{zr, path}, f), nil
	case Zstd:
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("'%s': %v", path, err)
		}
		return newReadAhead(&zstdReader{zr, path}, f), nil
	}
	f.Close()
	return nil, fmt.Errorf("unknown compression '%s' (want %s)", comp, Enum)
}

type gzipReader struct {
	r    *gzip.Reader
	path string
}

func (g *gzipReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("'%s': gzip: %v (is the file complete?)", g.path, err)
	}
	return n, err
}

type zstdReader struct {
	r    *zstd.Decoder
	path string
}

func (z *zstdReader) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("'%s': zstd: %v (is the file complete?)", z.path, err)
	}
	return n, err
}

func (z *zstdReader) Close() error { z.r.Close(); return nil }

// readAhead reads its source in a goroutine, one block ahead of the
// consumer.
type readAhead struct {
	blocks chan block
	free   chan []byte
	stop   chan struct{}
	done   chan struct{}
	cur    []byte // unread part of whole
	whole  []byte
	err    error
	src    io.Reader
	file   io.Closer
}

type block struct {
	b   []byte
	err error
}

const readAheadBlock = 1 << 20

func newReadAhead(src io.Reader, file io.Closer) *readAhead {
	r := &readAhead{blocks: make(chan block, 2), free: make(chan []byte, 4), stop: make(chan struct{}), done: make(chan struct{}), src: src, file: file}
	go r.run()
	return r
}

func (r *readAhead) run() {
	defer close(r.done)
	defer close(r.blocks)
	for {
		var buf []byte
		select {
		case buf = <-r.free:
		default:
			buf = make([]byte, readAheadBlock)
		}
		n, err := io.ReadFull(r.src, buf[:cap(buf)])
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		select {
		case r.blocks <- block{buf[:n], err}:
		case <-r.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (r *readAhead) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		b, ok := <-r.blocks
		if !ok {
			if r.err == nil {
				r.err = io.EOF
			}
			continue
		}
		r.cur, r.whole, r.err = b.b, b.b, b.err
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	if len(r.cur) == 0 && cap(r.whole) == readAheadBlock {
		select {
		case r.free <- r.whole[:0]:
		default:
		}
		r.whole = nil
	}
	return n, nil
}

func (r *readAhead) Close() error {
	close(r.stop)
	<-r.done
	if c, ok := r.src.(io.Closer); ok {
		c.Close()
	}
	return r.file.Close()
}

// Output is a file being written atomically, through a compressor.
type Output struct {
	File *atomicfile.File
	w    io.Writer
	zc   io.WriteCloser // the compressor, nil without compression
}

// Create starts writing path (comp resolved: none, gzip or zstd).
func Create(path, comp string) (*Output, error) {
	f, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot create a file in '%s': %w", atomicfile.Dir(path), errors.Unwrap(err))
	}
	o := &Output{File: f, w: f}
	switch comp {
	case None, "":
	case Gzip:
		o.zc = gzip.NewWriter(f)
	case Zstd:
		zw, err := zstd.NewWriter(f)
		if err != nil {
			f.Abort()
			return nil, err
		}
		o.zc = zw
	default:
		f.Abort()
		return nil, fmt.Errorf("unknown compression '%s' (want %s)", comp, Enum)
	}
	if o.zc != nil {
		o.w = o.zc
	}
	return o, nil
}

// Write writes (compressed) data.
func (o *Output) Write(p []byte) (int, error) { return o.w.Write(p) }

// Close ends the compressed stream; the file is published by Publish.
func (o *Output) Close() error {
	if o.zc != nil {
		zc := o.zc
		o.zc = nil
		return zc.Close()
	}
	return nil
}

// Publish puts the file in place (see atomicfile.File.Publish); a nil
// Output (nothing was written) does nothing.
func (o *Output) Publish(noReplace bool) error {
	if o == nil {
		return nil
	}
	return o.File.Publish(noReplace)
}

// Abort discards the file; a nil Output does nothing.
func (o *Output) Abort() error {
	if o == nil {
		return nil
	}
	return o.File.Abort()
}

// CheckTypes is a file destination's check of its input: every column has
// one of the types openstage supports; which ends the error about another
// ("CSV cannot hold": "column 'x' has type ..., which CSV cannot hold").
func CheckTypes(s *arrow.Schema, which string) error {
	for _, f := range s.Fields() {
		if !openstage.Supported(f.Type) {
			return fmt.Errorf("column '%s' has type %s, which %s", f.Name, f.Type, which)
		}
	}
	return nil
}
