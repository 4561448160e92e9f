package restio_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/restio"
)

// TestMatchesPandasJSONNormalize reads 230 irregular records through
// paging and compares the columns (names and order) and every value with
// pandas.json_normalize(records, sep="_") over the same records.
func TestMatchesPandasJSONNormalize(t *testing.T) {
	needPython(t, "pandas")
	recs := make([]map[string]any, 230)
	for i := range recs {
		r := map[string]any{"id": i, "name": fmt.Sprintf("n%d \"q\" ü", i)}
		switch i % 6 {
		case 0:
			r["address"] = map[string]any{"city": "Madrid", "zip": "28001", "geo": map[string]any{"lat": 40.4 + float64(i)/100, "lon": -3}}
		case 1:
			r["address"] = map[string]any{"city": "Lyon"}
			r["tags"] = []any{"a", 1, map[string]any{"k": true}}
		case 2:
			r["address"] = nil
			r["score"] = i
		case 3:
			r["score"] = float64(i) + 0.25
			r["meta"] = map[string]any{}
		case 4:
			r["tags"] = []any{}
			r["active"] = i%4 == 0
		case 5:
			r["meta"] = map[string]any{"source": map[string]any{"system": "crm", "v": 2}}
		}
		recs[i] = r
	}
	a := newAPI(t, recs, 25, "next_url")
	_, res := read(t, origin(func(o *restio.APIRestOrigin) {
		o.URL = a.url()
		o.JSONPath = "data.items"
		o.Pagination = pagination("next_url", func(p *restio.Pagination) { p.NextPath = "links.next" })
		o.BatchRows = 64
	}))
	input, _ := json.Marshal(recs)
	cmd := exec.Command(python, "-c", `
import json, sys, math
import pandas as pd
df = pd.json_normalize(json.load(sys.stdin), sep="_")
rows = [[None if (isinstance(v, float) and math.isnan(v)) else v for v in r] for r in df.astype(object).values.tolist()]
json.dump({"columns": list(df.columns), "rows": rows}, sys.stdout)
`)
	cmd.Stdin = strings.NewReader(string(input))
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("pandas: %v", err)
	}
	var want struct {
		Columns []string
		Rows    [][]any
	}
	if err := json.Unmarshal(outb, &want); err != nil {
		t.Fatal(err)
	}
	got := res.Outputs["out"]
	if names := openstage.ColumnNames(got.Schema); !reflect.DeepEqual(names, want.Columns) {
		t.Fatalf("columns\n ours   %v\n pandas %v", names, want.Columns)
	}
	if len(got.Rows) != len(want.Rows) {
		t.Fatalf("%d rows, pandas %d", len(got.Rows), len(want.Rows))
	}
	for i := range want.Rows {
		for j, w := range want.Rows[i] {
			if !sameValue(got.Rows[i][j], w) {
				t.Fatalf("row %d column %s: ours %#v, pandas %#v", i, want.Columns[j], got.Rows[i][j], w)
			}
		}
	}
}

// sameValue compares one of our values with pandas' (decoded from JSON):
// numbers numerically (pandas turns integer columns with gaps into
// floats), our JSON text of an array with pandas' list.
func sameValue(ours, theirs any) bool {
	switch o := ours.(type) {
	case nil:
		return theirs == nil
	case int64:
		f, ok := theirs.(float64)
		return ok && f == float64(o)
	case float64:
		f, ok := theirs.(float64)
		return ok && (f == o || math.Abs(f-o) < 1e-12)
	case string:
		if list, ok := theirs.([]any); ok {
			var v []any
			return json.Unmarshal([]byte(o), &v) == nil && reflect.DeepEqual(v, list)
		}
		return theirs == o
	}
	return reflect.DeepEqual(ours, theirs)
}

func TestNDJSON(t *testing.T) {
	lines := "{\"id\":1,\"a\":{\"b\":\"x\"}}\n\n{\"id\":2}\r\n{\"id\":3,\"a\":{\"b\":\"z\"}}"
	for _, c := range []struct {
		name, contentType, format string
	}{
		{"content_type", "application/x-ndjson", "auto"},
		{"sniffed", "text/plain", "auto"},
		{"declared", "application/json", "ndjson"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", c.contentType)
				w.Write([]byte(lines))
			})
			rows, _ := read(t, origin(func(o *restio.APIRestOrigin) { o.URL = s.srv.URL; o.Format = c.format }))
			want := [][]any{{int64(1), "x"}, {int64(2), nil}, {int64(3), "z"}}
			if !reflect.DeepEqual(rows, want) {
				t.Fatalf("rows %v", rows)
			}
		})
	}
	// A malformed line is reported at its offset in the body.
	bad := "{\"id\":1}\n{\"id\":2\n{\"id\":3}\n"
	s := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Write([]byte(bad))
	})
	err := runErr(t, origin(func(o *restio.APIRestOrigin) { o.URL = s.srv.URL }))
	if want := "at byte offset " + strconv.Itoa(len("{\"id\":1}\n{\"id\":2")); !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q lacks %q", err, want)
	}
}

