package cli_test

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// writeFiles writes name → content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// copyJob is a CSVOrigin → CSVDestination job with extra origin and
// destination lines.
func copyJob(in, originExtra, out, destExtra string) string {
	return `name: copy
stages:
  - name: reader
    type: CSVOrigin
    path: ` + in + `
` + originExtra + `
  - name: writer
    type: CSVDestination
    path: ` + out + `
` + destExtra + `
pipes:
  - {name: p, from: reader, to: writer}
`
}

func TestCopyKeepsEveryValuesText(t *testing.T) {
	dir := t.TempDir()
	in := "zip,id,price,ratio,score,ok,day,at,local,big\n" +
		"00501,1,12.50,1977.0,0.25,TRUE,2025-01-31,2025-01-31 10:00,2025-01-31T10:00:00.500+02:00,99999999999999999999\n" +
		"10001,-7,3.10,915.1,1e+21,FALSE,1999-12-31,2025-02-01 23:59,2025-06-30T22:30:00.250+02:00,12\n"
	writeFiles(t, dir, map[string]string{"in.csv": in, "job.yaml": copyJob("in.csv", "", "out.csv", "")})
	r := run(t, "run", "--quiet", filepath.Join(dir, "job.yaml"))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got := mustRead(t, filepath.Join(dir, "out.csv")); got != in {
		t.Fatalf("copy changed the text:\n%s\nwant\n%s", got, in)
	}
	// The columns are typed, not all strings: validate shows nothing
	// wrong, and a filter on the typed columns works.
	writeFiles(t, dir, map[string]string{"filter.yaml": `name: f
stages:
  - {name: reader, type: CSVOrigin, path: in.csv}
  - {name: cheap, type: Filter, field: price, condition: "<", value: 5}
  - {name: writer, type: CSVDestination, path: cheap.csv}
pipes:
  - {name: a, from: reader, to: cheap}
  - {name: b, from: cheap, to: writer}
`})
	if r := run(t, "run", "--quiet", filepath.Join(dir, "filter.yaml")); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got, want := mustRead(t, filepath.Join(dir, "cheap.csv")), "zip,id,price,ratio,score,ok,day,at,local,big\n"+strings.SplitN(in, "\n", 3)[2]; got != want {
		t.Fatalf("filtered:\n%s\nwant\n%s", got, want)
	}
}

func TestConversionErrorsSayHowToFixThem(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id,v\n")
	for i := range 30 {
		b.WriteString("1,")
		b.WriteString([]string{"7", "8", "9"}[i%3])
		b.WriteString("\n")
	}
	b.WriteString("2,abc\n3,007\n")
	writeFiles(t, dir, map[string]string{"in.csv": b.String(),
		"job.yaml":      copyJob("in.csv", "    sample_rows: 10", "out.csv", ""),
		"declared.yaml": copyJob("in.csv", "    column_types: {v: int64}", "out.csv", "")})
	r := run(t, "run", "--quiet", filepath.Join(dir, "job.yaml"))
	if r.code != 1 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"in.csv:32: column 'v': cannot parse \"abc\" as int64", "inferred as int64 from the first 10 rows (sample_rows)", "column_types: {v: string}", "raise sample_rows", "reject: PIPE"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	r = run(t, "run", "--quiet", filepath.Join(dir, "declared.yaml"))
	if r.code != 1 || !strings.Contains(r.stderr, "column_types declares it int64") || strings.Contains(r.stderr, "sample_rows") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// A leading zero after the sample in an inferred int64 column is refused
	// rather than turned into 7.
	writeFiles(t, dir, map[string]string{"in.csv": strings.Replace(b.String(), "2,abc\n", "", 1)})
	r = run(t, "run", "--quiet", filepath.Join(dir, "job.yaml"))
	if r.code != 1 || !strings.Contains(r.stderr, `in.csv:32: column 'v': "007" has a leading zero or a sign that an int64 would not keep`) {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "out.csv")); err == nil {
		t.Fatal("a failed job left its output")
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"orders.csv": "id,amount\n1,2.5\n", "job.yaml": `name: many
stages:
  - name: reader
    type: CSVOrigin
    path: orders.csv
    delimeter: ";"
  - name: missing
    type: CSVOrigin
    path: nowhere.csv
  - name: filt
    type: Filter
    field: amount
    condition: ">"
    value: 10
    value: 20
  - name: typo
    type: Filtre
  - name: cols
    type: Filter
    field: amout
    condition: ">"
    value: 1
  - {name: r2, type: CSVOrigin, path: orders.csv}
  - {name: writer, type: CSVDestination, path: out.csv}
  - {name: w2, type: CSVDestination, path: out2.csv}
  - {name: w3, type: CSVDestination, path: out3.csv}
  - {name: loop_a, type: Copy}
  - {name: loop_b, type: Copy}
pipes:
  - {name: p1, from: reader, to: filt}
  - {name: p2, from: filt, to: writer}
  - {name: p3, from: r2, to: cols}
  - {name: p4, from: cols, to: w2}
  - {name: p5, from: typo, to: nothere}
  - {name: p6, from: loop_a, to: loop_b}
  - {name: p7, from: loop_b, to: loop_a}
  - {name: p8, from: missing, to: w3}
`})
	r := run(t, "validate", filepath.Join(dir, "job.yaml"))
	if r.code != 2 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	wants := []string{
		`job.yaml:6: CSVOrigin 'reader': unknown parameter 'delimeter' for CSVOrigin (did you mean 'delimiter'?)`,
		`job.yaml:7: CSVOrigin 'missing': file '`,
		`job.yaml:15: key 'value' appears twice in the same mapping, at lines 14 and 15`,
		`job.yaml:17: stage 'typo': unknown stage type 'Filtre' (did you mean 'Filter'?)`,
		`job.yaml:18: Filter 'cols': field 'amout' not found`,
		`job.yaml:34: pipe 'p5': to stage 'nothere' does not exist`,
		`the pipes form a cycle`,
	}
	last := -1
	for _, w := range wants {
		i := strings.Index(r.stderr, w)
		if i < 0 {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
			continue
		}
		if w != wants[len(wants)-1] && i < last {
			t.Errorf("%q is not in line order:\n%s", w, r.stderr)
		}
		last = i
	}
	if strings.Contains(r.stderr, "needs at least") {
		t.Errorf("a stage next to a broken one is reported too:\n%s", r.stderr)
	}
	// run validates the same way, and runs nothing.
	r = run(t, "run", filepath.Join(dir, "job.yaml"))
	if r.code != 2 || !strings.Contains(r.stderr, wants[0]) || !strings.Contains(r.stderr, "field 'amout' not found") {
		t.Fatalf("run: exit %d: %s", r.code, r.stderr)
	}
	// An unparsable file stops there.
	writeFiles(t, dir, map[string]string{"bad.yaml": "name: x\nstages: [\n"})
	r = run(t, "validate", filepath.Join(dir, "bad.yaml"))
	if r.code != 2 || !strings.Contains(r.stderr, "invalid YAML") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

