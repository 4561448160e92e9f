// Package jsonio holds the JSON file stages: JSONOrigin reads
// newline-delimited JSON or a JSON document (an array of records, or
// records under json_path), JSONDestination writes NDJSON or a JSON array,
// atomically. Records are flattened and typed as APIRestOrigin does them
// (internal/jsonflat): nested objects flattened with "_" as pandas'
// json_normalize(sep="_"), arrays kept as JSON text unless explode names
// one.
package jsonio

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/valyala/fastjson"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/fileio"
	"github.com/open-stage/openstage/internal/jsonflat"
)

// JSONOrigin reads JSON files. Types come from the JSON values of the first
// sample_rows records (integers int64; integers and floats float64; bools
// bool; strings, arrays and values of conflicting kinds string) unless
// column_types declares them. Newline-delimited JSON is parsed in parallel
// chunks, streaming; a JSON document (an array, or records under
// json_path) is read whole.
type JSONOrigin struct {
	Path           openstage.Strings `param:"path" path:"true" required:"true" doc:"The JSON file to read; or a glob (data/*.ndjson, matches in name order) or a list of files and globs, read one after another as one stream with one schema."`
	Format         string            `param:"format" default:"auto" enum:"auto,ndjson,json" doc:"ndjson: one JSON value per line (JSON Lines); json: one document; auto: json when the file starts with [ or its first line is not a complete value, ndjson otherwise."`
	JSONPath       string            `param:"json_path" doc:"Dotted path to the records in each document (data.items; a number indexes an array: results.0.rows), as in APIRestOrigin. Empty: the document is an array of records, or one record."`
	Explode        string            `param:"explode" doc:"A flattened array column to turn into one row per element (its objects flattened under its name), as in APIRestOrigin."`
	ColumnTypes    map[string]string `param:"column_types" doc:"Column name → type (int64, float64, bool, string, date, timestamp), overriding inference; values are converted (a string \"2025-01-31\" to a date)."`
	SampleRows     int               `param:"sample_rows" default:"10000" doc:"How many records type inference reads (0: every record, across the files)."`
	Compression    string            `param:"compression" default:"auto" enum:"auto,none,gzip,zstd" doc:"Compression of the files; auto: gzip for .gz, zstd for .zst, none otherwise."`
	FilenameColumn string            `param:"filename_column" doc:"Name of a column to add holding the file each row came from."`
	BatchRows      int               `param:"batch_rows" default:"65536" doc:"Rows per batch (at most; NDJSON batches end with their chunk)."`

	files   []string
	cols    []jsonflat.Column
	schema  *arrow.Schema // of the output
	workers int
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "JSONOrigin",
		Layer:   openstage.Extraction,
		Summary: "Reads JSON files (newline-delimited or one document; plain, gzip or zstd), records flattened into typed columns.",
		Doc: `Records are flattened as APIRestOrigin flattens them: {"address": {"city": "X"}}
gives the column address_city (pandas' json_normalize(sep="_")); an array is
kept as JSON text unless explode names it. A record with a key that the first
sample_rows records did not have, or a value of another kind (a float in an
int64 column), fails the job naming the file, line and column, and the
options that fix it.`,
		New: func() any { return &JSONOrigin{} },
		Example: `- name: events_reader
  type: JSONOrigin
  path: data/events.ndjson
  column_types: {day: date}`,
	})
}

// NewJSONOrigin returns a JSONOrigin stage reading path (files or globs).
func NewJSONOrigin(name string, path ...string) *openstage.Stage {
	return openstage.New(name, func(o *JSONOrigin) { o.Path = path })
}

// Connectivity implements openstage's optional interface: one output.
func (o *JSONOrigin) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinOut: 1, MaxOut: 1}
}

// open opens the file at path, decompressing it, and tells NDJSON from one
// JSON document by its first 64 KiB.
func (o *JSONOrigin) open(path string) (f io.Closer, br *bufio.Reader, ndjson bool, err error) {
	rc, err := fileio.Open(path, fileio.Resolve(path, o.Compression))
	if err != nil {
		return nil, nil, false, err
	}
	br = bufio.NewReaderSize(rc, 1<<20)
	head, _ := br.Peek(64 << 10)
	return rc, br, o.isNDJSON(head), nil
}

func (o *JSONOrigin) newPath() *jsonflat.Path {
	p := jsonflat.ParsePath(o.JSONPath)
	p.Noun = "the file"
	return p
}

