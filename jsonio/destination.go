package jsonio

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/atomicfile"
	"github.com/open-stage/openstage/internal/fileio"
)

// JSONDestination writes its input as JSON records, one object per row
// with the columns as keys, atomically: a failed job leaves the target as
// it was. Nulls are null; int64 and float64 are numbers (NaN and ±Inf,
// which JSON cannot hold, are null); dates are "YYYY-MM-DD" and timestamps
// "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" strings.
type JSONDestination struct {
	Path        string `param:"path" path:"true" required:"true" doc:"The JSON file to write."`
	Format      string `param:"format" default:"ndjson" enum:"ndjson,array" doc:"ndjson: one object per line (JSON Lines); array: one JSON array of objects."`
	IfExists    string `param:"if_exists" default:"replace" enum:"replace,fail" doc:"What to do when the file exists: replace it, or fail."`
	Compression string `param:"compression" default:"auto" enum:"auto,none,gzip,zstd" doc:"Compression of the file; auto: gzip for .gz, zstd for .zst, none otherwise."`

	schema *arrow.Schema
	file   *fileio.Output
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "JSONDestination",
		Layer:   openstage.Load,
		Summary: "Writes JSON (NDJSON or an array of objects; plain, gzip or zstd) atomically: complete when the job succeeds, untouched when it fails.",
		New:     func() any { return &JSONDestination{} },
		Example: `- name: writer
  type: JSONDestination
  path: out/orders.ndjson`,
	})
}

// NewJSONDestination returns a JSONDestination stage writing NDJSON to path.
func NewJSONDestination(name, path string) *openstage.Stage {
	return openstage.New(name, func(d *JSONDestination) { d.Path = path })
}

// Connectivity implements openstage's optional interface: one input.
func (d *JSONDestination) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinIn: 1, MaxIn: 1}
}

// Plan implements openstage.Destination.
func (d *JSONDestination) Plan(_ context.Context, p *openstage.Plan) error {
	d.schema = p.InputSchema()
	for _, f := range d.schema.Fields() {
		if !openstage.Supported(f.Type) {
			return fmt.Errorf("column '%s' has type %s, which JSONDestination cannot write", f.Name, f.Type)
		}
	}
	exists, err := atomicfile.CheckTarget(d.Path)
	if err != nil {
		return err
	}
	if exists && d.IfExists == "fail" {
		return fmt.Errorf("'%s' already exists and if_exists is fail; remove it or use if_exists: replace", d.Path)
	}
	return nil
}

// Sink implements openstage.Destination.
func (d *JSONDestination) Sink(ctx context.Context, in *openstage.Inputs) error {
	f, err := fileio.Create(d.Path, fileio.Resolve(d.Path, d.Compression))
	if err != nil {
		return err
	}
	d.file = f
	w := bufio.NewWriterSize(f, 1<<20)
	keys := make([][]byte, d.schema.NumFields())
	for i, fl := range d.schema.Fields() {
		keys[i] = appendJSONString(nil, fl.Name)
		keys[i] = append(keys[i], ':')
	}
	array := d.Format == "array"
	first := true
	if array {
		w.WriteByte('[')
	}
	var buf []byte
	err = in.ForEach(ctx, func(dp openstage.DataPackage) error {
		rec := dp.Batch
		for r := 0; r < int(rec.NumRows()); r++ {
			buf = buf[:0]
			if array {
				if !first {
					buf = append(buf, ',')
				}
				buf = append(buf, '\n')
			}
			first = false
			buf = append(buf, '{')
			for c := 0; c < int(rec.NumCols()); c++ {
				if c > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, keys[c]...)
				buf = appendValue(buf, rec.Column(c), r)
			}
			buf = append(buf, '}')
			if !array {
				buf = append(buf, '\n')
			}
			if _, err := w.Write(buf); err != nil {
				return fmt.Errorf("writing '%s': %w", d.Path, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if array {
		if !first {
			w.WriteByte('\n')
		}
		w.WriteString("]\n")
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing '%s': %w", d.Path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing '%s': %w", d.Path, err)
	}
	return nil
}

// Commit implements openstage.Committer.
func (d *JSONDestination) Commit(context.Context) error { return d.file.Publish(d.IfExists == "fail") }

// Abort implements openstage.Committer.
func (d *JSONDestination) Abort() error { return d.file.Abort() }

var _ io.Writer = (*fileio.Output)(nil)

func appendValue(dst []byte, a arrow.Array, i int) []byte {
	if a.IsNull(i) {
		return append(dst, "null"...)
	}
	switch a := a.(type) {
	case *array.Int64:
		return strconv.AppendInt(dst, a.Value(i), 10)
	case *array.Float64:
		v := a.Value(i)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return append(dst, "null"...)
		}
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			// Keep it a float for readers that type by the text (1.0).
			dst = strconv.AppendFloat(dst, v, 'f', -1, 64)
			return append(dst, '.', '0')
		}
		return strconv.AppendFloat(dst, v, 'g', -1, 64)
	case *array.Boolean:
		return strconv.AppendBool(dst, a.Value(i))
	case *array.String:
		return appendJSONString(dst, a.Value(i))
	case *array.Date32:
		return append(append(append(dst, '"'), a.Value(i).ToTime().Format("2006-01-02")...), '"')
	case *array.Timestamp:
		t := time.UnixMicro(int64(a.Value(i))).UTC()
		return append(append(append(dst, '"'), t.Format("2006-01-02T15:04:05.999999Z")...), '"')
	}
	return appendJSONString(dst, a.ValueStr(i))
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string (invalid UTF-8 as U+FFFD).
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0x80 {
			i++
			continue
		}
		if c >= 0x80 {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i++
				start = i
				continue
			}
			if r == '\u2028' || r == '\u2029' {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\u202`...)
				dst = append(dst, hexDigits[r&0xF])
				i += n
				start = i
				continue
			}
			i += n
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
