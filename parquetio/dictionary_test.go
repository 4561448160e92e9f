package parquetio

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

// dictRows returns n random orders: a low-cardinality country (with
// nulls, an empty string and non-ASCII values), a status, an age (with
// nulls) and an amount.
func dictRows(r *rand.Rand, n int) [][]any {
	countries := []any{"ES", "PT", "", "España", "日本", "Ελλάδα", nil}
	statuses := []any{"paid", "shipped", nil}
	rows := make([][]any, n)
	for i := range rows {
		var age any = int64(r.IntN(60))
		if r.IntN(10) == 0 {
			age = nil
		}
		rows[i] = []any{countries[r.IntN(len(countries))], statuses[r.IntN(len(statuses))], age, float64(r.IntN(100000)) / 100}
	}
	return rows
}

var dictSchema = openstage.NewSchema("country", openstage.String, "status", openstage.String, "age", openstage.Int64, "amount", openstage.Float64)

// dictProbe is a destination that accepts dictionary-encoded columns and
// records, decoded, the rows it receives and whether any column came
// encoded.
type dictProbe struct {
	mu      sync.Mutex
	accept  []string
	encoded map[string]bool
	rows    [][]any
}

func (p *dictProbe) Plan(context.Context, *openstage.Plan) error { return nil }

func (p *dictProbe) AcceptsDictionary(_, col string) (bool, bool) {
	return slices.Contains(p.accept, col), false
}

func (p *dictProbe) Sink(ctx context.Context, in *openstage.Inputs) error {
	return in.ForEach(ctx, func(dp openstage.DataPackage) error {
		p.mu.Lock()
		defer p.mu.Unlock()
		for i, c := range dp.Batch.Columns() {
			if openstage.IsDictionary(c) {
				p.encoded[dp.Batch.Schema().Field(i).Name] = true
			}
		}
		plain := openstage.DecodeDictionaries(memory.DefaultAllocator, dp.Batch)
		defer plain.Release()
		p.rows = append(p.rows, openstagetest.RowsOf(plain)...)
		return nil
	})
}

// TestDictionaryColumns: the origin lists the string columns the file
// stores dictionary-encoded, sends those (and only those) a reader accepts
// as dictionary arrays, and their values are the file's.
func TestDictionaryColumns(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	rows := dictRows(r, 3000)
	path := tempPath(t, "orders.parquet")
	mustWrite(t, path, dictSchema, rows, 256, func(d *ParquetDestination) { d.RowGroupRows = 1000 })
	plain := mustRead(t, path)

	for _, accept := range [][]string{nil, {"country"}, {"country", "status"}, {"age"}} {
		t.Run(fmt.Sprint(accept), func(t *testing.T) {
			probe := &dictProbe{accept: accept, encoded: map[string]bool{}}
			org := openstage.New("reader", func(o *ParquetOrigin) { o.Path = path; o.BatchRows = 300 })
			org.AddOutputPipe(openstage.NewPipe("rows")).SetDestination(openstage.NewStage("probe", probe))
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			job := openstage.NewJob("test", org)
			job.Allocator = mem
			if err := job.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := org.Component().(*ParquetOrigin).DictionaryColumns(); fmt.Sprint(got) != "[country status]" {
				t.Fatalf("DictionaryColumns = %v, want [country status]", got)
			}
			for _, c := range []string{"country", "status", "age"} {
				want := slices.Contains(accept, c) && c != "age"
				if probe.encoded[c] != want {
					t.Errorf("column %s came dictionary-encoded: %v, want %v", c, probe.encoded[c], want)
				}
			}
			if fmt.Sprint(probe.rows) != fmt.Sprint(plain.Rows) {
				t.Fatalf("rows differ from the plain read (%d against %d rows)", len(probe.rows), len(plain.Rows))
			}
			rw := fmt.Sprint(job.Rewrites())
			if strings.Contains(rw, "dictionary") != (len(accept) > 0 && accept[0] != "age") {
				t.Errorf("rewrites: %s", rw)
			}
		})
	}
}

