package parquetio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
)

// The independent check of the Parquet stages: Polars (nodejs-polars, whose
// Parquet code is Rust, not arrow-go) reads the files ParquetDestination
// writes, and writes files that ParquetOrigin reads. testdata/polars holds
// the script and the locked package; .ci/run installs it with npm ci.

// polars returns the command that runs testdata/polars/check.js, or skips
// the test when node or the package is not installed.
func polars(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	dir, _ := filepath.Abs(filepath.Join("testdata", "polars"))
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed; the Parquet stages were not checked against Polars")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "nodejs-polars")); err != nil {
		t.Skip("nodejs-polars is not installed (cd parquetio/testdata/polars && npm ci); the Parquet stages were not checked against Polars")
	}
	return exec.Command("node", append([]string{filepath.Join(dir, "check.js")}, args...)...)
}

// polarsRows returns n rows of every Open-Stage type, with nulls, extremes
// and unicode.
func polarsRows(n int) [][]any {
	r := rand.New(rand.NewPCG(7, 8))
	strs := []string{"", "a", "Ünïcödé ✓", "comma, \"quote\"", "line\nbreak", "日本語"}
	ints := []int64{0, -1, math.MaxInt64, math.MinInt64, 1 << 53}
	floats := []float64{0, math.Copysign(0, -1), 1.5, -2.25e-300, 1e300, math.MaxFloat64, math.SmallestNonzeroFloat64}
	base := time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)
	rows := make([][]any, n)
	for i := range rows {
		row := make([]any, 6)
		if i%7 != 3 {
			row[0] = ints[r.IntN(len(ints))] + int64(r.IntN(1000)) - 500
			if i%11 == 0 {
				row[0] = ints[r.IntN(len(ints))]
			}
		}
		if i%5 != 1 {
			row[1] = floats[r.IntN(len(floats))]
			if i%3 == 0 {
				row[1] = r.NormFloat64() * 1e6
			}
		}
		if i%6 != 2 {
			row[2] = r.IntN(2) == 1
		}
		if i%9 != 4 {
			row[3] = strs[r.IntN(len(strs))]
		}
		if i%8 != 5 {
			row[4] = base.AddDate(0, 0, r.IntN(40000)-20000)
		}
		if i%10 != 6 {
			row[5] = base.Add(time.Duration(r.Int64N(1e18)-5e17) / 1000 * 1000)
		}
		rows[i] = row
	}
	return rows
}

// TestPolarsReadsWhatWeWrite writes every type with ParquetDestination and
// compares what Polars reads, value by value.
func TestPolarsReadsWhatWeWrite(t *testing.T) {
	schema := openstage.NewSchema("i", openstage.Int64, "f", openstage.Float64, "b", openstage.Bool,
		"s", openstage.String, "d", openstage.Date, "ts", openstage.Timestamp)
	rows := polarsRows(3000)
	for _, compression := range []string{"snappy", "zstd", "gzip", "none"} {
		t.Run(compression, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ours.parquet")
			mustWrite(t, path, schema, rows, 700, func(d *ParquetDestination) {
				d.Compression, d.RowGroupRows = compression, 1000
			})
			cmd := polars(t, "read", path)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("polars: %v\n%s", err, stderr.String())
			}
			var got struct {
				Schema map[string]string
				Rows   []map[string]*string
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			wantTypes := map[string]string{"i": "Int64", "f": "Float64", "b": "Bool", "s": "String", "d": "Date", "ts": "Datetime(us,UTC)"}
			for c, w := range wantTypes {
				if g := got.Schema[c]; g != "DataType("+w+")" && !(w == "String" && g == "DataType(Utf8)") {
					t.Errorf("column %s: Polars reads %s, want %s", c, g, w)
				}
			}
			if len(got.Rows) != len(rows) {
				t.Fatalf("Polars reads %d rows, want %d", len(got.Rows), len(rows))
			}
			for i, row := range rows {
				for c, name := range []string{"i", "f", "b", "s", "d", "ts"} {
					if msg := polarsCompare(row[c], got.Rows[i][name]); msg != "" {
						t.Fatalf("row %d column %s: %s", i, name, msg)
					}
				}
			}
		})
	}
}

