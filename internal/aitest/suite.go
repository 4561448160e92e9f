package aitest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/ai"
	"github.com/open-stage/openstage/openstagetest"
)

// Provider is what the suite needs of one provider's stage type.
type Provider struct {
	Name string // anthropic, gemini, openai
	// NewServer starts the provider's local server.
	NewServer func(key string, m Model) *Server
	// NewStage returns a component of the provider's stage type with its
	// defaults applied, pointed at the server url with key, and its shared
	// parameters to set.
	NewStage func(url, key string) (any, *ai.Stage)
	// Overloaded is the status the provider answers when overloaded (529
	// for Anthropic, 503 for the others).
	Overloaded int
	// Temperature is the temperature requests carry by default (nil: none).
	Temperature *float64
}

const testKey = "sk-test-0123456789abcdef"

// Transactions is the suite's input: id, customer, amount, country.
var Transactions = openstage.NewSchema("id", openstage.Int64, "customer", openstage.String, "amount", openstage.Float64, "country", openstage.String)

// TransactionRows returns n transactions; every third is foreign (FR) and
// every fourth above 10,000.
func TransactionRows(n int) [][]any {
	rows := make([][]any, n)
	for i := range rows {
		country := "US"
		if i%3 == 2 {
			country = "FR"
		}
		amount := float64(100 + i*7)
		if i%4 == 3 {
			amount = 12000 + float64(i)
		}
		rows[i] = []any{int64(i + 1), fmt.Sprintf("c%02d", i%5), amount, country}
	}
	return rows
}

type run struct {
	res *openstagetest.Result
	err error
}

func (p Provider) run(t *testing.T, srv *Server, configure func(*ai.Stage), rows [][]any, outputs []string, opts ...openstagetest.Option) run {
	t.Helper()
	comp, st := p.NewStage(srv.URL, testKey)
	st.Prompt = "Add a category column: big when amount > 1000, small otherwise."
	st.RetryDelay = ai.Duration(time.Millisecond)
	if configure != nil {
		configure(st)
	}
	if outputs == nil {
		outputs = []string{"out"}
	}
	res, err := openstagetest.RunNodeWith(t, comp, []openstagetest.Input{{Pipe: "in", Schema: Transactions, Rows: rows, BatchRows: 7}}, outputs, opts...)
	return run{res, err}
}

func (r run) rows(pipe string) [][]any { return r.res.Outputs[pipe].Rows }

func (r run) counter(name string) int64 {
	st, _ := r.res.Summary.Stage("stage")
	return st.Counters[name]
}

// categorise is the normal transform: a category column by amount.
var categorise = Table(func(h []string, rows [][]string) ([]string, [][]string) {
	amount := index(h, "amount")
	out := make([][]string, len(rows))
	for i, r := range rows {
		a, _ := strconv.ParseFloat(r[amount], 64)
		cat := "small"
		if a > 1000 {
			cat = "big"
		}
		out[i] = append(append([]string{}, r...), cat)
	}
	return append(append([]string{}, h...), "category"), out
})

func withCategory(rows [][]any) [][]any {
	out := make([][]any, len(rows))
	for i, r := range rows {
		cat := "small"
		if r[2].(float64) > 1000 {
			cat = "big"
		}
		out[i] = append(append([]any{}, r...), cat)
	}
	return out
}

func addCategory(s *ai.Stage) {
	s.OutputColumns = ai.Columns{ai.Col("*", nil), ai.Col("category", openstage.String)}
}

func same(t *testing.T, what string, got, want [][]any) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %v\nwant %v", what, got, want)
	}
}

