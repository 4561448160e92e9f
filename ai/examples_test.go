package ai_test

import (
	"bytes"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/open-stage/openstage/bigqueryio"
	"github.com/open-stage/openstage/internal/aitest"
	"github.com/open-stage/openstage/internal/bqtest"
	"github.com/open-stage/openstage/internal/cli"
)

const exampleKey = "sk-ant-test-example-3-key"

// expectedFraud is what Example 3 must write for the local server's model
// (aitest.Fraud: amount over 10,000 or a country other than US; HIGH for
// both, MEDIUM for the amount, LOW for the country), worked out here from
// the input file with encoding/csv.
func expectedFraud(t *testing.T) [][]string {
	t.Helper()
	recs := readCSV(t, filepath.Join("..", "examples", "data", "transactions.csv"))
	out := [][]string{append(append([]string{}, recs[0]...), "fraud_score")}
	for _, r := range recs[1:] {
		a, err := strconv.ParseFloat(r[3], 64)
		if err != nil {
			t.Fatal(err)
		}
		big, foreign := a > 10000, r[4] != "US"
		score := map[[2]bool]string{{true, true}: "HIGH", {true, false}: "MEDIUM", {false, true}: "LOW"}[[2]bool{big, foreign}]
		if score != "" {
			out = append(out, append(append([]string{}, r...), score))
		}
	}
	if len(out) < 5 || len(out) > len(recs)-5 {
		t.Fatalf("bad example data: %d of %d rows are high-risk", len(out)-1, len(recs)-1)
	}
	return out
}

func readCSV(t *testing.T, path string) [][]string {
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
	return recs
}

func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(args, &out, &errb)
	return code, errb.String()
}

// TestExample3JobFile runs examples/ai/03_ai_fraud_detection.yaml through
// the command against a local server speaking the Messages API, as CI does;
// given ANTHROPIC_API_KEY and no anthropic_base_url the same file runs
// against the real service.
func TestExample3JobFile(t *testing.T) {
	srv := aitest.NewAnthropic(exampleKey, aitest.Table(aitest.Fraud("US")))
	defer srv.Close()
	t.Setenv("ANTHROPIC_API_KEY", exampleKey)
	job := filepath.Join("..", "examples", "ai", "03_ai_fraud_detection.yaml")
	out := t.TempDir()

	// A dry run first: the request is shown, nothing is sent or written.
	code, stderr := runCLI(t, "run", job, "--dry-run", "--param", "anthropic_base_url="+srv.URL, "--param", "out_dir="+out)
	if code != 0 || srv.Count() != 0 || !strings.Contains(stderr, "Filter only high-risk transactions") || !strings.Contains(stderr, "40 rows would make 2 requests") {
		t.Fatalf("dry run: exit %d, %d requests\n%s", code, srv.Count(), stderr)
	}
	if files, _ := os.ReadDir(out); len(files) != 0 {
		t.Fatalf("the dry run wrote %v", files)
	}
	if strings.Contains(stderr, exampleKey) {
		t.Fatal("the dry run shows the API key")
	}

	code, stderr = runCLI(t, "run", job, "--param", "anthropic_base_url="+srv.URL, "--param", "out_dir="+out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	got := readCSV(t, filepath.Join(out, "high_risk_transactions.csv"))
	if want := expectedFraud(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("wrote\n%v\nwant\n%v", got, want)
	}
	if srv.Count() != 2 {
		t.Errorf("%d requests for 40 rows at batch_rows 20", srv.Count())
	}
	// The summary's line for the stage: 40 rows in, 12 out, tokens in/out
	// and the cost and request counters.
	if !regexp.MustCompile(`ai_transformer +AnthropicPromptTransformer +40 +12 .* [1-9][0-9]*/[1-9][0-9]* +cost_micro_usd=[1-9][0-9]* requests=2`).MatchString(stderr) {
		t.Errorf("the run summary lacks the stage's tokens, cost or requests:\n%s", stderr)
	}
	if strings.Contains(stderr, exampleKey) {
		t.Fatal("the run shows the API key")
	}
}

// TestExample3GoProgram runs examples/go/ai_fraud_detection against the
// local server: it writes what the job file writes.
func TestExample3GoProgram(t *testing.T) {
	srv := aitest.NewAnthropic(exampleKey, aitest.Table(aitest.Fraud("US")))
	defer srv.Close()
	out := t.TempDir()
	cmd := exec.Command("go", "run", "./examples/go/ai_fraud_detection", "-data", "examples/data", "-out", out, "-base-url", srv.URL)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "ANTHROPIC_API_KEY="+exampleKey)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	if got, want := readCSV(t, filepath.Join(out, "high_risk_transactions.csv")), expectedFraud(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("wrote\n%v\nwant\n%v", got, want)
	}
}

