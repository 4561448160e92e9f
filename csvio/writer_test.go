package csvio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestInferSchema(t *testing.T) {
	cases := []struct {
		name      string
		in        string
		opts      ReadOptions
		sample    int
		overrides map[string]arrow.DataType
		want      string // "name:type,..." as arrow prints types
		err       string
	}{
		{name: "basic", in: "i,f,b,d,t,s,n\n1,1.5,true,2024-01-02,2024-01-02T03:04:05Z,x,\n-2,3,false,1999-12-31,2024-01-02T03:04:05.123Z,y,\n",
			opts: ReadOptions{Header: true},
			want: "i:int64,f:float64,b:bool,d:date32,t:timestamp[us, tz=UTC],s:utf8,n:utf8"},
		{name: "ints then float", in: "a\n1\n2\n2.5\n", opts: ReadOptions{Header: true}, want: "a:float64"},
		{name: "float forms", in: "a\n1e+21\nNaN\n-Inf\n", opts: ReadOptions{Header: true}, want: "a:float64"},
		// Text that a float64 would not write back the same stays a string.
		{name: "float not shortest", in: "a\n1e5\nNaN\n", opts: ReadOptions{Header: true}, want: "a:utf8"},
		{name: "fixed decimals", in: "a\n12.50\n-3.10\n0.00\n", opts: ReadOptions{Header: true}, want: "a:float64"},
		{name: "mixed decimals", in: "a\n12.50\n3.1\n", opts: ReadOptions{Header: true}, want: "a:utf8"},
		{name: "decimal leading zero", in: "a\n0.5\n00.5\n", opts: ReadOptions{Header: true}, want: "a:utf8"},
		{name: "zero and decimals", in: "a\n0\n0.5\n-0.25\n", opts: ReadOptions{Header: true}, want: "a:float64"},
		{name: "overflow int is string", in: "a\n1\n99999999999999999999\n", opts: ReadOptions{Header: true}, want: "a:utf8"},
		{name: "overflow with float is string", in: "a\n1.5\n99999999999999999999\n", opts: ReadOptions{Header: true}, want: "a:utf8"},
		{name: "leading zeros are strings", in: "zip\n00501\n10001\n", opts: ReadOptions{Header: true}, want: "zip:utf8"},
		{name: "zero is an int", in: "a\n0\n10\n-7\n", opts: ReadOptions{Header: true}, want: "a:int64"},
		{name: "plus sign is a string", in: "a\n+34\n", opts: ReadOptions{Header: true}, want: "a:utf8"},
		{name: "minus zero is not an int", in: "a\n-0\n", opts: ReadOptions{Header: true}, want: "a:utf8"},
		{name: "bool spellings", in: "a,b,c\nTRUE,True,true\nFALSE,False,false\n", opts: ReadOptions{Header: true}, want: "a:bool,b:bool,c:bool"},
		{name: "bool mixed case", in: "a\ntrue\nFALSE\n", opts: ReadOptions{Header: true}, want: "a:utf8"},
		{name: "timestamps space no seconds", in: "a\n2024-01-01 10:00\n2024-01-02 23:59\n", opts: ReadOptions{Header: true}, want: "a:timestamp[us, tz=UTC]"},
		{name: "timestamps same offset", in: "a\n2024-01-01T10:00:00+02:00\n2024-06-01T10:00:00.5+02:00\n", opts: ReadOptions{Header: true}, want: "a:timestamp[us, tz=UTC]"},
		{name: "timestamps offsets differ", in: "a\n2024-01-01T10:00:00+01:00\n2024-06-01T10:00:00+02:00\n", opts: ReadOptions{Header: true}, want: "a:utf8"},
		{name: "timestamps separators differ", in: "a\n2024-01-01T10:00:00\n2024-06-01 10:00:00\n", opts: ReadOptions{Header: true}, want: "a:utf8"},
		{name: "timestamps fractions untrimmed differ", in: "a\n2024-01-01T10:00:00.50\n2024-06-01T10:00:00.125\n", opts: ReadOptions{Header: true}, want: "a:utf8"},
		{name: "bool 0/1 is int", in: "a\n0\n1\n", opts: ReadOptions{Header: true}, want: "a:int64"},
		{name: "dates and timestamps", in: "a\n2024-01-01\n2024-01-01T10:00:00\n", opts: ReadOptions{Header: true}, want: "a:utf8"},
		{name: "bad date is string", in: "a\n2024-02-30\n", opts: ReadOptions{Header: true}, want: "a:utf8"},
		{name: "nulls ignored", in: "a,b\n,NA\n5,\"\"\n", opts: ReadOptions{Header: true, NullValues: []string{"", "NA"}}, want: "a:int64,b:utf8"},
		{name: "spaces are strings", in: "a\n 1\n", opts: ReadOptions{Header: true}, want: "a:utf8"},
		{name: "sample limit", in: "a\n1\n2\nx\n", opts: ReadOptions{Header: true}, sample: 2, want: "a:int64"},
		{name: "sample all", in: "a\n1\n2\nx\n", opts: ReadOptions{Header: true}, sample: 0, want: "a:utf8"},
		{name: "no header", in: "1,x\n2,y\n", want: "column_1:int64,column_2:utf8"},
		{name: "no header sample 1", in: "1,x\nz,y\n", sample: 1, want: "column_1:int64,column_2:utf8"},
		{name: "quoted numbers", in: "a\n\"1\"\n\"2\"\n", opts: ReadOptions{Header: true}, want: "a:int64"},
		{name: "overrides", in: "a,b\n1,2\n", opts: ReadOptions{Header: true},
			overrides: map[string]arrow.DataType{"a": arrow.BinaryTypes.String, "b": arrow.PrimitiveTypes.Float64}, want: "a:utf8,b:float64"},
		{name: "unknown override", in: "a\n1\n", opts: ReadOptions{Header: true, Path: "o.csv"},
			overrides: map[string]arrow.DataType{"c": arrow.BinaryTypes.String}, err: "o.csv: type override for unknown column 'c'"},
		{name: "ragged", in: "a,b\n1,2\n3\n", opts: ReadOptions{Header: true, Path: "r.csv"}, err: "r.csv:3: row has 1 fields, header has 2"},
		{name: "empty", in: "", opts: ReadOptions{Header: true, Path: "e.csv"}, err: "e.csv: empty file (expected a header row)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sample := tc.sample
			if sample == 0 && tc.name != "sample all" {
				sample = 100
			}
			s, err := InferSchema(strings.NewReader(tc.in), tc.opts, sample, tc.overrides)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, f := range s.Fields() {
				parts = append(parts, f.Name+":"+f.Type.String())
			}
			if got := strings.Join(parts, ","); got != tc.want {
				t.Fatalf("got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// buildRecord builds a one-column-per-value batch from Go values (nil =
// null).
func buildRecord(t testing.TB, mem memory.Allocator, schema *arrow.Schema, rows [][]any) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for _, row := range rows {
		for c, v := range row {
			fb := b.Field(c)
			if v == nil {
				fb.AppendNull()
				continue
			}
			switch fb := fb.(type) {
			case *array.Int64Builder:
				fb.Append(v.(int64))
			case *array.Float64Builder:
				fb.Append(v.(float64))
			case *array.BooleanBuilder:
				fb.Append(v.(bool))
			case *array.StringBuilder:
				fb.Append(v.(string))
			case *array.Date32Builder:
				fb.Append(arrow.Date32(v.(int32)))
			case *array.TimestampBuilder:
				fb.Append(arrow.Timestamp(v.(int64)))
			default:
				t.Fatalf("builder %T", fb)
			}
		}
	}
	return b.NewRecordBatch()
}

var point1, point2 = 0.1, 0.2 // variables: constant arithmetic would be exact

func TestWriterFormatting(t *testing.T) {
	schema := schemaOf("i:int,f:float,b:bool,s:string,d:date,t:ts")
	rows := [][]any{
		{int64(1), 1234.5, true, "plain", int32(0), int64(0)},
		{int64(-9223372036854775808), 0.01, false, "", int32(19723), int64(1704164645123456)},
		{nil, nil, nil, nil, nil, nil},
		{int64(9223372036854775807), math.NaN(), true, "a,b", int32(-719528), int64(-1)},
		{int64(0), math.Inf(1), true, "say \"hi\"", int32(2932896), int64(1)},
		{int64(0), math.Inf(-1), true, "two\nlines", nil, nil},
		{int64(0), math.Copysign(0, -1), true, "cr\r", nil, nil},
		{int64(0), 1e21, true, " spaced ", nil, nil},
		{int64(0), 123456789012345678.0, true, "é\"", nil, nil},
		{int64(0), 5e-324, true, "x", nil, nil},
		{int64(0), 1e-7, true, "x", nil, nil},
		{int64(0), point1 + point2, true, "x", nil, nil},
		{int64(0), -2.5, true, "x", nil, nil},
	}
	want := "i,f,b,s,d,t\n" +
		"1,1234.5,true,plain,1970-01-01,1970-01-01T00:00:00Z\n" +
		"-9223372036854775808,0.01,false,\"\",2024-01-01,2024-01-02T03:04:05.123456Z\n" +
		",,,,,\n" +
		"9223372036854775807,NaN,true,\"a,b\",0000-01-01,1969-12-31T23:59:59.999999Z\n" +
		"0,Inf,true,\"say \"\"hi\"\"\",9999-12-31,1970-01-01T00:00:00.000001Z\n" +
		"0,-Inf,true,\"two\nlines\",,\n" +
		"0,-0,true,\"cr\r\",,\n" +
		"0,1e+21,true, spaced ,,\n" +
		"0,123456789012345680,true,\"é\"\"\",,\n" +
		"0,5e-324,true,x,,\n" +
		"0,0.0000001,true,x,,\n" +
		"0,0.30000000000000004,true,x,,\n" +
		"0,-2.5,true,x,,\n"
	mem := newMem(t)
	rec := buildRecord(t, mem, schema, rows)
	defer rec.Release()
	for _, workers := range []int{1, 4} {
		var out bytes.Buffer
		w := NewWriter(&out, schema, WriteOptions{Header: true, Workers: workers})
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Fatalf("workers=%d:\n got %q\nwant %q", workers, out.String(), want)
		}
		if w.Rows() != int64(len(rows)) {
			t.Fatalf("Rows() = %d", w.Rows())
		}
	}
	// Semicolon delimiter: quoting follows it.
	var out bytes.Buffer
	w := NewWriter(&out, schemaOf("s:string,t:string"), WriteOptions{Delimiter: ';', Header: true})
	r2 := buildRecord(t, mem, schemaOf("s:string,t:string"), [][]any{{"a,b", "c;d"}})
	defer r2.Release()
	w.Write(r2)
	if err := w.Close(); err != nil || out.String() != "s;t\na,b;\"c;d\"\n" {
		t.Fatalf("got %q %v", out.String(), err)
	}
	// Header only.
	out.Reset()
	w = NewWriter(&out, schemaOf("a b,\"c\""), WriteOptions{Header: true})
	if err := w.Close(); err != nil || out.String() != "a b,\"\"\"c\"\"\"\n" || w.Rows() != 0 {
		t.Fatalf("got %q %v", out.String(), err)
	}
}

func TestWriterErrors(t *testing.T) {
	mem := newMem(t)
	// Unsupported type: reported by Write and Close.
	sch := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int32}}, nil)
	w := NewWriter(io.Discard, sch, WriteOptions{})
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "unsupported type int32") {
		t.Fatalf("err %v", err)
	}
	// Mismatched batch.
	w = NewWriter(io.Discard, schemaOf("a:int"), WriteOptions{})
	rec := buildRecord(t, mem, schemaOf("a:string"), [][]any{{"x"}})
	defer rec.Release()
	if err := w.Write(rec); err == nil || !strings.Contains(err.Error(), "column 'a': batch type utf8, schema type int64") {
		t.Fatalf("err %v", err)
	}
	w.Close()
	// Date out of range: surfaces on a later Write or Close.
	w = NewWriter(io.Discard, schemaOf("d:date"), WriteOptions{})
	bad := buildRecord(t, mem, schemaOf("d:date"), [][]any{{int32(1)}, {int32(2932897)}})
	defer bad.Release()
	w.Write(bad)
	if err := w.Close(); err == nil || err.Error() != "csvio: column 'd': row 1: date outside the years 0000-9999" {
		t.Fatalf("err %v", err)
	}
	if err := w.Write(bad); err != ErrClosed {
		t.Fatalf("write after close: %v", err)
	}
	// io.Writer error.
	w = NewWriter(failWriter{}, schemaOf("a:int"), WriteOptions{})
	ok := buildRecord(t, mem, schemaOf("a:int"), [][]any{{int64(1)}})
	defer ok.Release()
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = w.Write(ok)
	}
	if err2 := w.Close(); !errors.Is(err2, errFail) || (err != nil && !errors.Is(err, errFail)) {
		t.Fatalf("close %v write %v", err2, err)
	}
}

