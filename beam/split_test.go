package beam

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/open-stage/openstage/internal/cli"
)

// TestSplitOrigins: a Generator cut into row ranges and a ParquetOrigin
// read row group by row group (some groups skipped by a folded Filter)
// give on Prism the local engine's files byte for byte, in order, and the
// same row_groups_skipped counter.
func TestSplitOrigins(t *testing.T) {
	dir := t.TempDir()
	// The Parquet input: written by the local engine, 300 rows a group.
	mk := writeJob(t, dir, `
name: make_parquet
params: {out_dir: out}
stages:
  - name: gen
    type: Generator
    rows: 5000
    batch_rows: 100
    columns:
      - {name: id, type: int64}
      - {name: amount, type: float64, pattern: random, min: 0, max: 1000, seed: 4}
      - {name: country, type: string, pattern: cycle, values: [US, DE, FR], null_every: 9}
  - {name: pq, type: ParquetDestination, path: "${out_dir}/orders.parquet", row_group_rows: 300}
pipes:
  - {name: rows, from: gen, to: pq}
`)
	runLocal(t, mk, dir, nil)
	os.Remove(mk)
	path := writeJob(t, dir, `
name: split_origins
params: {out_dir: out}
stages:
  - name: gen
    type: Generator
    rows: 5000
    batch_rows: 100
    columns:
      - {name: id, type: int64, start: 10, step: 3}
      - {name: r, type: float64, pattern: random, min: 0, max: 1, seed: 8}
      - {name: tag, type: string, pattern: cycle, values: [a, b, c, d], null_every: 5}
  - {name: pq, type: ParquetOrigin, path: orders.parquet, batch_rows: 128}
  - {name: late, type: Filter, field: id, condition: ">", value: 3100}
  - {name: cheap, type: Filter, field: amount, condition: "<", value: 500}
  - {name: cheap_gen, type: Filter, field: r, condition: "<", value: 0.5}
  - {name: gen_out, type: CSVDestination, path: "${out_dir}/gen.csv"}
  - {name: pq_out, type: CSVDestination, path: "${out_dir}/pq.csv"}
pipes:
  - {name: g1, from: gen, to: cheap_gen}
  - {name: g2, from: cheap_gen, to: gen_out}
  - {name: p1, from: pq, to: late}
  - {name: p2, from: late, to: cheap}
  - {name: p3, from: cheap, to: pq_out}
`)
	local, prism := filepath.Join(dir, "local"), filepath.Join(dir, "prism")
	ls := runLocal(t, path, local, nil)
	os.MkdirAll(prism, 0o755)
	p := map[string]string{"out_dir": prism}
	f := load(t, path, p)
	sum, err := Runner{}.Run(context.Background(), f, cli.RunnerOptions{Runner: "prism", Params: p, TempDir: t.TempDir(),
		BeamOptions: map[string]string{SplitRowsOption: "700"}})
	if err != nil {
		t.Fatal(err)
	}
	sameFiles(t, local, prism)
	lst, _ := ls.Stage("pq")
	pst, _ := sum.Stage("pq")
	if lst.Counters["row_groups_skipped"] == 0 {
		t.Fatalf("the local engine skipped no row group: the test does not test skipping")
	}
	if pst.Counters["row_groups_skipped"] != lst.Counters["row_groups_skipped"] || pst.RowsOut != lst.RowsOut {
		t.Errorf("ParquetOrigin on Prism: %d rows out, %d row groups skipped; locally %d, %d",
			pst.RowsOut, pst.Counters["row_groups_skipped"], lst.RowsOut, lst.Counters["row_groups_skipped"])
	}
	// 8 ranges of 700 rows (7 batches of 100), the last of 100: batches
	// as the local engine makes them.
	if gst, _ := sum.Stage("gen"); gst.BatchesOut != 50 || gst.RowsOut != 5000 {
		t.Errorf("the Generator sent %d rows in %d batches on Prism, want 5000 in 50", gst.RowsOut, gst.BatchesOut)
	}
}

// TestShardedDestination: a CSVDestination with shards: 3 writes on Prism
// the three files of Beam's names the local engine writes, each with the
// header, holding between them the local engine's rows (which file holds
// a row is not specified: batches go to the files in turn).
func TestShardedDestination(t *testing.T) {
	dir := t.TempDir()
	genOrders(t, filepath.Join(dir, "orders.csv"), 20000, 3)
	path := writeJob(t, dir, `
name: sharded
params: {out_dir: out}
stages:
  - {name: reader, type: CSVOrigin, path: orders.csv, batch_rows: 1000}
  - {name: adults, type: Filter, field: age, condition: ">=", value: 18}
  - {name: writer, type: CSVDestination, path: "${out_dir}/adults.csv", shards: 3}
pipes:
  - {name: p1, from: reader, to: adults}
  - {name: p2, from: adults, to: writer}
`)
	local, prism := filepath.Join(dir, "local"), filepath.Join(dir, "prism")
	runLocal(t, path, local, nil)
	if _, err := runPrism(context.Background(), t, path, prism, nil, 64<<10); err != nil {
		t.Fatal(err)
	}
	union := func(out string) string {
		entries, _ := os.ReadDir(out)
		if len(entries) != 3 {
			t.Fatalf("%s holds %d files, want the 3 shards", out, len(entries))
		}
		var header string
		var rows []string
		for i := range 3 {
			data, err := os.ReadFile(filepath.Join(out, fmt.Sprintf("adults-%05d-of-00003.csv", i)))
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
			if header == "" {
				header = lines[0]
			} else if lines[0] != header {
				t.Fatalf("shard %d of %s starts with %q, not the header %q", i, out, lines[0], header)
			}
			if len(lines) < 2 {
				t.Fatalf("shard %d of %s has no rows", i, out)
			}
			rows = append(rows, lines[1:]...)
		}
		sort.Strings(rows)
		return header + "\n" + strings.Join(rows, "\n")
	}
	// Sorted lines (a quoted note's two lines sort apart, in both alike).
	if l, p := union(local), union(prism); l != p {
		t.Fatalf("the shards' rows differ between the local engine (%d bytes) and Prism (%d bytes)", len(l), len(p))
	}
}
