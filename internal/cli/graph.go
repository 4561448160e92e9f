package cli

import (
	"flag"
	"fmt"
	"io"

	"github.com/open-stage/openstage/internal/graph"
	"github.com/open-stage/openstage/internal/report"
)

// graphFormats are the formats of openstage graph.
var graphFormats = []string{"mermaid", "dot", "svg", "html"}

func graphCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("graph", flag.ContinueOnError)
	format := fs.String("format", "mermaid", "mermaid, dot, svg or html")
	reportPath := fs.String("report", "", "a run report (openstage run --report) whose row counts label the pipes")
	var jf jobFlags
	jf.register(fs)
	pos, err := parse(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "openstage graph: %v\n", err)
		return ExitInvalid
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "openstage graph: give exactly one job file\n")
		return ExitInvalid
	}
	known := false
	for _, f := range graphFormats {
		known = known || f == *format
	}
	if !known {
		fmt.Fprintf(stderr, "openstage graph: unknown format %q; use mermaid, dot, svg or html\n", *format)
		return ExitInvalid
	}
	f, err := jf.load(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "openstage: invalid job: %v\n", err)
		return ExitInvalid
	}
	g := graph.FromJob(f.Job)
	if *reportPath != "" {
		r, err := report.ReadFile(*reportPath)
		if err != nil {
			fmt.Fprintf(stderr, "openstage graph: --report: %v\n", err)
			return ExitInvalid
		}
		if r.Job != f.Name {
			fmt.Fprintf(stderr, "openstage graph: --report: the report is of job '%s', not '%s'\n", r.Job, f.Name)
			return ExitInvalid
		}
		g.WithRun(r)
	}
	switch *format {
	case "mermaid":
		g.Mermaid(stdout)
	case "dot":
		g.Dot(stdout)
	case "svg":
		g.Layout()
		err = g.SVG(stdout)
	case "html":
		g.Layout()
		err = g.HTML(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "openstage graph: %v\n", err)
		return ExitFailed
	}
	return ExitOK
}

func schemaCmd(args []string, stdout, stderr io.Writer) int {
	return runCmd(append([]string{"--schema"}, args...), stdout, stderr, true)
}