var errFail = errors.New("disk full")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errFail }

// randString returns strings full of CSV trouble.
func randString(rng *rand.Rand) string {
	pieces := []string{"a", "Z", ",", ";", "\"", "\"\"", "\n", "\r", "\r\n", " ", "\t", "é", "日本", "🙂", "NA", "0", "-"}
	var b strings.Builder
	for k := rng.Intn(6); k > 0; k-- {
		b.WriteString(pieces[rng.Intn(len(pieces))])
	}
	return b.String()
}

func randFloat(rng *rand.Rand) float64 {
	switch rng.Intn(10) {
	case 0:
		return []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.MaxFloat64, -math.MaxFloat64,
			math.SmallestNonzeroFloat64, 1e21, 1e-7, 9.999999999999999e20, 1e-300, 2.2250738585072014e-308}[rng.Intn(12)]
	case 1:
		return math.Float64frombits(rng.Uint64())
	case 2, 3:
		return float64(rng.Intn(2000000)-1000000) / 100
	case 4:
		return rng.NormFloat64() * math.Pow(10, float64(rng.Intn(40)-20))
	}
	return rng.Float64() * 1000
}

func randInt(rng *rand.Rand) int64 {
	switch rng.Intn(4) {
	case 0:
		return []int64{0, -1, math.MaxInt64, math.MinInt64, 1e18, -1e18}[rng.Intn(6)]
	case 1:
		return int64(rng.Uint64())
	}
	return rng.Int63n(2000000) - 1000000
}

