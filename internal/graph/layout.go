package graph

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
)

// Sizes, in SVG user units. Text is drawn in a monospace font so that its
// width is known without measuring it.
const (
	nameFont  = 13.0
	typeFont  = 11.0
	labelFont = 11.0
	charW     = 0.6 // a monospace glyph is about 0.6 em wide
	boxPadX   = 14.0
	boxH      = 46.0
	minBoxW   = 110.0
	dummyH    = 16.0
	vGap      = 34.0 // between boxes of a column
	minHGap   = 70.0 // between columns
	margin    = 24.0
	sweeps    = 24
	relaxes   = 12
)

func textW(s string, font float64) float64 { return float64(len([]rune(s))) * font * charW }

// LabelLines returns the text of a pipe's label: its name and, when a run
// report gave it one, its row count.
func (e *Edge) LabelLines() []string {
	if e.Rows < 0 {
		return []string{e.Name}
	}
	return []string{e.Name, Rows(e.Rows)}
}

// Rows writes a row count with thousands separators: "1,234 rows".
func Rows(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b []byte
	for i, c := range []byte(s) {
		if i > 0 && (len(s)-i)%3 == 0 && s[0] != '-' {
			b = append(b, ',')
		}
		b = append(b, c)
	}
	if n == 1 {
		return string(b) + " row"
	}
	return string(b) + " rows"
}

func (e *Edge) labelSize() (w, h float64) {
	for _, l := range e.LabelLines() {
		w = max(w, textW(l, labelFont))
	}
	return w + 10, float64(len(e.LabelLines()))*(labelFont+3) + 6
}

// Layout places the nodes and routes the pipes (see the package
// documentation for the method). It may be called again after WithRun.
func (g *Graph) Layout() {
	g.reset()
	g.rank()
	g.addDummies()
	g.order()
	g.place()
	g.route()
}

func (g *Graph) reset() {
	for _, n := range g.Nodes {
		n.W = max(minBoxW, textW(n.Name, nameFont)+2*boxPadX, textW(n.Type, typeFont)+2*boxPadX)
		n.H = boxH
	}
	for _, e := range g.Edges {
		e.chain, e.Points, e.straight = nil, nil, nil
	}
	g.ranks = nil
}

// rank gives each node its longest-path layer. Nodes on a cycle (an
// invalid job can have one) are placed after the others.
func (g *Graph) rank() {
	indeg := map[*Node]int{}
	for _, e := range g.Edges {
		indeg[e.To]++
	}
	var queue []*Node
	for _, n := range g.Nodes {
		n.Rank = 0
		if indeg[n] == 0 {
			queue = append(queue, n)
		}
	}
	done := map[*Node]bool{}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		done[n] = true
		for _, e := range n.out {
			e.To.Rank = max(e.To.Rank, n.Rank+1)
			if indeg[e.To]--; indeg[e.To] == 0 {
				queue = append(queue, e.To)
			}
		}
	}
	top := 0
	for _, n := range g.Nodes {
		if done[n] {
			top = max(top, n.Rank)
		}
	}
	for _, n := range g.Nodes {
		if !done[n] {
			top++
			n.Rank = top
		}
	}
}

// addDummies splits pipes that span several columns with a dummy node in
// each column crossed, and builds the columns.
func (g *Graph) addDummies() {
	maxRank := 0
	for _, n := range g.Nodes {
		maxRank = max(maxRank, n.Rank)
	}
	g.ranks = make([][]*Node, maxRank+1)
	nodes := slices.Clone(g.Nodes)
	sort.SliceStable(nodes, func(a, b int) bool { return nodes[a].seq < nodes[b].seq })
	for _, n := range nodes {
		g.ranks[n.Rank] = append(g.ranks[n.Rank], n)
	}
	for i, e := range g.Edges {
		for r := e.From.Rank + 1; r < e.To.Rank; r++ {
			d := &Node{Name: fmt.Sprintf("%s#%d", e.Name, r), Rank: r, H: dummyH, dummy: true, seq: len(g.Nodes) + i}
			e.chain = append(e.chain, d)
			g.ranks[r] = append(g.ranks[r], d)
		}
	}
	for _, col := range g.ranks {
		for i, n := range col {
			n.Order = i
		}
	}
}

// segments returns an edge's hops: pairs of consecutive nodes along it.
func (e *Edge) segments() [][2]*Node {
	path := append(append([]*Node{e.From}, e.chain...), e.To)
	segs := make([][2]*Node, 0, len(path)-1)
	for i := 0; i+1 < len(path); i++ {
		segs = append(segs, [2]*Node{path[i], path[i+1]})
	}
	return segs
}

// neighbours returns, for every node, its neighbours in the previous and in
// the next column (through the hops of the pipes).
func (g *Graph) neighbours() (prev, next map[*Node][]*Node) {
	prev, next = map[*Node][]*Node{}, map[*Node][]*Node{}
	for _, e := range g.Edges {
		for _, s := range e.segments() {
			if s[1].Rank == s[0].Rank+1 {
				next[s[0]] = append(next[s[0]], s[1])
				prev[s[1]] = append(prev[s[1]], s[0])
			}
		}
	}
	return prev, next
}

