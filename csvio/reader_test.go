package csvio

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// schemaOf builds a schema from "name:type,..." with types int, float,
// bool, string, date, ts.
func schemaOf(spec string) *arrow.Schema {
	var fs []arrow.Field
	for _, part := range strings.Split(spec, ",") {
		name, typ, _ := strings.Cut(part, ":")
		var t arrow.DataType
		switch typ {
		case "int":
			t = arrow.PrimitiveTypes.Int64
		case "float":
			t = arrow.PrimitiveTypes.Float64
		case "bool":
			t = arrow.FixedWidthTypes.Boolean
		case "date":
			t = arrow.FixedWidthTypes.Date32
		case "ts":
			t = TimestampType
		default:
			t = arrow.BinaryTypes.String
		}
		fs = append(fs, arrow.Field{Name: name, Type: t, Nullable: true})
	}
	return arrow.NewSchema(fs, nil)
}

func strSchema(n int) *arrow.Schema {
	fs := make([]arrow.Field, n)
	for i := range fs {
		fs[i] = arrow.Field{Name: "column_" + strconv.Itoa(i+1), Type: arrow.BinaryTypes.String, Nullable: true}
	}
	return arrow.NewSchema(fs, nil)
}

// rowsOf renders rows as "a|b|c" lines for compact expectations.
func rowsOf(cells [][]string) []string {
	out := make([]string, len(cells))
	for i, r := range cells {
		out[i] = strings.Join(r, "|")
	}
	return out
}

type readCase struct {
	name   string
	in     string
	schema string // schemaOf spec
	opts   ReadOptions
	want   []string // rows, "|" separated, <null> for null
	err    string   // expected error text (after the rows in want)
}