// TestRoundTrip writes random batches and reads them back: every value
// must come back identical (floats bit for bit, NaN as NaN).
func TestRoundTrip(t *testing.T) {
	schema := schemaOf("i:int,f:float,b:bool,s:string,d:date,t:ts,s2:string")
	rng := rand.New(rand.NewSource(11))
	mem := newMem(t)
	for iter := 0; iter < 30; iter++ {
		nrows := rng.Intn(400)
		var rows [][]any
		for r := 0; r < nrows; r++ {
			row := []any{randInt(rng), randFloat(rng), rng.Intn(2) == 0, randString(rng),
				int32(rng.Intn(2932897+719528) - 719528), rng.Int63n(253402300800000000+62167219200000000) - 62167219200000000, randString(rng)}
			for c := range row {
				if rng.Intn(8) == 0 {
					row[c] = nil
				}
			}
			rows = append(rows, row)
		}
		var recs []arrow.RecordBatch
		for lo := 0; lo < len(rows); {
			hi := min(len(rows), lo+rng.Intn(100)+1)
			recs = append(recs, buildRecord(t, mem, schema, rows[lo:hi]))
			lo = hi
		}
		var out bytes.Buffer
		w := NewWriter(&out, schema, WriteOptions{Header: true, Workers: 1 + rng.Intn(3), BufferSize: 1 + rng.Intn(4096)})
		for _, rec := range recs {
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
			rec.Release()
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if chunk := rng.Intn(3); chunk > 0 {
			setChunking(t, rng.Intn(500)+1, 0)
		} else {
			setChunking(t, 0, 0)
		}
		r := NewReader(bytes.NewReader(out.Bytes()), schema, ReadOptions{Header: true, BatchRows: rng.Intn(50) + 1, Workers: rng.Intn(4), Alloc: mem})
		got, _, err := readAll(t, r)
		r.Close()
		if err != nil {
			t.Fatalf("iter %d: %v\n%q", iter, err, out.String())
		}
		var gotRows [][]any
		for _, rec := range got {
			for i := 0; i < int(rec.NumRows()); i++ {
				row := make([]any, rec.NumCols())
				for c := range row {
					col := rec.Column(c)
					if col.IsNull(i) {
						continue
					}
					switch col := col.(type) {
					case *array.Int64:
						row[c] = col.Value(i)
					case *array.Float64:
						row[c] = col.Value(i)
					case *array.Boolean:
						row[c] = col.Value(i)
					case *array.String:
						row[c] = col.Value(i)
					case *array.Date32:
						row[c] = int32(col.Value(i))
					case *array.Timestamp:
						row[c] = int64(col.Value(i))
					}
				}
				gotRows = append(gotRows, row)
			}
		}
		releaseAll(got)
		if len(gotRows) != len(rows) {
			t.Fatalf("iter %d: %d rows back, wrote %d", iter, len(gotRows), len(rows))
		}
		for i := range rows {
			for c := range rows[i] {
				a, b := rows[i][c], gotRows[i][c]
				if fa, ok := a.(float64); ok {
					if fb, ok := b.(float64); ok && (math.Float64bits(fa) == math.Float64bits(fb) || fa != fa && fb != fb) {
						continue
					}
				} else if a == b {
					continue
				}
				t.Fatalf("iter %d row %d col %d: wrote %#v read %#v", iter, i, c, a, b)
			}
		}
	}
}

// TestFloatParseMatchesStrconv checks the fast float path against strconv
// on random decimal strings.
func TestFloatParseMatchesStrconv(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + rng.Intn(10))
		}
		return string(b)
	}
	for i := 0; i < 300000; i++ {
		var s string
		switch rng.Intn(6) {
		case 0:
			s = digits(rng.Intn(20)) + "." + digits(rng.Intn(25))
		case 1:
			s = "-" + digits(1+rng.Intn(17))
		case 2:
			s = digits(rng.Intn(8)) + "." + digits(rng.Intn(4))
		case 3:
			s = strconv.FormatFloat(randFloat(rng), 'f', -1, 64)
		case 4:
			s = strconv.FormatFloat(randFloat(rng), 'g', rng.Intn(20), 64)
		case 5:
			s = "+" + digits(rng.Intn(3)) + "." + digits(rng.Intn(3))
		}
		want, werr := strconv.ParseFloat(s, 64)
		got, ok := parseFloat64([]byte(s))
		if ok != (werr == nil) || ok && math.Float64bits(got) != math.Float64bits(want) && !(got != got && want != want) {
			t.Fatalf("%q: got %v %v, strconv %v %v", s, got, ok, want, werr)
		}
		// The fused path must agree where it applies.
		buf := []byte(s + ",")
		if v, next, ok := fastFloat(buf, 0, ',', false); ok {
			if werr != nil || math.Float64bits(v) != math.Float64bits(want) || next != len(buf) {
				t.Fatalf("fast %q: got %v, strconv %v %v", s, v, want, werr)
			}
		}
		if v, _, ok := fastInt(buf, 0, ',', false); ok {
			if w, err := strconv.ParseInt(s, 10, 64); err != nil || w != v {
				t.Fatalf("fastInt %q: got %v, strconv %v %v", s, v, w, err)
			}
		}
	}
}

