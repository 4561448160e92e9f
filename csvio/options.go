package csvio

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// ReadOptions configures ReadHeader, InferSchema and NewReader.
type ReadOptions struct {
	Path       string   // for error messages (file name as the user wrote it)
	Delimiter  byte     // 0 means ','
	Quote      byte     // 0 means '"'
	NoQuoting  bool     // quotes are ordinary characters
	Header     bool     // first row is the header (when false, columns are named column_1..column_n)
	NullValues []string // fields equal to one of these are null; nil means {""}; an empty non-nil slice means no null markers
	BatchRows  int      // target rows per batch (0 → 16384); batches may be smaller
	Workers    int      // 0 → GOMAXPROCS
	Alloc      memory.Allocator
	// CollectRejects: when true, a row that fails type conversion (or has the
	// wrong number of fields) is not an error: it is left out of the batch and
	// reported by Reader.Rejects.
	CollectRejects bool
	// Encoding is the character encoding of the input: "" or "utf-8" (the
	// default), "utf-8-sig", "latin1" (ISO-8859-1), "windows-1252",
	// "utf-16" (with a byte order mark), or any other name
	// golang.org/x/text knows (IANA and WHATWG labels). With UTF-8, a byte
	// that is not valid UTF-8 is an error naming its line and character,
	// unless ReplaceInvalidUTF8. A NUL byte is an error in every encoding.
	Encoding string
	// ReplaceInvalidUTF8 reads each byte that is not valid UTF-8 as U+FFFD
	// instead of failing (job files: invalid_utf8: replace).
	ReplaceInvalidUTF8 bool
	// RenameDuplicates names the second column called id id_2, the third
	// id_3 (job files: duplicate_columns: rename); otherwise a header that
	// repeats a name is an error naming both positions.
	RenameDuplicates bool
	// Select lists the columns (0-based positions in the file, ascending)
	// that the batches hold; nil means all. The other columns are still
	// scanned, so a ragged row or a malformed quote is an error as before,
	// but their values are neither converted nor checked.
	Select []int
	// Where, when set, keeps only the rows whose column Where.Column
	// satisfies the condition (openstage.Condition: nulls and NaN never
	// satisfy a comparison). That column is converted first; the other
	// columns of a row that fails are not converted, so a value there that
	// would not convert is not an error. The column must be selected.
	Where *openstage.Condition
}

// WriteOptions configures NewWriter.
type WriteOptions struct {
	Delimiter  byte // 0 → ','
	Header     bool
	Workers    int // 0 → GOMAXPROCS; batches are formatted in parallel and written in order
	BufferSize int // 0 → 4 MiB; target size of one formatted block handed to the io.Writer
	// Encoding of the output, as ReadOptions.Encoding: "" or "utf-8" (the
	// default), "utf-8-sig" (with a byte order mark), "latin1",
	// "windows-1252", "utf-16" (little endian, with a byte order mark), ...
	// A character the encoding cannot hold is an error naming its row and
	// column.
	Encoding string
	// NoBOM leaves out the byte order mark of utf-8-sig and utf-16 (when
	// appending to a file that has one).
	NoBOM bool
}

// Reject is a row left out of a batch because CollectRejects was set.
type Reject struct {
	Line   int64    // 1-based physical line on which the row starts
	Record []string // the fields of the row, unquoted
	Err    error    // a *ParseError naming the column and the value
}

// ParseError is the error type of everything the reader reports about its
// input. Its text is "path:line: column 'name': message"; parts that do not
// apply are left out.
type ParseError struct {
	Path   string
	Line   int64  // 1-based physical line; 0 when the error is not about a line
	Column string // column name; "" when the error is not about one column
	Msg    string
	// Conversion marks a value that does not convert to its column's type
	// (the errors that CollectRejects turns into rejects).
	Conversion bool
}