// Plan implements openstage.Origin: it samples the records to type the
// columns.
func (o *JSONOrigin) Plan(ctx context.Context, p *openstage.Plan) error {
	o.workers = p.Workers()
	files, err := fileio.Expand(o.Path)
	if err != nil {
		return err
	}
	declared := map[string]arrow.DataType{}
	for _, name := range slices.Sorted(maps.Keys(o.ColumnTypes)) {
		t, err := openstage.ParseType(o.ColumnTypes[name])
		if err != nil {
			return fmt.Errorf("column_types: column '%s': %w", name, err)
		}
		declared[name] = t
	}
	inf := jsonflat.NewInference(o.Explode)
	remaining := o.SampleRows
	all := remaining <= 0
	for _, path := range files {
		if !all && remaining <= 0 {
			break
		}
		err := o.records(ctx, path, func(rec *fastjson.Value, where string) error {
			if !all && remaining <= 0 {
				return errSampleFull
			}
			remaining--
			return inf.Add(rec, where)
		})
		if err != nil && !errors.Is(err, errSampleFull) {
			return err
		}
	}
	var cols []jsonflat.Column
	for i, name := range inf.Names() {
		if t, ok := declared[name]; ok {
			cols = append(cols, jsonflat.Column{Name: name, Type: t, Declared: true})
			continue
		}
		t, _ := inf.TypeOf(i)
		cols = append(cols, jsonflat.Column{Name: name, Type: t})
	}
	for _, name := range slices.Sorted(maps.Keys(declared)) {
		if !slices.Contains(inf.Names(), name) {
			cols = append(cols, jsonflat.Column{Name: name, Type: declared[name], Declared: true})
		}
	}
	if o.FilenameColumn != "" && slices.Contains(inf.Names(), o.FilenameColumn) {
		return fmt.Errorf("filename_column '%s' is also a key of the records; choose another name", o.FilenameColumn)
	}
	fields := make([]arrow.Field, 0, len(cols)+1)
	for _, c := range cols {
		fields = append(fields, arrow.Field{Name: c.Name, Type: c.Type, Nullable: true})
	}
	if len(fields) == 0 {
		return fmt.Errorf("the records of %s have no keys to make columns of; check json_path, or declare columns in column_types", quoteList(files))
	}
	if o.FilenameColumn != "" {
		fields = append(fields, arrow.Field{Name: o.FilenameColumn, Type: openstage.String, Nullable: true})
	}
	o.files, o.cols = files, cols
	o.schema = arrow.NewSchema(fields, nil)
	p.SetOutputs(o.schema)
	return nil
}

var errSampleFull = errors.New("sample full")

func quoteList(files []string) string {
	if len(files) == 1 {
		return "'" + files[0] + "'"
	}
	return fmt.Sprintf("'%s' and %d other files", files[0], len(files)-1)
}

// isNDJSON decides the format of a file from its first bytes.
func (o *JSONOrigin) isNDJSON(head []byte) bool {
	switch o.Format {
	case "ndjson":
		return true
	case "json":
		return false
	}
	head = bytes.TrimLeft(head, " \t\r\n\xEF\xBB\xBF")
	if len(head) == 0 || head[0] == '[' {
		return false
	}
	nl := bytes.IndexByte(head, '\n')
	if nl < 0 {
		return false // one value (or a longer first line: a document)
	}
	return fastjson.ValidateBytes(bytes.TrimSpace(head[:nl])) == nil
}

// records calls fn with every record of the file at path, in order, one
// goroutine (Plan's sample; a JSON document).
func (o *JSONOrigin) records(ctx context.Context, path string, fn func(rec *fastjson.Value, where string) error) error {
	f, br, ndjson, err := o.open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	jp := o.newPath()
	var parser fastjson.Parser
	if !ndjson {
		data, err := io.ReadAll(br)
		if err != nil {
			return fmt.Errorf("'%s': read: %w", path, err)
		}
		if len(bytes.TrimSpace(data)) == 0 {
			return nil // an empty file: no records
		}
		v, err := parseValue(&parser, data, path, 0)
		if err != nil {
			return err
		}
		where := "'" + path + "'"
		return jp.Each(v, where, func(rec *fastjson.Value) error { return fn(rec, where) })
	}
	line := int64(0)
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			var long []byte
			long = append(long, b...)
			for err == bufio.ErrBufferFull {
				b, err = br.ReadSlice('\n')
				long = append(long, b...)
			}
			b = long
		}
		if len(b) > 0 {
			line++
			if t := bytes.TrimSpace(b); len(t) > 0 {
				v, perr := parseValue(&parser, t, path, line)
				if perr != nil {
					return perr
				}
				where := path + ":" + strconv.FormatInt(line, 10)
				if e := jp.Each(v, where, func(rec *fastjson.Value) error { return fn(rec, where) }); e != nil {
					return e
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("'%s': read: %w", path, err)
		}
	}
}

