package openstage

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// StageStats are the figures of one stage in a run (DataStage Director's link
// counts): rows received, rows sent on its output pipes, rows sent on reject
// pipes, named counters and wall time.
type StageStats struct {
	Stage    string
	Type     string
	RowsIn   int64
	RowsOut  int64
	Rejected int64
	Counters map[string]int64
	Elapsed  time.Duration
}

// PipeStats are the rows and batches that travelled on one pipe.
type PipeStats struct {
	Pipe     string
	From, To string
	Rows     int64
	Batches  int64
}

// Summary describes a finished run.
type Summary struct {
	Job     string
	Stages  []StageStats
	Pipes   []PipeStats
	Elapsed time.Duration
	Err     error
}

func newSummary(job string, rts []*stageRT, elapsed time.Duration, err error) *Summary {
	s := &Summary{Job: job, Elapsed: elapsed, Err: err}
	for _, rt := range rts {
		st := StageStats{Stage: rt.stage.name, Type: rt.stage.typ, RowsIn: rt.rowsIn.Load(), Elapsed: rt.elapsed}
		for _, p := range rt.out {
			n := p.rows.Load()
			if p.reject {
				st.Rejected += n
			} else {
				st.RowsOut += n
			}
			s.Pipes = append(s.Pipes, PipeStats{Pipe: p.pipe.name, From: rt.stage.name, To: p.pipe.to.name, Rows: n, Batches: p.batches.Load()})
		}
		rt.counters.Range(func(k, v any) bool {
			if st.Counters == nil {
				st.Counters = map[string]int64{}
			}
			st.Counters[k.(string)] = v.(*atomic.Int64).Load()
			return true
		})
		s.Stages = append(s.Stages, st)
	}
	return s
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

// WriteTable writes the summary as an aligned table, one row per stage.
func (s *Summary) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "stage\ttype\trows in\trows out\trejected\telapsed\tnotes\t\n")
	for _, st := range s.Stages {
		var notes []string
		keys := make([]string, 0, len(st.Counters))
		for k := range st.Counters {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			notes = append(notes, fmt.Sprintf("%s=%d", k, st.Counters[k]))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t\n", st.Stage, st.Type, st.RowsIn, st.RowsOut, st.Rejected, roundDuration(st.Elapsed), strings.Join(notes, " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	status := "succeeded"
	if s.Err != nil {
		status = "failed"
	}
	_, err := fmt.Fprintf(w, "job %s %s in %s\n", s.Job, status, roundDuration(s.Elapsed))
	return err
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