func (e *ParseError) Error() string {
	var b strings.Builder
	switch {
	case e.Path != "" && e.Line > 0:
		b.WriteString(e.Path)
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(e.Line, 10))
	case e.Path != "":
		b.WriteString(e.Path)
	case e.Line > 0:
		b.WriteString("line ")
		b.WriteString(strconv.FormatInt(e.Line, 10))
	default:
		b.WriteString("csv")
	}
	b.WriteString(": ")
	if e.Column != "" {
		b.WriteString("column '")
		b.WriteString(e.Column)
		b.WriteString("': ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrClosed is returned by Reader.Next and Writer.Write after Close.
var ErrClosed = errors.New("csvio: closed")

const (
	defaultBatchRows = 16384     // chosen by measurement: bench/tune.sh, docs/benchmarks.md ("Memory")
	defaultChunkSize = 4 << 20   // bytes read per chunk at most (unless a row is longer)
	defaultMaxRow    = 256 << 20 // a row (or a quoted field) longer than this is an error
	defaultWriteBuf  = 4 << 20
)

// resolved read options.
type readConfig struct {
	ReadOptions
	d          dialect
	enc        *textEncoding
	nullEmpty  bool
	nullOthers [][]byte
	batchRows  int
	workers    int
	alloc      memory.Allocator
	chunkSize  int
	maxRow     int
}

// testing knobs (unexported): small chunks exercise the parallel paths.
var (
	testChunkSize int
	testMaxRow    int
)

func (o ReadOptions) resolve() (*readConfig, error) {
	c := &readConfig{ReadOptions: o}
	delim, quote := o.Delimiter, o.Quote
	if delim == 0 {
		delim = ','
	}
	if quote == 0 {
		quote = '"'
	}
	if delim == '\n' || delim == '\r' {
		return nil, c.errf(0, "", "invalid delimiter %q (delimiter: one character other than a newline)", delim)
	}
	if !o.NoQuoting && (quote == delim || quote == '\n' || quote == '\r') {
		return nil, c.errf(0, "", "invalid quote character %q: it must differ from the delimiter %q and from newlines (quote: one character, or quoting: false)", quote, delim)
	}
	c.d = newDialect(delim, quote, !o.NoQuoting)
	enc, err := lookupEncoding(o.Encoding)
	if err != nil {
		return nil, c.errf(0, "", "%v", err)
	}
	c.enc = enc
	if delim >= 0x80 || quote >= 0x80 && !o.NoQuoting {
		return nil, c.errf(0, "", "the delimiter and the quote must be ASCII characters")
	}
	if o.NullValues == nil {
		c.nullEmpty = true
	} else {
		for _, v := range o.NullValues {
			if v == "" {
				c.nullEmpty = true
			} else {
				c.nullOthers = append(c.nullOthers, []byte(v))
			}
		}
	}
	c.batchRows = o.BatchRows
	if c.batchRows <= 0 {
		c.batchRows = defaultBatchRows
	}
	c.workers = o.Workers
	if c.workers <= 0 {
		c.workers = runtime.GOMAXPROCS(0)
	}
	c.alloc = o.Alloc
	if c.alloc == nil {
		c.alloc = memory.DefaultAllocator
	}
	c.chunkSize = defaultChunkSize
	if testChunkSize > 0 {
		c.chunkSize = testChunkSize
	}
	c.maxRow = defaultMaxRow
	if testMaxRow > 0 {
		c.maxRow = testMaxRow
	}
	return c, nil
}

func (c *readConfig) errf(line int64, col string, format string, args ...any) *ParseError {
	return &ParseError{Path: c.Path, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

// isNull reports whether field content f is a null marker. Quoting is
// handled by the caller (a quoted field is never null in a string column).
func (c *readConfig) isNull(f []byte) bool {
	if len(f) == 0 {
		return c.nullEmpty
	}
	for _, v := range c.nullOthers {
		if string(v) == string(f) {
			return true
		}
	}
	return false
}

// fastPath reports whether the fused fast path may be used for a column of
// kind k: it does not check for null markers, so no marker may look like a
// value it accepts.
func (c *readConfig) fastPath(k colKind) bool {
	for _, v := range c.nullOthers {
		switch k {
		case kInt64, kFloat64:
			for _, b := range v {
				if b != '-' && b != '.' && (b < '0' || b > '9') {
					goto next
				}
			}
			return false
		case kDate32:
			if len(v) == 10 {
				return false
			}
		}
	next:
	}
	return k == kInt64 || k == kFloat64 || k == kDate32
}

// project returns the kinds with the columns not in sel marked kSkip, and
// the schema of the kept columns; sel nil keeps every column.
func project(schema *arrow.Schema, kinds []colKind, sel []int) ([]colKind, *arrow.Schema, error) {
	if sel == nil {
		return kinds, schema, nil
	}
	out := make([]colKind, len(kinds))
	for i := range out {
		out[i] = kSkip
	}
	fields := make([]arrow.Field, 0, len(sel))
	prev := -1
	for _, c := range sel {
		if c <= prev || c >= len(kinds) {
			return nil, nil, fmt.Errorf("csvio: Select %v: want ascending column positions below %d", sel, len(kinds))
		}
		prev = c
		out[c] = kinds[c]
		fields = append(fields, schema.Field(c))
	}
	md := schema.Metadata()
	return out, arrow.NewSchema(fields, &md), nil
}

// quoteValue renders a field value for an error message, shortened if long.
func quoteValue(b []byte) string {
	const max = 64
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}

type colKind uint8

const (
	kString colKind = iota
	kInt64
	kFloat64
	kBool
	kDate32
	kTimestamp
	kSkip // scanned, not kept (ReadOptions.Select)
)

func kindOf(t arrow.DataType) (colKind, bool) {
	switch t.ID() {
	case arrow.STRING:
		return kString, true
	case arrow.INT64:
		return kInt64, true
	case arrow.FLOAT64:
		return kFloat64, true
	case arrow.BOOL:
		return kBool, true
	case arrow.DATE32:
		return kDate32, true
	case arrow.TIMESTAMP:
		if t.(*arrow.TimestampType).Unit == arrow.Microsecond {
			return kTimestamp, true
		}
	}
	return 0, false
}

func schemaKinds(schema *arrow.Schema) ([]colKind, error) {
	if schema == nil {
		return nil, errors.New("csvio: nil schema")
	}
	kinds := make([]colKind, schema.NumFields())
	for i, f := range schema.Fields() {
		k, ok := kindOf(f.Type)
		if !ok {
			return nil, fmt.Errorf("csvio: column '%s': unsupported type %s (supported: int64, float64, bool, string, date32, timestamp[us])", f.Name, f.Type)
		}
		kinds[i] = k
	}
	return kinds, nil
}
