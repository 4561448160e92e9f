package jsonio_test

import (
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/jsonio"
	"github.com/open-stage/openstage/openstagetest"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func origin(path string, conf ...func(*jsonio.JSONOrigin)) any {
	return openstage.New("", append([]func(*jsonio.JSONOrigin){func(o *jsonio.JSONOrigin) { o.Path = openstage.Strings{path}; o.BatchRows = 10 }}, conf...)...).Component()
}

func TestJSONOriginConformance(t *testing.T) {
	dir := t.TempDir()
	var nd, arr strings.Builder
	arr.WriteString("[")
	for i := range 45 {
		rec := `{"id":` + strconv.Itoa(i) + `,"name":"n` + strconv.Itoa(i) + `","amount":` + strconv.Itoa(i) + `.5,"ok":` + strconv.FormatBool(i%2 == 0) + `,"address":{"city":"c` + strconv.Itoa(i%3) + `"}}`
		nd.WriteString(rec + "\n")
		if i > 0 {
			arr.WriteString(",\n")
		}
		arr.WriteString(rec)
	}
	arr.WriteString("]")
	write(t, filepath.Join(dir, "full.ndjson"), nd.String())
	write(t, filepath.Join(dir, "full.json"), arr.String())
	write(t, filepath.Join(dir, "empty.json"), "[]")
	empty := func(*testing.T) any {
		return origin(filepath.Join(dir, "empty.json"), func(o *jsonio.JSONOrigin) { o.ColumnTypes = map[string]string{"id": "int64"} })
	}
	for _, f := range []string{"full.ndjson", "full.json"} {
		t.Run(f, func(t *testing.T) {
			openstagetest.TestOrigin(t, openstagetest.OriginCase{
				New:   func(*testing.T) any { return origin(filepath.Join(dir, f)) },
				Empty: empty,
			})
		})
	}
}

// readBack reads a JSON file with declared types, as the conformance
// suite's Read.
func readBack(t *testing.T, path string) ([][]any, bool) {
	if _, err := os.Stat(path); err != nil {
		return nil, false
	}
	types := map[string]string{"id": "int64", "name": "string", "amount": "float64", "ok": "bool", "day": "date", "at": "timestamp"}
	res, err := openstagetest.RunOrigin(t, origin(path, func(o *jsonio.JSONOrigin) { o.ColumnTypes = types }))
	if err != nil {
		t.Fatalf("reading %s back: %v", path, err)
	}
	return res.Outputs["out"].Rows, true
}

func TestJSONDestinationConformance(t *testing.T) {
	for _, tc := range []struct{ format, file string }{{"ndjson", "out.ndjson"}, {"array", "out.json"}, {"ndjson", "out.ndjson.gz"}, {"array", "out.json.zst"}} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.file)
			openstagetest.TestDestination(t, openstagetest.DestinationCase{
				New: func(*testing.T) any {
					return openstage.New("", func(d *jsonio.JSONDestination) { d.Path = path; d.Format = tc.format }).Component()
				},
				Read: func(t *testing.T) ([][]any, bool) { return readBack(t, path) },
			})
		})
	}
}

func TestFlattenExplodeAndErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "doc.json")
	write(t, path, `{"meta": {"n": 2}, "data": {"items": [
  {"id": 1, "user": {"name": "Ana", "address": {"city": "Lima"}}, "tags": ["a", "b"]},
  {"id": 2, "user": {"name": "Bo"}, "tags": []}
]}}`)
	res, err := openstagetest.RunOrigin(t, origin(path, func(o *jsonio.JSONOrigin) { o.JSONPath = "data.items" }))
	if err != nil {
		t.Fatal(err)
	}
	out := res.Outputs["out"]
	if got := strings.Join(openstage.ColumnNames(out.Schema), ","); got != "id,tags,user_name,user_address_city" {
		t.Fatalf("columns %s", got)
	}
	if got := out.Rows[0][1]; got != `["a","b"]` {
		t.Fatalf("array kept as %v", got)
	}
	res, err = openstagetest.RunOrigin(t, origin(path, func(o *jsonio.JSONOrigin) { o.JSONPath = "data.items"; o.Explode = "tags" }))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Outputs["out"].Rows); n != 3 {
		t.Fatalf("explode gave %d rows, want 3 (two tags, one empty array)", n)
	}
	_, err = openstagetest.RunOrigin(t, origin(path, func(o *jsonio.JSONOrigin) { o.JSONPath = "data.itemz" }))
	if err == nil || !strings.Contains(err.Error(), "json_path 'data.itemz' matches nothing in '"+path+"': 'data' has keys: items (did you mean 'items'?)") {
		t.Fatalf("err = %v", err)
	}
	// A key after the sample, a float in an int64 column, malformed JSON.
	nd := filepath.Join(dir, "late.ndjson")
	write(t, nd, "{\"a\":1}\n{\"a\":2}\n{\"a\":3,\"b\":1}\n")
	_, err = openstagetest.RunOrigin(t, origin(nd, func(o *jsonio.JSONOrigin) { o.SampleRows = 2 }))
	if err == nil || !strings.Contains(err.Error(), nd+":3: key 'b' is not a column; the columns were typed from the first 2 records (sample_rows): raise sample_rows") {
		t.Fatalf("err = %v", err)
	}
	write(t, nd, "{\"a\":1}\n{\"a\":2}\n{\"a\":2.5}\n")
	_, err = openstagetest.RunOrigin(t, origin(nd, func(o *jsonio.JSONOrigin) { o.SampleRows = 2 }))
	if err == nil || !strings.Contains(err.Error(), nd+":3") || !strings.Contains(err.Error(), "column 'a'") || !strings.Contains(err.Error(), "sample_rows") {
		t.Fatalf("err = %v", err)
	}
	write(t, nd, "{\"a\":1}\n{\"a\":2\n")
	_, err = openstagetest.RunOrigin(t, origin(nd))
	if err == nil || !strings.Contains(err.Error(), nd+":2: malformed JSON") {
		t.Fatalf("err = %v", err)
	}
	// Compressed NDJSON over many chunks keeps order and counts lines.
	gzPath := filepath.Join(dir, "big.ndjson.gz")
	f, _ := os.Create(gzPath)
	zw := gzip.NewWriter(f)
	for i := range 200000 {
		zw.Write([]byte(`{"i":` + strconv.Itoa(i) + `,"s":"` + strings.Repeat("x", i%40) + `"}` + "\n"))
	}
	zw.Close()
	f.Close()
	res, err = openstagetest.RunOrigin(t, origin(gzPath, func(o *jsonio.JSONOrigin) { o.BatchRows = 65536 }), openstagetest.Workers(3))
	if err != nil {
		t.Fatal(err)
	}
	rows := res.Outputs["out"].Rows
	if len(rows) != 200000 {
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows {
		if r[0] != int64(i) {
			t.Fatalf("row %d holds %v: order lost", i, r[0])
		}
	}
}

// pandas is the independent reader and writer (Debian's python3-pandas;
// .ci/run installs it).
func pandas(t *testing.T, script string, args ...string) string {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import pandas").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pandas is not installed: %v", err)
		}
		t.Skip("pandas not installed (/usr/bin/python3 -c 'import pandas')")
	}
	out, err := exec.Command("/usr/bin/python3", append([]string{"-c", script}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("pandas: %v\n%s", err, out)
	}
	return string(out)
}

