package beam

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/cli"
)

// TestBatchStages: Filter, DeleteColumns, Transformer (derive, with a
// reject pipe), Switcher, Funnel (sequence) and Copy on an origin cut into
// many parts give, on Prism, the local engine's files byte for byte, in
// order; the summary's rows come from Beam's metrics.
func TestBatchStages(t *testing.T) {
	dir := t.TempDir()
	genOrders(t, filepath.Join(dir, "orders.csv"), 20000, 1)
	path := writeJob(t, dir, `
name: batch_stages
params: {out_dir: out}
stages:
  - {name: reader, type: CSVOrigin, path: orders.csv, batch_rows: 1000}
  - {name: adults, type: Filter, field: age, condition: ">=", value: 18}
  - {name: drop, type: DeleteColumns, columns: [note]}
  - name: derive
    type: Transformer
    derive: {net: "amount * 0.8", big: "amount > 1000", inv: "100 % (age - 30)"}
    reject: bad
  - name: route
    type: Switcher
    field: country
    mapping: {US: us, DE: eu, FR: eu, ES: eu}
    default: rest
  - {name: merge, type: Funnel, mode: sequence}
  - {name: fork, type: Copy}
  - {name: all_out, type: CSVDestination, path: "${out_dir}/all.csv"}
  - {name: us_out, type: CSVDestination, path: "${out_dir}/us.csv"}
  - {name: bad_out, type: CSVDestination, path: "${out_dir}/bad.csv"}
pipes:
  - {name: p1, from: reader, to: adults}
  - {name: p2, from: adults, to: drop}
  - {name: p3, from: drop, to: derive}
  - {name: p4, from: derive, to: route}
  - {name: bad, from: derive, to: bad_out}
  - {name: us, from: route, to: fork}
  - {name: eu, from: route, to: merge}
  - {name: rest, from: route, to: merge}
  - {name: us_all, from: fork, to: merge}
  - {name: us_file, from: fork, to: us_out}
  - {name: merged, from: merge, to: all_out}
`)
	local, prism := filepath.Join(dir, "local"), filepath.Join(dir, "prism")
	ls := runLocal(t, path, local, nil)
	sum, err := runPrism(context.Background(), t, path, prism, nil, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	sameFiles(t, local, prism)
	for _, want := range ls.Stages {
		got, ok := sum.Stage(want.Stage)
		if !ok {
			t.Fatalf("no summary row for %s", want.Stage)
		}
		if got.RowsIn != want.RowsIn || got.RowsOut != want.RowsOut || got.Rejected != want.Rejected {
			t.Errorf("%s: prism in/out/rejected %d/%d/%d, local %d/%d/%d", want.Stage, got.RowsIn, got.RowsOut, got.Rejected, want.RowsIn, want.RowsOut, want.Rejected)
		}
	}
	if st, _ := sum.Stage("derive"); st.Rejected == 0 {
		t.Errorf("the reject pipe got no rows: the test does not test it")
	}
}

// TestBadRowFailsWithLine: a value that does not convert far into a large
// input (in a later part) fails the pipeline with the stage, the file and
// the file's line; nothing is written.
func TestBadRowFailsWithLine(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "orders.csv")
	genOrders(t, src, 30000, 2)
	data, _ := os.ReadFile(src)
	lines := strings.SplitAfter(string(data), "\n")
	// Replace the age of a row well past the middle; count its line.
	target := 0
	for i := len(lines) * 2 / 3; i < len(lines); i++ {
		if !strings.Contains(lines[i], "\"") && strings.Count(lines[i], ",") == 6 {
			target = i
			break
		}
	}
	f := strings.Split(lines[target], ",")
	f[3] = "old"
	lines[target] = strings.Join(f, ",")
	os.WriteFile(src, []byte(strings.Join(lines, "")), 0o644)
	path := writeJob(t, dir, `
name: bad_row
params: {out_dir: out}
stages:
  - {name: reader, type: CSVOrigin, path: orders.csv, column_types: {age: int64}}
  - {name: adults, type: Filter, field: age, condition: ">=", value: 18}
  - {name: writer, type: CSVDestination, path: "${out_dir}/adults.csv"}
pipes:
  - {name: p1, from: reader, to: adults}
  - {name: p2, from: adults, to: writer}
`)
	out := filepath.Join(dir, "prism")
	_, err := runPrism(context.Background(), t, path, out, nil, 32<<10)
	if err == nil {
		t.Fatal("the run succeeded")
	}
	want := "CSVOrigin 'reader': " + src + ":" + itoa(target+1) + ": column 'age': cannot parse \"old\" as int64"
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error\n  %v\ndoes not contain\n  %s", err, want)
	}
	if _, err := os.Stat(filepath.Join(out, "adults.csv")); !os.IsNotExist(err) {
		t.Fatalf("a failed run left output: %v", err)
	}
}

func itoa(i int) string {
	return fmtInt(i)
}

func fmtInt(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return fmtInt(i/10) + string(rune('0'+i%10))
}

// TestInterruptedRunLeavesNothing: a run cancelled while the pipeline
// works (Ctrl-C) returns ErrCancelled and leaves neither output nor the
// destinations' parts.
func TestInterruptedRunLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	genOrders(t, filepath.Join(dir, "orders.csv"), 200000, 9)
	path := writeJob(t, dir, `
name: interrupted
params: {out_dir: out}
stages:
  - {name: reader, type: CSVOrigin, path: orders.csv, batch_rows: 500}
  - {name: sorted, type: Sort, keys: [amount]}
  - {name: writer, type: CSVDestination, path: "${out_dir}/sorted.csv"}
pipes:
  - {name: p1, from: reader, to: sorted}
  - {name: p2, from: sorted, to: writer}
`)
	out := filepath.Join(dir, "prism")
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	temp := t.TempDir()
	os.MkdirAll(out, 0o755)
	f := load(t, path, map[string]string{"out_dir": out})
	_, err := Runner{}.Run(ctx, f, cli.RunnerOptions{Runner: "prism", Params: map[string]string{"out_dir": out}, TempDir: temp, BeamOptions: map[string]string{SplitBytesOption: "65536"}})
	if !errors.Is(err, openstage.ErrCancelled) {
		t.Fatalf("want a cancelled run, got %v", err)
	}
	for _, d := range []string{out, temp} {
		if entries, _ := os.ReadDir(d); len(entries) != 0 {
			t.Fatalf("%s holds %v after a cancelled run", d, entries[0].Name())
		}
	}
}
