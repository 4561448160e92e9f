package beam

import (
	"context"
	"os"
	"path/filepath"
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
