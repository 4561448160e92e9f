package restio_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/restio"
)

// receiver is an API that accepts rows: a JSON object, a JSON array of
// objects or NDJSON. fail, when set, decides the status of each request
// (0 means 201) from its rows and attempt number.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	rows []map[string]any // accepted, in arrival order
	reqs []recvRequest
	fail func(rows []map[string]any, attempt int) (status int, body string)
	seen map[string]int // body → attempts
}

type recvRequest struct {
	method, contentType string
	rows                int
	array               bool
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{seen: map[string]int{}}
	rc.srv = httptest.NewServer(rc)
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var rows []map[string]any
	array := false
	switch {
	case r.Header.Get("Content-Type") == "application/x-ndjson":
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				http.Error(w, "bad line", http.StatusBadRequest)
				return
			}
			rows = append(rows, m)
		}
	case bytes.HasPrefix(body, []byte("[")):
		array = true
		if err := json.Unmarshal(body, &rows); err != nil {
			http.Error(w, "bad array", http.StatusBadRequest)
			return
		}
	default:
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(w, "bad object: "+err.Error(), http.StatusBadRequest)
			return
		}
		rows = []map[string]any{m}
	}
	rc.mu.Lock()
	rc.seen[string(body)]++
	attempt := rc.seen[string(body)]
	rc.reqs = append(rc.reqs, recvRequest{r.Method, r.Header.Get("Content-Type"), len(rows), array})
	fail := rc.fail
	rc.mu.Unlock()
	if fail != nil {
		if status, msg := fail(rows, attempt); status != 0 {
			http.Error(w, msg, status)
			return
		}
	}
	rc.mu.Lock()
	rc.rows = append(rc.rows, rows...)
	rc.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	w.Write([]byte(`{"ok":true}`))
}

func (rc *receiver) reset() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.rows, rc.reqs, rc.seen = nil, nil, map[string]int{}
}

// typed turns received rows back into values of schema's types.
func (rc *receiver) typed(t *testing.T, schema *arrow.Schema) [][]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([][]any, len(rc.rows))
	for i, m := range rc.rows {
		row := make([]any, schema.NumFields())
		for j, f := range schema.Fields() {
			v, ok := m[f.Name]
			if !ok {
				t.Fatalf("row %d lacks key %s: %v", i, f.Name, m)
			}
			if v == nil {
				continue
			}
			switch f.Type.ID() {
			case arrow.INT64:
				row[j] = int64(v.(float64))
			case arrow.DATE32, arrow.TIMESTAMP:
				tm, err := openstage.ParseTime(v.(string))
				if err != nil {
					t.Fatal(err)
				}
				row[j] = tm
			default:
				row[j] = v
			}
		}
		out[i] = row
	}
	return out
}

func destination(url string, configure func(d *restio.RESTDestination)) *restio.RESTDestination {
	return openstage.New("", func(d *restio.RESTDestination) {
		d.URL = url
		d.RetryWait = restio.Duration(5 * time.Millisecond)
		if configure != nil {
			configure(d)
		}
	}).Component().(*restio.RESTDestination)
}

// TestRESTDestinationConformance runs the destination suite one row per
// request, in batches of 4 as a JSON array, and as NDJSON 3 requests at a
// time. New clears what the server received, so Read shows one run.
func TestRESTDestinationConformance(t *testing.T) {
	cases := []struct {
		name      string
		configure func(d *restio.RESTDestination)
		unordered bool
	}{
		{"row", nil, false},
		{"array", func(d *restio.RESTDestination) { d.RowsPerRequest = 4 }, false},
		{"ndjson_concurrent", func(d *restio.RESTDestination) { d.RowsPerRequest = 3; d.Format = "ndjson"; d.InFlight = 3 }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rc := newReceiver(t)
			openstagetest.TestDestination(t, openstagetest.DestinationCase{
				New: func(*testing.T) any {
					rc.reset()
					return destination(rc.srv.URL, c.configure)
				},
				Read: func(t *testing.T) ([][]any, bool) {
					return rc.typed(t, openstagetest.DefaultSchema), true
				},
				Unordered: c.unordered,
				NotAtomic: "an HTTP API cannot take back the requests it received: rows sent before the failure stay sent (the run summary counts them)",
			})
		})
	}
}

var smallSchema = openstage.NewSchema("id", openstage.Int64, "name", openstage.String, "x", openstage.Float64)