var readCases = []readCase{
	{name: "header", in: "a,b\n1,x\n2,y\n", schema: "a:int,b:string", opts: ReadOptions{Header: true},
		want: []string{"1|x", "2|y"}},
	{name: "no header", in: "1,x\n2,y\n", schema: "a:int,b:string",
		want: []string{"1|x", "2|y"}},
	{name: "bom", in: "\xEF\xBB\xBFa,b\n1,x\n", schema: "a:int,b:string", opts: ReadOptions{Header: true},
		want: []string{"1|x"}},
	{name: "bom no header", in: "\xEF\xBB\xBF1,x\n", schema: "a:int,b:string",
		want: []string{"1|x"}},
	{name: "crlf", in: "a,b\r\n1,x\r\n2,y\r\n", schema: "a:int,b:string", opts: ReadOptions{Header: true},
		want: []string{"1|x", "2|y"}},
	{name: "no final newline", in: "a,b\n1,x\n2,y", schema: "a:int,b:string", opts: ReadOptions{Header: true},
		want: []string{"1|x", "2|y"}},
	{name: "final cr at eof", in: "a,b\n1,x\n2,y\r", schema: "a:int,b:string", opts: ReadOptions{Header: true},
		want: []string{"1|x", "2|y"}},
	{name: "empty lines skipped", in: "\n\na,b\n\n1,x\r\n\r\n2,y\n\n", schema: "a:int,b:string", opts: ReadOptions{Header: true},
		want: []string{"1|x", "2|y"}},
	{name: "quoted", in: "a,b\n\"1\",\"x,y\"\n2,\"line1\nline2\"\n3,\"say \"\"hi\"\"\"\n4,\"\"\"\"\n", schema: "a:int,b:string", opts: ReadOptions{Header: true},
		want: []string{"1|x,y", "2|line1\nline2", "3|say \"hi\"", "4|\""}},
	{name: "quoted crlf kept", in: "\"a\r\nb\",1\r\n", schema: "s:string,i:int",
		want: []string{"a\r\nb|1"}},
	{name: "quoted last field crlf", in: "1,\"x\"\r\n2,\"y\"", schema: "i:int,s:string",
		want: []string{"1|x", "2|y"}},
	{name: "cr inside unquoted field", in: "a\rb,1\n", schema: "s:string,i:int",
		want: []string{"a\rb|1"}},
	{name: "semicolon", in: "a;b\n1;\"x;y\"\n", schema: "a:int,b:string", opts: ReadOptions{Header: true, Delimiter: ';'},
		want: []string{"1|x;y"}},
	{name: "tab", in: "a\tb\n1\tx y\n2\t\"t\tt\"\n", schema: "a:int,b:string", opts: ReadOptions{Header: true, Delimiter: '\t'},
		want: []string{"1|x y", "2|t\tt"}},
	{name: "custom quote", in: "'a,b',1\n'it''s',2\n", schema: "s:string,i:int", opts: ReadOptions{Quote: '\''},
		want: []string{"a,b|1", "it's|2"}},
	{name: "no quoting", in: "\"a,b\"\nx\"y,\"\"\n", schema: "s:string,t:string", opts: ReadOptions{NoQuoting: true},
		want: []string{"\"a|b\"", "x\"y|\"\""}},
	{name: "default nulls", in: "a,b,c\n,,\"\"\n1,,x\n", schema: "a:int,b:float,c:string", opts: ReadOptions{Header: true},
		want: []string{"<null>|<null>|", "1|<null>|x"}},
	{name: "quoted empty int is null", in: "\"\",1\n", schema: "a:int,b:int",
		want: []string{"<null>|1"}},
	{name: "null markers", in: "NA,NA,\"NA\",\n1,NULL,x,\n", schema: "a:int,b:date,c:string,d:string",
		opts: ReadOptions{NullValues: []string{"NA", "NULL"}},
		want: []string{"<null>|<null>|NA|", "1|<null>|x|"}},
	{name: "no null markers", in: ",x\n", schema: "s:string,t:string", opts: ReadOptions{NullValues: []string{}},
		want: []string{"|x"}},
	{name: "numeric null marker", in: "0,1.5\n-1,0\n", schema: "a:int,b:float", opts: ReadOptions{NullValues: []string{"0", "-1"}},
		want: []string{"<null>|1.5", "<null>|<null>"}},
	{name: "types", in: "1,-2.5,TRUE,2024-02-29,2024-01-02T03:04:05.5Z,s\n-9223372036854775808,1e300,0,1970-01-01,2024-01-02 03:04:05+01:30,t\n",
		schema: "i:int,f:float,b:bool,d:date,t:ts,s:string",
		want: []string{"1|-2.5|true|2024-02-29|2024-01-02T03:04:05.500000Z|s",
			"-9223372036854775808|1e+300|false|1970-01-01|2024-01-02T01:34:05Z|t"}},
	{name: "float forms", in: "+1\n.5\n5.\n-0\nNaN\n-Inf\n1.7976931348623157e308\n0.1\n123456789012345678901234\n",
		schema: "f:float",
		want:   []string{"1", "0.5", "5", "-0", "NaN", "-Inf", "1.7976931348623157e+308", "0.1", "1.2345678901234569e+23"}},
	{name: "int forms", in: "+1\n-0\n007\n9223372036854775807\n", schema: "i:int",
		want: []string{"1", "0", "7", "9223372036854775807"}},

	// errors
	{name: "empty file", in: "", schema: "a:int", opts: ReadOptions{Header: true, Path: "t.csv"},
		err: "t.csv: empty file (expected a header row)"},
	{name: "only empty lines", in: "\n\r\n\n", schema: "a:int", opts: ReadOptions{Header: true, Path: "t.csv"},
		err: "t.csv: empty file (expected a header row)"},
	{name: "empty file no header", in: "", schema: "a:int"},
	{name: "header only", in: "a,b\n", schema: "a:int,b:string", opts: ReadOptions{Header: true}},
	{name: "header only no newline", in: "\xEF\xBB\xBFa,b", schema: "a:int,b:string", opts: ReadOptions{Header: true}},
	{name: "header count", in: "a,b,c\n1,2,3\n", schema: "a:int,b:string", opts: ReadOptions{Header: true, Path: "t.csv"},
		err: "t.csv:1: header has 3 columns, schema has 2"},
	{name: "ragged short", in: "a,b,c,d\n1,2,3,4\n5,6\n", schema: "a:int,b:int,c:int,d:int", opts: ReadOptions{Header: true, Path: "orders.csv"},
		want: []string{"1|2|3|4"}, err: "orders.csv:3: row has 2 fields, header has 4"},
	{name: "ragged long", in: "a,b\n1,2\n3,4,\"5\n\",6\n7,8\n", schema: "a:int,b:int", opts: ReadOptions{Header: true, Path: "t.csv"},
		want: []string{"1|2"}, err: "t.csv:3: row has 4 fields, header has 2"},
	{name: "ragged no header", in: "1,2\n3\n", schema: "a:int,b:int", opts: ReadOptions{Path: "t.csv"},
		want: []string{"1|2"}, err: "t.csv:2: row has 1 fields, schema has 2"},
	{name: "ragged beats bad value", in: "x\n", schema: "a:int,b:int", opts: ReadOptions{Path: "t.csv"},
		err: "t.csv:1: row has 1 fields, schema has 2"},
	{name: "unclosed quote", in: "id,note\n1,ok\n2,\"never closed\n3,x\n", schema: "id:int,note:string", opts: ReadOptions{Header: true, Path: "orders.csv"},
		want: []string{"1|ok"}, err: "orders.csv:3: column 'note': unclosed quote (the quoted field starts on this line)"},
	{name: "bare quote", in: "id,note\n1,ab\"c\n", schema: "id:int,note:string", opts: ReadOptions{Header: true, Path: "t.csv"},
		err: "t.csv:2: column 'note': bare quote in unquoted field (quote the whole field and double the quote, or set quoting: false to read quotes as ordinary characters)"},
	{name: "after quote", in: "id,note\n1,\"ab\"c\n", schema: "id:int,note:string", opts: ReadOptions{Header: true, Path: "t.csv"},
		err: "t.csv:2: column 'note': unexpected 'c' after closing quote (a quote inside a quoted field must be doubled)"},
	{name: "after quote cr", in: "\"ab\"\rc,1\n", schema: "s:string,i:int", opts: ReadOptions{Path: "t.csv"},
		err: "t.csv:1: column 's': unexpected '\\r' after closing quote (a quote inside a quoted field must be doubled)"},
	{name: "bad int", in: "id,age\n1,20\n2,abc\n", schema: "id:int,age:int", opts: ReadOptions{Header: true, Path: "orders.csv"},
		want: []string{"1|20"}, err: "orders.csv:3: column 'age': cannot parse \"abc\" as int64"},
	{name: "int overflow", in: "9223372036854775808\n", schema: "i:int", opts: ReadOptions{Path: "t.csv"},
		err: "t.csv:1: column 'i': cannot parse \"9223372036854775808\" as int64: value out of range"},
	{name: "int with space", in: " 1\n", schema: "i:int", opts: ReadOptions{Path: "t.csv"},
		err: "t.csv:1: column 'i': cannot parse \" 1\" as int64"},
	{name: "bad float", in: "1.5\n1,5\n", schema: "f:float,g:string", opts: ReadOptions{Path: "t.csv"},
		err: "t.csv:1: row has 1 fields, schema has 2"},
	{name: "bad float 2", in: "x,1.5\ny,1.5.5\n", schema: "g:string,f:float", opts: ReadOptions{Path: "t.csv"},
		want: []string{"x|1.5"}, err: "t.csv:2: column 'f': cannot parse \"1.5.5\" as float64"},
	{name: "float overflow", in: "1e400\n", schema: "f:float", opts: ReadOptions{Path: "t.csv"},
		err: "t.csv:1: column 'f': cannot parse \"1e400\" as float64"},
	{name: "bad date", in: "d\n2024-02-30\n", schema: "d:date", opts: ReadOptions{Header: true, Path: "t.csv"},
		err: "t.csv:2: column 'd': cannot parse \"2024-02-30\" as date (want YYYY-MM-DD)"},
	{name: "bad date short", in: "2024-1-01\n", schema: "d:date", opts: ReadOptions{Path: "t.csv"},
		err: "t.csv:1: column 'd': cannot parse \"2024-1-01\" as date (want YYYY-MM-DD)"},
	{name: "bad bool", in: "yes\n", schema: "b:bool", opts: ReadOptions{Path: "t.csv"},
		err: "t.csv:1: column 'b': cannot parse \"yes\" as bool (want true, false, 1 or 0)"},
	{name: "bad ts", in: "2024-01-01T25:00:00\n", schema: "t:ts", opts: ReadOptions{Path: "t.csv"},
		err: "t.csv:1: column 't': cannot parse \"2024-01-01T25:00:00\" as timestamp (want YYYY-MM-DD[THH:MM:SS[.ffffff]][Z|±HH:MM])"},
	{name: "ts nanos lost", in: "2024-01-01T00:00:00.1234567\n", schema: "t:ts", opts: ReadOptions{Path: "t.csv"},
		err: "t.csv:1: column 't': cannot parse \"2024-01-01T00:00:00.1234567\" as timestamp (want YYYY-MM-DD[THH:MM:SS[.ffffff]][Z|±HH:MM])"},
	{name: "bad value after embedded newline", in: "id,note,age\n1,\"a\nb\nc\",3\n2,\"x\",old\n", schema: "id:int,note:string,age:int",
		opts: ReadOptions{Header: true, Path: "orders.csv"},
		want: []string{"1|a\nb\nc|3"}, err: "orders.csv:5: column 'age': cannot parse \"old\" as int64"},
	{name: "bad value in row spanning lines", in: "id,note,age\n1,\"a\nb\",x\n", schema: "id:int,note:string,age:int",
		opts: ReadOptions{Header: true, Path: "t.csv"},
		err:  "t.csv:3: column 'age': cannot parse \"x\" as int64"},
	{name: "no path", in: "x\n", schema: "i:int",
		err: "line 1: column 'i': cannot parse \"x\" as int64"},
	{name: "escaped value in error", in: "\"a\"\"b\"\n", schema: "i:int", opts: ReadOptions{Path: "t.csv"},
		err: "t.csv:1: column 'i': cannot parse \"a\\\"b\" as int64"},
	{name: "bad delimiter", in: "x\n", schema: "i:int", opts: ReadOptions{Delimiter: '\n'},
		err: "csv: invalid delimiter '\\n' (delimiter: one character other than a newline)"},
	{name: "quote equals delimiter", in: "x\n", schema: "i:int", opts: ReadOptions{Delimiter: ';', Quote: ';'},
		err: "csv: invalid quote character ';': it must differ from the delimiter ';' and from newlines (quote: one character, or quoting: false)"},
}

