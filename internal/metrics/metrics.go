// Package metrics exports a job's figures to Prometheus: a collector that
// reads the job's live statistics (openstage.Job.Stats) whenever it is
// scraped, an HTTP server for /metrics while the job runs, and a push of
// the final values to a Pushgateway for batch jobs.
//
// Nothing is counted here: the engine's atomic counters are read at scrape
// time, so a job pays nothing for metrics between scrapes.
//
// Metric names (all labelled with job, and per stage with stage and type):
//
//	openstage_stage_rows_in_total            rows received
//	openstage_stage_rows_out_total           rows sent on output pipes (reject pipes excepted)
//	openstage_stage_rows_rejected_total      rows sent on reject pipes
//	openstage_stage_batches_in_total         batches received
//	openstage_stage_batches_out_total        batches sent (reject pipes excepted)
//	openstage_stage_bytes_out_total          Arrow bytes of the rows sent
//	openstage_stage_errors_total             1 once the stage has failed
//	openstage_stage_duration_seconds         wall time of the stage so far
//	openstage_stage_running                  1 while the stage runs
//	openstage_stage_input_tokens_total       AI stages: tokens sent to the model
//	openstage_stage_output_tokens_total      AI stages: tokens received
//	openstage_stage_counter_total{counter}   any other counter of the stage (spilled_rows, unmatched, ...)
//	openstage_stage_source_read_bytes_total  origins that report progress: bytes of the source read
//	openstage_stage_source_size_bytes        ... and the source's size
//	openstage_pipe_rows_total{pipe,from,to}  rows on each pipe (and _batches_total, _bytes_total)
//	openstage_job_running                    1 while the job runs
//	openstage_job_start_time_seconds         Unix time the run started
//	openstage_job_duration_seconds           wall time of the run so far
//	openstage_job_success                    1 succeeded, 0 failed or cancelled (only once finished)
//	openstage_job_last_success_time_seconds  Unix time of the end of a successful run
//
// On a Pushgateway the job label is the grouping key of the push
// (/metrics/job/NAME), so pushed metrics carry no job label of their own;
// Prometheus adds it back when it scrapes the gateway (honor_labels: true,
// as the Pushgateway documentation advises). When Prometheus scrapes
// --metrics-addr directly, its own job label meets ours: set
// honor_labels: true to keep the job's name, or find it as exported_job.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/open-stage/openstage"
)

// Collector is a prometheus.Collector of one job's figures.
type Collector struct {
	job      string
	stats    func() *openstage.Summary
	jobLabel bool

	stage   map[string]*prometheus.Desc
	counter *prometheus.Desc
	pipe    map[string]*prometheus.Desc
	jobDesc map[string]*prometheus.Desc
}

var stageMetrics = []struct{ name, help string }{
	{"openstage_stage_rows_in_total", "Rows the stage received."},
	{"openstage_stage_rows_out_total", "Rows the stage sent on its output pipes, reject pipes excepted."},
	{"openstage_stage_rows_rejected_total", "Rows the stage sent on reject pipes."},
	{"openstage_stage_batches_in_total", "Batches the stage received."},
	{"openstage_stage_batches_out_total", "Batches the stage sent, reject pipes excepted."},
	{"openstage_stage_bytes_out_total", "Arrow data bytes (values, offsets, validity) of the rows the stage sent."},
	{"openstage_stage_errors_total", "1 once the stage has failed."},
	{"openstage_stage_duration_seconds", "Wall time of the stage so far."},
	{"openstage_stage_running", "1 while the stage runs."},
	{"openstage_stage_input_tokens_total", "Tokens an AI stage sent to its model."},
	{"openstage_stage_output_tokens_total", "Tokens an AI stage received from its model."},
	{"openstage_stage_source_read_bytes_total", "Bytes of its source an origin has read."},
	{"openstage_stage_source_size_bytes", "Size of an origin's source in bytes."},
}

var pipeMetrics = []struct{ name, help string }{
	{"openstage_pipe_rows_total", "Rows that travelled on the pipe."},
	{"openstage_pipe_batches_total", "Batches that travelled on the pipe."},
	{"openstage_pipe_bytes_total", "Arrow data bytes that travelled on the pipe."},
}

var jobMetrics = []struct{ name, help string }{
	{"openstage_job_running", "1 while the job runs."},
	{"openstage_job_start_time_seconds", "Unix time the run started."},
	{"openstage_job_duration_seconds", "Wall time of the run so far."},
	{"openstage_job_success", "1 if the run succeeded, 0 if it failed or was cancelled; absent while it runs."},
	{"openstage_job_last_success_time_seconds", "Unix time a successful run ended."},
}