// TestDictionaryNotStored: a string column the file stores without a
// dictionary is read as plain strings, even for a reader that would accept
// a dictionary.
func TestDictionaryNotStored(t *testing.T) {
	path := tempPath(t, "plain.parquet")
	b := array.NewRecordBuilder(memory.DefaultAllocator, dictSchema)
	defer b.Release()
	for _, row := range dictRows(rand.New(rand.NewPCG(3, 4)), 500) {
		for i, v := range row {
			if err := openstage.AppendValue(b.Field(i), v); err != nil {
				t.Fatal(err)
			}
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	props := parquet.NewWriterProperties(parquet.WithDictionaryDefault(false), parquet.WithDictionaryFor("status", true))
	w, err := pqarrow.NewFileWriter(dictSchema, f, props, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	probe := &dictProbe{accept: []string{"country", "status"}, encoded: map[string]bool{}}
	org := openstage.New("reader", func(o *ParquetOrigin) { o.Path = path })
	org.AddOutputPipe(openstage.NewPipe("rows")).SetDestination(openstage.NewStage("probe", probe))
	if err := runJob(t, org); err != nil {
		t.Fatal(err)
	}
	if probe.encoded["country"] || !probe.encoded["status"] {
		t.Fatalf("encoded: %v, want status only", probe.encoded)
	}
	if fmt.Sprint(probe.rows) != fmt.Sprint(mustRead(t, path).Rows) {
		t.Fatal("rows differ from the plain read")
	}
}

// TestDictionaryFilterAggregator: Parquet -> Filter -> Aggregator grouped
// by a dictionary-encoded column gives the same rows as the job run as
// written (--no-optimize, plain strings), with one or two keys, the filter
// on a column or an expression, and the string column also aggregated
// (which keeps it plain).
func TestDictionaryFilterAggregator(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	path := tempPath(t, "orders.parquet")
	mustWrite(t, path, dictSchema, dictRows(r, 5000), 512, func(d *ParquetDestination) { d.RowGroupRows = 1200 })
	cases := []struct {
		name     string
		filter   func(*stages.Filter)
		keys     []string
		aggs     []stages.Aggregation
		encoded  bool
		memLimit int64
	}{
		{"one key", func(f *stages.Filter) { f.Field, f.Condition, f.Value = "age", ">=", 18 }, []string{"country"},
			[]stages.Aggregation{{Field: "amount", Type: "sum"}, {Type: "count"}, {Field: "amount", Type: "mean"}}, true, 0},
		{"two keys", func(f *stages.Filter) { f.Expr = "age < 30 or amount > 500" }, []string{"status", "country"},
			[]stages.Aggregation{{Field: "amount", Type: "max"}, {Field: "age", Type: "nunique"}}, true, 0},
		{"aggregated string", func(f *stages.Filter) { f.Field, f.Condition, f.Value = "age", "is not null", nil }, []string{"country"},
			[]stages.Aggregation{{Field: "status", Type: "first"}, {Field: "status", Type: "nunique"}}, true, 0},
		{"filter on the key", func(f *stages.Filter) { f.Field, f.Condition, f.Value = "country", "!=", "ES" }, []string{"country"},
			[]stages.Aggregation{{Type: "count"}}, true, 0},
		{"in on the key", func(f *stages.Filter) { f.Field, f.Condition, f.Value = "country", "in", []any{"España", "", "PT"} }, []string{"country"},
			[]stages.Aggregation{{Field: "amount", Type: "sum"}}, true, 0},
		{"between on the key", func(f *stages.Filter) { f.Field, f.Condition, f.Value = "status", "between", []any{"p", "q"} }, []string{"country", "status"},
			[]stages.Aggregation{{Type: "count"}}, true, 0},
		{"is null on the key", func(f *stages.Filter) { f.Field, f.Condition, f.Value = "country", "is null", nil }, []string{"country"},
			[]stages.Aggregation{{Type: "count"}}, false, 0},
		{"spilling", func(f *stages.Filter) { f.Field, f.Condition, f.Value = "age", ">=", 5 }, []string{"country", "age"},
			[]stages.Aggregation{{Field: "amount", Type: "sum"}, {Field: "amount", Type: "median"}}, true, 4096},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var results [2][][]any
			var rewrites string
			for k, noOpt := range []bool{true, false} {
				org := openstage.New("reader", func(o *ParquetOrigin) { o.Path = path; o.BatchRows = 700 })
				filter := openstage.New("filter", c.filter)
				agg := openstage.New("agg", func(a *stages.Aggregator) { a.Keys, a.Aggregations = c.keys, c.aggs })
				sink := &openstagetest.Sink{}
				org.AddOutputPipe(openstage.NewPipe("orders")).SetDestination(filter)
				filter.AddOutputPipe(openstage.NewPipe("kept")).SetDestination(agg)
				agg.AddOutputPipe(openstage.NewPipe("totals")).SetDestination(openstage.NewStage("sink", sink))
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				job := openstage.NewJob("test", org)
				job.Allocator, job.NoOptimize, job.MemoryLimit, job.TempDir = mem, noOpt, c.memLimit, t.TempDir()
				if err := job.Run(context.Background()); err != nil {
					t.Fatal(err)
				}
				mem.AssertSize(t, 0)
				results[k] = sink.Rows
				if !noOpt {
					rewrites = fmt.Sprint(job.Rewrites())
				}
			}
			if len(results[0]) == 0 {
				t.Fatal("no groups")
			}
			if fmt.Sprint(results[0]) != fmt.Sprint(results[1]) {
				t.Fatalf("with dictionaries:\n%v\nas written:\n%v", results[1], results[0])
			}
			if strings.Contains(rewrites, "dictionary") != c.encoded {
				t.Errorf("rewrites: %s", rewrites)
			}
		})
	}
}

// TestDictionaryRunStage: a runner outside the engine (Job.RunStage, as the
// Beam translation uses) gets plain strings from an origin whose column the
// engine would carry dictionary-encoded.
func TestDictionaryRunStage(t *testing.T) {
	path := tempPath(t, "orders.parquet")
	mustWrite(t, path, dictSchema, dictRows(rand.New(rand.NewPCG(11, 12)), 800), 256)
	org := openstage.New("reader", func(o *ParquetOrigin) { o.Path = path })
	filter := openstage.New("filter", func(f *stages.Filter) { f.Field, f.Condition, f.Value = "age", ">=", 18 })
	agg := openstage.New("agg", func(a *stages.Aggregator) {
		a.Keys, a.Aggregations = []string{"country"}, []stages.Aggregation{{Type: "count"}}
	})
	org.AddOutputPipe(openstage.NewPipe("orders")).SetDestination(filter)
	filter.AddOutputPipe(openstage.NewPipe("kept")).SetDestination(agg)
	agg.AddOutputPipe(openstage.NewPipe("totals")).SetDestination(openstage.NewStage("sink", &openstagetest.Sink{}))
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	job := openstage.NewJob("test", org)
	job.Allocator = mem
	if err := job.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fmt.Sprint(job.Rewrites()), "dictionary") {
		t.Fatalf("no dictionary rewrite: %v", job.Rewrites())
	}
	var rows int64
	_, err := job.RunStage(context.Background(), "reader", nil, func(_ string, rec arrow.RecordBatch) error {
		for i, c := range rec.Columns() {
			if openstage.IsDictionary(c) || rec.Schema().Field(i).Type.ID() == arrow.DICTIONARY {
				t.Fatalf("column %s reached RunStage's caller dictionary-encoded", rec.Schema().Field(i).Name)
			}
		}
		rows += rec.NumRows()
		return nil
	})
	if err != nil || rows != 800 {
		t.Fatalf("%d rows, %v", rows, err)
	}
}

