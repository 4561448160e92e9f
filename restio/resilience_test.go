package restio_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/restio"
)

// scripted is a server that answers request n (from 1) with script(n, r).
type scripted struct {
	srv   *httptest.Server
	n     atomic.Int64
	mu    sync.Mutex
	times []time.Time
}

func newScripted(t *testing.T, script func(n int, w http.ResponseWriter, r *http.Request)) *scripted {
	s := &scripted{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.n.Add(1))
		s.mu.Lock()
		s.times = append(s.times, time.Now())
		s.mu.Unlock()
		script(n, w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

const okBody = `[{"id":1},{"id":2}]`

func TestRetryAfter429ThenSuccess(t *testing.T) {
	for _, form := range []string{"seconds", "http-date"} {
		t.Run(form, func(t *testing.T) {
			s := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if n == 1 {
					if form == "seconds" {
						w.Header().Set("Retry-After", "1")
					} else {
						w.Header().Set("Retry-After", time.Now().Add(2*time.Second).UTC().Format(http.TimeFormat))
					}
					http.Error(w, "slow down", http.StatusTooManyRequests)
					return
				}
				w.Write([]byte(okBody))
			})
			_, res := read(t, origin(func(o *restio.APIRestOrigin) { o.URL = s.srv.URL }))
			if got := column(t, res, "id"); !reflect.DeepEqual(got, ids(2)) {
				t.Fatalf("ids %v", got)
			}
			// retry_wait is 5ms: only Retry-After explains a wait of a second.
			// (An HTTP date has whole seconds: now+2s is at least 1s away.)
			if gap := s.times[1].Sub(s.times[0]); gap < 900*time.Millisecond {
				t.Fatalf("the retry came %v after the 429; Retry-After asked for about a second or more", gap)
			}
			if s.n.Load() != 2 {
				t.Fatalf("%d requests, want 2", s.n.Load())
			}
			st, _ := res.Summary.Stage("origin")
			if st.Counters["retries"] != 1 {
				t.Fatalf("counters %v", st.Counters)
			}
		})
	}
}

func TestRetryAfterLongerThanMaxWaitFails(t *testing.T) {
	s := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		http.Error(w, "come back in an hour", http.StatusTooManyRequests)
	})
	err := runErr(t, origin(func(o *restio.APIRestOrigin) { o.URL = s.srv.URL; o.RetryMaxWait = restio.Duration(time.Second) }))
	for _, want := range []string{"HTTP 429", "retry after 1h0m0s", "longer than retry_max_wait (1s)", "come back in an hour"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q lacks %q", err, want)
		}
	}
	if s.n.Load() != 1 {
		t.Fatalf("%d requests, want 1", s.n.Load())
	}
}

func TestServerErrorThatRecovers(t *testing.T) {
	s := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n <= 2 {
			http.Error(w, "oops", []int{http.StatusInternalServerError, http.StatusBadGateway}[n-1])
			return
		}
		w.Write([]byte(okBody))
	})
	_, res := read(t, origin(func(o *restio.APIRestOrigin) { o.URL = s.srv.URL }))
	if got := column(t, res, "id"); !reflect.DeepEqual(got, ids(2)) || s.n.Load() != 3 {
		t.Fatalf("ids %v after %d requests", got, s.n.Load())
	}
	st, _ := res.Summary.Stage("origin")
	if st.Counters["retries"] != 2 || st.Counters["requests"] != 3 {
		t.Fatalf("counters %v", st.Counters)
	}
}

