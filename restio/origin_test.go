package restio_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/restio"
)

// TestPagination reads 95 records 10 to a page through every pagination
// type and checks every record arrives once, in order, and the paging
// requests were the expected ones.
func TestPagination(t *testing.T) {
	cases := []struct {
		style    string
		pg       restio.Pagination
		requests int64 // 10 pages hold the records; an 11th, empty, ends page and offset paging
	}{
		{"page", pagination("page"), 11},
		{"offset", pagination("offset", func(p *restio.Pagination) { p.Limit = 10 }), 11},
		{"cursor", pagination("cursor", func(p *restio.Pagination) { p.CursorPath = "meta.next_cursor" }), 10},
		{"next_url", pagination("next_url", func(p *restio.Pagination) { p.NextPath = "links.next" }), 10},
		{"link_header", pagination("link_header"), 10},
	}
	for _, c := range cases {
		t.Run(c.style, func(t *testing.T) {
			a := newAPI(t, users(95), 10, c.style)
			_, res := read(t, origin(func(o *restio.APIRestOrigin) {
				o.URL = a.url()
				o.JSONPath = "data.items"
				o.Pagination = c.pg
			}))
			if got := column(t, res, "id"); !reflect.DeepEqual(got, ids(95)) {
				t.Fatalf("ids: got %v", got)
			}
			if got := a.requests.Load(); got != c.requests {
				t.Fatalf("the API got %d requests, want %d: %v", got, c.requests, a.queries)
			}
			st, _ := res.Summary.Stage("origin")
			if st.Counters["pages"] != c.requests || st.RowsOut != 95 {
				t.Fatalf("summary: %+v", st)
			}
		})
	}
}

func TestPaginationMaxPagesAndNone(t *testing.T) {
	a := newAPI(t, users(95), 10, "page")
	_, res := read(t, origin(func(o *restio.APIRestOrigin) {
		o.URL = a.url()
		o.JSONPath = "data.items"
		o.Pagination = pagination("page", func(p *restio.Pagination) { p.MaxPages = 3 })
	}))
	if got := column(t, res, "id"); !reflect.DeepEqual(got, ids(30)) {
		t.Fatalf("max_pages 3: ids %v", got)
	}
	if a.requests.Load() != 3 {
		t.Fatalf("max_pages 3 sent %d requests", a.requests.Load())
	}

	b := newAPI(t, users(7), 10, "none")
	_, res = read(t, origin(func(o *restio.APIRestOrigin) { o.URL = b.url() }))
	if got := column(t, res, "id"); !reflect.DeepEqual(got, ids(7)) || b.requests.Load() != 1 {
		t.Fatalf("no pagination: ids %v after %d requests", got, b.requests.Load())
	}
}

// TestPageParameters checks the query strings each paging type sends,
// with params and the first page number and size.
func TestPageParameters(t *testing.T) {
	a := newAPI(t, users(25), 10, "page")
	read(t, origin(func(o *restio.APIRestOrigin) {
		o.URL = a.url() + "?fixed=1"
		o.Params = map[string]string{"status": "active"}
		o.JSONPath = "data.items"
		o.Pagination = pagination("page", func(p *restio.Pagination) {
			start := 1
			p.Start = &start
			p.SizeParam, p.Size = "per_page", 10
		})
	}))
	want := []string{
		"fixed=1&page=1&per_page=10&status=active",
		"fixed=1&page=2&per_page=10&status=active",
		"fixed=1&page=3&per_page=10&status=active",
		"fixed=1&page=4&per_page=10&status=active",
	}
	if !reflect.DeepEqual(a.queries, want) {
		t.Fatalf("queries:\n got %q\nwant %q", a.queries, want)
	}
	b := newAPI(t, users(25), 10, "offset")
	read(t, origin(func(o *restio.APIRestOrigin) {
		o.URL = b.url()
		o.JSONPath = "data.items"
		o.Pagination = pagination("offset", func(p *restio.Pagination) { p.Limit = 10 })
	}))
	want = []string{"limit=10&offset=0", "limit=10&offset=10", "limit=10&offset=20", "limit=10&offset=30"}
	if !reflect.DeepEqual(b.queries, want) {
		t.Fatalf("offset queries: %q", b.queries)
	}
}

// TestConcurrencyBoundedAndOrdered fetches 40 pages 4 at a time from a
// server that answers later pages sooner; the server never sees more than
// 4 requests at once, and rows keep page order.
func TestConcurrencyBoundedAndOrdered(t *testing.T) {
	for _, total := range []bool{false, true} {
		t.Run(fmt.Sprintf("total=%v", total), func(t *testing.T) {
			a := newAPI(t, users(400), 10, "page")
			a.total = total
			// Odd pages are slow: they finish after the even page that follows.
			a.pause = func(r *http.Request) time.Duration {
				if n, _ := strconv.Atoi(r.URL.Query().Get("page")); n%2 == 1 {
					return 15 * time.Millisecond
				}
				return 0
			}
			_, res := read(t, origin(func(o *restio.APIRestOrigin) {
				o.URL = a.url()
				o.JSONPath = "data.items"
				o.Concurrency = 4
				o.BatchRows = 37
				o.Pagination = pagination("page", func(p *restio.Pagination) {
					if total {
						p.TotalPath = "meta.total"
					}
				})
			}))
			if got := column(t, res, "id"); !reflect.DeepEqual(got, ids(400)) {
				t.Fatalf("rows out of order: %v", got[:20])
			}
			if m := a.maxInflight.Load(); m > 4 || m < 2 {
				t.Fatalf("the server saw at most %d requests at once, want 2..4", m)
			}
			// With a total the page count is known: exactly 40 requests.
			// Without, requests beyond the empty 41st page may have started.
			if n := a.requests.Load(); total && n != 40 || !total && (n < 41 || n > 44) {
				t.Fatalf("%d requests", n)
			}
		})
	}
}

// TestFlattening checks the columns and values of nested
// records: objects joined with _, arrays as JSON text, absent fields null.
func TestFlattening(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"data":{"items":[
			{"id":1,"address":{"city":"Madrid","geo":{"lat":40.4}},"tags":["a","b"],"empty":{}},
			{"id":2,"address":{"city":"Lyon"},"extra":true,"tags":[]},
			{"id":3,"address":null,"tags":[{"k":1}]}
		]}}`))
	}))
	defer srv.Close()
	rows, res := read(t, origin(func(o *restio.APIRestOrigin) { o.URL = srv.URL; o.JSONPath = "data.items" }))
	got := openstage.ColumnNames(res.Outputs["out"].Schema)
	// pandas.json_normalize(sep="_") gives these columns in this order
	// (a record's own values before its nested objects).
	want := []string{"id", "tags", "address_city", "address_geo_lat", "extra", "address"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("columns %v, want %v", got, want)
	}
	wantRows := [][]any{
		{int64(1), `["a","b"]`, "Madrid", 40.4, nil, nil},
		{int64(2), `[]`, "Lyon", nil, true, nil},
		{int64(3), `[{"k":1}]`, nil, nil, nil, nil},
	}
	if !reflect.DeepEqual(rows, wantRows) {
		t.Fatalf("rows\n got %v\nwant %v", rows, wantRows)
	}
}
