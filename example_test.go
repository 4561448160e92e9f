package openstage_test

import (
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/stages"
)

// The design document's method chaining: an origin, a filter and a
// destination joined by named pipes, then run once.
func Example() {
	people := stages.NewGenerator("people", 6,
		stages.GenColumn{Name: "name", Type: "string", Pattern: "cycle", Values: []any{"Ana", "Bo", "Chen"}},
		stages.GenColumn{Name: "age", Type: "int64", Pattern: "sequence", Start: int64(14), Step: 2},
	)
	adults := stages.NewFilter("adults", "age", ">=", 18)
	printer := stages.NewPrinter("show", 10)

	people.AddOutputPipe(openstage.NewPipe("pipe1")).SetDestination(adults).
		AddOutputPipe(openstage.NewPipe("pipe2")).SetDestination(printer)

	if err := people.Pump(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// == show
	// name | age
	// -----+----
	// Chen | 18
	// Ana  | 20
	// Bo   | 22
	// Chen | 24
	// (4 rows)
}

// Errors found before any data moves name the stage, the column and a fix.
func ExampleJob_Validate() {
	people := stages.NewGenerator("people", 3,
		stages.GenColumn{Name: "name", Type: "string", Pattern: "cycle", Values: []any{"Ana"}},
		stages.GenColumn{Name: "age", Type: "int64"},
	)
	people.AddOutputPipe(openstage.NewPipe("pipe1")).SetDestination(stages.NewFilter("adults", "Age", ">=", 18)).
		AddOutputPipe(openstage.NewPipe("pipe2")).SetDestination(stages.NewPrinter("show", 10))

	err := openstage.NewJob("adults", people).Validate(context.Background())
	fmt.Println(err)
	// Output:
	// Filter 'adults': field 'Age' not found; available columns: name, age (did you mean 'age'?)
}

// upper is a custom Node written in one small file: it upper-cases a string
// column. Plan checks the column exists and is a string; Process handles
// batches one at a time.
type upper struct{ Field string }

func (u *upper) Plan(_ context.Context, p *openstage.Plan) error {
	i, err := openstage.FieldIndex(p.InputSchema(), u.Field)
	if err != nil {
		return err
	}
	if t := p.InputSchema().Field(i).Type; t.ID() != arrow.STRING {
		return fmt.Errorf("field '%s' is %s; upper needs a string column", u.Field, openstage.TypeName(t))
	}
	p.SetOutputs(p.InputSchema())
	return nil
}

func (u *upper) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	for {
		dp, err := in.Recv(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		b := openstage.View(dp.Batch)
		nb := openstage.NewBuilder(out.Allocator(), b.Schema())
		for i := 0; i < b.Len(); i++ {
			row := b.Row(i)
			if s, ok := row[u.Field].(string); ok {
				row[u.Field] = toUpper(s)
			}
			if err := nb.AppendRow(row); err != nil {
				nb.Release()
				dp.Batch.Release()
				return fmt.Errorf("row %d: %w", i+1, err)
			}
		}
		dp.Batch.Release()
		rec := nb.Build()
		nb.Release()
		err = out.Send(ctx, rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
}

func toUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// A new component needs no registration to be used from Go.
func ExampleNewStage() {
	src := stages.NewGenerator("names", 2, stages.GenColumn{Name: "name", Type: "string", Pattern: "cycle", Values: []any{"ana", "bo"}})
	src.AddOutputPipe(openstage.NewPipe("in")).SetDestination(openstage.NewStage("shout", &upper{Field: "name"})).
		AddOutputPipe(openstage.NewPipe("out")).SetDestination(stages.NewPrinter("show", 10))
	if err := openstage.NewJob("shout", src).Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// == show
	// name
	// ----
	// ANA
	// BO
	// (2 rows)
}
