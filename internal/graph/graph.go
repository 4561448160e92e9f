// Package graph draws a job: its stages as boxes coloured by layer, its
// pipes as labelled arrows, optionally with the row counts of a run report
// on each pipe (as DataStage Director shows link counts). It writes Mermaid
// and Graphviz DOT text for other tools, and SVG and a self-contained HTML
// page that it lays out itself, so no Graphviz is needed.
//
// # Layout
//
// The SVG layout is the layered (Sugiyama) method, drawn left to right:
//
//  1. Layers: each stage's column is the longest path to it from an
//     origin (longest-path layering), so every pipe goes rightwards.
//  2. A pipe spanning several columns gets a dummy point in each column it
//     crosses, so that it is routed between the boxes, not through them.
//  3. Order within each column: starting from the job's order, sweeps left
//     to right and right to left sort each column by the barycentre (mean
//     position) of each node's neighbours in the previous column; the
//     order with the fewest pipe crossings found in 24 sweeps is kept.
//  4. Coordinates: columns are as wide as their widest box and spaced to
//     fit the pipe labels between them; within a column nodes keep their
//     order and a minimum gap, and are pulled towards the mean height of
//     their neighbours in a few relaxation passes, so that chains run
//     straight.
//  5. Pipes are cubic Bézier curves with horizontal tangents through their
//     dummy points; each is labelled, on a white background, at the middle
//     of its first segment.
//
// Boxes never overlap (their column order and gaps are kept at every
// step); the tests check it.
package graph

import (
	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/report"
)

// Colours by layer, as in the seed's diagrams: origins blue, transformers
// green, routers purple, AI orange, destinations red.
var Colours = map[openstage.Layer]string{
	openstage.Extraction:     "#3b82f6",
	openstage.Transformation: "#22c55e",
	openstage.Routing:        "#a855f7",
	openstage.AI:             "#f97316",
	openstage.Load:           "#ef4444",
}

// LayerTitles names the layers for legends.
var LayerTitles = map[openstage.Layer]string{
	openstage.Extraction:     "origin",
	openstage.Transformation: "transformer",
	openstage.Routing:        "router",
	openstage.AI:             "AI",
	openstage.Load:           "destination",
}

// Layers lists the layers in pipeline order.
var Layers = []openstage.Layer{openstage.Extraction, openstage.Transformation, openstage.Routing, openstage.AI, openstage.Load}

// LayerOf is the layer of a stage: its type's declared layer in the
// default registry, otherwise one from its kind.
func LayerOf(s *openstage.Stage) openstage.Layer {
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

// Node is a stage in the picture (or a dummy point of a long pipe).
type Node struct {
	Name  string
	Type  string
	Layer openstage.Layer
	// Position and size (SVG user units) of the box, set by Layout; X, Y
	// is the top-left corner.
	X, Y, W, H float64
	Rank       int // column, from 0 at the origins
	Order      int // position in the column, from the top

	dummy bool
	in    []*Edge
	out   []*Edge
	seq   int // order of appearance in the job
}

// Edge is a pipe in the picture.
type Edge struct {
	Name     string
	From, To *Node
	Rows     int64 // from a run report; -1 when unknown
	Reject   bool
	// Points are the pipe's ends and the points it passes through (the
	// ends of its label, its dummy nodes), set by Layout; LabelX, LabelY
	// the centre of its label.
	Points         []Point
	LabelX, LabelY float64

	straight []bool // segment i (Points[i] to Points[i+1]) is a straight line

	chain []*Node // the dummy nodes, in order
}

// Point is a position in the picture.
type Point struct{ X, Y float64 }

// Graph is a job to draw.
type Graph struct {
	Job    string
	Nodes  []*Node // the stages, in job order (dummy nodes are not listed)
	Edges  []*Edge
	Width  float64 // set by Layout
	Height float64
	Run    *report.Run // the run whose counts label the pipes, if any

	ranks [][]*Node // by Layout: columns, dummies included
}

// FromJob returns the graph of a job's stages and pipes.
func FromJob(job *openstage.Job) *Graph {
	g := &Graph{Job: job.Name}
	byName := map[*openstage.Stage]*Node{}
	for i, s := range job.Stages() {
		n := &Node{Name: s.Name(), Type: s.Type(), Layer: LayerOf(s), seq: i}
		byName[s] = n
		g.Nodes = append(g.Nodes, n)
	}
	for _, p := range job.Pipes() {
		if p.Origin() == nil || p.Destination() == nil {
			continue
		}
		from, to := byName[p.Origin()], byName[p.Destination()]
		if from == nil || to == nil {
			continue
		}
		_, reject := job.PipeSchema(p.Name())
		e := &Edge{Name: p.Name(), From: from, To: to, Rows: -1, Reject: reject}
		from.out = append(from.out, e)
		to.in = append(to.in, e)
		g.Edges = append(g.Edges, e)
	}
	return g
}

// WithRun labels the pipes with the row counts of run (a report of a run
// of the same job; pipes it does not know keep no count) and marks reject
// pipes it knows.
func (g *Graph) WithRun(run *report.Run) *Graph {
	g.Run = run
	for _, e := range g.Edges {
		if p, ok := run.Pipe(e.Name); ok {
			e.Rows = p.Rows
			e.Reject = e.Reject || p.Reject
		}
	}
	return g
}

// Node returns the node of the stage called name.
func (g *Graph) Node(name string) *Node {
	for _, n := range g.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}