func runRead(t *testing.T, in string, schema *arrow.Schema, opts ReadOptions) ([]string, []Reject, error) {
	t.Helper()
	mem := newMem(t)
	opts.Alloc = mem
	r := NewReader(strings.NewReader(in), schema, opts)
	recs, rejects, err := readAll(t, r)
	defer releaseAll(recs)
	if err2 := r.Close(); err2 != nil {
		t.Fatal(err2)
	}
	for _, rec := range recs {
		if !rec.Schema().Equal(schema) {
			t.Fatalf("batch schema %s", rec.Schema())
		}
	}
	return rowsOf(cellStrings(recs)), rejects, err
}

func TestRead(t *testing.T) {
	for _, tc := range readCases {
		t.Run(tc.name, func(t *testing.T) {
			// Whole input in one chunk, and in tiny chunks with many workers.
			for _, chunk := range []int{0, 16} {
				t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
					if chunk > 0 {
						setChunking(t, chunk, 0)
					}
					for _, workers := range []int{1, 3} {
						opts := tc.opts
						opts.Workers = workers
						got, _, err := runRead(t, tc.in, schemaOf(tc.schema), opts)
						if tc.err == "" && err != nil {
							t.Fatalf("workers=%d: unexpected error %v", workers, err)
						}
						if tc.err != "" && (err == nil || err.Error() != tc.err) {
							t.Fatalf("workers=%d: error\n got %v\nwant %s", workers, err, tc.err)
						}
						if len(got) != 0 || len(tc.want) != 0 {
							if !reflect.DeepEqual(got, tc.want) {
								t.Fatalf("workers=%d: rows\n got %q\nwant %q", workers, got, tc.want)
							}
						}
					}
				})
			}
		})
	}
}

