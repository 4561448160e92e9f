package ai

import (
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
)

var parseSchema = openstage.NewSchema("id", openstage.Int64, "name", openstage.String, "score", openstage.Float64, "ok", openstage.Bool, "day", openstage.Date)

// TestParseCSVTable: the tolerant reading of a table answer, and what it
// refuses with a message that says where.
func TestParseCSVTable(t *testing.T) {
	want := [][]any{{int64(1), "Ann, Jr.", 2.5, true, time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)}, {int64(2), nil, nil, false, nil}}
	good := "id,name,score,ok,day\n1,\"Ann, Jr.\",2.5,true,2025-03-01\n2,,,false,\n"
	ok := map[string]string{
		"plain":            good,
		"crlf":             strings.ReplaceAll(good, "\n", "\r\n"),
		"fence":            "```csv\n" + good + "```",
		"fence and prose":  "Sure! Here is the table:\n\n```\n" + good + "```\nAnything else?",
		"leading prose":    "Here you go.\n" + good,
		"trailing prose":   good + "\nI removed nothing, as asked.",
		"header order":     "name,id,score,ok,day\n\"Ann, Jr.\",1,2.5,true,2025-03-01\n,2,,false,\n",
		"header case":      "ID,Name,Score,OK,Day\n1,\"Ann, Jr.\",2.5,yes,2025-03-01\n2,,null,no,\n",
		"integral float":   "id,name,score,ok,day\n1.0,\"Ann, Jr.\",2.5,true,2025-03-01\n2,,,false,\n",
		"spaces":           "id, name, score, ok, day\n 1 ,\"Ann, Jr.\", 2.5 ,true,2025-03-01\n2,,,false,\n",
		"blank line ended": good + "\n\n",
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for name, text := range ok {
		rec, err := parseCSVTable(mem, text, parseSchema)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := openstagetest.RowsOf(rec); !sameRows(got, want) && name != "spaces" {
			t.Errorf("%s: got %v", name, got)
		}
		rec.Release()
	}
	bad := map[string]string{
		"":                         "it is empty",
		"I cannot help with that.": "it has no CSV header id,name,score,ok,day",
		"id,name,score\n1,a,2\n":   "its columns are id,name,score, expected id,name,score,ok,day (missing: ok, day)",
		"id,name,score,ok,day,extra\n1,a,2,true,2025-01-01,x\n": "(not expected: extra; if the prompt adds columns, declare them",
		"id,name,score,ok,day\n1,a,2,true\n":                    "answer row 1 has 4 values, the header 5",
		"id,name,score,ok,day\nx,a,2,true,\n":                   `answer row 1, column 'id': cannot read "x" as an integer`,
		"id,name,score,ok,day\n1,a,2,maybe,\n":                  `answer row 1, column 'ok': cannot read "maybe" as true or false`,
		"id,name,score,ok,day\n1,a,2,true,soon":                 `answer row 1, column 'day': cannot read "soon" as a date or timestamp`,
		"id,name,score,ok,day\n1,\"a,2,true,\n":                 "answer row 1 is not valid CSV",
	}
	for text, msg := range bad {
		rec, err := parseCSVTable(mem, text, parseSchema)
		if err == nil {
			rec.Release()
			t.Errorf("%q: no error", text)
		} else if !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", text, err, msg)
		}
	}
}

func sameRows(a, b [][]any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				if ta, ok := a[i][j].(time.Time); !ok || !ta.Equal(b[i][j].(time.Time)) {
					return false
				}
			}
		}
	}
	return true
}

