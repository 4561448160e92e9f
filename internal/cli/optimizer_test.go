package cli_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeOptimizerJob writes a CSV of random orders (ties, empty fields,
// non-ASCII text) and the job a user writes for "the latest order of each
// user, newest first": CSVOrigin → Sort → RemoveDuplicates → CSVDestination.
func writeOptimizerJob(t *testing.T) (job, out string) {
	t.Helper()
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(5, 5))
	var b strings.Builder
	b.WriteString("order_id,user_id,city,order_date,amount\n")
	cities := []string{"Zürich", "Málaga", "東京", "", "Oslo", "\"São Paulo, BR\""}
	for i := range 3000 {
		amount := fmt.Sprintf("%d.%02d", r.IntN(2000), r.IntN(100))
		if r.IntN(9) == 0 {
			amount = ""
		}
		fmt.Fprintf(&b, "%d,%d,%s,2024-0%d-1%d,%s\n", i+1, r.IntN(200), cities[r.IntN(len(cities))], 1+r.IntN(9), r.IntN(10), amount)
	}
	writeFile(t, filepath.Join(dir, "orders.csv"), b.String())
	job = writeFile(t, filepath.Join(dir, "latest.yaml"), `name: latest_per_user
params: {out: out.csv}
stages:
  - {name: orders, type: CSVOrigin, path: orders.csv}
  - name: by_date
    type: Sort
    keys: [{field: order_date, ascending: false}, city, amount]
  - {name: latest, type: RemoveDuplicates, key: user_id}
  - {name: writer, type: CSVDestination, path: "${out}"}
pipes:
  - {name: p1, from: orders, to: by_date}
  - {name: p2, from: by_date, to: latest}
  - {name: p3, from: latest, to: writer}
`)
	return job, dir
}