// TestServerErrorThatPersists: max_retries 3 with retry_wait 40ms waits
// 20..40, 40..80 and 80..160 ms (equal jitter) before giving up.
func TestServerErrorThatPersists(t *testing.T) {
	s := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database down", http.StatusServiceUnavailable)
	})
	start := time.Now()
	err := runErr(t, origin(func(o *restio.APIRestOrigin) {
		o.URL = s.srv.URL
		o.MaxRetries = 3
		o.RetryWait = restio.Duration(40 * time.Millisecond)
	}))
	elapsed := time.Since(start)
	for _, want := range []string{"HTTP 503 Service Unavailable", "after 4 attempts (max_retries: 3)", "database down", "page 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q lacks %q", err, want)
		}
	}
	if s.n.Load() != 4 {
		t.Fatalf("%d requests, want 4", s.n.Load())
	}
	var waited time.Duration
	for i := 1; i < len(s.times); i++ {
		gap := s.times[i].Sub(s.times[i-1])
		lo := 20 * time.Millisecond << (i - 1)
		if gap < lo {
			t.Fatalf("wait %d was %v, below its backoff floor %v", i, gap, lo)
		}
		waited += gap
	}
	// The floor is 140ms; the ceiling 280ms, plus generous room for a
	// loaded machine: this detects a backoff that does not double or that
	// waits a default second, not slowness.
	if waited < 140*time.Millisecond || elapsed > 280*time.Millisecond+2*time.Second {
		t.Fatalf("waited %v between attempts, the job took %v", waited, elapsed)
	}
}

func TestNotImplementedAndClientErrorsFailAtOnce(t *testing.T) {
	long := strings.Repeat("x", 150) + strings.Repeat("y", 150)
	for _, code := range []int{http.StatusNotImplemented, http.StatusNotFound, http.StatusUnprocessableEntity} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			s := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(code)
				w.Write([]byte(long))
			})
			err := runErr(t, origin(func(o *restio.APIRestOrigin) { o.URL = s.srv.URL + "/v1/things?q=1" }))
			if s.n.Load() != 1 {
				t.Fatalf("%d requests, want 1", s.n.Load())
			}
			want := "GET " + s.srv.URL + "/v1/things?q=1: HTTP " + strconv.Itoa(code) + " " + http.StatusText(code) + ": " + long[:200] + "…"
			if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), long[:201]) {
				t.Fatalf("error\n %q\nwant it to hold\n %q", err, want)
			}
		})
	}
}

// Test401FailsAtOnceWithoutTheToken: the server even quotes the token in
// its answer; neither the job's error nor the StatusError holds it.
func Test401FailsAtOnceWithoutTheToken(t *testing.T) {
	const token = "tok-very-secret-4711"
	s := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"invalid token `+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")+`"}`, http.StatusUnauthorized)
	})
	// Declared columns: the request fails in the run, not in validation,
	// and the error chain reaches the stage's StatusError.
	err := runErr(t, origin(func(o *restio.APIRestOrigin) {
		o.URL = s.srv.URL
		o.Columns, o.ColumnTypes = []string{"id"}, map[string]string{"id": "int64"}
		o.Auth = restio.Auth{Type: "bearer", Token: openstage.NewSecret(token)}
	}))
	if s.n.Load() != 1 {
		t.Fatalf("%d requests, want 1", s.n.Load())
	}
	if !strings.Contains(err.Error(), "HTTP 401 Unauthorized") || !strings.Contains(err.Error(), "check auth") {
		t.Fatalf("error %q", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Fatalf("the error shows the token: %q", err)
	}
	var se *restio.StatusError
	if !errors.As(err, &se) || se.Status != 401 {
		t.Fatalf("no StatusError in %v", err)
	}
	// The stage's own message, before the engine masks the job's secrets.
	if strings.Contains(se.Error(), token) || !strings.Contains(se.Body, "invalid token ***") {
		t.Fatalf("the stage's message shows the token: %q", se.Error())
	}
}

// TestAPIKeyInQueryIsMasked: the URL in the message hides the key.
func TestAPIKeyInQueryIsMasked(t *testing.T) {
	const key = "k-0123456789"
	s := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("api_key") != key {
			t.Errorf("the key did not arrive: %q", r.URL.RawQuery)
		}
		http.Error(w, "forbidden", http.StatusForbidden)
	})
	err := runErr(t, origin(func(o *restio.APIRestOrigin) {
		o.URL = s.srv.URL + "/items?x=1"
		o.Columns, o.ColumnTypes = []string{"id"}, map[string]string{"id": "int64"}
		o.Auth = restio.Auth{Type: "api_key", Key: openstage.NewSecret(key), In: "query", Name: "api_key"}
	}))
	var se *restio.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("no StatusError in %v", err)
	}
	// The StatusError is the stage's own message, before the engine masks
	// secrets: it must not hold the key either.
	if strings.Contains(se.Error(), key) || !strings.Contains(se.URL, "api_key=***") {
		t.Fatalf("URL shown: %q", se.URL)
	}
}

