package csvio_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/csvio"
)

// Awkward values, by family: a column draws from one family (so that it is
// sometimes typed) and now and then from any (so that it is sometimes not).
var awkward = map[string][]string{
	"int":       {"0", "1", "-7", "42", "9223372036854775807", "-9223372036854775808"},
	"zip":       {"00501", "007", "0", "10001", "+34", "-0", "-01"},
	"bigint":    {"99999999999999999999", "18446744073709551616", "-99999999999999999999", "12"},
	"decimal2":  {"12.50", "-3.10", "0.00", "1000.99", "0.05", "-0.00"},
	"float":     {"1.5", "0.25", "-2", "1e+21", "NaN", "Inf", "-Inf", "5e-324", "0.1", "123456.789"},
	"floatrepr": {"1977.0", "915.1", "71.76", "1e-05", "nan", "inf", "-inf", "1.5e+16", "0.0", "-0.0"},
	"floatodd":  {"1e5", "1.0", ".5", "00.5", "+1.5", "inf", "nan", "1E5", "5.", "0x1p-2"},
	"bool":      {"true", "false", "TRUE", "FALSE", "True", "False", "yes", "1", "0"},
	"date":      {"2025-01-31", "1999-12-31", "0001-01-01", "9999-12-31", "2024-02-29", "2024-02-30", "2025-1-5"},
	"ts": {"2025-01-31T10:00:00", "2025-01-31 10:00:00", "2025-01-31T10:00", "2025-01-31 23:59",
		"2025-01-31T10:00:00Z", "2025-01-31T10:00:00.5Z", "2025-01-31T10:00:00.123456Z", "2025-01-31T10:00:00.120Z",
		"2025-01-31T10:00:00+02:00", "2025-06-30T22:30:00-05:30", "2025-01-31T10:00:00+0200", "2025-01-31T10:00:00.000000000Z"},
	"text": {"", "a", " padded ", "with,comma", "with \"quote\"", "line\nbreak", "crlf\r\nend", "日本語", "NA", "null", "'single'", "tab\there"},
}

var families = []string{"int", "zip", "bigint", "decimal2", "float", "floatrepr", "floatodd", "bool", "date", "ts", "text"}