// TestAppendFloatShortest checks the writer's float formatting: it must
// read back exactly and be as short as strconv's shortest form.
func TestAppendFloatShortest(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	n := 2000000
	if testing.Short() {
		n = 200000
	}
	for i := 0; i < n; i++ {
		v := randFloat(rng)
		switch i % 9 {
		case 0:
			v = float64(rng.Int63n(1e15)-5e14) / 100
		case 1: // up to four decimals, near the fast path's 1e11 bound too
			v = float64(rng.Int63n(2e15)-1e15) / 1e4
		case 2: // products of two-decimal values, as W7's amount * 1.21
			v = float64(rng.Int63n(2e7)-1e7) / 100 * []float64{1.21, 0.19, 3.3, 1e-4}[i/9%4]
		case 3:
			v = float64(rng.Int63n(1e5)) / 1e4
		case 4: // next to a short decimal: the fast paths must not take these
			d := float64(rng.Int63n(2e9)-1e9) / []float64{100, 1e4, 1e3, 10}[i/9%4]
			v = math.Nextafter(d, []float64{math.Inf(1), math.Inf(-1)}[i/36%2])
		case 5: // near the bounds of the fast paths: 1e-2, 1e11, 1e13
			b := []float64{1e-2, 1e11, 1e13, 1e-7, 1e21}[i/9%5]
			v = b * (1 + float64(rng.Intn(2001)-1000)*1e-15)
			if i/45%2 == 0 {
				v = -v
			}
		}
		checkAppendFloat(t, v)
	}
}

