package openstage

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// StageStats are the figures of one stage in a run (DataStage Director's link
// counts): rows and batches received, rows, batches and bytes sent on its
// output pipes, rows sent on reject pipes, named counters and wall time.
type StageStats struct {
	Stage      string
	Type       string
	RowsIn     int64
	RowsOut    int64 // on its output pipes, reject pipes excepted
	Rejected   int64 // rows sent on reject pipes
	BatchesIn  int64
	BatchesOut int64 // on its output pipes, reject pipes excepted
	BytesOut   int64 // Arrow data of the rows in RowsOut (values, offsets, validity)
	Counters   map[string]int64
	// Start and End are when the stage's goroutine started and returned
	// (zero until then); Elapsed is End-Start, or the time since Start
	// while it runs.
	Start, End time.Time
	Elapsed    time.Duration
	// BytesRead and BytesTotal are how far an origin that implements
	// ProgressReporter is through its source (BytesTotal 0: unknown).
	BytesRead, BytesTotal int64
	// Err is the stage's own failure (nil if it did not fail, including
	// when it was stopped because another stage failed).
	Err error
}

// Rows is the stage's throughput count: the rows it received, or, for an
// origin (a stage without input), the rows it sent, rejected ones included.
func (st StageStats) Rows() int64 {
	if st.RowsIn > 0 {
		return st.RowsIn
	}
	return st.RowsOut + st.Rejected
}

// RowsPerSecond is Rows over the stage's elapsed time (0 before it starts).
func (st StageStats) RowsPerSecond() float64 {
	if st.Elapsed <= 0 {
		return 0
	}
	return float64(st.Rows()) / st.Elapsed.Seconds()
}

// Batches is the batches the stage sent, or, for a destination (a stage
// that sends none), the batches it received.
func (st StageStats) Batches() int64 {
	if st.BatchesOut > 0 {
		return st.BatchesOut
	}
	return st.BatchesIn
}

// Tokens returns the stage's input_tokens and output_tokens counters (an
// AI stage's) and whether it has either.
func (st StageStats) Tokens() (in, out int64, ok bool) {
	in, okIn := st.Counters[CounterInputTokens]
	out, okOut := st.Counters[CounterOutputTokens]
	return in, out, okIn || okOut
}

// Running reports whether the stage has started and not yet returned.
func (st StageStats) Running() bool { return !st.Start.IsZero() && st.End.IsZero() }

// PipeStats are the rows, batches and bytes that travelled on one pipe.
type PipeStats struct {
	Pipe     string
	From, To string
	Rows     int64
	Batches  int64
	Bytes    int64
	Reject   bool // the pipe is its producer's reject pipe
}

// Summary describes a run: finished (Job.Summary) or in progress (Job.Stats).
type Summary struct {
	Job        string
	Stages     []StageStats // in topological order
	Pipes      []PipeStats
	Start, End time.Time // End is zero while the run goes on
	Elapsed    time.Duration
	Running    bool
	Err        error
}

// Status is "running", "succeeded", "cancelled" (the context given to Run
// was cancelled) or "failed".
func (s *Summary) Status() string {
	switch {
	case s.Running:
		return "running"
	case s.Err == nil:
		return "succeeded"
	case errors.Is(s.Err, ErrCancelled):
		return "cancelled"
	}
	return "failed"
}

// Stage returns the figures of the stage called name.
func (s *Summary) Stage(name string) (StageStats, bool) {
	for _, st := range s.Stages {
		if st.Stage == name {
			return st, true
		}
	}
	return StageStats{}, false
}

// Pipe returns the figures of the pipe called name.
func (s *Summary) Pipe(name string) (PipeStats, bool) {
	for _, p := range s.Pipes {
		if p.Pipe == name {
			return p, true
		}
	}
	return PipeStats{}, false
}

// WriteTable writes the summary as an aligned table, one row per stage:
// rows in, rows out, rejected, batches (sent; received for a destination),
// rows per second (of Rows over the stage's elapsed time), elapsed, tokens
// (input/output, when an AI stage counted any) and the other counters.
func (s *Summary) WriteTable(w io.Writer) error {
	tokens := false
	for _, st := range s.Stages {
		if _, _, ok := st.Tokens(); ok {
			tokens = true
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "stage\ttype\trows in\trows out\trejected\tbatches\trows/s\telapsed\t"
	if tokens {
		head += "tokens in/out\t"
	}
	fmt.Fprintf(tw, "%snotes\t\n", head)
	for _, st := range s.Stages {
		var notes []string
		for _, k := range sortedKeys(st.Counters) {
			if tokens && (k == CounterInputTokens || k == CounterOutputTokens) {
				continue
			}
			notes = append(notes, fmt.Sprintf("%s=%d", k, st.Counters[k]))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t", st.Stage, st.Type, st.RowsIn, st.RowsOut, st.Rejected, st.Batches(), FormatRate(st.RowsPerSecond()), roundDuration(st.Elapsed))
		if tokens {
			if in, out, ok := st.Tokens(); ok {
				fmt.Fprintf(tw, "%d/%d\t", in, out)
			} else {
				fmt.Fprint(tw, "\t")
			}
		}
		fmt.Fprintf(tw, "%s\t\n", strings.Join(notes, " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "job %s %s in %s\n", s.Job, s.Status(), roundDuration(s.Elapsed))
	return err
}

// FormatRate writes a rate with three significant digits and a k, M or G
// suffix: 950, 12.3k, 4.56M.
func FormatRate(r float64) string {
	switch {
	case r <= 0:
		return "0"
	case r < 1000:
		return trimFloat(r)
	case r < 1e6:
		return trimFloat(r/1e3) + "k"
	case r < 1e9:
		return trimFloat(r/1e6) + "M"
	}
	return trimFloat(r/1e9) + "G"
}

func trimFloat(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(10 * time.Millisecond)
	case d > time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
