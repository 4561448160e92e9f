package graph

import (
	"bufio"
	"bytes"
	"fmt"
	"html/template"
	"io"
	"time"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/report"
)

// HTML writes one self-contained page (no scripts, styles or fonts from
// elsewhere): the laid-out graph as inline SVG, a legend of the layers and,
// with a run report, the run's status and a table of its stages.
func (g *Graph) HTML(w io.Writer) error {
	var svg bytes.Buffer
	bw := bufio.NewWriter(&svg)
	g.writeSVG(bw, false)
	bw.Flush()
	type legend struct{ Title, Colour string }
	type row struct {
		report.Stage
		Colour, Elapsed, Rate string
	}
	data := struct {
		Job     string
		SVG     template.HTML
		Legend  []legend
		Run     *report.Run
		Rows    []row
		Elapsed string
	}{Job: g.Job, SVG: template.HTML(svg.String()), Run: g.Run}
	for _, l := range Layers {
		data.Legend = append(data.Legend, legend{LayerTitles[l], Colours[l]})
	}
	if g.Run != nil {
		data.Elapsed = seconds(g.Run.Elapsed)
		for _, st := range g.Run.Stages {
			c := Colours[openstage.Layer(st.Layer)]
			if n := g.Node(st.Name); n != nil {
				c = Colours[n.Layer]
			}
			data.Rows = append(data.Rows, row{Stage: st, Colour: c, Elapsed: seconds(st.Elapsed), Rate: openstage.FormatRate(st.RowsPerSecond)})
		}
	}
	return page.Execute(w, data)
}

func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond).String()
}

var page = template.Must(template.New("page").Funcs(template.FuncMap{"rows": Rows, "fmt": fmt.Sprint}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Job}} · Open-Stage</title>
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 24px; color: #0f172a; background: #f8fafc; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  .sub { color: #475569; margin: 0 0 16px; font-size: 14px; }
  .status { font-weight: 600; }
  .status.succeeded { color: #15803d; } .status.failed, .status.invalid { color: #b91c1c; } .status.cancelled { color: #a16207; }
  .error { background: #fef2f2; border: 1px solid #fecaca; color: #7f1d1d; padding: 8px 12px; border-radius: 6px; white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: 13px; }
  .graph { background: #fff; border: 1px solid #e2e8f0; border-radius: 8px; padding: 8px; overflow: auto; }
  .legend { display: flex; gap: 16px; margin: 12px 0; font-size: 13px; color: #334155; }
  .legend span::before { content: ""; display: inline-block; width: 12px; height: 12px; border-radius: 3px; margin-right: 6px; vertical-align: -1px; background: var(--c); }
  table { border-collapse: collapse; font-size: 13px; background: #fff; margin-top: 12px; }
  th, td { padding: 4px 10px; border-bottom: 1px solid #e2e8f0; text-align: right; }
  th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
  td .dot { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
</style>
</head>
<body>
<h1>{{.Job}}</h1>
{{if .Run}}<p class="sub">run of {{.Run.Start.Format "2006-01-02 15:04:05 MST"}}: <span class="status {{.Run.Status}}">{{.Run.Status}}</span> in {{.Elapsed}}{{if .Run.RowLimit}} (trial run, {{.Run.RowLimit}} rows per origin){{end}}</p>
{{if .Run.Error}}<div class="error">{{.Run.Error}}</div>{{end}}{{else}}<p class="sub">job graph; pipes are labelled with their names (run with --report and draw with --report for row counts)</p>{{end}}
<div class="legend">{{range .Legend}}<span style="--c: {{.Colour}}">{{.Title}}</span>{{end}}</div>
<div class="graph">
{{.SVG}}
</div>
{{if .Run}}<table>
<thead><tr><th>stage</th><th>type</th><th>rows in</th><th>rows out</th><th>rejected</th><th>batches</th><th>rows/s</th><th>elapsed</th><th>notes</th></tr></thead>
<tbody>
{{range .Rows}}<tr><td><span class="dot" style="background: {{.Colour}}"></span>{{.Name}}</td><td>{{.Type}}</td><td>{{.RowsIn}}</td><td>{{.RowsOut}}</td><td>{{.Rejected}}</td><td>{{if .BatchesOut}}{{.BatchesOut}}{{else}}{{.BatchesIn}}{{end}}</td><td>{{.Rate}}</td><td>{{.Elapsed}}</td><td>{{if or .InputTokens .OutputTokens}}tokens {{.InputTokens}}/{{.OutputTokens}} {{end}}{{range $k, $v := .Counters}}{{$k}}={{$v}} {{end}}{{if .Error}}failed{{end}}</td></tr>
{{end}}</tbody>
</table>{{end}}
</body>
</html>
`))