// order reduces crossings with barycentre sweeps, keeping the best order.
func (g *Graph) order() {
	prev, next := g.neighbours()
	best := g.snapshotOrder()
	bestX := g.crossings(next)
	for it := 0; it < sweeps && bestX > 0; it++ {
		if it%2 == 0 {
			for r := 1; r < len(g.ranks); r++ {
				sortByBarycentre(g.ranks[r], prev)
			}
		} else {
			for r := len(g.ranks) - 2; r >= 0; r-- {
				sortByBarycentre(g.ranks[r], next)
			}
		}
		if x := g.crossings(next); x < bestX {
			bestX, best = x, g.snapshotOrder()
		}
	}
	for r, col := range best {
		g.ranks[r] = col
		for i, n := range col {
			n.Order = i
		}
	}
}

func (g *Graph) snapshotOrder() [][]*Node {
	out := make([][]*Node, len(g.ranks))
	for r, col := range g.ranks {
		out[r] = slices.Clone(col)
	}
	return out
}

func sortByBarycentre(col []*Node, adj map[*Node][]*Node) {
	bary := map[*Node]float64{}
	for _, n := range col {
		ns := adj[n]
		if len(ns) == 0 {
			bary[n] = float64(n.Order)
			continue
		}
		sum := 0.0
		for _, m := range ns {
			sum += float64(m.Order)
		}
		bary[n] = sum / float64(len(ns))
	}
	sort.SliceStable(col, func(a, b int) bool { return bary[col[a]] < bary[col[b]] })
	for i, n := range col {
		n.Order = i
	}
}

// crossings counts the pairs of hops between adjacent columns that cross.
func (g *Graph) crossings(next map[*Node][]*Node) int {
	total := 0
	for r := 0; r+1 < len(g.ranks); r++ {
		var segs [][2]int
		for _, n := range g.ranks[r] {
			for _, m := range next[n] {
				segs = append(segs, [2]int{n.Order, m.Order})
			}
		}
		for i := range segs {
			for j := i + 1; j < len(segs); j++ {
				a, b := segs[i], segs[j]
				if (a[0]-b[0])*(a[1]-b[1]) < 0 {
					total++
				}
			}
		}
	}
	return total
}

// place sets the columns' x and the nodes' y.
func (g *Graph) place() {
	colW := make([]float64, len(g.ranks))
	for r, col := range g.ranks {
		for _, n := range col {
			colW[r] = max(colW[r], n.W)
		}
	}
	// The gap after each column fits the labels of the pipes whose first
	// hop starts there.
	gap := make([]float64, len(g.ranks))
	for r := range gap {
		gap[r] = minHGap
	}
	for _, e := range g.Edges {
		if r := e.From.Rank; r < len(gap) && e.To.Rank > r {
			w, _ := e.labelSize()
			gap[r] = max(gap[r], w+40)
		}
	}
	x := margin
	for r, col := range g.ranks {
		for _, n := range col {
			if n.dummy {
				n.X, n.W = x, colW[r]
			} else {
				n.X = x + (colW[r]-n.W)/2
			}
		}
		x += colW[r] + gap[r]
	}
	g.Width = x - gap[len(gap)-1] + margin

	// Initial heights: stacked in order, then columns centred on the tallest.
	cy := map[*Node]float64{}
	tallest := 0.0
	for _, col := range g.ranks {
		tallest = max(tallest, stackHeight(col))
	}
	for _, col := range g.ranks {
		y := (tallest - stackHeight(col)) / 2
		for _, n := range col {
			cy[n] = y + n.H/2
			y += n.H + vGap
		}
	}
	prev, next := g.neighbours()
	for pass := 0; pass < relaxes; pass++ {
		for r := range g.ranks {
			if pass%2 == 1 {
				r = len(g.ranks) - 1 - r
			}
			col := g.ranks[r]
			want := make([]float64, len(col))
			for i, n := range col {
				ns := append(slices.Clone(prev[n]), next[n]...)
				if len(ns) == 0 {
					want[i] = cy[n]
					continue
				}
				sum := 0.0
				for _, m := range ns {
					sum += cy[m]
				}
				want[i] = sum / float64(len(ns))
			}
			for i, y := range separate(col, want) {
				cy[col[i]] = y
			}
		}
	}
	top := 0.0
	first := true
	bottom := 0.0
	for _, col := range g.ranks {
		for _, n := range col {
			if first || cy[n]-n.H/2 < top {
				top = cy[n] - n.H/2
			}
			if first || cy[n]+n.H/2 > bottom {
				bottom = cy[n] + n.H/2
			}
			first = false
		}
	}
	for _, col := range g.ranks {
		for _, n := range col {
			n.Y = cy[n] - n.H/2 - top + margin
		}
	}
	g.Height = bottom - top + 2*margin
}