// TestPandasReadsWhatJSONDestinationWrites writes every type with
// JSONDestination and has pandas read it and print each value.
func TestPandasReadsWhatJSONDestinationWrites(t *testing.T) {
	dir := t.TempDir()
	rows := openstagetest.DefaultRows()
	for _, format := range []string{"ndjson", "array"} {
		path := filepath.Join(dir, "out-"+format+".json")
		d := openstage.New("", func(d *jsonio.JSONDestination) { d.Path = path; d.Format = format }).Component()
		if _, err := openstagetest.RunDestination(t, d, []openstagetest.Input{{Pipe: "in", Schema: openstagetest.DefaultSchema, Rows: rows, BatchRows: 7}}); err != nil {
			t.Fatal(err)
		}
		got := pandas(t, `
import sys, pandas as pd, math
lines = sys.argv[2] == "ndjson"
df = pd.read_json(sys.argv[1], lines=lines, orient="records", dtype=False, convert_dates=False)
for _, r in df.iterrows():
    out = []
    for c in ["id", "name", "amount", "ok", "day", "at"]:
        v = r[c]
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append("null")
        elif c == "at":
            out.append(pd.Timestamp(v).strftime("%Y-%m-%dT%H:%M:%S.%f"))
        elif c == "amount":
            out.append(repr(float(v)))
        else:
            out.append(str(v).replace("\n", "\\n"))
    print("|".join(out))
`, path, format)
		var want strings.Builder
		for _, r := range rows {
			parts := make([]string, 6)
			for c, v := range r {
				switch x := v.(type) {
				case nil:
					parts[c] = "null"
				case int64:
					parts[c] = strconv.FormatInt(x, 10)
				case float64:
					parts[c] = strconv.FormatFloat(x, 'f', -1, 64)
					if !strings.Contains(parts[c], ".") {
						parts[c] += ".0"
					}
				case bool:
					parts[c] = map[bool]string{true: "True", false: "False"}[x]
				case string:
					parts[c] = strings.ReplaceAll(x, "\n", "\\n")
				case time.Time:
					if c == 4 {
						parts[c] = x.Format("2006-01-02")
					} else {
						parts[c] = x.Format("2006-01-02T15:04:05.000000")
					}
				}
			}
			want.WriteString(strings.Join(parts, "|") + "\n")
		}
		if got != want.String() {
			t.Errorf("%s: pandas read\n%s\nwant\n%s", format, got, want.String())
		}
	}
}

// TestJSONOriginReadsWhatPandasWrites has pandas write every type, as
// records and as lines, and reads them with JSONOrigin.
func TestJSONOriginReadsWhatPandasWrites(t *testing.T) {
	dir := t.TempDir()
	pandas(t, `
import sys, pandas as pd, numpy as np
df = pd.DataFrame({
    "id": pd.array([1, -2, None, 9007199254740993], dtype="Int64"),
    "name": ["Ana", "José \"el\" grande", None, "line\nbreak"],
    "amount": [1.5, -0.25, np.nan, 1e300],
    "ok": pd.array([True, False, None, True], dtype="boolean"),
    "day": ["2025-01-31", "1999-12-31", None, "2024-02-29"],
})
df.to_json(sys.argv[1] + "/p.ndjson", orient="records", lines=True)
df.to_json(sys.argv[1] + "/p.json", orient="records")
`, dir)
	want := [][]any{
		{int64(1), "Ana", 1.5, true, time.Date(2025, 1, 31, 0, 0, 0, 0, time.UTC)},
		{int64(-2), "José \"el\" grande", -0.25, false, time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)},
		{nil, nil, nil, nil, nil},
		{int64(9007199254740993), "line\nbreak", 1e300, true, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
	}
	for _, f := range []string{"p.ndjson", "p.json"} {
		res, err := openstagetest.RunOrigin(t, origin(filepath.Join(dir, f), func(o *jsonio.JSONOrigin) { o.ColumnTypes = map[string]string{"day": "date"} }))
		if err != nil {
			t.Fatal(err)
		}
		out := res.Outputs["out"]
		if got := strings.Join(openstage.ColumnNames(out.Schema), ","); got != "id,name,amount,ok,day" {
			t.Fatalf("%s: columns %s", f, got)
		}
		for i, typ := range []string{"int64", "string", "float64", "bool", "date"} {
			if got := openstage.TypeName(out.Schema.Field(i).Type); got != typ {
				t.Errorf("%s: column %d is %s, want %s", f, i, got, typ)
			}
		}
		if len(out.Rows) != len(want) {
			t.Fatalf("%s: %d rows", f, len(out.Rows))
		}
		for i := range want {
			for c := range want[i] {
				g, w := out.Rows[i][c], want[i][c]
				if gt, ok := g.(time.Time); ok {
					g = gt.UTC()
				}
				if g != w {
					t.Errorf("%s: row %d column %d: %#v, want %#v", f, i, c, g, w)
				}
			}
		}
	}
}
