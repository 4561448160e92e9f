package graph

import (
	"fmt"
	"io"
	"strings"
)

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

// Mermaid writes the graph as a Mermaid flowchart, stages coloured by
// layer, pipes labelled with their names (and row counts, WithRun).
func (g *Graph) Mermaid(w io.Writer) {
	fmt.Fprintln(w, "flowchart LR")
	for _, n := range g.Nodes {
		fmt.Fprintf(w, "    %s[\"%s<br/>%s\"]\n", mermaidID(n.Name), mermaidText(n.Name), mermaidText(n.Type))
	}
	for _, e := range g.Edges {
		arrow := "-->"
		if e.Reject {
			arrow = "-.->"
		}
		fmt.Fprintf(w, "    %s %s|%s| %s\n", mermaidID(e.From.Name), arrow, mermaidText(strings.Join(e.LabelLines(), "<br/>")), mermaidID(e.To.Name))
	}
	for _, n := range g.Nodes {
		fmt.Fprintf(w, "    style %s fill:%s,color:#fff\n", mermaidID(n.Name), Colours[n.Layer])
	}
}

func dotQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Dot writes the graph as a Graphviz digraph, stages coloured by layer.
func (g *Graph) Dot(w io.Writer) {
	fmt.Fprintf(w, "digraph %s {\n    rankdir=LR;\n    node [shape=box, style=\"rounded,filled\", fontcolor=white];\n", dotQuote(g.Job))
	for _, n := range g.Nodes {
		fmt.Fprintf(w, "    %s [label=%s, fillcolor=%s];\n", dotQuote(n.Name), dotQuote(n.Name+"\n"+n.Type), dotQuote(Colours[n.Layer]))
	}
	for _, e := range g.Edges {
		style := ""
		if e.Reject {
			style = ", style=dashed, color=\"#ef4444\""
		}
		fmt.Fprintf(w, "    %s -> %s [label=%s%s];\n", dotQuote(e.From.Name), dotQuote(e.To.Name), dotQuote(strings.Join(e.LabelLines(), "\n")), style)
	}
	fmt.Fprintln(w, "}")
}