func stackHeight(col []*Node) float64 {
	h := 0.0
	for i, n := range col {
		if i > 0 {
			h += vGap
		}
		h += n.H
	}
	return h
}

// separate returns centres as close to want as the column's order and
// gaps allow: the mean of a top-down and a bottom-up pass, each of which
// keeps every gap, so their mean does too.
func separate(col []*Node, want []float64) []float64 {
	hs := make([]float64, len(col))
	for i, nd := range col {
		hs[i] = nd.H
	}
	return separateBy(want, hs, vGap)
}

// route sets each pipe's points: out of the right side of its producer
// (ports spread over the side, in the order of their targets), through its
// label, through its dummy nodes, into the left side of its consumer. The
// labels in each gap between columns are then moved apart vertically so
// that none overlaps another, and each pipe bends through its own label.
func (g *Graph) route() {
	outPort, inPort := map[*Edge]float64{}, map[*Edge]float64{}
	for _, n := range g.Nodes {
		spread(n, n.out, func(e *Edge) *Node { return firstHop(e) }, outPort)
		spread(n, n.in, func(e *Edge) *Node { return lastHop(e) }, inPort)
	}
	byGap := map[int][]*Edge{}
	for _, e := range g.Edges {
		next := firstHop(e)
		nextY := inPort[e]
		if next != e.To {
			nextY = next.Y + next.H/2
		}
		e.LabelX = (e.From.X + e.From.W + next.X) / 2
		e.LabelY = (outPort[e] + nextY) / 2
		byGap[e.From.Rank] = append(byGap[e.From.Rank], e)
	}
	for _, es := range byGap {
		sort.SliceStable(es, func(a, b int) bool { return es[a].LabelY < es[b].LabelY })
		want := make([]float64, len(es))
		hs := make([]float64, len(es))
		for i, e := range es {
			want[i] = e.LabelY
			_, hs[i] = e.labelSize()
		}
		for i, y := range separateBy(want, hs, 6) {
			es[i].LabelY = y
		}
	}
	for _, e := range g.Edges {
		lw, _ := e.labelSize()
		e.Points = []Point{{e.From.X + e.From.W, outPort[e]}, {e.LabelX - lw/2, e.LabelY}, {e.LabelX + lw/2, e.LabelY}}
		e.straight = []bool{false, true}
		for _, d := range e.chain {
			y := d.Y + d.H/2
			e.Points = append(e.Points, Point{d.X, y}, Point{d.X + d.W, y})
			e.straight = append(e.straight, false, true)
		}
		e.Points = append(e.Points, Point{e.To.X, inPort[e]})
		e.straight = append(e.straight, false)
	}
	// Labels moved apart may reach past the boxes: grow the picture.
	top, bottom := 0.0, g.Height
	for _, e := range g.Edges {
		_, lh := e.labelSize()
		top = min(top, e.LabelY-lh/2-margin/2)
		bottom = max(bottom, e.LabelY+lh/2+margin/2)
	}
	if top < 0 {
		g.shift(-top)
		bottom -= top
	}
	g.Height = bottom
}

// shift moves everything down by dy.
func (g *Graph) shift(dy float64) {
	for _, col := range g.ranks {
		for _, n := range col {
			n.Y += dy
		}
	}
	for _, e := range g.Edges {
		e.LabelY += dy
		for i := range e.Points {
			e.Points[i].Y += dy
		}
	}
}

// separateBy is separate for items of heights hs with gap between them.
func separateBy(want, hs []float64, gap float64) []float64 {
	n := len(want)
	down, up := make([]float64, n), make([]float64, n)
	sep := func(i int) float64 { return hs[i-1]/2 + gap + hs[i]/2 }
	for i := range n {
		down[i] = want[i]
		if i > 0 {
			down[i] = max(want[i], down[i-1]+sep(i))
		}
	}
	for i := n - 1; i >= 0; i-- {
		up[i] = want[i]
		if i < n-1 {
			up[i] = min(want[i], up[i+1]-sep(i+1))
		}
	}
	out := make([]float64, n)
	for i := range n {
		out[i] = (down[i] + up[i]) / 2
	}
	return out
}

func firstHop(e *Edge) *Node {
	if len(e.chain) > 0 {
		return e.chain[0]
	}
	return e.To
}

func lastHop(e *Edge) *Node {
	if len(e.chain) > 0 {
		return e.chain[len(e.chain)-1]
	}
	return e.From
}

func spread(n *Node, edges []*Edge, other func(*Edge) *Node, port map[*Edge]float64) {
	es := slices.Clone(edges)
	sort.SliceStable(es, func(a, b int) bool {
		oa, ob := other(es[a]), other(es[b])
		return oa.Y+oa.H/2 < ob.Y+ob.H/2
	})
	for i, e := range es {
		port[e] = n.Y + n.H*float64(i+1)/float64(len(es)+1)
	}
}