func TestReadHeader(t *testing.T) {
	cases := []struct {
		in   string
		opts ReadOptions
		want []string
		err  string
	}{
		{in: "a,b,c\n1,2,3\n", opts: ReadOptions{Header: true}, want: []string{"a", "b", "c"}},
		{in: "\xEF\xBB\xBF\"x,y\";\"q\"\"\";\n", opts: ReadOptions{Header: true, Delimiter: ';'}, want: []string{"x,y", "q\"", ""}},
		{in: "\n\r\nname\r\n", opts: ReadOptions{Header: true}, want: []string{"name"}},
		{in: "1,2,3\n", want: []string{"column_1", "column_2", "column_3"}},
		{in: "", opts: ReadOptions{Header: true, Path: "e.csv"}, err: "e.csv: empty file (expected a header row)"},
		{in: "a,\"b\n", opts: ReadOptions{Header: true, Path: "h.csv"}, err: "h.csv:1: column '#2': unclosed quote (the quoted field starts on this line)"},
	}
	for i, tc := range cases {
		got, err := ReadHeader(strings.NewReader(tc.in), tc.opts)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%d: error %v, want %s", i, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%d: got %q, %v; want %q", i, got, err, tc.want)
		}
	}
	// A header longer than the first read.
	var lb strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&lb, "abcdefgh%d,", i)
	}
	long := lb.String() + "z\n1\n"
	got, err := ReadHeader(strings.NewReader(long), ReadOptions{Header: true})
	if err != nil || len(got) != 20001 || got[20000] != "z" {
		t.Fatalf("long header: %d names, %v", len(got), err)
	}
}