// polarsCompare compares our value with Polars's text for it.
func polarsCompare(want any, got *string) string {
	if want == nil || got == nil {
		if want == nil && got == nil {
			return ""
		}
		return fmt.Sprintf("got %v, want %v", deref(got), want)
	}
	ok := false
	switch w := want.(type) {
	case int64:
		ok = *got == strconv.FormatInt(w, 10)
	case float64:
		g, err := strconv.ParseFloat(*got, 64)
		ok = err == nil && math.Float64bits(g) == math.Float64bits(w)
	case bool:
		ok = *got == strconv.FormatBool(w)
	case string:
		ok = *got == w
	case time.Time:
		if len(*got) == 10 {
			ok = *got == w.Format(time.DateOnly)
		} else {
			g, err := time.Parse("2006-01-02 15:04:05.999999999-07:00", *got)
			ok = err == nil && g.Equal(w)
		}
	}
	if ok {
		return ""
	}
	return fmt.Sprintf("got %q, want %v", *got, want)
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// TestWeReadWhatPolarsWrites has Polars write columns of the Parquet types
// Open-Stage maps (narrower ints and floats, categorical strings, dates,
// timestamps in µs with a time zone and in ms without) and compares what
// ParquetOrigin reads with the values given to Polars, after the mapping
// the package documents.
func TestWeReadWhatPolarsWrites(t *testing.T) {
	const n = 2000
	r := rand.New(rand.NewPCG(3, 4))
	type column struct {
		Name   string `json:"name"`
		Dtype  string `json:"dtype"`
		Values []any  `json:"values"`
	}
	cols := []column{
		{Name: "i32", Dtype: "Int32"}, {Name: "i64", Dtype: "Int64"}, {Name: "f32", Dtype: "Float32"},
		{Name: "f64", Dtype: "Float64"}, {Name: "b", Dtype: "Boolean"}, {Name: "s", Dtype: "Utf8"},
		{Name: "cat", Dtype: "Categorical"}, {Name: "d", Dtype: "Date"}, {Name: "ts", Dtype: "DatetimeUTC"},
		{Name: "tms", Dtype: "DatetimeMs"},
	}
	// want[i][c]: the value ParquetOrigin must read.
	want := make([][]any, n)
	for i := range want {
		want[i] = make([]any, len(cols))
	}
	for c := range cols {
		cols[c].Values = make([]any, n)
		for i := range n {
			if (i+c)%9 == 0 {
				continue // null
			}
			var v, w any
			switch cols[c].Dtype {
			case "Int32":
				x := r.Int32() - math.MaxInt32/2
				v, w = x, int64(x)
			case "Int64":
				x := r.Int64N(1<<53) - 1<<52 // exact as a JS number
				v, w = x, x
			case "Float32":
				x := float32(r.NormFloat64() * 1000)
				v, w = x, float64(x)
			case "Float64":
				x := r.NormFloat64() * 1e9
				v, w = x, x
			case "Boolean":
				x := r.IntN(2) == 1
				v, w = x, x
			case "Utf8", "Categorical":
				x := []string{"alpha", "béta", "", "γάμμα", "delta, \"d\""}[r.IntN(5)]
				v, w = x, x
			case "Date":
				x := r.IntN(60000) - 30000
				v, w = x, time.Unix(int64(x)*86400, 0).UTC()
			case "DatetimeUTC":
				x := r.Int64N(4e15) - 2e15
				v, w = x, time.UnixMicro(x).UTC()
			case "DatetimeMs":
				x := r.Int64N(4e12) - 2e12
				v, w = x, time.UnixMilli(x).UTC()
			}
			cols[c].Values[i], want[i][c] = v, w
		}
	}
	input, err := json.Marshal(cols)
	if err != nil {
		t.Fatal(err)
	}
	for _, compression := range []string{"zstd", "snappy", "uncompressed"} {
		t.Run(compression, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "polars.parquet")
			cmd := polars(t, "write", path, compression)
			cmd.Stdin = bytes.NewReader(input)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("polars: %v\n%s", err, out)
			}
			sink := mustRead(t, path)
			wantTypes := []arrow.DataType{openstage.Int64, openstage.Int64, openstage.Float64, openstage.Float64, openstage.Bool,
				openstage.String, openstage.String, openstage.Date, openstage.Timestamp, openstage.Timestamp}
			for c, f := range sink.Schema.Fields() {
				if f.Name != cols[c].Name || !arrow.TypeEqual(f.Type, wantTypes[c]) {
					t.Fatalf("column %d is %s %s, want %s %s", c, f.Name, f.Type, cols[c].Name, wantTypes[c])
				}
			}
			if len(sink.Rows) != n {
				t.Fatalf("read %d rows, want %d", len(sink.Rows), n)
			}
			for i, row := range sink.Rows {
				for c, g := range row {
					w := want[i][c]
					same := g == w
					if wt, ok := w.(time.Time); ok {
						gt, ok := g.(time.Time)
						same = ok && gt.Equal(wt)
					}
					if !same {
						t.Fatalf("row %d column %s: read %v (%T), Polars was given %v", i, cols[c].Name, g, g, w)
					}
				}
			}
		})
	}
}