// TestExample3BigQuery runs the seed's Example 3 with its BigQuery ends
// (examples/ai/03_ai_fraud_detection_bigquery.yaml) against the local
// BigQuery server and the local Messages API server: the transactions are
// loaded into dataset.transactions, the example reads them with its query
// and replaces fraud_detection.high_risk_transactions, which is read back.
func TestExample3BigQuery(t *testing.T) {
	bq := bqtest.New(bqtest.Options{})
	defer bq.Close()
	for _, ds := range []string{"dataset", "fraud_detection"} {
		if err := bq.CreateDataset("my-project", ds); err != nil {
			t.Fatal(err)
		}
	}
	srv := aitest.NewAnthropic(exampleKey, aitest.Table(aitest.Fraud("US")))
	defer srv.Close()
	t.Setenv(bigqueryio.EmulatorHostEnv, bq.Host())
	t.Setenv("ANTHROPIC_API_KEY", exampleKey)
	dir := t.TempDir()
	data, _ := filepath.Abs(filepath.Join("..", "examples", "data", "transactions.csv"))
	load := filepath.Join(dir, "load.yaml")
	os.WriteFile(load, []byte(`name: load_transactions
stages:
  - {name: reader, type: CSVOrigin, path: `+data+`}
  - {name: writer, type: GCPBigQueryDestination, project_id: my-project, dataset: dataset, table: transactions, write_disposition: WRITE_TRUNCATE}
pipes:
  - {name: p, from: reader, to: writer}
`), 0o644)
	if code, stderr := runCLI(t, "run", load, "--quiet"); code != 0 {
		t.Fatalf("loading: exit %d\n%s", code, stderr)
	}
	job := filepath.Join("..", "examples", "ai", "03_ai_fraud_detection_bigquery.yaml")
	for range 2 { // WRITE_TRUNCATE: a rerun replaces the table
		if code, stderr := runCLI(t, "run", job, "--quiet", "--param", "anthropic_base_url="+srv.URL); code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
	}
	read := filepath.Join(dir, "read.yaml")
	os.WriteFile(read, []byte(`name: read_back
stages:
  - {name: reader, type: GCPBigQueryOrigin, project_id: my-project, query: "SELECT * FROM fraud_detection.high_risk_transactions ORDER BY transaction_id"}
  - {name: writer, type: CSVDestination, path: `+filepath.Join(dir, "back.csv")+`}
pipes:
  - {name: p, from: reader, to: writer}
`), 0o644)
	if code, stderr := runCLI(t, "run", read, "--quiet"); code != 0 {
		t.Fatalf("reading back: exit %d\n%s", code, stderr)
	}
	if got, want := readCSV(t, filepath.Join(dir, "back.csv")), expectedFraud(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("fraud_detection.high_risk_transactions holds\n%v\nwant\n%v", got, want)
	}
	if srv.Count() != 4 {
		t.Errorf("%d requests for two runs of 40 rows at batch_rows 20", srv.Count())
	}
}
