package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/open-stage/openstage"
)

// PipeSchema is the metadata of one pipe as planned (DataStage's link
// metadata): its ends and the columns that travel on it.
type PipeSchema struct {
	Pipe    string   `json:"pipe"`
	From    string   `json:"from"`
	To      string   `json:"to"`
	Reject  bool     `json:"reject,omitempty"`
	Columns []Column `json:"columns"`
}

// Column is one column of a pipe.
type Column struct {
	Name      string `json:"name"`
	Type      string `json:"type"`       // the job-file name: int64, float64, bool, string, date, timestamp
	ArrowType string `json:"arrow_type"` // Arrow's: int64, utf8, date32, timestamp[us, tz=UTC], ...
	Nullable  bool   `json:"nullable"`
}

// Schemas describes every pipe of a validated job, in the job's pipe
// order. The schemas are those the job will run with: after projection
// pushdown an origin's pipes carry only the columns some stage reads.
func Schemas(job *openstage.Job) []PipeSchema {
	var out []PipeSchema
	for _, p := range job.Pipes() {
		if p.Origin() == nil || p.Destination() == nil {
			continue
		}
		ps := PipeSchema{Pipe: p.Name(), From: p.Origin().Name(), To: p.Destination().Name(), Columns: []Column{}}
		sc, reject := job.PipeSchema(p.Name())
		ps.Reject = reject
		if sc != nil {
			for _, f := range sc.Fields() {
				ps.Columns = append(ps.Columns, Column{Name: f.Name, Type: openstage.TypeName(f.Type), ArrowType: f.Type.String(), Nullable: f.Nullable})
			}
		}
		out = append(out, ps)
	}
	return out
}

// WriteSchemas writes the schemas as text, one block per pipe:
//
//	pipe orders (reader → filter), 2 columns
//	  name  string  Arrow utf8
//	  age   int64   Arrow int64
func WriteSchemas(w io.Writer, schemas []PipeSchema) error {
	for i, ps := range schemas {
		if i > 0 {
			fmt.Fprintln(w)
		}
		kind := ""
		if ps.Reject {
			kind = ", reject pipe"
		}
		fmt.Fprintf(w, "pipe %s (%s → %s%s), %s\n", ps.Pipe, ps.From, ps.To, kind, plural(len(ps.Columns), "column"))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range ps.Columns {
			null := ""
			if !c.Nullable {
				null = "\tnot null"
			}
			fmt.Fprintf(tw, "  %s\t%s\tArrow %s%s\n", c.Name, c.Type, c.ArrowType, null)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, strings.TrimSuffix(word, "s"))
}
