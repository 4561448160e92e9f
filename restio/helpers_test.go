package restio_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/restio"
)

// user returns record i of the test API: nested objects, an array, nulls
// and absent fields now and then.
func user(i int) map[string]any {
	r := map[string]any{
		"id":      i,
		"name":    fmt.Sprintf("user %d", i),
		"address": map[string]any{"city": []string{"Madrid", "Lyon", "Kyoto"}[i%3], "geo": map[string]any{"lat": float64(i) + 0.5}},
		"tags":    []string{"t" + strconv.Itoa(i%4), "x"},
		"active":  i%2 == 0,
	}
	if i%7 == 3 {
		r["nickname"] = nil
	}
	if i%5 == 1 {
		delete(r, "active")
	}
	return r
}

func users(n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = user(i + 1)
	}
	return out
}

// api is a paged JSON API over records, speaking one pagination style.
// It counts requests and the most it saw in flight at once.
type api struct {
	t       *testing.T
	recs    []map[string]any
	per     int
	style   string                            // page, offset, cursor, next_url, link_header, none
	pause   func(*http.Request) time.Duration // how long to wait before answering
	total   bool                              // page style: put meta.total in the body
	srv     *httptest.Server
	mu      sync.Mutex
	queries []string

	requests    atomic.Int64
	inflight    atomic.Int64
	maxInflight atomic.Int64
}

func newAPI(t *testing.T, recs []map[string]any, per int, style string) *api {
	a := &api{t: t, recs: recs, per: per, style: style}
	a.srv = httptest.NewServer(a)
	t.Cleanup(a.srv.Close)
	return a
}

func (a *api) url() string { return a.srv.URL + "/users" }

func (a *api) slice(from int) []map[string]any {
	from = min(max(from, 0), len(a.recs))
	return a.recs[from:min(from+a.per, len(a.recs))]
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.requests.Add(1)
	n := a.inflight.Add(1)
	defer a.inflight.Add(-1)
	for {
		m := a.maxInflight.Load()
		if n <= m || a.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	a.mu.Lock()
	a.queries = append(a.queries, r.URL.RawQuery)
	a.mu.Unlock()
	if a.pause != nil {
		time.Sleep(a.pause(r))
	}
	q := r.URL.Query()
	atoi := func(name string, def int) int {
		if q.Get(name) == "" {
			return def
		}
		v, err := strconv.Atoi(q.Get(name))
		if err != nil {
			http.Error(w, "bad "+name, http.StatusBadRequest)
			return -1
		}
		return v
	}
	w.Header().Set("Content-Type", "application/json")
	body := map[string]any{}
	switch a.style {
	case "none":
		writeJSON(w, a.recs)
		return
	case "page":
		p := atoi("page", 1)
		if p < 0 {
			return
		}
		body["data"] = map[string]any{"items": a.slice((p - 1) * a.per)}
		if a.total {
			body["meta"] = map[string]any{"total": len(a.recs)}
		}
	case "offset":
		off, lim := atoi("offset", 0), atoi("limit", 10)
		if off < 0 || lim < 0 {
			return
		}
		a.per = min(a.per, lim)
		body["data"] = map[string]any{"items": a.slice(off)}
	case "cursor":
		from := 0
		if c := q.Get("cursor"); c != "" {
			from, _ = strconv.Atoi(c[1:])
		}
		body["data"] = map[string]any{"items": a.slice(from)}
		if from+a.per < len(a.recs) {
			body["meta"] = map[string]any{"next_cursor": "c" + strconv.Itoa(from+a.per)}
		} else {
			body["meta"] = map[string]any{"next_cursor": nil}
		}
	case "next_url":
		from := atoi("from", 0)
		body["data"] = map[string]any{"items": a.slice(from)}
		if from+a.per < len(a.recs) {
			// relative on purpose: resolved against the page's URL
			body["links"] = map[string]any{"next": "users?from=" + strconv.Itoa(from+a.per)}
		}
	case "link_header":
		from := atoi("from", 0)
		if from+a.per < len(a.recs) {
			w.Header().Add("Link", fmt.Sprintf(`<%s/users?from=0>; rel="first", <%s/users?from=%d>; rel="next"`, a.srv.URL, a.srv.URL, from+a.per))
		}
		body["data"] = map[string]any{"items": a.slice(from)}
	}
	writeJSON(w, body)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	w.Write(b)
}

// origin returns a configured APIRestOrigin with the declared defaults.
func origin(configure func(o *restio.APIRestOrigin)) *restio.APIRestOrigin {
	return openstage.New("", func(o *restio.APIRestOrigin) {
		o.RetryWait = restio.Duration(5 * time.Millisecond)
		configure(o)
	}).Component().(*restio.APIRestOrigin)
}

// pagination returns a pagination block with the defaults a job file gives.
func pagination(typ string, configure ...func(*restio.Pagination)) restio.Pagination {
	p := restio.Pagination{Type: typ}
	if err := openstage.DecodeValue(&p, map[string]any{"type": typ}); err != nil {
		panic(err)
	}
	for _, f := range configure {
		f(&p)
	}
	return p
}

// read runs origin o and returns its rows and the result.
func read(t *testing.T, o any, opts ...openstagetest.Option) ([][]any, *openstagetest.Result) {
	t.Helper()
	res, err := openstagetest.RunOrigin(t, o, opts...)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res.Outputs["out"].Rows, res
}

// column returns the values of column name.
func column(t *testing.T, res *openstagetest.Result, name string) []any {
	t.Helper()
	out := res.Outputs["out"]
	idx := out.Schema.FieldIndices(name)
	if len(idx) == 0 {
		t.Fatalf("no column %s in %v", name, out.Schema)
	}
	vals := make([]any, len(out.Rows))
	for i, r := range out.Rows {
		vals[i] = r[idx[0]]
	}
	return vals
}

func ids(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = int64(i + 1)
	}
	return out
}

func runErr(t *testing.T, o any) error {
	t.Helper()
	_, err := openstagetest.RunOrigin(t, o)
	if err == nil {
		t.Fatal("the job succeeded; want an error")
	}
	return err
}
