package graph_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"testing"

	_ "github.com/open-stage/openstage/components/all"
	"github.com/open-stage/openstage/internal/graph"
	"github.com/open-stage/openstage/internal/report"
	"github.com/open-stage/openstage/jobfile"
)

type box struct {
	stage      string
	layer      string
	fill       string
	x, y, w, h float64
}

// parseSVG reads an SVG document: the stage boxes, every text, and the
// pipes drawn.
func parseSVG(t *testing.T, data []byte) (boxes []box, texts []string, pipes []string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	var stage, layer string
	var inText bool
	root := true
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			attr := map[string]string{}
			for _, a := range el.Attr {
				attr[a.Name.Local] = a.Value
			}
			if root {
				if el.Name.Local != "svg" || el.Name.Space != "http://www.w3.org/2000/svg" {
					t.Fatalf("root element %v", el.Name)
				}
				root = false
			}
			switch el.Name.Local {
			case "g":
				if attr["class"] == "stage" {
					stage, layer = attr["data-stage"], attr["data-layer"]
				}
			case "rect":
				if stage != "" {
					f := func(k string) float64 {
						v, err := strconv.ParseFloat(attr[k], 64)
						if err != nil {
							t.Fatalf("rect %s=%q: %v", k, attr[k], err)
						}
						return v
					}
					boxes = append(boxes, box{stage, layer, attr["fill"], f("x"), f("y"), f("width"), f("height")})
				}
			case "path":
				if attr["class"] == "pipe" {
					pipes = append(pipes, attr["data-pipe"])
					if !strings.HasPrefix(attr["d"], "M") {
						t.Errorf("pipe %s has no path: %q", attr["data-pipe"], attr["d"])
					}
				}
			case "text":
				inText = true
			}
		case xml.EndElement:
			switch el.Name.Local {
			case "g":
				stage = ""
			case "text":
				inText = false
			}
		case xml.CharData:
			if inText {
				texts = append(texts, string(el))
			}
		}
	}
	return boxes, texts, pipes
}

func overlap(a, b box) bool {
	return a.x < b.x+b.w && b.x < a.x+a.w && a.y < b.y+b.h && b.y < a.y+a.h
}

