package stages

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
)

// Printer shows the first rows it receives as an aligned table, then the
// number of rows (the seed's Printer, DataStage's Peek). It reads every row so
// the count is exact, but keeps only the rows it shows.
type Printer struct {
	Rows int `param:"rows" default:"10" doc:"How many rows to show (0 shows none, only the count)."`
	// Out receives the table; nil means standard output.
	Out io.Writer

	stage  string
	schema *arrow.Schema
}

var stdoutMu sync.Mutex // Printers of one job do not interleave their tables

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "Printer",
		Layer:   openstage.Load,
		Summary: "Prints the first rows as an aligned table and the row count (DataStage's Peek).",
		New:     func() any { return &Printer{} },
		Example: `- name: peek
  type: Printer
  rows: 5`,
	})
}

// NewPrinter returns a Printer stage showing the first rows rows.
func NewPrinter(name string, rows int) *openstage.Stage {
	return openstage.New(name, func(p *Printer) { p.Rows = rows })
}

// Plan implements openstage.Destination.
func (p *Printer) Plan(_ context.Context, pl *openstage.Plan) error {
	if p.Rows < 0 {
		return fmt.Errorf("rows must be 0 or more, got %d", p.Rows)
	}
	if len(pl.Inputs()) > 1 {
		s := pl.Inputs()[0].Schema
		for _, in := range pl.Inputs()[1:] {
			if !in.Schema.Equal(s) {
				return fmt.Errorf("input pipes '%s' and '%s' have different columns; a Printer shows one table (use one Printer per pipe, or a Funnel)", pl.Inputs()[0].Pipe, in.Pipe)
			}
		}
	}
	p.stage = pl.Stage()
	p.schema = pl.InputSchema()
	return nil
}

// Sink implements openstage.Destination.
func (p *Printer) Sink(ctx context.Context, in *openstage.Inputs) error {
	var shown [][]string
	var total int64
	err := in.ForEach(ctx, func(dp openstage.DataPackage) error {
		b := openstage.View(dp.Batch)
		for i := 0; i < b.Len() && len(shown) < p.Rows; i++ {
			row := make([]string, p.schema.NumFields())
			for c := range row {
				row[c] = formatCell(b.ColAt(c), i)
			}
			shown = append(shown, row)
		}
		total += int64(b.Len())
		return nil
	})
	if err != nil {
		return err
	}
	w := p.Out
	if w == nil {
		stdoutMu.Lock()
		defer stdoutMu.Unlock()
		w = os.Stdout
	}
	return writeTable(w, p.stage, openstage.ColumnNames(p.schema), shown, total)
}

func formatCell(c openstage.Column, i int) string {
	if c.IsNull(i) {
		return "null"
	}
	switch c.Type().ID() {
	case arrow.DATE32:
		return c.Time(i).Format("2006-01-02")
	case arrow.TIMESTAMP:
		return c.Time(i).Format("2006-01-02T15:04:05.999999Z")
	}
	s := fmt.Sprint(c.Value(i))
	// Keep the table on one line per row.
	return strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(s)
}

func writeTable(w io.Writer, stage string, header []string, rows [][]string, total int64) error {
	width := make([]int, len(header))
	for c, h := range header {
		width[c] = utf8.RuneCountInString(h)
	}
	for _, r := range rows {
		for c, v := range r {
			width[c] = max(width[c], utf8.RuneCountInString(v))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "== %s\n", stage)
	line := func(cells []string) {
		for c, v := range cells {
			if c > 0 {
				b.WriteString(" | ")
			}
			b.WriteString(v)
			if c < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", width[c]-utf8.RuneCountInString(v)))
			}
		}
		b.WriteString("\n")
	}
	line(header)
	sep := make([]string, len(header))
	for c := range sep {
		sep[c] = strings.Repeat("-", width[c])
	}
	b.WriteString(strings.Join(sep, "-+-") + "\n")
	for _, r := range rows {
		line(r)
	}
	if int64(len(rows)) < total {
		fmt.Fprintf(&b, "(%d rows, showing the first %d)\n", total, len(rows))
	} else {
		fmt.Fprintf(&b, "(%s)\n", plural(total, "row"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
