package graph

import (
	"bufio"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/open-stage/openstage"
)

const (
	font       = `ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace`
	pipeColour = "#64748b"
)

func esc(s string) string {
	var b strings.Builder
	template.HTMLEscape(&b, []byte(s))
	return b.String()
}

func num(v float64) string { return fmt.Sprintf("%.1f", v) }

// SVG writes the laid-out graph (call Layout first) as a standalone SVG
// document. Each stage is a <g class="stage" data-stage="NAME">, each pipe
// a <path class="pipe" data-pipe="NAME"> with a <g class="pipe-label">.
func (g *Graph) SVG(w io.Writer) error {
	bw := bufio.NewWriter(w)
	g.writeSVG(bw, true)
	return bw.Flush()
}

// SVGInline writes the laid-out graph as an <svg> element to embed in an
// HTML page (SVG without its XML declaration), with the same classes and
// data attributes as SVG.
func (g *Graph) SVGInline(w io.Writer) error {
	bw := bufio.NewWriter(w)
	g.writeSVG(bw, false)
	return bw.Flush()
}

func (g *Graph) writeSVG(w *bufio.Writer, standalone bool) {
	if standalone {
		fmt.Fprintln(w, `<?xml version="1.0" encoding="UTF-8"?>`)
	}
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" font-family="%s" role="img" aria-label="job %s">`+"\n",
		num(g.Width), num(g.Height), num(g.Width), num(g.Height), esc(font), esc(g.Job))
	fmt.Fprintf(w, "<title>%s</title>\n", esc("job "+g.Job))
	fmt.Fprintf(w, `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker>`, pipeColour)
	fmt.Fprintf(w, `<marker id="arrow-reject" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker></defs>`+"\n", Colours[openstage.Load])
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintln(w, `<g class="pipes">`)
	for _, e := range g.Edges {
		colour, marker, dash := pipeColour, "arrow", ""
		if e.Reject {
			colour, marker, dash = Colours[openstage.Load], "arrow-reject", ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(w, `<path class="pipe" data-pipe="%s" d="%s" fill="none" stroke="%s" stroke-width="1.6"%s marker-end="url(#%s)"><title>%s</title></path>`+"\n",
			esc(e.Name), pathData(e.Points, e.straight), colour, dash, marker, esc(e.tooltip()))
	}
	fmt.Fprintln(w, `</g>`)
	fmt.Fprintln(w, `<g class="pipe-labels">`)
	for _, e := range g.Edges {
		lw, lh := e.labelSize()
		fmt.Fprintf(w, `<g class="pipe-label" data-pipe="%s"><rect x="%s" y="%s" width="%s" height="%s" rx="3" fill="#ffffff" fill-opacity="0.92" stroke="#e2e8f0"/>`,
			esc(e.Name), num(e.LabelX-lw/2), num(e.LabelY-lh/2), num(lw), num(lh))
		lines := e.LabelLines()
		for i, l := range lines {
			y := e.LabelY - lh/2 + 3 + float64(i+1)*(labelFont+3) - 3
			weight, fill := "normal", "#334155"
			if i == 1 {
				weight, fill = "bold", "#0f172a"
			}
			fmt.Fprintf(w, `<text x="%s" y="%s" font-size="%g" text-anchor="middle" font-weight="%s" fill="%s">%s</text>`, num(e.LabelX), num(y), labelFont, weight, fill, esc(l))
		}
		fmt.Fprintln(w, `</g>`)
	}
	fmt.Fprintln(w, `</g>`)
	fmt.Fprintln(w, `<g class="stages">`)
	for _, n := range g.Nodes {
		colour := Colours[n.Layer]
		if colour == "" {
			colour = Colours[openstage.Transformation]
		}
		fmt.Fprintf(w, `<g class="stage" data-stage="%s" data-layer="%s"><title>%s</title><rect x="%s" y="%s" width="%s" height="%s" rx="8" fill="%s"/>`,
			esc(n.Name), esc(string(n.Layer)), esc(g.nodeTooltip(n)), num(n.X), num(n.Y), num(n.W), num(n.H), colour)
		cx := n.X + n.W/2
		fmt.Fprintf(w, `<text x="%s" y="%s" font-size="%g" font-weight="bold" text-anchor="middle" fill="#ffffff">%s</text>`, num(cx), num(n.Y+20), nameFont, esc(n.Name))
		fmt.Fprintf(w, `<text x="%s" y="%s" font-size="%g" text-anchor="middle" fill="#ffffff" fill-opacity="0.9">%s</text></g>`+"\n", num(cx), num(n.Y+36), typeFont, esc(n.Type))
	}
	fmt.Fprintln(w, `</g>`)
	fmt.Fprintln(w, `</svg>`)
}

// pathData joins the points with cubic Bézier curves whose tangents are
// horizontal at every point, or straight lines where the pipe crosses its
// label or a dummy column.
func pathData(pts []Point, straight []bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "M%s,%s", num(pts[0].X), num(pts[0].Y))
	for i := 1; i < len(pts); i++ {
		a, c := pts[i-1], pts[i]
		if i-1 < len(straight) && straight[i-1] {
			fmt.Fprintf(&b, " L%s,%s", num(c.X), num(c.Y))
			continue
		}
		dx := max((c.X-a.X)/2, 12)
		fmt.Fprintf(&b, " C%s,%s %s,%s %s,%s", num(a.X+dx), num(a.Y), num(c.X-dx), num(c.Y), num(c.X), num(c.Y))
	}
	return b.String()
}

func (e *Edge) tooltip() string {
	s := fmt.Sprintf("pipe %s: %s → %s", e.Name, e.From.Name, e.To.Name)
	if e.Reject {
		s += " (reject pipe)"
	}
	if e.Rows >= 0 {
		s += ", " + Rows(e.Rows)
	}
	return s
}

func (g *Graph) nodeTooltip(n *Node) string {
	s := fmt.Sprintf("%s '%s' (%s)", n.Type, n.Name, LayerTitles[n.Layer])
	if g.Run != nil {
		if st, ok := g.Run.Stage(n.Name); ok {
			s += fmt.Sprintf(": %d rows in, %d out, %d rejected, %s", st.RowsIn, st.RowsOut, st.Rejected, time.Duration(st.Elapsed*float64(time.Second)).Round(time.Millisecond))
			if st.Error != "" {
				s += "; failed: " + st.Error
			}
		}
	}
	return s
}