// RunSuite runs every case of the test list against the
// provider's stage type and its local server.
func RunSuite(t *testing.T, p Provider) {
	t.Run("NormalTransform", func(t *testing.T) {
		srv := p.NewServer(testKey, categorise)
		defer srv.Close()
		rows := TransactionRows(20)
		r := p.run(t, srv, func(s *ai.Stage) { addCategory(s); s.RequestRows = 8 }, rows, nil)
		if r.err != nil {
			t.Fatal(r.err)
		}
		same(t, "output", r.rows("out"), withCategory(rows))
		reqs := srv.Requests()
		if len(reqs) != 3 {
			t.Fatalf("%d requests for 20 rows at batch_rows 8, want 3", len(reqs))
		}
		var in, out int64
		for _, q := range reqs {
			if !strings.Contains(q.System, "transformation step of a data pipeline") {
				t.Errorf("system prompt %q", q.System)
			}
			if !strings.Contains(q.Prompt, "The header row must be exactly:\nid,customer,amount,country,category\n") || !strings.HasPrefix(q.Prompt, "Add a category column") {
				t.Errorf("user message lacks the prompt or the header:\n%s", q.Prompt)
			}
			if !reflect.DeepEqual(q.Temperature, p.Temperature) {
				t.Errorf("temperature %v, want %v", ptr(q.Temperature), ptr(p.Temperature))
			}
			if q.MaxTokens != 16000 {
				t.Errorf("max tokens %d, want the default 16000", q.MaxTokens)
			}
			h, rows, _ := TableOf(q.Prompt)
			in += int64(Tokens(q.System) + Tokens(q.Prompt) + 8)
			out += int64(Tokens(CSV(append(h, "category"), rows)) + 1)
		}
		// The server's usage, summed: output tokens of a CSV answer with
		// one more column (the +1 per row is that column's comma and text
		// estimated from the answers themselves below).
		if got := r.counter("input_tokens"); got != in {
			t.Errorf("input_tokens = %d, the server billed %d", got, in)
		}
		if got := r.counter("output_tokens"); got <= 0 || r.counter("requests") != 3 {
			t.Errorf("output_tokens = %d, requests = %d", got, r.counter("requests"))
		}
		if price, ok := ai.PriceOf(reqs[0].Model); ok {
			want := int64(float64(r.counter("input_tokens"))*price.Input + float64(r.counter("output_tokens"))*price.Output + 0.5)
			if got := r.counter("cost_micro_usd"); got < want-3 || got > want+3 {
				t.Errorf("cost_micro_usd = %d, want about %d", got, want)
			}
		} else {
			t.Errorf("the default model %s has no price", reqs[0].Model)
		}
		_ = out
	})

	t.Run("FilteringPrompt", func(t *testing.T) {
		srv := p.NewServer(testKey, Table(Fraud("US")))
		defer srv.Close()
		rows := TransactionRows(30)
		r := p.run(t, srv, func(s *ai.Stage) {
			s.Prompt = "Filter only high-risk transactions and add a fraud_score column (LOW, MEDIUM, HIGH)."
			s.OutputColumns = ai.Columns{ai.Col("*", nil), ai.Col("fraud_score", openstage.String)}
			s.RequestRows = 10
		}, rows, nil)
		if r.err != nil {
			t.Fatal(r.err)
		}
		var want [][]any
		for _, row := range rows {
			big, foreign := row[2].(float64) > 10000, row[3] != "US"
			switch {
			case big && foreign:
				want = append(want, append(append([]any{}, row...), "HIGH"))
			case big:
				want = append(want, append(append([]any{}, row...), "MEDIUM"))
			case foreign:
				want = append(want, append(append([]any{}, row...), "LOW"))
			}
		}
		if len(want) >= len(rows) || len(want) == 0 {
			t.Fatalf("bad test data: %d of %d rows kept", len(want), len(rows))
		}
		same(t, "filtered output", r.rows("out"), want)
	})

	t.Run("CodeFence", func(t *testing.T) {
		srv := p.NewServer(testKey, func(req Request) Reply {
			rep := categorise(req)
			rep.Text = "Here is the transformed table:\n\n```csv\n" + rep.Text + "```\n\nLet me know if you need anything else."
			return rep
		})
		defer srv.Close()
		rows := TransactionRows(5)
		r := p.run(t, srv, addCategory, rows, nil)
		if r.err != nil {
			t.Fatal(r.err)
		}
		same(t, "output", r.rows("out"), withCategory(rows))
	})

	t.Run("TruncationSplit", func(t *testing.T) {
		srv := p.NewServer(testKey, Echo)
		defer srv.Close()
		// max_tokens is set so that the answer for any 2 consecutive rows
		// fits and none for 4 does.
		rows := TransactionRows(8)
		limit := 0
		for i := 0; i+2 <= len(rows); i += 2 {
			limit = max(limit, Tokens(csvOf(rows[i:i+2])))
		}
		for i := 0; i+4 <= len(rows); i += 4 {
			if Tokens(csvOf(rows[i:i+4])) <= limit {
				t.Fatalf("bad test data: 4 rows fit in %d tokens", limit)
			}
		}
		r := p.run(t, srv, func(s *ai.Stage) { s.RequestRows = 8; s.MaxTokens = limit }, rows, nil)
		if r.err != nil {
			t.Fatal(r.err)
		}
		same(t, "output after splits", r.rows("out"), rows)
		var sizes []int
		for _, q := range srv.Requests() {
			_, rs, _ := TableOf(q.Prompt)
			sizes = append(sizes, len(rs))
		}
		if want := []int{8, 4, 2, 2, 4, 2, 2}; !reflect.DeepEqual(sizes, want) {
			t.Fatalf("request sizes %v, want %v (halving while truncated)", sizes, want)
		}
		if r.counter("splits") != 3 {
			t.Errorf("splits = %d, want 3", r.counter("splits"))
		}

		// A row whose answer alone does not fit: an error naming it, or
		// the row on the reject pipe.
		long := TransactionRows(4)
		long[2][1] = strings.Repeat("x", 400)
		r = p.run(t, srv, func(s *ai.Stage) { s.RequestRows = 4; s.MaxTokens = limit }, long, nil)
		if r.err == nil || !strings.Contains(r.err.Error(), fmt.Sprintf("row 3: the answer for this row alone does not fit in max_tokens (%d", limit)) {
			t.Fatalf("err = %v, want one naming row 3", r.err)
		}
		r = p.run(t, srv, func(s *ai.Stage) { s.RequestRows = 4; s.MaxTokens = 32; s.Reject = "bad" }, long, []string{"out", "bad"})
		if r.err != nil {
			t.Fatal(r.err)
		}
		same(t, "good rows", r.rows("out"), [][]any{long[0], long[1], long[3]})
		bad := r.rows("bad")
		if len(bad) != 1 || bad[0][0] != int64(3) || !strings.Contains(bad[0][4].(string), "row 3: the answer for this row alone") {
			t.Fatalf("rejected %v", bad)
		}
	})

	t.Run("RateLimitRetryAfter", func(t *testing.T) {
		var mu sync.Mutex
		n := 0
		srv := p.NewServer(testKey, func(req Request) Reply {
			mu.Lock()
			n++
			first := n == 1
			mu.Unlock()
			if first {
				return Reply{Status: 429, RetryAfter: "1", RetryDelay: "1s"}
			}
			return Echo(req)
		})
		defer srv.Close()
		rows := TransactionRows(3)
		start := time.Now()
		r := p.run(t, srv, func(s *ai.Stage) { s.RetryDelay = ai.Duration(time.Millisecond) }, rows, nil)
		if r.err != nil {
			t.Fatal(r.err)
		}
		same(t, "output", r.rows("out"), rows)
		if srv.Count() != 2 || r.counter("retries") != 1 || r.counter("requests") != 2 {
			t.Fatalf("server saw %d requests; retries=%d requests=%d", srv.Count(), r.counter("retries"), r.counter("requests"))
		}
		// retry_delay is 1ms: only the service's retry-after explains a
		// wait of a second.
		if waited := time.Since(start); waited < time.Second {
			t.Fatalf("retried after %v; the server asked for 1s", waited)
		}
	})

	t.Run("OverloadedUntilRetriesRunOut", func(t *testing.T) {
		srv := p.NewServer(testKey, func(Request) Reply { return Reply{Status: p.Overloaded} })
		defer srv.Close()
		rows := TransactionRows(5)
		r := p.run(t, srv, func(s *ai.Stage) { s.MaxRetries = 2 }, rows, nil)
		if r.err == nil {
			t.Fatal("the job succeeded while the service was overloaded")
		}
		msg := r.err.Error()
		if !strings.Contains(msg, "rows 1-5") || !strings.Contains(msg, "after 3 attempts") || !strings.Contains(msg, strconv.Itoa(p.Overloaded)) {
			t.Fatalf("err = %v", r.err)
		}
		if strings.Contains(msg, testKey) {
			t.Fatalf("the error shows the API key: %v", r.err)
		}
		if srv.Count() != 3 {
			t.Fatalf("%d requests, want 1 + 2 retries", srv.Count())
		}
		n := srv.Count()
		r = p.run(t, srv, func(s *ai.Stage) { s.MaxRetries = 2; s.Reject = "bad" }, rows, []string{"out", "bad"})
		if r.err != nil {
			t.Fatal(r.err)
		}
		bad := r.rows("bad")
		if len(r.rows("out")) != 0 || len(bad) != 5 || !strings.Contains(bad[0][4].(string), "after 3 attempts") {
			t.Fatalf("out %v, rejected %v", r.rows("out"), bad)
		}
		if st, _ := r.res.Summary.Stage("stage"); st.Rejected != 5 || srv.Count()-n != 3 {
			t.Fatalf("rejected %d, requests %d", st.Rejected, srv.Count()-n)
		}
	})

	t.Run("WrongColumns", func(t *testing.T) {
		srv := p.NewServer(testKey, categorise) // adds category, undeclared
		defer srv.Close()
		r := p.run(t, srv, nil, TransactionRows(3), nil)
		if r.err == nil || !strings.Contains(r.err.Error(), "its columns are id,customer,amount,country,category, expected id,customer,amount,country (not expected: category") || !strings.Contains(r.err.Error(), "output_columns") {
			t.Fatalf("err = %v", r.err)
		}
		// A column missing, and a value of the wrong type.
		srv.SetModel(Table(func(h []string, rows [][]string) ([]string, [][]string) {
			for _, r := range rows {
				r[2] = "a lot"
			}
			return h, rows
		}))
		r = p.run(t, srv, nil, TransactionRows(3), nil)
		if r.err == nil || !strings.Contains(r.err.Error(), `answer row 1, column 'amount': cannot read "a lot" as a number`) {
			t.Fatalf("err = %v", r.err)
		}
	})

	t.Run("EmptyInput", func(t *testing.T) {
		srv := p.NewServer(testKey, Echo)
		defer srv.Close()
		r := p.run(t, srv, nil, nil, nil)
		if r.err != nil {
			t.Fatal(r.err)
		}
		if srv.Count() != 0 || len(r.rows("out")) != 0 {
			t.Fatalf("%d requests, %d rows for an empty input", srv.Count(), len(r.rows("out")))
		}
	})

	t.Run("CacheHitOnRerun", func(t *testing.T) {
		srv := p.NewServer(testKey, categorise)
		defer srv.Close()
		dir := t.TempDir()
		rows := TransactionRows(12)
		conf := func(s *ai.Stage) { addCategory(s); s.RequestRows = 5; s.Cache = dir }
		r1 := p.run(t, srv, conf, rows, nil)
		if r1.err != nil {
			t.Fatal(r1.err)
		}
		if srv.Count() != 3 || r1.counter("cache_hits") != 0 {
			t.Fatalf("first run: %d requests, %d hits", srv.Count(), r1.counter("cache_hits"))
		}
		r2 := p.run(t, srv, conf, rows, nil)
		if r2.err != nil {
			t.Fatal(r2.err)
		}
		if srv.Count() != 3 || r2.counter("cache_hits") != 3 || r2.counter("input_tokens") != 0 {
			t.Fatalf("rerun: %d requests in all, %d hits, %d tokens", srv.Count(), r2.counter("cache_hits"), r2.counter("input_tokens"))
		}
		same(t, "rerun output", r2.rows("out"), withCategory(rows))
		// Another prompt is another key.
		r3 := p.run(t, srv, func(s *ai.Stage) { conf(s); s.Prompt += " Be exact." }, rows, nil)
		if r3.err != nil || srv.Count() != 6 {
			t.Fatalf("changed prompt: err %v, %d requests", r3.err, srv.Count())
		}
	})

	t.Run("ConcurrencyBoundedOrderKept", func(t *testing.T) {
		srv := p.NewServer(testKey, func(req Request) Reply {
			rep := Echo(req)
			// Later batches answer sooner: order comes from the stage.
			_, rows, _ := TableOf(req.Prompt)
			id, _ := strconv.Atoi(rows[0][0])
			rep.Delay = time.Duration(40-id) * time.Millisecond
			return rep
		})
		defer srv.Close()
		rows := TransactionRows(24)
		r := p.run(t, srv, func(s *ai.Stage) { s.RequestRows = 1; s.InFlight = 3 }, rows, nil, openstagetest.Workers(8))
		if r.err != nil {
			t.Fatal(r.err)
		}
		same(t, "output order", r.rows("out"), rows)
		if m := srv.MaxInFlight(); m > 3 || m < 2 {
			t.Fatalf("at most %d requests in flight, want 2 or 3 (concurrency 3)", m)
		}
	})

	t.Run("RowModeTemplate", func(t *testing.T) {
		srv := p.NewServer(testKey, func(req Request) Reply {
			// The model answers with what it was asked about.
			c := strings.TrimPrefix(req.Prompt, "Which continent is ")
			c = strings.TrimSuffix(c, " in? One word.")
			return Reply{Text: map[string]string{"US": "America", "FR": "Europe"}[c] + "\n", Delay: time.Duration(len(c)) * time.Millisecond}
		})
		defer srv.Close()
		rows := TransactionRows(9)
		r := p.run(t, srv, func(s *ai.Stage) {
			s.Mode = "row"
			s.Prompt = "Which continent is ${country} in? One word."
			s.OutputColumn = "continent"
		}, rows, nil)
		if r.err != nil {
			t.Fatal(r.err)
		}
		want := make([][]any, len(rows))
		for i, row := range rows {
			want[i] = append(append([]any{}, row...), map[string]string{"US": "America", "FR": "Europe"}[row[3].(string)])
		}
		same(t, "row mode output", r.rows("out"), want)
		if srv.Count() != 9 {
			t.Fatalf("%d requests for 9 rows", srv.Count())
		}
		if q := srv.Requests()[0]; !strings.Contains(q.System, "one record") || q.Schema != nil {
			t.Fatalf("row request: system %q, schema %v", q.System, q.Schema)
		}
	})

	t.Run("JSONMode", func(t *testing.T) {
		srv := p.NewServer(testKey, Table(func(h []string, rows [][]string) ([]string, [][]string) {
			out := make([][]string, len(rows))
			for i, r := range rows {
				a, _ := strconv.ParseFloat(r[2], 64)
				out[i] = []string{r[0], strconv.FormatFloat(a/100, 'f', -1, 64), strconv.FormatBool(a > 10000)}
			}
			return []string{"id", "risk", "flagged"}, out
		}))
		defer srv.Close()
		rows := TransactionRows(6)
		r := p.run(t, srv, func(s *ai.Stage) {
			s.ResponseFormat = "json"
			s.OutputColumns = ai.Columns{ai.Col("id", nil), ai.Col("risk", openstage.Float64), ai.Col("flagged", openstage.Bool)}
		}, rows, nil)
		if r.err != nil {
			t.Fatal(r.err)
		}
		var want [][]any
		for _, row := range rows {
			a := row[2].(float64)
			want = append(want, []any{row[0], a / 100, a > 10000})
		}
		same(t, "JSON table", r.rows("out"), want)
		q := srv.Requests()[0]
		types := schemaTypes(q.Schema)
		if !reflect.DeepEqual(types, map[string]string{"id": "integer", "risk": "number", "flagged": "boolean"}) {
			t.Fatalf("schema sent: %v", q.Schema)
		}
		if sc := r.res.Outputs["out"].Schema; sc.NumFields() != 3 || sc.Field(1).Type.ID() != arrow.FLOAT64 {
			t.Fatalf("output schema %v", sc)
		}

		// Row mode with a JSON answer into typed columns.
		srv.SetModel(func(req Request) Reply {
			if req.Schema == nil {
				return Reply{Status: 400, ErrorMessage: "no schema"}
			}
			c := strings.Fields(req.Prompt)[2]
			return Reply{Text: fmt.Sprintf(`{"continent": %q, "eu": %v}`, map[string]string{"US": "America", "FR": "Europe"}[c], c == "FR")}
		})
		r = p.run(t, srv, func(s *ai.Stage) {
			s.Mode = "row"
			s.Prompt = "Country code ${country} — which continent, and is it in the EU?"
			s.OutputColumns = ai.Columns{ai.Col("continent", openstage.String), ai.Col("eu", openstage.Bool)}
		}, rows[:4], nil)
		if r.err != nil {
			t.Fatal(r.err)
		}
		for i, row := range r.rows("out") {
			fr := rows[i][3] == "FR"
			if row[0] != rows[i][0] || row[5] != fr || (row[4] == "Europe") != fr {
				t.Fatalf("row %d: %v", i+1, row)
			}
		}
	})

	t.Run("KeyNeverShown", func(t *testing.T) {
		srv := p.NewServer("another-key-entirely", Echo)
		defer srv.Close()
		r := p.run(t, srv, nil, TransactionRows(2), nil)
		if r.err == nil || strings.Contains(r.err.Error(), testKey) || !strings.Contains(r.err.Error(), "API key was refused") {
			t.Fatalf("err = %v", r.err)
		}
		if srv.Count() != 0 && srv.Count() != 1 {
			t.Fatalf("%d requests for a refused key (no retries)", srv.Count())
		}
	})

	t.Run("DryRun", func(t *testing.T) {
		srv := p.NewServer(testKey, Echo)
		defer srv.Close()
		var buf bytes.Buffer
		r := p.run(t, srv, func(s *ai.Stage) { s.RequestRows = 4 }, TransactionRows(10), nil, openstagetest.DryRun(&buf))
		if r.err != nil {
			t.Fatal(r.err)
		}
		out := buf.String()
		if srv.Count() != 0 || len(r.rows("out")) != 0 {
			t.Fatalf("a dry run sent %d requests and %d rows", srv.Count(), len(r.rows("out")))
		}
		if !strings.Contains(out, "the first request, which is not sent") || !strings.Contains(out, "Input table (CSV, 4 rows):\nid,customer,amount,country\n1,c00,100,US\n") ||
			!strings.Contains(out, "10 rows would make 3 requests") || strings.Contains(out, testKey) {
			t.Fatalf("dry run wrote:\n%s", out)
		}
		if r.counter("dry_run_requests") != 3 || r.counter("est_input_tokens") <= 0 {
			t.Fatalf("counters %v", r.counter("dry_run_requests"))
		}
	})
}