// TestAppendFloatW7Domain checks every value of the peer benchmark's amount
// column (0.01 to 20000.00 in cents) and amount * 1.21, W7's derived column,
// against strconv.
func TestAppendFloatW7Domain(t *testing.T) {
	step := 1
	if testing.Short() {
		step = 97
	}
	for c := 1; c <= 2000000; c += step {
		a := float64(c) / 100
		checkAppendFloat(t, a)
		checkAppendFloat(t, a*1.21)
		checkAppendFloat(t, -a*1.21)
	}
}

// checkAppendFloat fails when appendFloat(v) does not read back as v or,
// in the plain range, differs from strconv's shortest 'f' formatting.
func checkAppendFloat(t *testing.T, v float64) {
	t.Helper()
	got := string(appendFloat(nil, v))
	if v != v {
		if got != "NaN" {
			t.Fatalf("NaN: %q", got)
		}
		return
	}
	back, err := strconv.ParseFloat(got, 64)
	if err != nil || math.Float64bits(back) != math.Float64bits(v) {
		t.Fatalf("%v: wrote %q, read %v %v", v, got, back, err)
	}
	a := math.Abs(v)
	if !math.IsInf(v, 0) && (a == 0 || a >= 1e-7 && a < 1e21) {
		if want := strconv.FormatFloat(v, 'f', -1, 64); got != want {
			t.Fatalf("%v: got %q, strconv 'f' %q", v, got, want)
		}
	}
}

