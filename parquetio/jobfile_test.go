package parquetio_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage/jobfile"
	_ "github.com/open-stage/openstage/parquetio" // registers ParquetOrigin, ParquetDestination
	"github.com/open-stage/openstage/stages"      // registers Generator, Printer
)

const writeJob = `name: generate
stages:
  - name: gen
    type: Generator
    rows: 1000
    columns:
      - {name: id, type: int64, pattern: sequence, start: 1}
      - {name: species, type: string, pattern: cycle, values: [setosa, versicolor, virginica]}
      - {name: day, type: date, pattern: sequence}
      - {name: amount, type: float64, pattern: random, min: 0, max: 100, seed: 7}
  - name: writer
    type: ParquetDestination
    path: out/gen.parquet
    compression: zstd
    row_group_rows: 300
pipes:
  - {name: rows, from: gen, to: writer}
`

const readJob = `name: peek
stages:
  - name: reader
    type: ParquetOrigin
    path: out/gen.parquet
    columns: [species, id, day]
    batch_rows: 100
  - name: peek
    type: Printer
    rows: 3
pipes:
  - {name: rows, from: reader, to: peek}
`

// loadJob parses a job file placed in dir, as the CLI would load it.
func loadJob(t *testing.T, dir, text string) *jobfile.File {
	t.Helper()
	path := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := jobfile.Parse([]byte(text), path, jobfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestJobFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	w := loadJob(t, dir, writeJob)
	w.Job.Allocator = mem
	if err := w.Job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "gen.parquet")); err != nil {
		t.Fatalf("the relative path did not resolve against the job file's folder: %v", err)
	}

	r := loadJob(t, dir, readJob)
	r.Job.Allocator = mem
	var out bytes.Buffer
	r.Job.Stage("peek").Component().(*stages.Printer).Out = &out
	if err := r.Job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := `== peek
species    | id | day
-----------+----+-----------
setosa     | 1  | 2024-01-01
versicolor | 2  | 2024-01-02
virginica  | 3  | 2024-01-03
(1000 rows, showing the first 3)
`
	if out.String() != want {
		t.Fatalf("printed:\n%s\nwant:\n%s", out.String(), want)
	}

	// Projection pushdown: only species and amount are read from the file.
	agg := loadJob(t, dir, `name: totals
stages:
  - {name: reader, type: ParquetOrigin, path: out/gen.parquet}
  - name: totals
    type: Aggregator
    keys: [species]
    aggregations: [{field: amount, type: count, as: n}, {field: id, type: max}]
  - {name: peek, type: Printer}
pipes:
  - {name: rows, from: reader, to: totals}
  - {name: sums, from: totals, to: peek}
`)
	agg.Job.Allocator = mem
	var log bytes.Buffer
	agg.Job.Logger = slog.New(slog.NewTextHandler(&log, nil))
	out.Reset()
	agg.Job.Stage("peek").Component().(*stages.Printer).Out = &out
	if err := agg.Job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "msg=projection job=totals stage=reader type=ParquetOrigin reads=id,species,amount of=4") {
		t.Fatalf("projection not logged:\n%s", log.String())
	}
	want = `== peek
species    | n   | id_max
-----------+-----+-------
setosa     | 334 | 1000
versicolor | 333 | 998
virginica  | 333 | 999
(3 rows)
`
	if out.String() != want {
		t.Fatalf("printed:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestJobFileErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	w := loadJob(t, dir, writeJob)
	if err := w.Job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	job := filepath.Join(dir, "job.yaml")

	r := loadJob(t, dir, `name: bad
stages:
  - name: reader
    type: ParquetOrigin
    path: out/gen.parquet
    columns: [species, idd]
  - name: peek
    type: Printer
pipes:
  - {name: rows, from: reader, to: peek}
`)
	err := r.Job.Validate(context.Background())
	want := job + ":3: ParquetOrigin 'reader': columns: field 'idd' not found; available columns: id, species, day, amount (did you mean 'id'?)"
	if err == nil || err.Error() != want {
		t.Fatalf("\ngot  %v\nwant %s", err, want)
	}

	_, err = jobfile.Parse([]byte(`name: bad
stages:
  - name: gen
    type: Generator
    rows: 1
    columns: [{name: id}]
  - name: writer
    type: ParquetDestination
    path: out/gen.parquet
    if_exists: append
pipes:
  - {name: rows, from: gen, to: writer}
`), job, jobfile.Options{})
	want = job + ":10: ParquetDestination 'writer': parameter 'if_exists': 'append' is not one of replace, fail (append is not possible for Parquet: a Parquet file ends with a footer describing all its rows, so adding rows means rewriting it; use replace, or write one file per run)"
	if err == nil || err.Error() != want {
		t.Fatalf("\ngot  %v\nwant %s", err, want)
	}
}