func smallRows(n int) [][]any {
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{int64(i + 1), fmt.Sprintf("n%d", i+1), float64(i) / 2}
	}
	return rows
}

func TestDestinationBatching(t *testing.T) {
	cases := []struct {
		name      string
		configure func(d *restio.RESTDestination)
		want      []recvRequest
	}{
		{"row", nil, slices.Repeat([]recvRequest{{"POST", "application/json", 1, false}}, 25)},
		{"array", func(d *restio.RESTDestination) { d.RowsPerRequest = 10; d.Method = "PUT" }, []recvRequest{
			{"PUT", "application/json", 10, true}, {"PUT", "application/json", 10, true}, {"PUT", "application/json", 5, true}}},
		{"ndjson", func(d *restio.RESTDestination) { d.RowsPerRequest = 12; d.Format = "ndjson" }, []recvRequest{
			{"POST", "application/x-ndjson", 12, false}, {"POST", "application/x-ndjson", 12, false}, {"POST", "application/x-ndjson", 1, false}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rc := newReceiver(t)
			// Input batches of 7 rows: the engine cuts them into requests.
			res, err := openstagetest.RunDestination(t, destination(rc.srv.URL, c.configure), []openstagetest.Input{{Pipe: "in", Schema: smallSchema, Rows: smallRows(25), BatchRows: 7}})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rc.reqs, c.want) {
				t.Fatalf("requests\n got %v\nwant %v", rc.reqs, c.want)
			}
			if got := rc.typed(t, smallSchema); !reflect.DeepEqual(got, smallRows(25)) {
				t.Fatalf("rows %v", got)
			}
			st, _ := res.Summary.Stage("stage")
			if st.Counters["sent"] != 25 || st.Counters["failed"] != 0 || st.Counters["requests"] != int64(len(c.want)) {
				t.Fatalf("counters %v", st.Counters)
			}
		})
	}
}