func TestParseJSONTable(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	text := "```json\n{\"rows\": [{\"id\": 1, \"name\": \"Ann\", \"score\": 2.5, \"ok\": true, \"day\": \"2025-03-01\"}, {\"id\": 2.0, \"name\": null, \"score\": \"3\", \"ok\": false, \"day\": null}]}\n```"
	rec, err := parseJSONTable(mem, text, parseSchema)
	if err != nil {
		t.Fatal(err)
	}
	got := openstagetest.RowsOf(rec)
	rec.Release()
	if !sameRows(got, [][]any{{int64(1), "Ann", 2.5, true, time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)}, {int64(2), nil, 3.0, false, nil}}) {
		t.Fatalf("got %v", got)
	}
	for text, msg := range map[string]string{
		`{"rows": [{"id": 1}]}`: "answer row 1: key 'name' is missing",
		`{"rows": [{"id": 1, "name": "a", "score": 1, "ok": true, "day": null, "x": 1}]}`: "unexpected keys x",
		`{"rows": [{"id": 1.5, "name": "a", "score": 1, "ok": true, "day": null}]}`:       "1.5 is not an integer",
		`{"table": []}`:  `it has no "rows" array`,
		`no JSON at all`: "it is not the JSON object asked for",
	} {
		rec, err := parseJSONTable(mem, text, parseSchema)
		if err == nil {
			rec.Release()
			t.Errorf("%s: no error", text)
		} else if !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want %q", text, err, msg)
		}
	}
}

func TestColumnsAndDurations(t *testing.T) {
	var c Columns
	if err := c.DecodeParam([]any{"*", map[string]any{"fraud_score": "string"}, map[string]any{"risk": "float64"}}); err != nil {
		t.Fatal(err)
	}
	fields, err := tableColumns(openstage.NewSchema("id", openstage.Int64, "risk", openstage.String), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(fields) != 3 || fields[0].Name != "id" || fields[1].Name != "fraud_score" || fields[2].Name != "risk" || fields[2].Type != openstage.Float64 {
		t.Fatalf("fields %v", fields)
	}
	for _, bad := range []any{map[string]any{"a": "string"}, []any{map[string]any{"a": "money"}}, []any{1}} {
		if err := c.DecodeParam(bad); err == nil {
			t.Errorf("%v decoded", bad)
		}
	}
	var d Duration
	for in, want := range map[any]time.Duration{"90s": 90 * time.Second, "1h30m": 90 * time.Minute, int64(5): 5 * time.Second, 0.5: 500 * time.Millisecond, "2": 2 * time.Second} {
		if err := d.DecodeParam(in); err != nil || time.Duration(d) != want {
			t.Errorf("%v: %v %v", in, time.Duration(d), err)
		}
	}
	if err := d.DecodeParam("soon"); err == nil {
		t.Error("'soon' decoded")
	}
}

func TestPriceOf(t *testing.T) {
	for model, want := range map[string]Price{
		"claude-sonnet-4-5-20250929": {3, 15}, "gpt-4.1-mini-2025-04-14": {0.4, 1.6}, "gpt-4.1": {2, 8}, "gemini-2.5-flash": {0.3, 2.5}, "gemini-2.5-flash-lite": {0.1, 0.4},
	} {
		if got, ok := PriceOf(model); !ok || got != want {
			t.Errorf("%s: %v %v", model, got, ok)
		}
	}
	if _, ok := PriceOf("llama3.1:8b"); ok {
		t.Error("a local model has a price")
	}
}

// FuzzParseCSVTable: any answer text either reads into a batch of the
// schema or gives an error; it never panics or leaks.
func FuzzParseCSVTable(f *testing.F) {
	f.Add("id,name,score,ok,day\n1,a,2.5,true,2025-03-01\n")
	f.Add("```csv\nid,name,score,ok,day\n1,\"a\nb\",,no,\n```\ntext")
	f.Add("prose\n\nID,NAME,SCORE,OK,DAY\n1,,,,\n\nmore prose, with, commas")
	f.Fuzz(func(t *testing.T, text string) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		rec, err := parseCSVTable(mem, text, parseSchema)
		if err == nil {
			if !rec.Schema().Equal(parseSchema) {
				t.Fatalf("schema %v", rec.Schema())
			}
			rec.Release()
		}
		mem.AssertSize(t, 0)
	})
}