func TestExplode(t *testing.T) {
	s := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`[
			{"order":1,"lines":[{"sku":"A","qty":2},{"sku":"B","qty":1}],"tags":["x"]},
			{"order":2,"lines":[]},
			{"order":3},
			{"order":4,"lines":["free text"]}
		]`))
	})
	rows, res := read(t, origin(func(o *restio.APIRestOrigin) { o.URL = s.srv.URL; o.Explode = "lines" }))
	if names := openstage.ColumnNames(res.Outputs["out"].Schema); !reflect.DeepEqual(names, []string{"order", "tags", "lines_sku", "lines_qty", "lines"}) {
		t.Fatalf("columns %v", names)
	}
	want := [][]any{
		{int64(1), `["x"]`, "A", int64(2), nil},
		{int64(1), `["x"]`, "B", int64(1), nil},
		{int64(2), nil, nil, nil, nil},
		{int64(3), nil, nil, nil, nil},
		{int64(4), nil, nil, nil, "free text"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("rows\n got %v\nwant %v", rows, want)
	}
}

func TestSingleObjectAndScalars(t *testing.T) {
	s := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"status":"ok","result":{"count":3,"owner":{"name":"ana"}},"ids":[4,5]}`))
	})
	rows, res := read(t, origin(func(o *restio.APIRestOrigin) { o.URL = s.srv.URL }))
	if names := openstage.ColumnNames(res.Outputs["out"].Schema); !reflect.DeepEqual(names, []string{"status", "ids", "result_count", "result_owner_name"}) {
		t.Fatalf("columns %v", names)
	}
	if !reflect.DeepEqual(rows, [][]any{{"ok", "[4,5]", int64(3), "ana"}}) {
		t.Fatalf("rows %v", rows)
	}
	rows, _ = read(t, origin(func(o *restio.APIRestOrigin) { o.URL = s.srv.URL; o.JSONPath = "ids" }))
	if !reflect.DeepEqual(rows, [][]any{{int64(4)}, {int64(5)}}) {
		t.Fatalf("scalar records: %v", rows)
	}
}

// TestDeclaredTypes: column_types converts text to numbers and dates, and
// a value that does not convert names page, record and column.
func TestDeclaredTypes(t *testing.T) {
	s := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`[{"id":"7","amount":3,"day":"2025-02-03","at":"2025-02-03T10:00:00Z","ok":"true"},{"id":8,"amount":1.5,"day":null}]`))
	})
	types := map[string]string{"id": "int64", "amount": "float64", "day": "date", "at": "timestamp", "ok": "bool"}
	rows, _ := read(t, origin(func(o *restio.APIRestOrigin) { o.URL = s.srv.URL; o.ColumnTypes = types }))
	want := [][]any{
		{int64(7), 3.0, time.Date(2025, 2, 3, 0, 0, 0, 0, time.UTC), time.Date(2025, 2, 3, 10, 0, 0, 0, time.UTC), true},
		{int64(8), 1.5, nil, nil, nil},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("rows %v", rows)
	}
	// Declared as a whole: nothing at Plan, converted while streaming.
	cols := []string{"id", "day", "missing"}
	types["missing"] = "string"
	rows, _ = read(t, origin(func(o *restio.APIRestOrigin) { o.URL = s.srv.URL; o.Columns = cols; o.ColumnTypes = types }))
	if !reflect.DeepEqual(rows, [][]any{{int64(7), time.Date(2025, 2, 3, 0, 0, 0, 0, time.UTC), nil}, {int64(8), nil, nil}}) {
		t.Fatalf("declared rows %v", rows)
	}
	err := runErr(t, origin(func(o *restio.APIRestOrigin) {
		o.URL = s.srv.URL
		o.Columns = []string{"amount"}
		o.ColumnTypes = map[string]string{"amount": "int64"}
	}))
	if !strings.Contains(err.Error(), "page 1 (GET "+s.srv.URL+"), record 2: column 'amount': 1.5 is not an integer") {
		t.Fatalf("error %q", err)
	}
	err = runErr(t, origin(func(o *restio.APIRestOrigin) { o.URL = s.srv.URL; o.ColumnTypes = map[string]string{"amuont": "int64"} }))
	if !strings.Contains(err.Error(), "column_types: column 'amuont' is in no record of the 1 page(s) read; fields found: id, amount, day, at, ok (did you mean 'amount'?)") {
		t.Fatalf("error %q", err)
	}
}

func TestPostBodyAndHeaders(t *testing.T) {
	s := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Tenant") != "acme" || json.NewDecoder(r.Body).Decode(&body) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		f := body["filter"].(map[string]any)
		fmt.Fprintf(w, `{"hits":[{"q":%q,"min":%v,"page":%q}]}`, f["status"], f["min"], r.URL.Query().Get("page"))
	})
	rows, _ := read(t, origin(func(o *restio.APIRestOrigin) {
		o.URL = s.srv.URL
		o.Method = "POST"
		o.Headers = map[string]string{"X-Tenant": "acme"}
		o.Body = map[string]any{"filter": map[string]any{"status": "open", "min": 5}}
		o.JSONPath = "hits"
		o.Pagination = pagination("page", func(p *restio.Pagination) { p.MaxPages = 2 })
	}))
	if !reflect.DeepEqual(rows, [][]any{{"open", int64(5), "1"}, {"open", int64(5), "2"}}) {
		t.Fatalf("rows %v", rows)
	}
}

func TestPagingErrors(t *testing.T) {
	t.Run("cursor_loop", func(t *testing.T) {
		s := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"items":[{"id":1}],"next":"same"}`))
		})
		err := runErr(t, origin(func(o *restio.APIRestOrigin) {
			o.URL = s.srv.URL
			o.JSONPath = "items"
			o.Pagination = pagination("cursor", func(p *restio.Pagination) { p.CursorPath = "next" })
		}))
		if !strings.Contains(err.Error(), "gave cursor 'same' again: the API is looping") || s.n.Load() != 2 {
			t.Fatalf("error %q after %d requests", err, s.n.Load())
		}
	})
	t.Run("capped_page_size", func(t *testing.T) {
		// The API returns at most 5 records however many are asked.
		a := newAPI(t, users(30), 5, "offset")
		err := runErr(t, origin(func(o *restio.APIRestOrigin) {
			o.URL = a.url()
			o.JSONPath = "data.items"
			o.Pagination = pagination("offset", func(p *restio.Pagination) { p.Limit = 10 })
		}))
		if !strings.Contains(err.Error(), "page 1 held fewer records than the page size 10, yet page 2") || !strings.Contains(err.Error(), "lower limit") {
			t.Fatalf("error %q", err)
		}
	})
	t.Run("parameters", func(t *testing.T) {
		cases := map[string]func(o *restio.APIRestOrigin){
			"type cursor needs cursor_path":  func(o *restio.APIRestOrigin) { o.Pagination = pagination("cursor") },
			"type next_url needs next_path":  func(o *restio.APIRestOrigin) { o.Pagination = pagination("next_url") },
			"concurrency 3 needs pagination": func(o *restio.APIRestOrigin) { o.Concurrency = 3 },
			"total_path and total_pages_path apply to types page and offset": func(o *restio.APIRestOrigin) {
				o.Pagination = pagination("link_header", func(p *restio.Pagination) { p.TotalPath = "total" })
			},
			"body is sent with method POST": func(o *restio.APIRestOrigin) { o.Body = map[string]any{"a": 1} },
			"url: 'localhost/x' is not an":  func(o *restio.APIRestOrigin) { o.URL = "localhost/x" },
			"unknown type \"integr\"":       func(o *restio.APIRestOrigin) { o.ColumnTypes = map[string]string{"a": "integr"} },
		}
		for want, f := range cases {
			err := runErr(t, origin(func(o *restio.APIRestOrigin) { o.URL = "http://127.0.0.1:1/"; f(o) }))
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	})
	t.Run("empty_without_schema", func(t *testing.T) {
		s := newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"items":[]}`)) })
		err := runErr(t, origin(func(o *restio.APIRestOrigin) { o.URL = s.srv.URL; o.JSONPath = "items" }))
		if !strings.Contains(err.Error(), "the API returned no records (1 page(s) read), so no columns can be inferred; declare columns") {
			t.Fatalf("error %q", err)
		}
	})
}
