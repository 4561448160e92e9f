package csvio

import (
	"bytes"
	"encoding/csv"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// FuzzReader compares the reader (all-string schema, no header) with
// encoding/csv (LazyQuotes=false, FieldsPerRecord=0). Where encoding/csv
// accepts the input, the fields must be equal, modulo the documented
// differences: a null (empty unquoted field) equals "", CRLF inside quoted
// fields is kept (encoding/csv turns it into LF) and a leading BOM is
// stripped. Where encoding/csv rejects it, the reader must return an error.
// Each input is read whole and in tiny parallel chunks.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"a,b\n1,2\n",
		"a,\"b,c\"\n\"x\ny\",\"q\"\"q\"\n",
		"\xEF\xBB\xBFa\r\nb\r\n",
		"a,b\n\n\r\n1,2\r",
		"\"unclosed\n1,2\n",
		"a\"b,c\n",
		"\"a\"b,c\n",
		"\"a\"\r\n\"b\"\r",
		"a,b\n1\n",
		"a,b\n1,2,3\n",
		"\r\r\n\r",
		"\"\"\n\"\"\"\"\n",
		",\n,\n",
		"a\rb,\"c\r\nd\"\n",
		"x,\"\"\"\",\"a\n\n\nb\"\n",
		"1\n2\n3",
		"\"a\"\r",
		"\"\r\n\"",
	} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(3))
	}
	for _, s := range []string{
		"1,2\n-3,4\n",
		"12345678,-1234567\n+5,007\n",
		"1.5,-2.25\n.5,5.\n1e5,NaN\n",
		"\"1\",\"2.5\"\r\n,\"\"\n",
		"99999999999999999999,1\n",
		"2024-01-01,x\n",
		"-,--1\n",
	} {
		f.Add([]byte(s), uint8(5))
	}
	for _, s := range []string{"caf\xe9,1\n\xff\xfe,2\n", "a\x00b,c\n", "\xc3\xa9,\xc3\n"} {
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		if bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) {
			checkEncodings(t, data, chunk)
			return
		}
		plain := bytes.TrimPrefix(data, bom)
		cr := csv.NewReader(bytes.NewReader(plain))
		want, werr := cr.ReadAll()
		n := 1
		if len(want) > 0 {
			n = len(want[0])
		} else if werr != nil {
			// Use the first line's field count so that a ragged input is
			// not the only reason for our error.
			first, _ := csv.NewReader(bytes.NewReader(plain)).Read()
			n = max(1, len(first))
		}
		if chunk > 0 {
			setChunking(t, int(chunk%64), 0)
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		r := NewReader(bytes.NewReader(data), strSchema(n), ReadOptions{Workers: 1 + int(chunk%3), BatchRows: 1 + int(chunk%5), Alloc: mem})
		recs, _, err := readAll(t, r)
		var got [][]string
		for _, rec := range recs {
			for i := 0; i < int(rec.NumRows()); i++ {
				row := make([]string, n)
				for c := range row {
					// a null reads as "": Value of a null slot is empty
					row[c] = strings.ReplaceAll(rec.Column(c).(*array.String).Value(i), "\r\n", "\n")
				}
				got = append(got, row)
			}
		}
		releaseAll(recs)
		r.Close()
		if werr != nil {
			if err == nil {
				t.Fatalf("encoding/csv: %v; we accepted %q", werr, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("encoding/csv accepted %q; we failed: %v", want, err)
		}
		if len(want) == 0 && len(got) == 0 {
			return
		}
		if len(want) == 0 {
			want = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("fields differ\n got %q\nwant %q", got, want)
		}
		checkTyped(t, data, want, n, chunk)
		checkSelect(t, data, want, n, chunk)
		// The sequential paths must not panic either.
		ReadHeader(bytes.NewReader(data), ReadOptions{Header: true})
		InferSchema(bytes.NewReader(data), ReadOptions{Header: true}, 10, nil)
	})
}

// checkEncodings covers input that is not valid UTF-8 or holds a NUL: the
// reader must refuse it as UTF-8; read as Latin-1 (every byte a
// character) it must give encoding/csv's fields of the decoded text, and
// with ReplaceInvalidUTF8 the fields with U+FFFD for each invalid byte —
// unless there is a NUL, which is an error in every encoding.
func checkEncodings(t *testing.T, data []byte, chunk uint8) {
	if chunk > 0 {
		setChunking(t, int(chunk%64), 0)
	}
	read := func(opts ReadOptions, n int) ([][]string, error) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		opts.Workers, opts.BatchRows, opts.Alloc = 1+int(chunk%3), 1+int(chunk%5), mem
		r := NewReader(bytes.NewReader(data), strSchema(n), opts)
		defer r.Close()
		recs, _, err := readAll(t, r)
		defer releaseAll(recs)
		var got [][]string
		for _, rec := range recs {
			for i := 0; i < int(rec.NumRows()); i++ {
				row := make([]string, n)
				for c := range row {
					row[c] = strings.ReplaceAll(rec.Column(c).(*array.String).Value(i), "\r\n", "\n")
				}
				got = append(got, row)
			}
		}
		return got, err
	}
	expect := func(text []byte) ([][]string, int, error) {
		plain := bytes.TrimPrefix(text, bom)
		want, err := csv.NewReader(bytes.NewReader(plain)).ReadAll()
		n := 1
		if len(want) > 0 {
			n = len(want[0])
		}
		return want, n, err
	}
	if _, err := read(ReadOptions{}, 1); err == nil {
		t.Fatalf("%q: invalid UTF-8 or NUL accepted as UTF-8", data)
	}
	hasNUL := bytes.IndexByte(data, 0) >= 0
	for _, enc := range []string{"latin1", "replace"} {
		var text []byte
		opts := ReadOptions{}
		if enc == "latin1" {
			text, _ = charmap.ISO8859_1.NewDecoder().Bytes(data)
			opts.Encoding = "latin1"
		} else {
			text = replaceInvalidUTF8(nil, data)
			opts.ReplaceInvalidUTF8 = true
		}
		want, n, werr := expect(text)
		got, err := read(opts, n)
		switch {
		case hasNUL:
			if err == nil || !strings.Contains(err.Error(), "NUL byte") && werr == nil {
				t.Fatalf("%s: NUL accepted or not named: %v", enc, err)
			}
		case werr != nil:
			if err == nil {
				t.Fatalf("%s: encoding/csv: %v; we accepted %q", enc, werr, got)
			}
		case err != nil:
			t.Fatalf("%s: encoding/csv accepted %q; we failed: %v", enc, want, err)
		case len(want) > 0 && !reflect.DeepEqual(got, want):
			t.Fatalf("%s: fields differ\n got %q\nwant %q", enc, got, want)
		}
	}
}