func loadExample2(t *testing.T) *jobfile.File {
	t.Helper()
	f, err := jobfile.Load("../../examples/02_split_merge_iris.yaml", jobfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The seed's Example 2, drawn: well-formed SVG, every stage a box of its
// layer's colour, every pipe drawn and labelled, no two boxes overlapping,
// everything inside the picture.
func TestSVGOfExample2(t *testing.T) {
	f := loadExample2(t)
	g := graph.FromJob(f.Job)
	g.Layout()
	var buf bytes.Buffer
	if err := g.SVG(&buf); err != nil {
		t.Fatal(err)
	}
	boxes, texts, pipes := parseSVG(t, buf.Bytes())
	stages := f.Job.Stages()
	if len(boxes) != len(stages) {
		t.Fatalf("%d boxes for %d stages", len(boxes), len(stages))
	}
	all := " " + strings.Join(texts, " ") + " "
	colour := map[string]string{"extraction": "#3b82f6", "transformation": "#22c55e", "routing": "#a855f7", "ai": "#f97316", "load": "#ef4444"}
	byName := map[string]box{}
	for _, b := range boxes {
		byName[b.stage] = b
		if colour[b.layer] == "" || b.fill != colour[b.layer] {
			t.Errorf("stage %s of layer %q is filled %s", b.stage, b.layer, b.fill)
		}
		if b.x < 0 || b.y < 0 || b.x+b.w > g.Width || b.y+b.h > g.Height {
			t.Errorf("box of %s (%v) leaves the %vx%v picture", b.stage, b, g.Width, g.Height)
		}
	}
	for _, s := range stages {
		if _, ok := byName[s.Name()]; !ok {
			t.Errorf("no box for stage %s", s.Name())
		}
		if !strings.Contains(all, " "+s.Name()+" ") || !strings.Contains(all, " "+s.Type()+" ") {
			t.Errorf("stage %s (%s) is not written in the picture", s.Name(), s.Type())
		}
	}
	if want := map[string]string{"iris_reader": "extraction", "router": "routing", "counter": "transformation", "writer": "load"}; true {
		for name, layer := range want {
			if byName[name].layer != layer {
				t.Errorf("%s is in layer %q, want %s", name, byName[name].layer, layer)
			}
		}
	}
	jobPipes := f.Job.Pipes()
	if len(pipes) != len(jobPipes) {
		t.Errorf("%d pipes drawn, the job has %d", len(pipes), len(jobPipes))
	}
	for _, p := range jobPipes {
		if !strings.Contains(all, " "+p.Name()+" ") {
			t.Errorf("pipe %s is not labelled", p.Name())
		}
	}
	for i := range boxes {
		for j := i + 1; j < len(boxes); j++ {
			if overlap(boxes[i], boxes[j]) {
				t.Errorf("boxes of %s and %s overlap: %v %v", boxes[i].stage, boxes[j].stage, boxes[i], boxes[j])
			}
		}
	}
	// Pipes go left to right: each stage is right of the stages feeding it.
	for _, p := range jobPipes {
		from, to := byName[p.Origin().Name()], byName[p.Destination().Name()]
		if from.x+from.w >= to.x {
			t.Errorf("pipe %s goes from %s (%v) leftwards to %s (%v)", p.Name(), from.stage, from, to.stage, to)
		}
	}
	// Labels of the pipes between two columns do not overlap one another.
	for i, a := range g.Edges {
		for _, b := range g.Edges[i+1:] {
			if a.From.Rank != b.From.Rank {
				continue
			}
			if dy := a.LabelY - b.LabelY; dy < 0 && -dy < 20 || dy >= 0 && dy < 20 {
				t.Errorf("labels of %s and %s are %v apart", a.Name, b.Name, dy)
			}
		}
	}
}

// With a run report each pipe's label carries its row count.
func TestSVGWithRowCounts(t *testing.T) {
	f := loadExample2(t)
	run := &report.Run{Job: f.Name, Pipes: []report.Pipe{{Name: "p_setosa", Rows: 50}, {Name: "combined", Rows: 1234567}, {Name: "bad", Rows: 1, Reject: true}}}
	g := graph.FromJob(f.Job).WithRun(run)
	g.Layout()
	var buf bytes.Buffer
	g.SVG(&buf)
	_, texts, _ := parseSVG(t, buf.Bytes())
	joined := strings.Join(texts, "|")
	for _, want := range []string{"p_setosa|50 rows", "combined|1,234,567 rows"} {
		if !strings.Contains(joined, want) {
			t.Errorf("labels lack %q: %s", want, joined)
		}
	}
	if !strings.Contains(joined, "pipe1|p_setosa|") {
		t.Errorf("a pipe the report does not know has a count: %s", joined)
	}
	var md bytes.Buffer
	g.Mermaid(&md)
	if !strings.Contains(md.String(), "s_router -->|p_setosa<br/>50 rows| s_combiner") {
		t.Errorf("mermaid:\n%s", md.String())
	}
}

// A pipe that skips columns is routed around the boxes between: through a
// dummy point in each column it crosses.
func TestLongPipeAvoidsBoxes(t *testing.T) {
	f, err := jobfile.Parse([]byte(`name: long
stages:
  - {name: a, type: Generator, rows: 1, columns: [{name: n}]}
  - {name: copy, type: Copy}
  - {name: f1, type: Filter, field: n, condition: ">", value: 0}
  - {name: f2, type: Filter, field: n, condition: ">", value: 0}
  - {name: f3, type: Filter, field: n, condition: ">", value: 0}
  - {name: fun, type: Funnel}
  - {name: out, type: Printer}
pipes:
  - {name: p0, from: a, to: copy}
  - {name: p1, from: copy, to: f1}
  - {name: p2, from: f1, to: f2}
  - {name: p3, from: f2, to: f3}
  - {name: p4, from: f3, to: fun}
  - {name: skip, from: copy, to: fun}
  - {name: p5, from: fun, to: out}
`), "long.yaml", jobfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := graph.FromJob(f.Job)
	g.Layout()
	var skip *graph.Edge
	for _, e := range g.Edges {
		if e.Name == "skip" {
			skip = e
		}
	}
	if skip == nil || len(skip.Points) < 2+2*3 {
		t.Fatalf("pipe skip has points %v; want one dummy per column crossed", skip)
	}
	for _, n := range []string{"f1", "f2", "f3"} {
		b := g.Node(n)
		for _, p := range skip.Points {
			if p.X >= b.X && p.X <= b.X+b.W && p.Y >= b.Y && p.Y <= b.Y+b.H {
				t.Errorf("pipe skip passes through %v inside the box of %s", p, n)
			}
		}
	}
}
