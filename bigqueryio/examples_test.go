package bigqueryio

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/bigquery"

	"github.com/open-stage/openstage/internal/bqtest"
)

// The seed's examples with their BigQuery ends (examples/bigquery/), run
// through the command against the local server, as CI runs them. Their
// results are compared with the golden outputs of the same examples over
// CSV files (internal/cli/testdata/golden/examples), computed without
// BigQuery.
func TestBigQueryExamples(t *testing.T) {
	srv := bqtest.New(bqtest.Options{})
	defer srv.Close()
	for _, ds := range []string{"dataset", "analytics"} {
		if err := srv.CreateDataset("my-project", ds); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{srv: srv, client: newSDKClient(t, srv, "my-project")}
	env := []string{EmulatorHostEnv + "=" + srv.Host()}
	golden := filepath.Join("..", "internal", "cli", "testdata", "golden", "examples")
	run := func(t *testing.T, job string, args ...string) {
		t.Helper()
		r := cli(t, env, append([]string{"run", filepath.Join("..", "examples", "bigquery", job), "--quiet"}, args...)...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", job, r.code, r.stderr)
		}
	}
	jobs, _ := filepath.Glob(filepath.Join("..", "examples", "bigquery", "*.yaml"))
	if len(jobs) != 4 {
		t.Errorf("found %d example jobs in examples/bigquery, this test runs 4", len(jobs))
	}

	t.Run("00_load_iris", func(t *testing.T) {
		run(t, "00_load_iris.yaml")
		if rows := e.rowsOf(t, "dataset", "iris"); len(rows) != 150 {
			t.Fatalf("dataset.iris has %d rows, want 150", len(rows))
		}
	})
	t.Run("01_csv_filter_bigquery", func(t *testing.T) {
		run(t, "01_csv_filter_bigquery.yaml")
		run(t, "01_csv_filter_bigquery.yaml") // WRITE_TRUNCATE: the same table again
		got := textRows(e.rowsOf(t, "analytics", "users_adults"))
		want := csvLines(t, filepath.Join(golden, "01_simple_filter", "adult_customers.csv"))
		if !reflect.DeepEqual(got, want[1:]) {
			t.Errorf("analytics.users_adults holds\n%v\nwant (the CSV example's output)\n%v", got, want[1:])
		}
	})
	t.Run("02_bigquery_split_merge_iris", func(t *testing.T) {
		out := t.TempDir()
		run(t, "02_bigquery_split_merge_iris.yaml", "--param", "out_dir="+out)
		for _, f := range []string{"iris_output.csv", "iris_counts.csv"} {
			got, _ := os.ReadFile(filepath.Join(out, f))
			want, _ := os.ReadFile(filepath.Join(golden, "02_split_merge_iris", f))
			if string(got) != string(want) || len(want) == 0 {
				t.Errorf("%s differs from the CSV example's:\n%s", f, got)
			}
		}
	})
	t.Run("04_users_orders_join_bigquery", func(t *testing.T) {
		out := t.TempDir()
		run(t, "04_users_orders_join_bigquery.yaml", "--param", "out_dir="+out)
		got, _ := os.ReadFile(filepath.Join(out, "high_value_orders.csv"))
		want, _ := os.ReadFile(filepath.Join(golden, "04_users_orders_join", "high_value_orders.csv"))
		if string(got) != string(want) || len(want) == 0 {
			t.Errorf("high_value_orders.csv differs from the CSV example's")
		}
		totals := csvLines(t, filepath.Join(golden, "04_users_orders_join", "user_totals.csv"))[1:]
		check := func(times int) {
			t.Helper()
			got := textRows(e.rowsOf(t, "analytics", "user_totals"))
			slices.Sort(got)
			var want []string
			for range times {
				want = append(want, totals...)
			}
			slices.Sort(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("analytics.user_totals holds\n%v\nwant %d times the CSV example's totals\n%v", got, times, totals)
			}
		}
		check(1)
		run(t, "04_users_orders_join_bigquery.yaml", "--param", "out_dir="+out) // WRITE_APPEND adds the totals again
		check(2)
	})
}

// textRows writes SDK rows as lines of values separated by |.
func textRows(rows [][]bigquery.Value) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		parts := make([]string, len(r))
		for j, v := range r {
			if v != nil {
				parts[j] = fmt.Sprint(v)
			}
		}
		out[i] = strings.Join(parts, "|")
	}
	return out
}

// csvLines reads a CSV file as lines of values separated by |.
func csvLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = strings.Join(r, "|")
	}
	return out
}
