package beam

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/open-stage/openstage/internal/bqtest"
	"github.com/open-stage/openstage/internal/cli"
)

// TestBigQuery: on Prism, a GCPBigQueryOrigin's query runs once and its
// result is read in row ranges by several workers, and a
// GCPBigQueryDestination loads the workers' rows into its table with one
// load job from the launcher; against a local server speaking BigQuery's
// REST API (internal/bqtest), through the official client, the CSV file
// and the table are the local engine's, row for row and in order.
func TestBigQuery(t *testing.T) {
	srv := bqtest.New(bqtest.Options{PageRows: 40})
	t.Cleanup(srv.Close)
	if err := srv.CreateDataset("test-project", "ds"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	genOrders(t, filepath.Join(dir, "orders.csv"), 2000, 3)
	loadJob := writeJob(t, dir, fmt.Sprintf(`
name: bq_load
params: {out_dir: out}
stages:
  - {name: reader, type: CSVOrigin, path: orders.csv}
  - {name: drop, type: DeleteColumns, columns: [note]}
  - {name: bq, type: GCPBigQueryDestination, project_id: test-project, endpoint: %q, dataset: ds, table: orders}
pipes:
  - {name: p1, from: reader, to: drop}
  - {name: p2, from: drop, to: bq}
`, srv.URL()))
	runLocal(t, loadJob, filepath.Join(dir, "unused"), nil)
	path := filepath.Join(dir, "bq.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(`
name: bq_beam
params: {out_dir: out, table: out}
stages:
  - name: source
    type: GCPBigQueryOrigin
    project_id: test-project
    endpoint: %q
    query: SELECT order_id, user_id, country, amount FROM ds.orders WHERE age >= @min ORDER BY order_id
    params: {min: 30}
    batch_rows: 64
  - {name: big, type: Filter, field: amount, condition: ">", value: 500}
  - {name: fork, type: Copy}
  - {name: file, type: CSVDestination, path: "${out_dir}/big.csv"}
  - {name: bq, type: GCPBigQueryDestination, project_id: test-project, endpoint: %q, dataset: ds, table: "${table}", write_disposition: WRITE_TRUNCATE}
pipes:
  - {name: rows, from: source, to: big}
  - {name: kept, from: big, to: fork}
  - {name: f1, from: fork, to: file}
  - {name: f2, from: fork, to: bq}
`, srv.URL(), srv.URL())), 0o644); err != nil {
		t.Fatal(err)
	}
	local, prism := filepath.Join(dir, "local"), filepath.Join(dir, "prism")
	ls := runLocal(t, path, local, map[string]string{"table": "big_local"})
	os.MkdirAll(prism, 0o755)
	p := map[string]string{"out_dir": prism, "table": "big_prism"}
	before := srv.Stats()
	opts := cli.RunnerOptions{Runner: "prism", Params: p, BeamOptions: map[string]string{SplitRowsOption: "97"}, TempDir: t.TempDir(), Log: os.Stderr}
	sum, err := Runner{}.Run(context.Background(), load(t, path, p), opts)
	if err != nil {
		t.Fatal(err)
	}
	sameFiles(t, local, prism)
	for _, want := range ls.Stages {
		got, _ := sum.Stage(want.Stage)
		if got.RowsIn != want.RowsIn || got.RowsOut != want.RowsOut {
			t.Errorf("%s: prism in/out %d/%d, local %d/%d", want.Stage, got.RowsIn, got.RowsOut, want.RowsIn, want.RowsOut)
		}
	}
	src, _ := sum.Stage("source")
	if src.RowsOut < 97*3 {
		t.Fatalf("the query gave %d rows: too few for several ranges of 97", src.RowsOut)
	}
	after := srv.Stats()
	if q := after.QueryJobs - before.QueryJobs; q != 1 {
		t.Errorf("the Prism run ran %d query jobs, want 1 (one run, read in ranges)", q)
	}
	if l := after.LoadJobs - before.LoadJobs; l != 1 {
		t.Errorf("the Prism run ran %d load jobs, want 1 (one atomic load)", l)
	}
	want, got := tableRows(t, srv, "big_local"), tableRows(t, srv, "big_prism")
	if len(want) == 0 || !reflect.DeepEqual(want, got) {
		t.Errorf("table big_prism has %d rows, big_local %d; first rows %v vs %v", len(got), len(want), first(got), first(want))
	}
}

// tableRows reads a table of ds through the official client, in order_id
// order.
func tableRows(t *testing.T, srv *bqtest.Server, table string) [][]bigquery.Value {
	t.Helper()
	ctx := context.Background()
	c, err := bigquery.NewClient(ctx, "test-project", option.WithEndpoint(srv.URL()+"/bigquery/v2/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	it, err := c.Query("SELECT * FROM ds." + table + " ORDER BY order_id").Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]bigquery.Value
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if err == iterator.Done {
			return rows
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
}

func first(rows [][]bigquery.Value) [][]bigquery.Value { return rows[:min(3, len(rows))] }
