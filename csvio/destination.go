package csvio

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/atomicfile"
	"github.com/open-stage/openstage/internal/fileio"
)

// CSVDestination writes its input to a CSV file, atomically: the rows go to
// an unnamed temporary file in the target's folder, which takes the target's
// place only once the whole job has succeeded. A failed or cancelled job
// leaves the target as it was (even when killed: on Linux the temporary file
// has no name until commit).
//
// if_exists: replace (default) writes a new file; append adds the rows after
// the existing ones (the existing header must match; the existing file is
// copied into the temporary file first, so that appending is atomic too —
// at the cost of copying it); fail refuses to run if the file exists.
//
// Nulls are written as empty fields and empty strings as "", so that reading
// the file back with CSVOrigin gives the same values; numbers are written in
// their shortest exact form.
type CSVDestination struct {
	Path        string `param:"path" path:"true" required:"true" doc:"The CSV file to write."`
	Delimiter   byte   `param:"delimiter" default:"," doc:"Field separator: one character; \\t for tab."`
	Header      bool   `param:"header" default:"true" doc:"Whether to write the column names first."`
	IfExists    string `param:"if_exists" default:"replace" enum:"replace,append,fail" doc:"What to do when the file exists: replace it, append to it, or fail."`
	Encoding    string `param:"encoding" default:"utf-8" doc:"Character encoding of the file: utf-8, utf-8-sig (with a byte order mark), latin1, windows-1252, utf-16 (little endian, with a byte order mark), or another name golang.org/x/text knows. A character the encoding cannot hold fails the job, naming the column."`
	Compression string `param:"compression" default:"auto" enum:"auto,none,gzip,zstd" doc:"Compression of the file; auto: gzip for .gz, zstd for .zst, none otherwise."`
	Shards      int    `param:"shards" default:"1" doc:"How many files to write: 1 (or 0) writes path; N > 1 writes N files named as Beam names sharded output, -SSSSS-of-NNNNN before the extension (out/orders.csv: out/orders-00000-of-00003.csv, out/orders-00001-of-00003.csv, out/orders-00002-of-00003.csv), each with the header. The batches go to the files in turn, so which file holds a row is not specified: together they hold every row. Not with if_exists: append."`

	schema  *arrow.Schema
	file    *fileio.Output
	shards  []*fileio.Output // Shards > 1
	workers int              // formatters: the job's workers (Plan.Workers)
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "CSVDestination",
		Layer:   openstage.Load,
		Summary: "Writes a CSV file atomically: complete when the job succeeds, untouched when it fails.",
		New:     func() any { return &CSVDestination{} },
		Example: `- name: writer
  type: CSVDestination
  path: out/high_value.csv
  if_exists: replace`,
	})
}

// NewCSVDestination returns a CSVDestination stage writing path (replace, comma, header).
func NewCSVDestination(name, path string) *openstage.Stage {
	return openstage.New(name, func(d *CSVDestination) { d.Path = path })
}

// Connectivity implements openstage's optional interface: one input.
func (d *CSVDestination) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinIn: 1, MaxIn: 1}
}