func TestDateConversions(t *testing.T) {
	for days := int64(-719528); days <= 2932896; days += 1 + (days%7+7)%7 {
		b, ok := appendDate(nil, days)
		if !ok {
			t.Fatalf("%d", days)
		}
		got, ok := parseDate32(b)
		if !ok || int64(got) != days {
			t.Fatalf("%d -> %s -> %d %v", days, b, got, ok)
		}
		if days > -1000 && days < 1000 {
			want := fmt.Sprint(arrow.Date32(days).FormattedString())
			if string(b) != want {
				t.Fatalf("%d: %s, arrow %s", days, b, want)
			}
		}
	}
	for _, s := range []string{"2023-02-29", "2024-13-01", "2024-00-10", "2024-01-00", "2024-04-31", "20a4-01-01", "2024/01/01"} {
		if _, ok := parseDate32([]byte(s)); ok {
			t.Errorf("%s accepted", s)
		}
	}
	if !utf8.ValidString("é") {
		t.Fatal()
	}
}

// TestSwarUint checks the 8-byte digit parser against strconv, including
// non-digits next to digits and garbage past the field.
func TestSwarUint(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	alphabet := "0123456789/:-+ a\x00\xff"
	for i := 0; i < 1000000; i++ {
		var b [8]byte
		for j := range b {
			if rng.Intn(4) == 0 {
				b[j] = alphabet[rng.Intn(len(alphabet))]
			} else {
				b[j] = byte('0' + rng.Intn(10))
			}
		}
		l := 1 + rng.Intn(8)
		got, ok := swarUint(binary.LittleEndian.Uint64(b[:]), l)
		want, err := strconv.ParseUint(string(b[:l]), 10, 64)
		if isDigits := err == nil && b[0] != '+'; ok != isDigits || ok && got != want {
			t.Fatalf("%q: got %d %v, want %d %v", b[:l], got, ok, want, err)
		}
	}
}