// parseValue parses one JSON value; line 0 means a whole document.
func parseValue(p *fastjson.Parser, b []byte, path string, line int64) (*fastjson.Value, error) {
	// fastjson's parser is lenient (00, control characters in strings):
	// its validator is not.
	err := fastjson.ValidateBytes(b)
	if err == nil {
		var v *fastjson.Value
		if v, err = p.ParseBytes(b); err == nil {
			return v, nil
		}
	}
	if line > 0 {
		return nil, fmt.Errorf("%s:%d: malformed JSON: %v (format: ndjson reads one JSON value per line; a document over several lines needs format: json)", path, line, err)
	}
	return nil, fmt.Errorf("'%s': malformed JSON: %v", path, err)
}

// Pump implements openstage.Origin.
func (o *JSONOrigin) Pump(ctx context.Context, out *openstage.Outputs) error {
	for _, path := range o.files {
		if err := o.pumpFile(ctx, out, path); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
	}
	return nil
}

func (o *JSONOrigin) batchRows() int {
	if o.BatchRows <= 0 {
		return 65536
	}
	return o.BatchRows
}

// hint turns a record that does not fit the schema into an error saying how
// to fix it.
func (o *JSONOrigin) hint(err error) error {
	sample := "every record"
	if o.SampleRows > 0 {
		sample = fmt.Sprintf("the first %d records", o.SampleRows)
	}
	return fmt.Errorf("%w; the columns were typed from %s (sample_rows): raise sample_rows (0 reads every record) or declare the column in column_types", err, sample)
}

func (o *JSONOrigin) newConverter(alloc memory.Allocator, unknown *string) *jsonflat.Converter {
	c := jsonflat.NewConverter(alloc, o.cols, o.Explode)
	c.Flattener().OnUnknown = func(name string) {
		if *unknown == "" {
			*unknown = name
		}
	}
	return c
}

// add converts one record, with the checks of a record that the sample did
// not foresee.
func (o *JSONOrigin) add(c *jsonflat.Converter, unknown *string, rec *fastjson.Value, where string, n int) error {
	if err := c.Add(rec, where, n); err != nil {
		var hinted bool
		for _, col := range o.cols {
			if col.Declared && strings.Contains(err.Error(), "column '"+col.Name+"'") {
				hinted = true
			}
		}
		if hinted {
			return err
		}
		return o.hint(err)
	}
	if *unknown != "" {
		name := *unknown
		*unknown = ""
		return o.hint(fmt.Errorf("%s: key '%s' is not a column", where, name))
	}
	return nil
}

func (o *JSONOrigin) emit(ctx context.Context, out *openstage.Outputs, rec arrow.RecordBatch, path string) error {
	if o.FilenameColumn != "" {
		rec = withName(out.Allocator(), rec, o.schema, path)
	}
	defer rec.Release()
	return out.Send(ctx, rec)
}