func TestDuplicateNamesInJobFiles(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"in.csv": "a\n1\n", "job.yaml": `name: dups
stages:
  - {name: r, type: CSVOrigin, path: in.csv}
  - {name: r, type: CSVOrigin, path: in.csv}
  - {name: w, type: CSVDestination, path: out.csv}
pipes:
  - {name: p, from: r, to: w}
  - {name: p, from: r, to: w}
`})
	r := run(t, "validate", filepath.Join(dir, "job.yaml"))
	for _, want := range []string{"job.yaml:4: duplicate stage name 'r' (first declared at line 3)", "job.yaml:8: duplicate pipe name 'p' (first declared at line 7)"} {
		if r.code != 2 || !strings.Contains(r.stderr, want) {
			t.Errorf("exit %d, want %q in:\n%s", r.code, want, r.stderr)
		}
	}
}

func TestCSVStrictness(t *testing.T) {
	dir := t.TempDir()
	latin1, _ := charmap.ISO8859_1.NewEncoder().String("name,city\nJosé,São Paulo\nZoë,Zürich\n")
	writeFiles(t, dir, map[string]string{
		"dup.csv":    "id,name,id\n1,a,2\n",
		"nul.csv":    "id,note\n1,ok\n2,ab\x00c\n",
		"latin1.csv": latin1,
	})
	cases := []struct {
		name, in, origin string
		code             int
		want             string
	}{
		{"duplicate header", "dup.csv", "", 2, "dup.csv:1: the header names column 'id' twice, at positions 1 and 3; rename one in the file, or set duplicate_columns: rename"},
		{"duplicate renamed", "dup.csv", "    duplicate_columns: rename", 0, ""},
		{"nul", "nul.csv", "", 2, "nul.csv:3: column 'note': NUL byte (character 5 of the line)"},
		{"invalid utf-8", "latin1.csv", "", 2, "latin1.csv:2: column 'name': invalid UTF-8: byte 0xE9 (character 4 of the line); the file is not UTF-8: set its encoding (encoding: latin1, windows-1252, ...), or invalid_utf8: replace"},
		{"latin1", "latin1.csv", "    encoding: latin1", 0, ""},
		{"replace", "latin1.csv", "    invalid_utf8: replace", 0, ""},
		{"bad encoding", "latin1.csv", "    encoding: klingon", 2, "encoding: unknown encoding 'klingon'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			writeFiles(t, dir, map[string]string{"job.yaml": copyJob(tc.in, tc.origin, "out.csv", "")})
			r := run(t, "validate", filepath.Join(dir, "job.yaml"))
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, want %d and %q:\n%s", r.code, tc.code, tc.want, r.stderr)
			}
		})
	}
	run1 := func(origin string) string {
		writeFiles(t, dir, map[string]string{"job.yaml": copyJob("latin1.csv", origin, "out.csv", "")})
		if r := run(t, "run", "--quiet", filepath.Join(dir, "job.yaml")); r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		return mustRead(t, filepath.Join(dir, "out.csv"))
	}
	if got := run1("    encoding: latin1"); got != "name,city\nJosé,São Paulo\nZoë,Zürich\n" {
		t.Errorf("latin1 decoded to %q", got)
	}
	if got := run1("    invalid_utf8: replace"); got != "name,city\nJos\uFFFD,S\uFFFDo Paulo\nZo\uFFFD,Z\uFFFDrich\n" {
		t.Errorf("replace gave %q", got)
	}
	writeFiles(t, dir, map[string]string{"job.yaml": copyJob("dup.csv", "    duplicate_columns: rename", "out.csv", "")})
	if r := run(t, "run", "--quiet", filepath.Join(dir, "job.yaml")); r.code != 0 || mustRead(t, filepath.Join(dir, "out.csv")) != "id,name,id_2\n1,a,2\n" {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

func TestEncodingsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	text := "name,city,n\nJosé,São Paulo,1\n\"Zoë, «the» one\",Zürich,2\nEuro €,Köln,3\n"
	for _, enc := range []string{"utf-8-sig", "windows-1252", "utf-16", "iso-8859-15"} {
		t.Run(enc, func(t *testing.T) {
			writeFiles(t, dir, map[string]string{"in.csv": text, "job.yaml": copyJob("in.csv", "", "enc.csv", "    encoding: "+enc),
				"back.yaml": copyJob("enc.csv", "    encoding: "+enc, "back.csv", "")})
			if r := run(t, "run", "--quiet", filepath.Join(dir, "job.yaml")); r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			raw := mustRead(t, filepath.Join(dir, "enc.csv"))
			var want string
			switch enc {
			case "utf-8-sig":
				want = "\xEF\xBB\xBF" + text
			case "windows-1252":
				want, _ = charmap.Windows1252.NewEncoder().String(text)
			case "iso-8859-15":
				want, _ = charmap.ISO8859_15.NewEncoder().String(text)
			case "utf-16":
				want, _ = unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().String(text)
			}
			if raw != want {
				t.Fatalf("written %q\nwant    %q", raw, want)
			}
			if r := run(t, "run", "--quiet", filepath.Join(dir, "back.yaml")); r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if got := mustRead(t, filepath.Join(dir, "back.csv")); got != text {
				t.Fatalf("read back %q", got)
			}
		})
	}
	// A character the encoding lacks names its column.
	writeFiles(t, dir, map[string]string{"in.csv": "a,b\nx,日本\n", "job.yaml": copyJob("in.csv", "", "enc.csv", "    encoding: latin1")})
	r := run(t, "run", "--quiet", filepath.Join(dir, "job.yaml"))
	if r.code != 1 || !strings.Contains(r.stderr, `column 'b': row 1: a character of "日本" cannot be written in latin1`) {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

func TestCompressedAndManyFiles(t *testing.T) {
	dir := t.TempDir()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("id,v\n3,c\n4,d\n"))
	zw.Close()
	enc, _ := zstd.NewWriter(nil)
	zst := enc.EncodeAll([]byte("id,v\n5,e\n"), nil)
	writeFiles(t, dir, map[string]string{
		"data/2025-01.csv":     "id,v\n1,a\n2,b\n",
		"data/2025-02.csv.gz":  gz.String(),
		"data/2025-03.csv.zst": string(zst),
		"data/other.csv":       "id,w\n9,z\n",
	})
	job := func(path string) string {
		return copyJob(path, "    filename_column: source_file", "out/all.csv.gz", "")
	}
	os.Mkdir(filepath.Join(dir, "out"), 0o755)
	writeFiles(t, dir, map[string]string{"job.yaml": job("data/2025-*")})
	if r := run(t, "run", "--quiet", filepath.Join(dir, "job.yaml")); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	f, err := os.Open(filepath.Join(dir, "out/all.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("output is not gzip: %v", err)
	}
	var out bytes.Buffer
	out.ReadFrom(zr)
	f.Close()
	d := filepath.Join(dir, "data")
	want := "id,v,source_file\n1,a," + d + "/2025-01.csv\n2,b," + d + "/2025-01.csv\n3,c," + d + "/2025-02.csv.gz\n4,d," + d + "/2025-02.csv.gz\n5,e," + d + "/2025-03.csv.zst\n"
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
	// A list, in its order; a header that differs names both files.
	writeFiles(t, dir, map[string]string{"job.yaml": job("[data/2025-03.csv.zst, data/other.csv]")})
	r := run(t, "validate", filepath.Join(dir, "job.yaml"))
	if r.code != 2 || !regexp.MustCompile(`'[^']*other\.csv' has the columns id, w but '[^']*2025-03\.csv\.zst' has id, v`).MatchString(r.stderr) {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	writeFiles(t, dir, map[string]string{"job.yaml": job("data/2024-*.csv")})
	if r := run(t, "validate", filepath.Join(dir, "job.yaml")); r.code != 2 || !strings.Contains(r.stderr, "matches no file") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// compression: none on a gzip file is a clear error, not garbage.
	writeFiles(t, dir, map[string]string{"job.yaml": copyJob("data/2025-02.csv.gz", "    compression: none", "out/x.csv", "")})
	if r := run(t, "run", "--quiet", filepath.Join(dir, "job.yaml")); r.code == 0 {
		t.Fatalf("reading gzip bytes as text succeeded: %s", r.stderr)
	}
}