// NewCollector returns a collector of the figures stats returns (a job's
// Stats method). With jobLabel every metric carries job=NAME; without it
// (for a Pushgateway, whose grouping key holds the job) none does.
func NewCollector(job string, stats func() *openstage.Summary, jobLabel bool) *Collector {
	c := &Collector{job: job, stats: stats, jobLabel: jobLabel, stage: map[string]*prometheus.Desc{}, pipe: map[string]*prometheus.Desc{}, jobDesc: map[string]*prometheus.Desc{}}
	var constLabels prometheus.Labels
	if jobLabel {
		constLabels = prometheus.Labels{"job": job}
	}
	for _, m := range stageMetrics {
		c.stage[m.name] = prometheus.NewDesc(m.name, m.help, []string{"stage", "type"}, constLabels)
	}
	c.counter = prometheus.NewDesc("openstage_stage_counter_total", "A named counter of the stage (spilled_rows, unmatched, ...).", []string{"stage", "type", "counter"}, constLabels)
	for _, m := range pipeMetrics {
		c.pipe[m.name] = prometheus.NewDesc(m.name, m.help, []string{"pipe", "from", "to"}, constLabels)
	}
	for _, m := range jobMetrics {
		c.jobDesc[m.name] = prometheus.NewDesc(m.name, m.help, nil, constLabels)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.stage {
		ch <- d
	}
	ch <- c.counter
	for _, d := range c.pipe {
		ch <- d
	}
	for _, d := range c.jobDesc {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it reads the job's figures now.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	if s == nil {
		ch <- prometheus.MustNewConstMetric(c.jobDesc["openstage_job_running"], prometheus.GaugeValue, 0)
		return
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, st := range s.Stages {
		l := []string{st.Stage, st.Type}
		counter(c.stage["openstage_stage_rows_in_total"], st.RowsIn, l...)
		counter(c.stage["openstage_stage_rows_out_total"], st.RowsOut, l...)
		counter(c.stage["openstage_stage_rows_rejected_total"], st.Rejected, l...)
		counter(c.stage["openstage_stage_batches_in_total"], st.BatchesIn, l...)
		counter(c.stage["openstage_stage_batches_out_total"], st.BatchesOut, l...)
		counter(c.stage["openstage_stage_bytes_out_total"], st.BytesOut, l...)
		errs := int64(0)
		if st.Err != nil {
			errs = 1
		}
		counter(c.stage["openstage_stage_errors_total"], errs, l...)
		gauge(c.stage["openstage_stage_duration_seconds"], st.Elapsed.Seconds(), l...)
		running := 0.0
		if st.Running() {
			running = 1
		}
		gauge(c.stage["openstage_stage_running"], running, l...)
		if in, out, ok := st.Tokens(); ok {
			counter(c.stage["openstage_stage_input_tokens_total"], in, l...)
			counter(c.stage["openstage_stage_output_tokens_total"], out, l...)
		}
		for k, v := range st.Counters {
			if k == openstage.CounterInputTokens || k == openstage.CounterOutputTokens {
				continue
			}
			counter(c.counter, v, st.Stage, st.Type, k)
		}
		if st.BytesRead > 0 || st.BytesTotal > 0 {
			counter(c.stage["openstage_stage_source_read_bytes_total"], st.BytesRead, l...)
			if st.BytesTotal > 0 {
				gauge(c.stage["openstage_stage_source_size_bytes"], float64(st.BytesTotal), l...)
			}
		}
	}
	for _, p := range s.Pipes {
		l := []string{p.Pipe, p.From, p.To}
		counter(c.pipe["openstage_pipe_rows_total"], p.Rows, l...)
		counter(c.pipe["openstage_pipe_batches_total"], p.Batches, l...)
		counter(c.pipe["openstage_pipe_bytes_total"], p.Bytes, l...)
	}
	running := 0.0
	if s.Running {
		running = 1
	}
	gauge(c.jobDesc["openstage_job_running"], running)
	gauge(c.jobDesc["openstage_job_start_time_seconds"], float64(s.Start.UnixNano())/1e9)
	gauge(c.jobDesc["openstage_job_duration_seconds"], s.Elapsed.Seconds())
	if !s.Running {
		ok := 0.0
		if s.Err == nil {
			ok = 1
			gauge(c.jobDesc["openstage_job_last_success_time_seconds"], float64(s.End.UnixNano())/1e9)
		}
		gauge(c.jobDesc["openstage_job_success"], ok)
	}
}

// Registry returns a registry holding only c (no Go runtime metrics: the
// process is the job's).
func (c *Collector) Registry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(c)
	return r
}

// Server serves /metrics of a registry.
type Server struct {
	Addr net.Addr // where it listens (the port chosen, for ":0")
	srv  *http.Server
	done chan error
}

// Serve starts serving /metrics on addr (host:port; port 0 picks one).
func Serve(addr string, g prometheus.Gatherer) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Err != nil {
			err = op.Err
		}
		return nil, fmt.Errorf("cannot listen on %s: %v", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "openstage serves its metrics at /metrics", http.StatusNotFound)
	})
	s := &Server{Addr: ln.Addr(), srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, done: make(chan error, 1)}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server, letting scrapes in progress finish (up to a
// second).
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if e := <-s.done; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}

// Push sends the values of c's job to the Pushgateway at url, replacing
// what was pushed before under the same job (HTTP PUT to
// url/metrics/job/JOB). c must have been made without the job label.
func Push(ctx context.Context, url string, c *Collector) error {
	if c.jobLabel {
		return errors.New("metrics.Push: the collector carries a job label; the Pushgateway's grouping key holds the job")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := push.New(url, c.job).Collector(c).PushContext(ctx); err != nil {
		return fmt.Errorf("pushing metrics to %s: %w", url, err)
	}
	return nil
}