// TestDictionaryThroughCopy: a Copy passes a dictionary-encoded column to
// each output when every branch takes it (two Aggregators), and keeps it
// plain when one branch does not (a sink): either way the outputs are those
// of the job run as written.
func TestDictionaryThroughCopy(t *testing.T) {
	path := tempPath(t, "orders.parquet")
	mustWrite(t, path, dictSchema, dictRows(rand.New(rand.NewPCG(13, 14)), 3000), 512)
	for _, third := range []bool{false, true} {
		var results [2][3][][]any
		var rewrites string
		for k, noOpt := range []bool{true, false} {
			org := openstage.New("reader", func(o *ParquetOrigin) { o.Path = path; o.BatchRows = 400 })
			cp := stages.NewCopy("copy")
			org.AddOutputPipe(openstage.NewPipe("orders")).SetDestination(cp)
			sinks := [3]*openstagetest.Sink{{}, {}, {}}
			for i, key := range []string{"country", "status"} {
				agg := openstage.New("by_"+key, func(a *stages.Aggregator) {
					a.Keys, a.Aggregations = []string{key}, []stages.Aggregation{{Field: "amount", Type: "sum"}, {Type: "count"}}
				})
				cp.AddOutputPipe(openstage.NewPipe("to_" + key)).SetDestination(agg)
				agg.AddOutputPipe(openstage.NewPipe(key + "_totals")).SetDestination(openstage.NewStage("sink_"+key, sinks[i]))
			}
			if third {
				cp.AddOutputPipe(openstage.NewPipe("all")).SetDestination(openstage.NewStage("sink_all", sinks[2]))
			}
			rw := runOptimized(t, org, noOpt)
			for i := range sinks {
				results[k][i] = sinks[i].Rows
			}
			if !noOpt {
				rewrites = rw
			}
		}
		if len(results[0][0]) == 0 || fmt.Sprint(results[0]) != fmt.Sprint(results[1]) {
			t.Fatalf("third branch %v: with dictionaries:\n%v\nas written:\n%v", third, results[1], results[0])
		}
		if strings.Contains(rewrites, "dictionary") == third {
			t.Errorf("third branch %v: rewrites: %s", third, rewrites)
		}
	}
}