func TestValidateExplainAndNoOptimize(t *testing.T) {
	job, dir := writeOptimizerJob(t)
	r := run(t, "validate", job, "--explain")
	if r.code != 0 {
		t.Fatalf("exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"plan: 1 rewrite (--no-optimize runs it as written)",
		"sort absorbed: Sort 'by_date' passes its rows on unsorted; RemoveDuplicates 'latest' keeps the first row of each user_id by (order_date desc, city, amount) in one streaming pass",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("validate --explain does not say %q:\n%s", want, r.stdout)
		}
	}
	r = run(t, "validate", job, "--explain", "--no-optimize")
	if r.code != 0 || !strings.Contains(r.stdout, "plan: as written (--no-optimize)") || strings.Contains(r.stdout, "sort absorbed") {
		t.Errorf("validate --explain --no-optimize: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The rewritten plan writes the same bytes as the plan as written.
	var outs []string
	for _, flags := range [][]string{{"--no-optimize"}, {"--verbose"}} {
		out := filepath.Join(dir, fmt.Sprintf("out%d.csv", len(outs)))
		args := append([]string{"run", job, "--param", "out=" + out}, flags...)
		r := run(t, args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d\n%s", flags, r.code, r.stderr)
		}
		logged := strings.Contains(r.stderr, "msg=rewrite") && strings.Contains(r.stderr, "rule=\"sort absorbed\"")
		if flags[0] == "--verbose" && !logged {
			t.Errorf("--verbose does not log the rewrite:\n%s", r.stderr)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(data))
	}
	if outs[0] != outs[1] {
		t.Fatalf("the optimized run wrote other bytes than the run as written")
	}
	if n := strings.Count(outs[0], "\n"); n < 150 {
		t.Fatalf("only %d lines written:\n%s", n, outs[0])
	}
}

// TestOptimizedSummary: with the Filter applied while reading, the run
// summary shows the reader sending only the rows the Filter keeps, and
// counts the others as rows_filtered; the output is the same.
func TestOptimizedSummary(t *testing.T) {
	out := t.TempDir()
	r := run(t, "run", "testdata/jobs/adults.yaml", "--param", "out_dir="+out)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !regexpLine(r.stderr, `reader\s+CSVOrigin\s+0\s+3\s+0\s+.*rows_filtered=2`) || !regexpLine(r.stderr, `adults\s+Filter\s+3\s+3\s+0`) {
		t.Errorf("summary:\n%s", r.stderr)
	}
	got, err := os.ReadFile(filepath.Join(out, "adults.csv"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "adults.csv", string(got))
}

// TestProjectionThroughFunnelCopyDerive: two CSV files into a Funnel, a
// Copy, a Transformer with derive on one branch and an Aggregator on each.
// validate --explain shows both readers leaving out the columns no stage
// uses, and the run writes the same bytes as with --no-optimize.
func TestProjectionThroughFunnelCopyDerive(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 7))
	cities := []string{"Zürich", "Málaga", "東京", "", "\"São Paulo, BR\""}
	for _, name := range []string{"a.csv", "b.csv"} {
		var b strings.Builder
		b.WriteString("order_id,user_id,city,note,amount\n")
		for i := range 2000 {
			amount := fmt.Sprintf("%d.%02d", r.IntN(2000), r.IntN(100))
			if r.IntN(9) == 0 {
				amount = ""
			}
			fmt.Fprintf(&b, "%d,%d,%s,note %d,%s\n", i+1, r.IntN(50), cities[r.IntN(len(cities))], r.Int(), amount)
		}
		writeFile(t, filepath.Join(dir, name), b.String())
	}
	job := writeFile(t, filepath.Join(dir, "funnel.yaml"), `name: funnel_copy_derive
params: {out: out}
stages:
  - {name: a, type: CSVOrigin, path: a.csv}
  - {name: b, type: CSVOrigin, path: b.csv}
  - {name: both, type: Funnel, mode: sequence}
  - {name: split, type: Copy}
  - name: taxed
    type: Transformer
    derive: {gross: "amount * 1.2"}
  - name: per_user
    type: Aggregator
    keys: [user_id]
    aggregations: [{field: gross, type: sum, as: gross}]
  - name: per_city
    type: Aggregator
    keys: [city]
    aggregations: [{type: count, as: orders}]
  - {name: w1, type: CSVDestination, path: "${out}_users.csv"}
  - {name: w2, type: CSVDestination, path: "${out}_cities.csv"}
pipes:
  - {name: pa, from: a, to: both}
  - {name: pb, from: b, to: both}
  - {name: merged, from: both, to: split}
  - {name: s1, from: split, to: taxed}
  - {name: s2, from: split, to: per_city}
  - {name: t1, from: taxed, to: per_user}
  - {name: u, from: per_user, to: w1}
  - {name: c, from: per_city, to: w2}
`)
	v := run(t, "validate", job, "--explain")
	if v.code != 0 {
		t.Fatalf("exit %d: %s%s", v.code, v.stdout, v.stderr)
	}
	for _, want := range []string{
		"projection: a reads 3 of 5 columns: user_id, city, amount (no stage uses the others)",
		"projection: b reads 3 of 5 columns: user_id, city, amount (no stage uses the others)",
	} {
		if !strings.Contains(v.stdout, want) {
			t.Errorf("validate --explain does not say %q:\n%s", want, v.stdout)
		}
	}
	var outs []string
	for _, flags := range [][]string{{"--no-optimize"}, {"--quiet"}} {
		out := filepath.Join(dir, fmt.Sprintf("out%d", len(outs)))
		args := append([]string{"run", job, "--param", "out=" + out}, flags...)
		if r := run(t, args...); r.code != 0 {
			t.Fatalf("%v: exit %d\n%s", flags, r.code, r.stderr)
		}
		var both string
		for _, f := range []string{"_users.csv", "_cities.csv"} {
			data, err := os.ReadFile(out + f)
			if err != nil {
				t.Fatal(err)
			}
			both += string(data)
		}
		outs = append(outs, both)
	}
	if outs[0] != outs[1] {
		t.Fatalf("the projected run wrote\n%s\nthe run as written\n%s", outs[1], outs[0])
	}
	if n := strings.Count(outs[0], "\n"); n < 50 {
		t.Fatalf("only %d lines written:\n%s", n, outs[0])
	}
}