// csvOf is the CSV the stage sends for rows of Transactions.
func csvOf(rows [][]any) string {
	recs := make([][]string, len(rows))
	for i, r := range rows {
		recs[i] = []string{strconv.FormatInt(r[0].(int64), 10), r[1].(string), strconv.FormatFloat(r[2].(float64), 'f', -1, 64), r[3].(string)}
	}
	return CSV([]string{"id", "customer", "amount", "country"}, recs)
}

func ptr(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

// Live runs the design document's Example 3 prompt on real data against
// the real service when the environment variable keyEnv holds a key (the
// opt-in live test of each provider).
func Live(t *testing.T, keyEnv string, newStage func(key string) (any, *ai.Stage)) {
	key := os.Getenv(keyEnv)
	if key == "" {
		t.Skipf("%s is not set: the live test against the real service does not run", keyEnv)
	}
	comp, st := newStage(key)
	st.Prompt = "Filter only high-risk transactions and add a fraud_score column.\nHigh-risk criteria:\n- Amount > $10,000\n- Foreign country transactions (the home country is US)\n- Multiple transactions in short time\nAdd fraud_score: LOW, MEDIUM, HIGH"
	st.OutputColumns = ai.Columns{ai.Col("*", nil), ai.Col("fraud_score", openstage.String)}
	st.MaxTokens = 4000
	rows := TransactionRows(12)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := openstagetest.RunNodeWith(t, comp, []openstagetest.Input{{Pipe: "in", Schema: Transactions, Rows: rows}}, []string{"out"}, openstagetest.Context(ctx))
	if err != nil {
		t.Fatal(err)
	}
	out := res.Outputs["out"].Rows
	if len(out) == 0 || len(out) >= len(rows) {
		t.Fatalf("the model kept %d of %d rows; a filter keeps some", len(out), len(rows))
	}
	for _, r := range out {
		if s, _ := r[4].(string); s != "LOW" && s != "MEDIUM" && s != "HIGH" {
			t.Errorf("fraud_score %v in %v", r[4], r)
		}
	}
	st2, _ := res.Summary.Stage("stage")
	t.Logf("kept %d of %d rows; counters %v", len(out), len(rows), st2.Counters)
}