// quoteField writes v as a CSV field, quoted when it must be or at random.
func quoteField(rng *rand.Rand, v string) string {
	if v == "" && rng.Intn(3) == 0 {
		return `""`
	}
	if strings.ContainsAny(v, ",\"\r\n") || rng.Intn(5) == 0 {
		return `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
	}
	return v
}

// genAwkward writes a CSV file of awkward values; it returns the file.
func genAwkward(rng *rand.Rand) []byte {
	ncols := 1 + rng.Intn(6)
	nrows := 1 + rng.Intn(30)
	fams := make([]string, ncols)
	var b strings.Builder
	for c := range ncols {
		fams[c] = families[rng.Intn(len(families))]
		if c > 0 {
			b.WriteByte(',')
		}
		b.WriteString("c" + strconv.Itoa(c))
	}
	b.WriteByte('\n')
	for range nrows {
		for c := range ncols {
			if c > 0 {
				b.WriteByte(',')
			}
			fam := fams[c]
			switch r := rng.Intn(20); {
			case r == 0:
				fam = families[rng.Intn(len(families))]
			case r == 1:
				continue // null
			}
			vals := awkward[fam]
			// Mostly the first few values of the family, so that columns
			// are often of one form.
			n := len(vals)
			if rng.Intn(3) > 0 {
				n = min(n, 2)
			}
			b.WriteString(quoteField(rng, vals[rng.Intn(n)]))
		}
		if ncols == 1 && strings.HasSuffix(b.String(), "\n") {
			// A single-column null would be an empty line, which readers
			// skip: write the empty string instead.
			b.WriteString(`""`)
		}
		if rng.Intn(10) == 0 {
			b.WriteString("\r\n")
		} else {
			b.WriteByte('\n')
		}
	}
	return []byte(b.String())
}

// copyCSV runs CSVOrigin → CSVDestination and returns the error and the
// inferred schema of the origin.
func copyCSV(t *testing.T, in, out string, sample int) (*arrow.Schema, error) {
	t.Helper()
	var schema *arrow.Schema
	reader := openstage.New("reader", func(o *csvio.CSVOrigin) { o.Path = openstage.Strings{in}; o.SampleRows = sample })
	probe := openstage.New("probe", func(p *schemaProbe) { p.got = &schema })
	writer := csvio.NewCSVDestination("writer", out)
	reader.AddOutputPipe(openstage.NewPipe("a")).SetDestination(probe).
		AddOutputPipe(openstage.NewPipe("b")).SetDestination(writer)
	return schema, openstage.NewJob("copy", reader).Run(context.Background())
}

// schemaProbe is a pass-through node that records its input schema.
type schemaProbe struct{ got **arrow.Schema }

func (p *schemaProbe) Plan(_ context.Context, pl *openstage.Plan) error {
	*p.got = pl.InputSchema()
	pl.SetOutputs(pl.InputSchema())
	return nil
}

func (p *schemaProbe) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	return in.ForEach(ctx, func(dp openstage.DataPackage) error { return out.Send(ctx, dp.Batch) })
}

// fieldTexts reads path with every column a string and nothing null: the
// unquoted text of every field.
func fieldTexts(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names, err := csvio.ReadHeader(f, csvio.ReadOptions{Header: true})
	if err != nil {
		t.Fatal(err)
	}
	fields := make([]arrow.Field, len(names))
	for i, n := range names {
		fields[i] = arrow.Field{Name: n, Type: arrow.BinaryTypes.String, Nullable: true}
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	r := csvio.NewReader(f, arrow.NewSchema(fields, nil), csvio.ReadOptions{Header: true, NullValues: []string{}})
	defer r.Close()
	var rows [][]string
	for {
		rec, err := r.Next()
		if err != nil {
			break
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]string, rec.NumCols())
			for c := range row {
				row[c] = rec.Column(c).(*array.String).Value(i)
			}
			rows = append(rows, row)
		}
		rec.Release()
	}
	return append([][]string{names}, rows...)
}

// TestCopyKeepsText is the property of inference: a CSV→CSV copy of any
// file the reader accepts writes every value's text back unchanged when
// inference saw every row, and the same values (as the column's type reads
// them) when it saw only some; a copy that fails, fails on a value after
// the sample, with the options that fix it.
func TestCopyKeepsText(t *testing.T) {
	rng := rand.New(rand.NewSource(13))
	dir := t.TempDir()
	failed := 0
	for i := range 200 {
		data := genAwkward(rng)
		in := filepath.Join(dir, fmt.Sprintf("in%d.csv", i))
		out := filepath.Join(dir, fmt.Sprintf("out%d.csv", i))
		if err := os.WriteFile(in, data, 0o644); err != nil {
			t.Fatal(err)
		}
		sample := 0 // every row
		if i%3 == 2 {
			sample = 1 + rng.Intn(5)
		}
		schema, err := copyCSV(t, in, out, sample)
		if err != nil {
			var pe *csvio.ParseError
			if sample == 0 || !errors.As(err, &pe) || !pe.Conversion || !strings.Contains(err.Error(), "sample_rows") {
				t.Fatalf("copy %d (sample %d) failed: %v\ninput:\n%s", i, sample, err, data)
			}
			failed++
			continue
		}
		want, got := fieldTexts(t, in), fieldTexts(t, out)
		if len(want) != len(got) {
			t.Fatalf("copy %d: %d rows, want %d\ninput:\n%s\noutput:\n%s", i, len(got), len(want), data, readFile(t, out))
		}
		for r := range want {
			for c := range want[r] {
				w, g := want[r][c], got[r][c]
				if w == g {
					continue
				}
				if sample > 0 && r > sample && sameValue(schema.Field(c).Type, w, g) {
					continue
				}
				t.Fatalf("copy %d (sample %d): row %d column %s (%s): wrote %q, read %q\ninput:\n%s\noutput:\n%s",
					i, sample, r, schema.Field(c).Name, schema.Field(c).Type, g, w, data, readFile(t, out))
			}
		}
	}
	if failed == 0 || failed > 40 {
		t.Fatalf("%d copies failed on values after the sample; the generator should make a few", failed)
	}
}

// sameValue reports whether a and b read as the same value of type typ.
func sameValue(typ arrow.DataType, a, b string) bool {
	s := arrow.NewSchema([]arrow.Field{{Name: "v", Type: typ, Nullable: true}}, nil)
	read := func(v string) string {
		r := csvio.NewReader(strings.NewReader("v\n"+quoteAlways(v)+"\n"), s, csvio.ReadOptions{Header: true})
		defer r.Close()
		rec, err := r.Next()
		if err != nil {
			return "error: " + err.Error()
		}
		defer rec.Release()
		return rec.Column(0).ValueStr(0)
	}
	return read(a) == read(b)
}

func quoteAlways(v string) string { return `"` + strings.ReplaceAll(v, `"`, `""`) + `"` }

func readFile(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