func TestMalformedJSON(t *testing.T) {
	bad := `{"data":{"items":[{"id":1},{"id":2,]}}`
	s := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") == "2" {
			w.Write([]byte(bad))
			return
		}
		w.Write([]byte(`{"data":{"items":[{"id":1}]}}`))
	})
	err := runErr(t, origin(func(o *restio.APIRestOrigin) {
		o.URL = s.srv.URL + "/items"
		o.JSONPath = "data.items"
		o.Pagination = pagination("page")
	}))
	want := "malformed JSON in the response of page 2 (GET " + s.srv.URL + "/items?page=2) at byte offset " + strconv.Itoa(strings.Index(bad, "]")) + ": invalid character ']'"
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error\n %q\nwant\n %q", err, want)
	}
	// An HTML error page with status 200 is malformed JSON at byte 0.
	h := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>maintenance</html>")) })
	err = runErr(t, origin(func(o *restio.APIRestOrigin) { o.URL = h.srv.URL }))
	if !strings.Contains(err.Error(), "at byte offset 0: invalid character '<'") {
		t.Fatalf("error %q", err)
	}
}

func TestJSONPathMatchingNothing(t *testing.T) {
	s := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"data":{"items":[{"id":1}],"total":1},"meta":{}}`))
	})
	cases := map[string]string{
		"data.itmes": "json_path 'data.itmes' matches nothing in the response of page 1 (GET " + s.srv.URL + "): 'data' has keys: items, total (did you mean 'items'?)",
		"results":    "json_path 'results' matches nothing in the response of page 1 (GET " + s.srv.URL + "): the response's top-level keys are: data, meta",
		"data.total": "json_path 'data.total' leads to a number",
	}
	for path, want := range cases {
		err := runErr(t, origin(func(o *restio.APIRestOrigin) { o.URL = s.srv.URL; o.JSONPath = path }))
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("json_path %s: error\n %q\nwant\n %q", path, err, want)
		}
	}
}

func TestSlowServerBeyondTimeout(t *testing.T) {
	// The server would answer after a minute; each request must be given up
	// by the client (its context cancelled), not answered.
	var cut atomic.Int32
	s := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(time.Minute):
		case <-r.Context().Done():
			cut.Add(1)
			return
		}
		w.Write([]byte(okBody))
	})
	err := runErr(t, origin(func(o *restio.APIRestOrigin) {
		o.URL = s.srv.URL
		o.Timeout = restio.Duration(100 * time.Millisecond)
		o.MaxRetries = 1
	}))
	if !strings.Contains(err.Error(), "no complete response within timeout 100ms after 2 attempts (max_retries: 1)") {
		t.Fatalf("error %q", err)
	}
	s.srv.Close() // waits for the handlers
	if s.n.Load() != 2 || cut.Load() != 2 {
		t.Fatalf("%d requests, %d of them given up by the client; want 2 and 2", s.n.Load(), cut.Load())
	}
}

// TestSlowBodyIsATimeoutAndRetried: headers arrive at once, the body
// stalls; the timeout covers the body, and the retry succeeds.
func TestSlowBodyIsATimeoutAndRetried(t *testing.T) {
	s := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Write([]byte(`[{"id":1},`))
			w.(http.Flusher).Flush()
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
			return
		}
		w.Write([]byte(okBody))
	})
	_, res := read(t, origin(func(o *restio.APIRestOrigin) { o.URL = s.srv.URL; o.Timeout = restio.Duration(100 * time.Millisecond) }))
	if got := column(t, res, "id"); !reflect.DeepEqual(got, ids(2)) || s.n.Load() != 2 {
		t.Fatalf("ids %v after %d requests", got, s.n.Load())
	}
}

func TestConnectionErrors(t *testing.T) {
	// A connection closed without an answer, then a good one.
	s := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		w.Write([]byte(okBody))
	})
	_, res := read(t, origin(func(o *restio.APIRestOrigin) { o.URL = s.srv.URL }))
	if got := column(t, res, "id"); !reflect.DeepEqual(got, ids(2)) || s.n.Load() != 2 {
		t.Fatalf("ids %v after %d requests", got, s.n.Load())
	}
	// Nobody listening: refused, retried, then the job fails saying so.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	err = runErr(t, origin(func(o *restio.APIRestOrigin) { o.URL = "http://" + addr + "/x"; o.MaxRetries = 2 }))
	if !strings.Contains(err.Error(), "GET http://"+addr+"/x after 3 attempts (max_retries: 2)") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("error %q", err)
	}
}

func TestRateLimit(t *testing.T) {
	a := newAPI(t, users(6), 1, "page")
	var mu sync.Mutex
	var times []time.Time
	a.pause = func(*http.Request) time.Duration {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		return 0
	}
	read(t, origin(func(o *restio.APIRestOrigin) {
		o.URL = a.url()
		o.JSONPath = "data.items"
		o.Pagination = pagination("page")
		o.RateLimit = 20
		o.Concurrency = 4
	}))
	// 7 requests (6 pages and the empty one, and up to 3 more started
	// ahead) at 20 per second with a burst of 1 take at least 6/20 s, even
	// 4 at a time.
	if len(times) < 7 || len(times) > 10 {
		t.Fatalf("%d requests", len(times))
	}
	slices.SortFunc(times, time.Time.Compare)
	if span := times[6].Sub(times[0]); span < 290*time.Millisecond {
		t.Fatalf("7 requests took %v at rate_limit 20; want at least 300ms", span)
	}
}

// TestSchemaDrift: a field that is an integer on page 1 and a float on
// page 3 is float64; one absent from a page is null there; one that is a
// string on one page and a number on another is string, with a warning.
func TestSchemaDrift(t *testing.T) {
	pages := map[string]string{
		"1": `[{"id":1,"amount":10,"code":"A1"},{"id":2,"amount":20}]`,
		"2": `[{"id":3,"code":"B7","flag":true}]`,
		"3": `[{"id":4,"amount":2.5,"code":17,"flag":false}]`,
		"4": `[]`,
	}
	s := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) { w.Write([]byte(pages[r.URL.Query().Get("page")])) })
	var logs bytes.Buffer
	rows, res := read(t, origin(func(o *restio.APIRestOrigin) {
		o.URL = s.srv.URL
		o.Pagination = pagination("page")
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	}))
	sc := res.Outputs["out"].Schema
	wantTypes := []string{"id int64", "amount float64", "code string", "flag bool"}
	var gotTypes []string
	for _, f := range sc.Fields() {
		gotTypes = append(gotTypes, f.Name+" "+openstage.TypeName(f.Type))
	}
	if !reflect.DeepEqual(gotTypes, wantTypes) {
		t.Fatalf("schema %v, want %v", gotTypes, wantTypes)
	}
	want := [][]any{
		{int64(1), 10.0, "A1", nil},
		{int64(2), 20.0, nil, nil},
		{int64(3), nil, "B7", true},
		{int64(4), 2.5, "17", false},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("rows %v", rows)
	}
	log := logs.String()
	if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "column 'code' holds integer, string values") ||
		!strings.Contains(log, "integer first in page 3") || !strings.Contains(log, "string first in page 1") || strings.Contains(log, "amount") {
		t.Fatalf("warning: %s", log)
	}
	st, _ := res.Summary.Stage("origin")
	if st.Counters["type_conflicts"] != 1 {
		t.Fatalf("counters %v", st.Counters)
	}
}