// TestDictionaryToParquet: Parquet -> Filter -> ParquetDestination keeps the
// dictionary up to the writer, which decodes the rows kept; the file
// written is the one the job as written makes.
func TestDictionaryToParquet(t *testing.T) {
	path := tempPath(t, "orders.parquet")
	mustWrite(t, path, dictSchema, dictRows(rand.New(rand.NewPCG(15, 16)), 3000), 512)
	var got [2][][]any
	for k, noOpt := range []bool{true, false} {
		out := tempPath(t, fmt.Sprintf("out%d.parquet", k))
		org := openstage.New("reader", func(o *ParquetOrigin) { o.Path = path; o.BatchRows = 500 })
		filter := openstage.New("filter", func(f *stages.Filter) { f.Field, f.Condition, f.Value = "age", ">=", 18 })
		dst := openstage.New("writer", func(d *ParquetDestination) { d.Path = out })
		org.AddOutputPipe(openstage.NewPipe("orders")).SetDestination(filter)
		filter.AddOutputPipe(openstage.NewPipe("kept")).SetDestination(dst)
		if rw := runOptimized(t, org, noOpt); strings.Contains(rw, "dictionary") == noOpt {
			t.Errorf("NoOptimize %v: rewrites %s", noOpt, rw)
		}
		got[k] = mustRead(t, out).Rows
	}
	if len(got[0]) == 0 || fmt.Sprint(got[0]) != fmt.Sprint(got[1]) {
		t.Fatalf("files differ (%d and %d rows)", len(got[0]), len(got[1]))
	}
}

// runOptimized runs the job of origin org under a checked allocator, with
// the optimizer or (noOpt) without, and returns its rewrites.
func runOptimized(t *testing.T, org *openstage.Stage, noOpt bool) string {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	job := openstage.NewJob("test", org)
	job.Allocator, job.NoOptimize = mem, noOpt
	if err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	mem.AssertSize(t, 0)
	return fmt.Sprint(job.Rewrites())
}