// TestSwarFloatDate checks the block path's short float and date parsers
// against the reference parsers.
func TestSwarFloatDate(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	alphabet := "0123456789.-+e"
	for i := 0; i < 1000000; i++ {
		var b [8]byte
		l := 1 + rng.Intn(8)
		for j := range b {
			if rng.Intn(5) == 0 {
				b[j] = alphabet[rng.Intn(len(alphabet))]
			} else {
				b[j] = byte('0' + rng.Intn(10))
			}
		}
		got, ok := swarFloat(binary.LittleEndian.Uint64(b[:]), l)
		want, err := strconv.ParseFloat(string(b[:l]), 64)
		if ok && (err != nil || math.Float64bits(got) != math.Float64bits(want)) {
			t.Fatalf("%q: got %v, strconv %v %v", b[:l], got, want, err)
		}
		// It may decline what strconv accepts (then the general path runs),
		// but not plain short decimals.
		if !ok && err == nil && strings.Trim(string(b[:l]), "0123456789.-") == "" && strings.Count(string(b[:l]), ".") <= 1 &&
			strings.LastIndex(string(b[:l]), "-") <= 0 && strings.Trim(string(b[:l]), ".-") != "" {
			t.Fatalf("%q declined", b[:l])
		}
	}
	for days := int64(-719528); days <= 2932896; days += 3 {
		b, _ := appendDate(nil, days)
		got, ok := swarDate(b)
		if !ok || int64(got) != days {
			t.Fatalf("%s: %d %v", b, got, ok)
		}
	}
	for i := 0; i < 200000; i++ {
		b := []byte("2024-02-29")
		b[rng.Intn(10)] = "0123456789-/a"[rng.Intn(13)]
		got, ok := swarDate(b)
		want, wok := parseDate32(b)
		if ok != wok || got != want {
			t.Fatalf("%s: %d %v, want %d %v", b, got, ok, want, wok)
		}
	}
}