// TestReadHeaderByteAtATime feeds the input one byte per Read.
func TestReadOneByteReads(t *testing.T) {
	in := "\xEF\xBB\xBFa,b\r\n1,\"x\r\ny\"\r\n2,z\r"
	got, err := ReadHeader(&oneByteReader{r: strings.NewReader(in)}, ReadOptions{Header: true})
	if err != nil || !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("header %q %v", got, err)
	}
	if _, _, err := runRead(t, "", schemaOf("a:int,b:string"), ReadOptions{}); err != nil { // warm
		t.Fatal(err)
	}
	mem := newMem(t)
	r := NewReader(&oneByteReader{r: strings.NewReader(in)}, schemaOf("a:int,b:string"), ReadOptions{Header: true, Alloc: mem})
	recs, _, err := readAll(t, r)
	defer releaseAll(recs)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(cellStrings(recs)); !reflect.DeepEqual(got, []string{"1|x\r\ny", "2|z"}) {
		t.Fatalf("rows %q", got)
	}
}

type oneByteReader struct{ r io.Reader }

func (o *oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

// genMessy generates rows of n string/int columns with embedded newlines,
// quotes, delimiters, CRLFs and empty fields; returns the CSV and the rows.
func genMessy(rng *rand.Rand, rows int) ([]byte, [][]string) {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	var all [][]string
	pieces := []string{"a", "bc", ",", "\"", "\n", " ", "é", "xyz", "12", ""}
	for i := 0; i < rows; i++ {
		rec := []string{strconv.Itoa(i), "", strconv.Itoa(rng.Intn(1000) - 500)}
		var s strings.Builder
		for k := rng.Intn(5); k > 0; k-- {
			s.WriteString(pieces[rng.Intn(len(pieces))])
		}
		rec[1] = s.String()
		if rec[1] == "" {
			rec[1] = "e" // encoding/csv writes "" unquoted, which would read as null
		}
		cw.Write(rec)
		all = append(all, rec)
	}
	cw.Flush()
	return buf.Bytes(), all
}

// TestChunksInOrder reads generated data in tiny chunks and compares with
// encoding/csv, for several chunk sizes, batch sizes and worker counts.
func TestChunksInOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	data, _ := genMessy(rng, 3000)
	want, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{1, 7, 64, 1000, 0} {
		for _, batch := range []int{1, 5, 333, 0} {
			for _, workers := range []int{1, 2, 5} {
				if chunk == 1 && batch != 5 {
					continue // slow
				}
				name := fmt.Sprintf("chunk=%d,batch=%d,workers=%d", chunk, batch, workers)
				t.Run(name, func(t *testing.T) {
					if chunk > 0 {
						setChunking(t, chunk, 0)
					}
					mem := newMem(t)
					r := NewReader(bytes.NewReader(data), schemaOf("id:int,s:string,v:int"), ReadOptions{BatchRows: batch, Workers: workers, Alloc: mem})
					recs, _, err := readAll(t, r)
					defer releaseAll(recs)
					r.Close()
					if err != nil {
						t.Fatal(err)
					}
					limit := batch
					if limit == 0 {
						limit = defaultBatchRows
					}
					for _, rec := range recs {
						if rec.NumRows() > int64(limit) || rec.NumRows() == 0 {
							t.Fatalf("batch of %d rows (limit %d)", rec.NumRows(), limit)
						}
					}
					got := cellStrings(recs)
					if !reflect.DeepEqual(got, want) {
						for i := range want {
							if i >= len(got) || !reflect.DeepEqual(got[i], want[i]) {
								t.Fatalf("row %d: got %q want %q (%d vs %d rows)", i, got[i:min(i+1, len(got))], want[i], len(got), len(want))
							}
						}
						t.Fatalf("got %d rows, want %d", len(got), len(want))
					}
				})
			}
		}
	}
}

// TestLineNumbersInLaterChunks puts a bad value at every kth row of messy
// data and checks the reported line against a line count of the input.
func TestLineNumbersInLaterChunks(t *testing.T) {
	lineNumbersInLaterChunks(t, 2000, []int{0, 1, 57, 999, 1999}, []int{13, 200, 0})
}