func (o *JSONOrigin) pumpFile(ctx context.Context, out *openstage.Outputs, path string) error {
	f, br, ndjson, err := o.open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if ndjson {
		return o.pumpNDJSON(ctx, out, br, path)
	}
	var unknown string
	conv := o.newConverter(out.Allocator(), &unknown)
	defer conv.Release()
	n := 0
	err = o.records(ctx, path, func(rec *fastjson.Value, where string) error {
		n++
		if err := o.add(conv, &unknown, rec, where+", record "+strconv.Itoa(n), n); err != nil {
			return err
		}
		if conv.Rows() >= o.batchRows() {
			return o.emit(ctx, out, conv.Build(), path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if conv.Rows() > 0 {
		return o.emit(ctx, out, conv.Build(), path)
	}
	return nil
}

// An NDJSON chunk: whole lines, parsed by a worker into one batch.
type chunk struct {
	data      []byte
	startLine int64
	res       chan chunkResult
}

type chunkResult struct {
	batches []arrow.RecordBatch
	err     error
}

const chunkSize = 4 << 20

// pumpNDJSON cuts the input into chunks of whole lines, parses them on the
// job's workers and sends the batches in input order.
func (o *JSONOrigin) pumpNDJSON(ctx context.Context, out *openstage.Outputs, r io.Reader, path string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := o.workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	jobs := make(chan *chunk, workers)
	order := make(chan *chunk, workers+1)
	splitErr := make(chan error, 1)
	done := make(chan struct{})
	go func() { // splitter
		defer close(order)
		defer close(jobs)
		splitErr <- splitLines(ctx, r, path, func(c *chunk) bool {
			select {
			case order <- c:
			case <-ctx.Done():
				return false
			}
			select {
			case jobs <- c:
				return true
			case <-ctx.Done():
				c.res <- chunkResult{} // every chunk in order gets one result
				return false
			}
		})
	}()
	for range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			var parser fastjson.Parser
			var unknown string
			jp := o.newPath()
			conv := o.newConverter(out.Allocator(), &unknown)
			defer conv.Release()
			for c := range jobs {
				if ctx.Err() != nil {
					c.res <- chunkResult{}
					continue
				}
				c.res <- o.parseChunk(&parser, jp, conv, &unknown, c, path)
			}
		}()
	}
	var err error
	for c := range order {
		res := <-c.res
		for _, b := range res.batches {
			if err != nil || ctx.Err() != nil {
				b.Release()
				continue
			}
			if e := o.emit(ctx, out, b, path); e != nil {
				err = e
			}
		}
		if err != nil || ctx.Err() != nil {
			continue
		}
		if res.err != nil && err == nil {
			err = res.err
		}
		if err != nil {
			cancel()
		}
	}
	for range workers {
		<-done
	}
	if e := <-splitErr; err == nil && e != nil && ctx.Err() == nil {
		err = e
	}
	if err == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// parseChunk converts the lines of c into one batch, or returns the error
// of its first bad line.
func (o *JSONOrigin) parseChunk(p *fastjson.Parser, jp *jsonflat.Path, conv *jsonflat.Converter, unknown *string, c *chunk, path string) chunkResult {
	data := c.data
	line := c.startLine
	var err error
	var batches []arrow.RecordBatch
	for len(data) > 0 {
		nl := bytes.IndexByte(data, '\n')
		var b []byte
		if nl < 0 {
			b, data = data, nil
		} else {
			b, data = data[:nl], data[nl+1:]
		}
		if t := bytes.TrimSpace(b); len(t) > 0 {
			v, perr := parseValue(p, t, path, line)
			if perr != nil {
				err = perr
				break
			}
			where := path + ":" + strconv.FormatInt(line, 10)
			n := 0
			if e := jp.Each(v, where, func(rec *fastjson.Value) error {
				n++
				w := where
				if v.Type() == fastjson.TypeArray || o.JSONPath != "" {
					w += ", record " + strconv.Itoa(n)
				}
				if err := o.add(conv, unknown, rec, w, n); err != nil {
					return err
				}
				if conv.Rows() >= o.batchRows() {
					batches = append(batches, conv.Build())
				}
				return nil
			}); e != nil {
				err = e
				break
			}
		}
		line++
	}
	if conv.Rows() > 0 && err == nil {
		batches = append(batches, conv.Build())
	} else {
		conv.Build().Release() // nothing, or rows of a chunk that failed
	}
	if err != nil {
		for _, b := range batches {
			b.Release()
		}
		batches = nil
	}
	return chunkResult{batches: batches, err: err}
}

// splitLines reads r in chunks of whole lines and hands them to send.
func splitLines(ctx context.Context, r io.Reader, path string, send func(*chunk) bool) error {
	line := int64(1)
	var carry []byte
	eof := false
	for !eof {
		buf := make([]byte, len(carry), max(chunkSize, 2*len(carry)))
		copy(buf, carry)
		n, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			eof = true
		case err != nil:
			return fmt.Errorf("'%s': read: %w", path, err)
		}
		if ctx.Err() != nil {
			return nil
		}
		cut := len(buf)
		if !eof {
			cut = bytes.LastIndexByte(buf, '\n') + 1
			if cut == 0 { // a line longer than the buffer: read on
				carry = buf
				continue
			}
		}
		c := &chunk{data: buf[:cut], startLine: line, res: make(chan chunkResult, 1)}
		line += int64(bytes.Count(c.data, []byte{'\n'}))
		carry = buf[cut:]
		if len(c.data) > 0 && !send(c) {
			return nil
		}
	}
	return nil
}

// withName returns rec with the filename column added; it releases rec.
func withName(mem memory.Allocator, rec arrow.RecordBatch, schema *arrow.Schema, name string) arrow.RecordBatch {
	defer rec.Release()
	n := int(rec.NumRows())
	b := array.NewStringBuilder(mem)
	defer b.Release()
	b.Reserve(n)
	b.ReserveData(n * len(name))
	for range n {
		b.Append(name)
	}
	a := b.NewArray()
	defer a.Release()
	cols := append(slices.Clone(rec.Columns()), a)
	return array.NewRecordBatch(schema, cols, int64(n))
}