// TestAppendIntMatchesStrconv compares appendInt with strconv.AppendInt at
// every power of ten and its neighbours, the extremes and random values.
func TestAppendIntMatchesStrconv(t *testing.T) {
	vals := []int64{0, 1, -1, 9, 10, 99, 100, math.MaxInt64, math.MinInt64, math.MinInt64 + 1}
	for p := int64(1); p <= 1e18; p *= 10 {
		vals = append(vals, p-1, p, p+1, -p+1, -p, -p-1)
	}
	rng := rand.New(rand.NewSource(5))
	for i := 0; i < 100000; i++ {
		vals = append(vals, rng.Int63()>>rng.Intn(63), -rng.Int63()>>rng.Intn(63))
	}
	for _, v := range vals {
		prefix := []byte("x,")
		got := appendInt(prefix, v)
		want := strconv.AppendInt([]byte("x,"), v, 10)
		if string(got) != string(want) {
			t.Fatalf("appendInt(%d) = %q, want %q", v, got, want)
		}
	}
}

// TestWriterStringsQuotedExactly writes strings of every length from 0 to
// 40 with, at every position, a byte that needs quotes (the delimiter, '"',
// LF, CR), a control byte that does not (tab) or a multi-byte character,
// under two delimiters and from a sliced array, and compares each field with
// RFC 4180 quoting done the plain way. The writer copies short strings in
// 8-byte words; this checks that it quotes exactly the strings it must.
func TestWriterStringsQuotedExactly(t *testing.T) {
	var vals []string
	for n := 0; n <= 40; n++ {
		base := strings.Repeat("abcdefghij", 5)[:n]
		vals = append(vals, base)
		for i := 0; i < n; i++ {
			for _, c := range []string{",", ";", "\"", "\n", "\r", "\t", "é"} {
				vals = append(vals, base[:i]+c+base[i+1:])
			}
		}
	}
	for _, delim := range []byte{',', ';'} {
		want := func(s string) string {
			if s == "" {
				return `""`
			}
			if strings.ContainsAny(s, string(delim)+"\"\n\r") {
				return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
			}
			return s
		}
		b := array.NewStringBuilder(memory.DefaultAllocator)
		b.Append("skipped")
		b.AppendValues(vals, nil)
		full := b.NewArray()
		arr := array.NewSlice(full, 1, int64(full.Len()))
		schema := schemaOf("s:string,k:int")
		ks := array.NewInt64Builder(memory.DefaultAllocator)
		for i := range vals {
			ks.Append(int64(i))
		}
		rec := array.NewRecordBatch(schema, []arrow.Array{arr, ks.NewArray()}, int64(len(vals)))
		var out bytes.Buffer
		w := NewWriter(&out, schema, WriteOptions{Delimiter: delim})
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		var exp strings.Builder
		for i, s := range vals {
			fmt.Fprintf(&exp, "%s%c%d\n", want(s), delim, i)
		}
		if got := out.String(); got != exp.String() {
			g, e := strings.Split(got, "\n"), strings.Split(exp.String(), "\n")
			for i := range min(len(g), len(e)) {
				if g[i] != e[i] {
					t.Fatalf("delimiter %q: line %d: got %q, want %q", delim, i+1, g[i], e[i])
				}
			}
			t.Fatalf("delimiter %q: %d lines, want %d", delim, len(g), len(e))
		}
		rec.Release()
		full.Release()
		arr.Release()
	}
}

// TestDateCache: the writer's date cache gives appendDate's text for every
// day, when two days share a slot (they differ by a multiple of its size),
// and refuses the years appendDate refuses.
func TestDateCache(t *testing.T) {
	r := rand.New(rand.NewSource(34))
	var c dateCache
	for range 200000 {
		var d int64
		switch r.Intn(4) {
		case 0: // anywhere in 0000-9999, and a little outside
			d = r.Int63n(3700000) - 760000
		case 1: // a few years: the usual file
			d = 19000 + r.Int63n(1500)
		default: // a slot shared with an earlier day
			d = 19000 + r.Int63n(1500) + 1024*(r.Int63n(9)-4)
		}
		want, wok := appendDate([]byte("x"), d)
		got, gok := c.append([]byte("x"), arrow.Date32(d))
		if wok != gok || string(got) != string(want) {
			t.Fatalf("day %d: cache gave %q %v, appendDate %q %v", d, got, gok, want, wok)
		}
	}
}