// checkSelect reads data keeping only some columns (ReadOptions.Select,
// chosen from chunk's bits) and compares them with encoding/csv's fields.
func checkSelect(t *testing.T, data []byte, records [][]string, n int, chunk uint8) {
	var sel []int
	for c := 0; c < n; c++ {
		if chunk>>(c%8)&1 == 1 {
			sel = append(sel, c)
		}
	}
	if sel == nil {
		sel = []int{n - 1}
	}
	var want [][]string
	for _, rec := range records {
		row := make([]string, len(sel))
		for i, c := range sel {
			row[i] = rec[c]
		}
		want = append(want, row)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r := NewReader(bytes.NewReader(data), strSchema(n), ReadOptions{Workers: 1 + int(chunk%3), BatchRows: 1 + int(chunk%5), Alloc: mem, Select: sel})
	defer r.Close()
	recs, _, err := readAll(t, r)
	defer releaseAll(recs)
	if err != nil {
		t.Fatalf("Select %v: encoding/csv accepted %q; we failed: %v", sel, records, err)
	}
	var got [][]string
	for _, rec := range recs {
		if int(rec.NumCols()) != len(sel) {
			t.Fatalf("Select %v: batch has %d columns", sel, rec.NumCols())
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]string, len(sel))
			for c := range row {
				row[c] = strings.ReplaceAll(rec.Column(c).(*array.String).Value(i), "\r\n", "\n")
			}
			got = append(got, row)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Select %v: fields differ\n got %q\nwant %q", sel, got, want)
	}
}

// checkTyped reads data with all-int64 and all-float64 schemas and compares
// with strconv on encoding/csv's fields: "" is null, a field strconv rejects
// must make the reader fail after exactly the rows before it.
func checkTyped(t *testing.T, data []byte, records [][]string, n int, chunk uint8) {
	for _, typ := range []string{"int", "float"} {
		spec := make([]string, n)
		for i := range spec {
			spec[i] = "c" + strconv.Itoa(i) + ":" + typ
		}
		var want [][]any
		wantErr := false
	rows:
		for _, rec := range records {
			row := make([]any, len(rec))
			for i, f := range rec {
				if f == "" {
					continue
				}
				var err error
				if typ == "int" {
					row[i], err = strconv.ParseInt(f, 10, 64)
				} else {
					row[i], err = strconv.ParseFloat(f, 64)
				}
				if err != nil {
					wantErr = true
					break rows
				}
			}
			want = append(want, row)
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		r := NewReader(bytes.NewReader(data), schemaOf(strings.Join(spec, ",")), ReadOptions{Workers: 1 + int(chunk%3), BatchRows: 1 + int(chunk%7), Alloc: mem})
		recs, _, err := readAll(t, r)
		var got [][]any
		for _, rec := range recs {
			for i := 0; i < int(rec.NumRows()); i++ {
				row := make([]any, n)
				for c := range row {
					col := rec.Column(c)
					if col.IsNull(i) {
						continue
					}
					if typ == "int" {
						row[c] = col.(*array.Int64).Value(i)
					} else {
						row[c] = col.(*array.Float64).Value(i)
					}
				}
				got = append(got, row)
			}
		}
		releaseAll(recs)
		r.Close()
		mem.AssertSize(t, 0)
		if wantErr != (err != nil) {
			t.Fatalf("%s: strconv error %v, reader error %v", typ, wantErr, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d rows, want %d (err %v)", typ, len(got), len(want), err)
		}
		for i := range want {
			for c := range want[i] {
				a, b := want[i][c], got[i][c]
				if fa, ok := a.(float64); ok {
					if fb, ok := b.(float64); ok && (math.Float64bits(fa) == math.Float64bits(fb) || fa != fa && fb != fb) {
						continue
					}
				} else if a == b {
					continue
				}
				t.Fatalf("%s: row %d col %d: got %#v want %#v", typ, i, c, b, a)
			}
		}
	}
}
