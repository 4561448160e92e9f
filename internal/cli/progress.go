package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/open-stage/openstage"
)

// ProgressInterval is how often the progress display reads the job's
// figures and redraws.
const ProgressInterval = 200 * time.Millisecond

// IsTerminal reports whether w is an interactive terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Progress is the live display of a running job on a terminal: one line
// per stage with its rows so far, its current rows per second and, for an
// origin that reports it, how much of its input it has read. It is drawn
// with mpb and removed when the job ends. Lines written to it (Write)
// appear above the display, so logs do not tear it.
type Progress struct {
	p     *mpb.Progress
	stats func() *openstage.Summary
	stop  chan struct{}
	done  chan struct{}

	mu    sync.Mutex
	bars  []*mpb.Bar
	lines []atomic.Pointer[string] // the text of each stage's line
}

// StartProgress starts drawing on w the figures stats returns (a job's
// Stats method), refreshed every ProgressInterval. The display appears once
// the job is past validation. Call Stop when Run returns.
func StartProgress(w io.Writer, stats func() *openstage.Summary) *Progress {
	pr := &Progress{
		p:     mpb.New(mpb.WithOutput(w), mpb.WithRefreshRate(ProgressInterval), mpb.WithWidth(0)),
		stats: stats,
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go pr.loop()
	return pr
}

// Write prints p above the display.
func (pr *Progress) Write(p []byte) (int, error) {
	n, err := pr.p.Write(p)
	if err != nil {
		// The display has ended: nothing to keep clear of.
		return len(p), nil
	}
	return n, nil
}

// Stop removes the display from the terminal and returns once it is gone.
func (pr *Progress) Stop() {
	close(pr.stop)
	<-pr.done
	pr.mu.Lock()
	for _, b := range pr.bars {
		b.Abort(true)
	}
	pr.mu.Unlock()
	pr.p.Wait()
}

type rate struct {
	rows int64
	at   time.Time
	rate float64
}

func (pr *Progress) loop() {
	defer close(pr.done)
	tick := time.NewTicker(ProgressInterval)
	defer tick.Stop()
	rates := map[string]*rate{}
	for {
		if s := pr.stats(); s != nil {
			pr.update(s, rates, time.Now())
		}
		select {
		case <-pr.stop:
			return
		case <-tick.C:
		}
	}
}

func (pr *Progress) update(s *openstage.Summary, rates map[string]*rate, now time.Time) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.bars == nil {
		pr.lines = make([]atomic.Pointer[string], len(s.Stages))
		for i := range s.Stages {
			line := &pr.lines[i]
			pr.bars = append(pr.bars, pr.p.New(0, mpb.NopStyle(), mpb.PrependDecorators(
				decor.Any(func(decor.Statistics) string {
					if t := line.Load(); t != nil {
						return *t
					}
					return ""
				}),
			)))
		}
	}
	width := 0
	for _, st := range s.Stages {
		width = max(width, len(st.Stage)+len(st.Type)+3)
	}
	for i, st := range s.Stages {
		if i >= len(pr.lines) {
			break
		}
		r := rates[st.Stage]
		rows := st.Rows()
		if r == nil {
			r = &rate{rows: rows, at: now}
			rates[st.Stage] = r
		} else if dt := now.Sub(r.at).Seconds(); dt > 0 {
			inst := float64(rows-r.rows) / dt
			if r.rate == 0 {
				r.rate = inst
			} else {
				r.rate = 0.5*r.rate + 0.5*inst
			}
			r.rows, r.at = rows, now
		}
		text := ProgressLine(st, r.rate, width)
		pr.lines[i].Store(&text)
	}
}

// ProgressLine is one stage's line of the display: name and type, state,
// rows so far, current rows per second (given) and, for an origin that
// reports its progress, a bar and the percentage of its input read.
func ProgressLine(st openstage.StageStats, rowsPerSecond float64, width int) string {
	head := fmt.Sprintf("%s (%s)", st.Stage, st.Type)
	head += strings.Repeat(" ", max(0, width-len(head)))
	var b strings.Builder
	b.WriteString(head)
	switch {
	case st.Start.IsZero():
		b.WriteString("  waiting")
		return b.String()
	case st.Err != nil:
		fmt.Fprintf(&b, "  failed after %s rows", group(st.Rows()))
		return b.String()
	case !st.End.IsZero():
		fmt.Fprintf(&b, "  done     %12s rows  %9s rows/s avg", group(st.Rows()), openstage.FormatRate(st.RowsPerSecond()))
		return b.String()
	}
	fmt.Fprintf(&b, "  running  %12s rows  %9s rows/s", group(st.Rows()), openstage.FormatRate(rowsPerSecond))
	if st.Rejected > 0 {
		fmt.Fprintf(&b, "  %s rejected", group(st.Rejected))
	}
	if st.BytesTotal > 0 {
		frac := min(1, float64(st.BytesRead)/float64(st.BytesTotal))
		const cells = 20
		full := int(frac * cells)
		fmt.Fprintf(&b, "  [%s%s] %3.0f%%", strings.Repeat("=", full), strings.Repeat(" ", cells-full), 100*frac)
	}
	return b.String()
}

// group writes n with thousands separators.
func group(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[0] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