// TestLineNumbersPastTheFirstRead: the same with more than the 64 KiB the
// reader takes in first, so that chunks are cut at the last row boundary
// before the end of what was read (a quoted field with newlines often
// straddles it).
func TestLineNumbersPastTheFirstRead(t *testing.T) {
	lineNumbersInLaterChunks(t, 30000, []int{12345, 29999}, []int{13, 200, 5000})
}

func lineNumbersInLaterChunks(t *testing.T, rows int, bads, chunks []int) {
	rng := rand.New(rand.NewSource(3))
	data, _ := genMessy(rng, rows)
	// Row starts: parse with encoding/csv, which reports positions.
	cr := csv.NewReader(bytes.NewReader(data))
	var starts []int64
	for {
		if _, err := cr.Read(); err != nil {
			break
		}
		line, _ := cr.FieldPos(0)
		starts = append(starts, int64(line))
	}
	for _, bad := range bads {
		for _, chunk := range chunks {
			// Replace the id of row `bad` with "oops": ids are unquoted ints
			// at the start of a line.
			lines := bytes.SplitAfter(data, []byte("\n"))
			ln := starts[bad] - 1
			if !bytes.HasPrefix(lines[ln], []byte(strconv.Itoa(bad)+",")) {
				t.Fatalf("line %d is %q", ln+1, lines[ln])
			}
			lines[ln] = append([]byte("oops"), lines[ln][len(strconv.Itoa(bad)):]...)
			in := bytes.Join(lines, nil)
			t.Run(fmt.Sprintf("bad=%d,chunk=%d", bad, chunk), func(t *testing.T) {
				if chunk > 0 {
					setChunking(t, chunk, 0)
				}
				mem := newMem(t)
				r := NewReader(bytes.NewReader(in), schemaOf("id:int,s:string,v:int"), ReadOptions{Path: "m.csv", BatchRows: 100, Workers: 3, Alloc: mem})
				recs, _, err := readAll(t, r)
				defer releaseAll(recs)
				r.Close()
				want := fmt.Sprintf("m.csv:%d: column 'id': cannot parse \"oops\" as int64", starts[bad])
				if err == nil || err.Error() != want {
					t.Fatalf("error %v, want %s", err, want)
				}
				var pe *ParseError
				if !errors.As(err, &pe) || pe.Line != starts[bad] || pe.Column != "id" {
					t.Fatalf("ParseError %+v", pe)
				}
				n := 0
				for _, rec := range recs {
					n += int(rec.NumRows())
				}
				if n != bad {
					t.Fatalf("%d rows before the error, want %d", n, bad)
				}
			})
		}
	}
}

func TestCollectRejects(t *testing.T) {
	in := "id,name,age\n1,ann,30\n2,\"bob\nby\",x\n3,cy,31\n4,dee\n5,\"e,\"\"e\",1.5\n6,fay,40\n"
	for _, chunk := range []int{0, 10} {
		t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
			if chunk > 0 {
				setChunking(t, chunk, 0)
			}
			rows, rejects, err := runRead(t, in, schemaOf("id:int,name:string,age:int"), ReadOptions{Header: true, CollectRejects: true, Path: "r.csv", BatchRows: 2, Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"1|ann|30", "3|cy|31", "6|fay|40"}; !reflect.DeepEqual(rows, want) {
				t.Fatalf("rows %q", rows)
			}
			type rj struct {
				Line   int64
				Record []string
				Err    string
			}
			var got []rj
			for _, r := range rejects {
				got = append(got, rj{r.Line, r.Record, r.Err.Error()})
			}
			want := []rj{
				// the row starts on line 3; the bad field is on line 4
				{3, []string{"2", "bob\nby", "x"}, "r.csv:4: column 'age': cannot parse \"x\" as int64"},
				{6, []string{"4", "dee"}, "r.csv:6: row has 2 fields, header has 3"},
				{7, []string{"5", "e,\"e", "1.5"}, "r.csv:7: column 'age': cannot parse \"1.5\" as int64"},
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("rejects\n got %+v\nwant %+v", got, want)
			}
		})
	}
	// A structural error is still an error.
	_, _, err := runRead(t, "a\n1\n\"x\n", schemaOf("a:int"), ReadOptions{Header: true, CollectRejects: true})
	if err == nil || !strings.Contains(err.Error(), "unclosed quote") {
		t.Fatalf("err %v", err)
	}
	// All rows of a batch rejected: an empty batch carries the rejects.
	mem := newMem(t)
	r := NewReader(strings.NewReader("x\ny\n"), schemaOf("a:int"), ReadOptions{CollectRejects: true, Alloc: mem})
	rec, err := r.Next()
	if err != nil || rec.NumRows() != 0 || len(r.Rejects()) != 2 {
		t.Fatalf("rec %v err %v rejects %v", rec, err, r.Rejects())
	}
	rec.Release()
	if _, err := r.Next(); err != io.EOF || r.Rejects() != nil {
		t.Fatalf("second Next: %v %v", err, r.Rejects())
	}
	r.Close()
}