// Plan implements openstage.Destination: it checks the folder exists and,
// for append, that the existing header matches.
func (d *CSVDestination) Plan(_ context.Context, p *openstage.Plan) error {
	d.workers = p.Workers()
	d.schema = p.InputSchema()
	if err := fileio.CheckTypes(d.schema, "CSV cannot hold"); err != nil {
		return err
	}
	if _, err := lookupEncoding(d.Encoding); err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	if d.Shards < 0 {
		return fmt.Errorf("shards must be 1 or more, got %d", d.Shards)
	}
	if d.Shards > 1 {
		if d.IfExists == "append" {
			return fmt.Errorf("shards: %d cannot be used with if_exists: append (the rows of each run are spread over new files); use if_exists: replace or fail, or shards: 1", d.Shards)
		}
		for i := range d.Shards {
			if _, err := atomicfile.PlanTarget(ShardPath(d.Path, i, d.Shards), d.IfExists, "replace"); err != nil {
				return err
			}
		}
		return nil
	}
	exists, err := atomicfile.PlanTarget(d.Path, d.IfExists, "replace or append")
	if err != nil {
		return err
	}
	if d.IfExists == "append" {
		if st, err := os.Stat(d.Path); exists && err == nil && st.Size() > 0 && d.Header {
			if err := d.checkHeader(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *CSVDestination) readOptions() ReadOptions {
	return ReadOptions{Path: d.Path, Delimiter: d.Delimiter, Header: true, Encoding: d.Encoding}
}

func (d *CSVDestination) compression() string { return fileio.Resolve(d.Path, d.Compression) }

func (d *CSVDestination) checkHeader() error {
	f, err := fileio.Open(d.Path, d.compression())
	if err != nil {
		return err
	}
	defer f.Close()
	names, err := ReadHeader(f, d.readOptions())
	if err != nil {
		return fmt.Errorf("cannot append: %w", err)
	}
	want := openstage.ColumnNames(d.schema)
	if strings.Join(names, "\x00") != strings.Join(want, "\x00") {
		return fmt.Errorf("cannot append to '%s': its columns are %s but the input's are %s; use if_exists: replace or write another file", d.Path, strings.Join(names, ", "), strings.Join(want, ", "))
	}
	return nil
}

// ShardPath is the file of shard i of n of a destination writing path:
// -SSSSS-of-NNNNN before the extension (the part of the name from its first
// dot), as Beam names sharded output.
func ShardPath(path string, i, n int) string {
	dir, base := filepath.Split(path)
	stem, ext := base, ""
	if j := strings.IndexByte(base[min(1, len(base)):], '.'); j >= 0 {
		stem, ext = base[:j+1], base[j+1:]
	}
	return filepath.Join(dir, fmt.Sprintf("%s-%05d-of-%05d%s", stem, i, n, ext))
}

// Sink implements openstage.Destination.
func (d *CSVDestination) Sink(ctx context.Context, in *openstage.Inputs) error {
	if d.Shards > 1 {
		return d.sinkShards(ctx, in)
	}
	f, err := fileio.Create(d.Path, d.compression())
	if err != nil {
		return err
	}
	d.file = f
	header := d.Header
	copied := false
	if d.IfExists == "append" {
		if copied, err = d.copyExisting(f); err != nil {
			return err
		}
		header = header && !copied
	}
	w := NewWriter(f, d.schema, WriteOptions{Delimiter: d.Delimiter, Header: header, Encoding: d.Encoding, NoBOM: copied, Workers: d.workers})
	err = in.ForEach(ctx, func(dp openstage.DataPackage) error {
		if err := w.Write(dp.Batch); err != nil {
			return fmt.Errorf("writing '%s': %w", d.Path, err)
		}
		return nil
	})
	if err != nil {
		w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("writing '%s': %w", d.Path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing '%s': %w", d.Path, err)
	}
	return nil
}

// sinkShards writes the batches to the shards in turn.
func (d *CSVDestination) sinkShards(ctx context.Context, in *openstage.Inputs) error {
	writers := make([]*Writer, d.Shards)
	closeAll := func() {
		for _, w := range writers {
			if w != nil {
				w.Close()
			}
		}
	}
	for i := range d.Shards {
		f, err := fileio.Create(ShardPath(d.Path, i, d.Shards), d.compression())
		if err != nil {
			closeAll()
			return err
		}
		d.shards = append(d.shards, f)
		writers[i] = NewWriter(f, d.schema, WriteOptions{Delimiter: d.Delimiter, Header: d.Header, Encoding: d.Encoding, Workers: d.workers})
	}
	n := 0
	err := in.ForEach(ctx, func(dp openstage.DataPackage) error {
		i := n % d.Shards
		n++
		if err := writers[i].Write(dp.Batch); err != nil {
			return fmt.Errorf("writing '%s': %w", ShardPath(d.Path, i, d.Shards), err)
		}
		return nil
	})
	if err != nil {
		closeAll()
		return err
	}
	for i, w := range writers {
		err := w.Close()
		writers[i] = nil
		if err == nil {
			err = d.shards[i].Close()
		}
		if err != nil {
			closeAll()
			return fmt.Errorf("writing '%s': %w", ShardPath(d.Path, i, d.Shards), err)
		}
	}
	return nil
}

// copyExisting copies the current target (decompressed) into f, ending it
// with a newline. It reports whether there was anything to copy.
func (d *CSVDestination) copyExisting(f io.Writer) (bool, error) {
	if _, err := os.Stat(d.Path); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	src, err := fileio.Open(d.Path, d.compression())
	if err != nil {
		return false, err
	}
	defer src.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	var last byte
	n, err := io.Copy(bw, &lastByte{r: src, last: &last})
	if err != nil {
		return false, fmt.Errorf("copying '%s' before appending: %w", d.Path, err)
	}
	if n > 0 && last != '\n' {
		nl, err := lookupEncoding(d.Encoding)
		if err != nil {
			return false, err
		}
		if nl.utf16 {
			bw.Write([]byte{'\n', 0})
		} else {
			bw.WriteByte('\n')
		}
	}
	return n > 0, bw.Flush()
}

// lastByte remembers the last byte read through it.
type lastByte struct {
	r    io.Reader
	last *byte
}

func (l *lastByte) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if n > 0 {
		*l.last = p[n-1]
	}
	return n, err
}

// Commit implements openstage.Committer: the file takes the target's place.
func (d *CSVDestination) Commit(context.Context) error {
	if d.Shards > 1 {
		for i, f := range d.shards {
			if err := f.Publish(d.IfExists == "fail"); err != nil {
				for _, g := range d.shards[i+1:] {
					g.Abort()
				}
				return err
			}
		}
		return nil
	}
	return d.file.Publish(d.IfExists == "fail")
}

// Abort implements openstage.Committer: the temporary files are discarded.
func (d *CSVDestination) Abort() error {
	if d.Shards > 1 {
		var errs []error
		for _, f := range d.shards {
			errs = append(errs, f.Abort())
		}
		return errors.Join(errs...)
	}
	return d.file.Abort()
}
