package jsonio

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/atomicfile"
	"github.com/open-stage/openstage/internal/fileio"
	"github.com/open-stage/openstage/internal/jsontext"
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
	if err := fileio.CheckTypes(d.schema, "JSONDestination cannot write"); err != nil {
		return err
	}
	_, err := atomicfile.PlanTarget(d.Path, d.IfExists, "replace")
	return err
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
		keys[i] = jsontext.AppendString(nil, fl.Name)
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
		return jsontext.AppendString(dst, a.Value(i))
	case *array.Date32:
		return append(append(append(dst, '"'), a.Value(i).ToTime().Format("2006-01-02")...), '"')
	case *array.Timestamp:
		t := time.UnixMicro(int64(a.Value(i))).UTC()
		return append(append(append(dst, '"'), t.Format("2006-01-02T15:04:05.999999Z")...), '"')
	}
	return jsontext.AppendString(dst, a.ValueStr(i))
}