// TestLongRow: an unclosed quote in a long input stops at maxRow instead of
// reading everything.
func TestLongRow(t *testing.T) {
	setChunking(t, 64, 1024)
	// Longer than the first read of 64 KiB, so that the splitter sees it.
	in := "a,b\n1,\"oops\n" + strings.Repeat("2,ok\n", 30000)
	_, _, err := runRead(t, in, schemaOf("a:int,b:string"), ReadOptions{Header: true, Path: "l.csv"})
	want := "l.csv:2: column 'b': row or quoted field longer than 1024 bytes (unclosed quote?)"
	if err == nil || err.Error() != want {
		t.Fatalf("err %v\nwant %s", err, want)
	}
	// A long but valid row grows the buffer.
	long := strings.Repeat("x", 900)
	rows, _, err := runRead(t, "a,b\n1,\""+long+"\"\n2,y\n", schemaOf("a:int,b:string"), ReadOptions{Header: true})
	if err != nil || len(rows) != 2 || rows[0] != "1|"+long {
		t.Fatalf("long row: %v %d", err, len(rows))
	}
}

func TestCloseEarlyAndCancel(t *testing.T) {
	setChunking(t, 4096, 0)
	data := genOrders(20000, 5)
	before := runtime.NumGoroutine()
	for _, stopAfter := range []int{0, 1, 3} {
		mem := newMem(t)
		r := NewReader(bytes.NewReader(data), ordersSchema, ReadOptions{Header: true, BatchRows: 500, Workers: 3, Alloc: mem})
		for i := 0; i < stopAfter; i++ {
			rec, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			rec.Release()
		}
		time.Sleep(5 * time.Millisecond) // let the pipeline fill up
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Next(); err != ErrClosed {
			t.Fatalf("Next after Close: %v", err)
		}
	}
	// Cancellation.
	mem := newMem(t)
	ctx, cancel := context.WithCancel(context.Background())
	r := NewReaderContext(ctx, bytes.NewReader(data), ordersSchema, ReadOptions{Header: true, BatchRows: 500, Alloc: mem})
	rec, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	rec.Release()
	cancel()
	for i := 0; ; i++ {
		rec, err := r.Next()
		if err != nil {
			if err != context.Canceled {
				t.Fatalf("err %v", err)
			}
			break
		}
		rec.Release() // batches already parsed may still come out
		if i > 100 {
			t.Fatal("no cancellation")
		}
	}
	r.Close()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines, %d before", n, before)
	}
}

func TestSchemaErrors(t *testing.T) {
	sch := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int32}}, nil)
	r := NewReader(strings.NewReader("1\n"), sch, ReadOptions{})
	defer r.Close()
	if _, err := r.Next(); err == nil || !strings.Contains(err.Error(), "column 'x': unsupported type int32") {
		t.Fatalf("err %v", err)
	}
}

func TestReadOrdersTyped(t *testing.T) {
	setChunking(t, 32<<10, 0)
	data := genOrders(30000, 9)
	mem := newMem(t)
	r := NewReader(bytes.NewReader(data), ordersSchema, ReadOptions{Header: true, BatchRows: 1000, Alloc: mem})
	recs, _, err := readAll(t, r)
	defer releaseAll(recs)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Independent check: encoding/csv plus strconv/time.
	all, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := cellStrings(recs)
	if len(got) != len(all)-1 {
		t.Fatalf("%d rows, want %d", len(got), len(all)-1)
	}
	for i, rec := range all[1:] {
		for c, v := range rec {
			want := v
			switch c {
			case 4:
				f, _ := strconv.ParseFloat(v, 64)
				want = strconv.FormatFloat(f, 'g', -1, 64)
			case 5:
				tm, err := time.Parse("2006-01-02", v)
				if err != nil {
					t.Fatal(err)
				}
				want = tm.Format("2006-01-02")
			case 7:
				if v == "" {
					want = "<null>"
				}
			}
			if got[i][c] != want {
				t.Fatalf("row %d col %d: got %q want %q", i, c, got[i][c], want)
			}
		}
	}
}