func TestDestinationRetries(t *testing.T) {
	rc := newReceiver(t)
	rc.fail = func(rows []map[string]any, attempt int) (int, string) {
		if attempt == 1 {
			return http.StatusServiceUnavailable, "busy"
		}
		return 0, ""
	}
	res, err := openstagetest.RunDestination(t, destination(rc.srv.URL, func(d *restio.RESTDestination) { d.RowsPerRequest = 5 }),
		[]openstagetest.Input{{Pipe: "in", Schema: smallSchema, Rows: smallRows(25), BatchRows: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if got := rc.typed(t, smallSchema); !reflect.DeepEqual(got, smallRows(25)) {
		t.Fatalf("rows %v", got)
	}
	st, _ := res.Summary.Stage("stage")
	if st.Counters["sent"] != 25 || st.Counters["retries"] != 5 || st.Counters["requests"] != 10 {
		t.Fatalf("counters %v", st.Counters)
	}
}

// TestDestinationRejects: requests holding an id divisible by 7 are
// refused with 422; their rows go to the reject pipe with the status, the
// response and the error, the others are sent, and the job succeeds.
func TestDestinationRejects(t *testing.T) {
	refuse := func(rows []map[string]any, attempt int) (int, string) {
		for _, r := range rows {
			if id := int(r["id"].(float64)); id%7 == 0 {
				return http.StatusUnprocessableEntity, fmt.Sprintf(`{"error":"id %d is taken"}`, id)
			}
		}
		return 0, ""
	}
	for _, per := range []int{1, 5} {
		t.Run(fmt.Sprintf("batch_rows=%d", per), func(t *testing.T) {
			rc := newReceiver(t)
			rc.fail = refuse
			d := destination(rc.srv.URL, func(d *restio.RESTDestination) { d.RowsPerRequest = per; d.Reject = "rejects" })
			res, err := openstagetest.RunNodeWith(t, d, []openstagetest.Input{{Pipe: "in", Schema: smallSchema, Rows: smallRows(25), BatchRows: 8}}, []string{"rejects"})
			if err != nil {
				t.Fatal(err)
			}
			var wantRejected []int64
			for id := int64(1); id <= 25; id++ {
				if per == 1 && id%7 == 0 || per == 5 && ((id-1)/5 == 1 || (id-1)/5 == 2 || (id-1)/5 == 4) {
					wantRejected = append(wantRejected, id)
				}
			}
			rej := res.Outputs["rejects"]
			if names := openstage.ColumnNames(rej.Schema); !reflect.DeepEqual(names, []string{"id", "name", "x", "status", "response", "error"}) {
				t.Fatalf("reject columns %v", names)
			}
			var gotRejected []int64
			for _, r := range rej.Rows {
				gotRejected = append(gotRejected, r[0].(int64))
				if r[3] != int64(422) || !strings.Contains(r[4].(string), "is taken") || !strings.Contains(r[5].(string), "HTTP 422 Unprocessable Entity") {
					t.Fatalf("reject row %v", r)
				}
			}
			if !reflect.DeepEqual(gotRejected, wantRejected) {
				t.Fatalf("rejected ids %v, want %v", gotRejected, wantRejected)
			}
			if got := len(rc.typed(t, smallSchema)); got != 25-len(wantRejected) {
				t.Fatalf("the API kept %d rows", got)
			}
			st, _ := res.Summary.Stage("stage")
			if st.Counters["sent"] != int64(25-len(wantRejected)) || st.Counters["failed"] != int64(len(wantRejected)) || st.Rejected != int64(len(wantRejected)) {
				t.Fatalf("summary %+v", st)
			}
		})
	}
}

func TestDestinationFailureWithoutReject(t *testing.T) {
	rc := newReceiver(t)
	rc.fail = func(rows []map[string]any, attempt int) (int, string) {
		if rows[len(rows)-1]["id"].(float64) == 12 {
			return http.StatusBadRequest, `{"error":"name too short"}`
		}
		return 0, ""
	}
	_, err := openstagetest.RunDestination(t, destination(rc.srv.URL, func(d *restio.RESTDestination) { d.RowsPerRequest = 2 }),
		[]openstagetest.Input{{Pipe: "in", Schema: smallSchema, Rows: smallRows(25), BatchRows: 10}})
	if err == nil {
		t.Fatal("the job succeeded")
	}
	for _, want := range []string{"RESTDestination 'stage': rows 11-12: POST " + rc.srv.URL + ": HTTP 400 Bad Request: {\"error\":\"name too short\"}", "with a reject pipe"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q lacks %q", err, want)
		}
	}
	// Sent before the failure, still there: not atomic. Nothing after it
	// (one request at a time).
	if got := len(rc.typed(t, smallSchema)); got != 10 {
		t.Fatalf("the API kept %d rows, want the 10 sent before the failure", got)
	}
}

func TestDestinationConnectionFailureRejected(t *testing.T) {
	rc := newReceiver(t)
	url := rc.srv.URL
	rc.srv.Close()
	d := destination(url, func(d *restio.RESTDestination) { d.Reject = "rejects"; d.MaxRetries = 1; d.RowsPerRequest = 3 })
	res, err := openstagetest.RunNodeWith(t, d, []openstagetest.Input{{Pipe: "in", Schema: smallSchema, Rows: smallRows(4)}}, []string{"rejects"})
	if err != nil {
		t.Fatal(err)
	}
	rows := res.Outputs["rejects"].Rows
	if len(rows) != 4 || rows[0][3] != nil || rows[0][4] != nil || !strings.Contains(rows[0][5].(string), "rows 1-3: POST "+url+" after 2 attempts (max_retries: 1)") {
		t.Fatalf("rejects %v", rows)
	}
}

func TestDestinationParameters(t *testing.T) {
	rc := newReceiver(t)
	in := []openstagetest.Input{{Pipe: "in", Schema: smallSchema, Rows: smallRows(2)}}
	_, err := openstagetest.RunNodeWith(t, destination(rc.srv.URL, nil), in, []string{"bad"})
	if err == nil || !strings.Contains(err.Error(), "output pipe 'bad' is connected but reject is not set") {
		t.Fatalf("error %v", err)
	}
	_, err = openstagetest.RunDestination(t, destination(rc.srv.URL, func(d *restio.RESTDestination) { d.Reject = "rej" }), in)
	if err == nil || !strings.Contains(err.Error(), "reject pipe 'rej' is not connected") {
		t.Fatalf("error %v", err)
	}
	withError := openstage.NewSchema("id", openstage.Int64, "error", openstage.String)
	_, err = openstagetest.RunNodeWith(t, destination(rc.srv.URL, func(d *restio.RESTDestination) { d.Reject = "rej" }),
		[]openstagetest.Input{{Pipe: "in", Schema: withError}}, []string{"rej"})
	if err == nil || !strings.Contains(err.Error(), "the input has a column 'error'") {
		t.Fatalf("error %v", err)
	}
}
