package stages

import (
	"context"
	"errors"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/open-stage/openstage"
)

// DeleteColumns removes columns (the seed's DeleteColumns). The remaining
// columns keep their order. It copies nothing: each output batch is a new
// record over the input's remaining column arrays. Naming a column that does
// not exist is an error when the job is validated; naming one twice is not.
type DeleteColumns struct {
	Columns openstage.Strings `param:"columns" required:"true" doc:"Column or list of columns to remove."`

	keep   []int
	schema *arrow.Schema
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "DeleteColumns",
		Layer:   openstage.Transformation,
		Summary: "Removes columns; the others keep their order. Copies no data.",
		Doc: `columns names the columns to remove (one name or a list). A name that is not
a column of the input is an error when the job is validated, listing the
available columns. Removing every column is an error. The output batches
share the input's column buffers (no copy), and the engine runs the stage on
several batches in parallel.`,
		Example: `- name: drop_internal
  type: DeleteColumns
  columns: [internal_id, debug_flag]`,
		New: func() any { return &DeleteColumns{} },
	})
}

// NewDeleteColumns returns a DeleteColumns stage: NewDeleteColumns("slim", "notes", "debug").
func NewDeleteColumns(name string, columns ...string) *openstage.Stage {
	return openstage.New(name, func(d *DeleteColumns) { d.Columns = columns })
}

// Connectivity implements the optional connectivity interface: one input, one output.
func (d *DeleteColumns) Connectivity() openstage.Connectivity { return openstage.OneToOne }

// Plan checks that every column exists and declares the remaining ones.
func (d *DeleteColumns) Plan(_ context.Context, p *openstage.Plan) error {
	in := p.InputSchema()
	drop := make([]bool, in.NumFields())
	for _, c := range d.Columns {
		idx, err := openstage.FieldIndex(in, c)
		if err != nil {
			return err
		}
		drop[idx] = true
	}
	d.keep = d.keep[:0]
	var fields []arrow.Field
	for i, f := range in.Fields() {
		if !drop[i] {
			d.keep = append(d.keep, i)
			fields = append(fields, f)
		}
	}
	if len(fields) == 0 {
		return errors.New("would remove every column; keep at least one")
	}
	md := in.Metadata()
	d.schema = arrow.NewSchema(fields, &md)
	passThrough(p)
	p.SetOutputs(d.schema)
	return nil
}

// MapBatch implements openstage.Mapper: a new record over the kept arrays.
func (d *DeleteColumns) MapBatch(_ context.Context, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, len(d.keep))
	for i, c := range d.keep {
		cols[i] = rec.Column(c)
	}
	return array.NewRecordBatch(d.schema, cols, rec.NumRows()), nil
}

// Process implements openstage.Node; the engine calls MapBatch instead.
func (d *DeleteColumns) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	return openstage.MapperProcess(ctx, d, in, out)
}
