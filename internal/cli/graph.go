package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/jobfile"
)

// Colours by layer, as in the seed's diagrams.
var layerColour = map[openstage.Layer]string{
	openstage.Extraction:     "#3b82f6",
	openstage.Transformation: "#22c55e",
	openstage.Routing:        "#a855f7",
	openstage.AI:             "#f97316",
	openstage.Load:           "#ef4444",
}

func stageLayer(s *openstage.Stage) openstage.Layer {
	if spec, ok := openstage.DefaultRegistry().Lookup(s.Type()); ok && spec.Layer != "" {
		return spec.Layer
	}
	switch s.Kind() {
	case openstage.KindOrigin:
		return openstage.Extraction
	case openstage.KindDestination:
		return openstage.Load
	}
	return openstage.Transformation
}

func graphCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("graph", flag.ContinueOnError)
	format := fs.String("format", "mermaid", "mermaid or dot")
	ps := params{}
	fs.Var(ps, "param", "job parameter name=value (repeatable)")
	pos, err := parse(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "openstage graph: %v\n", err)
		return ExitInvalid
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "openstage graph: give exactly one job file\n")
		return ExitInvalid
	}
	f, err := jobfile.Load(pos[0], jobfile.Options{Params: ps})
	if err != nil {
		fmt.Fprintf(stderr, "openstage: invalid job: %v\n", err)
		return ExitInvalid
	}
	switch *format {
	case "mermaid":
		Mermaid(stdout, f.Job)
	case "dot":
		Dot(stdout, f.Job)
	default:
		fmt.Fprintf(stderr, "openstage graph: unknown format %q; use mermaid or dot\n", *format)
		return ExitInvalid
	}
	return ExitOK
}

// mermaidID makes a stage name safe as a Mermaid node id.
func mermaidID(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return "s_" + b.String()
}

func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "|", "#124;").Replace(s)
}

// Mermaid writes the job as a Mermaid flowchart, stages coloured by layer.
func Mermaid(w io.Writer, job *openstage.Job) {
	fmt.Fprintln(w, "flowchart LR")
	stages := job.Stages()
	for _, s := range stages {
		fmt.Fprintf(w, "    %s[\"%s<br/>%s\"]\n", mermaidID(s.Name()), mermaidText(s.Name()), mermaidText(s.Type()))
	}
	for _, p := range job.Pipes() {
		if p.Origin() == nil || p.Destination() == nil {
			continue
		}
		fmt.Fprintf(w, "    %s -->|%s| %s\n", mermaidID(p.Origin().Name()), mermaidText(p.Name()), mermaidID(p.Destination().Name()))
	}
	for _, s := range stages {
		fmt.Fprintf(w, "    style %s fill:%s,color:#fff\n", mermaidID(s.Name()), layerColour[stageLayer(s)])
	}
}

func dotQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Dot writes the job as a Graphviz digraph, stages coloured by layer.
func Dot(w io.Writer, job *openstage.Job) {
	fmt.Fprintf(w, "digraph %s {\n    rankdir=LR;\n    node [shape=box, style=\"rounded,filled\", fontcolor=white];\n", dotQuote(job.Name))
	for _, s := range job.Stages() {
		fmt.Fprintf(w, "    %s [label=%s, fillcolor=%s];\n", dotQuote(s.Name()), dotQuote(s.Name()+"\n"+s.Type()), dotQuote(layerColour[stageLayer(s)]))
	}
	for _, p := range job.Pipes() {
		if p.Origin() == nil || p.Destination() == nil {
			continue
		}
		fmt.Fprintf(w, "    %s -> %s [label=%s];\n", dotQuote(p.Origin().Name()), dotQuote(p.Destination().Name()), dotQuote(p.Name()))
	}
	fmt.Fprintln(w, "}")
}
