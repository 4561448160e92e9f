package restio_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/restio"
)

// benchPages is 1,000 pages of 1,000 records each, rendered once.
func benchPages() [][]byte {
	pages := make([][]byte, 1000)
	var b strings.Builder
	for p := range pages {
		b.Reset()
		b.WriteString(`{"data":[`)
		for r := range 1000 {
			id := p*1000 + r + 1
			if r > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":%d,"name":"user %d","email":"u%d@example.com","address":{"city":"%s","zip":"%05d"},"score":%d.%d,"active":%t,"tags":["a","b%d"]}`,
				id, id, id, []string{"Madrid", "Lyon", "Kyoto"}[id%3], id%100000, id%100, id%10, id%2 == 0, id%5)
		}
		fmt.Fprintf(&b, `],"meta":{"page":%d,"total":1000000}}`, p+1)
		pages[p] = []byte(b.String())
	}
	return pages
}

// countingSink counts rows and drops them.
type countingSink struct{ rows atomic.Int64 }

func (s *countingSink) Plan(context.Context, *openstage.Plan) error { return nil }
func (s *countingSink) Sink(ctx context.Context, in *openstage.Inputs) error {
	return in.ForEach(ctx, func(dp openstage.DataPackage) error {
		s.rows.Add(dp.Batch.NumRows())
		return nil
	})
}

// BenchmarkRESTOrigin1M downloads 1,000,000 records in 1,000 pages of a
// local server, with the schema inferred (every page fetched at
// validation, then read back) and declared (pages streamed through the
// run), at concurrency 1 and 4, and, as the floor of the plain approach,
// with curl in a shell loop writing each page to /dev/null; once as fast
// as the server answers, once with 20 ms added to each answer (a remote
// API's round trip, where concurrency pays). Run it once, under the
// benchmark lock:
//
//	flock /work/.bench.lock go test -run '^$' -bench RESTOrigin1M -benchtime 1x ./restio
func BenchmarkRESTOrigin1M(b *testing.B) {
	pages := benchPages()
	var bytes int64
	for _, p := range pages {
		bytes += int64(len(p))
	}
	var latency atomic.Int64 // added to every answer, as a remote API's round trip
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(latency.Load()))
		n, err := strconv.Atoi(r.URL.Query().Get("page"))
		if err != nil || n < 1 || n > len(pages) {
			w.Write([]byte(`{"data":[],"meta":{"total":1000000}}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(pages[n-1])
	}))
	defer srv.Close()
	b.Logf("1,000 pages, %.1f MB of JSON", float64(bytes)/1e6)
	// CPU seconds of this process (server and client) and of its children
	// (curl, sh): less sensitive than wall time to a loaded machine.
	cpu := func() float64 {
		var self, kids syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &self)
		syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
		t := func(r syscall.Rusage) float64 {
			return float64(r.Utime.Sec+r.Stime.Sec) + float64(r.Utime.Usec+r.Stime.Usec)/1e6
		}
		return t(self) + t(kids)
	}
	var cpu0 float64
	report := func(b *testing.B, start time.Time) {
		secs := time.Since(start).Seconds() / float64(b.N)
		b.ReportMetric(1e6/secs, "rows/s")
		b.ReportMetric(secs, "s/download")
		b.ReportMetric((cpu()-cpu0)/float64(b.N), "cpu-s/download")
	}
	for _, lat := range []time.Duration{0, 20 * time.Millisecond} {
		latency.Store(int64(lat))
		b.Run(fmt.Sprintf("latency=%v", lat), func(b *testing.B) { benchDownloads(b, srv.URL, report, func() { cpu0 = cpu() }) })
	}
}

func benchDownloads(b *testing.B, url string, report func(*testing.B, time.Time), mark func()) {
	b.Run("curl_loop", func(b *testing.B) {
		if _, err := exec.LookPath("curl"); err != nil {
			b.Skip("no curl")
		}
		script := fmt.Sprintf(`for i in $(seq 1 1000); do curl -s -o /dev/null "%s/users?page=$i" || exit 1; done`, url)
		mark()
		start := time.Now()
		for b.Loop() {
			if out, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
				b.Fatalf("curl: %v %s", err, out)
			}
		}
		report(b, start)
	})
	for _, mode := range []string{"inferred", "declared"} {
		for _, conc := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/concurrency=%d", mode, conc), func(b *testing.B) {
				mark()
				start := time.Now()
				for b.Loop() {
					o := openstage.New("users", func(o *restio.APIRestOrigin) {
						o.URL = url + "/users"
						o.JSONPath = "data"
						o.Concurrency = conc
						o.Pagination = restio.Pagination{Type: "page", TotalPath: "meta.total"}
						if mode == "declared" {
							o.Columns = []string{"id", "name", "email", "score", "active", "tags", "address_city", "address_zip"}
							o.ColumnTypes = map[string]string{"id": "int64", "name": "string", "email": "string", "score": "float64", "active": "bool", "tags": "string", "address_city": "string", "address_zip": "string"}
						}
					})
					sink := &countingSink{}
					o.AddOutputPipe(openstage.NewPipe("rows")).SetDestination(openstage.NewStage("count", sink))
					if err := openstage.NewJob("bench", o).Run(context.Background()); err != nil {
						b.Fatal(err)
					}
					if sink.rows.Load() != 1e6 {
						b.Fatalf("%d rows", sink.rows.Load())
					}
				}
				report(b, start)
			})
		}
	}
}
