package cli_test

import (
	"context"
	"io"
	"testing"

	"github.com/prometheus/common/expfmt"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/cli"
	"github.com/open-stage/openstage/internal/metrics"
	"github.com/open-stage/openstage/jobfile"
)

// What watching a job costs, per look: the progress display reads
// Job.Stats and formats every stage's line 5 times a second; a metrics
// scrape reads Job.Stats and encodes every metric. Measured on Example 2
// (7 stages, 8 pipes) after a run; a running job's figures are the same
// atomic counters. bench/overhead.sh measures the whole on W4.
func example2(b *testing.B) *openstage.Job {
	f, err := jobfile.Load("../../examples/02_split_merge_iris.yaml", jobfile.Options{Params: map[string]string{"out_dir": b.TempDir()}})
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Job.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	return f.Job
}

func BenchmarkStats(b *testing.B) {
	job := example2(b)
	for b.Loop() {
		if job.Stats() == nil {
			b.Fatal("no stats")
		}
	}
}

func BenchmarkProgressLines(b *testing.B) {
	job := example2(b)
	for b.Loop() {
		s := job.Stats()
		for _, st := range s.Stages {
			_ = cli.ProgressLine(st, 1000, 30)
		}
	}
}

func BenchmarkMetricsScrape(b *testing.B) {
	job := example2(b)
	reg := metrics.NewCollector(job.Name, job.Stats, true).Registry()
	for b.Loop() {
		mfs, err := reg.Gather()
		if err != nil || len(mfs) == 0 {
			b.Fatal(err)
		}
		enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
	}
}