// TestSelect reads typed orders keeping a few columns, on the block path and
// the row-at-a-time path, and compares with the full read projected.
func TestSelect(t *testing.T) {
	data := genOrders(20000, 3)
	full := func() [][]string {
		r := NewReader(bytes.NewReader(data), ordersSchema, ReadOptions{Header: true, BatchRows: 700})
		recs, _, err := readAll(t, r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		defer releaseAll(recs)
		return cellStrings(recs)
	}()
	for _, blocks := range []bool{true, false} {
		for _, sel := range [][]int{{0}, {2, 3, 4}, {1, 5, 7}, {7}, {0, 1, 2, 3, 4, 5, 6, 7}} {
			t.Run(fmt.Sprintf("blocks=%v/%v", blocks, sel), func(t *testing.T) {
				noBlocks = !blocks
				defer func() { noBlocks = false }()
				setChunking(t, 16<<10, 0)
				mem := newMem(t)
				r := NewReader(bytes.NewReader(data), ordersSchema, ReadOptions{Header: true, BatchRows: 700, Alloc: mem, Select: sel})
				recs, _, err := readAll(t, r)
				defer releaseAll(recs)
				r.Close()
				if err != nil {
					t.Fatal(err)
				}
				if r.Schema().NumFields() != len(sel) {
					t.Fatalf("schema %v", r.Schema())
				}
				for i, c := range sel {
					if r.Schema().Field(i).Name != ordersSchema.Field(c).Name {
						t.Fatalf("field %d is %s, want %s", i, r.Schema().Field(i).Name, ordersSchema.Field(c).Name)
					}
				}
				got := cellStrings(recs)
				if len(got) != len(full) {
					t.Fatalf("%d rows, want %d", len(got), len(full))
				}
				for i := range full {
					for j, c := range sel {
						if got[i][j] != full[i][c] {
							t.Fatalf("row %d column %d: got %q want %q", i, c, got[i][j], full[i][c])
						}
					}
				}
			})
		}
	}
}

// TestSelectErrors: a value that does not convert in a column left out is
// not read, so not an error; structural problems still are, with the line.
func TestSelectErrors(t *testing.T) {
	sch := schemaOf("a:int,b:int,c:string")
	read := func(in string, sel []int) ([][]string, error) {
		r := NewReader(strings.NewReader(in), sch, ReadOptions{Header: true, Select: sel})
		defer r.Close()
		recs, _, err := readAll(t, r)
		defer releaseAll(recs)
		return cellStrings(recs), err
	}
	got, err := read("a,b,c\n1,x,\"q\"\n2,3,r\n", []int{0, 2})
	if err != nil || !reflect.DeepEqual(rowsOf(got), []string{"1|q", "2|r"}) {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := read("a,b,c\n1,x,q\n", []int{1}); err == nil || !strings.Contains(err.Error(), "line 2: column 'b': cannot parse \"x\" as int64") {
		t.Fatalf("selected bad int: %v", err)
	}
	if _, err := read("a,b,c\n1,2,q\n3,4\n", []int{0}); err == nil || !strings.Contains(err.Error(), "line 3: row has 2 fields, header has 3") {
		t.Fatalf("ragged row: %v", err)
	}
	if _, err := read("a,b,c\n1,2,\"q\n", []int{0}); err == nil || !strings.Contains(err.Error(), "quote") {
		t.Fatalf("unclosed quote: %v", err)
	}
	r := NewReader(strings.NewReader("a,b,c\n1,x,3\n4,5,6\n"), sch, ReadOptions{Header: true, Select: []int{}})
	recs, _, err := readAll(t, r)
	r.Close()
	if err != nil || len(recs) != 1 || recs[0].NumRows() != 2 || recs[0].NumCols() != 0 {
		t.Fatalf("empty Select: %v, %v", recs, err)
	}
	releaseAll(recs)
	for _, sel := range [][]int{{1, 0}, {3}, {-1}, {1, 1}} {
		if _, err := read("a,b,c\n1,2,3\n", sel); err == nil || !strings.Contains(err.Error(), "Select") {
			t.Fatalf("Select %v: %v", sel, err)
		}
	}
}
